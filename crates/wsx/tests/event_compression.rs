//! permessage-deflate through the event API: `Config::compression` turns it on per side.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;
use tokio::sync::mpsc;
use wsx::proto::deflate::DeflateConfig;
use wsx::{Client, Config, Conn, MessageType, Server};

async fn echo_server(config: Config) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(config);
    server.on_connection(|conn: Conn| {
        conn.on_message(|c, kind, data| {
            let _ = c.write_message(kind, data);
        });
    });
    tokio::spawn(async move { server.serve(listener).await });
    addr
}

fn extensions_header(conn: &Conn) -> String {
    conn.headers()
        .get("sec-websocket-extensions")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn compression_is_negotiated_when_both_sides_enable_it_and_messages_round_trip() {
    let with = Config {
        compression: Some(DeflateConfig::default()),
        ..Config::default()
    };
    let addr = echo_server(with.clone()).await;
    let conn = Client::new(with)
        .connect(&format!("ws://{addr}/"), http::HeaderMap::new())
        .await
        .unwrap();
    assert!(
        extensions_header(&conn).starts_with("permessage-deflate"),
        "{:?}",
        extensions_header(&conn)
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    conn.on_message(move |_, kind, data| {
        let _ = tx.send((kind, data));
    });
    let text = r#"{"event":"chat","data":{"from":"ana","text":"hello hello hello"}}"#.repeat(200);
    for _ in 0..3 {
        conn.write_text(text.clone()).unwrap();
        let (kind, data) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kind, MessageType::Text);
        assert_eq!(data, text.as_bytes());
    }
}

#[tokio::test]
async fn compression_is_off_by_default() {
    let addr = echo_server(Config {
        compression: Some(DeflateConfig::default()),
        ..Config::default()
    })
    .await;
    let conn = Client::new(Config::default())
        .connect(&format!("ws://{addr}/"), http::HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(extensions_header(&conn), "");
}

#[tokio::test]
async fn invalid_window_bits_are_rejected_when_the_client_connects() {
    let bad = Config {
        compression: Some(DeflateConfig {
            server_max_window_bits: 16,
            ..DeflateConfig::default()
        }),
        ..Config::default()
    };
    let err = Client::new(bad)
        .connect("ws://127.0.0.1:9/", http::HeaderMap::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, wsx::Error::Config(ref e) if e.to_string().contains("server_max_window_bits")),
        "{err:?}"
    );
}
