//! A Socket.IO load generator for servers that implement the sio_demo contract (ours, or Node's
//! socket.io running `benches/node/sio_demo.js`), used by `scripts/sio_bench.sh` and
//! `scripts/sio_cluster_bench.sh`. Every client is a [`wsx_sio::client`] socket on its own
//! manager (its own connection, as `io()` with `forceNew`), WebSocket transport only, no
//! reconnection: the same client against every server, the one applications use.
//!
//! Usage:
//!   sio_load idle      --addr HOST:PORT --clients N [--hold SECS] [--transport websocket|polling]
//!   sio_load fanout    --addr HOST:PORT[,HOST:PORT...] --clients N [--rounds R]
//!                      [--round-timeout SECS] [--procs P] [--server-pid PID [--warmup W]]
//!   sio_load roundtrip --addr HOST:PORT --clients N [--seconds S]
//!
//! `idle` connects N clients to `/` (answering pings and the server's `server-ask`), prints
//! `ready N`, and holds them; `--transport polling` makes them HTTP long-polling clients
//! that never upgrade (each keeps a `GET` waiting at the server), to measure what an idle
//! polling client costs the server (WebSocket, the default, otherwise). `fanout` connects N clients, then one of them emits `broadcast`
//! R times, each after the previous one reached everybody: it prints the time until the last
//! client had it and deliveries per second; with several addresses (servers of one cluster) the
//! receivers are spread over them in turn and the sender is on the first. `roundtrip` runs `echo-ack` round trips on N
//! clients for S seconds and prints round trips per second, then `total round-trips=T`.
//!
//! `fanout` counts every client's deliveries: each round must reach every client within
//! `--round-timeout` seconds (default 30). A round that does not ends the run: it prints
//! `lost clients=N rounds=S deliveries=L clients-missing=K` (L deliveries of the S rounds sent
//! never arrived, K clients missed at least one) instead of the `fanout` line and exits 1.
//! `--procs P` splits the receivers over P processes (this one and P-1 children, mode
//! `receive`, which report on stdout), so that no process needs descriptors for more than N/P
//! sockets. `--server-pid PID` also prints `server-cpu clients=N rounds=R warmup=W
//! us-per-delivery=X`: the server process's user + system time (`/proc/PID/stat`) after the
//! last round minus after round W (default 5), over the deliveries in between (issue 25's
//! definition, which leaves the connection set-up out).
//!
//! Each client's manager task answers the heartbeat as soon as the client joined: with
//! thousands of clients the ramp takes longer than a heartbeat, and a client that does not
//! answer its pings meanwhile is dropped by the server.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use wsx_sio::client::{Args, ClientOptions, Socket, Transports, io};

struct Opts {
    mode: String,
    addr: String,
    clients: usize,
    hold: u64,
    rounds: usize,
    seconds: u64,
    round_timeout: u64,
    procs: usize,
    server_pid: Option<u32>,
    warmup: usize,
}

/// The clients' transport (`--transport`): WebSocket unless told otherwise.
static TRANSPORT: std::sync::OnceLock<Transports> = std::sync::OnceLock::new();

/// `--deflate on`: the clients offer permessage-deflate (as browsers and Node's `ws` do).
static DEFLATE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// `--payload BYTES`: the length of the `pad` string of each fan-out round's broadcast
/// (default: the 16 bytes `0123456789abcdef`); past a server's deflate threshold, the
/// broadcast is compressed.
static PAYLOAD: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn usage() -> ! {
    eprintln!(
        "usage: sio_load idle|fanout|roundtrip --addr HOST:PORT --clients N \
         [--hold SECS] [--rounds R] [--seconds S] [--round-timeout SECS] [--procs P] \
         [--server-pid PID] [--warmup W] [--transport websocket|polling] \
         [--payload BYTES] [--deflate on|off]"
    );
    std::process::exit(2);
}

