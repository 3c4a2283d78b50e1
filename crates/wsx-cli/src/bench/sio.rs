//! `wsx bench --sio URL`: a Socket.IO load on `wsx_sio::client`.
//!
//! Method, as the WebSocket bench's (`load.rs`): every client is opened first (its own
//! [`wsx_sio::client::Manager`], so its own Engine.IO connection, as `io()` with `forceNew`; at
//! most [`MAX_IN_FLIGHT`] connects at once, `--ramp` to space them out); then each one emits
//! `echo-ack` with a `--size` byte string and waits for the acknowledgement, which must carry
//! the same string back (the demo contract, `examples/sio_demo.rs` of wsx-sio), again and
//! again, for `--warmup` seconds not counted and `--duration` seconds that are. With `--rate`
//! the emits are paced over all clients and a round trip is timed from when it was due (no
//! coordinated omission). At the end every client disconnects (a DISCONNECT packet, then the
//! transport closes). Errors are counted by kind, never fatal.
//!
//! Unlike the WebSocket bench, this one pays for a real client (packet encoding, the ack
//! table, a task per connection): it measures what a Socket.IO application sees, and it is
//! the same client against every server.

use super::load::{MEASURE, Pacer, STOP, Shared, WARMUP};
use super::stats::{ConnStats, Errors, Kind, Latency, RunStats, new_histogram};
use super::summary::{add_results_json, add_usage_json, errors_line, round, thousands, usage_line};
use super::{BenchArgs, GRACE, MAX_PHASE, SioTransport, clock, progress_bar};
use crate::failure::{Failure, Result};
use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;
use wsx_sio::client::{
    AckError, ClientError, ClientOptions, ConnectError, EmitError, Socket, Transports, io,
};

/// Clients connecting at once (as the WebSocket bench: below the usual listen backlog).
const MAX_IN_FLIGHT: usize = 64;

/// How long the end of the run waits for the clients' connections to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The event of the demo contract whose acknowledgement carries its arguments back.
const EVENT: &str = "echo-ack";

/// A connected client, how long its connect took, and its disconnect's reason when it comes.
struct Opened {
    socket: Socket,
    connect: Duration,
    lost: oneshot::Receiver<String>,
}

/// The clients' options: no reconnection (a lost client is an error of the run, not a
/// client to bring back), the `--connect-timeout`, and an ack timeout past the end of the run
/// (the hard deadline cuts a missing ack off first, as `stuck`).
fn options(args: &BenchArgs) -> ClientOptions {
    ClientOptions {
        transports: match args.transport {
            SioTransport::Websocket => Transports::WebSocket,
            SioTransport::Default => Transports::Default,
            SioTransport::Polling => Transports::Polling,
        },
        reconnection: false,
        timeout: args.connect_timeout,
        ack_timeout: (args.warmup + args.duration + GRACE * 2).min(MAX_PHASE),
        ..ClientOptions::default()
    }
}

/// The kind of a failed connect.
fn connect_kind(err: &ConnectError) -> Kind {
    match err {
        ConnectError::Client(ClientError::Transport(_) | ClientError::Timeout(_)) => Kind::Connect,
        ConnectError::Client(ClientError::Protocol(_)) => Kind::Protocol,
        _ => Kind::Handshake,
    }
}

/// Opens one client.
async fn open_one(
    url: &str,
    options: ClientOptions,
) -> std::result::Result<Opened, (Kind, String)> {
    let started = Instant::now();
    let socket = io(url, options).map_err(|e| (Kind::Connect, e.to_string()))?;
    // A client lost while idle (a ping timeout, the server closing) is an error of the run
    // even when it has no emit waiting at the time.
    let (tell, lost) = oneshot::channel();
    let tell = Mutex::new(Some(tell));
    socket.on_disconnect(move |_s, reason| {
        if let Some(tell) = tell.lock().ok().and_then(|mut t| t.take()) {
            let _ = tell.send(reason.to_string());
        }
        std::future::ready(())
    });
    match socket.connect().await {
        Ok(()) => Ok(Opened {
            socket,
            connect: started.elapsed(),
            lost,
        }),
        Err(err) => {
            // Ends the manager's task whatever state it is in.
            socket.disconnect();
            Err((connect_kind(&err), err.to_string()))
        }
    }
}

/// Opens `count` clients; `up` counts those connected so far.
async fn open_all(
    url: Arc<str>,
    options: ClientOptions,
    count: usize,
    ramp: Option<f64>,
    up: Arc<AtomicUsize>,
) -> (Vec<Opened>, Errors) {
    let gate = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let start = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let (url, options, gate, up) = (url.clone(), options.clone(), gate.clone(), up.clone());
            tokio::spawn(async move {
                if let Some(per_sec) = ramp {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / per_sec))
                        .await;
                }
                let _permit = gate.acquire().await;
                let opened = open_one(&url, options).await;
                if opened.is_ok() {
                    up.fetch_add(1, Ordering::Relaxed);
                }
                opened
            })
        })
        .collect();
    let mut opened = Vec::with_capacity(count);
    let mut errors = Errors::default();
    for task in tasks {
        match task.await {
            Ok(Ok(client)) => opened.push(client),
            Ok(Err((kind, why))) => errors.add(kind, why),
            Err(e) => errors.add(Kind::Connect, e),
        }
    }
    (opened, errors)
}

