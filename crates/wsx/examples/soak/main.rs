//! Soak: N concurrent connections held through the event API for T seconds, then closed; the
//! server must come back to where it started (no leak) with no error but those injected.
//!
//! Usage: `soak [--conns 2000] [--secs 20] [--interval-ms 1000] [--compress-every 4]
//! [--inject 10] [--rss-tolerance 5] [--warmup CONNS] [--warmup-cycles 1]
//! [--role both|server]`
//!
//! Two processes, so that neither needs file descriptors for both ends of 10,000 sockets:
//! - `server`: a [`wsx::Server`] echoing every message on `127.0.0.1:0`, permessage-deflate
//!   accepted, keep-alive pings every 2 s. It prints `listening ADDR` and then answers commands
//!   on stdin, one JSON line each on stdout: `stats` (RSS from `/proc/self/status`, the live
//!   heap counted by its global allocator (`heap.rs`), open fds, tokio's alive tasks,
//!   connections, messages echoed, `on_error` count with samples, `on_close` counts by code),
//!   `trim` (the same after glibc's `malloc_trim` handed its free pages back), `quit` (graceful
//!   shutdown, exit).
//! - `both` (the default): starts the server as a child process and drives it:
//!   1. stats of the fresh process, then `--warmup-cycles` warm-up cycles (`--warmup`
//!      connections, default `--conns`, opened, loaded as in step 3 for up to 5 s, closed),
//!      then the baseline (trimmed) stats; see `load.rs` for why;
//!   2. opens `--conns` event-API clients, one in `--compress-every` with permessage-deflate,
//!      plus `--inject` raw connections to fault later; stats at rest (open, idle);
//!   3. for `--secs`: every connection sends one message per `--interval-ms` (mixed sizes:
//!      32 B text, 1 KiB JSON-like text, 16 KiB binary) and pings now and then; the server's
//!      keep-alive pings run too. Halfway, the injected faults: half the raw connections reset
//!      their TCP connection (close 1006 on the server), the other half send an unmasked frame
//!      (a protocol error: close 1002). Stats under load near the end;
//!   4. closes every connection (1000), waits for the server to have none and for fds and
//!      tasks to settle (bounded), and takes the final (trimmed) stats.
//!
//! Checks (exit status 1 on any failure): every echo came back; clients saw no error and only
//! 1000 closes; the server closed exactly `conns` connections with 1000 and the injected ones
//! with 1006 / 1002, with no `on_error` beyond the injected; after closing, open fds and alive
//! tasks are back to the fresh process's count, the live heap within 256 bytes per connection
//! of the baseline and RSS (trimmed) within `--rss-tolerance` percent of it or 0.5% of the
//! peak's growth, whichever is larger (see `load.rs`). Prints one JSON
//! report line, including memory per connection at rest and under load. Loopback only; every
//! phase has a time bound.

#[path = "../shared/cli.rs"]
mod cli;
mod heap;
mod load;
mod server;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

use std::process::ExitCode;

/// Command-line settings.
#[derive(Debug, Clone)]
pub struct Args {
    server: bool,
    conns: usize,
    secs: u64,
    interval_ms: u64,
    compress_every: usize,
    inject: usize,
    rss_tolerance: f64,
    warmup: usize,
    warmup_cycles: usize,
}

const USAGE: &str = "usage: soak [--conns N] [--secs T] [--interval-ms MS] [--compress-every K] \
                     [--inject N] [--rss-tolerance PCT] [--warmup N] [--warmup-cycles K] \
                     [--role both|server]";

fn parse() -> Result<Args, String> {
    let mut args = Args {
        server: false,
        conns: 2000,
        secs: 20,
        interval_ms: 1000,
        compress_every: 4,
        inject: 10,
        rss_tolerance: 5.0,
        warmup: usize::MAX,
        warmup_cycles: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--role" => args.server = value == "server",
            "--conns" => args.conns = value.parse().map_err(|e| bad(&e))?,
            "--secs" => args.secs = value.parse().map_err(|e| bad(&e))?,
            "--interval-ms" => args.interval_ms = value.parse().map_err(|e| bad(&e))?,
            "--compress-every" => args.compress_every = value.parse().map_err(|e| bad(&e))?,
            "--inject" => args.inject = value.parse().map_err(|e| bad(&e))?,
            "--rss-tolerance" => args.rss_tolerance = value.parse().map_err(|e| bad(&e))?,
            "--warmup" => args.warmup = value.parse().map_err(|e| bad(&e))?,
            "--warmup-cycles" => args.warmup_cycles = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.warmup == usize::MAX {
        args.warmup = args.conns;
    }
    if args.compress_every == 0 || args.interval_ms == 0 {
        return Err("--compress-every and --interval-ms must be positive".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => return cli::usage_error(&format!("{e}\n{USAGE}")),
    };
    if args.server {
        // Two workers, as a small production server would run.
        let runtime = match cli::runtime("soak server", 2) {
            Ok(rt) => rt,
            Err(code) => return code,
        };
        return cli::exit_code("soak server", runtime.block_on(server::run()));
    }
    let runtime = match cli::runtime("soak", 0) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    cli::exit_code("soak", runtime.block_on(load::run(args)))
}
