//! Keep-alive over loopback with short intervals: pings answered between two wsx peers keep the
//! connection open; a raw peer that never answers is dropped within `ping_interval +
//! pong_timeout` with 1006 reported, on the server side and on the client side.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{
    Event, next, raw_client, raw_server_accept, read_to_eof, record, serve, within,
};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config, Conn, MessageType, Server};

/// Upper bound for a dead peer to be noticed: the issue asks for `ping_interval +
/// pong_timeout`; slack for a loaded two-core machine on top, 2 s in all.
const DEAD_PEER_BOUND: Duration = Duration::from_secs(2);

fn keepalive(ping_ms: u64, pong_ms: u64) -> Config {
    Config {
        ping_interval: Duration::from_millis(ping_ms),
        pong_timeout: Duration::from_millis(pong_ms),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_answered_and_the_connection_stays_open() {
    within(async {
        let (server_tx, mut server_events) = mpsc::unbounded_channel();
        let server = Server::new(keepalive(100, 200));
        server.on_connection(move |conn: Conn| {
            record(&conn, &server_tx);
            conn.on_message(|c, kind, data| {
                let _ = c.write_message(kind, data);
            });
        });
        let running = serve(server).await;
        let conn = Client::new(keepalive(100, 200))
            .connect(&running.url(), http::HeaderMap::new())
            .await
            .unwrap();
        let (client_tx, mut client_events) = mpsc::unbounded_channel();
        record(&conn, &client_tx);
        let started = Instant::now();

        // Five pongs on the server's side (the client answered five of its pings), i.e. at
        // least five intervals; nothing but open, pings and pongs happens meanwhile.
        let mut server_pongs = 0;
        let mut server_pings = 0;
        while server_pongs < 5 {
            match next(&mut server_events, "a server-side event").await {
                Event::Open => {}
                Event::Pong(_) => server_pongs += 1,
                Event::Ping(_) => server_pings += 1,
                other => panic!("server: unexpected {other:?} while pinging"),
            }
        }
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "five ping intervals of 100 ms took only {:?}",
            started.elapsed()
        );
        // The client pings too: its pongs and the server's pings reached it.
        let mut client_pongs = 0;
        let mut client_pings = 0;
        while client_pongs < 2 || client_pings < 2 {
            match next(&mut client_events, "a client-side event").await {
                Event::Open => {}
                Event::Pong(_) => client_pongs += 1,
                Event::Ping(_) => client_pings += 1,
                other => panic!("client: unexpected {other:?} while pinging"),
            }
        }
        assert!(!conn.is_closed(), "the client connection closed");
        let server_conn = running.server.connections();
        assert_eq!(server_conn.len(), 1, "the server still has the connection");
        assert!(!server_conn[0].is_closed());
        let _ = server_pings;

        // Still usable: an echo round trip.
        conn.write_text("after the pings").unwrap();
        loop {
            match next(&mut client_events, "the echo").await {
                Event::Message(kind, data) => {
                    assert_eq!(
                        (kind, data),
                        (MessageType::Text, Bytes::from_static(b"after the pings"))
                    );
                    break;
                }
                Event::Ping(_) | Event::Pong(_) => {}
                other => panic!("client: unexpected {other:?}"),
            }
        }
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_pings_get_pongs_with_the_same_payload() {
    within(async {
        let running = serve(Server::new(Config::default())).await;
        let conn = running.connect().await;
        let (tx, mut pongs) = mpsc::unbounded_channel();
        conn.on_pong(move |_, data| {
            let _ = tx.send(data);
        });
        conn.ping("are you there").unwrap();
        assert_eq!(
            next(&mut pongs, "the pong").await,
            "are you there".as_bytes()
        );
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

/// The case, with `pong_timeout` (300 ms) longer than `ping_interval` (200 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_drops_a_raw_peer_that_never_answers_pings_with_1006() {
    server_drops_dead_raw_peer(200, 300).await;
}

/// The same with `pong_timeout` (200 ms) shorter than `ping_interval` (300 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_drops_a_dead_raw_peer_when_pong_timeout_is_below_ping_interval() {
    server_drops_dead_raw_peer(300, 200).await;
}

async fn server_drops_dead_raw_peer(ping_ms: u64, pong_ms: u64) {
    within(async {
        let (tx, mut events) = mpsc::unbounded_channel();
        let server = Server::new(keepalive(ping_ms, pong_ms));
        server.on_connection(move |conn: Conn| {
            record(&conn, &tx);
        });
        let running = serve(server).await;

        // The handshake by hand, then never read nor answer.
        let mut raw = raw_client(running.addr).await;
        let started = Instant::now();
        let close = loop {
            match next(&mut events, "on_close for the dead peer").await {
                Event::Close(code, reason) => break (code, reason),
                Event::Open | Event::Error(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        };
        let elapsed = started.elapsed();
        assert_eq!(
            close.0,
            u16::from(CloseCode::ABNORMAL_CLOSURE),
            "on_close code (reason {:?})",
            close.1
        );
        assert!(
            elapsed >= Duration::from_millis(pong_ms),
            "closed after {elapsed:?}, before a pong could have been overdue"
        );
        assert!(
            elapsed <= DEAD_PEER_BOUND,
            "closed after {elapsed:?}, want ping_interval + pong_timeout ({} ms) + slack",
            ping_ms + pong_ms
        );

        // The raw peer sees the ping(s), then EOF.
        let bytes = tokio::time::timeout(Duration::from_secs(2), read_to_eof(&mut raw, 1 << 16))
            .await
            .expect("the raw peer never saw EOF")
            .expect("the raw peer's read failed instead of reaching EOF");
        assert!(
            bytes.starts_with(&[0x89, 0x00]),
            "expected an empty ping frame first, got {bytes:02x?}"
        );
        event_support::wait_for_no_connections(&running.server).await;
    })
    .await;
}

/// `pong_timeout` (300 ms) longer than `ping_interval` (200 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_drops_a_raw_server_that_never_answers_pings_with_1006() {
    client_drops_dead_raw_server(200, 300).await;
}

/// `pong_timeout` (200 ms) shorter than `ping_interval` (300 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_drops_a_dead_raw_server_when_pong_timeout_is_below_ping_interval() {
    client_drops_dead_raw_server(300, 200).await;
}

async fn client_drops_dead_raw_server(ping_ms: u64, pong_ms: u64) {
    within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let raw_server = tokio::spawn(async move { raw_server_accept(&listener).await });
        let conn = Client::new(keepalive(ping_ms, pong_ms))
            .connect(&format!("ws://{addr}/"), http::HeaderMap::new())
            .await
            .unwrap();
        let started = Instant::now();
        let mut raw = raw_server.await.unwrap();
        let (tx, mut closes) = mpsc::unbounded_channel();
        conn.on_close(move |_, code, reason| {
            let _ = tx.send((u16::from(code), reason.to_owned()));
        });
        let (code, reason) = next(&mut closes, "the client's on_close").await;
        let elapsed = started.elapsed();
        assert_eq!(code, 1006, "on_close code (reason {reason:?})");
        assert!(
            elapsed <= DEAD_PEER_BOUND,
            "closed after {elapsed:?}, want ping_interval + pong_timeout ({} ms) + slack",
            ping_ms + pong_ms
        );
        assert!(conn.is_closed());
        // The raw server got (masked) pings, then EOF.
        let bytes = tokio::time::timeout(Duration::from_secs(2), read_to_eof(&mut raw, 1 << 16))
            .await
            .expect("the raw server never saw EOF")
            .expect("the raw server's read failed instead of reaching EOF");
        assert!(
            bytes.starts_with(&[0x89, 0x80]),
            "expected a masked empty ping frame first, got {bytes:02x?}"
        );
    })
    .await;
}