fn parse() -> Opts {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| usage());
    let mut opts = Opts {
        mode,
        addr: "127.0.0.1:3000".into(),
        clients: 100,
        hold: 10,
        rounds: 20,
        seconds: 5,
        round_timeout: 30,
        procs: 1,
        server_pid: None,
        warmup: 5,
    };
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        let number = || value.parse().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--addr" => opts.addr = value.clone(),
            "--clients" => opts.clients = number() as usize,
            "--hold" => opts.hold = number(),
            "--rounds" => opts.rounds = number() as usize,
            "--seconds" => opts.seconds = number(),
            "--round-timeout" => opts.round_timeout = number(),
            "--procs" => opts.procs = (number() as usize).max(1),
            "--server-pid" => opts.server_pid = Some(number() as u32),
            "--warmup" => opts.warmup = number() as usize,
            "--transport" => {
                let transport = match value.as_str() {
                    "websocket" => Transports::WebSocket,
                    "polling" => Transports::Polling,
                    _ => usage(),
                };
                let _ = TRANSPORT.set(transport);
            }
            "--payload" => {
                let _ = PAYLOAD.set(number() as usize);
            }
            "--deflate" => {
                let _ = DEFLATE.set(match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => usage(),
                });
            }
            _ => usage(),
        }
    }
    opts
}

fn main() {
    let opts = parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|err| {
            eprintln!("sio_load: runtime: {err}");
            std::process::exit(1)
        });
    let code = runtime.block_on(async move {
        match opts.mode.as_str() {
            "idle" => idle(&opts).await,
            "fanout" => fanout(&opts).await,
            "receive" => receive(&opts).await,
            "roundtrip" => roundtrip(&opts).await,
            _ => usage(),
        }
    });
    // The clients are not disconnected one by one: the process ends, and with it their
    // connections (what the servers under test see as transport closes).
    std::process::exit(code);
}

/// How many clients were disconnected, by reason (a connected client of a load generator
/// has no reason to be: each one is a failure of the run, reported on stderr).
static LOST: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// Reports the clients lost so far on stderr, if any.
fn report_lost() {
    let lost = LOST.lock().map(|l| l.clone()).unwrap_or_default();
    if !lost.is_empty() {
        let by_reason: Vec<String> = lost.iter().map(|(why, n)| format!("{n} {why}")).collect();
        eprintln!("sio_load: clients disconnected: {}", by_reason.join(", "));
    }
}

/// Called for every `broadcast` a client receives, with its arguments.
type OnBroadcast = Arc<dyn Fn(&Args) + Send + Sync>;

/// Makes each client's [`OnBroadcast`] (one per client, so that each counts its own).
type Counter = Arc<dyn Fn() -> OnBroadcast + Send + Sync>;

/// The `pad` of a fan-out round's broadcast (`--payload`).
fn pad() -> String {
    match PAYLOAD.get() {
        // Text that compresses as chat messages do: words, repeated.
        Some(&n) => "lorem ipsum dolor sit amet, "
            .chars()
            .cycle()
            .take(n)
            .collect(),
        None => "0123456789abcdef".to_owned(),
    }
}

/// The clients' options: WebSocket only (no HTTP requests) unless `--transport polling`, no
/// reconnection (a lost client is a failure of the run, not one to bring back).
fn options() -> ClientOptions {
    ClientOptions {
        transports: TRANSPORT.get().copied().unwrap_or(Transports::WebSocket),
        reconnection: false,
        websocket: DEFLATE.get().copied().unwrap_or(false).then(|| {
            wsx::Client::new(wsx::Config {
                compression: Some(wsx::proto::deflate::DeflateConfig::default()),
                ..wsx::Config::default()
            })
        }),
        ..ClientOptions::default()
    }
}

/// Connects one client to `/` of `addr`; it answers the server's `server-ask` (the demo
/// contract asks every socket on connection) and calls `on_broadcast` for each `broadcast`.
async fn join(addr: &str, on_broadcast: Option<OnBroadcast>) -> Result<Socket, String> {
    let socket = io(&format!("http://{addr}"), options()).map_err(|e| e.to_string())?;
    socket.on_with_ack("server-ask", |_s, _question: Args, ack| {
        let _ = ack.send(&1);
        std::future::ready(())
    });
    socket.on_disconnect(|_s, reason| {
        if let Ok(mut lost) = LOST.lock() {
            *lost.entry(reason.to_string()).or_default() += 1;
        }
        std::future::ready(())
    });
    if let Some(on_broadcast) = on_broadcast {
        socket.on("broadcast", move |_s, payload: Args| {
            on_broadcast(&payload);
            std::future::ready(())
        });
    }
    match socket.connect().await {
        Ok(()) => Ok(socket),
        Err(err) => {
            // Ends the manager's task whatever state it is in.
            socket.disconnect();
            Err(err.to_string())
        }
    }
}

