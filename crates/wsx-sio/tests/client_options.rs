//! The client's request options reach the server: the `path`, `extra_headers` (on polling
//! requests and on the WebSocket handshake) and `query` (the URL's and the option's), on
//! each transport setting, against a wsx-sio server that acknowledges what it saw; and the
//! default setting's upgrade against a server with the default 25 s heartbeat.

#[allow(dead_code)]
mod client_support;

use client_support::start_demo;
use serde_json::{Value, json};
use std::time::Duration;
use wsx_sio::client::{Args, ClientOptions, Manager, Transports};
use wsx_sio::{Config, Server, Socket};

/// A server on path `/custom-io/` whose `seen` event acks the `x-token` header, the `room`
/// and `k y` query parameters and the transport the handshake came on.
fn server() -> Server {
    let io = Server::new(Config {
        path: "/custom-io/".into(),
        ..Config::default()
    });
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("seen", |s: Socket, _: Args, ack| async move {
            let handshake = s.handshake();
            let header = handshake
                .headers
                .get("x-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let _ = ack.send(&json!({
                "header": header,
                "room": handshake.query_param("room"),
                "k y": handshake.query_param("k y"),
            }));
        });
    });
    io
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_headers_and_query_reach_the_server_on_every_transport() {
    let addr = start_demo(server()).await;
    for transports in [
        Transports::WebSocket,
        Transports::Default,
        Transports::Polling,
    ] {
        let mut extra_headers = wsx::http::HeaderMap::new();
        extra_headers.insert("x-token", "secret".parse().expect("header value"));
        let options = ClientOptions {
            transports,
            path: "/custom-io".into(),
            extra_headers,
            query: vec![("k y".into(), "v&1".into())],
            timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        };
        let s = Manager::new(&format!("http://{addr}/?room=blue"), options)
            .expect("manager")
            .socket("/");
        s.connect().await.expect("connect");
        let seen: Value = s.emit_with_ack_as("seen", &()).await.expect("ack");
        assert_eq!(
            seen,
            json!({"header": "secret", "room": "blue", "k y": "v&1"}),
            "{transports:?}"
        );
        s.disconnect();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_path_is_an_http_error_not_a_hang() {
    let addr = start_demo(server()).await;
    for transports in [Transports::WebSocket, Transports::Polling] {
        let options = ClientOptions {
            transports,
            reconnection: false,
            timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        };
        let s = Manager::new(&format!("http://{addr}"), options)
            .expect("manager")
            .socket("/");
        let started = std::time::Instant::now();
        let err = s.connect().await.expect_err("no server at /socket.io/");
        assert!(started.elapsed() < Duration::from_secs(3), "{err}");
        assert!(!s.active(), "still trying without reconnection");
    }
}

/// Regression: the server answers the probe with one noop; when that noop ended a `GET`
/// before the client had the `3probe`, the client's next `GET` waited for the server's next
/// packet, the 25 s ping, and the upgrade with it (18 of 30 upgrades took over 3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_does_not_wait_for_the_next_ping() {
    let addr = start_demo(Server::new(Config::default())).await;
    for _ in 0..20 {
        let options = ClientOptions {
            reconnection: false,
            timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        };
        let s = Manager::new(&format!("http://{addr}"), options)
            .expect("manager")
            .socket("/");
        s.connect().await.expect("connect");
        let started = std::time::Instant::now();
        while s.manager().transport() != Some("websocket") {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "no upgrade within 2 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        s.disconnect();
    }
}
