//! An echo server for conformance tests and benchmarks: echoes every text and binary message on
//! any path.
//!
//! Usage: `cargo run --release -p wsx --example echo_server -- --addr 127.0.0.1:9001 [--threads N]`
//!
//! `--threads 1` runs a tokio current-thread runtime (as the benchmark yardstick's contestants
//! do); the default is a multi-thread runtime with one worker per core.

#[path = "shared/echo.rs"]
mod echo;

use std::process::ExitCode;
use tokio::net::TcpListener;
use wsx::handshake::ServerOptions;

struct Args {
    addr: String,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:9001".into(),
        threads: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--addr" => args.addr = it.next().ok_or("--addr needs a value")?,
            "--threads" => {
                let n = it.next().ok_or("--threads needs a value")?;
                args.threads = n.parse().map_err(|_| format!("bad --threads {n}"))?;
            }
            "-h" | "--help" => {
                return Err("usage: echo_server [--addr HOST:PORT] [--threads N]".into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if args.threads > 1 {
            builder.worker_threads(args.threads);
        }
        builder.enable_all().build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(&args.addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("echo_server listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let options = ServerOptions::default();
            let Ok((mut ws, _)) = wsx::accept_with(tcp, &options, echo::conformance_config()).await
            else {
                return;
            };
            let _ = echo::echo(&mut ws).await;
        });
    }
}
