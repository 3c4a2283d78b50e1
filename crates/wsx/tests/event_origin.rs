//! Origin check over loopback: a refused `Origin` gets `403` and never becomes a connection;
//! an allowed one connects.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{next, raw_request, read_to_eof, serve, within};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config, Conn, Error, HandshakeError, Server};

const EVIL: &str = "https://evil.example";
const GOOD: &str = "https://good.example";

fn guarded_server() -> (Server, Arc<AtomicUsize>, mpsc::UnboundedReceiver<Conn>) {
    let config = Config {
        check_origin: Some(Arc::new(|req: &http::Request<()>| {
            req.headers()
                .get(http::header::ORIGIN)
                .is_none_or(|origin| origin != EVIL)
        })),
        ..Config::default()
    };
    let server = Server::new(config);
    let connections = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    {
        let connections = connections.clone();
        server.on_connection(move |conn: Conn| {
            connections.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(conn);
        });
    }
    (server, connections, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_origin_gets_403_and_no_connection() {
    within(async {
        let (server, connections, mut conns) = guarded_server();
        let running = serve(server).await;

        let (mut raw, head) = raw_request(running.addr, &format!("Origin: {EVIL}\r\n")).await;
        assert!(
            head.starts_with("HTTP/1.1 403"),
            "expected 403 Forbidden, got {head:?}"
        );
        // The server ends the connection after the refusal (a body, if any, then EOF).
        tokio::time::timeout(Duration::from_secs(5), read_to_eof(&mut raw, 1 << 16))
            .await
            .expect("the refused connection was not closed")
            .expect("reading the refused connection failed");

        // The wsx client gets the status as an error.
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::ORIGIN, EVIL.parse().unwrap());
        let refused = Client::new(Config::default())
            .connect(&running.url(), headers)
            .await;
        match refused {
            Err(Error::Handshake(HandshakeError::UnexpectedStatus(status))) => {
                assert_eq!(status, http::StatusCode::FORBIDDEN);
            }
            other => panic!("expected a 403 handshake error, got {other:?}"),
        }

        // An allowed origin connects; it is the first and only connection the server saw, so
        // the refused requests never reached on_connection.
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::ORIGIN, GOOD.parse().unwrap());
        let conn = Client::new(Config::default())
            .connect(&running.url(), headers)
            .await
            .unwrap();
        let server_conn = next(&mut conns, "the allowed connection").await;
        assert_eq!(
            server_conn.headers().get(http::header::ORIGIN).unwrap(),
            GOOD
        );
        assert_eq!(connections.load(Ordering::SeqCst), 1, "on_connection calls");
        assert_eq!(running.server.connection_count(), 1);
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_origin_is_left_to_the_check() {
    // The check above accepts a request without Origin (non-browser clients send none).
    within(async {
        let (server, connections, mut conns) = guarded_server();
        let running = serve(server).await;
        let conn = running.connect().await;
        let server_conn = next(&mut conns, "the connection").await;
        assert!(server_conn.headers().get(http::header::ORIGIN).is_none());
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}
