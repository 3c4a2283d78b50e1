//! The floor of a broadcast: a server that completes the WebSocket handshake and then, on each
//! broadcast, writes the same frame bytes to every socket, nothing else (no per-connection
//! task wake-up, no queue while the socket takes the bytes, no message API). It is driven as
//! wsx's `examples/fanout --role server` is, so `fanout --role clients`, `fanout-load` and
//! scripts/bench_fanout_instr.sh (`FANOUT=target/release/fanout-raw`) run against either:
//!
//! - it prints `listening ws://ADDR` on stdout once bound;
//! - a connection on the path `/control` sends text commands, each answered with one JSON
//!   text message: `stats` (`connections` counting the control connection, `rss_kib`,
//!   `rss_start_kib`, `cpu_ns`), `go R SIZE` (broadcast a binary message of SIZE bytes, at
//!   least 16, whose first 8 bytes are R and next 8 the wall clock in ns, little endian;
//!   answered with `round`, `queued`, `sent_ns`, `broadcast_call_ns`), `quit` (close 1001 to
//!   everyone, wait for their close replies, exit);
//! - it exits on its own after `--timeout` seconds (default 180).
//!
//! A broadcast is one `send()` of the frame per socket, straight from the control task
//! (`try_write`); only a socket that does not take all of it (its send buffer full) gets the
//! rest queued and a task that writes it when the socket is writable, so order is kept.
//! Usage: `fanout-raw [--role server] [--addr 127.0.0.1:PORT] [--timeout SECS] [--deflate off]`
//! (`--role` and `--deflate off` are accepted for the fanout command line's sake).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use wsx_bench_peers::ws::{self, op};

/// How long `quit` waits for the clients' close replies.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(20);

/// One client socket and what it could not take yet.
struct Peer {
    tcp: TcpStream,
    /// Bytes that a full send buffer left over, written by a flusher task; while not empty,
    /// later frames go behind them.
    backlog: Mutex<Vec<u8>>,
}

/// Everything the tasks share (a current-thread runtime, but spawned tasks must be `Send`).
struct State {
    peers: Mutex<HashMap<u64, Arc<Peer>>>,
    next_id: AtomicU64,
    controls: AtomicU64,
    quitting: AtomicBool,
    /// Signalled when a connection ends.
    gone: Notify,
    rss_start: u64,
}

impl State {
    fn peers(&self) -> Vec<Arc<Peer>> {
        let map = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        map.values().cloned().collect()
    }

    fn connections(&self) -> u64 {
        let peers = self
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        peers as u64 + self.controls.load(Ordering::Relaxed)
    }
}

/// Writes `frame` to `peer` now if nothing is queued for it, else behind what is.
fn send(peer: &Arc<Peer>, frame: &[u8]) {
    let mut backlog = peer.backlog.lock().unwrap_or_else(PoisonError::into_inner);
    if !backlog.is_empty() {
        backlog.extend_from_slice(frame);
        return;
    }
    let written = match peer.tcp.try_write(frame) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        // The connection is going; its reader notices and removes it.
        Err(_) => return,
    };
    if written < frame.len() {
        backlog.extend_from_slice(&frame[written..]);
        let peer = peer.clone();
        tokio::spawn(async move { flush(&peer).await });
    }
}

/// Writes a peer's backlog as its socket takes it.
async fn flush(peer: &Peer) {
    loop {
        if peer.tcp.writable().await.is_err() {
            return;
        }
        let mut backlog = peer.backlog.lock().unwrap_or_else(PoisonError::into_inner);
        match peer.tcp.try_write(&backlog) {
            Ok(n) => {
                backlog.drain(..n);
                if backlog.is_empty() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// Reads the HTTP head of a new connection and answers it; returns the path and the bytes
/// read past the head.
async fn handshake(tcp: &TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        tcp.readable().await.ok()?;
        let mut chunk = [0u8; 1024];
        match tcp.try_read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
        if let Some(end) = ws::head_end(&buf) {
            break end;
        }
        if buf.len() > 8192 {
            return None;
        }
    };
    let (path, response) = match ws::server_handshake(&buf[..end]) {
        Ok(ok) => ok,
        Err(response) => {
            write_all(tcp, &response).await;
            return None;
        }
    };
    write_all(tcp, &response).await.then_some(())?;
    Some((path, buf.split_off(end)))
}

/// Writes all of `bytes` (handshakes, control replies, close frames): false if the
/// connection failed.
async fn write_all(tcp: &TcpStream, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        if tcp.writable().await.is_err() {
            return false;
        }
        match tcp.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
}

/// Reads one frame at a time from a connection, keeping what was read past it.
struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    /// The next frame, or `None` once the connection ended or sent something these programs
    /// do not take.
    async fn next(&mut self, tcp: &TcpStream) -> Option<ws::Frame> {
        loop {
            if let Some(frame) = ws::decode(&self.buf).ok()? {
                self.buf.drain(..frame.len);
                return Some(frame);
            }
            tcp.readable().await.ok()?;
            let mut chunk = [0u8; 512];
            match tcp.try_read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return None,
            }
        }
    }
}

/// The close frame `quit` sends (1001, going away).
fn going_away() -> Vec<u8> {
    ws::encode(op::CLOSE, &1001u16.to_be_bytes(), None)
}

async fn connection(tcp: TcpStream, state: Arc<State>) {
    let _ = tcp.set_nodelay(true);
    let Some((path, rest)) = handshake(&tcp).await else {
        return;
    };
    if path == "/control" {
        state.controls.fetch_add(1, Ordering::Relaxed);
        control(&tcp, rest, &state).await;
        state.controls.fetch_sub(1, Ordering::Relaxed);
        state.gone.notify_waiters();
        return;
    }
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let peer = Arc::new(Peer {
        tcp,
        backlog: Mutex::new(Vec::new()),
    });
    state
        .peers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, peer.clone());
    if state.quitting.load(Ordering::Acquire) {
        send(&peer, &going_away());
    }
    // Pings are answered, a close is answered (or ends the handshake `quit` started).
    let mut reader = Reader { buf: rest };
    while let Some(frame) = reader.next(&peer.tcp).await {
        match frame.opcode {
            op::PING => send(&peer, &ws::encode(op::PONG, &frame.payload, None)),
            op::CLOSE => {
                if !state.quitting.load(Ordering::Acquire) {
                    send(&peer, &ws::encode(op::CLOSE, &frame.payload, None));
                }
                break;
            }
            _ => {}
        }
    }
    state
        .peers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    state.gone.notify_waiters();
}

