//! The admin UI across a cluster (feature `redis`, a real `redis-server` on a free loopback
//! port): two wsx-sio servers on one Redis, each instrumented; a dashboard connected to the
//! first sees the second's sockets (`all_sockets` through `fetch_sockets`, with their client
//! id and transport from `data._admin`), its `server_stats` and its events, and its operations
//! reach the second's sockets (`sockets_join`, room emits, `disconnect_sockets` through the
//! adapter's requests). Then the same in a mixed cluster whose other node is Node's socket.io
//! instrumented by `@socket.io/admin-ui` 0.5.1 itself (`tests/admin_ui/node_admin_node.mjs`),
//! with a dashboard on each side.
//!
//! Needs `redis-server`, and node with the `npm ci` of tests/admin_ui for the mixed cluster;
//! without them the tests print a `SKIPPED` line, unless `WSX_REQUIRE_REDIS` is set (CI),
//! which makes them fail.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod admin_support;
mod common;
#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;
mod skip;

use admin_support::{HASH, dashboard, events, next, next_where, socket};
use harness::{Process, RedisServer, missing};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
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

/// The Node node of tests/admin_ui, instrumented by `@socket.io/admin-ui`; `None` (skipped)
/// when node or the packages are missing.
fn node_admin_node(redis: &RedisServer) -> Option<Process> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/admin_ui");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !node || !dir.join("node_modules/@socket.io/redis-adapter").exists() {
        missing("node or the npm packages of tests/admin_ui (there: npm ci)");
        return None;
    }
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .args(["node_admin_node.mjs", &redis.url()]);
    Some(Process::start(command))
}

/// Finds the socket `id` in an `all_sockets` answer.
fn listed(all: &[Value], id: &str) -> Value {
    all[0]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {all:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_and_node_admin_uis_see_and_operate_each_others_sockets() {
    let Some(redis) = RedisServer::start() else {
        missing("redis-server is not installed");
        return;
    };
    let Some(node_node) = node_admin_node(&redis) else {
        return;
    };
    let wsx_url = node(&redis, "a").await;
    let node_url = format!("http://{}", node_node.addr);
    let on_wsx = socket(&wsx_url, "/", Value::Null);
    let on_node = socket(&node_url, "/", Value::Null);
    on_wsx.connect().await.unwrap();
    on_node.connect().await.unwrap();
    for client in [&on_wsx, &on_node] {
        let _: bool = client.emit_with_ack_as("join", &"lobby").await.unwrap();
    }
    let (wsx_id, node_id) = (on_wsx.id().unwrap(), on_node.id().unwrap());

    // Each side's dashboard lists the other side's socket, with the client id its own
    // instrumentation keeps in `data._admin`, receives the other's stats, and makes the
    // other's socket join a room (reported by the other node).
    for (dashboard_url, other_id, other_server) in
        [(&wsx_url, &node_id, "node"), (&node_url, &wsx_id, "a")]
    {
        let (admin, mut rx) = dashboard(dashboard_url).await;
        let all = next(&mut rx, "all_sockets").await;
        let seen = listed(&all, other_id);
        assert_eq!(seen["rooms"], json!([other_id, "lobby"]), "{seen}");
        assert_eq!(seen["transport"], "websocket", "{seen}");
        let client_id = seen["clientId"].as_str().unwrap();
        assert!(client_id.len() == 12 && client_id != other_id, "{seen}");
        assert_eq!(seen["data"], json!({}), "{seen}");
        next_where(&mut rx, "server_stats", |args| {
            args[0]["serverId"] == other_server
        })
        .await;
        admin
            .emit_args(
                "join",
                Args::new().arg("/").arg("vip").arg(other_id.as_str()),
            )
            .unwrap();
        let joined = next_where(&mut rx, "room_joined", |args| {
            args[1] == "vip" && args[2] == **other_id
        })
        .await;
        assert_eq!(joined[0], "/");
        admin.disconnect();
    }
}
