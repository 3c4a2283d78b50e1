//! Keep-alive on a paused tokio clock over in-memory pipes: pings answered between two wsx
//! peers keep the connection open; a raw peer that never answers is dropped exactly
//! `pong_timeout` after the first unanswered ping with 1006 reported (and sent a close frame
//! 1011 on the way out), on the server side and on the client side. Time is virtual (see
//! `event_support::memory`), so the deadlines are checked to the millisecond, not within
//! "slack for a loaded machine".
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::memory::{connect_pipe, raw_client_pipe, raw_server_pipe};
use event_support::{Event, next, read_to_eof, record, within};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use wsx::{CloseCode, Config, Conn, MessageType, Server};

fn keepalive(ping_ms: u64, pong_ms: u64) -> Config {
    Config {
        ping_interval: Duration::from_millis(ping_ms),
        pong_timeout: Duration::from_millis(pong_ms),
        ..Config::default()
    }
}

/// `elapsed` is `want` to tokio's timer resolution (deadlines are rounded up to the next
/// millisecond).
fn assert_at(elapsed: Duration, want_ms: u64, what: &str) {
    let want = Duration::from_millis(want_ms);
    assert!(
        elapsed >= want && elapsed <= want + Duration::from_millis(2),
        "{what} after {elapsed:?} of virtual time, want {want:?}"
    );
}

#[tokio::test(start_paused = true)]
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
        let started = Instant::now();
        let (conn, _task) = connect_pipe(&server, keepalive(100, 200)).await;
        let (client_tx, mut client_events) = mpsc::unbounded_channel();
        record(&conn, &client_tx);

        // Five pongs on the server's side (the client answered five of its pings): five
        // intervals of virtual time; nothing but open, pings and pongs happens meanwhile.
        let mut server_pongs = 0;
        while server_pongs < 5 {
            match next(&mut server_events, "a server-side event").await {
                Event::Open | Event::Ping(_) => {}
                Event::Pong(_) => server_pongs += 1,
                other => panic!("server: unexpected {other:?} while pinging"),
            }
        }
        assert_at(started.elapsed(), 500, "the fifth pong");
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
        let server_conn = server.connections();
        assert_eq!(server_conn.len(), 1, "the server still has the connection");
        assert!(!server_conn[0].is_closed());

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

#[tokio::test(start_paused = true)]
async fn application_pings_get_pongs_with_the_same_payload() {
    within(async {
        let server = Server::new(Config::default());
        let (conn, _task) = connect_pipe(&server, Config::default()).await;
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

/// `pong_timeout` (300 ms) longer than `ping_interval` (200 ms): pings at 200 and 400 ms, the
/// deadline stays that of the first one, 500 ms.
#[tokio::test(start_paused = true)]
async fn server_drops_a_raw_peer_that_never_answers_pings_with_1006() {
    server_drops_dead_raw_peer(200, 300, 500, 2).await;
}

/// `pong_timeout` (200 ms) shorter than `ping_interval` (300 ms): one ping at 300 ms, dead at
/// 500 ms.
#[tokio::test(start_paused = true)]
async fn server_drops_a_dead_raw_peer_when_pong_timeout_is_below_ping_interval() {
    server_drops_dead_raw_peer(300, 200, 500, 1).await;
}

/// The reason of the close frame sent to a peer that stopped answering pings (python-websockets
/// sends the same).
const DEAD_PEER_WIRE_REASON: &[u8] = b"keepalive ping timeout";

/// Two empty ping frames, server to client (unmasked) or client to server (masked).
fn pings(count: usize, masked: bool) -> Vec<u8> {
    let frame: &[u8] = if masked { &[0x89, 0x80] } else { &[0x89, 0x00] };
    let mut all = Vec::new();
    for _ in 0..count {
        all.extend_from_slice(frame);
        if masked {
            all.extend_from_slice(&[0; 4]);
        }
    }
    all
}

async fn server_drops_dead_raw_peer(ping_ms: u64, pong_ms: u64, dead_ms: u64, count: usize) {
    within(async {
        let (tx, mut events) = mpsc::unbounded_channel();
        let server = Server::new(keepalive(ping_ms, pong_ms));
        server.on_connection(move |conn: Conn| {
            record(&conn, &tx);
        });
        let started = Instant::now();
        // The handshake by hand, then never answer.
        let (mut raw, task) = raw_client_pipe(&server).await;
        let close = loop {
            match next(&mut events, "on_close for the dead peer").await {
                Event::Close(code, reason) => break (code, reason),
                Event::Open | Event::Error(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_at(started.elapsed(), dead_ms, "the dead peer was dropped");
        assert_eq!(
            close,
            (
                u16::from(CloseCode::ABNORMAL_CLOSURE),
                "no pong from peer".into()
            ),
        );
        // The raw peer saw exactly the keep-alive pings, then the close frame that failed the
        // connection (1011, as python-websockets sends it; it went out in one write attempt,
        // the pipe had room), then EOF.
        let bytes = read_to_eof(&mut raw, 1 << 16).await.unwrap();
        let mut want = pings(count, false);
        want.extend_from_slice(&[0x88, 24, 0x03, 0xf3]);
        want.extend_from_slice(DEAD_PEER_WIRE_REASON);
        assert_eq!(bytes, want);
        task.await.unwrap().unwrap();
        assert_eq!(server.connection_count(), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn client_drops_a_raw_server_that_never_answers_pings_with_1006() {
    client_drops_dead_raw_server(200, 300, 500, 2).await;
}

#[tokio::test(start_paused = true)]
async fn client_drops_a_dead_raw_server_when_pong_timeout_is_below_ping_interval() {
    client_drops_dead_raw_server(300, 200, 500, 1).await;
}

async fn client_drops_dead_raw_server(ping_ms: u64, pong_ms: u64, dead_ms: u64, count: usize) {
    within(async {
        let started = Instant::now();
        let (conn, mut raw) = raw_server_pipe(keepalive(ping_ms, pong_ms)).await;
        let (tx, mut closes) = mpsc::unbounded_channel();
        conn.on_close(move |_, code, reason| {
            let _ = tx.send((u16::from(code), reason.to_owned()));
        });
        let (code, reason) = next(&mut closes, "the client's on_close").await;
        assert_at(started.elapsed(), dead_ms, "the dead server was dropped");
        assert_eq!((code, reason.as_str()), (1006, "no pong from peer"));
        assert!(conn.is_closed());
        // The raw server got (masked) pings, then the (masked) close frame 1011 that failed
        // the connection, then EOF.
        let bytes = read_to_eof(&mut raw, 1 << 16).await.unwrap();
        assert_eq!(bytes.len(), 6 * count + 30, "{bytes:02x?}");
        let (pings, close) = bytes.split_at(6 * count);
        for ping in pings.chunks(6) {
            assert_eq!(
                &ping[..2],
                &[0x89, 0x80],
                "a masked empty ping: {bytes:02x?}"
            );
        }
        assert_eq!(&close[..2], &[0x88, 0x80 | 24], "{bytes:02x?}");
        let payload: Vec<u8> = close[6..]
            .iter()
            .zip(close[2..6].iter().cycle())
            .map(|(b, m)| b ^ m)
            .collect();
        assert_eq!(&payload[..2], &[0x03, 0xf3], "1011");
        assert_eq!(&payload[2..], DEAD_PEER_WIRE_REASON);
    })
    .await;
}
