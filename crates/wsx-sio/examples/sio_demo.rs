//! The Socket.IO demo server the interop tests drive with the official clients.
//!
//! Usage: `cargo run --release -p wsx-sio --example sio_demo -- --addr 127.0.0.1:PORT
//! [--protocol-test]` (port 0 picks a free port). Prints `listening on ADDR` once it accepts
//! connections.
//!
//! `--protocol-test` serves instead what the official Socket.IO protocol suite
//! (`test-suite/` of socketio/socket.io-protocol) expects: pingInterval 300 ms, pingTimeout
//! 200 ms, connectTimeout 1000 ms, maxPayload 1,000,000; on connection to `/` or `/custom`
//! the server emits `auth` with the CONNECT payload (or `{}`); `message` -> `message-back`
//! with the same args; `message-with-ack` -> the ack gets the same args.
//!
//! pingInterval 2000 ms, pingTimeout 2000 ms, maxPayload 2,000,000 bytes (a 1,000,000-byte
//! argument plus its packet framing fits). The contract:
//! - namespace `/`:
//!   - `echo` (any args, binary anywhere) -> `echo` with the same args, to the sender only;
//!   - `echo-ack` -> the ack gets the same args;
//!   - `join(room)` -> joins, ack `true`;
//!   - `to-room(room, payload)` -> `room-msg(payload)` to everyone in the room but the sender;
//!   - `broadcast(payload)` -> `broadcast(payload)` to every socket of `/`, sender included;
//!   - on connect the server emits `server-ask(v)` with a number and an ack; when the ack
//!     returns `r` it emits `server-ask-ok(r)` (an ack that never comes is tolerated);
//!   - `recovered` with an ack -> whether the socket was recovered (beyond the contract);
//! - namespace `/admin`: `whoami` with an ack -> the ack gets the socket's id;
//! - any other namespace -> CONNECT_ERROR `{"message":"Invalid namespace"}`.

use std::time::Duration;
use wsx_sio::{Args, Config, EngineConfig, Server, Socket};

fn usage() -> ! {
    eprintln!("usage: sio_demo [--addr HOST:PORT] [--protocol-test]");
    std::process::exit(2);
}

fn main() {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut protocol_test = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().unwrap_or_else(|| usage()),
            "--protocol-test" => protocol_test = true,
            _ => usage(),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("sio_demo: cannot start the runtime: {err}");
            std::process::exit(1);
        }
    };
    let io = if protocol_test {
        protocol_test_server()
    } else {
        server()
    };
    if let Err(err) = runtime.block_on(run(io, &addr)) {
        eprintln!("sio_demo: {err}");
        std::process::exit(1);
    }
}

async fn run(io: Server, addr: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    io.serve(listener).await
}

/// The demo's settings: 2 s heartbeats, messages up to 2,000,000 bytes.
pub fn config() -> Config {
    Config {
        engine: EngineConfig {
            ping_interval: Duration::from_millis(2000),
            ping_timeout: Duration::from_millis(2000),
            max_payload: 2_000_000,
        },
        ..Config::default()
    }
}

/// The demo server, with the contract's handlers (the interop tests run this very code).
pub fn server() -> Server {
    server_with(config())
}

/// The demo's handlers on a server with `config` (the recovery interop test turns
/// connection state recovery on).
pub fn server_with(config: Config) -> Server {
    let io = Server::new(config);

    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |s: Socket, args: Args| async move {
            let _ = s.emit_args("echo", args);
        });
        socket.on_with_ack("echo-ack", |_s: Socket, args: Args, ack| async move {
            let _ = ack.send_args(args);
        });
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
        socket.on("to-room", |s: Socket, args: Args| async move {
            let Args {
                mut values,
                attachments,
            } = args;
            if values.is_empty() {
                return;
            }
            let room = values.remove(0);
            let Some(room) = room.as_str() else { return };
            let payload = Args {
                values,
                attachments,
            };
            let _ = s.to(room).emit_args("room-msg", payload);
        });
        socket.on("broadcast", |s: Socket, args: Args| async move {
            let _ = s.hub().emit_args("broadcast", args);
        });
        // Beyond the contract: whether this socket was recovered (connection state recovery).
        socket.on_with_ack("recovered", |s: Socket, _: Args, ack| async move {
            let _ = ack.send(&s.recovered());
        });

        let ask = socket.emit_with_ack("server-ask", &42);
        tokio::spawn(async move {
            if let Ok(answer) = ask.await {
                let _ = socket.emit_args("server-ask-ok", answer);
            }
        });
    });

    io.of("/admin").on_connection(|socket: Socket| async move {
        socket.on_with_ack("whoami", |s: Socket, _: Args, ack| async move {
            let _ = ack.send(&s.id().as_str());
        });
    });
    io
}

/// The official Socket.IO protocol suite's settings.
pub fn protocol_test_config() -> Config {
    Config {
        engine: EngineConfig {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            max_payload: 1_000_000,
        },
        connect_timeout: Duration::from_millis(1000),
        ..Config::default()
    }
}

/// The server the official Socket.IO protocol suite expects (see the module docs).
pub fn protocol_test_server() -> Server {
    let io = Server::new(protocol_test_config());
    for namespace in ["/", "/custom"] {
        io.of(namespace).on_connection(|socket: Socket| async move {
            socket.on("message", |s: Socket, args: Args| async move {
                let _ = s.emit_args("message-back", args);
            });
            socket.on_with_ack(
                "message-with-ack",
                |_s: Socket, args: Args, ack| async move {
                    let _ = ack.send_args(args);
                },
            );
            // A moment after the CONNECT answer, not in the same write: the suite's client
            // (npm `ws` 8.5) hands over every message of one TCP read at once, and the suite
            // listens for the next message only after its `await` for the CONNECT answer
            // resumed, so an `auth` read together with the answer would be missed.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let auth = socket.auth().clone();
            let _ = socket.emit("auth", &auth);
        });
    }
    io
}
