//! A Socket.IO chat with rooms and acknowledgements, in the spirit of the Socket.IO chat
//! tutorial, on wsx-sio: what "Socket.IO-like integration" looks like with this crate.
//!
//! Usage: `cargo run -p wsx-sio --example sio_integration -- [--addr 127.0.0.1:3000]`, then
//! connect any Socket.IO client (`io("http://127.0.0.1:3000", { auth: { name: "ada" } })`):
//! - a connect middleware requires `auth.name` (else CONNECT_ERROR "name required");
//! - `join(room)` joins a room; the ack gets `{ room, members }`; the room hears `joined`;
//! - `chat message({ room, text })` goes to everyone in the room, sender included, as
//!   `chat message({ room, from, text })`; the ack gets `"delivered"`;
//! - `typing(room)` tells the others in the room (`socket.to(room)`), not the sender;
//! - `leave(room)`; when a user disconnects, every room they were in hears `left(name)`.

use serde::{Deserialize, Serialize};
use wsx_sio::{Config, ConnectError, Server, Socket};

#[derive(Debug, Deserialize)]
struct Outgoing {
    room: String,
    text: String,
}

#[derive(Debug, Serialize)]
struct Chat<'a> {
    room: &'a str,
    from: &'a str,
    text: &'a str,
}

fn name_of(socket: &Socket) -> String {
    socket.auth()["name"]
        .as_str()
        .unwrap_or("anonymous")
        .to_owned()
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: sio_integration [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(&addr))
}

async fn serve(addr: &str) -> std::io::Result<()> {
    let io = Server::new(Config::default());

    io.use_middleware(|socket: Socket| async move {
        match socket.auth()["name"].as_str() {
            Some(name) if !name.trim().is_empty() => Ok(()),
            _ => Err(ConnectError::new("name required")),
        }
    });

    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room.clone());
            let members = s
                .hub()
                .to(room.clone())
                .fetch_sockets()
                .await
                .map_or(0, |m| m.len());
            let _ = s.to(room.clone()).emit("joined", &name_of(&s));
            let _ = ack.send(&serde_json::json!({ "room": room, "members": members }));
        });

        socket.on_with_ack("chat message", |s: Socket, msg: Outgoing, ack| async move {
            let from = name_of(&s);
            let chat = Chat {
                room: &msg.room,
                from: &from,
                text: &msg.text,
            };
            // To the whole room, sender included: the hub, not the socket.
            let _ = s.hub().to(msg.room.clone()).emit("chat message", &chat);
            let _ = ack.send(&"delivered");
        });

        socket.on("typing", |s: Socket, room: String| async move {
            let _ = s.to(room).emit("typing", &name_of(&s));
        });

        socket.on("leave", |s: Socket, room: String| async move {
            s.leave(&room);
        });

        // `rooms()` still names the rooms the socket was in (its own id first).
        socket.on_disconnect(|s: Socket, reason| async move {
            println!("{} left ({reason})", name_of(&s));
            for room in s.rooms().into_iter().skip(1) {
                let _ = s.hub().to(room).emit("left", &name_of(&s));
            }
        });
        socket.on_any(|s: Socket, event: String, _args| async move {
            if event == "join" {
                println!("{} joins a room", name_of(&s));
            }
        });
        let _ = socket.emit("welcome", &format!("hello {}", name_of(&socket)));
    });

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("chat on http://{}", listener.local_addr()?);
    io.serve(listener).await
}
