//! wsx-sio's client (`wsx_sio::client`) against the sio_demo contract: the checks of
//! `examples/sio_client_check/checks.rs`, against the demo's own code (`examples/sio_demo.rs`)
//! served in-process, against Node's socket.io 4.8 (`tests/client/node_server.js`, installed
//! by `npm ci` in tests/client) and against python-socketio 5.18 (`tests/client/python_server.py`,
//! a venv at target/sio-client-venv with tests/client/requirements.txt), on each transport
//! setting.
//!
//! Without Node's or Python's server the tests on it skip with a message, unless
//! `WSX_REQUIRE_INTEROP=1` (CI), which makes them fail.

#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;

#[path = "../examples/sio_client_check/checks.rs"]
#[allow(dead_code)]
mod check;

#[allow(dead_code)] // Each test file uses part of it.
mod client_support;

use client_support::{node_server, python_server, start_demo};
use wsx_sio::client::{Parser, Transports};

async fn passes(url: &str, transport: Transports) {
    passes_with(url, transport, Parser::Json).await;
}

async fn passes_with(url: &str, transport: Transports, parser: Parser) {
    let results = check::run(url, transport, parser).await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(name, outcome)| outcome.as_ref().err().map(|why| format!("{name}: {why}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{url} {transport:?} {parser:?}: {failed:#?}"
    );
    assert!(results.len() >= 15, "only {} checks ran", results.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_wsx_sio_over_websocket() {
    let addr = start_demo(sio_demo::server()).await;
    passes(&format!("http://{addr}"), Transports::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_wsx_sio_polling_then_upgrading() {
    let addr = start_demo(sio_demo::server()).await;
    passes(&format!("http://{addr}"), Transports::Default).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_wsx_sio_over_polling_only() {
    let addr = start_demo(sio_demo::server()).await;
    passes(&format!("http://{addr}"), Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_node_socket_io_over_websocket() {
    let Some(server) = node_server(&[]) else {
        return;
    };
    passes(&server.url, Transports::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_node_socket_io_polling_then_upgrading() {
    let Some(server) = node_server(&[]) else {
        return;
    };
    passes(&server.url, Transports::Default).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_node_socket_io_over_polling_only() {
    let Some(server) = node_server(&[]) else {
        return;
    };
    passes(&server.url, Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_python_socketio_over_websocket() {
    let Some(server) = python_server() else {
        return;
    };
    passes(&server.url, Transports::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_python_socketio_polling_then_upgrading() {
    let Some(server) = python_server() else {
        return;
    };
    passes(&server.url, Transports::Default).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_python_socketio_over_polling_only() {
    let Some(server) = python_server() else {
        return;
    };
    passes(&server.url, Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_against_node_socket_io_with_the_msgpack_parser_on_every_transport() {
    let Some(server) = node_server(&["--msgpack"]) else {
        return;
    };
    for transport in [
        Transports::WebSocket,
        Transports::Default,
        Transports::Polling,
    ] {
        passes_with(&server.url, transport, Parser::MsgPack).await;
    }
}
