//! A bare Engine.IO server that echoes every message back (text and binary): the server the
//! official Engine.IO protocol suite (`test-suite/` of socketio/engine.io-protocol) runs
//! against, and that `tests/engine_suite.rs` drives case by case.
//!
//! Usage: `cargo run -p wsx-sio --example eio_echo -- [--addr 127.0.0.1:3000]`
//! (port 0 picks a free port). Prints `listening on ADDR` once it accepts connections.
//!
//! Path `/engine.io/`, pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1,000,000, CORS
//! for any origin: the settings the suite expects.

use std::time::Duration;
use wsx_sio::{Config, Cors, EngineConfig, Server};

fn usage() -> ! {
    eprintln!("usage: eio_echo [--addr HOST:PORT]");
    std::process::exit(2);
}

fn main() {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("eio_echo: cannot start the runtime: {err}");
            std::process::exit(1);
        }
    };
    if let Err(err) = runtime.block_on(run(&addr)) {
        eprintln!("eio_echo: {err}");
        std::process::exit(1);
    }
}

async fn run(addr: &str) -> std::io::Result<()> {
    let io = server();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    io.serve(listener).await
}

/// The suite's settings.
pub fn config() -> Config {
    Config {
        engine: EngineConfig {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            max_payload: 1_000_000,
        },
        path: "/engine.io/".into(),
        cors: Some(Cors::any()),
        ..Config::default()
    }
}

/// The echo server.
pub fn server() -> Server {
    Server::engine_only(config(), Some)
}
