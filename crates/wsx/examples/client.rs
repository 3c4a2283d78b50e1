//! The spec's "Basic Client": connects, says hello, prints the reply, sends a custom event,
//! then closes.
//!
//! Usage: `cargo run -p wsx --example client -- [URL]` (default `ws://127.0.0.1:8080`) against
//! `cargo run -p wsx --example server`.

use std::time::Duration;
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config};

#[tokio::main]
async fn main() -> Result<(), wsx::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8080".to_string());

    let client = Client::new(Config::default());
    let conn = client.connect(&url, http::HeaderMap::new()).await?;

    let (replies, mut replied) = mpsc::unbounded_channel();
    let events = replies.clone();
    conn.on_message(move |_c, _kind, data| {
        println!("{}", String::from_utf8_lossy(&data));
        let _ = replies.send(());
    });
    conn.on("chat", move |_c, data| {
        println!("chat event: {data}");
        let _ = events.send(());
    });
    let (closed_tx, mut closed) = mpsc::unbounded_channel();
    conn.on_close(move |_c, code, reason| {
        println!("closed: {code} {reason:?}");
        let _ = closed_tx.send(());
    });

    conn.write_text("Hello Server!")?;
    conn.emit("chat", serde_json::json!({ "text": "hi everyone" }))?;
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), replied.recv())
            .await
            .map_err(|_| wsx::Error::Timeout("no reply from the server"))?;
    }

    conn.close(CloseCode::NORMAL_CLOSURE, "bye")?;
    let _ = tokio::time::timeout(Duration::from_secs(5), closed.recv()).await;
    Ok(())
}
