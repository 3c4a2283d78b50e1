//! Connection state recovery across servers through the Redis Streams adapter (feature
//! `redis`, a real `redis-server` on a free loopback port started by each test): a client
//! lost on one wsx node recovers on another with its id, its rooms and every packet it missed,
//! once and in order; a storm of recovering clients costs a bounded number of Redis reads
//! (the per-node ring of the stream's tail, one shared `XRANGE` for older spans, batched
//! session keys), printed beside what Node's `restoreSession` costs for the same storm.
//!
//! A mixed cluster: a client lost on a wsx node recovers on a Node server with
//! `@socket.io/redis-streams-adapter` 0.3.1 (`tests/cluster/node_server.js`,
//! `NODE_SERVER_RECOVERY_MS`), and back; the storm measured on that Node server too.
//!
//! And a node killed mid-session (SIGKILL, issue 27 §4): its clients reconnect to the other
//! node and recover, because sessions are in Redis while their sockets live.
//!
//! Without `redis-server` (or node and `npm ci` in `tests/cluster`, for the Node parts) each
//! test prints a `SKIPPED` line, unless `WSX_REQUIRE_REDIS` is set
//! (CI), which makes it fail.
#![cfg(feature = "redis")]

mod common;
#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "client_support/recording.rs"]
mod recording;
mod skip;

use harness::{RedisServer, missing};
use recording::{drain, payloads, wait_until};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::sync::watch;
use tokio::time::timeout;
use wsx_sio::adapter::redis::streams::{StreamsOptions, StreamsRedis};
use wsx_sio::client::{ClientOptions, Manager, Transports};
use wsx_sio::{Args, Config, Server, Socket};

/// A wsx node on the Streams adapter with recovery through it: sockets join `everyone` as
/// they connect; `join(room)` and `recovered` answer with acks.
async fn node(redis: &RedisServer) -> (Server, SocketAddr) {
    let streams = StreamsRedis::connect(&redis.url(), StreamsOptions::default())
        .await
        .expect("the streams adapter connects");
    let config = Config {
        recovery: Some(streams.recovery(Duration::from_secs(60))),
        ..Config::default()
    };
    let io = Server::with_adapter(config, streams.factory());
    io.on_connection(|socket: Socket| async move {
        socket.join("everyone");
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
        socket.on_with_ack("recovered", |s: Socket, _: Args, ack| async move {
            let _ = ack.send(&s.recovered());
        });
    });
    assert!(streams.wait_subscribed(Duration::from_secs(10)).await);
    let addr = common::start(&io).await;
    (io, addr)
}

/// A loopback TCP proxy whose upstream can change: the client's network moves it to
/// another node, as a balancer does when the first one is gone.
struct Switch {
    addr: SocketAddr,
    upstream: watch::Sender<(SocketAddr, u64)>,
}

impl Switch {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = watch::channel((upstream, 0));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut rx = rx.clone();
                let (target, generation) = *rx.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = rx.wait_for(|(_, g)| *g != generation) => {}
                    }
                });
            }
        });
        Self { addr, upstream: tx }
    }

    /// Cuts every open connection; new ones go to `upstream`.
    fn cut_to(&self, upstream: SocketAddr) {
        self.upstream.send_modify(|(to, generation)| {
            *to = upstream;
            *generation += 1;
        });
    }
}

