//! Fan-out benchmark: one message to N connected clients through a wsx server, R times.
//!
//! Usage: `fanout [--role both|server|clients] [--addr HOST:PORT] [--url ws://HOST:PORT]
//! [--clients 10000] [--rounds 5] [--size 64] [--concurrency 64] [--timeout 180]
//! [--deflate off|shared|takeover]`
//!
//! Roles (the server and the clients are separate processes, so that neither side needs file
//! descriptors for both ends of 10,000 sockets; `ulimit -n` is often 20,000 or less):
//! - `server`: a [`wsx::Server`] (event API, tokio current-thread runtime) on `--addr`
//!   (default `127.0.0.1:0`). It prints `listening ws://ADDR` on stdout once bound. A
//!   connection on the path `/control` drives it with text commands, each answered with one
//!   JSON text message: `stats` (connections, server RSS), `go R` (broadcast round R with
//!   [`wsx::Server::broadcast`], which encodes the frame once as a [`wsx::PreparedMessage`] and
//!   queues the same shared bytes on every connection), `quit` (graceful shutdown: close 1001
//!   to everyone, then exit). The server exits on its own after `--timeout` seconds.
//! - `clients`: opens `--clients` connections to `--url` with wsx's low-level client
//!   (`wsx::connect`, `WebSocket<TcpStream>`, one task each on a current-thread runtime), at
//!   most `--concurrency` handshakes in flight; then a control connection. For every round it
//!   sends `go R` and waits until every client has the message (or 10 s pass). At the end it
//!   sends `quit`, waits for every connection to finish its close handshake, and prints one
//!   JSON line.
//! - `both` (the default): starts `fanout --role server` as a child process (same binary,
//!   `--addr`), reads its address, runs the clients against it, and waits for it to exit.
//!
//! The broadcast payload carries the round and the server's wall clock (`SystemTime`, ns) taken
//! just before `broadcast` is called; each client notes its own wall clock on receipt. Both
//! processes run on the same machine, so the clocks agree. Reported (one JSON line): `clients`,
//! `connected`, `rounds`, time from the broadcast call to the first and to the last client's
//! receipt (`first_ms`, `last_ms`: median and max over rounds), `deliveries_per_sec` (clients
//! reached divided by the time to the last one; median over rounds), the duration of the
//! `broadcast` call itself, server RSS at start, with every client connected, and after the
//! rounds, and `errors`. Loopback only; every phase has a time bound.
//!
//! `--deflate` (default `off`): with `shared` or `takeover` the clients offer
//! permessage-deflate and the server accepts it, compressing each broadcast once for everyone
//! (`Config::deflate_shared_broadcasts`, no context takeover) or once per client (context
//! takeover, each connection compressing its own copy); the payload after its 16-byte head is
//! then JSON chat text (compressible as the `deflate` bench's corpus is) instead of zeros, and
//! the server prints the frame's size plain and deflated to stderr at the first round.

#[path = "shared/cli.rs"]
mod cli;

use serde_json::{Value, json};
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use wsx::proto::deflate::{DeflateConfig, PerMessageDeflate};
use wsx::{Config, Conn, Message, MessageType, Server, WebSocket};

/// Which process this is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Both,
    Server,
    Clients,
}

/// Command-line settings.
struct Args {
    role: Role,
    addr: String,
    url: Option<String>,
    clients: usize,
    rounds: usize,
    size: usize,
    concurrency: usize,
    timeout: Duration,
    deflate: Deflate,
}

/// permessage-deflate (`--deflate`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Deflate {
    Off,
    /// Compressed once per broadcast (`Config::deflate_shared_broadcasts`).
    Shared,
    /// Context takeover: each connection compresses its own copy.
    Takeover,
}

const USAGE: &str = "usage: fanout [--role both|server|clients] [--addr HOST:PORT] \
[--url ws://HOST:PORT] [--clients N] [--rounds R] [--size BYTES] [--concurrency N] [--timeout SECS] \
[--deflate off|shared|takeover]";

