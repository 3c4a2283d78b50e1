//! Clusters over a real `redis-server` (feature `redis`): two `sio_demo --redis` processes,
//! the same after Redis restarts, and a mixed cluster of one wsx node and one Node `socket.io`
//! 4.8 server with `@socket.io/redis-adapter` 8.3 (`tests/cluster/node_server.js`), each on the
//! classic adapter and on the sharded one (both subscription modes), and with
//! `@socket.io/redis-streams-adapter` 0.3 on the Streams adapter; and the sharded adapter
//! on a Redis Cluster of three shards the test creates. Clients are raw Socket.IO clients on
//! loopback; each test starts its own Redis on free ports.
//!
//! Needs `redis-server` (Debian package) and, for the mixed cluster, node with the packages
//! `scripts/sio_cluster_setup.sh` installs. Without them each test prints a `SKIPPED` line naming
//! what is missing, unless `WSX_REQUIRE_REDIS` is set (CI), which makes them fail. Without
//! `--features redis` none of this is built: `scripts/test_all.sh` runs it.
#![cfg(feature = "redis")]

mod common;
#[path = "cluster/harness.rs"]
mod harness;
mod skip;

use harness::{
    AdapterKind, Client, RedisCluster, RedisServer, missing, node_node_on, sio_demo_exe, wsx_node,
    wsx_node_on,
};
use serde_json::{Value, json};
use std::time::Duration;
use wsx_sio::adapter::redis::{Redis, RedisOptions};
use wsx_sio::{AdapterError, Config, Server, Socket};

fn sorted(ids: &[&str]) -> Value {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    json!(ids)
}

/// Where the servers of a test subscribe: in the sharded adapter's dynamic mode a room's
/// emits only reach a server once its subscription to the room's channel is made, which
/// Node makes without waiting (on a Redis Cluster, over a connection to the room's shard it
/// may first have to open): [`Settle::room`] waits for it as Redis counts it.
struct Settle {
    kind: AdapterKind,
    ports: Vec<u16>,
}

impl Settle {
    fn new(kind: AdapterKind, ports: &[u16]) -> Self {
        Self {
            kind,
            ports: ports.to_vec(),
        }
    }

