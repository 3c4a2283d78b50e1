//! Drives a fan-out server of the `examples/fanout --role server` kind (wsx's, or
//! `fanout-raw`) from one or several client processes, and measures the server's CPU per
//! delivery the way issue 25 defines it: user + system time of the server process from
//! `/proc/PID/stat` after the last round minus after `--warmup` rounds, divided by the
//! deliveries in between. The clients are hand-written (`ws` module: a handshake, then a
//! read loop that counts frames), so the load costs little and is the same for every server.
//!
//! Usage: `fanout-load --url ws://127.0.0.1:PORT --clients N [--procs P] [--rounds 45]
//! [--warmup 5] [--size 64] [--server-pid PID] [--concurrency 64] [--round-timeout 10]`
//!
//! With `--procs P` the clients are split over P processes (this one and P-1 children of the
//! same binary, `--sink`), so that none needs descriptors for more than N/P sockets. Each
//! round is `go R SIZE` on the control connection; it is over when every client of every
//! process has it (children report `done R` on stdout). A round that does not reach everybody
//! within `--round-timeout` seconds is a loss; after the rounds every client says how many it
//! got, so a lost delivery is counted even if a later round completed. Then `quit`.
//!
//! Prints one line and exits 0, or 1 when anything was lost:
//! `fanout-load clients=N procs=P rounds=R warmup=W last-ms-median=X last-ms-max=Y
//! server-cpu-us-per-delivery=Z lost=L` (`server-cpu-us-per-delivery=-` without
//! `--server-pid`).

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use wsx_bench_peers::ws::{self, op};

const USAGE: &str = "usage: fanout-load --url ws://127.0.0.1:PORT --clients N [--procs P] \
[--rounds R] [--warmup W] [--size BYTES] [--server-pid PID] [--concurrency N] [--round-timeout SECS]";

/// How long one connect plus handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the clients wait for the server's close after `quit`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(20);

struct Opts {
    host: String,
    clients: usize,
    procs: usize,
    rounds: usize,
    warmup: usize,
    size: usize,
    server_pid: Option<u32>,
    concurrency: usize,
    round_timeout: Duration,
    sink: bool,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        host: String::new(),
        clients: 1000,
        procs: 1,
        rounds: 45,
        warmup: 5,
        size: 64,
        server_pid: None,
        concurrency: 64,
        round_timeout: Duration::from_secs(10),
        sink: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--sink" {
            o.sink = true;
            continue;
        }
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let n = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("bad {flag} {value}"))
        };
        match flag.as_str() {
            "--url" => {
                o.host = value
                    .strip_prefix("ws://")
                    .ok_or("--url must be ws://HOST:PORT")?
                    .trim_end_matches('/')
                    .to_owned();
            }
            "--clients" => o.clients = n()?,
            "--procs" => o.procs = n()?.max(1),
            "--rounds" => o.rounds = n()?,
            "--warmup" => o.warmup = n()?,
            "--size" => o.size = n()?.max(16),
            "--server-pid" => o.server_pid = Some(n()? as u32),
            "--concurrency" => o.concurrency = n()?.max(1),
            "--round-timeout" => o.round_timeout = Duration::from_secs(n()? as u64),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    if o.host.is_empty() {
        return Err(USAGE.into());
    }
    if o.warmup >= o.rounds {
        return Err("--warmup must be below --rounds".into());
    }
    Ok(o)
}

/// What this process's clients report into.
struct Tally {
    /// Per round: clients that have it.
    received: Vec<AtomicUsize>,
    /// Per round: wall clock (ns) of the last receipt.
    last_ns: Vec<AtomicU64>,
    connected: AtomicUsize,
    alive: AtomicUsize,
    /// A round reached every client, or a client ended.
    changed: Notify,
}