/// How long one round may take before it is reported with the clients it reached.
const ROUND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one client's TCP connect plus handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the closing phase (close handshakes of every client, server exit) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(20);

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        role: Role::Both,
        addr: "127.0.0.1:0".into(),
        url: None,
        clients: 10_000,
        rounds: 5,
        size: 64,
        concurrency: 64,
        timeout: Duration::from_secs(180),
        deflate: Deflate::Off,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--role" => {
                args.role = match value()?.as_str() {
                    "both" => Role::Both,
                    "server" => Role::Server,
                    "clients" => Role::Clients,
                    other => return Err(format!("unknown role {other}")),
                };
            }
            "--addr" => args.addr = value()?,
            "--url" => args.url = Some(value()?),
            "--clients" => args.clients = number(&arg, &value()?)?,
            "--rounds" => args.rounds = number(&arg, &value()?)?,
            "--size" => args.size = number(&arg, &value()?)?,
            "--concurrency" => args.concurrency = number(&arg, &value()?)?.max(1),
            "--timeout" => args.timeout = Duration::from_secs(number(&arg, &value()?)? as u64),
            "--deflate" => {
                args.deflate = match value()?.as_str() {
                    "off" => Deflate::Off,
                    "shared" => Deflate::Shared,
                    "takeover" => Deflate::Takeover,
                    other => return Err(format!("unknown --deflate {other}")),
                };
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    // The payload holds the round and a timestamp.
    args.size = args.size.max(16);
    if args.role == Role::Clients && args.url.is_none() {
        return Err(format!("--role clients needs --url\n{USAGE}"));
    }
    Ok(args)
}

fn number(name: &str, value: &str) -> Result<usize, String> {
    value.parse().map_err(|_| format!("bad {name} {value}"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => return cli::usage_error(&msg),
    };
    let runtime = match cli::runtime("fanout", 1) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = match args.role {
        Role::Server => runtime.block_on(server_main(&args)),
        Role::Clients => {
            let url = args.url.clone().unwrap_or_default();
            runtime
                .block_on(clients_main(&args, &url))
                .map(print_report)
        }
        Role::Both => both_main(&runtime, &args),
    };
    cli::exit_code("fanout", result)
}

fn print_report(report: Value) {
    println!("{report}");
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Wall clock in nanoseconds since the Unix epoch (comparable across processes on one host).
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// This process's resident set size in KiB (`VmRSS` in `/proc/self/status`), if known.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time this thread has run, in ns (`/proc/thread-self/schedstat`): on a current-thread
/// runtime that is all the process's work.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// The soft limit on open files (`/proc/self/limits`), if known.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    })
}

// ---------------------------------------------------------------------------------------------
// Server role

/// The running server, for the control handler (a handler cannot own the `Server` that owns
/// it without a reference cycle).
static SERVER: OnceLock<Server> = OnceLock::new();
/// Signalled once a `quit` command's graceful shutdown has finished.
static SHUT_DOWN: Notify = Notify::const_new();
/// RSS of the server process before any connection.
static RSS_START: AtomicU64 = AtomicU64::new(0);
/// `--deflate` is on: JSON filler, frame sizes printed once.
static DEFLATE: AtomicBool = AtomicBool::new(false);

/// Chat-like JSON that fills a compressed run's payloads (after their 16-byte head).
const JSON_FILLER: &[u8] = br#"{"event":"message","room":"general","user":{"id":4127,"name":"maria.k"},"text":"sounds good, see you at the standup tomorrow","ts":1733480000123,"reactions":[]},"#;

async fn server_main(args: &Args) -> Result<(), String> {
    RSS_START.store(rss_kib().unwrap_or(0), Ordering::Relaxed);
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", args.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let config = Config {
        compression: (args.deflate != Deflate::Off).then(DeflateConfig::default),
        deflate_shared_broadcasts: args.deflate == Deflate::Shared,
        ..Config::default()
    };
    DEFLATE.store(args.deflate != Deflate::Off, Ordering::Relaxed);
    let server = Server::new(config);
    server.on_connection(|conn: Conn| {
        if conn.uri().path() == "/control" {
            conn.on_message(control);
        }
    });
    let _ = SERVER.set(server.clone());
    // The parent (role `both`) or bench.sh reads this line to learn the port.
    println!("listening ws://{addr}");
    let serving = server.serve(listener);
    tokio::select! {
        result = serving => {
            result.map_err(|e| e.to_string())?;
            // `quit` stopped the accept loop; wait for its graceful shutdown to finish.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, SHUT_DOWN.notified()).await;
        }
        () = tokio::time::sleep(args.timeout) => {
            eprintln!("fanout server: --timeout reached, shutting down");
            server.shutdown().await;
        }
    }
    Ok(())
}

