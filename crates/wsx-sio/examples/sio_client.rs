//! A chat bot on `wsx_sio::client`: it joins a room, prints what the room says, answers the
//! server's questions with acknowledgements, and survives a server restart (it reconnects
//! with backoff and joins its room again, unless the server recovered its session).
//!
//! Usage: `cargo run -p wsx-sio --example sio_client -- [URL] [ROOM]` (default
//! `http://127.0.0.1:3000`, room `lobby`), against `examples/sio_demo.rs` (whose
//! `server-ask` on connection is such a question) or any server with the same events.
//! Ctrl-C disconnects cleanly.

use serde_json::Value;
use std::time::Duration;
use wsx_sio::client::{Args, ClientOptions, Socket, io};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let room = args.next().unwrap_or_else(|| "lobby".to_owned());
    let options = ClientOptions {
        reconnection_delay: Duration::from_millis(500),
        reconnection_delay_max: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    let socket = match io(&url, options) {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!("sio_client: {err}");
            std::process::exit(2);
        }
    };

    // Every (re)connection: join the room again, unless the server restored the session
    // (connection state recovery keeps its rooms).
    let joined = room.clone();
    socket.on_connect(move |s: Socket| {
        let room = joined.clone();
        async move {
            println!("connected as {:?} (recovered: {})", s.id(), s.recovered());
            if !s.recovered() {
                match s.emit_with_ack_as::<bool>("join", &room).await {
                    Ok(true) => println!("joined {room}"),
                    other => println!("join {room}: {other:?}"),
                }
            }
        }
    });
    socket.on_disconnect(|_s, reason| async move { println!("disconnected: {reason}") });
    socket.on_connect_error(|_s, err| async move { println!("connect error: {err}") });
    socket.on("room-msg", |_s, args: Args| async move {
        println!("room: {:?}", args.values);
    });
    // The server's questions: a number, answered with the next one.
    socket.on_with_ack("server-ask", |_s, n: i64, ack| async move {
        println!("asked {n}, answering {}", n + 1);
        let _ = ack.send(&(n + 1));
    });
    socket.on_with_ack("question", |_s, question: Value, ack| async move {
        let _ = ack.send(&format!("bot heard {question}"));
    });
    socket.on("server-ask-ok", |_s, answer: Args| async move {
        println!("the server got the answer {:?}", answer.values);
    });
    let manager = socket.manager();
    manager.on_reconnect_attempt(|n| println!("reconnecting (attempt {n})"));
    manager.on_reconnect(|n| println!("reconnected after {n} attempts"));

    if let Err(err) = socket.connect().await {
        println!("first connection failed ({err}); retrying in the background");
    }
    let _ = tokio::signal::ctrl_c().await;
    socket.disconnect();
    // Let the DISCONNECT packet go out.
    tokio::time::sleep(Duration::from_millis(100)).await;
}