/// The control connection's commands, one at a time.
async fn control(tcp: &TcpStream, rest: Vec<u8>, state: &Arc<State>) {
    let mut reader = Reader { buf: rest };
    while let Some(frame) = reader.next(tcp).await {
        let reply = match frame.opcode {
            op::TEXT => {
                let command = String::from_utf8_lossy(&frame.payload).into_owned();
                if command.trim() == "quit" {
                    quit(state).await;
                    return;
                }
                ws::encode(op::TEXT, command_reply(&command, state).as_bytes(), None)
            }
            op::PING => ws::encode(op::PONG, &frame.payload, None),
            op::CLOSE => return,
            _ => continue,
        };
        if !write_all(tcp, &reply).await {
            return;
        }
    }
}

/// Answers `stats` and `go R SIZE` (JSON text).
fn command_reply(command: &str, state: &State) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["stats"] => serde_json::json!({
            "connections": state.connections(),
            "rss_kib": rss_kib(),
            "rss_start_kib": state.rss_start,
            "cpu_ns": thread_cpu_ns(),
        }),
        ["go", round, size] => {
            let (Ok(round), Ok(size)) = (round.parse::<u64>(), size.parse::<usize>()) else {
                return serde_json::json!({"error": "go ROUND SIZE"}).to_string();
            };
            let mut payload = vec![0u8; size.max(16)];
            let sent_ns = ws::wall_ns();
            payload[..8].copy_from_slice(&round.to_le_bytes());
            payload[8..16].copy_from_slice(&sent_ns.to_le_bytes());
            let started = Instant::now();
            let frame = ws::encode(op::BINARY, &payload, None);
            let peers = state.peers();
            for peer in &peers {
                send(peer, &frame);
            }
            let call_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            serde_json::json!({
                "round": round,
                "queued": peers.len(),
                "sent_ns": sent_ns,
                "broadcast_call_ns": call_ns,
            })
        }
        _ => serde_json::json!({ "error": format!("unknown command {command:?}") }),
    }
    .to_string()
}

/// `quit`: close 1001 to every client, then wait (bounded) until they all answered.
async fn quit(state: &State) {
    state.quitting.store(true, Ordering::Release);
    let close = going_away();
    for peer in state.peers() {
        send(&peer, &close);
    }
    let all_gone = async {
        loop {
            let gone = state.gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            if state
                .peers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return;
            }
            gone.await;
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, all_gone).await;
    std::process::exit(0);
}

/// This process's resident set size in KiB (`VmRSS`).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of this thread in ns (`/proc/thread-self/schedstat`): on a current-thread runtime,
/// all the server's work.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn main() {
    let usage = || -> ! {
        eprintln!(
            "usage: fanout-raw [--role server] [--addr 127.0.0.1:PORT] [--timeout SECS] [--deflate off]"
        );
        std::process::exit(2)
    };
    let mut addr = "127.0.0.1:0".to_owned();
    let mut timeout = Duration::from_secs(180);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match (arg.as_str(), value.as_str()) {
            ("--role", "server") | ("--deflate", "off") => {}
            ("--addr", _) => addr = value,
            ("--timeout", secs) => {
                timeout = Duration::from_secs(secs.parse().unwrap_or_else(|_| usage()));
            }
            _ => usage(),
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fanout-raw: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let state = Arc::new(State {
        peers: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
        controls: AtomicU64::new(0),
        quitting: AtomicBool::new(false),
        gone: Notify::new(),
        rss_start: rss_kib().unwrap_or(0),
    });
    runtime.block_on(async move {
        let listener = match TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("fanout-raw: cannot bind {addr}: {e}");
                std::process::exit(1);
            }
        };
        match listener.local_addr() {
            Ok(local) if local.ip().is_loopback() => println!("listening ws://{local}"),
            Ok(local) => {
                eprintln!("fanout-raw: {local} is not a loopback address");
                std::process::exit(2);
            }
            Err(e) => {
                eprintln!("fanout-raw: {e}");
                std::process::exit(1);
            }
        }
        let accept = async {
            loop {
                match listener.accept().await {
                    Ok((tcp, _)) => {
                        tokio::spawn(connection(tcp, state.clone()));
                    }
                    Err(e) => {
                        eprintln!("fanout-raw: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        };
        if tokio::time::timeout(timeout, accept).await.is_err() {
            eprintln!("fanout-raw: --timeout reached");
        }
    });
}
