//! `wsx`: the command-line tool of the wsx WebSocket library.
//!
//! - `wsx connect URL`: an interactive client like wscat (stdin lines out, messages in), or a
//!   scriptable one with `-x MESSAGE -w SECONDS`. Runs on wsx's own driver, `WebSocket<S>`.
//! - `wsx bench URL`: an echo load generator with a progress bar and a latency summary. It does
//!   the opening handshake with wsx's sans-I/O `wsx::handshake` client API, then speaks
//!   hand-encoded frames over plain tokio TCP, so that it measures the server and not wsx's
//!   own client.
//!
//! Every failure is one line on stderr and a non-zero exit status (1 for a failed run, 2 for
//! bad usage, as clap does).
#![forbid(unsafe_code)]

mod bench;
mod connect;
mod failure;
mod refusal;
mod serve;
mod tls;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "wsx",
    version,
    about = "WebSocket tool built on the wsx library: an interactive client and an echo load generator",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Connect to a WebSocket server: stdin lines are sent as text messages, incoming messages
    /// are printed (binary as hex). Commands: `/ping [DATA]`, `/close [CODE [REASON]]`.
    Connect(connect::ConnectArgs),
    /// Load-test an echo server: N connections send messages and time each echo.
    Bench(bench::BenchArgs),
    /// Serve the demo: a chat page at /, WebSocket endpoints /echo and /chat, Prometheus
    /// metrics at /metrics, on one port (HTTP/1.1; with --tls-cert also HTTP/2).
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Connect(args) => connect::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            crate::status!("wsx: error: {failure}");
            ExitCode::FAILURE
        }
    }
}