/// Connects `n` clients to `addr`, at most 200 handshakes at a time; those that could not
/// connect are reported on stderr and left out.
async fn join_all(addr: &str, n: usize, counter: Option<Counter>) -> Vec<Socket> {
    let gate = Arc::new(Semaphore::new(200));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            let addr = addr.to_owned();
            let on_broadcast = counter.as_ref().map(|make| make());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                join(&addr, on_broadcast).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        match task.await {
            Ok(Ok(socket)) => out.push(socket),
            Ok(Err(err)) => eprintln!("sio_load: connect failed: {err}"),
            Err(err) => eprintln!("sio_load: task failed: {err}"),
        }
    }
    out
}

async fn idle(opts: &Opts) -> i32 {
    let clients = join_all(&opts.addr, opts.clients, None).await;
    let n = clients.len();
    println!("ready {n}");
    tokio::time::sleep(Duration::from_secs(opts.hold)).await;
    report_lost();
    i32::from(n != opts.clients)
}

/// What one process's fan-out clients received.
struct Deliveries {
    /// Per round: how many clients have it.
    per_round: Vec<AtomicUsize>,
    /// Per client (in the order they were made): how many rounds it got.
    per_client: Mutex<Vec<Arc<AtomicUsize>>>,
    /// How many clients of this process are connected (each round's target).
    target: AtomicUsize,
    /// Signalled when a round reached every client of this process.
    complete: Notify,
}

impl Deliveries {
    fn new(rounds: usize) -> Arc<Self> {
        Arc::new(Self {
            per_round: (0..rounds).map(|_| AtomicUsize::new(0)).collect(),
            per_client: Mutex::new(Vec::new()),
            target: AtomicUsize::new(usize::MAX),
            complete: Notify::new(),
        })
    }

    /// Each client's callback: counts the round (the payload's `round`) for it.
    fn counter(self: &Arc<Self>) -> Counter {
        let deliveries = self.clone();
        Arc::new(move || -> OnBroadcast {
            let mine = Arc::new(AtomicUsize::new(0));
            if let Ok(mut all) = deliveries.per_client.lock() {
                all.push(mine.clone());
            }
            let deliveries = deliveries.clone();
            Arc::new(move |payload: &Args| {
                let round = payload
                    .values
                    .first()
                    .and_then(|v| v.get("round"))
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|r| usize::try_from(r).ok());
                let Some(count) = round.and_then(|r| deliveries.per_round.get(r)) else {
                    return;
                };
                mine.fetch_add(1, Ordering::Relaxed);
                if count.fetch_add(1, Ordering::AcqRel) + 1
                    >= deliveries.target.load(Ordering::Acquire)
                {
                    deliveries.complete.notify_waiters();
                }
            })
        })
    }

    fn has(&self, round: usize) -> bool {
        self.per_round[round].load(Ordering::Acquire) >= self.target.load(Ordering::Acquire)
    }

    /// Waits until `round` reached every client of this process, or `deadline`.
    async fn wait(&self, round: usize, deadline: tokio::time::Instant) -> bool {
        loop {
            let complete = self.complete.notified();
            tokio::pin!(complete);
            complete.as_mut().enable();
            if self.has(round) {
                return true;
            }
            if tokio::time::timeout_at(deadline, complete).await.is_err() {
                return self.has(round);
            }
        }
    }

    /// Deliveries of the first `sent` rounds that never arrived, and how many clients missed
    /// at least one of them.
    fn lost(&self, sent: usize) -> (usize, usize) {
        let target = self.target.load(Ordering::Acquire);
        let lost = self.per_round[..sent.min(self.per_round.len())]
            .iter()
            .map(|r| target.saturating_sub(r.load(Ordering::Acquire)))
            .sum();
        // Clients that failed to connect have counters too: count those that got everything.
        let complete = self.per_client.lock().map_or(0, |all| {
            all.iter()
                .filter(|c| c.load(Ordering::Relaxed) >= sent)
                .count()
        });
        (lost, target.saturating_sub(complete))
    }
}

