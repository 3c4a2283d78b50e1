//! HTTP long-polling and the upgrade beyond the official suites' cases: 1,000 emits each way
//! across the switch to WebSocket (none lost, none twice, in order), CORS, `maxPayload` (413),
//! overlapping `POST`s, unknown sessions, methods, and polling turned off.

mod common;

#[path = "../examples/eio_echo.rs"]
#[allow(dead_code)]
mod eio_echo;

use common::engine_cases::{next, send, ws};
use common::http::{get, open_session, post, request, session_url};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use wsx::Message;
use wsx_sio::{Args, Config, Cors, Server, Socket};

const PATH: &str = "/socket.io/";
const N: u64 = 1000;

/// Ticks `42["tick",i]` in a polling payload or a WebSocket message, in order.
fn ticks(payload: &str) -> impl Iterator<Item = u64> + '_ {
    payload.split('\u{1e}').filter_map(|packet| {
        let json = packet.strip_prefix("42")?;
        let value: serde_json::Value = serde_json::from_str(json).ok()?;
        (value[0] == "tick").then(|| value[1].as_u64().expect("tick number"))
    })
}

/// A payload of the client's events `n` for `range`.
fn events(range: std::ops::Range<u64>) -> String {
    range
        .map(|i| format!(r#"42["n",{i}]"#))
        .collect::<Vec<_>>()
        .join("\u{1e}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_emits_each_way_cross_the_upgrade_once_each_in_order() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let io = Server::new(Config::default());
    let record = received.clone();
    io.on_connection(move |socket: Socket| {
        let record = record.clone();
        async move {
            socket.on("n", move |_s: Socket, i: u64| {
                let record = record.clone();
                async move { record.lock().expect("lock").push(i) }
            });
            socket.on("burst", |s: Socket, args: Args| async move {
                let from = args.values[0].as_u64().expect("from");
                let to = args.values[1].as_u64().expect("to");
                for i in from..to {
                    s.emit("tick", &i).expect("emit");
                }
            });
        }
    });
    let addr = common::start(&io).await;
    let sid = open_session(addr, PATH).await;
    let url = session_url(PATH, &sid);
    assert_eq!(post(addr, &url, "40").await.text(), "ok");
    let answer = get(addr, &url).await.text();
    assert!(answer.starts_with("40{"), "{answer}");

    // The client's long-polling loop, until a noop ends it (the client pauses for the upgrade).
    let polled_so_far = Arc::new(AtomicUsize::new(0));
    let poller = tokio::spawn({
        let (url, polled_so_far) = (url.clone(), polled_so_far.clone());
        async move {
            let mut got = Vec::new();
            loop {
                let response = get(addr, &url).await;
                assert_eq!(response.status, 200, "{}", response.text());
                let text = response.text();
                got.extend(ticks(&text));
                polled_so_far.store(got.len(), Ordering::Relaxed);
                if text.split('\u{1e}').any(|p| p == "6") {
                    return got;
                }
            }
        }
    });
    assert_eq!(post(addr, &url, r#"42["burst",0,500]"#).await.text(), "ok");
    for chunk in 0..5 {
        let body = events(chunk * 50..(chunk + 1) * 50);
        assert_eq!(post(addr, &url, &body).await.text(), "ok");
    }
    // The handler's first ticks went out over polling before the upgrade starts (on a loaded
    // machine the probe could otherwise come first, and every tick cross with the switch).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while polled_so_far.load(Ordering::Relaxed) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no tick polled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut socket = ws(addr, &format!("{PATH}?EIO=4&transport=websocket&sid={sid}"))
        .await
        .expect("upgrade");
    send(&mut socket, "2probe").await;
    assert!(matches!(next(&mut socket).await, Some(Message::Text(t)) if t.as_str() == "3probe"));
    // Still polling while the probe is done: these go out with the switch.
    assert_eq!(
        post(addr, &url, r#"42["burst",500,1000]"#).await.text(),
        "ok"
    );
    for chunk in 5..10 {
        let body = events(chunk * 50..(chunk + 1) * 50);
        assert_eq!(post(addr, &url, &body).await.text(), "ok");
    }
    let mut got = tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .expect("the poll ended with a noop")
        .expect("join");
    let polled = got.len();
    send(&mut socket, "5").await;
    for i in 500..N {
        send(&mut socket, &format!(r#"42["n",{i}]"#)).await;
    }
    while got.len() < N as usize {
        match next(&mut socket).await {
            Some(Message::Text(t)) => got.extend(ticks(t.as_str())),
            other => panic!("expected ticks, got {other:?} after {} ticks", got.len()),
        }
    }
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "server-to-client emits");
    // Both transports carried some: the ticks queued during the probe crossed the switch.
    assert!(polled > 0 && polled < N as usize, "{polled} ticks polled");
    // Polling is over for this session.
    assert_eq!(get(addr, &url).await.status, 400);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.lock().expect("lock").len() < N as usize {
        assert!(
            tokio::time::Instant::now() < deadline,
            "client emits missing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *received.lock().expect("lock"),
        (0..N).collect::<Vec<_>>(),
        "client-to-server emits"
    );
}

#[tokio::test]
async fn cors_any_origin_and_preflight() {
    let addr = common::start(&eio_echo::server()).await;
    let target = "/engine.io/?EIO=4&transport=polling";
    let origin = [("Origin", "http://page.test")];
    let response = request(addr, "GET", target, &origin, b"").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    let preflight = request(
        addr,
        "OPTIONS",
        target,
        &[
            ("Origin", "http://page.test"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(
        preflight
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST"))
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("content-type")
    );
}

#[tokio::test]
async fn cors_origin_list_with_credentials() {
    let config = Config {
        cors: Some(Cors::origins(["http://good.test"]).with_credentials()),
        ..Config::default()
    };
    let addr = common::start(&Server::new(config)).await;
    let target = "/socket.io/?EIO=4&transport=polling";
    let good = request(addr, "GET", target, &[("Origin", "http://good.test")], b"").await;
    assert_eq!(
        good.header("access-control-allow-origin"),
        Some("http://good.test")
    );
    assert_eq!(
        good.header("access-control-allow-credentials"),
        Some("true")
    );
    let evil = request(addr, "GET", target, &[("Origin", "http://evil.test")], b"").await;
    assert_eq!(evil.header("access-control-allow-origin"), None);
    // Without the option, no CORS headers at all (the Node server's default).
    let plain = common::start(&Server::default()).await;
    let response = request(plain, "GET", target, &[("Origin", "http://good.test")], b"").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_body_over_max_payload_gets_413_and_closes_the_session() {
    let mut config = Config::default();
    config.engine.max_payload = 1000;
    let addr = common::start(&Server::new(config)).await;
    let sid = open_session(addr, PATH).await;
    let url = session_url(PATH, &sid);
    let response = post(addr, &url, &format!("4{}", "x".repeat(1000))).await;
    assert_eq!(response.status, 413);
    assert_eq!(get(addr, &url).await.status, 400);
    // At the limit is fine.
    let sid = open_session(addr, PATH).await;
    let url = session_url(PATH, &sid);
    let response = post(addr, &url, &format!("4{}", "x".repeat(999))).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn overlapping_posts_close_the_session_and_a_stalled_body_times_out() {
    let config = Config {
        body_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let addr = common::start(&Server::new(config)).await;
    let sid = open_session(addr, PATH).await;
    let url = session_url(PATH, &sid);
    // A POST that announces 10 bytes and sends 5, then stalls.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!("POST {url} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n4hell");
    slow.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = post(addr, &url, "4x").await;
    assert_eq!(second.status, 400);
    assert_eq!(second.text(), r#"{"code":3,"message":"Bad request"}"#);
    assert_eq!(get(addr, &url).await.status, 400);
    // The stalled body is given up after body_timeout: 408.
    let mut raw = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut raw),
    )
    .await;
    let text = String::from_utf8_lossy(&raw);
    assert!(read.is_ok() && text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn unknown_sessions_methods_and_polling_turned_off() {
    let addr = common::start(&Server::default()).await;
    let unknown = get(addr, &session_url(PATH, "AAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.text(),
        r#"{"code":1,"message":"Session ID unknown"}"#
    );
    let malformed = get(addr, &session_url(PATH, "not-a-sid")).await;
    assert_eq!(malformed.status, 400);
    let sid = open_session(addr, PATH).await;
    let put = request(addr, "PUT", &session_url(PATH, &sid), &[], b"4x").await;
    assert_eq!(put.status, 400);
    assert_eq!(put.text(), r#"{"code":3,"message":"Bad request"}"#);
    let handshake_post = post(addr, "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(
        handshake_post.text(),
        r#"{"code":2,"message":"Bad handshake method"}"#
    );

    let config = Config {
        polling: false,
        ..Config::default()
    };
    let addr = common::start(&Server::new(config)).await;
    let refused = get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.text(),
        r#"{"code":0,"message":"Transport unknown"}"#
    );
}
