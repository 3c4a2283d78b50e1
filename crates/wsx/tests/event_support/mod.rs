//! Helpers shared by the `event_*` integration tests of the event API (`Server`, `Client`,
//! `Conn`): a server on an ephemeral loopback port, hand-written raw peers (client and server
//! handshakes done by hand over TCP), and an event recorder fed from handlers.
//!
//! Everything is bounded: tests wrap their bodies in [`within`], and raw reads stop at a byte
//! cap.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wsx::{Config, Conn, Error, MessageType, Server};

/// The most any test may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest wait for one expected event inside a test.
pub const STEP: Duration = Duration::from_secs(10);

/// The largest HTTP head the raw peers read.
const MAX_HEAD: usize = 64 * 1024;

/// A fixed client key for raw handshakes (RFC 6455 §1.3's sample nonce).
pub const RAW_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Runs a test body under [`TEST_TIMEOUT`].
pub async fn within<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("the test did not finish within its time limit")
}

/// Waits for the next item of `rx`, failing the test with `what` after [`STEP`].
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(STEP, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("channel closed while waiting for {what}"))
}

/// A server serving on an ephemeral loopback port.
pub struct Running {
    pub server: Server,
    pub addr: SocketAddr,
    pub task: JoinHandle<Result<(), Error>>,
}

impl Running {
    /// The `ws://` URL of the server.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

/// Binds `127.0.0.1:0` and serves `server` on it from a spawned task.
pub async fn serve(server: Server) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = {
        let server = server.clone();
        tokio::spawn(async move { server.serve(listener).await })
    };
    Running { server, addr, task }
}

/// A server that echoes every message back unchanged (`write_message(kind, data)`).
pub fn echo_server(config: Config) -> Server {
    let server = Server::new(config);
    server.on_connection(|conn: Conn| {
        conn.on_message(|c: &Conn, kind: MessageType, data| {
            let _ = c.write_message(kind, data);
        });
    });
    server
}

/// What a handler saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Open,
    Message(MessageType, Bytes),
    Close(u16, String),
    Error(String),
    Ping(Bytes),
    Pong(Bytes),
    Custom(String, serde_json::Value),
}

/// Registers `on_open`, `on_message`, `on_close`, `on_error`, `on_ping` and `on_pong` on
/// `conn`, each sending what it sees to `tx`. The handlers hold `tx` (never a `Conn`), so
/// the channel closes when the connection's handler table is dropped.
pub fn record(conn: &Conn, tx: &mpsc::UnboundedSender<Event>) {
    let t = tx.clone();
    conn.on_open(move |_| {
        let _ = t.send(Event::Open);
    });
    let t = tx.clone();
    conn.on_message(move |_, kind, data| {
        let _ = t.send(Event::Message(kind, data));
    });
    record_close_and_more(conn, tx);
}

/// As [`record`], without `on_open` and `on_message`.
pub fn record_close_and_more(conn: &Conn, tx: &mpsc::UnboundedSender<Event>) {
    let t = tx.clone();
    conn.on_close(move |_, code, reason| {
        let _ = t.send(Event::Close(code.into(), reason.to_owned()));
    });
    let t = tx.clone();
    conn.on_error(move |_, err| {
        let _ = t.send(Event::Error(format!("{err:?}")));
    });
    let t = tx.clone();
    conn.on_ping(move |_, data| {
        let _ = t.send(Event::Ping(data));
    });
    let t = tx.clone();
    conn.on_pong(move |_, data| {
        let _ = t.send(Event::Pong(data));
    });
}

/// Registers an `on_close` that counts its calls and reports the code and reason on a channel.
pub fn count_closes(conn: &Conn) -> (Arc<AtomicUsize>, mpsc::UnboundedReceiver<(u16, String)>) {
    let count = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let c = count.clone();
    conn.on_close(move |_, code, reason| {
        c.fetch_add(1, Ordering::SeqCst);
        let _ = tx.send((code.into(), reason.to_owned()));
    });
    (count, rx)
}

// ---- raw peers ------------------------------------------------------------------------------

/// Reads an HTTP head (through the blank line) byte by byte, so nothing after it is consumed.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < MAX_HEAD, "HTTP head too large");
        let n = stream.read(&mut byte).await.expect("reading an HTTP head");
        assert!(
            n == 1,
            "EOF inside an HTTP head; got so far: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("HTTP head is not UTF-8")
}

/// A valid opening handshake request for `addr`, plus `extra` header lines (each ending in
/// `\r\n`).
pub fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {RAW_KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         {extra}\r\n"
    )
}

/// Connects to `addr`, sends an upgrade request with `extra` headers and reads the response
/// head. Returns the stream (positioned after the head) and the head.
pub async fn raw_request(addr: SocketAddr, extra: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(upgrade_request(addr, extra).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut tcp).await;
    (tcp, head)
}

/// A raw client that completed the opening handshake with `addr` (asserting the `101`).
pub async fn raw_client(addr: SocketAddr) -> TcpStream {
    let (tcp, head) = raw_request(addr, "").await;
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "expected 101 Switching Protocols, got {head:?}"
    );
    tcp
}

/// Accepts one TCP connection on `listener`, reads the upgrade request and answers `101` with
/// the right `Sec-WebSocket-Accept`: a raw server that will never read again.
pub async fn raw_server_accept(listener: &TcpListener) -> TcpStream {
    let (mut tcp, _) = listener.accept().await.unwrap();
    let head = read_head(&mut tcp).await;
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .expect("the request has a Sec-WebSocket-Key");
    let accept = wsx::handshake::accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    tcp.write_all(response.as_bytes()).await.unwrap();
    tcp
}

/// Reads until EOF (or an error), at most `cap` bytes; `Ok(bytes)` on a clean EOF.
pub async fn read_to_eof(stream: &mut TcpStream, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buf[..n]);
        assert!(all.len() <= cap, "more than {cap} bytes before EOF");
    }
}

/// Waits (bounded, 5 s) until `server` has no connection left. A connection leaves the
/// registry just after its `on_close` ran, and no event says when, so this polls.
pub async fn wait_for_no_connections(server: &Server) {
    for _ in 0..1000 {
        if server.connection_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the server still has {} connection(s) 5 s after they closed",
        server.connection_count()
    );
}
