//! socketioxide 0.18 running the part of the sio_demo contract (crates/wsx-sio/examples/
//! sio_demo.rs) that scripts/sio_bench.sh uses, as a third server beside wsx-sio's sio_demo
//! and Node's socket.io (crates/wsx-sio/bench/node/sio_demo.js):
//! - namespace `/`: on connect the server emits `server-ask(42)` with an ack and, when the
//!   answer comes, `server-ask-ok(answer)`;
//! - `echo-ack(payload)` -> the ack gets the payload back;
//! - `echo(payload)` -> `echo(payload)` to the sender;
//! - `broadcast(payload)` -> `broadcast(payload)` to every socket of `/`, the sender included.
//!
//! pingInterval and pingTimeout 2,000 ms and maxPayload 2,000,000 bytes as in sio_demo; both
//! transports (a polling client of `sio_load idle --transport polling` connects too). A
//! multi-thread tokio runtime with one worker per core, as sio_demo runs (the scripts pin the
//! process to one core), serving the socket.io service with hyper 1 over plain TCP.
//!
//! Usage: `sio-socketioxide --addr 127.0.0.1:PORT [--ping-interval MS] [--ping-timeout MS]`;
//! prints `listening on ADDR` once it accepts connections. The heartbeat options replace the
//! 2,000 ms defaults, as sio_demo's do (scripts/sio_roundtrip_instr.sh lengthens them so that
//! heartbeats do not count as round-trip work).

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};
use std::time::Duration;

fn main() {
    let usage = || -> ! {
        eprintln!(
            "usage: sio-socketioxide --addr 127.0.0.1:PORT [--ping-interval MS] [--ping-timeout MS]"
        );
        std::process::exit(2)
    };
    let mut addr = None;
    let (mut ping_interval, mut ping_timeout) = (2000, 2000);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => addr = value.parse::<std::net::SocketAddr>().ok(),
            "--ping-interval" => ping_interval = value.parse().unwrap_or_else(|_| usage()),
            "--ping-timeout" => ping_timeout = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let Some(addr) = addr.filter(|a| a.ip().is_loopback()) else {
        usage()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sio-socketioxide: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let (svc, io) = SocketIo::builder()
            .ping_interval(Duration::from_millis(ping_interval))
            .ping_timeout(Duration::from_millis(ping_timeout))
            .max_payload(2_000_000)
            .build_svc();
        let all = io.clone();
        io.ns("/", async move |socket: SocketRef| on_connect(socket, all));
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("sio-socketioxide: cannot listen on {addr}: {e}");
                std::process::exit(1);
            }
        };
        println!("listening on {addr}");
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    eprintln!("sio-socketioxide: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let svc = svc.clone();
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    })
}

/// The contract's handlers on one socket of `/`, and its connect-time `server-ask`.
fn on_connect(socket: SocketRef, io: SocketIo) {
    socket.on(
        "echo-ack",
        async |Data::<Value>(payload), ack: AckSender| {
            let _ = ack.send(&payload);
        },
    );
    socket.on("echo", async |socket: SocketRef, Data::<Value>(payload)| {
        let _ = socket.emit("echo", &payload);
    });
    socket.on("broadcast", async move |Data::<Value>(payload)| {
        let _ = io.emit("broadcast", &payload).await;
    });
    if let Ok(ask) = socket.emit_with_ack::<_, Value>("server-ask", &42) {
        tokio::spawn(async move {
            if let Ok(answer) = ask.await {
                let _ = socket.emit("server-ask-ok", &answer);
            }
        });
    }
}
