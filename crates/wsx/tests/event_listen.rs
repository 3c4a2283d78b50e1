//! `Server::listen` takes any address tokio resolves (`ToSocketAddrs`, the signature
//! `wsx_sio::Server::listen` has too): a `&str`, a `String` built at run time, a `SocketAddr`,
//! a `(host, port)` pair. Each listens on an ephemeral loopback port, takes a client and stops
//! on `shutdown`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{echo_server, within};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use wsx::{Client, Config, Server};

/// Runs `listen` on a task, connects once it is bound, shuts down, and checks it returned.
async fn listens_and_serves(
    server: Server,
    listen: impl Future<Output = Result<(), wsx::Error>> + Send + 'static,
) {
    let task = tokio::spawn(listen);
    let addr = loop {
        if let Some(addr) = server.local_addr() {
            break addr;
        }
        assert!(!task.is_finished(), "listen ended: {:?}", task.await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(addr.ip().is_loopback());
    let conn = Client::default()
        .connect_url(&format!("ws://{addr}/"))
        .await
        .unwrap();
    server.shutdown().await;
    task.await.unwrap().unwrap();
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_takes_any_address_tokio_resolves() {
    within(async {
        let server = echo_server(Config::default());
        let s = server.clone();
        listens_and_serves(server, async move { s.listen("127.0.0.1:0").await }).await;

        let server = echo_server(Config::default());
        let s = server.clone();
        let host = String::from("127.0.0.1");
        let addr = format!("{host}:0");
        listens_and_serves(server, async move { s.listen(addr).await }).await;

        let server = echo_server(Config::default());
        let s = server.clone();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        listens_and_serves(server, async move { s.listen(addr).await }).await;

        let server = echo_server(Config::default());
        let s = server.clone();
        listens_and_serves(server, async move { s.listen(("127.0.0.1", 0)).await }).await;
    })
    .await;
}
