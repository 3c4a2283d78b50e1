//! In-memory connections for the timing tests: a [`Server`] or [`Client`] over a
//! [`tokio::io::duplex`] pipe instead of TCP, so that a test on a paused tokio clock
//! (`#[tokio::test(start_paused = true)]`) is fully deterministic. No kernel I/O means the
//! runtime is idle exactly when every task waits for a timer, and tokio's clock then jumps
//! straight to the next deadline: a 500 ms keep-alive deadline is reached in microseconds of
//! wall time and at exactly 500 ms of test time, with no slack for a loaded machine.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use super::common::{read_head, switching_protocols, upgrade_request};
use std::net::SocketAddr;
use tokio::io::{AsyncWriteExt, DuplexStream, duplex};
use tokio::task::JoinHandle;
use wsx::{Client, Config, Conn, Error, Server};

/// Bytes a pipe buffers in each direction before a writer waits, like a socket buffer.
pub const PIPE: usize = 64 * 1024;

/// A made-up peer address, reported by `Conn::remote_addr` on the server side.
pub fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000))
}

/// Serves one in-memory connection on `server` from a spawned task; returns the client's end
/// of the pipe and the task (it ends when the connection has ended).
pub fn serve_pipe(server: &Server) -> (DuplexStream, JoinHandle<Result<(), Error>>) {
    let (client, server_end) = duplex(PIPE);
    let server = server.clone();
    let task = tokio::spawn(async move { server.serve_connection(server_end, Some(peer())).await });
    (client, task)
}

/// An event-API client with `config`, connected to `server` through a pipe.
pub async fn connect_pipe(
    server: &Server,
    config: Config,
) -> (Conn, JoinHandle<Result<(), Error>>) {
    let (io, task) = serve_pipe(server);
    let conn = Client::new(config)
        .connect_io(io, "ws://in-memory/")
        .await
        .unwrap();
    (conn, task)
}

/// A client that does the opening handshake by hand on a pipe to `server` (checking the `101`)
/// and hands back its end of the pipe: a peer that does only what the test writes.
pub async fn raw_client_pipe(server: &Server) -> (DuplexStream, JoinHandle<Result<(), Error>>) {
    let (mut io, task) = serve_pipe(server);
    io.write_all(upgrade_request(peer(), "").as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut io).await;
    assert!(head.starts_with("HTTP/1.1 101"), "response: {head}");
    (io, task)
}

/// A raw server on a pipe: an event-API client with `config` connects through it, and the
/// server's end (after a handshake done by hand) is handed back with the client's `Conn`.
pub async fn raw_server_pipe(config: Config) -> (Conn, DuplexStream) {
    let (client_end, mut server_end) = duplex(PIPE);
    let accept = tokio::spawn(async move {
        let head = read_head(&mut server_end).await;
        server_end
            .write_all(switching_protocols(&head, "").as_bytes())
            .await
            .unwrap();
        server_end
    });
    let conn = Client::new(config)
        .connect_io(client_end, "ws://in-memory/")
        .await
        .unwrap();
    (conn, accept.await.unwrap())
}
