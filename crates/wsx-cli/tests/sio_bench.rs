//! `wsx bench --sio` against an in-process wsx-sio server with the demo contract's `echo-ack`
//! (or a broken one), on loopback.

mod common;

use common::{bench_json, closed_port, json_of, wsx};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wsx_sio::{Args, Config, DisconnectReason, Server, Socket};

const LIMIT: Duration = Duration::from_secs(30);

/// How the server answers `echo-ack`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// With the event's arguments (the contract).
    Same,
    /// With a string of another length.
    Wrong,
    /// With the arguments, but each socket is disconnected by the server 300 ms after it
    /// connected.
    Disconnect,
}

/// A wsx-sio server on its own runtime, counting what it saw.
struct SioServer {
    url: String,
    connections: Arc<AtomicU64>,
    acks: Arc<AtomicU64>,
    disconnects: Arc<Mutex<Vec<DisconnectReason>>>,
    _runtime: tokio::runtime::Runtime,
}

impl SioServer {
    /// The disconnect reasons, once `count` sockets are gone (waits up to 5 s).
    fn disconnects(&self, count: usize) -> Vec<DisconnectReason> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self.disconnects.lock().expect("lock").clone();
            if seen.len() >= count || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sio_server(answer: Answer) -> SioServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let connections = Arc::new(AtomicU64::new(0));
    let acks = Arc::new(AtomicU64::new(0));
    let disconnects = Arc::new(Mutex::new(Vec::new()));
    let io = Server::new(Config::default());
    let counters = (connections.clone(), acks.clone(), disconnects.clone());
    io.on_connection(move |socket: Socket| {
        let (connections, acks, disconnects) = counters.clone();
        async move {
            connections.fetch_add(1, Ordering::Relaxed);
            if answer == Answer::Disconnect {
                let socket = socket.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    socket.disconnect();
                });
            }
            socket.on_with_ack("echo-ack", move |_s: Socket, args: Args, ack| {
                let acks = acks.clone();
                async move {
                    acks.fetch_add(1, Ordering::Relaxed);
                    let _ = match answer {
                        Answer::Same | Answer::Disconnect => ack.send_args(args),
                        Answer::Wrong => ack.send(&"not what was sent"),
                    };
                }
            });
            socket.on_disconnect(move |_s: Socket, reason| {
                let disconnects = disconnects.clone();
                async move { disconnects.lock().expect("lock").push(reason) }
            });
        }
    });
    runtime.spawn(async move {
        let _ = io.serve(listener).await;
    });
    SioServer {
        url,
        connections,
        acks,
        disconnects,
        _runtime: runtime,
    }
}

