//! One port, two routes: Socket.IO at `/socket.io/` and a plain wsx WebSocket echo at `/echo`,
//! both upgraded with wsx's sans-I/O handshake in one accept loop.
//!
//! Usage: `cargo run -p wsx-sio --example sio_mount -- [--addr 127.0.0.1:3000]`

use bytes::BytesMut;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use wsx::handshake::server::{self as handshake, ServerOptions};
use wsx::{Role, WebSocket, WebSocketConfig};
use wsx_sio::{Config, Server, Socket};

fn main() -> std::io::Result<()> {
    let addr = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => "127.0.0.1:3000".to_owned(),
        [flag, addr] if flag == "--addr" => addr.clone(),
        _ => {
            eprintln!("usage: sio_mount [--addr HOST:PORT]");
            std::process::exit(2);
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(&addr))
}

async fn serve(addr: &str) -> std::io::Result<()> {
    let io = Server::new(Config::default());
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |s: Socket, args: wsx_sio::Args| async move {
            let _ = s.emit_args("echo", args);
        });
    });
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (tcp, remote) = listener.accept().await?;
        let io = io.clone();
        tokio::spawn(async move { route(io, tcp, remote).await });
    }
}

/// Reads the request head, then hands the connection to the route it names.
async fn route(io: Server, mut tcp: TcpStream, remote: std::net::SocketAddr) {
    let options = ServerOptions::default();
    let mut buf = BytesMut::with_capacity(1024);
    let (request, head_len) = loop {
        match handshake::parse_request(&buf, &options) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => {}
            Err(err) => {
                let _ = tcp.write_all(&handshake::error_response(&err)).await;
                return;
            }
        }
        if !matches!(tcp.read_buf(&mut buf).await, Ok(n) if n > 0) {
            return;
        }
    };
    if io.handles(&request) {
        io.upgrade(tcp, request, &buf[head_len..], Some(remote))
            .await;
    } else if request.uri().path() == "/echo" {
        let Ok(accepted) = handshake::accept(&request, &options) else {
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        };
        let mut response = Vec::new();
        handshake::write_response(&accepted.response, &mut response);
        if tcp.write_all(&response).await.is_err() {
            return;
        }
        let config = WebSocketConfig::default();
        let mut ws = WebSocket::from_raw(tcp, Role::Server, config, &buf[head_len..], None, None);
        while let Some(Ok(message)) = ws.next().await {
            if message.is_data() && ws.send(message).await.is_err() {
                break;
            }
        }
    } else {
        let _ = tcp
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
    }
}