/// `redis-cli -p PORT ARGS..`'s output.
fn cli(redis: &RedisServer, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &redis.port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many session keys Redis holds.
fn sessions(redis: &RedisServer) -> usize {
    cli(redis, &["--scan", "--pattern", "sio:session:*"])
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

/// Calls per command since Redis started (`INFO commandstats`).
fn command_calls(redis: &RedisServer) -> HashMap<String, u64> {
    cli(redis, &["INFO", "commandstats"])
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

fn delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>, name: &str) -> u64 {
    after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_lost_on_one_node_recovers_on_another_with_everything_it_missed() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server");
    };
    let (a, addr_a) = node(&redis).await;
    let (b, addr_b) = node(&redis).await;
    let switch = Switch::start(addr_a).await;
    let mut roamer = Roamer::join(switch.addr).await;
    let Roamer { s, .. } = &roamer;
    assert!(!s.recovered());
    a.of("/")
        .to("rec")
        .emit("room-msg", &"before")
        .expect("emit");
    assert_eq!(roamer.drain("before").await, vec![json!("before")]);

    // The connection drops; node A keeps the session in Redis, as Node's adapter does.
    switch.cut_to(addr_b);
    wait_until("node A saw it go", || a.of("/").local_count() == 0).await;
    assert_eq!(sessions(&redis), 1);
    // Meanwhile both nodes send to the room and to everyone, and elsewhere.
    for i in 1..=10 {
        a.of("/")
            .to("rec")
            .emit("room-msg", &format!("missed-{i}"))
            .expect("emit");
    }
    a.of("/")
        .to("elsewhere")
        .emit("room-msg", &"not-for-it")
        .expect("emit");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 11..=20 {
        b.of("/")
            .to("rec")
            .emit("room-msg", &format!("missed-{i}"))
            .expect("emit");
    }
    b.of("/")
        .except("rec")
        .emit("room-msg", &"not-for-it-either")
        .expect("emit");
    b.of("/")
        .emit("broadcast", &"missed-broadcast")
        .expect("emit");

    // It comes back through node B: same id, same room, the 21 packets once and in order.
    roamer.came_back().await;
    let s = &roamer.s;
    let server_says: bool = s.emit_with_ack_as("recovered", &()).await.expect("ack");
    assert!(server_says, "node B says it was not recovered");
    assert_eq!(a.of("/").local_count(), 0);
    assert_eq!(b.of("/").local_count(), 1);
    let mut want: Vec<Value> = (1..=20).map(|i| json!(format!("missed-{i}"))).collect();
    want.push(json!("missed-broadcast"));
    assert_eq!(roamer.drain("missed-broadcast").await, want);
    // Its room is back, on B, for both nodes' emits.
    b.of("/")
        .to("rec")
        .emit("room-msg", &"after-b")
        .expect("emit");
    assert_eq!(roamer.drain("after-b").await, vec![json!("after-b")]);
    a.of("/")
        .to("rec")
        .emit("room-msg", &"after-a")
        .expect("emit");
    assert_eq!(roamer.drain("after-a").await, vec![json!("after-a")]);
    assert!(
        timeout(Duration::from_millis(300), roamer.got.recv())
            .await
            .is_err(),
        "nothing more"
    );
    roamer.s.disconnect();
}

/// A client that connects through a [`Switch`] and joins room `rec`: what it gets, and its
/// reconnections.
struct Roamer {
    s: wsx_sio::client::Socket,
    got: UnboundedReceiver<Value>,
    reconnected: UnboundedReceiver<u32>,
    id: String,
}

impl Roamer {
    async fn join(switch: SocketAddr) -> Self {
        let s = Manager::new(&format!("http://{switch}"), client_options())
            .expect("manager")
            .socket("/");
        let got = payloads(&s);
        let (reconnected_tx, reconnected) = unbounded_channel();
        s.manager().on_reconnect(move |n| {
            let _ = reconnected_tx.send(n);
        });
        s.connect().await.expect("connect");
        let id = s.id().expect("an id");
        let joined: bool = s.emit_with_ack_as("join", &"rec").await.expect("join");
        assert!(joined);
        Self {
            s,
            got,
            reconnected,
            id,
        }
    }

    /// What it got up to and including `until`.
    async fn drain(&mut self, until: &str) -> Vec<Value> {
        drain(&mut self.got, until).await
    }

    /// It reconnected after its connection was cut, and was recovered with its id.
    async fn came_back(&mut self) {
        timeout(Duration::from_secs(10), self.reconnected.recv())
            .await
            .expect("reconnected in time");
        wait_until("connected again", || self.s.connected()).await;
        assert!(self.s.recovered(), "not recovered");
        assert_eq!(self.s.id().as_deref(), Some(self.id.as_str()), "a new id");
    }
}

/// A `sio_demo` process named `name` with the Streams adapter and recovery on.
fn streams_node(exe: &std::path::Path, redis: &RedisServer, name: &str) -> harness::Process {
    let (url, kind) = (redis.url(), harness::AdapterKind::Streams);
    harness::wsx_node_with(exe, &url, name, kind, &["--recovery"])
}

/// The client's options: quick reconnections, WebSocket only (a polling session cut before
/// its upgrade is seen gone by the server only at its ping timeout; recovery is the same on
/// either transport, `tests/client_recovery.rs`).
fn client_options() -> ClientOptions {
    ClientOptions {
        reconnection_delay: Duration::from_millis(100),
        reconnection_delay_max: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        transports: Transports::WebSocket,
        ..ClientOptions::default()
    }
}

/// The `--name` of the server the client is on (`node-name`, acked; no argument, as Node's
/// handler takes the ack first).
async fn node_name(s: &wsx_sio::client::Socket) -> String {
    let answer = s
        .emit_args_with_ack("node-name", Args::new(), Duration::from_secs(5))
        .await
        .expect("node-name ack");
    answer.values[0].as_str().expect("a name").to_owned()
}

/// A raw client of the storm: its ids and the offset of the last packet it got.
struct Lost {
    sid: String,
    pid: String,
    offset: String,
}

/// An event packet's arguments (`42["event", ...]`).
fn event_args(text: &str) -> Option<Vec<Value>> {
    let json = text.strip_prefix("42")?;
    serde_json::from_str::<Value>(json)
        .ok()?
        .as_array()
        .map(|a| a[1..].to_vec())
}

/// Connects to `addr` (with `auth` in CONNECT); answers with the CONNECT answer's JSON and
/// the events that came before it (Node's recovered socket sends its missed packets first,
/// which socket.io-client buffers until the answer).
async fn connect(addr: SocketAddr, auth: &Value) -> (common::Raw, Value, Vec<Vec<Value>>) {
    let mut raw = common::Raw::connect(addr).await;
    raw.send(&format!("40{auth}")).await;
    let mut early = Vec::new();
    loop {
        let text = raw.text().await;
        if let Some(json) = text.strip_prefix("40") {
            return (raw, serde_json::from_str(json).expect("JSON"), early);
        }
        match event_args(&text) {
            Some(args) => early.push(args),
            None => panic!("not a CONNECT answer: {text}"),
        }
    }
}

/// The next `count` `tick`s' arguments.
async fn ticks(raw: &mut common::Raw, count: usize) -> Vec<Vec<Value>> {
    let mut got = Vec::new();
    while got.len() < count {
        if let Some(args) = event_args(&raw.text().await) {
            got.push(args);
        }
    }
    got
}

/// `n` clients connected to `addr`, each given tick `first` (its offset), then dropped.
async fn lost_clients(addr: SocketAddr, io: &Server, n: usize, tick: i64) -> Vec<Lost> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let (raw, answer, _) = connect(addr, &json!({})).await;
        clients.push((raw, answer));
    }
    io.of("/").to("everyone").emit("tick", &tick).expect("emit");
    let mut lost = Vec::with_capacity(n);
    for (mut raw, answer) in clients {
        let args = ticks(&mut raw, 1).await.remove(0);
        assert_eq!(args[0], json!(tick));
        lost.push(Lost {
            sid: answer["sid"].as_str().expect("sid").to_owned(),
            pid: answer["pid"].as_str().expect("pid").to_owned(),
            offset: args[1].as_str().expect("an offset").to_owned(),
        });
    }
    lost
}

