//! The seed example (the README's), compiled and run against a server on an ephemeral
//! port: the names and signatures users were promised keep compiling, and the echo arrives.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use wsx::{Client, Config, Conn, MessageType, Server};

// The seed sets `Config` fields one by one, as the issue writes it.
#[allow(clippy::field_reassign_with_default)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_example_compiles_and_echoes() {
    event_support::within(async {
        let mut config = Config::default();
        config.max_message_size = 1024 * 1024;
        config.ping_interval = Duration::from_secs(30);
        config.check_origin = Some(Arc::new(|_req: &http::Request<()>| true));

        let server = Server::new(config);
        server.on_connection(|conn: Conn| {
            conn.on_message(|c: &Conn, kind: MessageType, data| {
                let _ = c.write_message(kind, data);
            });
        });
        let listening = server.clone();
        let task = tokio::spawn(async move { listening.listen("127.0.0.1:0").await });
        // `listen` reports its address once bound; wait for it (bounded).
        let mut addr = None;
        for _ in 0..500 {
            addr = server.local_addr();
            if addr.is_some() || task.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let addr = addr.expect("listen never reported its address");

        let (tx, mut echoes) = mpsc::unbounded_channel();
        let client = Client::new(Config::default());
        let conn = client
            .connect(&format!("ws://{addr}"), http::HeaderMap::new())
            .await
            .unwrap();
        conn.on_message(move |_c, _kind, data| {
            println!("{}", String::from_utf8_lossy(&data));
            let _ = tx.send(data);
        });
        conn.write_text("Hello Server!").unwrap();

        let echo = event_support::next(&mut echoes, "the echo").await;
        assert_eq!(&echo[..], b"Hello Server!");
        conn.close(wsx::CloseCode::NORMAL_CLOSURE, "").unwrap();
        server.shutdown().await;
        task.await.unwrap().unwrap();
    })
    .await;
}

/// The seed as the issue writes it, inside a function returning `Result` so `?` works; only
/// compiled, never run (it binds port 8080).
#[allow(dead_code, clippy::field_reassign_with_default)]
async fn seed_as_written() -> Result<(), wsx::Error> {
    let mut config = Config::default();
    config.max_message_size = 1024 * 1024;
    config.ping_interval = Duration::from_secs(30);
    config.check_origin = Some(Arc::new(|_req: &http::Request<()>| true));

    let server = Server::new(config);
    server.on_connection(|conn: Conn| {
        conn.on_message(|c: &Conn, kind: MessageType, data| {
            let _ = c.write_message(kind, data);
        });
    });
    server.listen("127.0.0.1:8080").await?;

    let client = Client::new(Config::default());
    let conn = client
        .connect("ws://127.0.0.1:8080", http::HeaderMap::new())
        .await?;
    conn.on_message(|_c, _kind, data| println!("{}", String::from_utf8_lossy(&data)));
    conn.write_text("Hello Server!")?;
    Ok(())
}
