//! A peer that stops reading: the outbound queue bound holds (`Error::QueueFull`,
//! `queued_bytes()` never past `max_pending_bytes` + one message) and `write_timeout` tears
//! the connection down (1006, a timeout error). `Conn::send` waits for room instead of failing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::memory::raw_client_pipe;
use event_support::{next, raw_client, serve, within};
use std::time::Duration;
// tokio's clock: the real one, or the paused one of the write-timeout test.
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use wsx::{CloseCode, Config, Conn, Error, MessageType, Server};

const LIMIT: usize = 64 * 1024;
const MESSAGE: usize = 64 * 1024;
/// At most 64 MiB of write attempts.
const MAX_ATTEMPTS: usize = 1024;

#[derive(Debug)]
struct Report {
    accepted: usize,
    queue_full: usize,
    max_queued: usize,
    last_enqueue: Instant,
    ended_with: Option<String>,
}

/// Writes `MESSAGE`-byte messages with `write_binary`; on `QueueFull`, waits for room with
/// `send`. Stops when the connection is gone or after `MAX_ATTEMPTS`.
async fn flood(conn: Conn) -> Report {
    let payload = bytes::Bytes::from(vec![0x5a; MESSAGE]);
    let mut report = Report {
        accepted: 0,
        queue_full: 0,
        max_queued: 0,
        last_enqueue: Instant::now(),
        ended_with: None,
    };
    for _ in 0..MAX_ATTEMPTS {
        let result = match conn.write_binary(payload.clone()) {
            Err(Error::QueueFull { queued, limit }) => {
                assert_eq!(limit, LIMIT, "QueueFull reports the configured limit");
                report.max_queued = report.max_queued.max(queued);
                report.queue_full += 1;
                conn.send(MessageType::Binary, payload.clone()).await
            }
            other => other,
        };
        report.max_queued = report.max_queued.max(conn.queued_bytes());
        match result {
            Ok(()) => {
                report.accepted += 1;
                report.last_enqueue = Instant::now();
            }
            Err(err) => {
                report.ended_with = Some(format!("{err:?}"));
                break;
            }
        }
    }
    report
}

/// On a paused clock over an in-memory pipe (64 KiB of buffer, like a socket's): the peer
/// never reads, the pipe fills, and the connection is torn down exactly `write_timeout` after
/// the last byte the pipe took.
#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_hits_the_queue_bound_and_is_closed() {
    within(async {
        let config = Config {
            max_pending_bytes: LIMIT,
            write_timeout: Duration::from_millis(500),
            ..Config::default()
        };
        let server = Server::new(config);
        let (report_tx, mut reports) = mpsc::unbounded_channel();
        let (close_tx, mut closes) = mpsc::unbounded_channel();
        let (error_tx, mut errors) = mpsc::unbounded_channel();
        server.on_connection(move |conn: Conn| {
            let t = close_tx.clone();
            conn.on_close(move |_, code, reason| {
                let _ = t.send((u16::from(code), reason.to_owned(), Instant::now()));
            });
            let t = error_tx.clone();
            conn.on_error(move |_, err| {
                let _ = t.send((matches!(err, Error::Timeout(_)), format!("{err:?}")));
            });
            let report_tx = report_tx.clone();
            tokio::spawn(async move {
                let _ = report_tx.send(flood(conn).await);
            });
        });
        // Completes the handshake, then never reads.
        let (raw, _task) = raw_client_pipe(&server).await;
        let started = Instant::now();

        let (code, reason, closed_at) = next(&mut closes, "on_close for the stalled peer").await;
        let report = next(&mut reports, "the flood report").await;
        assert_eq!(code, 1006, "on_close code (reason {reason:?}); {report:?}");
        assert!(
            report.queue_full >= 1,
            "write_binary never returned QueueFull: {report:?}"
        );
        assert!(
            report.max_queued <= LIMIT + MESSAGE,
            "queued_bytes reached {} (> max_pending_bytes + one message): {report:?}",
            report.max_queued
        );
        assert!(
            report.accepted < MAX_ATTEMPTS,
            "the server accepted 64 MiB for a peer that reads nothing: {report:?}"
        );
        assert_eq!(
            report.ended_with.as_deref(),
            Some("ConnectionClosed"),
            "the waiting send ends with ConnectionClosed: {report:?}"
        );
        // Virtual time stands still while tasks run: the last message the writer took made
        // room in the queue and filled the pipe at the same instant.
        let stalled_for = closed_at.saturating_duration_since(report.last_enqueue);
        assert!(
            stalled_for >= Duration::from_millis(500) && stalled_for <= Duration::from_millis(502),
            "torn down {stalled_for:?} of virtual time after the last progress, want write_timeout (500 ms); {report:?}"
        );
        assert!(
            started.elapsed() <= Duration::from_millis(502),
            "teardown took {:?} of virtual time",
            started.elapsed()
        );

        let (is_timeout, error) = next(&mut errors, "on_error").await;
        assert!(is_timeout, "on_error should report a timeout, got {error}");
        event_support::wait_for_no_connections(&server).await;
        drop(raw);
    })
    .await;
}

