//! Which pages may open the WebSocket transport (issue 29 §5): a page of another origin is
//! refused with 403 unless `cors` allows it, a client that sends no `Origin` (Node, Python,
//! Rust) always passes, and `ws_handshake.check_origin` overrides both. Checked on both
//! WebSocket paths: a fresh WebSocket session (wsx's own handshake, before hyper) and the
//! upgrade of a polling session (served by hyper).

mod common;

use common::http::open_session;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx_sio::{Config, Cors, Server};

/// The status line's code of a WebSocket handshake for `target` sent with `Host` the
/// server's address and `origin`, if any.
async fn handshake_status(addr: SocketAddr, target: &str, origin: Option<&str>) -> u16 {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(origin) = origin {
        head.push_str(&format!("Origin: {origin}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "connection closed before an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

async fn server(config: Config) -> SocketAddr {
    common::start(&Server::new(config)).await
}

const NEW: &str = "/socket.io/?EIO=4&transport=websocket";

/// The status of the upgrade of a new polling session, with `origin`.
async fn upgrade_status(addr: SocketAddr, origin: Option<&str>) -> u16 {
    let sid = open_session(addr, "/socket.io/").await;
    handshake_status(
        addr,
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
        origin,
    )
    .await
}

#[tokio::test]
async fn without_cors_only_the_servers_own_pages_and_non_browsers_open_a_websocket() {
    let addr = server(Config::default()).await;
    let own = format!("http://{addr}");
    assert_eq!(handshake_status(addr, NEW, None).await, 101);
    assert_eq!(handshake_status(addr, NEW, Some(&own)).await, 101);
    assert_eq!(
        handshake_status(addr, NEW, Some("http://evil.test")).await,
        403
    );
    assert_eq!(handshake_status(addr, NEW, Some("null")).await, 403);
    assert_eq!(upgrade_status(addr, None).await, 101);
    assert_eq!(upgrade_status(addr, Some(&own)).await, 101);
    assert_eq!(upgrade_status(addr, Some("http://evil.test")).await, 403);
}

#[tokio::test]
async fn cors_origins_may_open_a_websocket_and_no_other() {
    let config = Config {
        cors: Some(Cors::origins(["http://app.test"])),
        ..Config::default()
    };
    let addr = server(config).await;
    assert_eq!(
        handshake_status(addr, NEW, Some("http://app.test")).await,
        101
    );
    assert_eq!(
        handshake_status(addr, NEW, Some("http://APP.test:80")).await,
        101
    );
    assert_eq!(
        handshake_status(addr, NEW, Some(&format!("http://{addr}"))).await,
        101
    );
    assert_eq!(
        handshake_status(addr, NEW, Some("http://evil.test")).await,
        403
    );
    assert_eq!(upgrade_status(addr, Some("http://app.test")).await, 101);
    assert_eq!(upgrade_status(addr, Some("http://evil.test")).await, 403);
}

#[tokio::test]
async fn cors_any_lets_every_page_open_a_websocket() {
    let config = Config {
        cors: Some(Cors::any()),
        ..Config::default()
    };
    let addr = server(config).await;
    assert_eq!(
        handshake_status(addr, NEW, Some("http://evil.test")).await,
        101
    );
    assert_eq!(upgrade_status(addr, Some("http://evil.test")).await, 101);
}

#[tokio::test]
async fn the_handshakes_own_check_wins_over_cors() {
    let mut config = Config {
        cors: Some(Cors::any()),
        ..Config::default()
    };
    config.ws_handshake.check_origin = Some(wsx::origin::allow(["http://only.test"]));
    let addr = server(config).await;
    assert_eq!(
        handshake_status(addr, NEW, Some("http://only.test")).await,
        101
    );
    assert_eq!(
        handshake_status(addr, NEW, Some("http://evil.test")).await,
        403
    );
    assert_eq!(upgrade_status(addr, Some("http://evil.test")).await, 403);
}
