//! What the cluster tests start and stop: a `redis-server` on a free loopback port (no
//! persistence), a Redis Cluster of three such servers, server processes that print
//! `listening on ADDR` (wsx's `sio_demo` and Node's `node_server.js`, on the Redis adapter of
//! an [`AdapterKind`]), and a raw Socket.IO client that waits for the packets it expects.
//! Everything started is killed on drop.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wsx::Message;

use crate::common::Raw;

/// Skips (or fails, under `WSX_REQUIRE_REDIS=1`) when a peer is missing.
pub fn missing(what: &str) {
    crate::skip::skip(
        "WSX_REQUIRE_REDIS",
        &format!(
            "{what} (scripts/sio_cluster_setup.sh installs redis-server and the npm packages)"
        ),
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `redis-server` of our own.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// `None` when `redis-server` is not installed.
    pub fn start() -> Option<Self> {
        Command::new("redis-server")
            .arg("--version")
            .output()
            .ok()?;
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.run();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (no goodbye to its clients: their connections just drop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Which Redis adapter a node runs: the `--redis-adapter` of `sio_demo`, the third argument
/// of `node_server.js`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// Classic pub/sub (`createAdapter`).
    Classic,
    /// Sharded pub/sub, `subscriptionMode: "dynamic"` (`createShardedAdapter`'s default).
    ShardedDynamic,
    /// Sharded pub/sub, `subscriptionMode: "static"`.
    ShardedStatic,
    /// A Redis stream, requests over classic pub/sub (`@socket.io/redis-streams-adapter`'s
    /// `createAdapter`, its defaults).
    Streams,
    /// The same, requests over sharded pub/sub (`useShardedPubSub: true`).
    StreamsSharded,
}

impl AdapterKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::ShardedDynamic => "sharded-dynamic",
            Self::ShardedStatic => "sharded-static",
            Self::Streams => "streams",
            Self::StreamsSharded => "streams-sharded",
        }
    }
}

/// A Redis Cluster of three masters (no replicas) on loopback, each in a temporary directory
/// of its own (`nodes.conf`).
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