/// All of `lost` recover on `addr` at once (at most `at_once` connecting at a time); each
/// must get its id back and the ticks `missed`, in order. Returns how long the storm took,
/// and the clients (connected).
async fn storm(
    addr: SocketAddr,
    lost: Vec<Lost>,
    missed: &[i64],
    at_once: usize,
) -> (Duration, Vec<(common::Raw, Lost)>) {
    let started = Instant::now();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(at_once));
    let tasks: Vec<_> = lost
        .into_iter()
        .map(|l| {
            let missed = missed.to_vec();
            let gate = gate.clone();
            tokio::spawn(async move {
                let auth = json!({"pid": l.pid, "offset": l.offset});
                let permit = gate.acquire_owned().await.expect("the gate");
                let (mut raw, answer, mut early) = connect(addr, &auth).await;
                drop(permit);
                assert_eq!(answer["sid"], json!(l.sid), "not recovered");
                let rest = missed.len().saturating_sub(early.len());
                early.extend(ticks(&mut raw, rest).await);
                let got: Vec<Value> = early.into_iter().map(|args| args[0].clone()).collect();
                assert_eq!(got, missed.iter().map(|m| json!(m)).collect::<Vec<_>>());
                (raw, l)
            })
        })
        .collect();
    let mut kept = Vec::new();
    for task in tasks {
        kept.push(task.await.expect("a client recovered"));
    }
    (started.elapsed(), kept)
}

