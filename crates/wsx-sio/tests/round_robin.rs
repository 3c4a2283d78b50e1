//! No sticky sessions (`wsx_sio::server::forward`): two `sio_demo --redis --advertise auto`
//! processes on a `redis-server` of their own, behind Debian's `nginx` configured round robin
//! (no `ip_hash`, `proxy_http_version 1.1`, `Upgrade`/`Connection` passed), all started here
//! on free loopback ports. A dozen official clients (npm `socket.io-client` and
//! `python-socketio`, with default options and on polling only) pass the contract through it
//! (`tests/interop/round_robin.js`, `.py`); and the faults: a node killed mid-session (its
//! polling clients reconnect on the other), an owner that never answers (a `504`, not a
//! hang), Redis restarted (forwarding fails fast with a clear `503`, then resumes). One more
//! test measures the latency a forwarded poll adds (printed; run it with `--nocapture`).
//!
//! Needs `redis-server`, `nginx` (Debian packages), node with the interop packages and the
//! python-socketio venv (`scripts/test_all.sh --setup-only` installs them all). Without one,
//! a test prints a `SKIPPED` line, unless `WSX_REQUIRE_REDIS` / `WSX_REQUIRE_NGINX` /
//! `WSX_REQUIRE_INTEROP` is set (CI), which makes it fail. Built with `--features redis` only;
//! the `sio_demo` example must be built with it too (`cargo test -p wsx-sio --features redis`
//! builds both).
#![cfg(feature = "redis")]

mod common;
#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;
mod skip;

