//! An echo server on hyper: every path upgrades into a connection of a `wsx::Server` through
//! `Server::upgrade` (HTTP/1.1, and HTTP/2 extended CONNECT by prior knowledge), with the
//! conformance limits and permessage-deflate of `echo_server`. `scripts/autobahn.sh` runs the
//! Autobahn TestSuite against it (`WSX_ECHO_SERVER_CMD`) to hold the hyper path to the same
//! bar as our own accept loop.
//!
//! ```sh
//! cargo run --release -p wsx --example hyper_echo -- --addr 127.0.0.1:9001 [--no-deflate]
//! ```

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/echo.rs"]
#[allow(dead_code)] // only its configuration is used here
mod echo;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::process::ExitCode;
use tokio::net::TcpListener;
use wsx::{Config, Conn, MessageType, Server};

const USAGE: &str = "usage: hyper_echo [--addr HOST:PORT] [--no-deflate]";

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:9001".to_owned();
    let mut deflate = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => match args.next() {
                Some(a) => addr = a,
                None => return cli::usage_error(USAGE),
            },
            "--no-deflate" => deflate = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return cli::usage_error(USAGE),
        }
    }
    let runtime = match cli::runtime("hyper_echo", 0) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(serve(addr, deflate));
    cli::exit_code("hyper_echo", result)
}

async fn serve(addr: String, deflate: bool) -> Result<(), std::io::Error> {
    let limits = echo::conformance_config().limits;
    let server = Server::new(Config {
        max_message_size: limits.max_message_size,
        max_frame_size: limits.max_frame_size,
        max_pending_bytes: limits.max_message_size,
        ..Config::default()
    });
    for factory in echo::extensions(deflate) {
        server.add_extension(factory);
    }
    server.on_connection(|conn: Conn| {
        conn.on_message(|c: &Conn, kind: MessageType, data| {
            let _ = c.write_message(kind, data);
        });
    });
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("hyper_echo listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let server = server.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let response = if wsx::upgrade::is_upgrade_request(&req) {
                        server.upgrade(req, Some(peer))
                    } else {
                        http::Response::new(Full::new(Bytes::from_static(b"a WebSocket echo\n")))
                    };
                    async move { Ok::<_, Infallible>(response) }
                });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http2().enable_connect_protocol();
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                .await;
        });
    }
}
