//! One adapter test suite, run against every adapter, as socketioxide runs its adapters': the
//! in-memory adapter (one server), the Redis adapter, the sharded Redis adapter in both
//! subscription modes and the Streams adapter on classic and on sharded pub/sub (feature
//! `redis`: two servers on a real `redis-server`; and `adapters/streams_pubsub.rs`, its
//! messages against Node's bytes). Broadcasts (rooms, exceptions, `local`), rooms (`socketsJoin`,
//! `socketsLeave`, `allRooms`), `fetchSockets` (and a `RemoteSocket`'s operations), requests
//! (`serverCount`, server-side events with acks), acknowledgements both ways,
//! `disconnectSockets`, `socket.data` seen through `fetchSockets`, and `shutdown` closing the
//! adapter.
//!
//! The expectations are written for a cluster of `n` servers with a client on each (three on
//! the first), so that one suite says what every adapter must do; with one server the
//! cross-server parts degenerate to the local ones.

mod common;
#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;
mod skip;
#[cfg(feature = "redis")]
#[path = "adapters/streams_pubsub.rs"]
mod streams_pubsub;

use harness::Client;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use wsx_sio::{Args, Server, Socket};

/// Waits until what the servers subscribe to is subscribed (the sharded adapter's dynamic
/// mode subscribes a room's channel when a socket joins it, in the background).
type Settle = Box<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The servers of one cluster, each serving on loopback.
struct Cluster {
    servers: Vec<Server>,
    addrs: Vec<SocketAddr>,
    sync: Option<Settle>,
}

/// The handlers every server of the suite has.
fn install(io: &Server, name: &str) {
    let name = name.to_owned();
    io.on_connection(|socket: Socket| async move {
        // Node's `socket.data`, which fetchSockets carries across servers.
        socket.set_data(json!({ "user": format!("u-{}", socket.id()) }));
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
        socket.on_with_ack("leave", |s: Socket, room: String, ack| async move {
            s.leave(&room);
            let _ = ack.send(&true);
        });
        socket.on_with_ack("echo", |_s: Socket, args: Args, ack| async move {
            let _ = ack.send_args(args);
        });
    });
    io.of("/").on_server_side("who", move |_args, ack| {
        let name = name.clone();
        async move {
            let _ = ack.send(&name);
        }
    });
}