/// A connected client: TCP stream plus the bytes read past its handshake.
async fn connect(host: &str, path: &str, seed: u64) -> Result<(TcpStream, Vec<u8>), String> {
    let mut tcp = TcpStream::connect(host)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..].copy_from_slice(&ws::wall_ns().to_le_bytes());
    let (request, accept) = ws::client_request(host, path, key);
    tcp.write_all(&request)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let mut buf = Vec::with_capacity(512);
    loop {
        if tcp
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("handshake: {e}"))?
            == 0
        {
            return Err("closed during the handshake".into());
        }
        if let Some(end) = ws::head_end(&buf) {
            ws::client_check(&buf[..end], &accept)?;
            return Ok((tcp, buf.split_off(end)));
        }
        if buf.len() > 8192 {
            return Err("handshake response too long".into());
        }
    }
}

/// A client's masked frame (the key need not be secret on loopback).
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    ws::encode(opcode, payload, Some([0x5a, 0x17, 0xc3, 0x2e]))
}

/// One client: counts the rounds it gets until the server closes; answers pings and the close.
async fn client(mut tcp: TcpStream, mut buf: Vec<u8>, tally: Arc<Tally>) {
    let rounds = tally.received.len();
    'read: loop {
        loop {
            let frame = match ws::decode(&buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => break 'read,
            };
            buf.drain(..frame.len);
            match frame.opcode {
                op::BINARY if frame.payload.len() >= 16 => {
                    let mut r = [0u8; 8];
                    r.copy_from_slice(&frame.payload[..8]);
                    let Ok(round) = usize::try_from(u64::from_le_bytes(r)) else {
                        continue;
                    };
                    if round >= rounds {
                        continue;
                    }
                    tally.last_ns[round].fetch_max(ws::wall_ns(), Ordering::Relaxed);
                    let n = tally.received[round].fetch_add(1, Ordering::AcqRel) + 1;
                    if n >= tally.connected.load(Ordering::Acquire) {
                        tally.changed.notify_waiters();
                    }
                }
                op::PING => {
                    if tcp
                        .write_all(&masked(op::PONG, &frame.payload))
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                op::CLOSE => {
                    let _ = tcp.write_all(&masked(op::CLOSE, &frame.payload)).await;
                    // The server closes the TCP connection next (RFC 6455 §7.1.1).
                    let mut rest = [0u8; 64];
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, tcp.read(&mut rest)).await;
                    break 'read;
                }
                _ => {}
            }
        }
        match tcp.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    tally.alive.fetch_sub(1, Ordering::AcqRel);
    tally.changed.notify_waiters();
}