impl RedisCluster {
    /// `None` when `redis-server` or `redis-cli` is not installed.
    pub fn start() -> Option<Self> {
        Command::new("redis-server")
            .arg("--version")
            .output()
            .ok()?;
        Command::new("redis-cli").arg("--version").output().ok()?;
        let dir = std::env::temp_dir().join(format!(
            "wsx-redis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        let mut cluster = Self {
            ports: Vec::new(),
            children: Vec::new(),
            dir,
        };
        for i in 0..3 {
            let port = free_cluster_port(&cluster.ports);
            let dir = cluster.dir.join(i.to_string());
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            cluster.children.push(child);
            cluster.ports.push(port);
        }
        for &port in &cluster.ports {
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not listen");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        // Every node must agree that the cluster is up (the slots are assigned and gossiped).
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.ports.iter().all(|&port| {
            cluster
                .cli(port, &["CLUSTER", "INFO"])
                .contains("cluster_state:ok")
        }) {
            assert!(Instant::now() < deadline, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(cluster)
    }

    /// The nodes' URLs, comma-separated (as `sio_demo --redis-cluster` and `node_server.js`
    /// take them).
    pub fn urls(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Runs `redis-cli -p PORT ARGS...` and returns its output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The subscribers of a sharded channel, summed over the Redis servers on `ports` (`PUBSUB
/// SHARDNUMSUB` on each, through `redis-cli`).
pub fn shard_subscribers(ports: &[u16], channel: &str) -> usize {
    ports
        .iter()
        .map(|port| {
            let out = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["PUBSUB", "SHARDNUMSUB", channel])
                .output()
                .expect("redis-cli runs");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .nth(1)
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// A free port whose cluster bus port (+10,000) is free too, not in `taken`: ports of
/// 20,000-29,999 (below the ephemeral range, so that the bus port is a valid one too), tried
/// from a point that differs between processes.
fn free_cluster_port(taken: &[u16]) -> u16 {
    let start = std::process::id() as usize * 7919 + taken.len() * 131;
    for i in 0..10_000 {
        let port = 20_000 + ((start + i * 97) % 10_000) as u16;
        if taken.contains(&port) {
            continue;
        }
        let base = TcpListener::bind(("127.0.0.1", port));
        let bus = TcpListener::bind(("127.0.0.1", port + 10_000));
        if base.is_ok() && bus.is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

/// A server process.
pub struct Process {
    pub addr: SocketAddr,
    child: Child,
}

impl Process {
    /// Starts `command` and waits (at most 30 s) for its `listening on ADDR` line.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?} did not start: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("{command:?} did not print its address");
        };
        Self {
            addr: addr.parse().expect("an address"),
            child,
        }
    }

    /// Sends a signal (`STOP`, `CONT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{name} failed");
        if name == "STOP" {
            // kill(1) returns once the signal is queued; the threads stop a moment later
            // (one of them may still answer a message meanwhile): wait until all are stopped.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !self.all_threads_stopped() {
                assert!(Instant::now() < deadline, "the process did not stop");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Whether every thread's state in /proc is `T` (stopped).
    fn all_threads_stopped(&self) -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return false;
        };
        tasks.filter_map(Result::ok).all(|task| {
            std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                // The state follows the command name's closing parenthesis.
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
            })
        })
    }

    /// Kills it at once.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The sio_demo example, built with the `redis` feature (`cargo test -p wsx-sio --features
/// redis` builds it beside the tests); `None` when it is not there.
pub fn sio_demo_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let demo = dir.join("examples/sio_demo");
    demo.exists().then_some(demo)
}

/// A wsx node: `sio_demo --redis URL --name NAME` (the classic adapter).
pub fn wsx_node(exe: &Path, redis: &RedisServer, name: &str) -> Process {
    wsx_node_on(exe, &redis.url(), name, AdapterKind::Classic, false)
}

/// A wsx node on the adapter `kind`: `sio_demo --redis URL --redis-adapter KIND --name NAME`
/// (`--redis-cluster` when `urls` lists a Redis Cluster's nodes).
pub fn wsx_node_on(
    exe: &Path,
    urls: &str,
    name: &str,
    kind: AdapterKind,
    cluster: bool,
) -> Process {
    let extra: &[&str] = if cluster { &["--redis-cluster"] } else { &[] };
    wsx_node_with(exe, urls, name, kind, extra)
}

/// A wsx node on the adapter `kind` with `extra` arguments: `sio_demo --redis URL
/// --redis-adapter KIND --name NAME EXTRA..`.
pub fn wsx_node_with<S: AsRef<std::ffi::OsStr>>(
    exe: &Path,
    urls: &str,
    name: &str,
    kind: AdapterKind,
    extra: &[S],
) -> Process {
    let mut command = Command::new(exe);
    command.args(["--addr", "127.0.0.1:0", "--redis", urls, "--name", name]);
    command.args(["--redis-adapter", kind.name()]);
    command.args(extra);
    Process::start(command)
}

pub fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster")
}

/// A Node node on the adapter `kind`: `node node_server.js URLS NAME KIND [cluster]`; `None`
/// when node or its packages are missing.
pub fn node_node_on(urls: &str, name: &str, kind: AdapterKind, cluster: bool) -> Option<Process> {
    let dir = node_dir();
    if !dir.join("node_modules/@socket.io/redis-adapter").is_dir() {
        return None;
    }
    Command::new("node").arg("--version").output().ok()?;
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .args(["node_server.js", urls, name, kind.name()]);
    if cluster {
        command.arg("cluster");
    }
    Some(Process::start(command))
}

/// A raw Socket.IO client on `/`.
pub struct Client {
    pub raw: Raw,
    pub sid: String,
    next_ack: u64,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let (raw, sid) = Raw::connect_root(addr).await;
        Self {
            raw,
            sid,
            next_ack: 0,
        }
    }

    /// Sends `42[...]`.
    pub async fn emit(&mut self, json_args: &str) {
        self.raw.send(&format!("42{json_args}")).await;
    }

    /// Sends `42N[...]` and returns the ack's arguments (JSON array text).
    pub async fn call(&mut self, json_args: &str) -> serde_json::Value {
        self.next_ack += 1;
        let id = self.next_ack + 1000;
        self.raw.send(&format!("42{id}{json_args}")).await;
        let answer = self.expect(&format!("43{id}")).await;
        serde_json::from_str(&answer[format!("43{id}").len()..]).expect("ack JSON")
    }

    /// The next text message that starts with `prefix`, skipping others (answering pings and
    /// the demo's `server-ask`); panics after 10 s.
    pub async fn expect(&mut self, prefix: &str) -> String {
        match self.wait_for(prefix, Duration::from_secs(10)).await {
            Some(text) => text,
            None => panic!("no {prefix:?} within 10 s"),
        }
    }

    /// Like [`Self::expect`], `None` after `within`.
    pub async fn wait_for(&mut self, prefix: &str, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.raw.ws.next()).await;
            match next {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let t = t.as_str().to_owned();
                    if t == "2" {
                        self.raw.send("3").await;
                    } else if t.starts_with(prefix) {
                        return Some(t);
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// The next binary message; panics after 10 s.
    pub async fn binary(&mut self) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.raw.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => return b.to_vec(),
                Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "2" => self.raw.send("3").await,
                Ok(Some(Ok(_))) => {}
                other => panic!("no binary message: {other:?}"),
            }
        }
    }

    /// Whether nothing starting with `prefix` arrives within `within`.
    pub async fn quiet(&mut self, prefix: &str, within: Duration) -> bool {
        self.wait_for(prefix, within).await.is_none()
    }
}
