//! `wss://` over loopback with a self-signed certificate made by rcgen: the round trip works
//! with the certificate trusted, and fails with a typed `Error::Tls` (an untrusted certificate) under the default (webpki) roots.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{echo_server, next, within};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wsx::tls::rustls::RootCertStore;
use wsx::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsx::{Client, CloseCode, Config, Error, MessageType, Server};

/// A self-signed certificate for `localhost` and `127.0.0.1`, and its key.
fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()).into();
    (cert, key)
}

/// An echo server over TLS on `127.0.0.1:0`, and the certificate to trust.
async fn tls_echo_server() -> (Server, SocketAddr, CertificateDer<'static>) {
    let (cert, key) = self_signed();
    let tls = wsx::tls::server_config(vec![cert.clone()], key).unwrap();
    let server = echo_server(Config::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_tls(listener, tls).await });
    (server, addr, cert)
}

async fn round_trip(url: &str, cert: CertificateDer<'static>) {
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = Client::new(Config::default())
        .with_root_certificates(roots)
        .unwrap();
    let conn = client.connect(url, http::HeaderMap::new()).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    conn.on_message(move |_, kind, data| {
        let _ = tx.send((kind, data));
    });
    let (close_tx, mut closes) = mpsc::unbounded_channel();
    conn.on_close(move |_, code, _| {
        let _ = close_tx.send(u16::from(code));
    });
    conn.write_text("over TLS").unwrap();
    let big = vec![7u8; 200_000];
    conn.write_binary(big.clone()).unwrap();
    assert_eq!(
        next(&mut rx, "the text echo").await,
        (MessageType::Text, Bytes::from_static(b"over TLS"))
    );
    let (kind, data) = next(&mut rx, "the binary echo").await;
    assert_eq!(kind, MessageType::Binary);
    assert!(data[..] == big[..], "binary echo differs");
    conn.close(CloseCode::NORMAL_CLOSURE, "bye").unwrap();
    assert_eq!(next(&mut closes, "on_close").await, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_round_trip_to_localhost_with_a_self_signed_certificate() {
    within(async {
        let (_server, addr, cert) = tls_echo_server().await;
        // `localhost` may resolve to ::1 first; the client tries each address, and only
        // 127.0.0.1 listens.
        round_trip(&format!("wss://localhost:{}/", addr.port()), cert).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_round_trip_to_an_ip_address_with_a_self_signed_certificate() {
    within(async {
        let (_server, addr, cert) = tls_echo_server().await;
        round_trip(&format!("wss://{addr}/"), cert).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_tls_serves_wss() {
    within(async {
        let (cert, key) = self_signed();
        let tls = wsx::tls::server_config(vec![cert.clone()], key).unwrap();
        let server = echo_server(Config::default());
        let serving = server.clone();
        let task = tokio::spawn(async move { serving.listen_tls("127.0.0.1:0", tls).await });
        // `listen_tls` binds, then serves: wait (bounded) for the address to be known.
        let mut addr = None;
        for _ in 0..500 {
            addr = server.local_addr();
            if addr.is_some() || task.is_finished() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let addr = addr.expect("listen_tls never reported its local address");
        round_trip(&format!("wss://localhost:{}/", addr.port()), cert).await;
        server.shutdown().await;
        task.await.unwrap().unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_webpki_roots_refuse_a_self_signed_certificate() {
    within(async {
        let (server, addr, _cert) = tls_echo_server().await;
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        {
            let connections = connections.clone();
            server.on_connection(move |_| {
                connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let result = Client::new(Config::default())
            .connect(
                &format!("wss://localhost:{}/", addr.port()),
                http::HeaderMap::new(),
            )
            .await;
        match result {
            Err(Error::Tls(err)) => match *err {
                wsx::TlsError::Handshake { source, .. } => assert!(
                    matches!(source, wsx::tls::rustls::Error::InvalidCertificate(_)),
                    "{source:?}"
                ),
                other => panic!("expected an untrusted certificate, got {other:?}"),
            },
            other => panic!("expected Error::Tls, got {other:?}"),
        }
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0);
    })
    .await;
}