/// Connects `n` clients, `concurrency` handshakes at a time; returns how many connected.
async fn connect_all(o: &Opts, n: usize, tally: &Arc<Tally>) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..o.concurrency.min(n.max(1)))
        .map(|_| {
            let (next, tally, host) = (next.clone(), tally.clone(), o.host.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    match tokio::time::timeout(CONNECT_TIMEOUT, connect(&host, "/", i as u64)).await
                    {
                        Ok(Ok((tcp, rest))) => {
                            tally.connected.fetch_add(1, Ordering::AcqRel);
                            tally.alive.fetch_add(1, Ordering::AcqRel);
                            tokio::spawn(client(tcp, rest, tally.clone()));
                        }
                        Ok(Err(e)) => eprintln!("fanout-load: {e}"),
                        Err(_) => eprintln!("fanout-load: connect timed out"),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    tally.connected.load(Ordering::Acquire)
}

/// Waits until `cond` holds or `deadline` passes; true if it holds.
async fn wait_until(
    tally: &Tally,
    deadline: tokio::time::Instant,
    cond: impl Fn() -> bool,
) -> bool {
    loop {
        let changed = tally.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if cond() {
            return true;
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return cond();
        }
    }
}

/// `--sink`: a child's clients. Prints `ready N`, then `done R` for every round all of them
/// have; the parent writes `sent N` (the rounds it sent) and closes stdin at its end, and the
/// child answers `lost L` once its clients closed.
async fn sink(o: &Opts) -> i32 {
    let tally = new_tally(o.rounds);
    let connected = connect_all(o, o.clients, &tally).await;
    println!("ready {connected}");
    // Stdin closing is the parent's end of the run.
    let (eof_tx, mut eof_rx) = mpsc::unbounded_channel::<usize>();
    std::thread::spawn(move || {
        let mut sent = 0;
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("sent ").and_then(|n| n.parse().ok()) {
                sent = n;
            }
        }
        let _ = eof_tx.send(sent);
    });
    let mut next_round = 0;
    let sent = loop {
        while next_round < o.rounds
            && tally.received[next_round].load(Ordering::Acquire) >= connected
        {
            println!("done {next_round}");
            next_round += 1;
        }
        let changed = tally.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if next_round < o.rounds && tally.received[next_round].load(Ordering::Acquire) >= connected
        {
            continue;
        }
        tokio::select! {
            () = changed => {}
            n = eof_rx.recv() => break n.unwrap_or(0),
        }
    };
    let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
    wait_until(&tally, deadline, || {
        tally.alive.load(Ordering::Acquire) == 0
    })
    .await;
    println!("lost {}", lost(&tally, sent, connected));
    let _ = std::io::stdout().flush();
    0
}

/// Deliveries missing from the first `sent` rounds to `connected` clients.
fn lost(tally: &Tally, sent: usize, connected: usize) -> u64 {
    tally.received[..sent.min(tally.received.len())]
        .iter()
        .map(|r| connected.saturating_sub(r.load(Ordering::Acquire)) as u64)
        .sum()
}

fn new_tally(rounds: usize) -> Arc<Tally> {
    Arc::new(Tally {
        received: (0..rounds).map(|_| AtomicUsize::new(0)).collect(),
        last_ns: (0..rounds).map(|_| AtomicU64::new(0)).collect(),
        connected: AtomicUsize::new(0),
        alive: AtomicUsize::new(0),
        changed: Notify::new(),
    })
}

/// User + system time of process `pid` in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// `/proc/PID/stat` counts in USER_HZ, 100 per second on every Linux architecture tokio runs
/// on (`getconf CLK_TCK`).
const TICK_US: f64 = 10_000.0;

/// A child process's lines, read on a thread of its own.
struct Sink {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

fn spawn_sink(o: &Opts, clients: usize) -> Result<Sink, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["--sink", "--url", &format!("ws://{}", o.host)])
        .args([
            "--clients",
            &clients.to_string(),
            "--rounds",
            &o.rounds.to_string(),
        ])
        .args([
            "--warmup",
            &o.warmup.to_string(),
            "--concurrency",
            &o.concurrency.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start a client process: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let (tx, lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Ok(Sink { child, lines })
}

/// The control connection: sends a command, returns the next text reply as JSON.
async fn request(
    ctl: &mut TcpStream,
    buf: &mut Vec<u8>,
    command: &str,
) -> Result<serde_json::Value, String> {
    ctl.write_all(&masked(op::TEXT, command.as_bytes()))
        .await
        .map_err(|e| format!("control: {e}"))?;
    let reply = async {
        loop {
            while let Some(frame) = ws::decode(buf)? {
                buf.drain(..frame.len);
                match frame.opcode {
                    op::TEXT => {
                        return serde_json::from_slice(&frame.payload)
                            .map_err(|e| format!("control reply: {e}"));
                    }
                    op::PING => {
                        let _ = ctl.write_all(&masked(op::PONG, &frame.payload)).await;
                    }
                    op::CLOSE => return Err("control connection closed".to_string()),
                    _ => {}
                }
            }
            if ctl
                .read_buf(buf)
                .await
                .map_err(|e| format!("control: {e}"))?
                == 0
            {
                return Err("control connection closed".into());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reply)
        .await
        .map_err(|_| format!("no reply to {command:?}"))?
}

async fn drive(o: &Opts) -> Result<bool, String> {
    let share = o.clients / o.procs;
    let mut sinks = Vec::new();
    for i in 1..o.procs {
        sinks.push(spawn_sink(o, share + usize::from(i < o.clients % o.procs))?);
    }
    let own_n = share;
    let tally = new_tally(o.rounds);
    let own = connect_all(o, own_n, &tally).await;
    let mut total = own;
    for s in &mut sinks {
        let line = tokio::time::timeout(Duration::from_secs(300), s.lines.recv())
            .await
            .ok()
            .flatten()
            .ok_or("a client process did not report")?;
        total += line
            .strip_prefix("ready ")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or(format!("a client process said {line:?}"))?;
    }
    if total < o.clients {
        return Err(format!("{total} of {} clients connected", o.clients));
    }
    let (mut ctl, mut buf) = connect(&o.host, "/control", u64::MAX).await?;
    // The server counts the control connection too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while request(&mut ctl, &mut buf, "stats").await?["connections"]
        .as_u64()
        .unwrap_or(0)
        < total as u64 + 1
    {
        if Instant::now() > deadline {
            return Err("the server does not see every client".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut last_ms = Vec::new();
    // Rounds sent when a round failed to reach everybody (0: none failed).
    let mut incomplete = 0;
    let (mut cpu_from, mut cpu_to) = (None, None);
    let mut done = vec![0usize; sinks.len()];
    for round in 0..o.rounds {
        if round == o.warmup {
            cpu_from = o.server_pid.and_then(cpu_ticks);
        }
        let go = Instant::now();
        let reply = request(&mut ctl, &mut buf, &format!("go {round} {}", o.size)).await?;
        if let Some(e) = reply.get("error") {
            return Err(format!("go: {e}"));
        }
        let deadline = tokio::time::Instant::now() + o.round_timeout;
        let mut ok = wait_until(&tally, deadline, || {
            tally.received[round].load(Ordering::Acquire) >= own
        })
        .await;
        for (s, d) in sinks.iter_mut().zip(done.iter_mut()) {
            while *d <= round {
                match tokio::time::timeout_at(deadline, s.lines.recv()).await {
                    Ok(Some(line)) if line.starts_with("done ") => *d += 1,
                    Ok(Some(_)) => {}
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
        }
        if ok {
            last_ms.push(go.elapsed().as_secs_f64() * 1e3);
        } else {
            // A failed run: the remaining rounds would only wait for the same clients.
            incomplete = round + 1;
            eprintln!(
                "fanout-load: round {round} did not reach every client within {:?}; stopping",
                o.round_timeout
            );
            break;
        }
        // Let the writers settle before the next round (as examples/fanout does).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(pid) = o.server_pid {
        cpu_to = cpu_ticks(pid);
    }
    ctl.write_all(&masked(op::TEXT, b"quit"))
        .await
        .map_err(|e| format!("control: {e}"))?;
    let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
    wait_until(&tally, deadline, || {
        tally.alive.load(Ordering::Acquire) == 0
    })
    .await;
    let sent = if incomplete > 0 { incomplete } else { o.rounds };
    let mut lost = lost(&tally, sent, own);
    for mut s in sinks {
        if let Some(mut stdin) = s.child.stdin.take() {
            let _ = writeln!(stdin, "sent {sent}");
        }
        loop {
            match tokio::time::timeout(CLOSE_TIMEOUT + Duration::from_secs(5), s.lines.recv()).await
            {
                Ok(Some(line)) => {
                    if let Some(n) = line
                        .strip_prefix("lost ")
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        lost += n;
                        break;
                    }
                }
                _ => return Err("a client process did not report its losses".into()),
            }
        }
        let _ = s.child.wait();
    }
    last_ms.sort_by(f64::total_cmp);
    let median = last_ms.get(last_ms.len() / 2).copied().unwrap_or(f64::NAN);
    let max = last_ms.last().copied().unwrap_or(f64::NAN);
    let cpu = match (cpu_from, cpu_to) {
        (Some(a), Some(b)) => format!(
            "{:.3}",
            (b.saturating_sub(a)) as f64 * TICK_US / ((o.rounds - o.warmup) * total) as f64
        ),
        _ => "-".into(),
    };
    println!(
        "fanout-load clients={total} procs={} rounds={} warmup={} last-ms-median={median:.2} \
         last-ms-max={max:.2} server-cpu-us-per-delivery={cpu} lost={lost}",
        o.procs, o.rounds, o.warmup
    );
    if lost > 0 || incomplete > 0 {
        eprintln!("fanout-load: FAILED: {lost} deliveries lost in {sent} rounds");
        return Ok(false);
    }
    Ok(true)
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fanout-load: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        if o.sink {
            return sink(&o).await;
        }
        match drive(&o).await {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("fanout-load: {e}");
                1
            }
        }
    });
    std::process::exit(code);
}