    /// Waits (at most 5 s) until `room`'s channel has `servers` subscribers, in the dynamic
    /// mode (the other adapters have no room channels: nothing to wait for).
    fn room(&self, room: &str, servers: usize) {
        if self.kind != AdapterKind::ShardedDynamic {
            return;
        }
        let channel = format!("socket.io#/#{room}#");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut got = 0;
        while std::time::Instant::now() < deadline {
            got = harness::shard_subscribers(&self.ports, &channel);
            if got == servers {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{channel}: {got} subscribers, not {servers}");
    }
}

/// Room emits, broadcasts (binary included), `fetchSockets`, `socketsJoin` and server-side
/// events between the clients `a` and `b` of two servers of one cluster, in both directions.
async fn cross_node_contract(
    a: &mut Client,
    b: &mut Client,
    a_name: &str,
    b_name: &str,
    settle: &Settle,
) {
    for client in [&mut *a, &mut *b] {
        assert_eq!(client.call(r#"["join","r"]"#).await, json!([true]));
    }
    settle.room("r", 2);
    assert_eq!(a.call(r#"["node-name"]"#).await, json!([a_name]));
    assert_eq!(b.call(r#"["node-name"]"#).await, json!([b_name]));

    // A room emit crosses, the sender left out; and back.
    a.emit(r#"["to-room","r","from a"]"#).await;
    assert_eq!(b.expect("42").await, r#"42["room-msg","from a"]"#);
    b.emit(r#"["to-room","r",{"n":2}]"#).await;
    assert_eq!(a.expect("42").await, r#"42["room-msg",{"n":2}]"#);
    assert!(
        a.quiet(r#"42["room-msg","from a"]"#, Duration::from_millis(200))
            .await
    );

    // Broadcasts reach every socket of the namespace on both servers.
    for (from, n) in [(&mut *a, 1), (&mut *b, 2)] {
        from.emit(&format!(r#"["broadcast",{n}]"#)).await;
    }
    for client in [&mut *a, &mut *b] {
        // Each server delivers its own broadcast first: the order between the two varies.
        let mut got = vec![client.expect("42").await, client.expect("42").await];
        got.sort();
        assert_eq!(got, [r#"42["broadcast",1]"#, r#"42["broadcast",2]"#]);
    }

    // Binary crosses as binary (MessagePack bin between the servers), both ways.
    binary_across(a, b, &[1, 2, 3]).await;
    binary_across(b, a, &[4, 5, 6]).await;

    // fetchSockets sees both servers' sockets, from either side.
    let both = sorted(&[&a.sid, &b.sid]);
    assert_eq!(a.call(r#"["fetch-sockets",null]"#).await, json!([both]));
    assert_eq!(b.call(r#"["fetch-sockets","r"]"#).await, json!([both]));
    assert_eq!(a.call(r#"["fetch-sockets","nobody"]"#).await, json!([[]]));

    // socket.data crosses in fetchSockets, both ways (Node's adapter sends `data` too).
    for (client, name) in [(&mut *a, a_name), (&mut *b, b_name)] {
        let set = json!(["set-data", {"from": name, "n": [1, 2]}]).to_string();
        assert_eq!(client.call(&set).await, json!([true]));
    }
    let mut want = vec![
        json!({"id": a.sid, "data": {"from": a_name, "n": [1, 2]}}),
        json!({"id": b.sid, "data": {"from": b_name, "n": [1, 2]}}),
    ];
    want.sort_by(|x, y| x["id"].as_str().cmp(&y["id"].as_str()));
    assert_eq!(a.call(r#"["fetch-data"]"#).await, json!([want]));
    assert_eq!(b.call(r#"["fetch-data"]"#).await, json!([want]));

    // socketsJoin on one server moves a socket held by the other (once the other server has
    // done it: a fetch it answers says so), and socketsLeave takes it out again.
    let join = json!(["sockets-join", b.sid, "moved"]).to_string();
    assert_eq!(a.call(&join).await, json!([true]));
    until_fetched(a, "moved", json!([b.sid])).await;
    settle.room("moved", 1);
    a.emit(r#"["to-room","moved","you moved"]"#).await;
    assert_eq!(b.expect("42").await, r#"42["room-msg","you moved"]"#);
    let join = json!(["sockets-join", a.sid, "moved-too"]).to_string();
    assert_eq!(b.call(&join).await, json!([true]));
    until_fetched(b, "moved-too", json!([a.sid])).await;
    settle.room("moved-too", 1);
    b.emit(r#"["to-room","moved-too","you too"]"#).await;
    assert_eq!(a.expect("42").await, r#"42["room-msg","you too"]"#);
    let leave = json!(["sockets-leave", b.sid, "moved"]).to_string();
    assert_eq!(a.call(&leave).await, json!([true]));
    until_fetched(a, "moved", json!([])).await;
    a.emit(r#"["to-room","moved","gone"]"#).await;
    assert!(
        b.quiet(r#"42["room-msg","gone"]"#, Duration::from_millis(200))
            .await
    );

    // Broadcasts with acknowledgements collect both servers' answers, asked from either.
    for (id, asker_first) in [(950, true), (951, false)] {
        let (asker, other) = if asker_first {
            (&mut *a, &mut *b)
        } else {
            (&mut *b, &mut *a)
        };
        asker
            .raw
            .send(&format!(r#"42{id}["ask-room","r","q?"]"#))
            .await;
        answer_question(asker, "asker").await;
        answer_question(other, "other").await;
        assert_eq!(
            ask_result(asker, &format!("43{id}")).await,
            (false, vec!["asker".to_owned(), "other".to_owned()])
        );
    }

    // Server-side events reach the other server only, with and without acks.
    a.emit(r#"["server-side","from a"]"#).await;
    assert_eq!(b.expect("42").await, r#"42["relayed","from a"]"#);
    b.emit(r#"["server-side","from b"]"#).await;
    assert_eq!(a.expect("42").await, r#"42["relayed","from b"]"#);
    assert!(
        a.quiet(r#"42["relayed","from a"]"#, Duration::from_millis(200))
            .await
    );
    assert_eq!(
        a.call(r#"["server-side-ack","q"]"#).await,
        json!([[{"node": b_name, "got": "q"}]])
    );
    assert_eq!(
        b.call(r#"["server-side-ack",7]"#).await,
        json!([[{"node": a_name, "got": 7}]])
    );
}

/// `from` sends a room message with one binary attachment: `to` gets it, binary as binary.
async fn binary_across(from: &mut Client, to: &mut Client, bytes: &[u8]) {
    from.raw
        .send(r#"451-["to-room","r",{"_placeholder":true,"num":0}]"#)
        .await;
    from.raw.send_binary(bytes).await;
    assert_eq!(
        to.expect("45").await,
        r#"451-["room-msg",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(to.binary().await, bytes.to_vec());
}

/// Asks `client`'s server for the sockets in `room` until they are `want` (sorted ids), for
/// at most 5 s: a remote join or leave is done when the server that holds the socket handled
/// it.
async fn until_fetched(client: &mut Client, room: &str, want: Value) {
    let ask = json!(["fetch-sockets", room]).to_string();
    let mut got = Value::Null;
    for _ in 0..50 {
        got = client.call(&ask).await;
        if got == json!([want]) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fetch-sockets {room}: {got}, not [{want}]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_wsx_nodes_share_rooms_and_a_dead_node_drops_out() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    let Some(demo) = sio_demo_exe() else {
        return missing(
            "examples/sio_demo is not built: run the whole package, `cargo test -p wsx-sio --features redis`, which builds it with the feature",
        );
    };
    let node_a = wsx_node(&demo, &redis, "a");
    let mut node_b = wsx_node(&demo, &redis, "b");
    let mut a = Client::connect(node_a.addr).await;
    let mut b = Client::connect(node_b.addr).await;
    cross_node_contract(
        &mut a,
        &mut b,
        "a",
        "b",
        &Settle::new(AdapterKind::Classic, &[]),
    )
    .await;

    // A node that hangs (stopped, its connections open) is still counted by PUBSUB NUMSUB:
    // fetchSockets fails after the request timeout (3 s in the demo) instead of hanging, and
    // works again once it answers.
    node_b.signal("STOP");
    let started = std::time::Instant::now();
    let answer = a.call(r#"["fetch-sockets",null]"#).await;
    assert_eq!(
        answer,
        json!([{"error": "timeout: 0 of 1 servers answered"}]),
        "{answer} after {:?} (a {}, b {})",
        started.elapsed(),
        a.sid,
        b.sid
    );
    assert!(started.elapsed() >= Duration::from_millis(2900));
    node_b.signal("CONT");
    assert_eq!(
        a.call(r#"["fetch-sockets",null]"#).await,
        json!([sorted(&[&a.sid, &b.sid])])
    );

    // A node that dies closes its subscription: fetchSockets answers without it.
    node_b.kill();
    let alone = json!([[a.sid]]);
    let mut answer = Value::Null;
    for _ in 0..50 {
        answer = a.call(r#"["fetch-sockets",null]"#).await;
        if answer == alone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer, alone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_resumes_after_redis_restarts() {
    resumes_after_redis_restarts(AdapterKind::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_service_resumes_after_redis_restarts() {
    resumes_after_redis_restarts(AdapterKind::ShardedDynamic).await;
}

/// The Streams adapter: the stream's reader reconnects and reads on from its last entry (the
/// restarted Redis has an empty stream: later ids are larger, so nothing new is skipped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_service_resumes_after_redis_restarts() {
    resumes_after_redis_restarts(AdapterKind::Streams).await;
}

async fn resumes_after_redis_restarts(kind: AdapterKind) {
    let Some(mut redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    let Some(demo) = sio_demo_exe() else {
        return missing(
            "examples/sio_demo is not built: run the whole package, `cargo test -p wsx-sio --features redis`, which builds it with the feature",
        );
    };
    let node_a = wsx_node_on(&demo, &redis.url(), "a", kind, false);
    let node_b = wsx_node_on(&demo, &redis.url(), "b", kind, false);
    let mut a = Client::connect(node_a.addr).await;
    let mut b = Client::connect(node_b.addr).await;
    for client in [&mut a, &mut b] {
        assert_eq!(client.call(r#"["join","r"]"#).await, json!([true]));
    }
    a.emit(r#"["broadcast","before"]"#).await;
    for client in [&mut a, &mut b] {
        assert_eq!(client.expect("42").await, r#"42["broadcast","before"]"#);
    }

    // Redis gone: local delivery goes on, nothing hangs or panics.
    redis.kill();
    for n in 0..5 {
        a.emit(&format!(r#"["broadcast","down {n}"]"#)).await;
        assert_eq!(
            a.expect("42").await,
            format!(r#"42["broadcast","down {n}"]"#)
        );
    }
    let during = a.call(r#"["fetch-sockets",null]"#).await;
    assert!(during[0].get("error").is_some(), "{during}");

    // Redis back on the same port: both nodes reconnect and resubscribe.
    redis.restart();
    let mut resumed = false;
    for n in 0..60 {
        a.emit(&format!(r#"["broadcast","up {n}"]"#)).await;
        if b.wait_for(
            &format!(r#"42["broadcast","up {n}""#),
            Duration::from_millis(500),
        )
        .await
        .is_some()
        {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "cross-node broadcasts did not resume within 30 s");
    b.emit(r#"["to-room","r","after"]"#).await;
    assert_eq!(
        a.expect(r#"42["room-msg""#).await,
        r#"42["room-msg","after"]"#
    );
    assert_eq!(
        a.call(r#"["fetch-sockets","r"]"#).await,
        json!([sorted(&[&a.sid, &b.sid])])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsx_node_and_a_node_socket_io_server_share_one_cluster() {
    mixed_cluster(AdapterKind::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsx_node_and_a_node_socket_io_server_share_one_sharded_cluster() {
    mixed_cluster(AdapterKind::ShardedDynamic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsx_node_and_a_node_socket_io_server_share_one_static_sharded_cluster() {
    mixed_cluster(AdapterKind::ShardedStatic).await;
}

/// The Streams adapter (`@socket.io/redis-streams-adapter` 0.3 on the Node side, its
/// defaults): broadcasts and room changes through the stream, requests and broadcasts with
/// acknowledgements over classic pub/sub in MessagePack. Node's adapter has no `allRooms`
/// request and counts servers by subscription only (no heartbeats), so the contract has
/// neither; connection state recovery across the two is not built yet (streams/mod.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsx_node_and_a_node_socket_io_server_share_one_streams_cluster() {
    mixed_cluster(AdapterKind::Streams).await;
}

/// The same with `useShardedPubSub: true` on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsx_node_and_a_node_socket_io_server_share_one_streams_cluster_on_sharded_pub_sub() {
    mixed_cluster(AdapterKind::StreamsSharded).await;
}

/// A wsx node and a Node node on one Redis, with the adapter `kind` on both.
async fn mixed_cluster(kind: AdapterKind) {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    let Some(demo) = sio_demo_exe() else {
        return missing(
            "examples/sio_demo is not built: run the whole package, `cargo test -p wsx-sio --features redis`, which builds it with the feature",
        );
    };
    let Some(node) = node_node_on(&redis.url(), "node", kind, false) else {
        return missing(
            "node or the npm packages of crates/wsx-sio/tests/cluster/node_modules are not installed",
        );
    };
    let wsx = wsx_node_on(&demo, &redis.url(), "wsx", kind, false);
    let mut a = Client::connect(wsx.addr).await;
    let mut b = Client::connect(node.addr).await;
    let settle = Settle::new(kind, &[redis.port]);
    cross_node_contract(&mut a, &mut b, "wsx", "node", &settle).await;
    // And the other way round: the Node server's client first.
    let mut c = Client::connect(node.addr).await;
    let mut d = Client::connect(wsx.addr).await;
    for client in [&mut c, &mut d] {
        assert_eq!(client.call(r#"["join","s"]"#).await, json!([true]));
    }
    settle.room("s", 2);
    c.emit(r#"["to-room","s","node to wsx"]"#).await;
    assert_eq!(
        d.expect(r#"42["room-msg""#).await,
        r#"42["room-msg","node to wsx"]"#
    );
    assert_eq!(
        d.call(r#"["fetch-sockets","s"]"#).await,
        json!([sorted(&[&c.sid, &d.sid])])
    );

    // A Node broadcast with acknowledgements to the room (the asker is in it too): the wsx
    // node counts its clients and sends their acks back through Redis.
    c.raw.send(r#"42900["ask-room","s","q?"]"#).await;
    answer_question(&mut c, "from node").await;
    answer_question(&mut d, "from wsx").await;
    assert_eq!(
        ask_result(&mut c, "43900").await,
        (false, vec!["from node".to_owned(), "from wsx".to_owned()])
    );
    // And a wsx broadcast with acknowledgements: the Node node reports its client count,
    // then forwards its client's ack.
    d.raw.send(r#"42901["ask-room","s","q?"]"#).await;
    answer_question(&mut c, "node answers wsx").await;
    answer_question(&mut d, "wsx answers wsx").await;
    assert_eq!(
        ask_result(&mut d, "43901").await,
        (
            false,
            vec!["node answers wsx".to_owned(), "wsx answers wsx".to_owned()]
        )
    );
    // A silent member on the other node: the ask times out (1,500 ms) with the answer that
    // came, from either side.
    ask_with_a_silent_member(&mut d, &mut c, 902).await;
    ask_with_a_silent_member(&mut c, &mut d, 903).await;
    // An empty room, from the wsx side: at once, nothing timed out.
    d.raw.send(r#"42904["ask-room","nobody","q?"]"#).await;
    assert_eq!(ask_result(&mut d, "43904").await, (false, Vec::new()));

    // disconnectSockets reaches the other server's sockets, from either side.
    disconnect_across(&mut d, &mut c, "bye-node").await;
    let mut e = Client::connect(wsx.addr).await;
    let mut f = Client::connect(node.addr).await;
    disconnect_across(&mut f, &mut e, "bye-wsx").await;
}

/// `target` (on one server) joins `room`; `asker` (on the other) disconnects the room's
/// sockets: `target` gets DISCONNECT.
async fn disconnect_across(asker: &mut Client, target: &mut Client, room: &str) {
    let join = json!(["join", room]).to_string();
    assert_eq!(target.call(&join).await, json!([true]));
    until_fetched(asker, room, json!([target.sid])).await;
    let ask = json!(["disconnect-sockets", room]).to_string();
    assert_eq!(asker.call(&ask).await, json!([true]));
    assert_eq!(target.expect("41").await, "41");
}

/// `asker` asks room `s`, answers its own question; `silent` (on the other node) does not:
/// the ask times out at 1,500 ms with the one answer.
async fn ask_with_a_silent_member(asker: &mut Client, silent: &mut Client, id: u32) {
    asker
        .raw
        .send(&format!(r#"42{id}["ask-room","s","q?"]"#))
        .await;
    let started = std::time::Instant::now();
    answer_question(asker, "only me").await;
    let question = silent.expect("42").await;
    assert!(question.ends_with(r#"["question","q?"]"#), "{question}");
    assert_eq!(
        ask_result(asker, &format!("43{id}")).await,
        (true, vec!["only me".to_owned()])
    );
    assert!(started.elapsed() >= Duration::from_millis(1400));
}

/// Reads the ack `prefix[{"timedOut": .., "responses": [..]}]` of an `ask-room`: whether it
/// timed out, and the (string) responses, sorted.
async fn ask_result(client: &mut Client, prefix: &str) -> (bool, Vec<String>) {
    let answer = client.expect(prefix).await;
    let json: Value = serde_json::from_str(&answer[prefix.len()..]).expect("ack JSON");
    let result = &json[0];
    let mut got: Vec<String> = result["responses"]
        .as_array()
        .unwrap_or_else(|| panic!("no responses: {answer}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    got.sort();
    (
        result["timedOut"]
            .as_bool()
            .unwrap_or_else(|| panic!("no timedOut: {answer}")),
        got,
    )
}

/// Waits for `42<id>["question","q?"]` and answers it.
async fn answer_question(client: &mut Client, reply: &str) {
    let question = client.expect("42").await;
    let id = question
        .strip_prefix("42")
        .and_then(|rest| rest.strip_suffix(r#"["question","q?"]"#))
        .unwrap_or_else(|| panic!("not a question with an ack id: {question}"));
    client.raw.send(&format!(r#"43{id}["{reply}"]"#)).await;
}

/// In-process: one wsx server on the Redis adapter, Redis killed and restarted under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_emits_are_local_and_failures_are_counted_then_it_reconnects() {
    let Some(mut redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    let options = RedisOptions {
        requests_timeout: Duration::from_millis(500),
        ..RedisOptions::default()
    };
    let handle = Redis::connect(&redis.url(), options)
        .await
        .expect("connects");
    let io = Server::with_adapter(Config::default(), handle.factory());
    io.on_connection(|socket: Socket| async move { socket.join("r") });
    let addr = common::start(&io).await;
    let mut client = Client::connect(addr).await;
    let hub = io.of("/").hub();
    // The namespace subscribes in the background.
    assert!(handle.wait_subscribed(Duration::from_secs(10)).await);
    assert_eq!(hub.server_count().await.ok(), Some(1));

    redis.kill();
    let failures_before = handle.publish_failures();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while handle.publish_failures() == failures_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no publish failure counted"
        );
        // Local delivery does not wait for Redis: the local socket has it at once.
        assert_eq!(hub.to("r").emit("x", &n).ok(), Some(1));
        assert_eq!(client.expect("42").await, format!(r#"42["x",{n}]"#));
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Requests fail (not hang) while Redis is away.
    let fetched = tokio::time::timeout(Duration::from_secs(10), hub.fetch_sockets())
        .await
        .expect("fetch_sockets returned");
    assert!(
        matches!(
            fetched,
            Err(AdapterError::Unavailable(_) | AdapterError::Timeout { .. })
        ),
        "{fetched:?}"
    );

    redis.restart();
    assert!(
        handle.wait_subscribed(Duration::from_secs(10)).await,
        "not resubscribed"
    );
    assert_eq!(hub.server_count().await.ok(), Some(1));
    let fetched = hub.fetch_sockets().await.expect("fetch_sockets");
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].id(), client.sid);
}

/// The sharded adapter on a Redis Cluster of three shards, created by the test: a wsx node
/// and a Node node (dynamic mode) pass the cross-node contract, and the channels of the rooms
/// their clients join are spread over the shards: each room's channel is subscribed on one
/// shard only (`PUBSUB SHARDCHANNELS` on each node), by both servers (`PUBSUB SHARDNUMSUB`
/// summed over the nodes), and every shard holds some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharded_adapter_spreads_its_channels_over_a_redis_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return missing("redis-server or redis-cli is not installed");
    };
    let Some(demo) = sio_demo_exe() else {
        return missing(
            "examples/sio_demo is not built: run the whole package, `cargo test -p wsx-sio --features redis`, which builds it with the feature",
        );
    };
    let urls = cluster.urls();
    let kind = AdapterKind::ShardedDynamic;
    let Some(node) = node_node_on(&urls, "node", kind, true) else {
        return missing(
            "node or the npm packages of crates/wsx-sio/tests/cluster/node_modules are not installed",
        );
    };
    let wsx = wsx_node_on(&demo, &urls, "wsx", kind, true);
    let mut a = Client::connect(wsx.addr).await;
    let mut b = Client::connect(node.addr).await;
    let settle = Settle::new(kind, &cluster.ports);
    cross_node_contract(&mut a, &mut b, "wsx", "node", &settle).await;

    let rooms: Vec<String> = (0..12).map(|i| format!("room-{i}")).collect();
    for room in &rooms {
        let join = json!(["join", room]).to_string();
        for client in [&mut a, &mut b] {
            assert_eq!(client.call(&join).await, json!([true]));
        }
    }
    for room in &rooms {
        // Both servers subscribe it (Node may still be connecting to the shard).
        settle.room(room, 2);
    }
    let channel = |room: &str| format!("socket.io#/#{room}#");
    let per_shard: Vec<Vec<String>> = cluster
        .ports
        .iter()
        .map(|&port| {
            cluster
                .cli(port, &["PUBSUB", "SHARDCHANNELS", "socket.io#/#room-*"])
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    for room in &rooms {
        let holders = per_shard
            .iter()
            .filter(|channels| channels.contains(&channel(room)))
            .count();
        assert_eq!(holders, 1, "{room} on one shard: {per_shard:?}");
    }
    for (port, channels) in cluster.ports.iter().zip(&per_shard) {
        assert!(
            !channels.is_empty(),
            "the shard on port {port} holds no room channel: {per_shard:?}"
        );
    }
    // Each room's emits cross on its own shard, both ways.
    for room in &rooms {
        let expected = format!("42{}", json!(["room-msg", room]));
        a.emit(&json!(["to-room", room, room]).to_string()).await;
        assert_eq!(b.expect("42").await, expected);
        b.emit(&json!(["to-room", room, room]).to_string()).await;
        assert_eq!(a.expect("42").await, expected);
    }
}

/// In-process, the sharded adapter's dynamic mode: a room's channel is subscribed while the
/// room has a socket on this server (on its first join, until its last leave or disconnect),
/// never for a room named like a socket id (20 characters: Node publishes those on the
/// namespace channel); the static mode subscribes the namespace's two channels only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamic_mode_subscribes_a_room_channel_while_the_room_has_a_local_socket() {
    use wsx_sio::adapter::redis::sharded::{ShardedOptions, ShardedRedis, SubscriptionMode};
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server is not installed");
    };
    for mode in [SubscriptionMode::Dynamic, SubscriptionMode::Static] {
        let options = ShardedOptions {
            subscription_mode: mode,
            ..ShardedOptions::default()
        };
        let handle = ShardedRedis::connect(&redis.url(), options)
            .await
            .expect("connects");
        let io = Server::with_adapter(Config::default(), handle.factory());
        io.on_connection(|socket: Socket| async move {
            socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
                s.join(room);
                let _ = ack.send(&true);
            });
            socket.on_with_ack("leave", |s: Socket, room: String, ack| async move {
                s.leave(&room);
                let _ = ack.send(&true);
            });
        });
        let addr = common::start(&io).await;
        let mut a = Client::connect(addr).await;
        let mut b = Client::connect(addr).await;
        assert!(handle.wait_subscribed(Duration::from_secs(10)).await);
        let own = vec![
            "socket.io#/#".to_owned(),
            format!("socket.io#/#{}#", handle.uid()),
        ];
        let mut with_room = own.clone();
        if mode == SubscriptionMode::Dynamic {
            with_room.push("socket.io#/#r#".to_owned());
        }
        let sorted = |mut channels: Vec<String>| {
            channels.sort();
            channels
        };
        let (own, with_room) = (sorted(own), sorted(with_room));
        let channels = || {
            let handle = handle.clone();
            async move {
                assert!(handle.wait_subscribed(Duration::from_secs(10)).await);
                handle.subscribed_channels()
            }
        };
        assert_eq!(channels().await, own, "{mode:?}");
        for client in [&mut a, &mut b] {
            assert_eq!(client.call(r#"["join","r"]"#).await, json!([true]));
        }
        let like_a_sid = "abcdefghij0123456789";
        assert_eq!(
            a.call(&json!(["join", like_a_sid]).to_string()).await,
            json!([true])
        );
        assert_eq!(channels().await, with_room, "{mode:?}");
        // Redis counts this server on the room's channel.
        let expected = usize::from(mode == SubscriptionMode::Dynamic);
        assert_eq!(
            harness::shard_subscribers(&[redis.port], "socket.io#/#r#"),
            expected
        );
        // One socket leaves: the room still has the other.
        assert_eq!(a.call(r#"["leave","r"]"#).await, json!([true]));
        assert_eq!(channels().await, with_room, "{mode:?}");
        // The last one disconnects: the channel is unsubscribed.
        drop(b);
        let mut now = Vec::new();
        for _ in 0..100 {
            now = handle.subscribed_channels();
            if now == own {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(now, own, "{mode:?}");
        let mut count = usize::MAX;
        for _ in 0..100 {
            count = harness::shard_subscribers(&[redis.port], "socket.io#/#r#");
            if count == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(count, 0, "{mode:?}");
        drop(a);
        io.shutdown().await;
    }
}
