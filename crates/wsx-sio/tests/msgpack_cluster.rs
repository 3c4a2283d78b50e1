//! Two in-process servers on `Parser::MsgPack` sharing a real `redis-server` (feature
//! `redis`): what one server broadcasts through Redis reaches the other's clients in msgpack,
//! binary included (the adapter re-encodes it with the receiving server's parser).
//!
//! Needs `redis-server`; without it the test prints a `SKIPPED` line, unless
//! `WSX_REQUIRE_REDIS` is set (CI), which makes it fail.
#![cfg(feature = "redis")]

mod common;
#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;
mod skip;

use bytes::Bytes;
use common::Raw;
use harness::{RedisServer, missing};
use serde_json::json;
use std::time::Duration;
use wsx::Message;
use wsx_sio::adapter::redis::{Redis, RedisOptions};
use wsx_sio::packet::msgpack;
use wsx_sio::packet::socket::{Body, Packet};
use wsx_sio::{Args, Config, Parser, Server, Socket};

async fn node(url: &str) -> (Server, std::net::SocketAddr) {
    let redis = Redis::connect(url, RedisOptions::default())
        .await
        .expect("connects to redis");
    let io = Server::with_adapter(Config::default().parser(Parser::MsgPack), redis.factory());
    io.on_connection(|socket: Socket| async move {
        socket.on("broadcast", |s: Socket, args: Args| async move {
            let _ = s.hub().emit_args("broadcast", args);
        });
    });
    let _ = io.of("/");
    assert!(redis.wait_subscribed(Duration::from_secs(10)).await);
    let addr = common::start(&io).await;
    (io, addr)
}

/// The next msgpack packet (pings answered).
async fn packet(raw: &mut Raw) -> (Packet, Vec<Bytes>) {
    loop {
        match raw.next().await {
            Some(Message::Binary(b)) => return msgpack::decode(&b, 16).expect("msgpack packet"),
            Some(Message::Text(t)) if t.as_str() == "2" => raw.send("3").await,
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
}

async fn client(addr: std::net::SocketAddr) -> Raw {
    let mut raw = Raw::connect(addr).await;
    raw.send_binary(&msgpack::encode(
        &Packet::new("/", Body::Connect(None)),
        &[],
    ))
    .await;
    let (answer, _) = packet(&mut raw).await;
    assert!(matches!(answer.body, Body::Connect(Some(_))), "{answer:?}");
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_crosses_the_cluster_in_msgpack_with_its_binary() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    let (_one, addr_one) = node(&redis.url()).await;
    let (_two, addr_two) = node(&redis.url()).await;
    let mut a = client(addr_one).await;
    let mut b = client(addr_two).await;

    let sent = Packet::new(
        "/",
        Body::Event {
            name: "broadcast".into(),
            args: vec![json!({"bin": {"_placeholder": true, "num": 0}, "n": 1})],
            ack: None,
            attachments: Some(1),
        },
    );
    let bin = vec![Bytes::from_static(&[1, 2, 3])];
    a.send_binary(&msgpack::encode(&sent, &bin)).await;
    // The sender's server delivers locally; the other server gets it through Redis.
    assert_eq!(packet(&mut a).await, (sent.clone(), bin.clone()));
    assert_eq!(packet(&mut b).await, (sent, bin));
}