impl Cluster {
    async fn start(servers: Vec<Server>) -> Self {
        let mut addrs = Vec::new();
        for (i, io) in servers.iter().enumerate() {
            install(io, &format!("s{i}"));
            addrs.push(common::start(io).await);
        }
        Self {
            servers,
            addrs,
            sync: None,
        }
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Waits until `check` holds (networked adapters deliver asynchronously), at most 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 10 s: {what}");
}

async fn suite(cluster: Cluster) {
    let n = cluster.servers.len();
    let first = cluster.servers[0].of("/");
    let last = cluster.servers[n - 1].of("/");
    // Three clients on the first server, one on each other.
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(cluster.addrs[0]).await);
    }
    for addr in &cluster.addrs[1..] {
        clients.push(Client::connect(*addr).await);
    }
    let all_ids = sorted(clients.iter().map(|c| c.sid.clone()).collect());
    let on_first = 3;
    let quiet = Duration::from_millis(300);

    // Requests: every server counts, and answers a server-side event with an ack.
    assert_eq!(first.server_count().await.ok(), Some(n));
    let mut names = first
        .server_side_emit_with_ack("who", &())
        .await
        .expect("answers");
    names.sort_by_key(Value::to_string);
    let others: Vec<Value> = (1..n).map(|i| json!(format!("s{i}"))).collect();
    assert_eq!(names, others, "one answer per other server");

    // Rooms: the second client of the first server and the last client join "r".
    let in_r = [1, clients.len() - 1];
    for &i in &in_r {
        assert_eq!(clients[i].call(r#"["join","r"]"#).await, json!([true]));
    }
    if let Some(sync) = &cluster.sync {
        sync().await;
    }

    // Broadcasts: the whole namespace, from the last server.
    assert_eq!(last.emit("all", &1).ok(), Some(if n == 1 { 3 } else { 1 }));
    for client in &mut clients {
        assert_eq!(client.expect("42").await, r#"42["all",1]"#);
    }
    // A room, minus a room (a socket id is a room), from the first server.
    let except = clients[1].sid.clone();
    first.to("r").except(except).emit("r", &2).expect("emit");
    for (i, client) in clients.iter_mut().enumerate() {
        if i == clients_len_minus_one(n) {
            assert_eq!(client.expect("42").await, r#"42["r",2]"#);
        } else {
            assert!(
                client.quiet("42", quiet).await,
                "client {i} is not addressed"
            );
        }
    }
    // `local`: this server's sockets only.
    assert_eq!(first.local().emit("local", &3).ok(), Some(on_first));
    for client in &mut clients[..on_first] {
        assert_eq!(client.expect("42").await, r#"42["local",3]"#);
    }
    for client in &mut clients[on_first..] {
        assert!(client.quiet("42", quiet).await, "another server's socket");
    }

    // fetchSockets: every socket of the cluster, with its rooms; the room's only.
    let found = first.fetch_sockets().await.expect("fetch");
    assert_eq!(
        sorted(found.iter().map(|s| s.id().to_owned()).collect()),
        all_ids
    );
    for socket in &found {
        assert_eq!(socket.rooms()[0], socket.id(), "its own id first");
        assert_eq!(
            socket.data(),
            &json!({ "user": format!("u-{}", socket.id()) }),
            "socket.data, from any server"
        );
        let local = clients[..on_first].iter().any(|c| c.sid == socket.id());
        assert_eq!(
            socket.local().is_some(),
            local,
            "local() on this server only"
        );
    }
    let found_in_r = first.to("r").fetch_sockets().await.expect("fetch");
    let want_in_r = sorted(in_r.iter().map(|&i| clients[i].sid.clone()).collect());
    assert_eq!(
        sorted(found_in_r.iter().map(|s| s.id().to_owned()).collect()),
        want_in_r
    );
    for socket in &found_in_r {
        assert!(
            socket.rooms().iter().any(|r| r == "r"),
            "{:?}",
            socket.rooms()
        );
    }
    // A RemoteSocket's operations reach it wherever it is connected.
    let far_id = clients[clients.len() - 1].sid.clone();
    let far = found
        .iter()
        .find(|s| s.id() == far_id)
        .expect("the last client is found");
    far.emit("direct", &4).expect("emit");
    let far_client = clients.last_mut().expect("a client");
    assert_eq!(far_client.expect("42").await, r#"42["direct",4]"#);
    far.join("far");
    eventually("the RemoteSocket joined", || {
        let first = first.clone();
        async move {
            first
                .to("far")
                .fetch_sockets()
                .await
                .is_ok_and(|found| found.len() == 1)
        }
    })
    .await;

    // socketsJoin / socketsLeave / allRooms, across the cluster.
    first.sockets_join("everyone");
    eventually("every socket joined", || {
        let first = first.clone();
        let want = all_ids.clone();
        async move {
            let found = first.to("everyone").fetch_sockets().await;
            found.is_ok_and(|f| sorted(f.iter().map(|s| s.id().to_owned()).collect()) == want)
        }
    })
    .await;
    let rooms = first.all_rooms().await.expect("rooms");
    for room in ["r", "everyone", "far"].iter().map(|r| r.to_string()) {
        assert!(rooms.contains(&room), "{room} in {rooms:?}");
    }
    for id in &all_ids {
        assert!(rooms.contains(id), "a socket id is a room");
    }
    last.to("r").sockets_leave("everyone");
    eventually("the room's sockets left", || {
        let first = first.clone();
        async move {
            first
                .to("everyone")
                .fetch_sockets()
                .await
                .is_ok_and(|f| f.len() == clients_count(n) - 2)
        }
    })
    .await;

    // Acknowledgements: the client's, answered by its server; the server's, answered by the
    // client.
    assert_eq!(
        clients[0].call(r#"["echo","a",{"b":1}]"#).await,
        json!(["a", {"b": 1}])
    );
    let local = found
        .iter()
        .find_map(|s| s.local().cloned())
        .expect("a socket of this server");
    let client = clients
        .iter_mut()
        .find(|c| c.sid == local.id().as_str())
        .expect("its client");
    let waiting = local.emit_with_ack("ask", &5);
    let ask = client.expect("42").await;
    let id: String = ask[2..].chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(&ask[2 + id.len()..], r#"["ask",5]"#);
    client.raw.send(&format!("43{id}[\"yes\"]")).await;
    assert_eq!(waiting.await.expect("ack").values, vec![json!("yes")]);

    // disconnectSockets: every client gets DISCONNECT.
    last.to("r").disconnect_sockets(false);
    for &i in &in_r {
        assert_eq!(clients[i].expect("41").await, "41");
    }

    // Shutting the last server down closes its adapter: the others stop counting it.
    drop(clients);
    cluster.servers[n - 1].shutdown().await;
    if n > 1 {
        eventually("the others stop counting a server shut down", || {
            let first = first.clone();
            async move { first.server_count().await.ok() == Some(n - 1) }
        })
        .await;
    }
    for server in &cluster.servers[..n - 1] {
        server.shutdown().await;
    }
}

/// Which client the room-minus-exception broadcast reaches: the last one.
fn clients_len_minus_one(n: usize) -> usize {
    clients_count(n) - 1
}

fn clients_count(n: usize) -> usize {
    3 + (n - 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_adapter() {
    suite(Cluster::start(vec![Server::default()]).await).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_adapter() {
    use wsx_sio::adapter::redis::{Redis, RedisOptions};
    let Some(redis_server) = harness::RedisServer::start() else {
        harness::missing("redis-server is not installed");
        return;
    };
    let mut servers = Vec::new();
    let mut links = Vec::new();
    for _ in 0..2 {
        let redis = Redis::connect(&redis_server.url(), RedisOptions::default())
            .await
            .expect("Redis");
        servers.push(Server::with_adapter(
            wsx_sio::Config::default(),
            redis.factory(),
        ));
        links.push(redis);
    }
    for redis in &links {
        assert!(redis.wait_subscribed(Duration::from_secs(10)).await);
    }
    suite(Cluster::start(servers).await).await;
    drop(redis_server);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_redis_adapter() {
    sharded(wsx_sio::adapter::redis::sharded::SubscriptionMode::Dynamic).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_sharded_redis_adapter() {
    sharded(wsx_sio::adapter::redis::sharded::SubscriptionMode::Static).await;
}

#[cfg(feature = "redis")]
async fn sharded(mode: wsx_sio::adapter::redis::sharded::SubscriptionMode) {
    use wsx_sio::adapter::redis::sharded::{ShardedOptions, ShardedRedis};
    let Some(redis_server) = harness::RedisServer::start() else {
        harness::missing("redis-server is not installed");
        return;
    };
    let options = ShardedOptions {
        subscription_mode: mode,
        ..ShardedOptions::default()
    };
    let mut servers = Vec::new();
    let mut links = Vec::new();
    for _ in 0..2 {
        let redis = ShardedRedis::connect(&redis_server.url(), options.clone())
            .await
            .expect("Redis");
        servers.push(Server::with_adapter(
            wsx_sio::Config::default(),
            redis.factory(),
        ));
        links.push(redis);
    }
    for redis in &links {
        assert!(redis.wait_subscribed(Duration::from_secs(10)).await);
    }
    let mut cluster = Cluster::start(servers).await;
    cluster.sync = Some(Box::new(move || {
        let links = links.clone();
        Box::pin(async move {
            for redis in &links {
                assert!(redis.wait_subscribed(Duration::from_secs(10)).await);
            }
        })
    }));
    suite(cluster).await;
    drop(redis_server);
}

/// The Streams adapter: broadcasts and room changes through one Redis stream, requests over
/// classic pub/sub (Node's default).
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_redis_adapter() {
    streams(false).await;
}

/// The same, requests over sharded pub/sub (Node's `useShardedPubSub`).
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_redis_adapter_on_sharded_pub_sub() {
    streams(true).await;
}

#[cfg(feature = "redis")]
async fn streams(use_sharded_pub_sub: bool) {
    use wsx_sio::adapter::redis::streams::{StreamsOptions, StreamsRedis};
    let Some(redis_server) = harness::RedisServer::start() else {
        harness::missing("redis-server is not installed");
        return;
    };
    let mut servers = Vec::new();
    let mut links = Vec::new();
    for _ in 0..2 {
        let options = StreamsOptions {
            use_sharded_pub_sub,
            ..StreamsOptions::default()
        };
        let redis = StreamsRedis::connect(&redis_server.url(), options)
            .await
            .expect("Redis");
        servers.push(Server::with_adapter(
            wsx_sio::Config::default(),
            redis.factory(),
        ));
        links.push(redis);
    }
    for redis in &links {
        assert!(redis.wait_subscribed(Duration::from_secs(10)).await);
    }
    suite(Cluster::start(servers).await).await;
    assert_eq!(links[0].publish_failures() + links[1].publish_failures(), 0);
    drop(redis_server);
}

/// What the Streams adapter writes is what Node's `@socket.io/redis-streams-adapter` 0.3
/// writes: one entry per broadcast, its fields as Node's reader expects them (`data` as
/// `JSON.stringify` prints it), read back from a real Redis.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_entries_are_what_node_reads() {
    use wsx_sio::adapter::redis::streams::{StreamsOptions, StreamsRedis};
    let Some(redis_server) = harness::RedisServer::start() else {
        harness::missing("redis-server is not installed");
        return;
    };
    let redis = StreamsRedis::connect(&redis_server.url(), StreamsOptions::default())
        .await
        .expect("Redis");
    let io = Server::with_adapter(wsx_sio::Config::default(), redis.factory());
    assert!(redis.wait_subscribed(Duration::from_secs(10)).await);
    io.of("/").to("r").emit("ev", &1).expect("emitted");
    let client = redis::Client::open(redis_server.url()).expect("a URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    eventually("the broadcast is in the stream", || {
        let mut conn = conn.clone();
        async move {
            let read: redis::Value = redis::cmd("XRANGE")
                .arg("socket.io")
                .arg("-")
                .arg("+")
                .query_async(&mut conn)
                .await
                .expect("XRANGE");
            !matches!(&read, redis::Value::Array(items) if items.is_empty())
        }
    })
    .await;
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("socket.io")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    assert_eq!(entries.len(), 1);
    let fields: Vec<(&str, &str)> = entries[0]
        .1
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("uid", redis.uid()),
            ("nsp", "/"),
            ("type", "3"),
            (
                "data",
                r#"{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["r"],"except":[],"flags":{}}}"#
            ),
        ]
    );
    drop(redis_server);
}
