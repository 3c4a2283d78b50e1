//! Rate limits and connection caps, checked on the wire: per-connection message and byte
//! rates (close 1008, or drop with an `on_error` event), a global cap answered `503` and
//! per-IP caps answered `429`, both with `Retry-After`, the client address taken from
//! `X-Forwarded-For` only behind a trusted proxy, and a cap that holds under 5,000 attempts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{Event, next, raw_request, record_close_and_more, serve, within};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_message_rate_the_connection_is_closed_with_1008() {
    within(async {
        let (server, mut events) = recording(limited(RateLimits {
            messages: Some(Rate::per_second(1).with_burst(5)),
            ..RateLimits::default()
        }));
        let running = serve(server).await;
        let conn = running.connect().await;
        for i in 0..10 {
            conn.write_text(format!("m{i}")).unwrap();
        }
        let (code, reason) = tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .unwrap();
        assert_eq!(
            (u16::from(code), reason.as_str()),
            (1008, "rate limit exceeded")
        );
        let mut delivered = 0;
        while let Ok(event) = events.try_recv() {
            if matches!(event, Event::Message(..)) {
                delivered += 1;
            }
        }
        assert_eq!(delivered, 5, "the burst, then nothing");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_rates_with_drop_messages_are_dropped_and_reported() {
    within(async {
        let (server, mut events) = recording(limited(RateLimits {
            messages: Some(Rate::per_second(1).with_burst(3)),
            bytes: Some(Rate::per_second(100).with_burst(1000)),
            on_exceeded: OnRateExceeded::Drop,
            ..RateLimits::default()
        }));
        let running = serve(server).await;
        let conn = running.connect().await;
        conn.write_binary(vec![0u8; 2000]).unwrap(); // over the byte burst: dropped
        for i in 0..5 {
            conn.write_text(format!("m{i}")).unwrap();
        }
        let mut got = Vec::new();
        let mut errors = Vec::new();
        while got.len() + errors.len() < 6 {
            match next(&mut events, "a message or an error").await {
                Event::Message(_, data) => got.push(data),
                Event::Error(text) => errors.push(text),
                other => panic!("unexpected {other:?}"),
            }
        }
        // Every message counts against the message rate, the dropped one too: the burst of 3
        // is the oversized binary, m0 and m1.
        assert_eq!(got, vec![Bytes::from("m0"), Bytes::from("m1")]);
        assert!(errors[0].contains("Bytes"), "{errors:?}");
        assert!(
            errors[1..].iter().all(|e| e.contains("Messages")),
            "{errors:?}"
        );
        assert!(!conn.is_closed(), "dropping keeps the connection");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_under_5000_attempts_without_memory_growth() {
    event_support::within_for(Duration::from_secs(120), async {
        const CAP: usize = 50;
        let (server, _events) = recording(limited(RateLimits {
            max_connections: Some(CAP),
            ..RateLimits::default()
        }));
        let running = serve(server).await;
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
