//! The admin UI across a cluster (feature `redis`, a real `redis-server` on a free loopback
//! port): two wsx-sio servers on one Redis, each instrumented; a dashboard connected to the
//! first sees the second's sockets (`all_sockets` through `fetch_sockets`, with their client
//! id and transport from `data._admin`), its `server_stats` and its events, and its operations
//! reach the second's sockets (`sockets_join`, room emits, `disconnect_sockets` through the
//! adapter's requests).
//!
//! Needs `redis-server`; without it the test prints a `SKIPPED` line, unless
//! `WSX_REQUIRE_REDIS` is set (CI), which makes it fail.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod admin_support;
mod common;
#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;
mod skip;

use admin_support::{HASH, dashboard, events, next, next_where, socket};
use harness::{RedisServer, missing};
use serde_json::{Value, json};
use std::time::Duration;
use wsx_sio::adapter::redis::{Redis, RedisOptions};
use wsx_sio::admin::{AdminAuth, AdminOptions, instrument};
use wsx_sio::{Args, Config, Server, Socket};

/// A node of the cluster, instrumented with server id `name`; its URL.
async fn node(redis: &RedisServer, name: &str) -> String {
    let options = RedisOptions {
        requests_timeout: Duration::from_secs(2),
        ..RedisOptions::default()
    };
    let handle = Redis::connect(&redis.url(), options).await.unwrap();
    let io = Server::with_adapter(Config::default(), handle.factory());
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
    });
    instrument(
        &io,
        AdminOptions {
            auth: AdminAuth::basic("admin", HASH).unwrap(),
            server_id: Some(name.to_owned()),
            stats_interval: Duration::from_millis(300),
            ..AdminOptions::default()
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { io.serve(listener).await });
    assert!(handle.wait_subscribed(Duration::from_secs(10)).await);
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_on_one_node_sees_and_operates_the_other() {
    let Some(redis) = RedisServer::start() else {
        missing("redis-server is not installed");
        return;
    };
    let (a_url, b_url) = (node(&redis, "a").await, node(&redis, "b").await);
    let on_a = socket(&a_url, "/", Value::Null);
    let on_b = socket(&b_url, "/", Value::Null);
    let mut a_rx = events(&on_a);
    let mut b_rx = events(&on_b);
    on_a.connect().await.unwrap();
    on_b.connect().await.unwrap();
    for client in [&on_a, &on_b] {
        let _: bool = client.emit_with_ack_as("join", &"lobby").await.unwrap();
    }
    let b_id = on_b.id().unwrap();

    let (admin, mut rx) = dashboard(&a_url).await;
    // Every node's sockets, the other's described by its own node.
    let all = next(&mut rx, "all_sockets").await;
    let seen = all[0]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == b_id)
        .cloned()
        .unwrap_or_else(|| panic!("{b_id} not in {all:?}"));
    assert_eq!(seen["nsp"], "/");
    assert_eq!(seen["rooms"], json!([b_id, "lobby"]));
    assert_eq!(seen["transport"], "websocket");
    assert_eq!(seen["clientId"].as_str().unwrap().len(), 12);
    assert_eq!(seen["data"], json!({}));
    // Both nodes' statistics reach it.
    next_where(&mut rx, "server_stats", |args| args[0]["serverId"] == "b").await;
    next_where(&mut rx, "server_stats", |args| args[0]["serverId"] == "a").await;

    // The other node's events reach it.
    let late = socket(&b_url, "/", Value::Null);
    late.connect().await.unwrap();
    let late_id = late.id().unwrap();
    next_where(&mut rx, "socket_connected", |args| args[0]["id"] == late_id).await;

    // Its operations reach the other node's sockets.
    admin
        .emit_args("join", Args::new().arg("/").arg("vip").arg(b_id.as_str()))
        .unwrap();
    let joined = next_where(&mut rx, "room_joined", |args| args[1] == "vip").await;
    assert_eq!(&joined[..3], &[json!("/"), json!("vip"), json!(b_id)]);
    admin
        .emit_args(
            "emit",
            Args::new().arg("/").arg("lobby").arg("hello").arg(7),
        )
        .unwrap();
    assert_eq!(next(&mut a_rx, "hello").await, vec![json!(7)]);
    assert_eq!(next(&mut b_rx, "hello").await, vec![json!(7)]);
    admin
        .emit_args("_disconnect", Args::new().arg("/").arg(false).arg("vip"))
        .unwrap();
    let gone = next(&mut rx, "socket_disconnected").await;
    assert_eq!(
        &gone[..3],
        &[
            json!("/"),
            json!(b_id),
            json!("server namespace disconnect")
        ]
    );
    assert!(on_a.connected() && late.connected());
}
