//! `wsx bench`: an echo load generator.
//!
//! Method (see `load.rs` and `open.rs`): every connection is opened first (at most 64
//! handshakes in flight, `--ramp` to space them out); then each one writes a pre-encoded masked
//! frame and reads back the whole echo, again and again, for `--warmup` seconds that are not
//! counted and `--duration` seconds that are. A round trip counts when it completes inside the
//! measured window; its time goes into an HDR histogram (1 ns to 60 s, 3 significant digits).
//! At the end each connection sends a close frame and waits for the server's. Errors are
//! counted by kind, never fatal: a server that closes, resets or misbehaves is a number in the
//! summary.
//!
//! Why not wsx's own client: the load generator must cost the same against every server and
//! as little as possible, so it does no per-message masking, allocation or parsing beyond a
//! frame header (one masking key per run, as the yardstick's wsload does; servers cannot tell).
//! The opening handshake is wsx's sans-I/O one, so its checks are the library's.
//!
//! `--sio URL` drives a Socket.IO server instead (`sio.rs`): N clients of `wsx_sio::client`
//! make `echo-ack` round trips.
//!
//! `--idle N --hold S` instead opens N connections, holds them idle for S seconds and closes
//! them, for measuring a server's memory per idle connection (the caller reads the server's
//! RSS; `--ready-file` tells it when the connections are up).

mod cpu;
mod load;
mod open;
mod sio;
mod stats;
mod summary;
mod wire;

use crate::connect::parse_seconds;
use crate::failure::{Failure, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use load::{LoadPlan, MEASURE, STOP, Shared, WARMUP};
use open::OpenPlan;
use serde_json::json;
use stats::{Errors, RunStats};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use summary::{errors_json, errors_line, round, summarize, thousands};
use tokio::time::Instant;
use wsx::handshake::Target;

/// How long connections may take to deliver their last echo after the end.
const GRACE: Duration = Duration::from_secs(5);

/// The frame type of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Opcode {
    /// Binary frames.
    Binary,
    /// Text frames (ASCII payload; servers validate UTF-8).
    Text,
}

/// Arguments of `wsx bench`.
#[derive(Debug, Args)]
#[command(after_help = "\
Output: a live progress bar on stderr (only on a terminal, never with --json),
then a summary on stdout; with --json one JSON object instead: messages,
msgs_per_sec, mb_per_sec (payload bytes one way, 10^6), p50_us/p90_us/p99_us/
max_us/mean_us (round trip from the write to the last byte of the echo),
connect_s, conns_ok, errors, errors_by_kind, first_error, and on Linux
cpu_busy_pct (per core), steal_pct, client_cpu_pct, server_cpu_pct.
The exit status is 0 when the load ran (errors are counted, not fatal), 1 when
no connection could be opened or the arguments are unusable.


