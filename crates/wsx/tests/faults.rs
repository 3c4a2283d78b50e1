//! Faults, through the event API over loopback: a peer that resets its TCP connection, a
//! half-open peer found by keep-alive, a server shutdown in the middle of a fragmented message,
//! a write that fails because the peer went away, a slow reader that fills `max_pending_bytes`,
//! and a handler panic while other connections are open.
//!
//! Every test checks the same three things, which the behaviour-specific tests elsewhere
//! (`close_handshake.rs`, `event_keepalive.rs`, `event_backpressure.rs`,
//! `event_handler_panic.rs`, `event_shutdown.rs`) do not all check: the faulty connection gets
//! exactly one `on_close`, with the code RFC 6455 §7.1.5 / §7.4.1 gives it; every task the
//! connection spawned has ended afterwards (tokio's count of alive tasks is back to where it was
//! before the connection); and the server still serves a new connection.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{
    Running, close_payload, masked_frame, next, raw_client, read_frame, serve,
    wait_for_no_connections, within,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use wsx::{Config, Conn, MessageType, Server};

/// What one connection's `on_close` reported: its id, code, reason, and the [`Touches`] state
/// it could read then (read under the connection's state lock).
type Closed = (u64, u16, String, Option<u32>);

/// Per-connection state the panic test updates under the state lock.
#[derive(Clone)]
struct Touches(u32);

/// Tasks alive on the test's runtime.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// A server whose connections report `on_close` on the returned channel and then run `setup`.
fn server(
    config: Config,
    setup: impl Fn(&Conn) + Send + Sync + 'static,
) -> (Server, mpsc::UnboundedReceiver<Closed>) {
    let server = Server::new(config);
    let (tx, rx) = mpsc::unbounded_channel();
    server.on_connection(move |conn: Conn| {
        let tx = tx.clone();
        conn.on_close(move |c, code, reason| {
            let touches = c.state::<Touches>().map(|t| t.0);
            let _ = tx.send((c.id(), u16::from(code), reason.to_owned(), touches));
        });
        setup(&conn);
    });
    (server, rx)
}

/// Waits for the server's registry to empty and the runtime's alive tasks to come back to
/// `baseline` (bounded: 5 s), then checks that no second `on_close` arrived for `closed`.
async fn settle(
    running: &Running,
    baseline: usize,
    closes: &mut mpsc::UnboundedReceiver<Closed>,
    closed: &Closed,
) {
    wait_for_no_connections(&running.server).await;
    let mut alive = alive_tasks();
    for _ in 0..500 {
        if alive <= baseline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        alive = alive_tasks();
    }
    assert!(
        alive <= baseline,
        "{alive} tasks alive after the connection ended, {baseline} before it: a task leaked"
    );
    // Give a second on_close every chance to show up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok(again) = closes.try_recv() {
        assert_ne!(
            again.0, closed.0,
            "a second on_close: {again:?} after {closed:?}"
        );
    }
}

/// A new connection is served (echo round trip) and ends cleanly with 1000 on both sides.
async fn still_serves(running: &Running, closes: &mut mpsc::UnboundedReceiver<Closed>) {
    let mut raw = raw_client(running.addr).await;
    raw.write_all(&masked_frame(true, 0, 0x1, b"ping?"))
        .await
        .unwrap();
    let mut buf = Vec::new();
    let frame = read_frame(&mut raw, &mut buf).await.expect("an echo");
    assert_eq!(frame.payload, b"ping?", "the server no longer echoes");
    raw.write_all(&masked_frame(true, 0, 0x8, &close_payload(1000, b"")))
        .await
        .unwrap();
    let frame = read_frame(&mut raw, &mut buf)
        .await
        .expect("the close reply");
    assert_eq!(frame.close_code(), Some(1000));
    let (_, code, _, _) = next(closes, "the healthy connection's on_close").await;
    assert_eq!(code, 1000);
}

