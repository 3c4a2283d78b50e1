//! What every peer echo server shares, so that only the per-connection WebSocket code differs
//! between them (and from wsx's `examples/echo_server.rs --threads 1`):
//!
//! - one tokio `current_thread` runtime (scripts/bench.sh pins the process to one core),
//! - a listener on a loopback address given as `--addr 127.0.0.1:PORT` (or a bare `PORT`),
//! - `TCP_NODELAY` on each accepted socket, one spawned task per connection,
//! - accept errors (out of descriptors) wait 10 ms instead of spinning.
//!
//! Each binary in `src/bin/` is `serve(name, handler)` with that library's echo loop written
//! the way its own documentation and examples show.
#![forbid(unsafe_code)]

pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Reads the listen address from the command line: `--addr HOST:PORT` or `PORT`. Only loopback
/// addresses are accepted: these servers exist for local benchmarks.
fn listen_addr(name: &str) -> SocketAddr {
    let usage = || -> ! {
        eprintln!("usage: {name} --addr 127.0.0.1:PORT   (or: {name} PORT)");
        std::process::exit(2);
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = match args.as_slice() {
        [flag, addr] if flag == "--addr" => addr.parse::<SocketAddr>().ok(),
        [port] => port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
        _ => None,
    };
    match addr {
        Some(addr) if addr.ip().is_loopback() => addr,
        Some(addr) => {
            eprintln!("{name}: {addr} is not a loopback address");
            std::process::exit(2);
        }
        None => usage(),
    }
}

/// Serves forever: every accepted connection goes to `handler` in its own task.
pub fn serve<H, F>(name: &str, handler: H) -> !
where
    H: Fn(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let addr = listen_addr(name);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{name}: cannot listen on {addr}: {e}");
                std::process::exit(1);
            }
        };
        eprintln!("{name}: listening on ws://{addr}/");
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(handler(tcp));
                }
                Err(e) => {
                    eprintln!("{name}: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
}
