//! The spec's "Basic Server": echoes every message, answers the custom event `chat`, and shuts
//! down gracefully (close 1001 to every client) on Ctrl-C.
//!
//! Usage: `cargo run -p wsx --example server -- [ADDR]` (default `127.0.0.1:8080`), then
//! `cargo run -p wsx --example client`.

use std::sync::Arc;
use std::time::Duration;
use wsx::{Config, Conn, MessageType, Server};

#[tokio::main]
// The spec's style: start from the defaults, then set fields.
#[allow(clippy::field_reassign_with_default)]
async fn main() -> Result<(), wsx::Error> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());

    let mut config = Config::default();
    config.max_message_size = 1024 * 1024;
    config.ping_interval = Duration::from_secs(30);
    // As the spec writes it: every origin. Left at `None`, browser pages of other sites get
    // 403 (`wsx::origin::same_origin`); `wsx::origin::allow([..])` admits a list.
    config.check_origin = Some(Arc::new(|_req: &http::Request<()>| true));

    let server = Server::new(config);
    server.on_connection(|conn: Conn| {
        println!("[{}] connected from {:?}", conn.id(), conn.remote_addr());
        conn.on_message(|c: &Conn, kind: MessageType, data| {
            let _ = c.write_message(kind, data);
        });
        conn.on("chat", |c, data| {
            let _ = c.emit("chat", serde_json::json!({ "echo": data }));
        });
        conn.on_close(|c, code, reason| println!("[{}] closed: {code} {reason:?}", c.id()));
    });

    let running = server.clone();
    let listening = tokio::spawn(async move { running.listen(&addr).await });
    tokio::select! {
        result = listening => return result.unwrap_or(Ok(())),
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("shutting down");
    server.shutdown().await;
    Ok(())
}
