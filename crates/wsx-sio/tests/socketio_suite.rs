//! Every case of the official Socket.IO protocol suite (socketio/socket.io-protocol,
//! `test-suite/test-suite.js`), written here in Rust, against `sio_demo --protocol-test`
//! (32/32 outside CI; the command is in crates/wsx-sio/README.md). Its Engine.IO half is the
//! Engine.IO suite's cases at `/socket.io/` (tests/common/engine_cases.rs).

mod common;

#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;

use common::engine_cases::{self as case, closed, next, next_text, send, ws};
use std::net::SocketAddr;
use tokio::net::TcpStream;
use wsx::{Message, WebSocket};

const PATH: &str = "/socket.io/";

async fn start() -> SocketAddr {
    common::start(&sio_demo::protocol_test_server()).await
}

async fn open(addr: SocketAddr) -> WebSocket<TcpStream> {
    let mut socket = ws(addr, "/socket.io/?EIO=4&transport=websocket")
        .await
        .expect("open");
    let open = next_text(&mut socket).await;
    assert!(open.starts_with('0'), "{open}");
    socket
}

/// The next message that is not a ping.
async fn packet(socket: &mut WebSocket<TcpStream>) -> Message {
    loop {
        match next(socket).await {
            Some(Message::Text(t)) if t.as_str() == "2" => {}
            Some(message) => return message,
            None => panic!("closed"),
        }
    }
}

async fn packet_text(socket: &mut WebSocket<TcpStream>) -> String {
    match packet(socket).await {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Sends a CONNECT and checks the answer `40<ns>,{"sid":..}` (only `sid`).
async fn connect(socket: &mut WebSocket<TcpStream>, packet: &str, prefix: &str) {
    send(socket, packet).await;
    let answer = packet_text(socket).await;
    let json = answer.strip_prefix(prefix).expect("CONNECT answer");
    let handshake: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let keys: Vec<&String> = handshake.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["sid"]);
    assert!(handshake["sid"].is_string());
}

/// A connected socket on `/`, its `auth` packet read.
async fn connected(addr: SocketAddr) -> WebSocket<TcpStream> {
    let mut socket = open(addr).await;
    connect(&mut socket, "40", "40").await;
    assert_eq!(packet_text(&mut socket).await, r#"42["auth",{}]"#);
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_handshakes() {
    let addr = start().await;
    case::polling_opens_a_session(addr, PATH).await;
    case::polling_refuses_bad_handshakes(addr, PATH).await;
    case::websocket_opens_a_session(addr, PATH).await;
    case::websocket_refuses_bad_handshakes(addr, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_heartbeat_polling() {
    let addr = start().await;
    case::polling_heartbeat(addr, PATH).await;
    case::polling_ping_timeout(addr, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_heartbeat_websocket() {
    case::websocket_heartbeat(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_close() {
    let addr = start().await;
    case::polling_client_close(addr, PATH).await;
    case::websocket_client_close(addr, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_upgrade() {
    let addr = start().await;
    case::upgrade(addr, PATH, false).await;
    case::upgraded_sid_refuses_others(addr, PATH, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_main_and_custom_namespaces_with_and_without_payload() {
    let addr = start().await;
    let cases = [
        ("40", "40", r#"42["auth",{}]"#),
        (
            r#"40{"token":"123"}"#,
            "40",
            r#"42["auth",{"token":"123"}]"#,
        ),
        ("40/custom,", "40/custom,", r#"42/custom,["auth",{}]"#),
        (
            r#"40/custom,{"token":"abc"}"#,
            "40/custom,",
            r#"42/custom,["auth",{"token":"abc"}]"#,
        ),
    ];
    for (packet, prefix, auth) in cases {
        let mut socket = open(addr).await;
        connect(&mut socket, packet, prefix).await;
        assert_eq!(packet_text(&mut socket).await, auth, "{packet}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refusals_and_timeout() {
    let addr = start().await;
    let mut socket = open(addr).await;
    send(&mut socket, "40/random").await;
    assert_eq!(
        packet_text(&mut socket).await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    let mut socket = open(addr).await;
    send(&mut socket, "4abc").await;
    closed(&mut socket).await;
    // No CONNECT within connectTimeout (1 s): closed.
    let mut socket = open(addr).await;
    closed(&mut socket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_from_main_namespace_then_only_pings() {
    let mut socket = connected(start().await).await;
    send(&mut socket, "41").await;
    assert_eq!(next_text(&mut socket).await, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_then_disconnect_from_a_custom_namespace() {
    let mut socket = connected(start().await).await;
    send(&mut socket, "40/custom").await;
    let answer = packet_text(&mut socket).await;
    assert!(answer.starts_with("40/custom,"), "{answer}");
    assert_eq!(packet_text(&mut socket).await, r#"42/custom,["auth",{}]"#);
    send(&mut socket, "41/custom").await;
    send(&mut socket, r#"42["message","message to main namespace"]"#).await;
    assert_eq!(
        packet_text(&mut socket).await,
        r#"42["message-back","message to main namespace"]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_acks_text_and_binary() {
    let addr = start().await;
    let mut socket = connected(addr).await;
    send(&mut socket, r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(
        packet_text(&mut socket).await,
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );
    send(
        &mut socket,
        r#"42456["message-with-ack",1,"2",{"3":[false]}]"#,
    )
    .await;
    assert_eq!(
        packet_text(&mut socket).await,
        r#"43456[1,"2",{"3":[false]}]"#
    );
    let placeholders = r#"{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}"#;
    let cases = [
        (
            format!(r#"452-["message",{placeholders}]"#),
            format!(r#"452-["message-back",{placeholders}]"#),
        ),
        (
            format!(r#"452-789["message-with-ack",{placeholders}]"#),
            format!(r#"462-789[{placeholders}]"#),
        ),
    ];
    for (sent, want) in cases {
        send(&mut socket, &sent).await;
        for data in [[1u8, 2, 3], [4, 5, 6]] {
            socket
                .send(Message::binary(data.to_vec()))
                .await
                .expect("send");
        }
        assert_eq!(packet_text(&mut socket).await, want);
        for data in [[1u8, 2, 3], [4, 5, 6]] {
            match packet(&mut socket).await {
                Message::Binary(got) => assert_eq!(&got[..], data),
                other => panic!("expected binary, got {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_formats_close_the_connection() {
    let addr = start().await;
    for bad in [
        "4abc",
        "42{}",
        r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#,
    ] {
        let mut socket = connected(addr).await;
        send(&mut socket, bad).await;
        closed(&mut socket).await;
    }
}
