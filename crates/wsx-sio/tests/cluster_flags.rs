//! Broadcast flags and outgoing listeners across a cluster (feature `redis`, a real
//! `redis-server`): Node's `opts.flags` (`volatile`, `compress`) cross on the Redis wire as
//! `@socket.io/redis-adapter` 8.3 writes them, byte for byte, and each server honours them for
//! its own sockets; a broadcast another server started calls the receiving sockets' outgoing
//! listeners (`on_any_outgoing`), as Node's in-memory adapter does for every broadcast it
//! applies. Between two wsx-sio servers, and with a Node `socket.io` 4.8.1 server
//! (`tests/cluster/node_server.js`).
//!
//! A "busy" client is one whose connection has something queued that it did not take yet:
//! its handler `hold` queues an event, then keeps the connection's task (so nothing is
//! written) for a while; a volatile broadcast that arrives meanwhile is dropped for it.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
#[path = "cluster/harness.rs"]
#[allow(dead_code)] // This file uses part of it.
mod harness;
mod skip;

use harness::{AdapterKind, Client, RedisServer, missing, node_node_on};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx_sio::adapter::redis::{Redis, RedisOptions};
use wsx_sio::{Args, Config, Server, Socket};

/// What the outgoing listeners saw: `(socket id, event, arguments)`.
type Seen = Arc<Mutex<Vec<(String, String, Vec<Value>)>>>;

/// A wsx-sio server in this process on the classic Redis adapter.
struct WsxNode {
    io: Server,
    addr: SocketAddr,
    seen: Seen,
    /// A message each time a `hold` handler queued its event and starts holding.
    held: mpsc::UnboundedReceiver<()>,
}