/// Each client gets tick `tick` (its offset now), then drops.
async fn lose_again(io: &Server, clients: Vec<(common::Raw, Lost)>, tick: i64) -> Vec<Lost> {
    io.of("/").to("everyone").emit("tick", &tick).expect("emit");
    let mut lost = Vec::with_capacity(clients.len());
    for (mut raw, mut l) in clients {
        let args = ticks(&mut raw, 1).await.remove(0);
        assert_eq!(args[0], json!(tick));
        l.offset = args[1].as_str().expect("an offset").to_owned();
        lost.push(l);
    }
    lost
}

/// The storm (issue 27 §3): `WSX_STORM_CLIENTS` clients (1,000) lost on node A recover
/// together on node B, whose ring holds the stream's tail: no `XRANGE` at all, session keys
/// in a few `MULTI`s; then on node C, started after their offsets (older than its ring):
/// one shared `XRANGE`. Node's `restoreSession` costs per client a `MULTI`/`GET`/`DEL`/`EXEC`
/// and at least three `XRANGE`s (the offset, the entries after it, an empty read to end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_storm_costs_a_bounded_number_of_redis_reads() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server");
    };
    let n: usize = std::env::var("WSX_STORM_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let (a, addr_a) = node(&redis).await;
    let (b, addr_b) = node(&redis).await;

    let lost = lost_clients(addr_a, &a, n, 0).await;
    wait_until("node A saw them go", || a.of("/").local_count() == 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sessions(&redis), n);
    for tick in 1..=3 {
        b.of("/").to("everyone").emit("tick", &tick).expect("emit");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = command_calls(&redis);
    let (took, clients) = storm(addr_b, lost, &[1, 2, 3], n).await;
    let after = command_calls(&redis);
    let count = |name| delta(&before, &after, name);
    println!(
        "storm of {n} onto a node whose ring holds their offsets, in {took:?}: XRANGE {}, GET {}, MGET {}, DEL {}, MULTI {}, EXEC {}; Node's restoreSession: XRANGE >= {}, GET {n}, DEL {n}, MULTI {n}, EXEC {n}",
        count("xrange"),
        count("get"),
        count("mget"),
        count("del"),
        count("multi"),
        count("exec"),
        3 * n,
    );
    assert_eq!(count("xrange"), 0, "the ring covers every offset");
    assert_eq!(count("get"), 0);
    let batches = count("mget");
    assert!(
        (1..=(n as u64).div_ceil(10)).contains(&batches),
        "{batches} MGETs for {n} sessions"
    );
    assert_eq!(count("del"), batches);

    // Again, onto a node started after the clients' offsets: their span is older than its
    // ring, and Redis is asked once for all of them.
    let lost = lose_again(&b, clients, 4).await;
    wait_until("node B saw them go", || b.of("/").local_count() == 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.of("/").to("everyone").emit("tick", &5).expect("emit");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (c, addr_c) = node(&redis).await;
    b.of("/").to("everyone").emit("tick", &6).expect("emit");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = command_calls(&redis);
    let (took, clients) = storm(addr_c, lost, &[5, 6], n).await;
    let after = command_calls(&redis);
    let count = |name| delta(&before, &after, name);
    println!(
        "storm of {n} onto a node started after their offsets, in {took:?}: XRANGE {}, GET {}, MGET {}, DEL {}; Node's restoreSession: XRANGE >= {}, GET {n}, DEL {n}",
        count("xrange"),
        count("get"),
        count("mget"),
        count("del"),
        3 * n,
    );
    assert_eq!(count("xrange"), 1, "one XRANGE shared by every restore");
    assert!(count("mget") <= (n as u64).div_ceil(10));

    // The same storm onto a Node server with `@socket.io/redis-streams-adapter` 0.3.1 (its
    // `restoreSession`): measured, not computed (64 connecting at a time: Node's listen
    // backlog resets a burst of a thousand; its Redis commands per client do not depend on it).
    let Some(node) = node_node(&redis, "node") else {
        return missing("node, or `npm ci` in crates/wsx-sio/tests/cluster");
    };
    let lost = lose_again(&c, clients, 7).await;
    wait_until("node C saw them go", || c.of("/").local_count() == 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for tick in [8, 9] {
        c.of("/").to("everyone").emit("tick", &tick).expect("emit");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = command_calls(&redis);
    let (took, clients) = storm(node.addr, lost, &[8, 9], 64).await;
    let after = command_calls(&redis);
    let count = |name| delta(&before, &after, name);
    println!(
        "the same storm of {n} onto a Node server (@socket.io/redis-streams-adapter 0.3.1), in {took:?}: XRANGE {}, GET {}, DEL {}, MULTI {}, EXEC {}",
        count("xrange"),
        count("get"),
        count("del"),
        count("multi"),
        count("exec"),
    );
    assert!(
        count("xrange") >= 3 * n as u64,
        "Node reads the stream per client"
    );
    drop(clients);
}

/// A Node server (`tests/cluster/node_server.js`) on the Streams adapter with connection
/// state recovery on; `None` when node or its packages are missing.
fn node_node(redis: &RedisServer, name: &str) -> Option<harness::Process> {
    let dir = harness::node_dir();
    if !dir
        .join("node_modules/@socket.io/redis-streams-adapter")
        .is_dir()
    {
        return None;
    }
    Command::new("node").arg("--version").output().ok()?;
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .env("NODE_SERVER_RECOVERY_MS", "60000")
        .args(["node_server.js", &redis.url(), name, "streams"]);
    Some(harness::Process::start(command))
}

/// Issue 27 §4: a `sio_demo` node killed (SIGKILL) mid-session never stores its sessions as
/// Node does at a disconnection, yet its client recovers on the other node: its id, its
/// room, and what the room got while it was away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_of_a_killed_node_recover_on_another() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server");
    };
    let Some(exe) = harness::sio_demo_exe() else {
        return missing("the sio_demo example (cargo test --features redis builds it)");
    };
    let mut a = streams_node(&exe, &redis, "a");
    let b = streams_node(&exe, &redis, "b");
    let switch = Switch::start(a.addr).await;
    let mut roamer = Roamer::join(switch.addr).await;
    let other = Manager::new(&format!("http://{}", b.addr), client_options())
        .expect("manager")
        .socket("/");
    other.connect().await.expect("connect other");
    assert_eq!(node_name(&roamer.s).await, "a");
    other
        .emit_args("to-room", Args::new().arg("rec").arg("before"))
        .expect("emit");
    assert_eq!(roamer.drain("before").await, vec![json!("before")]);
    // The room change reaches Redis within 100 ms.
    tokio::time::sleep(Duration::from_millis(300)).await;

    a.kill();
    switch.cut_to(b.addr);
    for i in 1..=10 {
        other
            .emit_args("to-room", Args::new().arg("rec").arg(format!("missed-{i}")))
            .expect("emit");
    }
    other.emit("broadcast", &"missed-broadcast").expect("emit");
    tokio::time::sleep(Duration::from_millis(300)).await;

    roamer.came_back().await;
    assert_eq!(node_name(&roamer.s).await, "b");
    let mut want: Vec<Value> = (1..=10).map(|i| json!(format!("missed-{i}"))).collect();
    want.push(json!("missed-broadcast"));
    assert_eq!(roamer.drain("missed-broadcast").await, want);
    other
        .emit_args("to-room", Args::new().arg("rec").arg("after"))
        .expect("emit");
    assert_eq!(
        roamer.drain("after").await,
        vec![json!("after")],
        "its room is back"
    );
    roamer.s.disconnect();
    other.disconnect();
}

/// Issue 27 "Done when": a mixed Streams cluster, one wsx node (`sio_demo --redis-adapter
/// streams --recovery`) and one Node server (socket.io 4.8.1, `@socket.io/redis-streams-adapter`
/// 0.3.1, `connectionStateRecovery`): a client lost on the wsx node recovers on the Node one
/// with its id, room and missed packets, and back from Node to wsx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_recovers_from_a_wsx_node_onto_a_node_server_and_back() {
    let Some(redis) = RedisServer::start() else {
        return missing("redis-server");
    };
    let Some(exe) = harness::sio_demo_exe() else {
        return missing("the sio_demo example (cargo test --features redis builds it)");
    };
    let Some(node) = node_node(&redis, "node") else {
        return missing("node, or `npm ci` in crates/wsx-sio/tests/cluster");
    };
    let wsx = streams_node(&exe, &redis, "wsx");
    let switch = Switch::start(wsx.addr).await;
    let mut roamer = Roamer::join(switch.addr).await;
    // The other client sends to the room from the Node server.
    let other = Manager::new(&format!("http://{}", node.addr), client_options())
        .expect("manager")
        .socket("/");
    other.connect().await.expect("connect other");
    assert_eq!(node_name(&roamer.s).await, "wsx");
    let to_room = |text: String| {
        other
            .emit_args("to-room", Args::new().arg("rec").arg(text))
            .expect("emit");
    };
    to_room("before".into());
    assert_eq!(roamer.drain("before").await, vec![json!("before")]);

    // wsx -> Node.
    switch.cut_to(node.addr);
    for i in 1..=10 {
        to_room(format!("missed-{i}"));
    }
    roamer.came_back().await;
    assert_eq!(node_name(&roamer.s).await, "node");
    let want: Vec<Value> = (1..=10).map(|i| json!(format!("missed-{i}"))).collect();
    assert_eq!(roamer.drain("missed-10").await, want);
    to_room("on-node".into());
    assert_eq!(roamer.drain("on-node").await, vec![json!("on-node")]);

    // Node -> wsx: nowhere to go until the Node server stored the session (it does so when
    // it sees the connection close), then back to the wsx node.
    let nowhere = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    switch.cut_to(nowhere);
    wait_until("the Node server stored the session", || {
        sessions(&redis) == 1
    })
    .await;
    for i in 11..=20 {
        to_room(format!("missed-{i}"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    switch.cut_to(wsx.addr);
    roamer.came_back().await;
    assert_eq!(node_name(&roamer.s).await, "wsx");
    let want: Vec<Value> = (11..=20).map(|i| json!(format!("missed-{i}"))).collect();
    assert_eq!(roamer.drain("missed-20").await, want);
    to_room("after".into());
    assert_eq!(
        roamer.drain("after").await,
        vec![json!("after")],
        "its room is back"
    );
    roamer.s.disconnect();
    other.disconnect();
}
