//! A Socket.IO load generator for servers that implement the sio_demo contract (ours, or Node's
//! socket.io running `benches/node/sio_demo.js`), used by `scripts/sio_bench.sh` and
//! `scripts/sio_cluster_bench.sh`. Every client is a [`wsx_sio::client`] socket on its own
//! manager (its own connection, as `io()` with `forceNew`), WebSocket transport only, no
//! reconnection: the same client against every server, the one applications use.
//!
//! Usage:
//!   sio_load idle      --addr HOST:PORT --clients N [--hold SECS] [--transport websocket|polling]
//!   sio_load fanout    --addr HOST:PORT[,HOST:PORT...] --clients N [--rounds R]
//!   sio_load roundtrip --addr HOST:PORT --clients N [--seconds S]
//!
//! `idle` connects N clients to `/` (answering pings and the server's `server-ask`), prints
//! `ready N`, and holds them; `--transport polling` makes them HTTP long-polling clients
//! that never upgrade (each keeps a `GET` waiting at the server), to measure what an idle
//! polling client costs the server (WebSocket, the default, otherwise). `fanout` connects N clients, then one of them emits `broadcast`
//! R times, each after the previous one reached everybody: it prints the time until the last
//! client had it and deliveries per second; with several addresses (servers of one cluster) the
//! receivers are spread over them in turn and the sender is on the first. `roundtrip` runs `echo-ack` round trips on N
//! clients for S seconds and prints round trips per second.
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
}

/// The clients' transport (`--transport`): WebSocket unless told otherwise.
static TRANSPORT: std::sync::OnceLock<Transports> = std::sync::OnceLock::new();

fn usage() -> ! {
    eprintln!(
        "usage: sio_load idle|fanout|roundtrip --addr HOST:PORT --clients N \
         [--hold SECS] [--rounds R] [--seconds S] [--transport websocket|polling]"
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
            "--transport" => {
                let transport = match value.as_str() {
                    "websocket" => Transports::WebSocket,
                    "polling" => Transports::Polling,
                    _ => usage(),
                };
                let _ = TRANSPORT.set(transport);
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

/// Called for every `broadcast` a client receives.
type OnBroadcast = Arc<dyn Fn() + Send + Sync>;

/// The clients' options: WebSocket only (no HTTP requests) unless `--transport polling`, no
/// reconnection (a lost client is a failure of the run, not one to bring back).
fn options() -> ClientOptions {
    ClientOptions {
        transports: TRANSPORT.get().copied().unwrap_or(Transports::WebSocket),
        reconnection: false,
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
        socket.on("broadcast", move |_s, _payload: Args| {
            on_broadcast();
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
async fn join_all(addr: &str, n: usize, on_broadcast: Option<OnBroadcast>) -> Vec<Socket> {
    let gate = Arc::new(Semaphore::new(200));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            let addr = addr.to_owned();
            let on_broadcast = on_broadcast.clone();
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

async fn fanout(opts: &Opts) -> i32 {
    let got = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let target = Arc::new(AtomicUsize::new(usize::MAX));
    let on_broadcast: OnBroadcast = {
        let (got, done, target) = (got.clone(), done.clone(), target.clone());
        Arc::new(move || {
            if got.fetch_add(1, Ordering::AcqRel) + 1 == target.load(Ordering::Acquire) {
                done.notify_one();
            }
        })
    };
    let addrs: Vec<&str> = opts.addr.split(',').collect();
    let count = opts.clients.saturating_sub(1);
    let mut receivers = Vec::with_capacity(count);
    for (i, addr) in addrs.iter().enumerate() {
        let share = count / addrs.len() + usize::from(i < count % addrs.len());
        receivers.extend(join_all(addr, share, Some(on_broadcast.clone())).await);
    }
    // The sender counts its own copy like any receiver.
    let sender = match join(addrs[0], Some(on_broadcast)).await {
        Ok(sender) => sender,
        Err(err) => {
            eprintln!("sio_load: connect failed: {err}");
            return 1;
        }
    };
    let n = receivers.len() + 1;
    target.store(n, Ordering::Release);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::with_capacity(opts.rounds);
    let started = Instant::now();
    for round in 0..opts.rounds {
        got.store(0, Ordering::Release);
        let t0 = Instant::now();
        let payload = json!({"round": round, "pad": "0123456789abcdef"});
        if sender.emit("broadcast", &payload).is_err() || !sender.connected() {
            eprintln!("sio_load: round {round}: the sender is disconnected");
            return 1;
        }
        if tokio::time::timeout(Duration::from_secs(30), done.notified())
            .await
            .is_err()
            && got.load(Ordering::Acquire) < n
        {
            eprintln!(
                "sio_load: round {round}: {} of {n} got it",
                got.load(Ordering::Acquire)
            );
            report_lost();
            return 1;
        }
        latencies.push(t0.elapsed());
    }
    let total = started.elapsed();
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len().max(1) as u32;
    let p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    let deliveries = (n * opts.rounds) as f64 / total.as_secs_f64();
    println!(
        "fanout clients={n} rounds={} last-delivery mean={:.2}ms p50={:.2}ms deliveries/s={:.0}",
        opts.rounds,
        mean.as_secs_f64() * 1e3,
        p50.as_secs_f64() * 1e3,
        deliveries
    );
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
    0
}