/// Echoes every message (the behaviour `still_serves` checks).
fn echo(conn: &Conn) {
    conn.on_message(|c, kind, data| {
        let _ = c.write_message(kind, data);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_resets_its_tcp_connection_closes_once_with_1006() {
    within(async {
        let (server, mut closes) = server(Config::default(), echo);
        let running = serve(server).await;
        let baseline = alive_tasks();

        let mut raw = raw_client(running.addr).await;
        // Half a frame, so the server is mid-read, then RST (SO_LINGER 0) instead of FIN.
        let frame = masked_frame(true, 0, 0x2, &[7; 100]);
        raw.write_all(&frame[..50]).await.unwrap();
        event_support::wait_for_count(&running.server, 1).await;
        // The measure sees the connection's tasks (so its return to the baseline means something).
        assert!(alive_tasks() > baseline, "the connection runs no task?");
        raw.set_zero_linger().unwrap();
        drop(raw);

        let closed = next(&mut closes, "on_close after the reset").await;
        // RFC 6455 §7.1.5: no close frame was received, the connection closed abnormally.
        assert_eq!(closed.1, 1006, "{closed:?}");
        settle(&running, baseline, &mut closes, &closed).await;
        still_serves(&running, &mut closes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_peer_is_found_by_keepalive_and_closed_once_with_1006() {
    within(async {
        let config = Config {
            ping_interval: Duration::from_millis(200),
            pong_timeout: Duration::from_millis(300),
            close_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let (server, mut closes) = server(config, echo);
        let running = serve(server).await;
        let baseline = alive_tasks();

        // A peer that was alive (it answers the first ping), then vanishes without a FIN: its
        // socket stays open, nothing more is read or sent, as when a host loses power.
        let mut raw = raw_client(running.addr).await;
        let mut buf = Vec::new();
        let ping = read_frame(&mut raw, &mut buf).await.expect("a ping");
        assert_eq!(
            ping.opcode, 0x9,
            "expected the keep-alive ping, got {ping:?}"
        );
        raw.write_all(&masked_frame(true, 0, 0xa, &ping.payload))
            .await
            .unwrap();

        let closed = next(&mut closes, "on_close for the silent peer").await;
        assert_eq!(closed.1, 1006, "{closed:?}");
        settle(&running, baseline, &mut closes, &closed).await;
        still_serves(&running, &mut closes).await;
        drop(raw);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_in_the_middle_of_a_fragmented_message_closes_once_with_1001() {
    within(async {
        let config = Config {
            close_timeout: Duration::from_secs(2),
            ..Config::default()
        };
        let (messages_tx, mut messages) = mpsc::unbounded_channel::<Bytes>();
        let (open_tx, mut opened) = mpsc::unbounded_channel();
        let (server, mut closes) = server(config, move |conn| {
            let tx = messages_tx.clone();
            conn.on_message(move |_, _, data| {
                let _ = tx.send(data);
            });
            let _ = open_tx.send(());
        });
        let running = serve(server).await;
        let baseline = alive_tasks();

        let mut raw = raw_client(running.addr).await;
        next(&mut opened, "on_connection").await;
        // The first fragment of a text message (FIN clear, RFC 6455 §5.4); the rest never comes.
        raw.write_all(&masked_frame(false, 0, 0x1, b"the first half"))
            .await
            .unwrap();
        // The server has read the fragment once a ping sent after it is answered.
        raw.write_all(&masked_frame(true, 0, 0x9, b"sync"))
            .await
            .unwrap();
        let mut buf = Vec::new();
        let pong = read_frame(&mut raw, &mut buf).await.expect("a pong");
        assert_eq!((pong.opcode, &pong.payload[..]), (0xa, &b"sync"[..]));

        let shutdown = {
            let server = running.server.clone();
            tokio::spawn(async move { server.shutdown().await })
        };
        let close = read_frame(&mut raw, &mut buf).await.expect("a close frame");
        assert_eq!(close.close_code(), Some(1001), "{close:?}");
        // RFC 6455 §5.5.1: a control frame may come between fragments; the client answers.
        raw.write_all(&masked_frame(true, 0, 0x8, &close_payload(1001, b"")))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), shutdown)
            .await
            .expect("shutdown did not return")
            .unwrap();

        let closed = next(&mut closes, "on_close after shutdown").await;
        assert_eq!(closed.1, 1001, "{closed:?}");
        assert!(
            messages.try_recv().is_err(),
            "half a message was delivered as a whole one"
        );
        // No `still_serves` here: a shut-down server accepts nobody.
        settle(&running, baseline - 1, &mut closes, &closed).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_a_peer_that_went_away_closes_once_with_1006() {
    within(async {
        const MESSAGE: usize = 16 * 1024;
        let config = Config {
            max_pending_bytes: 1 << 20,
            ..Config::default()
        };
        let (writer_tx, mut writer_done) = mpsc::unbounded_channel();
        let (server, mut closes) = server(config, move |conn| {
            echo(conn);
            let tx = writer_tx.clone();
            conn.on_message(move |c, _, data| {
                if &data[..] != b"flood" {
                    let _ = c.write_message(MessageType::Text, data);
                    return;
                }
                // A writer that keeps the socket busy until sending fails (bounded).
                let c = c.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut sent = 0usize;
                    let mut ended = None;
                    while sent < 20_000 {
                        if let Err(err) = c.send(MessageType::Binary, vec![1u8; MESSAGE]).await {
                            ended = Some(format!("{err:?}"));
                            break;
                        }
                        sent += 1;
                    }
                    let _ = tx.send((sent, ended));
                });
            });
        });
        let running = serve(server).await;
        let baseline = alive_tasks();

        let mut raw = raw_client(running.addr).await;
        raw.write_all(&masked_frame(true, 0, 0x1, b"flood"))
            .await
            .unwrap();
        let mut buf = Vec::new();
        let first = read_frame(&mut raw, &mut buf).await.expect("flood data");
        assert_eq!(first.payload.len(), MESSAGE);
        // The peer stops reading and goes away with unread data in its receive buffer, so the
        // kernel answers the server's next segments with RST: its writes fail (EPIPE/ECONNRESET).
        let std = raw.into_std().unwrap();
        std.shutdown(std::net::Shutdown::Read).unwrap();
        drop(std);

        let closed = next(&mut closes, "on_close after the failed write").await;
        assert_eq!(closed.1, 1006, "{closed:?}");
        let (sent, ended) = next(&mut writer_done, "the writer's end").await;
        assert_eq!(
            ended.as_deref(),
            Some("ConnectionClosed"),
            "the waiting send must end with ConnectionClosed after {sent} messages"
        );
        assert!(
            sent < 20_000,
            "every send succeeded to a peer that was gone"
        );
        settle(&running, baseline, &mut closes, &closed).await;
        still_serves(&running, &mut closes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_that_fills_max_pending_bytes_closes_once_with_1006() {
    within(async {
        const LIMIT: usize = 64 * 1024;
        let config = Config {
            max_pending_bytes: LIMIT,
            write_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let full = Arc::new(AtomicUsize::new(0));
        let full_seen = full.clone();
        let flooded = AtomicBool::new(false);
        let (server, mut closes) = server(config, move |conn| {
            echo(conn);
            // Only the first connection is flooded; `still_serves` checks the next one.
            if flooded.swap(true, Ordering::SeqCst) {
                return;
            }
            let full = full.clone();
            conn.on_open(move |c| {
                // Keeps queueing while the peer reads nothing: the socket buffers fill, then the
                // queue reaches its bound (QueueFull; the producer backs off and retries), then
                // write_timeout finds the stalled socket. Bounded in attempts.
                let c = c.clone();
                let full = full.clone();
                tokio::spawn(async move {
                    for _ in 0..50_000 {
                        match c.write_binary(vec![0u8; 4096]) {
                            Ok(()) => {}
                            Err(wsx::Error::QueueFull { .. }) => {
                                full.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Err(_) => break,
                        }
                    }
                });
            });
        });
        let running = serve(server).await;
        let baseline = alive_tasks();

        // Completes the handshake, then never reads.
        let raw = raw_client(running.addr).await;
        let closed = next(&mut closes, "on_close for the slow reader").await;
        assert_eq!(closed.1, 1006, "{closed:?}");
        assert!(
            full_seen.load(Ordering::SeqCst) >= 1,
            "writes never hit max_pending_bytes"
        );
        settle(&running, baseline, &mut closes, &closed).await;
        still_serves(&running, &mut closes).await;
        drop(raw);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_panic_closes_once_with_1011_while_other_connections_are_served() {
    within(async {
        let (server, mut closes) = server(Config::default(), |conn| {
            conn.set_state(Touches(0));
            conn.on_message(|c, kind, data| {
                // The panic happens while the connection's state lock is held, poisoning it:
                // `on_close` must still run and read the state.
                c.with_state(|t: &mut Touches| {
                    t.0 += 1;
                    assert!(&data[..] != b"boom", "boom in the handler");
                });
                let _ = c.write_message(kind, data);
            });
        });
        let running = serve(server).await;
        let baseline = alive_tasks();

        // A healthy connection, open before and after the panic.
        let mut healthy = raw_client(running.addr).await;
        let mut healthy_buf = Vec::new();
        healthy
            .write_all(&masked_frame(true, 0, 0x1, b"before"))
            .await
            .unwrap();
        let echo = read_frame(&mut healthy, &mut healthy_buf).await.unwrap();
        assert_eq!(echo.payload, b"before");

        let mut doomed = raw_client(running.addr).await;
        doomed
            .write_all(&masked_frame(true, 0, 0x1, b"boom"))
            .await
            .unwrap();
        let mut buf = Vec::new();
        let close = read_frame(&mut doomed, &mut buf)
            .await
            .expect("a close frame");
        // RFC 6455 §7.4.1: 1011, the server met a condition that prevented it from going on.
        assert_eq!(close.close_code(), Some(1011), "{close:?}");
        let closed = next(&mut closes, "the panicking connection's on_close").await;
        assert_eq!(closed.1, 1011, "{closed:?}");
        assert_eq!(
            closed.3,
            Some(1),
            "on_close could not read the state the panic poisoned"
        );
        drop(doomed);

        // The other connection goes on, through the server's shared registry too.
        assert_eq!(
            running
                .server
                .broadcast(MessageType::Text, "to all")
                .unwrap(),
            1
        );
        let got = read_frame(&mut healthy, &mut healthy_buf).await.unwrap();
        assert_eq!(got.payload, b"to all");
        healthy
            .write_all(&masked_frame(true, 0, 0x1, b"after"))
            .await
            .unwrap();
        let echo = read_frame(&mut healthy, &mut healthy_buf).await.unwrap();
        assert_eq!(echo.payload, b"after");
        healthy
            .write_all(&masked_frame(true, 0, 0x8, &close_payload(1000, b"")))
            .await
            .unwrap();
        let reply = read_frame(&mut healthy, &mut healthy_buf).await.unwrap();
        assert_eq!(reply.close_code(), Some(1000));
        let other = next(&mut closes, "the healthy connection's on_close").await;
        assert_eq!(other.1, 1000, "{other:?}");
        assert_eq!(other.3, Some(2), "{other:?}");

        settle(&running, baseline, &mut closes, &closed).await;
        still_serves(&running, &mut closes).await;
    })
    .await;
}
