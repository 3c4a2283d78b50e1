//! Rate limits and connection caps, checked on the wire: per-connection message and byte
//! rates (close 1008, or drop with an `on_error` event), a global cap answered `503` and
//! per-IP caps answered `429`, both with `Retry-After`, the client address taken from
//! `X-Forwarded-For` only behind a trusted proxy, and a cap that holds under 5,000 attempts.
//!
//! The per-connection rates run over in-memory pipes on a paused tokio clock (the buckets read
//! tokio's clock, see `wsx::limit`), so their refills are checked to the millisecond without
//! sleeping. The caps are checked where they apply, as TCP connections are accepted, on real
//! sockets and the real clock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::memory::connect_pipe;
use event_support::{Event, next, raw_request, record_close_and_more, serve, within};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use wsx::{Client, Config, Conn, OnRateExceeded, Rate, RateLimits, Server};

fn limited(limits: RateLimits) -> Config {
    Config {
        rate_limits: limits,
        ..Config::default()
    }
}

/// A server recording what its handlers see.
fn recording(config: Config) -> (Server, mpsc::UnboundedReceiver<Event>) {
    let server = Server::new(config);
    let (tx, rx) = mpsc::unbounded_channel();
    server.on_connection(move |conn: Conn| {
        let t = tx.clone();
        conn.on_message(move |_, kind, data| {
            let _ = t.send(Event::Message(kind, data));
        });
        record_close_and_more(&conn, &tx);
    });
    (server, rx)
}