Socket.IO mode (--sio URL): each client is a wsx_sio::client socket that
emits `echo-ack` with a --size byte string and times the acknowledgement (the
server must answer `echo-ack` with its arguments, as examples/sio_demo.rs and
socket.io servers of that contract do). Same summary and JSON fields (mode
sio, no mb_per_sec), plus connect_p50_ms/connect_p99_ms/connect_max_ms (one client's
connect, from the TCP connect to the namespace's CONNECT answer) and transport.

Examples (`wsx serve` echoes at ws://127.0.0.1:8080/echo):
  wsx bench ws://127.0.0.1:8080/echo --conns 64 --size 1024 --duration 5
  wsx bench ws://127.0.0.1:8080/echo --conns 512 --ramp 1000 --rate 20000 --json
  wsx bench ws://127.0.0.1:8080/echo --idle 10000 --hold 2 --ready-file /tmp/up
  wsx bench --sio http://127.0.0.1:3000 --clients 10000 --rate 10000 --duration 20")]
pub struct BenchArgs {
    /// The echo server's URL: ws://HOST[:PORT]/PATH (no TLS). Not with --sio.
    #[arg(required_unless_present = "sio", conflicts_with = "sio")]
    pub url: Option<String>,

    /// Socket.IO mode: the server's URL, http://HOST[:PORT][/NAMESPACE] (or ws://; no TLS).
    #[arg(long, value_name = "URL", conflicts_with_all = ["raw", "idle", "text", "binary"])]
    pub sio: Option<String>,

    /// Socket.IO mode: the transports, as socket.io-client's `transports` (default
    /// websocket only: what a load of many clients is about; `default` is polling, then the
    /// upgrade).
    #[arg(long, value_enum, default_value_t = SioTransport::Websocket)]
    pub transport: SioTransport,

    /// Connections (Socket.IO clients with --sio), all opened before the load starts.
    #[arg(long, short = 'c', visible_alias = "clients", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub conns: u32,

    /// Payload bytes per message (with --sio: the length of the string emitted).
    #[arg(long, short = 's', default_value_t = 16, value_parser = clap::value_parser!(u32).range(0..=16_777_216))]
    pub size: u32,

    /// Seconds measured (after the warm-up).
    #[arg(long, short = 'd', default_value = "5", value_parser = parse_seconds)]
    pub duration: Duration,

    /// Seconds of load before the measurement, not counted.
    #[arg(long, default_value = "1", value_parser = parse_seconds)]
    pub warmup: Duration,

    /// Messages per second over all connections (open loop: latency counts from when a
    /// message was due). Default: each connection sends as soon as its echo is back.
    #[arg(long, value_name = "MSGS_PER_SEC")]
    pub rate: Option<f64>,

    /// Open at most this many connections per second (default: as fast as the server
    /// accepts, at most 64 handshakes in flight).
    #[arg(long, value_name = "PER_SEC")]
    pub ramp: Option<f64>,

    /// Messages in flight per connection (echoes are matched in order).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub pipeline: u32,

    /// Send binary frames. This is the default: the flag only switches back after an earlier
    /// --text (of --text and --binary, the last one given wins, so a wrapper script's --text
    /// can be undone on its command line).
    #[arg(long, overrides_with = "text")]
    pub binary: bool,

    /// Send text frames (an ASCII payload) instead of binary (a later --binary undoes it).
    #[arg(long, overrides_with = "binary")]
    pub text: bool,

    /// Print one JSON object instead of the summary, and no progress bar.
    #[arg(long)]
    pub json: bool,

    /// Tokio worker threads of the load generator; 1 runs a current-thread runtime (the
    /// cheapest, and the yardstick's shape when the load generator is pinned to one core).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,

    /// Give up on one connection's connect plus handshake after this long.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub connect_timeout: Duration,

    /// The server is a raw TCP echo, not WebSocket: no handshake; the frame's bytes are sent
    /// and the same number of bytes is expected back (the ceiling to compare with).
    #[arg(long)]
    pub raw: bool,

    /// Idle mode: open this many connections, send nothing, hold them --hold seconds, close.
    #[arg(long, value_name = "N", conflicts_with_all = ["rate", "pipeline"], value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub idle: Option<u32>,

    /// Idle mode: seconds to hold the connections open.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    pub hold: Duration,

    /// Idle mode: write the number of open connections to this file once they are all up
    /// (for a script that then reads the server's memory).
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<std::path::PathBuf>,

    /// PID of the server process: its CPU share over the measured window is reported
    /// (Linux /proc).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// A label copied into the JSON output (for scripts).
    #[arg(long)]
    pub label: Option<String>,
}

/// Socket.IO transports (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SioTransport {
    /// WebSocket only.
    Websocket,
    /// HTTP long-polling, then the upgrade to WebSocket.
    Default,
    /// HTTP long-polling only.
    Polling,
}

impl BenchArgs {
    /// The URL under load (the positional one, or `--sio`'s).
    pub fn target_url(&self) -> &str {
        self.sio.as_deref().or(self.url.as_deref()).unwrap_or("")
    }
}

/// At most one day per phase: every run is bounded.
const MAX_PHASE: Duration = Duration::from_secs(86_400);

/// Checks what clap cannot.
fn validate(args: &BenchArgs) -> Result<Target> {
    let url = args.target_url();
    let target =
        Target::parse(url).map_err(|e| Failure::new(format!("invalid URL {url:?}: {e}")))?;
    if target.secure {
        return Err(Failure::new(
            "wsx bench speaks ws:// only (a TLS client would cost more than the server it measures)",
        ));
    }
    validate_numbers(args)?;
    Ok(target)
}

/// The checks of the durations and rates, for every mode.
fn validate_numbers(args: &BenchArgs) -> Result<()> {
    for (name, value) in [
        ("--duration", args.duration),
        ("--warmup", args.warmup),
        ("--hold", args.hold),
        ("--connect-timeout", args.connect_timeout),
    ] {
        if value > MAX_PHASE {
            return Err(Failure::new(format!("{name} is over a day")));
        }
    }
    if args.duration.is_zero() && args.idle.is_none() {
        return Err(Failure::new("--duration must be above 0"));
    }
    for (name, value) in [("--rate", args.rate), ("--ramp", args.ramp)] {
        if let Some(v) = value
            && !(v.is_finite() && v > 0.0)
        {
            return Err(Failure::new(format!("{name} must be a positive number")));
        }
    }
    if let Some(ramp) = args.ramp {
        let count = args.idle.unwrap_or(args.conns);
        if f64::from(count.saturating_sub(1)) / ramp > MAX_PHASE.as_secs_f64() {
            return Err(Failure::new(format!(
                "--ramp {ramp:?} would take over a day to open {count} connections"
            )));
        }
    }
    Ok(())
}

/// The load generator's runtime: `--threads` workers, or a current-thread runtime for 1.
fn runtime(args: &BenchArgs) -> Result<tokio::runtime::Runtime> {
    Ok(if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.threads))
            .enable_all()
            .build()?
    })
}