/// What every client sends and expects, and until when.
struct Plan {
    payload: String,
    period: Option<Duration>,
    /// The end of the measured window: no emit is due after it.
    end: Instant,
    hard_deadline: Instant,
}

/// Why a round trip failed.
fn ack_failure(err: AckError) -> (Kind, String) {
    let why = err.to_string();
    match err {
        AckError::Timeout => (Kind::Stuck, why),
        AckError::Disconnected | AckError::Emit(EmitError::Closed) => (Kind::ServerClosed, why),
        AckError::Parse(_) => (Kind::WrongEcho, why),
        _ => (Kind::Protocol, why),
    }
}

/// One client's round trips until the end of the load, then its disconnect.
async fn drive(
    client: Opened,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    offset: Duration,
) -> ConnStats {
    let Opened { socket, lost, .. } = client;
    let mut stats = ConnStats::default();
    let mut pacer = Pacer::new(plan.period, offset);
    let load = async {
        while shared.phase() != STOP {
            // With --rate, a client's next emit may be due after the end (a period longer
            // than the run): it is not sent, and the wait is not an error.
            let Ok(start) = tokio::time::timeout_at(plan.end, pacer.due()).await else {
                break;
            };
            if shared.phase() == STOP {
                break;
            }
            if !socket.connected() {
                return Err((
                    Kind::ServerClosed,
                    "disconnected during the load".to_owned(),
                ));
            }
            let answer: String = socket
                .emit_with_ack_as(EVENT, &plan.payload)
                .await
                .map_err(ack_failure)?;
            let done = Instant::now();
            if answer != plan.payload {
                return Err((
                    Kind::WrongEcho,
                    format!(
                        "the ack carried {} bytes, not the {} emitted",
                        answer.len(),
                        plan.payload.len()
                    ),
                ));
            }
            shared.done.fetch_add(1, Ordering::Relaxed);
            if shared.phase() == MEASURE {
                stats.record(done - start);
            }
        }
        Ok(())
    };
    let load = async {
        tokio::select! {
            done = load => done,
            Ok(reason) = lost => Err((Kind::ServerClosed, format!("disconnected during the load: {reason}"))),
        }
    };
    match tokio::time::timeout_at(plan.hard_deadline, load).await {
        Ok(Ok(())) => {}
        Ok(Err((kind, why))) => stats.errors.add(kind, why),
        Err(_) => stats.errors.add(
            Kind::Stuck,
            "no acknowledgement within the grace period after the end",
        ),
    }
    socket.disconnect();
    stats
}