/// The next message or error a `Drop` server reports: `Ok(payload)` or `Err(which limit)`.
async fn admitted(events: &mut mpsc::UnboundedReceiver<Event>) -> Result<Bytes, &'static str> {
    loop {
        match next(events, "a message or an error").await {
            Event::Message(_, data) => return Ok(data),
            Event::Error(text) if text.contains("Messages") => return Err("messages"),
            Event::Error(text) if text.contains("Bytes") => return Err("bytes"),
            Event::Open => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn past_the_message_rate_the_connection_is_closed_with_1008() {
    within(async {
        let (server, mut events) = recording(limited(RateLimits {
            messages: Some(Rate::per_second(1).with_burst(5)),
            ..RateLimits::default()
        }));
        let started = Instant::now();
        let (conn, _task) = connect_pipe(&server, Config::default()).await;
        for i in 0..10 {
            conn.write_text(format!("m{i}")).unwrap();
        }
        let (code, reason) = conn.closed().await;
        assert_eq!(
            (u16::from(code), reason.as_str()),
            (1008, "rate limit exceeded")
        );
        // The sixth message closed it, at once: no time passed, so nothing refilled.
        assert_eq!(started.elapsed(), Duration::ZERO);
        let mut delivered = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let Event::Message(_, data) = event {
                delivered.push(data);
            }
        }
        let burst: Vec<Bytes> = (0..5).map(|i| Bytes::from(format!("m{i}"))).collect();
        assert_eq!(delivered, burst, "the burst, then nothing");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn past_the_rates_with_drop_messages_are_dropped_and_reported() {
    within(async {
        let (server, mut events) = recording(limited(RateLimits {
            messages: Some(Rate::per_second(1).with_burst(3)),
            bytes: Some(Rate::per_second(100).with_burst(1000)),
            on_exceeded: OnRateExceeded::Drop,
            ..RateLimits::default()
        }));
        let started = Instant::now();
        let (conn, _task) = connect_pipe(&server, Config::default()).await;
        conn.write_binary(vec![0u8; 2000]).unwrap(); // over the byte burst: dropped
        for i in 0..5 {
            conn.write_text(format!("m{i}")).unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(admitted(&mut events).await);
        }
        // Every message counts against the message rate, the dropped one too: the burst of 3
        // is the oversized binary, m0 and m1.
        assert_eq!(
            seen,
            [
                Err("bytes"),
                Ok(Bytes::from("m0")),
                Ok(Bytes::from("m1")),
                Err("messages"),
                Err("messages"),
                Err("messages"),
            ]
        );
        assert!(!conn.is_closed(), "dropping keeps the connection");

        // One message a second: the bucket gives the next one back exactly 1 s after the
        // burst, not a millisecond before, and only one.
        tokio::time::sleep_until(started + Duration::from_millis(999)).await;
        conn.write_text("early").unwrap();
        assert_eq!(admitted(&mut events).await, Err("messages"));
        tokio::time::sleep_until(started + Duration::from_secs(1)).await;
        conn.write_text("on time").unwrap();
        conn.write_text("one too many").unwrap();
        assert_eq!(admitted(&mut events).await, Ok(Bytes::from("on time")));
        assert_eq!(admitted(&mut events).await, Err("messages"));
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_byte_rate_refills_at_its_rate() {
    within(async {
        // 100 bytes a second with bursts of 100: a byte comes back every 10 ms.
        let (server, mut events) = recording(limited(RateLimits {
            bytes: Some(Rate::per_second(100).with_burst(100)),
            on_exceeded: OnRateExceeded::Drop,
            ..RateLimits::default()
        }));
        let started = Instant::now();
        let (conn, _task) = connect_pipe(&server, Config::default()).await;
        conn.write_binary(vec![1u8; 100]).unwrap();
        conn.write_binary(vec![2u8; 1]).unwrap();
        assert_eq!(admitted(&mut events).await, Ok(Bytes::from(vec![1u8; 100])));
        assert_eq!(admitted(&mut events).await, Err("bytes"));
        // 50 ms give back 5 bytes: 6 is too many, then 5 pass and the bucket is empty again.
        tokio::time::sleep_until(started + Duration::from_millis(50)).await;
        conn.write_binary(vec![3u8; 6]).unwrap();
        conn.write_binary(vec![4u8; 5]).unwrap();
        conn.write_binary(vec![5u8; 1]).unwrap();
        assert_eq!(admitted(&mut events).await, Err("bytes"));
        assert_eq!(admitted(&mut events).await, Ok(Bytes::from(vec![4u8; 5])));
        assert_eq!(admitted(&mut events).await, Err("bytes"));
        // A message larger than the burst never fits, however long it waits.
        tokio::time::sleep_until(started + Duration::from_secs(10)).await;
        conn.write_binary(vec![6u8; 101]).unwrap();
        conn.write_binary(vec![7u8; 100]).unwrap();
        assert_eq!(admitted(&mut events).await, Err("bytes"));
        assert_eq!(admitted(&mut events).await, Ok(Bytes::from(vec![7u8; 100])));
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    })
    .await;
}

/// The status line and `Retry-After` of the answer to a raw upgrade request.
async fn answer(addr: SocketAddr, extra: &str) -> (u16, Option<String>) {
    let (_stream, head) = raw_request(addr, extra).await;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let retry = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("retry-after: ")
            .map(str::to_owned)
    });
    (status, retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_answer_503_and_429_with_retry_after() {
    within(async {
        // Global cap 2.
        let (server, _events) = recording(limited(RateLimits {
            max_connections: Some(2),
            retry_after: Duration::from_secs(7),
            ..RateLimits::default()
        }));
        let running = serve(server).await;
        let a = running.connect().await;
        let _b = running.connect().await;
        assert_eq!(answer(running.addr, "").await, (503, Some("7".into())));
        a.close(1000u16, "").unwrap();
        a.closed().await;
        event_support::wait_for_count(&running.server, 1).await;
        assert_eq!(answer(running.addr, "").await.0, 101, "a place came free");

        // Per IP: one connection, two handshakes per second.
        let (server, _events) = recording(limited(RateLimits {
            max_connections_per_ip: Some(1),
            ..RateLimits::default()
        }));
        let running = serve(server).await;
        let _one = running.connect().await;
        assert_eq!(answer(running.addr, "").await, (429, Some("1".into())));

        let (server, _events) = recording(limited(RateLimits {
            handshakes_per_ip: Some(Rate::per_second(1).with_burst(2)),
            ..RateLimits::default()
        }));
        let running = serve(server).await;
        assert_eq!(answer(running.addr, "").await.0, 101);
        assert_eq!(answer(running.addr, "").await.0, 101);
        assert_eq!(answer(running.addr, "").await.0, 429);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_address_counts() {
    within(async {
        let limits = RateLimits {
            max_connections_per_ip: Some(1),
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            ..RateLimits::default()
        };
        let (server, _events) = recording(limited(limits));
        let running = serve(server).await;
        let (_s1, h1) = raw_request(running.addr, "X-Forwarded-For: 203.0.113.1\r\n").await;
        let (_s2, h2) = raw_request(running.addr, "X-Forwarded-For: 203.0.113.2\r\n").await;
        assert!(
            h1.starts_with("HTTP/1.1 101") && h2.starts_with("HTTP/1.1 101"),
            "{h1}{h2}"
        );
        let (status, retry) = answer(
            running.addr,
            "X-Forwarded-For: 198.51.100.9, 203.0.113.1\r\n",
        )
        .await;
        assert_eq!((status, retry.as_deref()), (429, Some("1")));

        // Not a trusted proxy: the header is the client's own word and is ignored.
        let (server, _events) = recording(limited(RateLimits {
            max_connections_per_ip: Some(1),
            ..RateLimits::default()
        }));
        let running = serve(server).await;
        let (_s1, h1) = raw_request(running.addr, "X-Forwarded-For: 203.0.113.1\r\n").await;
        assert!(h1.starts_with("HTTP/1.1 101"), "{h1}");
        let (status, _) = answer(running.addr, "X-Forwarded-For: 203.0.113.2\r\n").await;
        assert_eq!(status, 429);
    })
    .await;
}

/// Resident memory of this process, in KiB (Linux).
fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Serves `server` on a loopback listener whose accept queue holds `backlog` connections.
/// `TcpListener::bind` asks for 128: 200 connection attempts at once overflow that queue
/// (counted in the kernel's `ListenOverflows`), and each one dropped there costs the client a
/// 1 s SYN retransmission, which is the kernel's pace, not the server's.
fn serve_with_backlog(server: Server, backlog: u32) -> event_support::Running {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let listener = socket.listen(backlog).unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn({
        let server = server.clone();
        async move { server.serve(listener).await }
    });
    event_support::Running { server, addr, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_under_5000_attempts_without_memory_growth() {
    event_support::within_for(Duration::from_secs(120), async {
        const CAP: usize = 50;
        let (server, _events) = recording(limited(RateLimits {
            max_connections: Some(CAP),
            ..RateLimits::default()
        }));
        let running = serve_with_backlog(server, 1024);
        let client = Client::default();
        let mut held = Vec::new();
        for _ in 0..CAP {
            held.push(client.connect_url(&running.url()).await.unwrap());
        }
        event_support::wait_for_count(&running.server, CAP).await;
        // Warm up the refusal path (and this process's allocator, which also runs the 200
        // concurrent test clients) with the same concurrency, then measure.
        let flood = || async {
            let batch: Vec<_> = (0..200)
                .map(|_| tokio::spawn(answer(running.addr, "")))
                .collect();
            let mut refused = 0;
            for attempt in batch {
                if attempt.await.unwrap().0 == 503 {
                    refused += 1;
                }
            }
            refused
        };
        for _ in 0..5 {
            flood().await;
        }
        let before = rss_kib();
        let mut refused = 0;
        for _ in 0..25 {
            refused += flood().await;
            assert!(running.server.connection_count() <= CAP);
        }
        let grown = rss_kib().saturating_sub(before);
        assert_eq!(refused, 5000, "every attempt past the cap is answered 503");
        assert_eq!(running.server.connection_count(), CAP);
        assert!(
            grown < 8 * 1024,
            "RSS grew by {grown} KiB over 5,000 refused attempts"
        );
        // The held connections still work.
        let (tx, mut rx) = mpsc::unbounded_channel();
        held[0].on_message(move |_, _, d| {
            let _ = tx.send(d);
        });
        running
            .server
            .broadcast(wsx::MessageType::Text, "still")
            .unwrap();
        assert_eq!(next(&mut rx, "broadcast").await, Bytes::from("still"));
    })
    .await;
}
