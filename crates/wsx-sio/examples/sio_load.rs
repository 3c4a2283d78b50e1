//! A Socket.IO load generator for servers that implement the sio_demo contract (ours, or Node's
//! socket.io running `benches/node/sio_demo.js`), used by `scripts/sio_bench.sh`. It speaks the
//! wire protocol by hand over wsx (Engine.IO v4, WebSocket transport): no client library cost.
//!
//! Usage:
//!   sio_load idle      --addr HOST:PORT --clients N [--hold SECS]
//!   sio_load fanout    --addr HOST:PORT[,HOST:PORT...] --clients N [--rounds R]
//!   sio_load roundtrip --addr HOST:PORT --clients N [--seconds S]
//!
//! `idle` connects N clients to `/` (answering pings and the server's `server-ask`), prints
//! `ready N`, and holds them. `fanout` connects N clients, then one of them emits `broadcast`
//! R times, each after the previous one reached everybody: it prints the time until the last
//! client had it and deliveries per second; with several addresses (servers of one cluster) the
//! receivers are spread over them in turn and the sender is on the first. `roundtrip` runs `echo-ack` round trips on N
//! clients for S seconds and prints round trips per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use wsx::{Message, WebSocket};

struct Opts {
    mode: String,
    addr: String,
    clients: usize,
    hold: u64,
    rounds: usize,
    seconds: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: sio_load idle|fanout|roundtrip --addr HOST:PORT --clients N \
         [--hold SECS] [--rounds R] [--seconds S]"
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
    std::process::exit(code);
}

type Ws = WebSocket<TcpStream>;

/// Connects and joins `/`.
async fn join(addr: &str) -> Result<Ws, String> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = wsx::connect(&url).await.map_err(|e| e.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with('0') => break,
            Some(Ok(_)) => {}
            _ => return Err("closed before the open packet".into()),
        }
    }
    ws.send(Message::text("40"))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with("40") => return Ok(ws),
            Some(Ok(_)) => {}
            _ => return Err("closed before the CONNECT answer".into()),
        }
    }
}

/// Connects `n` clients, at most 200 handshakes at a time.
async fn join_all(addr: &str, n: usize) -> Vec<Ws> {
    let gate = Arc::new(Semaphore::new(200));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            let addr = addr.to_owned();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                join(&addr).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        match task.await {
            Ok(Ok(ws)) => out.push(ws),
            Ok(Err(err)) => eprintln!("sio_load: connect failed: {err}"),
            Err(err) => eprintln!("sio_load: task failed: {err}"),
        }
    }
    out
}

/// Connects `n` clients, each driven (pings answered, `on_text` called) as soon as it joined:
/// with thousands of clients the ramp takes longer than a heartbeat, and a client that does not
/// answer its pings meanwhile is dropped by the server. Returns how many joined.
async fn join_all_driven(addr: &str, n: usize, on_text: Arc<dyn Fn(&str) + Send + Sync>) -> usize {
    let gate = Arc::new(Semaphore::new(200));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            let addr = addr.to_owned();
            let on_text = on_text.clone();
            tokio::spawn(async move {
                let joined = {
                    let _permit = gate.acquire_owned().await;
                    join(&addr).await
                };
                match joined {
                    Ok(ws) => {
                        drive(ws, move |t| on_text(t));
                        true
                    }
                    Err(err) => {
                        eprintln!("sio_load: connect failed: {err}");
                        false
                    }
                }
            })
        })
        .collect();
    let mut joined = 0;
    for task in tasks {
        if matches!(task.await, Ok(true)) {
            joined += 1;
        }
    }
    joined
}

/// What a client does with a message besides counting it: answers pings and `server-ask`.
async fn housekeeping(ws: &mut Ws, text: &str) {
    if text == "2" {
        let _ = ws.send(Message::text("3")).await;
    } else if let Some(rest) = text.strip_prefix("42")
        && let Some(bracket) = rest.find('[')
        && rest[bracket..].starts_with("[\"server-ask\"")
        && bracket > 0
    {
        let id = &rest[..bracket];
        let _ = ws.send(Message::text(format!("43{id}[1]"))).await;
    }
}

/// Keeps a client alive, calling `on_text` for each text message.
fn drive(mut ws: Ws, on_text: impl Fn(&str) + Send + 'static) {
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(t) = message {
                housekeeping(&mut ws, &t).await;
                on_text(&t);
            }
        }
    });
}

async fn idle(opts: &Opts) -> i32 {
    let n = join_all_driven(&opts.addr, opts.clients, Arc::new(|_| {})).await;
    println!("ready {n}");
    tokio::time::sleep(Duration::from_secs(opts.hold)).await;
    i32::from(n != opts.clients)
}

async fn fanout(opts: &Opts) -> i32 {
    let got = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let target = Arc::new(AtomicUsize::new(usize::MAX));
    let on_text = {
        let (got, done, target) = (got.clone(), done.clone(), target.clone());
        Arc::new(move |t: &str| {
            if t.starts_with("42[\"broadcast\"")
                && got.fetch_add(1, Ordering::AcqRel) + 1 == target.load(Ordering::Acquire)
            {
                done.notify_one();
            }
        })
    };
    // Receivers first, the sender last (it is not driven while it waits).
    let addrs: Vec<&str> = opts.addr.split(',').collect();
    let count = opts.clients.saturating_sub(1);
    let mut receivers = 0;
    for (i, addr) in addrs.iter().enumerate() {
        let share = count / addrs.len() + usize::from(i < count % addrs.len());
        receivers += join_all_driven(addr, share, on_text.clone()).await;
    }
    let Ok(mut sender) = join(addrs[0]).await else {
        return 1;
    };
    let n = receivers + 1;
    target.store(n, Ordering::Release);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::with_capacity(opts.rounds);
    let started = Instant::now();
    for round in 0..opts.rounds {
        got.store(0, Ordering::Release);
        let t0 = Instant::now();
        let packet =
            format!("42[\"broadcast\",{{\"round\":{round},\"pad\":\"0123456789abcdef\"}}]");
        if sender.send(Message::text(packet)).await.is_err() {
            return 1;
        }
        // The sender's own copy.
        loop {
            match sender.next().await {
                Some(Ok(Message::Text(t))) => {
                    housekeeping(&mut sender, &t).await;
                    if t.starts_with("42[\"broadcast\"") {
                        if got.fetch_add(1, Ordering::AcqRel) + 1 == n {
                            done.notify_one();
                        }
                        break;
                    }
                }
                Some(Ok(_)) => {}
                _ => return 1,
            }
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
            return 1;
        }
        latencies.push(t0.elapsed());
    }
    let total = started.elapsed();
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len().max(1) as u32;
    let p50 = latencies[latencies.len() / 2];
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
    let clients = join_all(&opts.addr, opts.clients).await;
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(opts.seconds);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            let count = count.clone();
            tokio::spawn(async move {
                let mut id: u64 = 0;
                while Instant::now() < deadline {
                    id += 1;
                    let packet = format!("42{id}[\"echo-ack\",{{\"n\":{id}}}]");
                    if ws.send(Message::text(packet)).await.is_err() {
                        return;
                    }
                    let want = format!("43{id}[");
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) => {
                                if t.starts_with(&want) {
                                    break;
                                }
                                housekeeping(&mut ws, &t).await;
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        }
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
