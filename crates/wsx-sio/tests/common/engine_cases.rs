//! The cases of the official Engine.IO protocol suite (`test-suite/test-suite.js` of
//! socketio/engine.io-protocol, and the Engine.IO part of socketio/socket.io-protocol's),
//! written here in Rust against our servers: one function per case, taking the server's
//! address and endpoint path. Timings follow the suite's server settings: pingInterval 300 ms,
//! pingTimeout 200 ms, maxPayload 1,000,000.

use super::http::{get, open_session, post, request, session_url};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use wsx::{Message, WebSocket};

pub const PING_INTERVAL: Duration = Duration::from_millis(300);
pub const PING_TIMEOUT: Duration = Duration::from_millis(200);
const WAIT: Duration = Duration::from_secs(5);

/// Opens a WebSocket at `target`.
pub async fn ws(addr: SocketAddr, target: &str) -> Result<WebSocket<TcpStream>, wsx::Error> {
    wsx::connect(&format!("ws://{addr}{target}"))
        .await
        .map(|(ws, _)| ws)
}

/// The next message.
pub async fn next(ws: &mut WebSocket<TcpStream>) -> Option<Message> {
    match tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("timed out")
    {
        Some(Ok(message)) => Some(message),
        _ => None,
    }
}

/// The next text message.
pub async fn next_text(ws: &mut WebSocket<TcpStream>) -> String {
    match next(ws).await {
        Some(Message::Text(t)) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

pub async fn send(ws: &mut WebSocket<TcpStream>, text: &str) {
    ws.send(Message::text(text.to_owned())).await.expect("send");
}

/// Waits until the server closes `ws` (a close frame or the end of the stream).
pub async fn closed(ws: &mut WebSocket<TcpStream>) {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("not closed in time")
        {
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            Some(Ok(_)) => {}
        }
    }
}

fn check_open(json: &str, upgrades: serde_json::Value) {
    let open: serde_json::Value = serde_json::from_str(json).expect("open JSON");
    let mut keys: Vec<&str> = open
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
    assert!(open["sid"].is_string());
    assert_eq!(open["upgrades"], upgrades);
    assert_eq!(open["pingInterval"], 300);
    assert_eq!(open["pingTimeout"], 200);
    assert_eq!(open["maxPayload"], 1_000_000);
}

/// handshake / HTTP long-polling / opens a session.
pub async fn polling_opens_a_session(addr: SocketAddr, path: &str) {
    let response = get(addr, &format!("{path}?EIO=4&transport=polling")).await;
    assert_eq!(response.status, 200);
    let text = response.text();
    check_open(
        text.strip_prefix('0').expect("open packet"),
        serde_json::json!(["websocket"]),
    );
}

/// handshake / HTTP long-polling / invalid `EIO`, invalid `transport`, invalid method.
pub async fn polling_refuses_bad_handshakes(addr: SocketAddr, path: &str) {
    for query in [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=4",
        "EIO=4&transport=abc",
    ] {
        let response = get(addr, &format!("{path}?{query}")).await;
        assert_eq!(response.status, 400, "{query}");
    }
    for method in ["POST", "PUT"] {
        let target = format!("{path}?EIO=4&transport=polling");
        let response = request(addr, method, &target, &[], b"").await;
        assert_eq!(response.status, 400, "{method}");
    }
}

/// handshake / WebSocket / opens a session.
pub async fn websocket_opens_a_session(addr: SocketAddr, path: &str) {
    let mut socket = ws(addr, &format!("{path}?EIO=4&transport=websocket"))
        .await
        .expect("open");
    let text = next_text(&mut socket).await;
    check_open(
        text.strip_prefix('0').expect("open packet"),
        serde_json::json!([]),
    );
}

/// handshake / WebSocket / invalid `EIO` and `transport`: the opening is refused.
pub async fn websocket_refuses_bad_handshakes(addr: SocketAddr, path: &str) {
    for query in [
        "transport=websocket",
        "EIO=abc&transport=websocket",
        "EIO=4",
        "EIO=4&transport=abc",
    ] {
        assert!(
            ws(addr, &format!("{path}?{query}")).await.is_err(),
            "{query}"
        );
    }
}

/// message / HTTP long-polling: one, several, and text with binary packets round-trip.
pub async fn polling_echoes_payloads(addr: SocketAddr, path: &str) {
    for payload in [
        "4hello",
        "4test1\x1e4test2\x1e4test3",
        "4hello\x1ebAQIDBA==",
    ] {
        let sid = open_session(addr, path).await;
        let pushed = post(addr, &session_url(path, &sid), payload).await;
        assert_eq!((pushed.status, pushed.text().as_str()), (200, "ok"));
        let polled = get(addr, &session_url(path, &sid)).await;
        assert_eq!(polled.status, 200);
        assert_eq!(polled.text(), payload);
    }
}

/// message / HTTP long-polling / closes the session upon invalid packet format.
pub async fn polling_closes_on_invalid_packet(addr: SocketAddr, path: &str) {
    let sid = open_session(addr, path).await;
    let pushed = post(addr, &session_url(path, &sid), "abc").await;
    assert_eq!(pushed.status, 400);
    assert_eq!(get(addr, &session_url(path, &sid)).await.status, 400);
}

/// message / HTTP long-polling / closes the session upon duplicate poll requests.
pub async fn polling_closes_on_duplicate_polls(addr: SocketAddr, path: &str) {
    let sid = open_session(addr, path).await;
    let url = session_url(path, &sid);
    let first = tokio::spawn({
        let url = url.clone();
        async move { get(addr, &url).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = get(addr, &format!("{url}&t=burst")).await;
    assert_eq!(second.status, 400);
    let first = first.await.expect("join");
    assert_eq!((first.status, first.text().as_str()), (200, "1"));
    assert_eq!(get(addr, &url).await.status, 400);
}

/// message / WebSocket: a text and a binary packet round-trip; an invalid packet closes.
pub async fn websocket_echoes_and_closes_on_invalid_packet(addr: SocketAddr, path: &str) {
    let target = format!("{path}?EIO=4&transport=websocket");
    let mut socket = ws(addr, &target).await.expect("open");
    next_text(&mut socket).await;
    send(&mut socket, "4hello").await;
    assert_eq!(next_text(&mut socket).await, "4hello");
    socket
        .send(Message::binary(vec![1, 2, 3, 4]))
        .await
        .expect("send");
    match next(&mut socket).await {
        Some(Message::Binary(data)) => assert_eq!(&data[..], [1, 2, 3, 4]),
        other => panic!("expected binary, got {other:?}"),
    }
    send(&mut socket, "abc").await;
    closed(&mut socket).await;
}

/// heartbeat / HTTP long-polling / sends ping/pong packets (three cycles).
pub async fn polling_heartbeat(addr: SocketAddr, path: &str) {
    let sid = open_session(addr, path).await;
    let url = session_url(path, &sid);
    for _ in 0..3 {
        let polled = get(addr, &url).await;
        assert_eq!((polled.status, polled.text().as_str()), (200, "2"));
        assert_eq!(post(addr, &url, "3").await.status, 200);
    }
}

/// heartbeat / HTTP long-polling / closes the session upon ping timeout: a request exactly
/// pingInterval + pingTimeout after the open packet is refused (the deadline is kept by the
/// clock, whatever the server's load).
pub async fn polling_ping_timeout(addr: SocketAddr, path: &str) {
    let sid = open_session(addr, path).await;
    tokio::time::sleep(PING_INTERVAL + PING_TIMEOUT).await;
    assert_eq!(get(addr, &session_url(path, &sid)).await.status, 400);
}

/// heartbeat / WebSocket: three ping/pong cycles; a client that never answers is closed.
pub async fn websocket_heartbeat(addr: SocketAddr, path: &str) {
    let target = format!("{path}?EIO=4&transport=websocket");
    let mut socket = ws(addr, &target).await.expect("open");
    next_text(&mut socket).await;
    for _ in 0..3 {
        assert_eq!(next_text(&mut socket).await, "2");
        send(&mut socket, "3").await;
    }
    let mut silent = ws(addr, &target).await.expect("open");
    closed(&mut silent).await;
}

/// close / HTTP long-polling / forcefully closes the session: a `GET` and a `POST` of `1` at
/// once (they reach the server in either order): the `GET` gets a noop, the next request
/// 400. Then the two orders one after the other.
pub async fn polling_client_close(addr: SocketAddr, path: &str) {
    for order in ["together", "get first", "post first"] {
        let sid = open_session(addr, path).await;
        let url = session_url(path, &sid);
        let (poll, close) = match order {
            "together" => tokio::join!(get(addr, &url), post(addr, &url, "1")),
            "get first" => {
                let poll = tokio::spawn({
                    let url = url.clone();
                    async move { get(addr, &url).await }
                });
                tokio::time::sleep(Duration::from_millis(50)).await;
                let close = post(addr, &url, "1").await;
                (poll.await.expect("join"), close)
            }
            _ => {
                let close = post(addr, &url, "1").await;
                (get(addr, &url).await, close)
            }
        };
        assert_eq!(close.status, 200, "{order}");
        assert_eq!((poll.status, poll.text().as_str()), (200, "6"), "{order}");
        assert_eq!(get(addr, &url).await.status, 400, "{order}");
    }
}

/// close / WebSocket / forcefully closes the session.
pub async fn websocket_client_close(addr: SocketAddr, path: &str) {
    let mut socket = ws(addr, &format!("{path}?EIO=4&transport=websocket"))
        .await
        .expect("open");
    next_text(&mut socket).await;
    send(&mut socket, "1").await;
    closed(&mut socket).await;
}

/// upgrade / successfully upgrades: probe, the pending poll ends with a noop, `5`, and
/// (on an echo server) a message over the WebSocket.
pub async fn upgrade(addr: SocketAddr, path: &str, echo: bool) {
    let sid = open_session(addr, path).await;
    let mut socket = ws(addr, &format!("{path}?EIO=4&transport=websocket&sid={sid}"))
        .await
        .expect("open");
    send(&mut socket, "2probe").await;
    assert_eq!(next_text(&mut socket).await, "3probe");
    let polled = get(addr, &session_url(path, &sid)).await;
    assert_eq!((polled.status, polled.text().as_str()), (200, "6"));
    send(&mut socket, "5").await;
    if echo {
        send(&mut socket, "4hello").await;
        assert_eq!(next_text(&mut socket).await, "4hello");
    }
}

/// upgrade / ignores HTTP requests, and a second WebSocket, with the same sid after the
/// upgrade; the upgraded WebSocket works on.
pub async fn upgraded_sid_refuses_others(addr: SocketAddr, path: &str, echo: bool) {
    let sid = open_session(addr, path).await;
    let target = format!("{path}?EIO=4&transport=websocket&sid={sid}");
    let mut socket = ws(addr, &target).await.expect("open");
    send(&mut socket, "2probe").await;
    send(&mut socket, "5").await;
    assert_eq!(next_text(&mut socket).await, "3probe");
    assert_eq!(get(addr, &session_url(path, &sid)).await.status, 400);
    // Accepted, then closed at once, as with the Node server.
    let mut second = ws(addr, &target).await.expect("open");
    closed(&mut second).await;
    if echo {
        send(&mut socket, "4hello").await;
        assert_eq!(next_text(&mut socket).await, "4hello");
    }
}