use common::http::{self, Response};
use harness::{Process, RedisServer, sio_demo_exe};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The heartbeat of the nodes: short, so that a few seconds see several.
const PING_INTERVAL_MS: u64 = 500;
const PING_TIMEOUT_MS: u64 = 1000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Debian's nginx on a free loopback port, in front of `upstreams` round robin; its
/// configuration, pid file, logs and temporary files in a directory of its own. One process
/// (`master_process off`), in the foreground: killing it stops it all.
struct Nginx {
    addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// `None` when nginx is not installed.
    fn start(upstreams: &[SocketAddr]) -> Option<Self> {
        let exe = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|exe| Command::new(exe).arg("-v").output().is_ok())?;
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("wsx-rr-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("nginx dir");
        let d = dir.display();
        let servers: String = upstreams
            .iter()
            .map(|a| format!("    server {a};\n"))
            .collect();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
             # Round robin: no ip_hash, no hash, no sticky cookie.\n\
             upstream sio {{\n{servers}  }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
             proxy_pass http://sio;\n      proxy_http_version 1.1;\n\
             proxy_set_header Upgrade $http_upgrade;\n\
             proxy_set_header Connection $connection_upgrade;\n\
             proxy_set_header Host $http_host;\n      proxy_read_timeout 60s;\n    }}\n  }}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(exe)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut nginx = Self { addr, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!(
                    "nginx exited: {status}; see {}/error.log",
                    nginx.dir.display()
                );
            }
            assert!(Instant::now() < deadline, "nginx did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A node with forwarding on: `sio_demo --redis URL --name NAME --advertise auto`, the short
/// heartbeat, and `extra` arguments.
fn node(exe: &Path, redis: &RedisServer, name: &str, extra: &[&str]) -> Process {
    let (interval, timeout) = (PING_INTERVAL_MS.to_string(), PING_TIMEOUT_MS.to_string());
    let mut args = vec!["--advertise", "auto", "--ping-interval", &interval];
    args.extend(["--ping-timeout", &timeout]);
    args.extend(extra);
    harness::wsx_node_with(
        exe,
        &redis.url(),
        name,
        harness::AdapterKind::Classic,
        &args,
    )
}

/// Redis, two nodes and nginx in front of them; `None` (after the skip note) when a piece
/// is missing.
struct Cluster {
    nginx: Nginx,
    a: Process,
    b: Process,
    redis: RedisServer,
}

/// Redis and two nodes, no balancer.
fn nodes(extra: &[&str]) -> Option<(RedisServer, Process, Process)> {
    let Some(exe) = sio_demo_exe() else {
        harness::missing("examples/sio_demo built with --features redis");
        return None;
    };
    let Some(redis) = RedisServer::start() else {
        harness::missing("redis-server");
        return None;
    };
    let a = node(&exe, &redis, "a", extra);
    let b = node(&exe, &redis, "b", extra);
    Some((redis, a, b))
}

fn cluster(extra: &[&str]) -> Option<Cluster> {
    let (redis, a, b) = nodes(extra)?;
    let Some(nginx) = Nginx::start(&[a.addr, b.addr]) else {
        skip::skip(
            "WSX_REQUIRE_NGINX",
            "nginx is not installed (scripts/test_all.sh installs Debian's nginx)",
        );
        return None;
    };
    Some(Cluster { nginx, a, b, redis })
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn interop_missing(what: &str) {
    skip::skip(
        "WSX_REQUIRE_INTEROP",
        &format!("{what} is not installed (scripts/sio_interop_setup.sh installs the clients)"),
    );
}

/// Runs a client script to its end: every check passed, at least `min_checks` of them.
fn run_checks(mut command: Command, what: &str, min_checks: usize) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what} did not start: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let passed = stdout.lines().filter(|l| l.starts_with("ok - ")).count();
    assert!(
        output.status.success() && passed >= min_checks,
        "{what}: {} ({passed} checks passed)\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}

/// The official Node client through nginx: `mode` is `default` or `polling`; `extra`: the
/// nodes' extra arguments.
fn node_clients(mode: &str, extra: &[&str]) {
    let dir = interop_dir();
    if !dir.join("node_modules/socket.io-client").is_dir() {
        return interop_missing("npm socket.io-client (crates/wsx-sio/tests/interop/node_modules)");
    }
    if Command::new("node").arg("--version").output().is_err() {
        return interop_missing("node");
    }
    let Some(cluster) = cluster(extra) else {
        return;
    };
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .arg("round_robin.js")
        .arg(format!("http://{}", cluster.nginx.addr))
        .args([mode, "12", "3000"]);
    run_checks(command, &format!("socket.io-client ({mode})"), 9);
}

fn python() -> Option<PathBuf> {
    let python = std::env::var_os("WSX_SIO_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/sio-venv/bin/python"),
        PathBuf::from,
    );
    let probe = Command::new(&python)
        .args(["-c", "import socketio, websocket, requests"])
        .output();
    probe.is_ok_and(|o| o.status.success()).then_some(python)
}

/// python-socketio through nginx: `mode` is `default` or `polling`.
fn python_clients(mode: &str) {
    let Some(python) = python() else {
        return interop_missing(
            "python-socketio (with websocket-client, requests) in target/sio-venv",
        );
    };
    let Some(cluster) = cluster(&[]) else { return };
    let mut command = Command::new(python);
    command
        .current_dir(interop_dir())
        .arg("round_robin.py")
        .arg(format!("http://{}", cluster.nginx.addr))
        .args([mode, "12", "3000"]);
    run_checks(command, &format!("python-socketio ({mode})"), 8);
}

#[test]
fn node_clients_with_default_options_need_no_sticky_sessions() {
    node_clients("default", &[]);
}

#[test]
fn node_clients_on_polling_only_need_no_sticky_sessions() {
    node_clients("polling", &[]);
}

/// The same on the sharded adapter (`SSUBSCRIBE`/`SPUBLISH`): forwarding uses its
/// connection for the address book.
#[test]
fn node_clients_on_polling_only_need_no_sticky_sessions_on_the_sharded_adapter() {
    node_clients("polling", &["--redis-adapter", "sharded"]);
}

#[test]
fn python_clients_with_default_options_need_no_sticky_sessions() {
    python_clients("default");
}

#[test]
fn python_clients_on_polling_only_need_no_sticky_sessions() {
    python_clients("polling");
}

/// Polling clients whose node is killed mid-session reconnect through nginx, onto the other
/// node, and carry on (`round_robin.js`'s `killed` mode waits for the kill on stdin).
#[test]
fn polling_clients_of_a_killed_node_reconnect_on_the_other() {
    let dir = interop_dir();
    if !dir.join("node_modules/socket.io-client").is_dir() {
        return interop_missing("npm socket.io-client (crates/wsx-sio/tests/interop/node_modules)");
    }
    if Command::new("node").arg("--version").output().is_err() {
        return interop_missing("node");
    }
    let Some(mut cluster) = cluster(&[]) else {
        return;
    };
    let mut child = Command::new("node")
        .current_dir(&dir)
        .arg("round_robin.js")
        .arg(format!("http://{}", cluster.nginx.addr))
        .args(["killed", "12", "1500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line == "# kill a" {
            cluster.a.kill();
            writeln!(stdin, "killed").expect("write to the script");
        }
        lines.push(line);
    }
    let status = child.wait().expect("node ends");
    let output = lines.join("\n");
    let passed = lines.iter().filter(|l| l.starts_with("ok - ")).count();
    assert!(
        status.success() && passed >= 4,
        "socket.io-client (node killed): {status} ({passed} checks passed)\n{output}"
    );
}

/// Opens a polling session on `addr` (no balancer) and connects it to `/`; its id.
async fn session_on(addr: SocketAddr) -> String {
    let sid = http::open_session(addr, "/socket.io/").await;
    let connect = http::post(addr, &http::session_url("/socket.io/", &sid), "40").await;
    assert_eq!(connect.status, 200, "{}", connect.text());
    sid
}

/// A request for session `sid`, sent to `addr`; with how long it took.
async fn timed(addr: SocketAddr, method: &str, sid: &str, body: &str) -> (Response, Duration) {
    let start = Instant::now();
    let target = http::session_url("/socket.io/", sid);
    let response = http::request(addr, method, &target, &[], body.as_bytes()).await;
    (response, start.elapsed())
}

/// The WebSocket upgrade of a session of `a`, sent to `b`, is tunnelled to `a`: the probe,
/// the upgrade and then the session's traffic go through; an upgrade for a session `a` does
/// not have comes back refused as `a` refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_of_another_nodes_session_is_tunnelled_to_its_owner() {
    use common::engine_cases::{next_text, send, ws};
    let Some((_redis, a, b)) = nodes(&[]) else {
        return;
    };
    let sid = session_on(a.addr).await;
    let first = http::get(a.addr, &http::session_url("/socket.io/", &sid)).await;
    assert!(first.text().starts_with("40{\"sid\""), "{}", first.text());

    let target = format!("/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let mut socket = ws(b.addr, &target).await.expect("the upgrade through b");
    send(&mut socket, "2probe").await;
    assert_eq!(next_text(&mut socket).await, "3probe");
    send(&mut socket, "5").await;
    send(&mut socket, r#"42["echo","through b"]"#).await;
    loop {
        let text = next_text(&mut socket).await;
        match text.as_str() {
            "2" => send(&mut socket, "3").await,
            "6" => {}
            t if t.starts_with(r#"42["server-ask""#) => {}
            _ => {
                assert_eq!(text, r#"42["echo","through b"]"#);
                break;
            }
        }
    }
    // The session is a's, on WebSocket now: a refuses its polling.
    let polled = http::get(a.addr, &http::session_url("/socket.io/", &sid)).await;
    assert_eq!(polled.status, 400, "{}", polled.text());

    // A session a does not have (a's tag, unknown id): a's refusal, through b.
    let unknown = format!("{}AAAAAAAAAAAAAA", &sid[..6]);
    let target = format!("/socket.io/?EIO=4&transport=websocket&sid={unknown}");
    assert!(ws(b.addr, &target).await.is_err(), "refused");
    let response = http::get(b.addr, &target).await;
    assert_eq!(response.status, 400, "{}", response.text());
}

/// An owner that stops answering (SIGSTOP: its port still accepts, nothing answers) makes a
/// forwarded request fail with `504` after the forward timeout (a `GET` gets the ping
/// interval more), never hang; once it runs again, forwarding works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_request_whose_owner_never_answers_times_out() {
    let Some(cluster) = cluster(&["--forward-timeout", "1000"]) else {
        return;
    };
    let sid = session_on(cluster.a.addr).await;
    // Forwarded from b to a: it works (and b knows where a is from now on).
    let (warm, _) = timed(cluster.b.addr, "GET", &sid, "").await;
    assert_eq!(warm.status, 200, "{}", warm.text());
    assert!(warm.text().contains("40{\"sid\""), "{}", warm.text());

    cluster.a.signal("STOP");
    let (post, took) = timed(cluster.b.addr, "POST", &sid, "3").await;
    let post_text = post.text();
    let (get, get_took) = timed(cluster.b.addr, "GET", &sid, "").await;
    let get_text = get.text();
    cluster.a.signal("CONT");

    assert_eq!(post.status, 504, "{post_text}");
    assert!(
        post_text.contains("did not answer within 1000 ms"),
        "{post_text}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "POST answered after {took:?}"
    );
    assert_eq!(get.status, 504, "{get_text}");
    assert!(
        get_text.contains("did not answer within 1500 ms"),
        "{get_text}"
    );
    assert!(
        get_took >= Duration::from_millis(1400) && get_took < Duration::from_secs(5),
        "GET answered after {get_took:?}"
    );

    // Running again: a new session of a is reached through b.
    let sid = session_on(cluster.a.addr).await;
    let (again, _) = timed(cluster.b.addr, "GET", &sid, "").await;
    assert_eq!(again.status, 200, "{}", again.text());
}

/// Redis down: an owner whose address this node has not looked up yet cannot be found, and
/// the request fails at once with `503` naming Redis (an owner already known is still
/// reached: Redis is the address book, not the path); once Redis is back and the nodes
/// advertised again, the same forwarding works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_fails_fast_while_redis_is_down_then_resumes() {
    // A long heartbeat: the sessions must outlive the outage without a client polling them.
    let Some(mut cluster) = cluster(&["--ping-interval", "10000", "--ping-timeout", "10000"])
    else {
        return;
    };
    let on_a = session_on(cluster.a.addr).await;
    let on_b = session_on(cluster.b.addr).await;
    // b learns where a is; a never asked where b is.
    let (warm, _) = timed(cluster.b.addr, "POST", &on_a, "3").await;
    assert_eq!(warm.status, 200, "{}", warm.text());

    cluster.redis.kill();
    let (known, _) = timed(cluster.b.addr, "POST", &on_a, "3").await;
    assert_eq!(
        known.status,
        200,
        "a known owner is reached: {}",
        known.text()
    );
    let (unknown, took) = timed(cluster.a.addr, "GET", &on_b, "").await;
    let text = unknown.text();
    assert_eq!(unknown.status, 503, "{text}");
    assert!(
        text.contains("cannot look up node") && text.contains("Redis"),
        "{text}"
    );
    // The lookup is bounded by 1 s; the margin is for a loaded machine.
    assert!(took < Duration::from_millis(2500), "503 after {took:?}");

    cluster.redis.restart();
    // The nodes advertise every 2 s: within a few seconds a finds b.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (response, _) = timed(cluster.a.addr, "GET", &on_b, "").await;
        if response.status == 200 {
            assert!(
                response.text().contains("40{\"sid\""),
                "{}",
                response.text()
            );
            break;
        }
        assert_eq!(response.status, 503, "{}", response.text());
        assert!(Instant::now() < deadline, "forwarding did not resume");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The latency a forwarded poll adds: 200 `POST`s (one packet each) of one session, straight
/// to the owner, then through the other node, one at a time; the medians and 90th
/// percentiles are printed. Sanity only is asserted (the figures depend on the machine):
/// `cargo test -p wsx-sio --features redis --test round_robin forwarded_poll_latency -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_poll_latency() {
    let Some(cluster) = cluster(&["--ping-interval", "10000", "--ping-timeout", "10000"]) else {
        return;
    };
    let sid = session_on(cluster.a.addr).await;
    let target = http::session_url("/socket.io/", &sid);
    let measure = async |addr: SocketAddr| {
        let mut took = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            let response = http::request(addr, "POST", &target, &[], b"3").await;
            took.push(start.elapsed());
            assert_eq!(response.status, 200, "{}", response.text());
        }
        took.sort();
        (took[100], took[180])
    };
    // Warm both paths (the lookup, the pooled connection).
    let _ = measure(cluster.b.addr).await;
    let (direct, direct_p90) = measure(cluster.a.addr).await;
    let (forwarded, forwarded_p90) = measure(cluster.b.addr).await;
    println!(
        "POST of one packet, 200 each, one at a time, new client connection per request: \
         straight to the owner median {direct:?} (p90 {direct_p90:?}); through the other \
         node median {forwarded:?} (p90 {forwarded_p90:?}); added median {:?}",
        forwarded.saturating_sub(direct)
    );
    assert!(forwarded < Duration::from_millis(500), "{forwarded:?}");
}
