//! Helpers shared by the `event_*` integration tests of the event API (`Server`, `Client`,
//! `Conn`): a server on an ephemeral loopback port and an event recorder fed from handlers.
//! The hand-written raw peers (client and server handshakes done by hand over TCP) are those of
//! `tests/common`, included below and re-exported under the names these tests use.
//!
//! Everything is bounded: tests wrap their bodies in [`within`], and raw reads stop at a byte
//! cap.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../common/mod.rs"]
mod common;
#[cfg(feature = "hyper")]
pub mod hyper_serve;
pub mod memory;

// Each test crate compiles this module on its own and uses only some of these.
#[allow(unused_imports)]
pub use common::{
    Frame, close_payload, masked_frame, raw_accept as raw_server_accept,
    raw_handshake as raw_client, raw_request, read_frame, read_head, read_to_eof, upgrade_request,
};

use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wsx::{Client, Config, Conn, Error, MessageType, Server};

/// The most any test may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest wait for one expected event inside a test.
pub const STEP: Duration = Duration::from_secs(10);

/// Runs a test body under [`TEST_TIMEOUT`] (this suite's, longer than `common`'s).
pub async fn within<F: Future>(body: F) -> F::Output {
    common::within_for(TEST_TIMEOUT, body).await
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

    /// An event-API client with the default config, connected to the server with no extra
    /// headers.
    pub async fn connect(&self) -> Conn {
        Client::new(Config::default())
            .connect(&self.url(), http::HeaderMap::new())
            .await
            .unwrap()
    }
}

/// Binds `127.0.0.1:0` and serves `server` on it from a spawned task.
pub async fn serve(server: Server) -> Running {
    let (listener, addr) = common::bind().await;
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

/// Waits (bounded, 5 s) until `server` has exactly `count` connections.
pub async fn wait_for_count(server: &Server, count: usize) {
    for _ in 0..1000 {
        if server.connection_count() == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the server has {} connection(s), not {count}",
        server.connection_count()
    );
}

/// Runs a test body under `limit` instead of [`TEST_TIMEOUT`].
pub async fn within_for<F: Future>(limit: Duration, body: F) -> F::Output {
    common::within_for(limit, body).await
}
