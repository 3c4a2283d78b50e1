//! hyper integration: a wsx `Server` mounted on a hyper server's route beside ordinary HTTP,
//! reached over HTTP/1.1 (`Upgrade: websocket`, our `Client`) and over HTTP/2 extended CONNECT
//! (RFC 8441, an `h2` client with prior knowledge): two WebSockets multiplexed on one TCP
//! connection, each echoing on its own stream. Bad upgrades get the handshake's own statuses.
#![cfg(feature = "hyper")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::hyper_serve::hyper_server;
use event_support::{echo_server, next, within};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsx::{Client, Config};

async fn http1(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the head and a small body (hyper keeps the connection open: stop at the body).
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if out.len() >= head_end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_upgrade_on_a_hyper_route_beside_plain_http() {
    within(async {
        let server = echo_server(Config::default());
        let addr = hyper_server(server.clone()).await;
        let hello = http1(addr, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(hello.starts_with("HTTP/1.1 200"), "{hello}");
        assert!(hello.ends_with("hello"), "{hello}");

        let conn = Client::default()
            .connect_url(&format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, data| {
            let _ = tx.send(data);
        });
        conn.write_text("over hyper").unwrap();
        assert_eq!(next(&mut rx, "echo").await, Bytes::from("over hyper"));
        assert_eq!(server.connection_count(), 1);
        let server_side = server.connections().pop().unwrap();
        assert_eq!(
            server_side.remote_addr().map(|a| a.ip()),
            Some(std::net::Ipv4Addr::LOCALHOST.into())
        );
        assert_eq!(server_side.uri().path(), "/ws");

        // The handshake's own refusals, through hyper.
        let no_key = http1(
            addr,
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await;
        assert!(no_key.starts_with("HTTP/1.1 400"), "{no_key}");
        assert!(no_key.contains("Sec-WebSocket-Key"), "{no_key}");
        let old = http1(
            addr,
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .await;
        assert!(old.starts_with("HTTP/1.1 426"), "{old}");
        assert!(old.to_ascii_lowercase().contains("sec-websocket-version: 13"), "{old}");
        conn.close(1000u16, "").unwrap();
        conn.closed().await;
    })
    .await;
}

/// A masked client text frame (RFC 6455 §5.2) for a short payload.
fn client_text(payload: &[u8]) -> Bytes {
    let key = [1u8, 2, 3, 4];
    let mut out = vec![0x81, 0x80 | u8::try_from(payload.len()).unwrap()];
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    Bytes::from(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_websockets_over_one_http2_connection_with_extended_connect() {
    within(async {
        let server = echo_server(Config::default());
        let addr = hyper_server(server.clone()).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (h2, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut h2 = h2.ready().await.unwrap();
        // The server's SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3) arrives with its first
        // SETTINGS frame.
        for _ in 0..200 {
            if h2.is_extended_connect_protocol_enabled() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(h2.is_extended_connect_protocol_enabled());

        let mut streams = Vec::new();
        for i in 0..2 {
            let request = http::Request::builder()
                .method(http::Method::CONNECT)
                .uri(format!("http://{addr}/ws"))
                .header("sec-websocket-version", "13")
                .extension(h2::ext::Protocol::from_static("websocket"))
                .body(())
                .unwrap();
            h2 = h2.ready().await.unwrap();
            let (response, mut send) = h2.send_request(request, false).unwrap();
            let response = response.await.unwrap();
            assert_eq!(response.status(), http::StatusCode::OK, "stream {i}");
            assert!(response.headers().get("sec-websocket-accept").is_none());
            send.send_data(client_text(format!("stream {i}").as_bytes()), false)
                .unwrap();
            streams.push((response.into_body(), send));
        }
        // Two WebSockets on one TCP connection. A stream's 200 goes out before its connection
        // task registers it (the upgrade completes on its own task), so wait for the count.
        event_support::wait_for_count(&server, 2).await;
        for (i, (body, _send)) in streams.iter_mut().enumerate() {
            let mut got = Vec::new();
            while got.len() < 2 || got.len() < 2 + usize::from(got[1] & 0x7f) {
                let chunk = body.data().await.unwrap().unwrap();
                body.flow_control().release_capacity(chunk.len()).unwrap();
                got.extend_from_slice(&chunk);
            }
            // An unmasked server text frame carrying the echo.
            assert_eq!(got[0], 0x81);
            assert_eq!(&got[2..], format!("stream {i}").as_bytes());
        }
    })
    .await;
}