/// Runs the Socket.IO load and returns its summary.
pub(super) async fn run(args: &BenchArgs, url: &str) -> Result<String> {
    // Checked here so that a bad URL is a clear error and not one per client.
    let probe = io(url, ClientOptions::default())
        .map_err(|e| Failure::new(format!("invalid URL {url:?}: {e}")))?;
    probe.disconnect();
    if url.starts_with("https:") || url.starts_with("wss:") {
        return Err(Failure::new(
            "wsx bench --sio speaks http:// and ws:// only (a TLS client would cost more than the server it measures)",
        ));
    }
    let count = args.conns as usize;
    let bar = progress_bar(args);
    let up = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let opening = tokio::spawn(open_all(
        Arc::from(url),
        options(args),
        count,
        args.ramp,
        up.clone(),
    ));
    tokio::pin!(opening);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let result = loop {
        tokio::select! {
            done = &mut opening => break done,
            _ = ticker.tick() => bar.set_message(format!(
                "connecting: {}/{count} clients up, {:.1} s",
                up.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            )),
        }
    };
    let connect_time = started.elapsed();
    let (opened, connect_errors) = result.unwrap_or_else(|e| {
        let mut errors = Errors::default();
        errors.add(Kind::Connect, e);
        (Vec::new(), errors)
    });
    if opened.is_empty() {
        bar.finish_and_clear();
        return Err(Failure::new(format!(
            "no Socket.IO client could connect to {url} ({})",
            connect_errors.first().unwrap_or("unknown error")
        )));
    }
    let clients_ok = opened.len();
    let mut connects = new_histogram();
    for client in &opened {
        let ns = u64::try_from(client.connect.as_nanos()).unwrap_or(u64::MAX);
        connects.saturating_record(ns.max(1));
    }

    let shared = Arc::new(Shared::default());
    let phase = if args.warmup.is_zero() {
        MEASURE
    } else {
        WARMUP
    };
    shared.phase.store(phase, Ordering::Relaxed);
    let start = Instant::now();
    let plan = Arc::new(Plan {
        payload: "x".repeat(args.size as usize),
        period: args
            .rate
            .map(|r| Duration::from_secs_f64((clients_ok as f64 / r).min(MAX_PHASE.as_secs_f64()))),
        end: start + args.warmup + args.duration,
        hard_deadline: start + args.warmup + args.duration + GRACE,
    });
    let sockets: Vec<Socket> = opened.iter().map(|c| c.socket.clone()).collect();
    let tasks: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            // With --rate, spread the clients' first emits over one period.
            let offset = plan
                .period
                .map_or(Duration::ZERO, |p| p.mul_f64(i as f64 / clients_ok as f64));
            tokio::spawn(drive(client, plan.clone(), shared.clone(), offset))
        })
        .collect();
    let (usage, elapsed) = clock(
        args,
        &shared,
        start,
        &bar,
        &format!("{clients_ok} clients up"),
        "emits/s",
    )
    .await;
    bar.set_message("disconnecting clients");
    let mut total = RunStats::default();
    total.errors.merge(connect_errors);
    for task in tasks {
        match task.await {
            Ok(stats) => total.merge(stats),
            Err(e) => total.errors.add(Kind::Io, e),
        }
    }
    // Each disconnect is a command to the client's task; its connection is closed once the
    // task took it (the transport reads `None` then).
    let closing = Instant::now() + CLOSE_TIMEOUT;
    while Instant::now() < closing && sockets.iter().any(|s| s.manager().transport().is_some()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unclosed = sockets
        .iter()
        .filter(|s| s.manager().transport().is_some())
        .count();
    for _ in 0..unclosed {
        total.errors.add(
            Kind::Close,
            format!(
                "client still connected {} s after its disconnect",
                CLOSE_TIMEOUT.as_secs()
            ),
        );
    }
    // The close frames and DISCONNECT packets just queued get a moment to go out before the
    // runtime is dropped.
    tokio::time::sleep(Duration::from_millis(100)).await;
    bar.finish_and_clear();
    Ok(summary(
        args,
        url,
        &total,
        clients_ok,
        connect_time,
        &connects,
        elapsed,
        usage.as_ref(),
    ))
}

/// The summary: JSON, or text for people.
#[allow(clippy::too_many_arguments)]
fn summary(
    args: &BenchArgs,
    url: &str,
    total: &RunStats,
    clients_ok: usize,
    connect_time: Duration,
    connects: &Histogram<u64>,
    elapsed: Duration,
    usage: Option<&super::cpu::Usage>,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = total.messages as f64 / secs;
    let lat = Latency::of(&total.hist);
    let each = Latency::of(connects);
    let transport = match args.transport {
        SioTransport::Websocket => "websocket",
        SioTransport::Default => "default",
        SioTransport::Polling => "polling",
    };
    if args.json {
        let mut out = json!({
            "label": args.label,
            "mode": "sio",
            "url": url,
            "transport": transport,
            "conns": args.conns,
            "conns_ok": clients_ok,
            "size": args.size,
            "rate": args.rate,
            "threads": args.threads,
            "warmup_s": args.warmup.as_secs_f64(),
            "duration_s": round(secs, 3),
            "connect_s": round(connect_time.as_secs_f64(), 3),
            "connect_p50_ms": round(each.p50 / 1000.0, 3),
            "connect_p99_ms": round(each.p99 / 1000.0, 3),
            "connect_max_ms": round(each.max / 1000.0, 3),
        });
        add_results_json(&mut out, total, rate, &lat);
        add_usage_json(&mut out, usage);
        return out.to_string();
    }
    let mut text = format!(
        "wsx bench --sio {url}: {} clients ({transport}) × {} B echo-ack{}, {:.1} s measured after {:.1} s warm-up\n",
        args.conns,
        args.size,
        args.rate.map_or(String::new(), |r| format!(
            ", rate {} emits/s",
            thousands(r)
        )),
        secs,
        args.warmup.as_secs_f64(),
    );
    text += &format!(
        "  clients      {clients_ok}/{} up in {:.3} s; each: p50 {:.1} ms · p99 {:.1} ms · max {:.1} ms\n",
        args.conns,
        connect_time.as_secs_f64(),
        each.p50 / 1000.0,
        each.p99 / 1000.0,
        each.max / 1000.0,
    );
    text += &format!(
        "  emits        {} acked = {} emits/s\n",
        thousands(total.messages as f64),
        thousands(rate),
    );
    text += &format!(
        "  ack rtt      p50 {:.1} µs · p90 {:.1} µs · p99 {:.1} µs · max {:.1} µs · mean {:.1} µs\n",
        lat.p50, lat.p90, lat.p99, lat.max, lat.mean
    );
    text += &errors_line(&total.errors);
    if let Some(u) = usage {
        text += &usage_line(u);
    }
    text
}