#[test]
fn json_summary_counts_acks_and_every_client_disconnects() {
    let server = sio_server(Answer::Same);
    let run = wsx(
        &[
            "bench",
            "--sio",
            &server.url,
            "--clients",
            "8",
            "--size",
            "100",
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--json",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    let v = json_of(&run.stdout);
    assert_eq!(v["mode"], "sio");
    assert_eq!(v["transport"], "websocket");
    assert_eq!(v["conns_ok"], 8, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    let messages = v["messages"].as_u64().expect("messages");
    assert!(messages > 0, "{v}");
    let (p50, p99, max) = (
        v["p50_us"].as_f64().expect("p50"),
        v["p99_us"].as_f64().expect("p99"),
        v["max_us"].as_f64().expect("max"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{v}");
    let connect_max = v["connect_max_ms"].as_f64().expect("connect max");
    assert!(
        0.0 < connect_max && connect_max <= v["connect_s"].as_f64().unwrap_or(0.0) * 1000.0 + 1.0
    );
    // The server acked at least every counted emit (the warm-up's are not counted).
    assert_eq!(server.connections.load(Ordering::Relaxed), 8);
    assert!(server.acks.load(Ordering::Relaxed) >= messages);
    // Each client left with a DISCONNECT packet, not a dropped connection.
    let reasons = server.disconnects(8);
    assert_eq!(reasons.len(), 8, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| *r == DisconnectReason::ClientNamespaceDisconnect),
        "{reasons:?}"
    );
}

#[test]
fn text_summary_has_its_lines_and_rate_paces_the_emits() {
    let server = sio_server(Answer::Same);
    let run = wsx(
        &[
            "bench",
            "--sio",
            &server.url,
            "--clients",
            "4",
            "--rate",
            "200",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--transport",
            "default",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "wsx bench --sio {}: 4 clients (default)",
            server.url
        )),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].starts_with("  clients      4/4 up in "),
        "{}",
        run.stdout
    );
    assert!(lines[2].starts_with("  emits        "), "{}", run.stdout);
    assert!(
        lines[3].starts_with("  ack rtt      p50 "),
        "{}",
        run.stdout
    );
    assert_eq!(lines[4], "  errors       none", "{}", run.stdout);
    // 200 emits/s for 1 s over 4 clients: about 200, not thousands.
    let acked: u64 = lines[2]
        .split_whitespace()
        .nth(1)
        .expect("count")
        .replace(',', "")
        .parse()
        .expect("a number");
    assert!((150..=250).contains(&acked), "{}", run.stdout);
}

#[test]
fn a_wrong_ack_is_counted_by_kind() {
    let server = sio_server(Answer::Wrong);
    let run = wsx(
        &[
            "bench",
            "--sio",
            &server.url,
            "--clients",
            "3",
            "--duration",
            "0.5",
            "--warmup",
            "0",
            "--transport",
            "polling",
            "--json",
        ],
        "",
        LIMIT,
    );
    // Errors are counted, not fatal.
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let v = json_of(&run.stdout);
    assert_eq!(v["conns_ok"], 3, "{v}");
    assert_eq!(v["messages"], 0, "{v}");
    // Each client stops at its first wrong ack: one error each, all of one kind.
    assert_eq!(v["errors"], 3, "{v}");
    assert_eq!(
        v["errors_by_kind"],
        serde_json::json!({"wrong_echo": 3}),
        "{v}"
    );
    let first = v["first_error"].as_str().expect("first error");
    assert!(
        first.starts_with("wrong_echo: the ack carried 17 bytes"),
        "{first}"
    );
}

#[test]
fn a_dead_url_or_unknown_namespace_is_a_clear_error() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let run = wsx(
        &["bench", "--sio", &url, "--clients", "3", "--duration", "1"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(1), "stdout: {}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "no Socket.IO client could connect to {url} (connect: "
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("refused"), "{}", run.stderr);

    let server = sio_server(Answer::Same);
    let run = wsx(
        &[
            "bench",
            "--sio",
            &format!("{}/nope", server.url),
            "--clients",
            "2",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(1), "stdout: {}", run.stdout);
    assert!(run.stderr.contains("Invalid namespace"), "{}", run.stderr);

    // Not both URLs, and not a WebSocket-only flag with --sio.
    for args in [
        &["bench", "--sio", "http://127.0.0.1:1", "ws://127.0.0.1:1/"][..],
        &["bench", "--sio", "http://127.0.0.1:1", "--raw"][..],
    ] {
        let run = wsx(args, "", LIMIT);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_client_the_server_disconnects_is_an_error_even_between_emits() {
    let server = sio_server(Answer::Disconnect);
    // 2 clients at 1 emit/s: each has one emit due in the 1.5 s (at 0 and 1 s), and the
    // server disconnects both at 0.3 s, while they wait for their next emit (due after the
    // end for the first: a wait past the end is not `stuck`).
    let (run, v) = bench_json(&format!(
        "--sio {} --clients 2 --rate 1 --duration 1.5 --warmup 0",
        server.url
    ));
    assert_eq!(
        v["errors_by_kind"],
        serde_json::json!({"server_closed": 2}),
        "{v}"
    );
    let first = v["first_error"].as_str().expect("first error");
    assert_eq!(
        first,
        "server_closed: disconnected during the load: io server disconnect"
    );
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn a_rate_slower_than_the_run_is_not_stuck() {
    let server = sio_server(Answer::Same);
    // 4 clients at 2 emits/s: a period of 2 s per client, longer than the 0.5 s run; the
    // emits due after the end are not sent and nothing waits for them.
    let (run, v) = bench_json(&format!(
        "--sio {} --clients 4 --rate 2 --duration 0.5 --warmup 0",
        server.url
    ));
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["messages"], 1, "{v}");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);
}