async fn wsx_node(url: &str) -> WsxNode {
    let redis = Redis::connect(url, RedisOptions::default()).await.unwrap();
    let io = Server::with_adapter(Config::default(), redis.factory());
    let seen = Seen::default();
    let (held_tx, held) = mpsc::unbounded_channel();
    let record = seen.clone();
    io.on_connection(move |socket: Socket| {
        let record = record.clone();
        let held_tx = held_tx.clone();
        async move {
            socket.on_any_outgoing(move |s: &Socket, event: &str, args: &Args| {
                record.lock().unwrap().push((
                    s.id().to_string(),
                    event.to_owned(),
                    args.values.clone(),
                ));
            });
            socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
                s.join(room);
                let _ = ack.send(&true);
            });
            socket.on("hold", move |s: Socket, millis: u64| {
                let held_tx = held_tx.clone();
                async move {
                    let _ = s.emit("held", &true);
                    let _ = held_tx.send(());
                    // The connection's task writes nothing meanwhile: "held" stays queued.
                    tokio::task::block_in_place(|| {
                        std::thread::sleep(Duration::from_millis(millis));
                    });
                }
            });
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = io.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    redis.wait_subscribed(Duration::from_secs(10)).await;
    WsxNode {
        io,
        addr,
        seen,
        held,
    }
}

/// Two clients of `node` in room `v`: one made busy for `millis`, one idle.
async fn busy_and_idle(node: &mut WsxNode, millis: u64) -> (Client, Client) {
    let mut busy = Client::connect(node.addr).await;
    let mut idle = Client::connect(node.addr).await;
    for client in [&mut busy, &mut idle] {
        assert_eq!(
            client.call(r#"["join","v"]"#).await,
            serde_json::json!([true])
        );
    }
    busy.emit(&format!(r#"["hold",{millis}]"#)).await;
    tokio::time::timeout(Duration::from_secs(10), node.held.recv())
        .await
        .expect("the busy client's handler holds")
        .unwrap();
    (busy, idle)
}

/// After a volatile `tick` and a plain `after` to room `v` from another server: the idle
/// client got both, the busy one `after` only; both sockets' outgoing listeners saw both (the
/// dropped one included, as Node notifies before it writes).
async fn check_volatile_delivery(node: &WsxNode, busy: &mut Client, idle: &mut Client) {
    assert_eq!(
        idle.expect(r#"42["room-msg""#).await,
        r#"42["room-msg","tick"]"#
    );
    assert_eq!(
        idle.expect(r#"42["room-msg""#).await,
        r#"42["room-msg","after"]"#
    );
    // The busy client's connection writes again: what was queued, then only `after`.
    assert_eq!(busy.expect("42[").await, r#"42["held",true]"#);
    assert_eq!(busy.expect("42[").await, r#"42["room-msg","after"]"#);
    let seen = node.seen.lock().unwrap().clone();
    for sid in [&busy.sid, &idle.sid] {
        let events: Vec<(String, Vec<Value>)> = seen
            .iter()
            .filter(|(id, event, _)| id == sid && event == "room-msg")
            .map(|(_, event, args)| (event.clone(), args.clone()))
            .collect();
        assert_eq!(
            events,
            vec![
                ("room-msg".to_owned(), vec![Value::from("tick")]),
                ("room-msg".to_owned(), vec![Value::from("after")]),
            ],
            "outgoing listeners of {sid}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_volatile_broadcast_of_another_wsx_server_skips_a_busy_client_and_calls_listeners() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    let sender = wsx_node(&redis.url()).await;
    let mut receiver = wsx_node(&redis.url()).await;
    let (mut busy, mut idle) = busy_and_idle(&mut receiver, 3000).await;
    let room = sender.io.of("/").to("v");
    assert_eq!(
        room.clone().volatile().emit("room-msg", &"tick").unwrap(),
        0
    );
    assert_eq!(room.emit("room-msg", &"after").unwrap(), 0);
    check_volatile_delivery(&receiver, &mut busy, &mut idle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_volatile_broadcast_of_a_node_server_skips_a_busy_wsx_client_and_calls_listeners() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    let Some(node) = node_node_on(&redis.url(), "node", AdapterKind::Classic, false) else {
        return missing(
            "node or the npm packages of crates/wsx-sio/tests/cluster/node_modules are not installed",
        );
    };
    let mut receiver = wsx_node(&redis.url()).await;
    let mut sender = Client::connect(node.addr).await;
    let (mut busy, mut idle) = busy_and_idle(&mut receiver, 3000).await;
    sender.emit(r#"["volatile-to-room","v","tick"]"#).await;
    sender.emit(r#"["to-room","v","after"]"#).await;
    check_volatile_delivery(&receiver, &mut busy, &mut idle).await;
}

/// The next message published on `channel`.
async fn published(
    messages: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    channel: &str,
) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (got, payload) = messages.recv().await.expect("subscriber gone");
            if got == channel {
                return payload;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("nothing published on {channel}"))
}

/// `message` after its first `skip` MessagePack values (inside its top array or map): the
/// part that does not name the sender (`uid`, `requestId`).
fn after(message: &[u8], skip: usize) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(message);
    match rmpv::decode::read_value(&mut std::io::Cursor::new(message)).unwrap() {
        rmpv::Value::Array(_) => {
            rmp::decode::read_array_len(&mut cursor).unwrap();
        }
        _ => {
            rmp::decode::read_map_len(&mut cursor).unwrap();
        }
    }
    for _ in 0..skip {
        rmpv::decode::read_value(&mut cursor).unwrap();
    }
    message[usize::try_from(cursor.position()).unwrap()..].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flags_are_written_on_the_redis_wire_byte_for_byte_as_node_writes_them() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    let Some(node) = node_node_on(&redis.url(), "node", AdapterKind::Classic, false) else {
        return missing(
            "node or the npm packages of crates/wsx-sio/tests/cluster/node_modules are not installed",
        );
    };
    let wsx = wsx_node(&redis.url()).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.psubscribe("socket.io*").await.unwrap();
    let (tx, mut messages) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut stream = pubsub.into_on_message();
        while let Some(msg) = stream.next().await {
            let _ = tx.send((
                msg.get_channel_name().to_owned(),
                msg.get_payload_bytes().to_vec(),
            ));
        }
    });
    let mut sender = Client::connect(node.addr).await;

    // `io.to("v").volatile.compress(false).emit("room-msg", "x")`: `[uid, packet, opts]`.
    sender.emit(r#"["flags-to-room","v","x"]"#).await;
    let from_node = published(&mut messages, "socket.io#/#v#").await;
    wsx.io
        .of("/")
        .to("v")
        .volatile()
        .compress(false)
        .emit("room-msg", &"x")
        .unwrap();
    let from_wsx = published(&mut messages, "socket.io#/#v#").await;
    assert_eq!(after(&from_wsx, 1), after(&from_node, 1));
    assert!(
        from_node
            .windows(b"\xa8volatile\xc3\xa8compress\xc2".len())
            .any(|w| w == b"\xa8volatile\xc3\xa8compress\xc2"),
        "{from_node:?}"
    );

    // With acknowledgements, `timeout(1500)` beside them: `{uid, requestId, type, packet,
    // opts}`.
    sender.emit(r#"["flags-ask-room","v","x"]"#).await;
    let from_node = published(&mut messages, "socket.io-request#/#").await;
    let asked = wsx
        .io
        .of("/")
        .to("v")
        .volatile()
        .compress(false)
        .timeout(Duration::from_millis(1500))
        .emit_with_ack("question", &"x");
    let from_wsx = published(&mut messages, "socket.io-request#/#").await;
    assert_eq!(after(&from_wsx, 4), after(&from_node, 4));
    assert!(
        from_node
            .windows(b"\xa7timeout\xcd\x05\xdc".len())
            .any(|w| w == b"\xa7timeout\xcd\x05\xdc"),
        "{from_node:?}"
    );
    drop(asked);
}
