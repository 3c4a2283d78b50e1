//! The client over HTTP/2 (RFC 8441, `Config::http2`): several WebSockets to one origin share
//! one HTTP/2 connection (the server sees one peer address and HTTP/2 for each), each echoes
//! on its own stream, closing one leaves the others; `wss://` negotiates h2 by ALPN (with a
//! hyper server, and with wsx's own `Server::serve_tls`, which serves HTTP/1.1 upgrades on the
//! same port), and falls back to an HTTP/1.1 upgrade when the server only speaks HTTP/1.1.
//! Concurrent connects to one origin share its connection; a connect to an origin that hangs
//! holds up no connect to another origin, and once abandoned leaves nothing behind.
#![cfg(feature = "hyper")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::hyper_serve::{hyper_server, hyper_tls_server};
use event_support::{echo_server, next, within};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use wsx::{Client, Config, Conn};

fn h2_client() -> Client {
    Client::new(Config {
        http2: true,
        ..Config::default()
    })
}

async fn echoes(conn: &Conn, text: &str) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    conn.on_message(move |_, _, data| {
        let _ = tx.send(data);
    });
    conn.write_text(text.to_owned()).unwrap();
    assert_eq!(next(&mut rx, "echo").await, Bytes::from(text.to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_websockets_share_one_http2_connection() {
    within(async {
        let server = echo_server(Config::default());
        let addr = hyper_server(server.clone()).await;
        let client = h2_client();
        let mut conns = Vec::new();
        for i in 0..3 {
            let conn = client
                .connect_url(&format!("ws://{addr}/ws"))
                .await
                .unwrap();
            assert_eq!(conn.http_version(), http::Version::HTTP_2);
            echoes(&conn, &format!("stream {i}")).await;
            conns.push(conn);
        }
        let server_side = server.connections();
        assert_eq!(server_side.len(), 3);
        assert!(
            server_side
                .iter()
                .all(|c| c.http_version() == http::Version::HTTP_2)
        );
        let peers: std::collections::HashSet<_> =
            server_side.iter().map(|c| c.remote_addr()).collect();
        assert_eq!(
            peers.len(),
            1,
            "one TCP connection for the three: {peers:?}"
        );

        // Closing one stream leaves the others working.
        let first = conns.remove(0);
        first.close(1000u16, "done").unwrap();
        let (code, _) = first.closed().await;
        assert_eq!(u16::from(code), 1000);
        for (i, conn) in conns.iter().enumerate() {
            echoes(conn, &format!("still {i}")).await;
        }
        event_support::wait_for_count(&server, 2).await;
    })
    .await;
}

fn tls_pair() -> (
    Arc<wsx::tls::rustls::ServerConfig>,
    wsx::tls::rustls::RootCertStore,
) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = wsx::tls::rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    );
    let config = wsx::tls::server_config(vec![cert.clone()], key.into()).unwrap();
    let mut roots = wsx::tls::rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (config, roots)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_negotiates_h2_by_alpn_or_falls_back_to_http11() {
    within(async {
        // A hyper server offering h2 by ALPN.
        let (config, roots) = tls_pair();
        let mut h2_config = Arc::unwrap_or_clone(config.clone());
        h2_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let server = echo_server(Config::default());
        let addr = hyper_tls_server(server.clone(), Arc::new(h2_config)).await;
        let client = h2_client().with_root_certificates(roots.clone()).unwrap();
        let conn = client
            .connect_url(&format!("wss://localhost:{}/ws", addr.port()))
            .await
            .unwrap();
        assert_eq!(conn.http_version(), http::Version::HTTP_2);
        echoes(&conn, "wss over h2").await;

        // wsx's own TLS server offers h2 too (feature hyper), beside HTTP/1.1 on one port.
        let own = echo_server(Config::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let serving = own.clone();
        let own_config = config.clone();
        tokio::spawn(async move { serving.serve_tls(listener, own_config).await });
        let url = format!("wss://localhost:{port}/");
        let over_h2 = client.connect_url(&url).await.unwrap();
        assert_eq!(over_h2.http_version(), http::Version::HTTP_2);
        echoes(&over_h2, "wsx server over h2").await;
        let over_h1 = Client::default()
            .with_root_certificates(roots.clone())
            .unwrap()
            .connect_url(&url)
            .await
            .unwrap();
        assert_eq!(over_h1.http_version(), http::Version::HTTP_11);
        echoes(&over_h1, "wsx server over http/1.1").await;
        let mut versions: Vec<_> = own.connections().iter().map(Conn::http_version).collect();
        versions.sort();
        assert_eq!(
            versions,
            vec![http::Version::HTTP_11, http::Version::HTTP_2]
        );

        // A server that speaks HTTP/1.1 only (ALPN http/1.1): the same client falls back.
        let mut h1_config = Arc::unwrap_or_clone(config);
        h1_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let addr = hyper_tls_server(echo_server(Config::default()), Arc::new(h1_config)).await;
        let conn = client
            .connect_url(&format!("wss://localhost:{}/ws", addr.port()))
            .await
            .unwrap();
        assert_eq!(conn.http_version(), http::Version::HTTP_11);
        echoes(&conn, "wss over http/1.1").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_to_one_origin_share_its_connection() {
    within(async {
        let server = echo_server(Config::default());
        let addr = hyper_server(server.clone()).await;
        let client = h2_client();
        let url = format!("ws://{addr}/ws");
        let (a, b, c) = tokio::join!(
            client.connect_url(&url),
            client.connect_url(&url),
            client.connect_url(&url)
        );
        for (i, conn) in [a.unwrap(), b.unwrap(), c.unwrap()].iter().enumerate() {
            echoes(conn, &format!("together {i}")).await;
        }
        let peers: std::collections::HashSet<_> = server
            .connections()
            .iter()
            .map(wsx::Conn::remote_addr)
            .collect();
        assert_eq!(
            peers.len(),
            1,
            "one TCP connection for the three: {peers:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_origin_holds_up_no_connect_to_another_origin() {
    within(async {
        // An origin that takes TCP connections and never answers the TLS handshake.
        let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hang_url = format!("wss://127.0.0.1:{}/", hang.local_addr().unwrap().port());
        let (accepted_tx, mut accepted) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = hang.accept().await {
                held.push(tcp);
                let _ = accepted_tx.send(());
            }
        });
        let server = echo_server(Config::default());
        let addr = hyper_server(server.clone()).await;
        let client = Client::new(Config {
            http2: true,
            // Longer than the test: the hanging connect stays in its TLS handshake.
            handshake_timeout: Duration::from_secs(60),
            ..Config::default()
        });
        let hanging = {
            let client = client.clone();
            let url = hang_url.clone();
            tokio::spawn(async move { client.connect_url(&url).await })
        };
        next(&mut accepted, "the hanging origin's TCP connection").await;

        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.connect_url(&format!("ws://{addr}/ws")),
        )
        .await
        .expect("the connect to another origin waited for the hanging one")
        .unwrap();
        echoes(&conn, "not held up").await;
        assert!(!hanging.is_finished(), "the hanging connect ended");

        // Abandoned (its future dropped, as a timeout drops it), the hanging connect leaves
        // no mark: the next connect to that origin tries again instead of waiting for it.
        hanging.abort();
        let _ = hanging.await;
        let again = {
            let client = client.clone();
            tokio::spawn(async move { client.connect_url(&hang_url).await })
        };
        next(&mut accepted, "a new TCP connection to the hanging origin").await;
        again.abort();
    })
    .await;
}