/// Connects `n` fan-out clients spread over `addrs` in turn.
async fn join_spread(addrs: &[&str], n: usize, counter: &Counter) -> Vec<Socket> {
    let mut clients = Vec::with_capacity(n);
    for (i, addr) in addrs.iter().enumerate() {
        let share = n / addrs.len() + usize::from(i < n % addrs.len());
        clients.extend(join_all(addr, share, Some(counter.clone())).await);
    }
    clients
}

/// User + system time of process `pid` in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from after its closing parenthesis.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// `/proc/PID/stat` counts USER_HZ ticks: 100 per second on Linux (`getconf CLK_TCK`).
const TICK_US: f64 = 10_000.0;

/// A `receive` child process: its stdin, and its stdout's lines.
struct Receiver {
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Receiver {
    fn spawn(opts: &Opts, clients: usize) -> Result<Self, String> {
        use std::io::BufRead;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = std::process::Command::new(exe)
            .args([
                "receive",
                "--addr",
                &opts.addr,
                "--clients",
                &clients.to_string(),
            ])
            .args(["--rounds", &opts.rounds.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start a receive process: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Self { child, lines })
    }

    /// The next line starting with `prefix`, without it, before `deadline`.
    async fn next(&mut self, prefix: &str, deadline: tokio::time::Instant) -> Option<String> {
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .ok()??;
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.to_owned());
            }
        }
    }

    /// Tells the child how many rounds were sent and returns its (lost deliveries, clients
    /// that missed one).
    async fn finish(mut self, sent: usize) -> Option<(usize, usize)> {
        use std::io::Write;
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = writeln!(stdin, "sent {sent}");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let line = self.next("lost ", deadline).await;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut numbers = line?
            .split(' ')
            .map(str::parse::<usize>)
            .collect::<Vec<_>>()
            .into_iter();
        Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
    }
}

/// `receive` (a child of `fanout --procs`): connects `--clients` receivers, prints `ready N`,
/// then `done R` for each round all of them have; once stdin says `sent S` (or closes), it
/// prints `lost L K` for the first S rounds and exits.
async fn receive(opts: &Opts) -> i32 {
    let deliveries = Deliveries::new(opts.rounds);
    let addrs: Vec<&str> = opts.addr.split(',').collect();
    let clients = join_spread(&addrs, opts.clients, &deliveries.counter()).await;
    deliveries.target.store(clients.len(), Ordering::Release);
    println!("ready {}", clients.len());
    let (tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sent = 0;
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("sent ").and_then(|n| n.parse().ok()) {
                sent = n;
                break;
            }
        }
        let _ = tx.send(sent);
    });
    let mut next = 0;
    let sent = loop {
        while next < opts.rounds && deliveries.has(next) {
            println!("done {next}");
            next += 1;
        }
        let complete = deliveries.complete.notified();
        tokio::pin!(complete);
        complete.as_mut().enable();
        if next < opts.rounds && deliveries.has(next) {
            continue;
        }
        tokio::select! {
            () = complete => {}
            sent = sent_rx.recv() => break sent.unwrap_or(0),
        }
    };
    let (lost, missing) = deliveries.lost(sent);
    println!("lost {lost} {missing}");
    report_lost();
    0
}

