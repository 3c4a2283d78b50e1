//! A wsx endpoint mounted on an axum router beside ordinary routes: `GET /` is plain HTTP,
//! `/ws` upgrades into a connection of a `wsx::Server` (its handlers, config and registry),
//! one port for both.
//!
//! ```sh
//! cargo run -p wsx --example axum -- 127.0.0.1:3000
//! ```

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use wsx::{Config, Conn, MessageType, Server};

/// The router: `/` answers with text, `/ws` is the WebSocket endpoint (an echo that also
/// counts messages on the connection's state).
pub fn app() -> (Router, Server) {
    let server = Server::new(Config::default());
    server.on_connection(|conn: Conn| {
        conn.set_state(0u64);
        conn.on_message(|c: &Conn, kind: MessageType, data| {
            let count = c.with_state(|n: &mut u64| {
                *n += 1;
                *n
            });
            if kind == MessageType::Text && &data[..] == b"count" {
                let _ = c.write_text(format!("{}", count.unwrap_or(0)));
            } else {
                let _ = c.write_message(kind, data);
            }
        });
    });
    let router = Router::new()
        .route(
            "/",
            get(|| async { "plain HTTP beside a WebSocket endpoint\n" }),
        )
        .route("/ws", get(websocket))
        .with_state(server.clone());
    (router, server)
}

/// Hands the request to the wsx server: `101` and a connection, or the handshake's error.
async fn websocket(
    State(server): State<Server>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> impl IntoResponse {
    server.upgrade(request, Some(peer))
}

#[allow(dead_code)] // also compiled into tests/axum_example.rs, which has its own entry point
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("http://{addr}/ and ws://{addr}/ws");
    let (router, _server) = app();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
