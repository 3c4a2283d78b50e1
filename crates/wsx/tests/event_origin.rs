//! Origin check over loopback: a refused `Origin` gets `403` and never becomes a connection;
//! an allowed one connects. The default (`check_origin: None`) refuses a cross-origin page
//! (cross-site WebSocket hijacking, RFC 6455 §10.2) and counts the refusal; same-origin pages
//! and clients without `Origin` connect; `origin::allow` adds a list, `origin::any` all.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{next, raw_request, read_to_eof, serve, within};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config, Conn, Error, HandshakeError, Server, origin};

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

/// Connects to `url` with `origin` as the `Origin` header (none when `None`): `Ok` once
/// upgraded (then closed), `Err(status)` when refused.
async fn try_origin(url: &str, origin: Option<&str>) -> Result<(), http::StatusCode> {
    let mut headers = http::HeaderMap::new();
    if let Some(origin) = origin {
        headers.insert(http::header::ORIGIN, origin.parse().unwrap());
    }
    match Client::new(Config::default()).connect(url, headers).await {
        Ok(conn) => {
            conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
            Ok(())
        }
        Err(Error::Handshake(HandshakeError::UnexpectedStatus(status))) => Err(status),
        Err(other) => panic!("expected an upgrade or a refusal, got {other:?}"),
    }
}

/// A recorder of the `metrics` facade for this test binary, installed once: the handshake
/// counters are registered per call, so installing it late loses nothing of this test's.
fn recorder() -> &'static metrics_util::debugging::Snapshotter {
    static SNAPSHOTTER: std::sync::OnceLock<metrics_util::debugging::Snapshotter> =
        std::sync::OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        snapshotter
    })
}

/// Handshakes refused with 403 since the last call (snapshots consume counters), from every
/// test of this binary running meanwhile.
fn refused_403(snapshotter: &metrics_util::debugging::Snapshotter) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == "wsx_handshakes_total"
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == "status" && l.value() == "403")
        })
        .map(|(.., value)| match value {
            metrics_util::debugging::DebugValue::Counter(n) => n,
            _ => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_cross_origin_page_is_refused_and_counted() {
    within(async {
        let snapshotter = recorder();
        let running = serve(Server::new(Config::default())).await;
        let url = running.url();
        let port = running.addr.port();
        refused_403(snapshotter);
        // A browser page served from this host and port; the same with the host's case
        // changed; a client that sends no Origin (not a browser).
        assert_eq!(
            try_origin(&url, Some(&format!("http://127.0.0.1:{port}"))).await,
            Ok(())
        );
        assert_eq!(
            try_origin(&url, Some(&format!("HTTP://127.0.0.1:{port}"))).await,
            Ok(())
        );
        assert_eq!(try_origin(&url, None).await, Ok(()));
        // Another site, another port of this host, a sandboxed page.
        let forbidden = Err(http::StatusCode::FORBIDDEN);
        assert_eq!(try_origin(&url, Some(EVIL)).await, forbidden);
        assert_eq!(
            try_origin(&url, Some(&format!("http://127.0.0.1:{}", port + 1))).await,
            forbidden
        );
        assert_eq!(try_origin(&url, Some("null")).await, forbidden);
        assert!(
            refused_403(snapshotter) >= 3,
            "the refusals are counted in wsx_handshakes_total{{status=\"403\"}}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_list_adds_its_origins_to_the_same_origin() {
    within(async {
        let config = Config {
            check_origin: Some(origin::allow([GOOD, "http://localhost:3000"])),
            ..Config::default()
        };
        let running = serve(Server::new(config)).await;
        let url = running.url();
        let port = running.addr.port();
        assert_eq!(try_origin(&url, Some(GOOD)).await, Ok(()));
        assert_eq!(
            try_origin(&url, Some("http://localhost:3000")).await,
            Ok(())
        );
        assert_eq!(
            try_origin(&url, Some(&format!("http://127.0.0.1:{port}"))).await,
            Ok(())
        );
        assert_eq!(try_origin(&url, None).await, Ok(()));
        assert_eq!(
            try_origin(&url, Some(EVIL)).await,
            Err(http::StatusCode::FORBIDDEN)
        );
        assert_eq!(
            try_origin(&url, Some("http://localhost:3001")).await,
            Err(http::StatusCode::FORBIDDEN)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_any_admits_every_origin() {
    within(async {
        let config = Config {
            check_origin: Some(origin::any()),
            ..Config::default()
        };
        let running = serve(Server::new(config)).await;
        let url = running.url();
        assert_eq!(try_origin(&url, Some(EVIL)).await, Ok(()));
        assert_eq!(try_origin(&url, Some("null")).await, Ok(()));
        assert_eq!(try_origin(&url, None).await, Ok(()));
    })
    .await;
}
