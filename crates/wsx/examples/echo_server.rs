//! An echo server for conformance tests and benchmarks: echoes every text and binary message on
//! any path.
//!
//! Usage: `cargo run --release -p wsx --example echo_server -- --addr 127.0.0.1:9001 [--threads N] [--stream] [--no-deflate]`
//!
//! By default it runs on the event API (`Server` + `on_message` + `write_message`); `--stream`
//! runs the low-level `WebSocket<S>` loop instead (both are benchmarked). permessage-deflate is
//! accepted unless `--no-deflate` is given. `--threads 1` runs a tokio current-thread runtime
//! (as the benchmark yardstick's contestants do); the default is a multi-thread runtime with
//! one worker per core. Limits are high enough for the Autobahn TestSuite's 16 MiB messages.

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/echo.rs"]
mod echo;

use std::process::ExitCode;
use tokio::net::TcpListener;
use wsx::handshake::ServerOptions;
use wsx::{Config, Conn, MessageType, Server};

struct Args {
    addr: String,
    threads: usize,
    deflate: bool,
    stream: bool,
}

const USAGE: &str = "usage: echo_server [--addr HOST:PORT] [--threads N] [--stream] [--no-deflate]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:9001".into(),
        threads: 0,
        deflate: true,
        stream: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--addr" => args.addr = it.next().ok_or("--addr needs a value")?,
            "--threads" => {
                let n = it.next().ok_or("--threads needs a value")?;
                args.threads = n.parse().map_err(|_| format!("bad --threads {n}"))?;
            }
            "--no-deflate" => args.deflate = false,
            "--stream" => args.stream = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => return cli::usage_error(&msg),
    };
    let runtime = match cli::runtime("echo_server", args.threads) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let listener = TcpListener::bind(&args.addr).await?;
        eprintln!("echo_server listening on ws://{}", listener.local_addr()?);
        if args.stream {
            serve_stream(listener, args.deflate).await
        } else {
            serve_events(listener, args.deflate).await
        }
    });
    cli::exit_code("echo_server", result)
}

/// The event API: one handler echoes; the server runs the connection tasks.
async fn serve_events(listener: TcpListener, deflate: bool) -> Result<(), wsx::Error> {
    let limits = echo::conformance_config().limits;
    let config = Config {
        max_message_size: limits.max_message_size,
        max_frame_size: limits.max_frame_size,
        // Echoing a 16 MiB message must not hit the queue bound.
        max_pending_bytes: limits.max_message_size,
        ..Config::default()
    };
    let server = Server::new(config);
    for factory in echo::extensions(deflate) {
        server.add_extension(factory);
    }
    server.on_connection(|conn: Conn| {
        conn.on_message(|c: &Conn, kind: MessageType, data| {
            let _ = c.write_message(kind, data);
        });
    });
    server.serve(listener).await
}

/// The low-level `WebSocket<S>` path: one task per connection running the echo loop.
async fn serve_stream(listener: TcpListener, deflate: bool) -> Result<(), wsx::Error> {
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let options = ServerOptions {
                extensions: echo::extensions(deflate),
                ..ServerOptions::default()
            };
            let Ok((mut ws, _)) = wsx::accept_with(tcp, &options, echo::conformance_config()).await
            else {
                return;
            };
            let _ = echo::echo(&mut ws).await;
        });
    }
}
