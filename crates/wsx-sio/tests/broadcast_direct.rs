//! Broadcasts written straight to an idle WebSocket client's socket (`namespace/outbox.rs`,
//! wsx's `DirectWriter`): what the client sees must be what the queue alone would give it.
//! A burst to a client that does not read arrives whole and in order (direct writes until its
//! socket is full, a frame taken in part, then the queue behind it); nothing overtakes what
//! was queued before it; nothing follows the close frame.

mod common;

use common::{Raw, start};
use std::time::Duration;
use wsx::Message;
use wsx_sio::{Config, Server};

/// A server whose clients may fall far behind (the burst below is 16 MiB).
fn server() -> Server {
    let mut config = Config {
        max_pending_bytes: 64 << 20,
        ..Config::default()
    };
    config.engine.ping_interval = Duration::from_secs(60);
    config.engine.ping_timeout = Duration::from_secs(60);
    Server::new(config)
}

/// The event name and first argument of an EVENT packet `42["name",arg,...]`.
fn event(text: &str) -> (String, serde_json::Value) {
    let json = text
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("not an event: {text}"));
    let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
    (
        value[0].as_str().expect("name").to_owned(),
        value[1].clone(),
    )
}

/// Joins `/`, and lets a first broadcast arm the direct path (it goes through the queue);
/// returns once the client has it and the connection's task had time to park.
async fn joined(server: &Server) -> Raw {
    let addr = start(server).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    server.of("/").hub().emit("warm-up", &0).expect("emit");
    assert_eq!(event(&raw.text().await).0, "warm-up");
    tokio::time::sleep(Duration::from_millis(50)).await;
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_to_a_client_that_does_not_read_arrives_whole_and_in_order() {
    let server = server();
    let mut raw = joined(&server).await;
    let hub = server.of("/").hub();
    // 4 KiB each: 16 MiB fill any loopback socket buffers while the client does not read.
    let pad = "x".repeat(4096);
    const N: u64 = 4000;
    for i in 0..N {
        assert_eq!(hub.emit("n", &(i, &pad)).ok(), Some(1));
    }
    for i in 0..N {
        let (name, arg) = event(&raw.text().await);
        assert_eq!(name, "n");
        assert_eq!(arg, serde_json::json!([i, pad]), "broadcast {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_overtakes_what_was_queued_before() {
    let server = server();
    let mut raw = joined(&server).await;
    let hub = server.of("/").hub();
    let socket = hub.local_sockets().sockets().pop().expect("one socket");
    // An emit to the socket always queues; a broadcast right after it must queue behind it,
    // not go direct ahead of it.
    const N: u64 = 500;
    for i in 0..N {
        socket.emit("queued", &i).expect("emit");
        hub.emit("broadcast", &i).expect("broadcast");
        if i % 50 == 0 {
            // Lets the connection's task write out and park: the next broadcast may go direct.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for i in 0..N {
        assert_eq!(event(&raw.text().await), ("queued".into(), i.into()));
        assert_eq!(event(&raw.text().await), ("broadcast".into(), i.into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_follows_the_close_frame() {
    let server = server();
    let mut raw = joined(&server).await;
    let hub = server.of("/").hub();
    let socket = hub.local_sockets().sockets().pop().expect("one socket");
    socket.close_connection();
    // Broadcasts while the connection closes, and after.
    for i in 0..200 {
        let _ = hub.emit("late", &i);
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut after_close = 0;
    let mut closed = false;
    // Read at the WebSocket level: data after a close frame would be a protocol error there.
    while let Some(item) = tokio::time::timeout(common::WAIT, raw.ws.next())
        .await
        .expect("not closed in time")
    {
        match item.expect("a clean close handshake") {
            Message::Close(_) => closed = true,
            Message::Text(_) | Message::Binary(_) if closed => after_close += 1,
            _ => {}
        }
    }
    assert!(closed, "no close frame");
    assert_eq!(after_close, 0, "data after the close frame");
}

/// A broadcast to all goes through a list of every socket, kept between broadcasts
/// (`namespace/local.rs`): a socket that connects after one gets the next, one that left
/// does not count, and the sockets left out (one by id, or many by room) are left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_to_all_follow_the_sockets_that_come_and_go() {
    let server = server();
    let addr = start(&server).await;
    let hub = server.of("/").hub();
    let mut first = Raw::connect_root(addr).await.0;
    assert_eq!(hub.emit("a", &1).ok(), Some(1));
    assert_eq!(event(&first.text().await), ("a".into(), 1.into()));

    // More clients than are compared one by one when left out (a hash set then).
    let mut others = Vec::new();
    for _ in 0..11 {
        others.push(Raw::connect_root(addr).await.0);
    }
    assert_eq!(hub.emit("b", &2).ok(), Some(12));
    for raw in std::iter::once(&mut first).chain(&mut others) {
        assert_eq!(event(&raw.text().await), ("b".into(), 2.into()));
    }

    // A client that leaves is no longer counted.
    let mut gone = others.pop().expect("a client");
    gone.ws.close(None).await.expect("close");
    let _ = gone.closed().await;
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while hub.local_sockets().len() != 11 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the socket never left"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(hub.emit("c", &3).ok(), Some(11));

    // The sender left out; then 10 of the 11 sockets left out by a room.
    let sockets = hub.local_sockets().sockets();
    assert_eq!(sockets[0].broadcast().emit("d", &4).ok(), Some(10));
    for socket in &sockets[..10] {
        socket.join("quiet");
    }
    assert_eq!(hub.except("quiet").emit("e", &5).ok(), Some(1));
    assert_eq!(hub.emit("end", &6).ok(), Some(11));
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for raw in std::iter::once(&mut first).chain(&mut others) {
        loop {
            let (name, _) = event(&raw.text().await);
            if name == "end" {
                break;
            }
            *counts.entry(name).or_default() += 1;
        }
    }
    let want = [("c", 11), ("d", 10), ("e", 1)].map(|(name, n)| (name.to_owned(), n));
    assert_eq!(counts, want.into_iter().collect());
}
