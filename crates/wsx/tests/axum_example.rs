//! `examples/axum.rs`: its router serves plain HTTP on `/` and a wsx endpoint on `/ws` on one
//! port; a wsx client talks to the endpoint, and the connection is in the wsx server's
//! registry with the peer's address from axum's `ConnectInfo`.
#![cfg(feature = "hyper")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;
#[path = "../examples/axum.rs"]
mod example;

use bytes::Bytes;
use event_support::{next, within};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_serves_http_and_websocket_on_one_port() {
    within(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (router, server) = example::app();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });

        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut page = String::new();
        tcp.read_to_string(&mut page).await.unwrap();
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(
            page.contains("plain HTTP beside a WebSocket endpoint"),
            "{page}"
        );

        let conn = wsx::Client::default()
            .connect_url(&format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, data| {
            let _ = tx.send(data);
        });
        conn.write_text("hi").unwrap();
        conn.write_binary(vec![1u8, 2]).unwrap();
        conn.write_text("count").unwrap();
        assert_eq!(next(&mut rx, "echo").await, Bytes::from("hi"));
        assert_eq!(next(&mut rx, "echo").await, Bytes::from(vec![1u8, 2]));
        assert_eq!(next(&mut rx, "count").await, Bytes::from("3"));
        let server_side = server.connections().pop().unwrap();
        assert_eq!(server_side.remote_addr().map(|a| a.ip()), Some(addr.ip()));

        // Not an upgrade: the handshake's own 400 through axum.
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut refused = String::new();
        tcp.read_to_string(&mut refused).await.unwrap();
        assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    })
    .await;
}
