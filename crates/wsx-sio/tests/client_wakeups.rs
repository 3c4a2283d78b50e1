//! No delivery of the client waits for heartbeat traffic. The server's ping wakes every task of
//! a client's path (the WebSocket's task, the engine task, the manager's task): a wake-up lost
//! anywhere on that path shows under a 2 s heartbeat only as a delivery up to 2 s late, which
//! a load run sees as a latency tail. Here the heartbeat is 120 s, so a lost wake-up is a
//! hang, caught by the acknowledgement timeout; many clients share one current-thread runtime
//! (`wsx bench --sio`'s shape), each with its own manager and connection, and every round
//! trip goes both ways through every task: an emit with an ack (client to server and back),
//! and an event the server emits to a client's handler.

#[allow(dead_code)]
mod client_support;

use client_support::start_demo;
use std::time::Duration;
use tokio::sync::mpsc;
use wsx_sio::client::{Args, ClientOptions, Manager, Transports};
use wsx_sio::{Config, EngineConfig, Server, Socket};

/// Clients in one process.
const CLIENTS: usize = 200;
/// Round trips per client, one after the other.
const ROUNDS: usize = 5;
/// Far longer than a healthy round trip on a loaded CI machine, far shorter than the heartbeat.
const DEADLINE: Duration = Duration::from_secs(10);

/// `echo-ack` acknowledges with its arguments; `poke(n)` emits `poked(n)` back.
fn server() -> Server {
    let io = Server::new(Config {
        engine: EngineConfig {
            ping_interval: Duration::from_secs(120),
            ping_timeout: Duration::from_secs(60),
            max_payload: 1_000_000,
        },
        ..Config::default()
    });
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("echo-ack", |_s: Socket, args: Args, ack| async move {
            let _ = ack.send_args(args);
        });
        socket.on("poke", |s: Socket, n: u64| async move {
            let _ = s.emit("poked", &n);
        });
    });
    io
}

async fn client(url: String, id: usize) -> Result<(), String> {
    let options = ClientOptions {
        transports: Transports::WebSocket,
        reconnection: false,
        timeout: DEADLINE,
        ack_timeout: DEADLINE,
        ..ClientOptions::default()
    };
    let socket = Manager::new(&url, options)
        .map_err(|e| e.to_string())?
        .socket("/");
    let (poked, mut pokes) = mpsc::unbounded_channel();
    socket.on("poked", move |_s, n: u64| {
        let _ = poked.send(n);
        std::future::ready(())
    });
    socket
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    for round in 0..ROUNDS {
        let n = (id * ROUNDS + round) as u64;
        let back: u64 = socket
            .emit_with_ack_as("echo-ack", &n)
            .await
            .map_err(|e| format!("client {id} round {round}: ack: {e}"))?;
        if back != n {
            return Err(format!("client {id}: acked {back}, not {n}"));
        }
        socket
            .emit("poke", &n)
            .map_err(|e| format!("client {id}: emit: {e}"))?;
        match tokio::time::timeout(DEADLINE, pokes.recv()).await {
            Ok(Some(got)) if got == n => {}
            Ok(other) => return Err(format!("client {id}: poked {other:?}, not {n}")),
            Err(_) => return Err(format!("client {id} round {round}: no `poked` in time")),
        }
    }
    socket.disconnect();
    Ok(())
}

#[tokio::test]
async fn every_delivery_arrives_without_a_heartbeat_to_wake_it() {
    let addr = start_demo(server()).await;
    let url = format!("http://{addr}");
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(url.clone(), id)))
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(why),
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} clients failed, first: {:?}",
        failures.len(),
        failures.first()
    );
}