/// Reads one unmasked binary frame of a 16-bit length from a raw client.
async fn read_binary_frame(tcp: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(head[0], 0x82, "FIN + binary");
    assert_eq!(head[1], 126, "unmasked, 16-bit length");
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await.unwrap();
    payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_for_room_instead_of_failing() {
    // 400 messages of 60 000 bytes through a 64 KiB queue (one message at a time) to a client
    // that starts reading only once the queue was seen full.
    const COUNT: u32 = 400;
    const SIZE: usize = 60_000;
    within(async {
        let config = Config {
            max_pending_bytes: LIMIT,
            ..Config::default()
        };
        let server = Server::new(config);
        let (full_tx, full_rx) = oneshot::channel::<()>();
        let full_tx = std::sync::Mutex::new(Some(full_tx));
        let (done_tx, mut done) = mpsc::unbounded_channel();
        server.on_connection(move |conn: Conn| {
            let full_tx = full_tx.lock().unwrap().take();
            let done_tx = done_tx.clone();
            tokio::spawn(async move {
                let mut full_tx = full_tx;
                let mut queue_full = 0;
                let mut max_queued = 0;
                for i in 0..COUNT {
                    let mut payload = vec![0u8; SIZE];
                    payload[..4].copy_from_slice(&i.to_be_bytes());
                    if let Err(err) = conn.write_binary(payload.clone()) {
                        assert!(
                            matches!(err, Error::QueueFull { .. }),
                            "message {i}: {err:?}"
                        );
                        queue_full += 1;
                        if let Some(tx) = full_tx.take() {
                            let _ = tx.send(());
                        }
                        // Waits for room; must not fail.
                        conn.send(MessageType::Binary, payload).await.unwrap();
                    }
                    max_queued = usize::max(max_queued, conn.queued_bytes());
                }
                let _ = done_tx.send((queue_full, max_queued));
            });
        });
        let running = serve(server).await;
        let mut raw = raw_client(running.addr).await;
        tokio::time::timeout(Duration::from_secs(10), full_rx)
            .await
            .expect("the queue never filled")
            .expect("the server task ended before the queue filled");
        for i in 0..COUNT {
            let payload = read_binary_frame(&mut raw).await;
            assert_eq!(payload.len(), SIZE, "message {i}");
            assert_eq!(payload[..4], i.to_be_bytes(), "message {i} out of order");
        }
        let (queue_full, max_queued) = next(&mut done, "the sender's report").await;
        assert!(queue_full >= 1);
        assert!(max_queued <= LIMIT, "queued_bytes reached {max_queued}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_a_cooperating_wsx_client_delivers_everything_in_order() {
    const COUNT: u32 = 300;
    const SIZE: usize = 32 * 1024;
    within(async {
        let config = Config {
            max_pending_bytes: LIMIT,
            ..Config::default()
        };
        let server = Server::new(config);
        server.on_connection(|conn: Conn| {
            tokio::spawn(async move {
                for i in 0..COUNT {
                    let mut payload = vec![0u8; SIZE];
                    payload[..4].copy_from_slice(&i.to_be_bytes());
                    conn.send(MessageType::Binary, payload).await.unwrap();
                    assert!(conn.queued_bytes() <= LIMIT);
                }
            });
        });
        let running = serve(server).await;
        let conn = running.connect().await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        conn.on_message(move |_, kind, data| {
            let _ = tx.send((kind, data));
        });
        for i in 0..COUNT {
            let (kind, data) = next(&mut rx, &format!("message {i}")).await;
            assert_eq!(kind, MessageType::Binary);
            assert_eq!(data.len(), SIZE);
            assert_eq!(data[..4], i.to_be_bytes(), "message {i} out of order");
        }
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

/// Sends `count` binary messages of `size` bytes with `send` (waiting for room), then reports
/// on `results`: `Ok` once all went, or which failed.
fn send_steadily(
    conn: Conn,
    results: mpsc::UnboundedSender<Result<(), String>>,
    count: u32,
    size: usize,
) {
    tokio::spawn(async move {
        for i in 0..count {
            let payload = vec![(i % 256) as u8; size];
            if let Err(err) = conn.send(MessageType::Binary, payload).await {
                let _ = results.send(Err(format!("send {i} failed: {err:?}")));
                return;
            }
        }
        let _ = results.send(Ok(()));
    });
}

/// Reads 16 KiB at a time with `pause` after each read until `total` bytes came, and checks
/// that all did; gives what `closes` reported meanwhile (nothing, for a peer not cut).
async fn read_steadily<R: tokio::io::AsyncRead + Unpin>(
    raw: &mut R,
    total: usize,
    pause: Duration,
    closes: &mut mpsc::UnboundedReceiver<String>,
) -> Vec<String> {
    let mut read = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    while read < total {
        match raw.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
        tokio::time::sleep(pause).await;
    }
    let mut ended = Vec::new();
    while let Ok(event) = closes.try_recv() {
        ended.push(event);
    }
    assert!(
        read >= total,
        "a steadily reading peer was cut after {read} of {total} bytes, {:?} in: {ended:?}",
        started.elapsed()
    );
    ended
}

/// `write_timeout` counts time in which the socket takes no byte: a peer that reads steadily,
/// only slower than the application writes, must not be cut. Here it reads 16 KiB every 16 ms
/// (about 1 MB/s) while the server sends 4 MiB with `send` (waiting for room in its 1 MiB
/// queue), taking about twice `write_timeout` (2 s) in all.
///
/// Why not a shorter timeout: Linux auto-tunes the send buffer (up to `tcp_wmem`'s 4 MiB) and
/// reports a full socket writable again only once about a third of it drained, so at 1 MB/s
/// the application can see no progress for over a second while the peer reads all along. No
/// user-space measure can tell that from a stalled reader; the timeout must exceed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_steady_reader_is_not_cut_by_write_timeout() {
    const COUNT: u32 = 64;
    const SIZE: usize = 64 * 1024;
    within(async {
        let config = Config {
            max_pending_bytes: 1 << 20,
            write_timeout: Duration::from_secs(2),
            ..Config::default()
        };
        let server = Server::new(config);
        let (result_tx, mut results) = mpsc::unbounded_channel();
        let (close_tx, mut closes) = mpsc::unbounded_channel();
        server.on_connection(move |conn: Conn| {
            let t = close_tx.clone();
            conn.on_error(move |_, err| {
                let _ = t.send(format!("on_error: {err:?}"));
            });
            let t = close_tx.clone();
            conn.on_close(move |_, code, reason| {
                let _ = t.send(format!("on_close: {code} {reason:?}"));
            });
            send_steadily(conn, result_tx.clone(), COUNT, SIZE);
        });
        let running = serve(server).await;
        let mut raw = raw_client(running.addr).await;
        let ended = read_steadily(
            &mut raw,
            COUNT as usize * (SIZE + 10),
            Duration::from_millis(16),
            &mut closes,
        )
        .await;
        assert_eq!(next(&mut results, "the sender's result").await, Ok(()));
        assert!(ended.is_empty(), "{ended:?}");
    })
    .await;
}

/// The same rule on a paused clock over a 64 KiB pipe, where no kernel buffer blurs it: a peer
/// that takes 16 KiB every 100 ms is never cut by a 150 ms `write_timeout`, however long the
/// transfer (4 MiB: 26 s of virtual time, a few milliseconds of wall time).
#[tokio::test(start_paused = true)]
async fn a_steady_reader_on_a_pipe_is_not_cut_by_a_write_timeout_longer_than_its_pauses() {
    const COUNT: u32 = 64;
    const SIZE: usize = 64 * 1024;
    within(async {
        let config = Config {
            max_pending_bytes: 1 << 20,
            write_timeout: Duration::from_millis(150),
            ..Config::default()
        };
        let server = Server::new(config);
        let (result_tx, mut results) = mpsc::unbounded_channel();
        let (close_tx, mut closes) = mpsc::unbounded_channel();
        server.on_connection(move |conn: Conn| {
            let t = close_tx.clone();
            conn.on_error(move |_, err| {
                let _ = t.send(format!("on_error: {err:?}"));
            });
            send_steadily(conn, result_tx.clone(), COUNT, SIZE);
        });
        let (mut raw, _task) = raw_client_pipe(&server).await;
        let started = Instant::now();
        let ended = read_steadily(
            &mut raw,
            COUNT as usize * (SIZE + 10),
            Duration::from_millis(100),
            &mut closes,
        )
        .await;
        assert!(
            started.elapsed() >= Duration::from_secs(25),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(next(&mut results, "the sender's result").await, Ok(()));
        assert!(ended.is_empty(), "{ended:?}");
    })
    .await;
}