/// Prints the report on stdout.
fn print(report: &str) {
    // A closed stdout (`| head`) is not a reason to panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{report}");
    let _ = out.flush();
}

/// Runs `wsx bench`.
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if let Some(url) = &args.sio {
        validate_numbers(&args)?;
        let runtime = runtime(&args)?;
        let report = runtime.block_on(sio::run(&args, url))?;
        runtime.shutdown_background();
        print(&report);
        return Ok(ExitCode::SUCCESS);
    }
    let target = validate(&args)?;
    let runtime = runtime(&args)?;
    let report = runtime.block_on(async {
        let addr = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| Failure::new(format!("cannot resolve {}: {e}", target.host)))?
            .next()
            .ok_or_else(|| Failure::new(format!("{} has no address", target.host)))?;
        let plan = Arc::new(OpenPlan {
            addr,
            target,
            raw: args.raw,
            timeout: args.connect_timeout,
            ramp: args.ramp,
        });
        match args.idle {
            Some(n) => idle(&args, plan, n as usize).await,
            None => load(&args, plan).await,
        }
    })?;
    // Connections still closing are not waited for.
    runtime.shutdown_background();
    print(&report);
    Ok(ExitCode::SUCCESS)
}

/// The progress bar: on stderr, only when it is a terminal and the output is not JSON.
fn progress_bar(args: &BenchArgs) -> ProgressBar {
    if args.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Opens the connections with a progress line; returns them, their errors, and the time taken.
async fn open_with_progress(
    plan: Arc<OpenPlan>,
    count: usize,
    bar: &ProgressBar,
) -> (Vec<open::Opened>, Errors, Duration) {
    let up = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let opening = tokio::spawn(open::open_all(plan, count, up.clone()));
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    tokio::pin!(opening);
    let result = loop {
        tokio::select! {
            done = &mut opening => break done,
            _ = ticker.tick() => bar.set_message(format!(
                "connecting: {}/{count} up, {:.1} s",
                up.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            )),
        }
    };
    let elapsed = started.elapsed();
    match result {
        Ok((open, errors)) => (open, errors, elapsed),
        Err(e) => {
            let mut errors = Errors::default();
            errors.add(stats::Kind::Connect, e);
            (Vec::new(), errors, elapsed)
        }
    }
}

fn no_connection(errors: &Errors) -> Failure {
    Failure::new(format!(
        "no connection could be opened ({})",
        errors.first().unwrap_or("unknown error")
    ))
}

/// The payload: random bytes, or ASCII letters for text.
fn payload(size: usize, opcode: Opcode) -> Vec<u8> {
    let mut data = vec![0u8; size];
    match opcode {
        Opcode::Text => {
            for (i, b) in data.iter_mut().enumerate() {
                *b = b'a' + (i % 26) as u8;
            }
        }
        Opcode::Binary => {
            if getrandom::fill(&mut data).is_err() {
                for (i, b) in data.iter_mut().enumerate() {
                    *b = (i * 31 % 251) as u8;
                }
            }
        }
    }
    data
}

async fn load(args: &BenchArgs, open_plan: Arc<OpenPlan>) -> Result<String> {
    let conns = args.conns as usize;
    let size = args.size as usize;
    let opcode = if args.text {
        Opcode::Text
    } else {
        Opcode::Binary
    };
    let wire_opcode = match opcode {
        Opcode::Text => wire::TEXT,
        Opcode::Binary => wire::BINARY,
    };
    let frame = wire::encode_masked(wire_opcode, &payload(size, opcode), load::mask_key());
    let bar = progress_bar(args);
    let (opened, connect_errors, connect_time) =
        open_with_progress(open_plan.clone(), conns, &bar).await;
    if opened.is_empty() {
        bar.finish_and_clear();
        return Err(no_connection(&connect_errors));
    }
    let conns_ok = opened.len();
    let shared = Arc::new(Shared::default());
    if args.warmup.is_zero() {
        shared.phase.store(MEASURE, Ordering::Relaxed);
    } else {
        shared.phase.store(WARMUP, Ordering::Relaxed);
    }
    let start = Instant::now();
    let end = start + args.warmup + args.duration;
    let plan = Arc::new(LoadPlan {
        frame,
        opcode: wire_opcode,
        size,
        raw: args.raw,
        pipeline: args.pipeline as usize,
        period: args
            .rate
            .map(|r| Duration::from_secs_f64((conns_ok as f64 / r).min(MAX_PHASE.as_secs_f64()))),
        end,
        hard_deadline: end + GRACE,
    });
    let tasks: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            // With --rate, spread the connections' first sends over one period.
            let offset = plan
                .period
                .map_or(Duration::ZERO, |p| p.mul_f64(i as f64 / conns_ok as f64));
            tokio::spawn(load::drive(conn, plan.clone(), shared.clone(), offset))
        })
        .collect();

    let window = clock(
        args,
        &shared,
        start,
        &bar,
        &format!("{conns_ok} conns up"),
        "msg/s",
    )
    .await;
    bar.set_message("closing connections");
    let mut total = RunStats::default();
    total.errors.merge(connect_errors);
    for task in tasks {
        match task.await {
            Ok(stats) => total.merge(stats),
            Err(e) => total.errors.add(stats::Kind::Io, e),
        }
    }
    bar.finish_and_clear();
    let (usage, elapsed) = window;
    Ok(summarize(
        args,
        &total,
        conns_ok,
        connect_time,
        elapsed,
        usage.as_ref(),
        opcode,
    ))
}