async fn fanout(opts: &Opts) -> i32 {
    let deliveries = Deliveries::new(opts.rounds);
    let counter = deliveries.counter();
    let addrs: Vec<&str> = opts.addr.split(',').collect();
    let count = opts.clients.saturating_sub(1);
    // Receivers in other processes (`--procs`): an equal share each, this one the rest.
    let share = count / opts.procs;
    let mut others = Vec::new();
    for _ in 1..opts.procs {
        match Receiver::spawn(opts, share) {
            Ok(child) => others.push(child),
            Err(err) => {
                eprintln!("sio_load: {err}");
                return 1;
            }
        }
    }
    let receivers = join_spread(&addrs, count - share * others.len(), &counter).await;
    // The sender counts its own copy like any receiver.
    let sender = match join(addrs[0], Some(counter())).await {
        Ok(sender) => sender,
        Err(err) => {
            eprintln!("sio_load: connect failed: {err}");
            return 1;
        }
    };
    let own = receivers.len() + 1;
    deliveries.target.store(own, Ordering::Release);
    let mut n = own;
    for child in &mut others {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        match child
            .next("ready ", deadline)
            .await
            .and_then(|k| k.parse::<usize>().ok())
        {
            Some(k) => n += k,
            None => {
                eprintln!("sio_load: a receive process did not connect its clients");
                return 1;
            }
        }
    }
    let mut done = vec![0usize; others.len()];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::with_capacity(opts.rounds);
    let mut failed = None;
    let mut cpu_from = None;
    let started = Instant::now();
    for round in 0..opts.rounds {
        if round == opts.warmup {
            cpu_from = opts.server_pid.and_then(cpu_ticks);
        }
        let t0 = Instant::now();
        let payload = json!({"round": round, "pad": pad()});
        if sender.emit("broadcast", &payload).is_err() || !sender.connected() {
            eprintln!("sio_load: round {round}: the sender is disconnected");
            return 1;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(opts.round_timeout);
        let mut complete = deliveries.wait(round, deadline).await;
        for (child, done) in others.iter_mut().zip(done.iter_mut()) {
            while complete && *done <= round {
                complete = child.next("done ", deadline).await.is_some();
                *done += usize::from(complete);
            }
        }
        if !complete {
            eprintln!(
                "sio_load: round {round}: {} of this process's {own} clients got it within {} s",
                deliveries.per_round[round].load(Ordering::Acquire),
                opts.round_timeout
            );
            failed = Some(round + 1);
            break;
        }
        latencies.push(t0.elapsed());
    }
    let total = started.elapsed();
    let cpu_to = opts.server_pid.and_then(cpu_ticks);
    // Every client's count, over every round sent: a delivery lost in a round that completed
    // anyway (a duplicate elsewhere) is caught here.
    let sent = failed.unwrap_or(opts.rounds);
    let (mut lost, mut missing) = deliveries.lost(sent);
    for child in others {
        match child.finish(sent).await {
            Some((l, m)) => (lost, missing) = (lost + l, missing + m),
            None => {
                eprintln!("sio_load: a receive process did not report its deliveries");
                return 1;
            }
        }
    }
    if lost > 0 {
        println!("lost clients={n} rounds={sent} deliveries={lost} clients-missing={missing}");
        eprintln!(
            "sio_load: FAILED: {missing} of {n} clients missed deliveries ({lost} lost in {sent} rounds)"
        );
        report_lost();
        return 1;
    }
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len().max(1) as u32;
    let p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    let rate = (n * opts.rounds) as f64 / total.as_secs_f64();
    println!(
        "fanout clients={n} rounds={} last-delivery mean={:.2}ms p50={:.2}ms deliveries/s={:.0}",
        opts.rounds,
        mean.as_secs_f64() * 1e3,
        p50.as_secs_f64() * 1e3,
        rate
    );
    if let (Some(from), Some(to)) = (cpu_from, cpu_to) {
        let deliveries = (opts.rounds - opts.warmup) * n;
        println!(
            "server-cpu clients={n} rounds={} warmup={} us-per-delivery={:.3}",
            opts.rounds,
            opts.warmup,
            to.saturating_sub(from) as f64 * TICK_US / deliveries as f64
        );
    }
    0
}

async fn roundtrip(opts: &Opts) -> i32 {
    let clients = join_all(&opts.addr, opts.clients, None).await;
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(opts.seconds);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|socket| {
            let count = count.clone();
            tokio::spawn(async move {
                let mut id: u64 = 0;
                while Instant::now() < deadline {
                    id += 1;
                    if let Err(err) = socket.emit_with_ack("echo-ack", &json!({"n": id})).await {
                        eprintln!("sio_load: echo-ack: {err}");
                        return;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let total = count.load(Ordering::Relaxed);
    println!(
        "roundtrip clients={} seconds={} round-trips/s={:.0}",
        opts.clients,
        opts.seconds,
        total as f64 / opts.seconds as f64
    );
    // The exact count, for scripts/sio_roundtrip_instr.sh (instructions per round trip).
    println!("total round-trips={total}");
    0
}
