//! The client over TLS: `https://` long-polling, then the upgrade to `wss://`, and `wss://`
//! alone, against sio_demo behind a rustls acceptor with a self-signed certificate (rcgen)
//! that the client is told to trust; without that trust the connection is refused.

#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;

use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use wsx::tls::rustls::RootCertStore;
use wsx::tls::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use wsx_sio::client::{Args, ClientOptions, ConnectError, Manager, Transports};

/// sio_demo over TLS on 127.0.0.1, and the certificate to trust.
async fn tls_demo() -> (SocketAddr, CertificateDer<'static>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let cert = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()).into();
    let config = wsx::tls::server_config(vec![cert.clone()], key).expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let io = sio_demo::server();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let (acceptor, io) = (acceptor.clone(), io.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    io.serve_connection(tls, Some(peer)).await;
                }
            });
        }
    });
    (addr, cert)
}

fn trusting(cert: CertificateDer<'static>, transports: Transports) -> ClientOptions {
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("root");
    ClientOptions {
        transports,
        tls: Some(wsx::tls::client_config(roots).expect("client config")),
        reconnection: false,
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_polling_upgrades_to_wss_and_wss_alone_works() {
    let (addr, cert) = tls_demo().await;
    for (transports, want) in [
        (Transports::Default, "websocket"),
        (Transports::WebSocket, "websocket"),
        (Transports::Polling, "polling"),
    ] {
        let s = Manager::new(
            &format!("https://{addr}"),
            trusting(cert.clone(), transports),
        )
        .expect("manager")
        .socket("/");
        s.connect().await.expect("connect over TLS");
        let args = Args::new().arg("tls").binary_arg(vec![1u8, 2, 3]);
        let back = s
            .emit_args_with_ack("echo-ack", args.clone(), Duration::from_secs(5))
            .await
            .expect("ack");
        assert_eq!(back, args, "{transports:?}");
        for _ in 0..200 {
            if s.manager().transport() == Some(want) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(s.manager().transport(), Some(want), "{transports:?}");
        let joined: bool = s.emit_with_ack_as("join", &"r").await.expect("ack");
        assert!(joined);
        s.disconnect();
    }
    // `wss://` URLs work the same.
    let s = Manager::new(
        &format!("wss://{addr}"),
        trusting(cert, Transports::WebSocket),
    )
    .expect("manager")
    .socket("/");
    s.connect().await.expect("connect with a wss:// URL");
    let n: serde_json::Value = s
        .emit_with_ack_as("echo-ack", &json!(7))
        .await
        .expect("ack");
    assert_eq!(n, json!(7));
    s.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused() {
    let (addr, _cert) = tls_demo().await;
    for transports in [Transports::Polling, Transports::WebSocket] {
        let options = ClientOptions {
            transports,
            reconnection: false,
            timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        };
        let s = Manager::new(&format!("https://{addr}"), options)
            .expect("manager")
            .socket("/");
        let err = s.connect().await.expect_err("an untrusted certificate");
        assert!(
            matches!(&err, ConnectError::Client(e) if e.to_string().contains("TLS")
                || e.to_string().to_lowercase().contains("certificate")),
            "{transports:?}: {err}"
        );
    }
}