/// The clock of a load: warm-up, measured window, stop (the phases in `shared`), with the
/// progress line meanwhile (`up` says what is connected, `unit` what `shared.done` counts per
/// second). Returns the CPU usage over the measured window and its length.
async fn clock(
    args: &BenchArgs,
    shared: &Shared,
    start: Instant,
    bar: &ProgressBar,
    up: &str,
    unit: &str,
) -> (Option<cpu::Usage>, Duration) {
    let end = start + args.warmup + args.duration;
    // The clock: warm-up, measured window, stop; the progress line meanwhile.
    let measure_at = start + args.warmup;
    let mut last = (Instant::now(), 0u64);
    let mut cpu_start = None;
    let mut window = None;
    loop {
        let now = Instant::now();
        if cpu_start.is_none() && now >= measure_at {
            shared.phase.store(MEASURE, Ordering::Relaxed);
            cpu_start = Some((cpu::Sample::take(args.server_pid), now));
        }
        if now >= end {
            shared.phase.store(STOP, Ordering::Relaxed);
            if let Some((sample, at)) = &cpu_start {
                window = Some((cpu::Sample::take(args.server_pid).since(sample), now - *at));
            }
            break;
        }
        let done = shared.done.load(Ordering::Relaxed);
        let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
        last = (now, done);
        let phase = if cpu_start.is_none() {
            "warm-up"
        } else {
            "measuring"
        };
        bar.set_message(format!(
            "{phase} {:.1}/{:.1} s · {up} · {} {unit}",
            (now - start).as_secs_f64(),
            (end - start).as_secs_f64(),
            thousands(rate)
        ));
        // Wake for the next progress update, or exactly at a phase change.
        let mut wake = (now + Duration::from_millis(250)).min(end);
        if cpu_start.is_none() {
            wake = wake.min(measure_at);
        }
        tokio::time::sleep_until(wake).await;
    }
    window.unwrap_or((None, args.duration))
}

