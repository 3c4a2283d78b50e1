//! Subprotocol negotiation over loopback: the server's preference wins among those the client
//! offers, and both sides report it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{next, serve, within};
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config, Conn, Server};

fn with_protocols(protocols: &[&str]) -> Config {
    Config {
        subprotocols: protocols.iter().map(|p| (*p).to_owned()).collect(),
        ..Config::default()
    }
}

async fn negotiate(
    server_protocols: &[&str],
    client_protocols: &[&str],
) -> (Option<String>, Option<String>) {
    let server = Server::new(with_protocols(server_protocols));
    let (tx, mut conns) = mpsc::unbounded_channel();
    server.on_connection(move |conn: Conn| {
        let _ = tx.send(conn.subprotocol().map(str::to_owned));
    });
    let running = serve(server).await;
    let conn = Client::new(with_protocols(client_protocols))
        .connect(&running.url(), http::HeaderMap::new())
        .await
        .unwrap();
    let server_side = next(&mut conns, "the server's connection").await;
    let client_side = conn.subprotocol().map(str::to_owned);
    conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    (server_side, client_side)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_preferred_subprotocol_is_chosen_and_reported_on_both_sides() {
    within(async {
        let (server_side, client_side) =
            negotiate(&["chat.v2", "chat.v1"], &["chat.v1", "chat.v2"]).await;
        assert_eq!(server_side.as_deref(), Some("chat.v2"), "server side");
        assert_eq!(client_side.as_deref(), Some("chat.v2"), "client side");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_common_subprotocol_is_chosen() {
    within(async {
        let (server_side, client_side) = negotiate(&["chat.v2", "chat.v1"], &["chat.v1"]).await;
        assert_eq!(server_side.as_deref(), Some("chat.v1"));
        assert_eq!(client_side.as_deref(), Some("chat.v1"));

        let (server_side, client_side) = negotiate(&["chat.v2"], &["other"]).await;
        assert_eq!(server_side, None);
        assert_eq!(client_side, None);

        let (server_side, client_side) = negotiate(&[], &["chat.v1"]).await;
        assert_eq!(server_side, None);
        assert_eq!(client_side, None);
    })
    .await;
}