/// Handles one command from the control connection.
fn control(conn: &Conn, kind: MessageType, data: bytes::Bytes) {
    let Some(server) = SERVER.get() else { return };
    if kind != MessageType::Text {
        return;
    }
    let command = String::from_utf8_lossy(&data);
    let mut words = command.split_whitespace();
    let reply = match (words.next(), words.next(), words.next()) {
        (Some("stats"), None, _) => json!({
            "connections": server.connection_count(),
            "rss_kib": rss_kib(),
            "rss_start_kib": RSS_START.load(Ordering::Relaxed),
            "cpu_ns": thread_cpu_ns(),
        }),
        (Some("go"), Some(round), Some(size)) => {
            let (Ok(round), Ok(size)) = (round.parse::<u64>(), size.parse::<usize>()) else {
                return;
            };
            let mut payload = vec![0u8; size.max(16)];
            let deflate = DEFLATE.load(Ordering::Relaxed);
            if deflate {
                for (i, b) in payload.iter_mut().enumerate().skip(16) {
                    *b = JSON_FILLER[(i - 16) % JSON_FILLER.len()];
                }
            }
            if deflate && round == 0 {
                let plain = wsx::proto::encode_server_frame(wsx::proto::OpCode::Binary, &payload);
                let deflated =
                    wsx::proto::deflate::deflate_frame(wsx::proto::OpCode::Binary, &payload, 1, 15)
                        .map_or(0, |f| f.len());
                eprintln!(
                    "fanout server: frame bytes plain {} deflated {deflated} (payload {})",
                    plain.len(),
                    payload.len()
                );
            }
            let sent_ns = wall_ns();
            payload[..8].copy_from_slice(&round.to_le_bytes());
            payload[8..16].copy_from_slice(&sent_ns.to_le_bytes());
            let started = Instant::now();
            let queued = server.broadcast(MessageType::Binary, payload);
            let call_ns = started.elapsed().as_nanos();
            match queued {
                // The control connection is one of the receivers; it is not counted.
                Ok(n) => json!({
                    "round": round,
                    "queued": n.saturating_sub(1),
                    "sent_ns": sent_ns,
                    "broadcast_call_ns": u64::try_from(call_ns).unwrap_or(u64::MAX),
                }),
                Err(e) => json!({ "round": round, "error": e.to_string() }),
            }
        }
        (Some("quit"), None, _) => {
            let server = server.clone();
            tokio::spawn(async move {
                server.shutdown().await;
                SHUT_DOWN.notify_one();
            });
            return;
        }
        _ => json!({ "error": format!("unknown command {command:?}") }),
    };
    let _ = conn.write_text(reply.to_string());
}

// ---------------------------------------------------------------------------------------------
// Clients role

/// What every client task reports into (the runtime is single-threaded, but tasks must be
/// `Send` for `tokio::spawn`, so plain atomics).
struct Tally {
    /// Clients whose handshake succeeded (known once the connect phase is over).
    connected: AtomicUsize,
    /// Client tasks still running.
    alive: AtomicUsize,
    /// Signalled when `alive` drops to zero.
    all_closed: Notify,
    /// Per round: clients that received it, first and last receipt (wall ns).
    received: Vec<AtomicUsize>,
    first_ns: Vec<AtomicU64>,
    last_ns: Vec<AtomicU64>,
    /// Signalled when some round reached every connected client.
    round_done: Notify,
    errors: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn new(rounds: usize) -> Self {
        Self {
            connected: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            all_closed: Notify::new(),
            received: (0..rounds).map(|_| AtomicUsize::new(0)).collect(),
            first_ns: (0..rounds).map(|_| AtomicU64::new(u64::MAX)).collect(),
            last_ns: (0..rounds).map(|_| AtomicU64::new(0)).collect(),
            round_done: Notify::new(),
            errors: AtomicUsize::new(0),
            first_error: Mutex::new(None),
        }
    }

    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert(what);
    }

    fn received(&self, round: usize) -> usize {
        self.received[round].load(Ordering::Acquire)
    }
}