/// Idle mode: open, report ready, hold, close.
async fn idle(args: &BenchArgs, open_plan: Arc<OpenPlan>, count: usize) -> Result<String> {
    let bar = progress_bar(args);
    let (opened, mut errors, connect_time) =
        open_with_progress(open_plan.clone(), count, &bar).await;
    if opened.is_empty() {
        bar.finish_and_clear();
        return Err(no_connection(&errors));
    }
    let conns_ok = opened.len();
    if let Some(path) = &args.ready_file {
        // Written whole, then renamed: a reader never sees half of it.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{conns_ok}\n"))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
    }
    bar.set_message(format!(
        "holding {conns_ok} idle connections for {:.1} s",
        args.hold.as_secs_f64()
    ));
    tokio::time::sleep(args.hold).await;
    bar.set_message("closing connections");
    // Close them all at once, each bounded by the close timeout.
    let plan = Arc::new(LoadPlan {
        frame: Vec::new(),
        opcode: wire::BINARY,
        size: 0,
        raw: args.raw,
        pipeline: 1,
        period: None,
        end: Instant::now(),
        hard_deadline: Instant::now() + GRACE,
    });
    let shared = Arc::new(Shared::default());
    shared.phase.store(STOP, Ordering::Relaxed);
    let tasks: Vec<_> = opened
        .into_iter()
        .map(|conn| {
            tokio::spawn(load::drive(
                conn,
                plan.clone(),
                shared.clone(),
                Duration::ZERO,
            ))
        })
        .collect();
    for task in tasks {
        match task.await {
            Ok(stats) => errors.merge(stats.errors),
            Err(e) => errors.add(stats::Kind::Io, e),
        }
    }
    bar.finish_and_clear();
    if args.json {
        return Ok(json!({
            "label": args.label,
            "mode": "idle",
            "url": args.target_url(),
            "conns": count,
            "conns_ok": conns_ok,
            "connect_s": round(connect_time.as_secs_f64(), 3),
            "hold_s": args.hold.as_secs_f64(),
            "errors": errors.total(),
            "errors_by_kind": errors_json(&errors),
            "first_error": errors.first(),
        })
        .to_string());
    }
    Ok(format!(
        "wsx bench {} --idle: {conns_ok}/{count} connections up in {:.3} s, held {:.1} s\n{}",
        args.target_url(),
        connect_time.as_secs_f64(),
        args.hold.as_secs_f64(),
        errors_line(&errors)
    ))
}
