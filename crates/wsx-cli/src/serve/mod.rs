//! `wsx serve`: one port, several routes, on hyper (HTTP/1.1, and HTTP/2 with extended
//! CONNECT over TLS), each WebSocket endpoint a `wsx::Server` mounted with `Server::upgrade`:
//!
//! | path | what |
//! |---|---|
//! | `/` | the demo page: a chat (nickname, messages, online count, connection state) |
//! | `/echo` | echoes text and binary |
//! | `/chat` | the chat: custom events `join` and `say` in, `joined`, `left`, `said` out to everyone |
//! | `/socket.io/` | the Socket.IO demo (wsx-sio): `chat message` to everyone, `users` count |
//! | `/sio` | its page, on the official browser client (given with `--socketio-client`) |
//! | `/metrics` | Prometheus text format (`metrics-exporter-prometheus`) |
//!
//! permessage-deflate is on for every endpoint (browsers offer it). Ctrl-C (or SIGTERM)
//! stops accepting, closes every WebSocket with 1001 and waits for the close handshakes.

mod chat;
mod http;
mod sio;

use crate::failure::Failure;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wsx::proto::deflate::DeflateConfig;
use wsx::{Config, Conn, MessageType, Server};

/// `wsx serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; use 0.0.0.0:PORT to serve a network).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// PEM certificate chain: serve https:// and wss:// (HTTP/2 and HTTP/1.1 by ALPN).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The official Socket.IO browser client (`dist/socket.io.min.js` of the npm package
    /// `socket.io-client`), served at /socket.io.min.js for the Socket.IO page /sio.
    #[arg(long, value_name = "FILE")]
    pub socketio_client: Option<PathBuf>,
}

/// The endpoints' servers.
#[derive(Clone)]
pub(crate) struct Endpoints {
    pub echo: Server,
    pub chat: Server,
    pub sio: wsx_sio::Server,
    /// The official Socket.IO browser client, when given.
    pub sio_client: Option<bytes::Bytes>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// The configuration of every endpoint: the library's defaults with compression on.
fn config() -> Config {
    Config {
        compression: Some(DeflateConfig::default()),
        ..Config::default()
    }
}

fn echo_server() -> Server {
    let server = Server::new(config());
    server.on_connection(|conn: Conn| {
        conn.on_message(|c: &Conn, kind: MessageType, data| {
            let _ = c.write_message(kind, data);
        });
    });
    server
}

/// Runs `wsx serve` until Ctrl-C.
pub fn run(args: ServeArgs) -> Result<ExitCode, Failure> {
    // Installed before any wsx server exists, so the per-message metrics register with it.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| Failure::new(format!("cannot install the metrics recorder: {e}")))?;
    // Every family with its HELP and TYPE at zero, so that a scrape of a server no client
    // reached yet shows what it will count (a dashboard or an alert finds its series).
    wsx::metrics::describe();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(http::tls_config(cert, key)?),
        _ => None,
    };
    let sio_client = match &args.socketio_client {
        Some(path) => Some(bytes::Bytes::from(std::fs::read(path).map_err(|e| {
            Failure::new(format!(
                "cannot read the Socket.IO client {}: {e}",
                path.display()
            ))
        })?)),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let endpoints = Endpoints {
            echo: echo_server(),
            chat: chat::server(),
            sio: sio::server(),
            sio_client,
            metrics,
        };
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| Failure::new(format!("cannot listen on {}: {e}", args.addr)))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::new(format!("cannot read the listening address: {e}")))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("wsx serve: open {scheme}://{local}/ (Ctrl-C to stop)");
        let stop = shutdown_signal();
        http::serve(listener, tls.map(Arc::new), endpoints.clone(), stop).await;
        // Close every WebSocket with 1001 and wait for the close handshakes.
        tokio::join!(endpoints.echo.shutdown(), endpoints.chat.shutdown());
        println!("wsx serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves at Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