/// One client: reads until the connection ends, noting when each round arrives.
async fn client(mut ws: WebSocket<TcpStream>, tally: Arc<Tally>) {
    while let Some(item) = ws.next().await {
        match item {
            Ok(Message::Binary(data)) if data.len() >= 16 => {
                let now = wall_ns();
                let mut round = [0u8; 8];
                round.copy_from_slice(&data[..8]);
                let Ok(round) = usize::try_from(u64::from_le_bytes(round)) else {
                    continue;
                };
                if round >= tally.received.len() {
                    continue;
                }
                tally.first_ns[round].fetch_min(now, Ordering::Relaxed);
                tally.last_ns[round].fetch_max(now, Ordering::Relaxed);
                let n = tally.received[round].fetch_add(1, Ordering::AcqRel) + 1;
                if n >= tally.connected.load(Ordering::Acquire) {
                    tally.round_done.notify_one();
                }
            }
            // Pings are answered and close replies queued by the protocol core.
            Ok(_) => {}
            Err(e) => {
                tally.error(format!("client read: {e}"));
                break;
            }
        }
    }
    if tally.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
        tally.all_closed.notify_one();
    }
}

/// Opens clients `next..total` (shared counter) one at a time; `concurrency` of these run.
async fn connector(
    url: String,
    total: usize,
    next: Arc<AtomicUsize>,
    tally: Arc<Tally>,
    deflate: bool,
) {
    let mut options = wsx::handshake::ClientOptions::default();
    if deflate {
        options
            .extensions
            .push(Arc::new(PerMessageDeflate::new(DeflateConfig::default())));
    }
    let config = wsx::WebSocketConfig::default();
    let headers = wsx::http::HeaderMap::new();
    while next.fetch_add(1, Ordering::Relaxed) < total {
        let connect = wsx::connect_with(&url, &headers, &options, config);
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok((ws, _response))) => {
                tally.connected.fetch_add(1, Ordering::AcqRel);
                tally.alive.fetch_add(1, Ordering::AcqRel);
                tokio::spawn(client(ws, tally.clone()));
            }
            Ok(Err(e)) => tally.error(format!("connect: {e}")),
            Err(_) => tally.error("connect: timed out".into()),
        }
    }
}

/// The control connection: sends a command and returns the next text reply (broadcast frames
/// that reach it meanwhile are skipped).
async fn request(ctl: &mut WebSocket<TcpStream>, command: &str) -> Result<Value, String> {
    ctl.send(Message::text(command.to_owned()))
        .await
        .map_err(|e| format!("control send: {e}"))?;
    let reply = async {
        while let Some(item) = ctl.next().await {
            match item {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str::<Value>(text.as_str())
                        .map_err(|e| format!("control reply: {e}"));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("control read: {e}")),
            }
        }
        Err("control connection closed".to_string())
    };
    tokio::time::timeout(ROUND_TIMEOUT, reply)
        .await
        .map_err(|_| format!("no reply to {command:?} within {ROUND_TIMEOUT:?}"))?
}

/// Waits (bounded) until round `round` reached every connected client.
async fn wait_round(tally: &Tally, round: usize) {
    let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
    loop {
        let notified = tally.round_done.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if tally.received(round) >= tally.connected.load(Ordering::Acquire) {
            return;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return;
        }
    }
}

