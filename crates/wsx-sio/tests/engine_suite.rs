//! Every case of the official Engine.IO protocol suite (socketio/engine.io-protocol,
//! `test-suite/test-suite.js`), written here in Rust, against `examples/eio_echo.rs`: the
//! bare Engine.IO echo server the suite itself runs against (24/24 outside CI; the command is
//! in crates/wsx-sio/README.md).

mod common;

#[path = "../examples/eio_echo.rs"]
#[allow(dead_code)]
mod eio_echo;

use common::engine_cases as case;
use std::net::SocketAddr;

const PATH: &str = "/engine.io/";

async fn start() -> SocketAddr {
    common::start(&eio_echo::server()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_polling_opens_a_session() {
    case::polling_opens_a_session(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_polling_refuses_bad_eio_transport_and_method() {
    case::polling_refuses_bad_handshakes(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_websocket_opens_a_session() {
    case::websocket_opens_a_session(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_websocket_refuses_bad_eio_and_transport() {
    case::websocket_refuses_bad_handshakes(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_polling_payloads_round_trip() {
    case::polling_echoes_payloads(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_polling_invalid_packet_closes_the_session() {
    case::polling_closes_on_invalid_packet(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_polling_duplicate_polls_close_the_session() {
    case::polling_closes_on_duplicate_polls(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_websocket_text_binary_and_invalid_packet() {
    case::websocket_echoes_and_closes_on_invalid_packet(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_polling_ping_pong() {
    case::polling_heartbeat(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_polling_ping_timeout() {
    case::polling_ping_timeout(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_websocket_ping_pong_and_timeout() {
    case::websocket_heartbeat(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_polling_client_close() {
    case::polling_client_close(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_websocket_client_close() {
    case::websocket_client_close(start().await, PATH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_polling_to_websocket() {
    case::upgrade(start().await, PATH, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_refuses_http_and_websocket_with_the_upgraded_sid() {
    case::upgraded_sid_refuses_others(start().await, PATH, true).await;
}
