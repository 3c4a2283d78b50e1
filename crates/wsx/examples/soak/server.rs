//! The soak's server process: an echo server with counters, driven by commands on stdin.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wsx::proto::DeflateConfig;
use wsx::{Config, Conn, Server};

/// What the handlers saw, across connections.
#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    errors: AtomicU64,
    /// The first few `on_error` texts, to say what went wrong.
    error_samples: Mutex<Vec<String>>,
    closes: Mutex<BTreeMap<u16, u64>>,
}

/// This process's resident set size in KiB (`VmRSS` in `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process (`/proc/self/fd`, less the one reading it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1))
}

pub async fn run() -> Result<(), String> {
    let config = Config {
        compression: Some(DeflateConfig::default()),
        ping_interval: Duration::from_secs(2),
        pong_timeout: Duration::from_secs(10),
        ..Config::default()
    };
    let server = Server::new(config);
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    server.on_connection(move |conn: Conn| {
        let on_message = c.clone();
        conn.on_message(move |conn, kind, data| {
            on_message.messages.fetch_add(1, Ordering::Relaxed);
            let _ = conn.write_message(kind, data);
        });
        let on_error = c.clone();
        conn.on_error(move |_, err| {
            on_error.errors.fetch_add(1, Ordering::Relaxed);
            let mut samples = on_error
                .error_samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if samples.len() < 10 {
                samples.push(format!("{err:?}"));
            }
        });
        let on_close = c.clone();
        conn.on_close(move |_, code, _| {
            *on_close
                .closes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(code.into())
                .or_default() += 1;
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve(listener).await })
    };
    println!("listening {addr}");

    // Commands come from a plain thread (tokio's stdin needs a feature wsx does not enable);
    // it is not a tokio task, so it does not count in the task figures.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The parent drives every phase; without a command for 10 minutes it is gone.
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(600), lines.recv()).await {
        match line.trim() {
            command @ ("stats" | "trim") => {
                let untrimmed = rss_kib();
                if command == "trim" {
                    crate::heap::trim();
                }
                let closes = counters
                    .closes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let samples = counters
                    .error_samples
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let stats = json!({
                    "rss_kib": rss_kib(),
                    "rss_untrimmed_kib": untrimmed,
                    "heap_kib": crate::heap::live_bytes() / 1024,
                    "fds": open_fds(),
                    "tasks": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
                    "connections": server.connection_count(),
                    "messages": counters.messages.load(Ordering::Relaxed),
                    "errors": counters.errors.load(Ordering::Relaxed),
                    "error_samples": samples,
                    "closes": closes,
                });
                println!("{stats}");
            }
            "quit" => break,
            other => eprintln!("soak server: unknown command {other:?}"),
        }
    }
    server.shutdown().await;
    let _ = serving.await;
    Ok(())
}