async fn clients_main(args: &Args, url: &str) -> Result<Value, String> {
    let base = url.trim_end_matches('/').to_owned();
    if let Some(limit) = open_files_limit() {
        let needed = args.clients as u64 + 64;
        if limit < needed {
            return Err(format!(
                "the open-files limit is {limit}, below --clients {} + 64; raise `ulimit -n` \
                 or lower --clients",
                args.clients
            ));
        }
    }
    let work = async {
        let tally = Arc::new(Tally::new(args.rounds));
        // Connect phase: `concurrency` connectors share a counter, so at most that many
        // handshakes are in flight (below the listen backlog; no SYN is dropped).
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let connectors: Vec<_> = (0..args.concurrency.min(args.clients.max(1)))
            .map(|_| {
                tokio::spawn(connector(
                    format!("{base}/"),
                    args.clients,
                    next.clone(),
                    tally.clone(),
                    args.deflate != Deflate::Off,
                ))
            })
            .collect();
        for c in connectors {
            c.await.map_err(|e| format!("connector task: {e}"))?;
        }
        let connect_s = started.elapsed().as_secs_f64();
        let connected = tally.connected.load(Ordering::Acquire);

        let (mut ctl, _) =
            tokio::time::timeout(CONNECT_TIMEOUT, wsx::connect(&format!("{base}/control")))
                .await
                .map_err(|_| "control connect timed out".to_string())?
                .map_err(|e| format!("control connect: {e}"))?;
        // The server registers a connection right after its handshake: wait until it has all.
        let mut stats = request(&mut ctl, "stats").await?;
        let deadline = Instant::now() + ROUND_TIMEOUT;
        while stats["connections"].as_u64().unwrap_or(0) < connected as u64 + 1
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stats = request(&mut ctl, "stats").await?;
        }

        let mut per_round = Vec::new();
        let (mut first, mut last, mut rate, mut call) = (vec![], vec![], vec![], vec![]);
        let (mut server_us, mut client_us) = (vec![], vec![]);
        for round in 0..args.rounds {
            let before = request(&mut ctl, "stats").await?;
            let client_before = thread_cpu_ns();
            let go = Instant::now();
            let reply = request(&mut ctl, &format!("go {round} {}", args.size)).await?;
            if let Some(e) = reply.get("error") {
                return Err(format!("broadcast failed: {e}"));
            }
            wait_round(&tally, round).await;
            let go_to_last_ms = go.elapsed().as_secs_f64() * 1e3;
            let client_cpu = thread_cpu_ns()
                .zip(client_before)
                .map(|(b, a)| b.saturating_sub(a));
            let after = request(&mut ctl, "stats").await?;
            // Server CPU for the round: the broadcast call, every connection's write, and the
            // three control requests around it.
            let server_cpu = after["cpu_ns"]
                .as_u64()
                .zip(before["cpu_ns"].as_u64())
                .map(|(b, a)| b.saturating_sub(a));
            let sent = reply["sent_ns"].as_u64().unwrap_or(0);
            let got = tally.received(round);
            let first_ns = tally.first_ns[round]
                .load(Ordering::Relaxed)
                .saturating_sub(sent);
            let last_ns = tally.last_ns[round]
                .load(Ordering::Relaxed)
                .saturating_sub(sent);
            let call_ms = ms(reply["broadcast_call_ns"].as_u64().unwrap_or(0));
            let per_sec = if got > 0 && last_ns > 0 {
                got as f64 / (last_ns as f64 / 1e9)
            } else {
                0.0
            };
            if got < connected {
                tally.error(format!(
                    "round {round}: {got} of {connected} clients got the message within {ROUND_TIMEOUT:?}"
                ));
            }
            per_round.push(json!({
                "round": round,
                "queued": reply["queued"],
                "received": got,
                "first_ms": ms(first_ns),
                "last_ms": ms(last_ns),
                "go_to_last_ms": go_to_last_ms,
                "broadcast_call_ms": call_ms,
                "deliveries_per_sec": per_sec.round(),
                "server_cpu_ms": server_cpu.map(ms),
                "client_cpu_ms": client_cpu.map(ms),
            }));
            if got > 0 {
                if let Some(ns) = server_cpu {
                    server_us.push(ns as f64 / 1e3 / got as f64);
                }
                if let Some(ns) = client_cpu {
                    client_us.push(ns as f64 / 1e3 / got as f64);
                }
            }
            first.push(ms(first_ns));
            last.push(ms(last_ns));
            rate.push(per_sec);
            call.push(call_ms);
            // Let the writers settle before the next round.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after = request(&mut ctl, "stats").await?;

        // Clean end: the server closes every connection with 1001 and the clients answer.
        ctl.send(Message::text("quit"))
            .await
            .map_err(|e| format!("control send: {e}"))?;
        let closing = Instant::now();
        let close_all = async {
            loop {
                let notified = tally.all_closed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if tally.alive.load(Ordering::Acquire) == 0 {
                    break;
                }
                notified.await;
            }
            while ctl.next().await.is_some() {}
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, close_all)
            .await
            .is_err()
        {
            tally.error(format!(
                "{} clients still open {CLOSE_TIMEOUT:?} after quit",
                tally.alive.load(Ordering::Acquire)
            ));
        }
        let close_s = closing.elapsed().as_secs_f64();

        let rss_start = stats["rss_start_kib"].as_u64();
        let rss_connected = stats["rss_kib"].as_u64();
        let kib_per_conn = match (rss_start, rss_connected) {
            (Some(a), Some(b)) if connected > 0 => Some((b as f64 - a as f64) / connected as f64),
            _ => None,
        };
        let max = |v: &[f64]| {
            v.iter()
                .copied()
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
        };
        let first_error = tally
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok::<Value, String>(json!({
            "bench": "fanout",
            "clients": args.clients,
            "connected": connected,
            "rounds": args.rounds,
            "size": args.size,
            "connect_s": connect_s,
            "first_ms": { "median": median(&mut first.clone()), "max": max(&first) },
            "last_ms": { "median": median(&mut last.clone()), "max": max(&last) },
            "deliveries_per_sec": { "median": median(&mut rate.clone()).map(f64::round), "min": rate.iter().copied().reduce(f64::min).map(f64::round) },
            "broadcast_call_ms": { "median": median(&mut call.clone()), "max": max(&call) },
            "server_cpu_us_per_delivery": median(&mut server_us),
            "client_cpu_us_per_delivery": median(&mut client_us),
            "server_rss_kib": { "start": rss_start, "connected": rss_connected, "after": after["rss_kib"] },
            "server_kib_per_conn": kib_per_conn,
            "close_s": close_s,
            "errors": tally.errors.load(Ordering::Relaxed),
            "first_error": first_error,
            "per_round": per_round,
        }))
    };
    tokio::time::timeout(args.timeout, work)
        .await
        .map_err(|_| format!("gave up after --timeout {:?}", args.timeout))?
}

// ---------------------------------------------------------------------------------------------
// Both roles: the server as a child process

fn deflate_name(deflate: Deflate) -> &'static str {
    match deflate {
        Deflate::Off => "off",
        Deflate::Shared => "shared",
        Deflate::Takeover => "takeover",
    }
}

fn both_main(runtime: &tokio::runtime::Runtime, args: &Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    // The server outlives the clients' own time bound a little, never much.
    let server_timeout = args.timeout.as_secs() + 30;
    let mut child = std::process::Command::new(exe)
        .args(["--role", "server", "--addr", &args.addr, "--timeout"])
        .arg(server_timeout.to_string())
        .args(["--deflate", deflate_name(args.deflate)])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server process: {e}"))?;
    let url = child
        .stdout
        .take()
        .and_then(|out| std::io::BufReader::new(out).lines().next())
        .and_then(Result::ok)
        .and_then(|line| line.strip_prefix("listening ").map(str::to_owned));
    let Some(url) = url else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("the server process did not report its address".into());
    };
    let result = runtime.block_on(clients_main(args, &url));
    // The server exits after `quit`; make sure it does.
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                eprintln!("fanout: the server process did not exit; killing it");
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    result.map(print_report)
}
