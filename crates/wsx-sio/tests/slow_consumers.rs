//! Slow consumers (`Config::max_pending_bytes`): a client that stops taking what it is sent
//! during a burst of broadcasts must not grow the server past its bound, and every other
//! client still gets everything. Over WebSocket (a client that stops reading) and over
//! long-polling (a client that stops sending `GET`s).
//!
//! The server is the demo's (`examples/sio_demo.rs`, its `broadcast` event) in a process of
//! its own, this test binary run again with `WSX_SLOW_CONSUMER_SERVER` set, so that its peak
//! resident memory (`VmHWM` of `/proc/PID/status`) is the server's alone. Its heartbeat is
//! slow (30 s), so that only the bound can end the slow client during the burst.
//!
//! To measure another server in the same scenarios (Node's `bench/node/sio_demo.js`, which
//! has no bound, so the assertions fail after the figures are printed), start it and set
//! `WSX_SLOW_CONSUMER_PEER="ADDR PID"`.

mod common;

#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;

use common::http::{get, open_session, post, session_url};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use wsx::{Message, Role, WebSocket};

const CHILD: &str = "WSX_SLOW_CONSUMER_SERVER";
/// The server's `max_pending_bytes`.
const BOUND: usize = 1 << 20;
/// The size of each broadcast's payload.
const PAYLOAD: usize = 10 * 1024;
/// What the server may grow by beyond the bound during a burst: the broadcasts on their way
/// to the clients that read, the grown read buffers, the allocator's slack.
const SLACK: usize = 6 << 20;
const PATH: &str = "/socket.io/";

/// Not a test: the server the tests below measure, in its own process (they run this binary
/// again with `WSX_SLOW_CONSUMER_SERVER` set, and this returns at once without it).
#[test]
#[ignore = "the server process of the other tests of this file"]
fn demo_server_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut config = sio_demo::config();
        config.engine.ping_interval = Duration::from_secs(30);
        config.engine.ping_timeout = Duration::from_secs(30);
        config.max_pending_bytes = BOUND;
        let io = sio_demo::server_with(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("listening on {}", listener.local_addr().expect("addr"));
        io.serve(listener).await.expect("serve");
    });
}

/// The server process; killed when dropped (unless it is `WSX_SLOW_CONSUMER_PEER`'s).
struct ServerProcess {
    child: Option<std::process::Child>,
    pid: u32,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start() -> Self {
        if let Ok(peer) = std::env::var("WSX_SLOW_CONSUMER_PEER") {
            let (addr, pid) = peer.split_once(' ').expect("ADDR PID");
            return Self {
                child: None,
                pid: pid.parse().expect("PID"),
                addr: addr.parse().expect("ADDR"),
            };
        }
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["demo_server_process", "--exact", "--ignored", "--nocapture"])
            .env(CHILD, "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server process ended")
                .expect("read");
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.parse().expect("address");
            }
        };
        Self {
            pid: child.id(),
            child: Some(child),
            addr,
        }
    }

    /// A `/proc/PID/status` figure, in bytes.
    fn status(&self, key: &str) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("status");
        let line = status
            .lines()
            .find(|l| l.starts_with(key))
            .expect("status line");
        let kib: usize = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("KiB");
        kib * 1024
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A client that reads everything: counts the `broadcast` events it gets, answers pings, and
/// sends what it is given.
struct Reader {
    got: Arc<AtomicUsize>,
    send: mpsc::UnboundedSender<String>,
}

impl Reader {
    async fn join(addr: SocketAddr) -> Self {
        let (mut raw, _) = common::Raw::connect_root(addr).await;
        let got = Arc::new(AtomicUsize::new(0));
        let (send, mut outgoing) = mpsc::unbounded_channel::<String>();
        let count = got.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = raw.ws.next() => match message {
                        Some(Ok(Message::Text(t))) if t.as_str() == "2" => raw.send("3").await,
                        Some(Ok(Message::Text(t))) if t.starts_with(r#"42["broadcast""#) => {
                            count.fetch_add(1, Ordering::AcqRel);
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    Some(text) = outgoing.recv() => raw.send(&text).await,
                }
            }
        });
        Self { got, send }
    }

    fn got(&self) -> usize {
        self.got.load(Ordering::Acquire)
    }
}

/// Emits `broadcast` `n` times from `sender` with a 10 KiB payload, at most 50 ahead of what
/// the sender itself got back; waits until every reader got all `n`.
async fn burst(sender: &Reader, readers: &[Reader], n: usize) {
    let payload = format!(r#"42["broadcast","{}"]"#, "x".repeat(PAYLOAD));
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..n {
        while i >= sender.got() + 50 {
            assert!(
                Instant::now() < deadline,
                "the sender stopped getting its own"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sender.send.send(payload.clone()).expect("sender alive");
    }
    while readers.iter().chain([sender]).any(|r| r.got() < n) {
        let counts: Vec<usize> = readers.iter().chain([sender]).map(Reader::got).collect();
        assert!(
            Instant::now() < deadline,
            "not everybody got {n}: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A WebSocket client with a small receive buffer that joins `/` and then never reads again.
async fn silent_websocket(addr: SocketAddr) -> WebSocket<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut tcp = socket.connect(addr).await.expect("connect");
    let request = format!(
        "GET {PATH}?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        tcp.read_exact(&mut byte).await.expect("response");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    let mut ws = WebSocket::from_raw(
        tcp,
        Role::Client,
        wsx::WebSocketConfig::default(),
        &[],
        None,
        None,
    );
    let mut joined = false;
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(t) = message {
            if t.starts_with('0') {
                ws.send(Message::text("40")).await.expect("CONNECT");
            } else if t.starts_with("40") {
                joined = true;
                break;
            }
        }
    }
    assert!(joined, "the silent client did not join");
    ws
}

/// Two clients that read everything (one of them sends the broadcasts), and the server's
/// resident memory before the burst.
async fn readers(server: &ServerProcess) -> (Reader, Vec<Reader>) {
    let sender = Reader::join(server.addr).await;
    let mut readers = Vec::new();
    for _ in 0..2 {
        readers.push(Reader::join(server.addr).await);
    }
    (sender, readers)
}

/// A warm-up burst of 50 (the allocator meets 10 KiB messages), then `broadcasts` more
/// while the peak is measured: asserts that the server grew by at most the bound and slack.
async fn assert_burst_bounded(
    server: &ServerProcess,
    sender: &Reader,
    readers: &[Reader],
    broadcasts: usize,
) {
    burst(sender, readers, 50).await;
    let before = server.status("VmRSS:");
    let t = Instant::now();
    burst(sender, readers, broadcasts + 50).await;
    let grew = server.status("VmHWM:").saturating_sub(before);
    eprintln!(
        "{broadcasts} broadcasts of {PAYLOAD} bytes in {:?}: the server grew by {} KiB at its \
         peak (bound {} KiB)",
        t.elapsed(),
        grew / 1024,
        BOUND / 1024
    );
    assert!(
        grew <= BOUND + SLACK,
        "the server grew by {grew} bytes (bound {BOUND} + {SLACK})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_that_stops_reading_is_closed_at_the_bound() {
    let server = ServerProcess::start();
    let (sender, readers) = readers(&server).await;
    let mut silent = silent_websocket(server.addr).await;
    assert_burst_bounded(&server, &sender, &readers, 1000).await;
    // The silent client was closed: once it reads, it finds the end of the connection
    // (a close frame, 1013 "slow consumer", or a reset) after what was written before.
    let end = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match silent.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.as_u16()),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the silent client's connection ends");
    assert!(matches!(end, Some(1013) | None), "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_client_that_stops_polling_is_closed_at_the_bound() {
    let server = ServerProcess::start();
    let (sender, readers) = readers(&server).await;
    // A polling client joins `/`, takes its CONNECT answer, and then sends no more `GET`.
    let sid = open_session(server.addr, PATH).await;
    let url = session_url(PATH, &sid);
    assert_eq!(post(server.addr, &url, "40").await.status, 200);
    let answer = get(server.addr, &url).await;
    assert!(answer.text().starts_with("40"), "{}", answer.text());
    assert_burst_bounded(&server, &sender, &readers, 4000).await;
    // Its next `GET` is answered with the close packet (or, later, as an unknown session).
    let next = get(server.addr, &url).await;
    let text = next.text();
    assert!(
        (next.status == 200 && text.split('\u{1e}').any(|p| p == "1"))
            || (next.status == 400 && text.contains(r#""code":1"#)),
        "{} {text:.200}",
        next.status
    );
}

/// The policy as the application sees it: the emit past the bound fails with `QueueFull`,
/// the socket's disconnect handlers run with "slow consumer", the metric counts it, and a
/// client that reads is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_bound_the_emit_fails_and_the_socket_ends_as_a_slow_consumer() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use std::sync::Mutex;
    use wsx_sio::{DisconnectReason, EmitError, Server, Socket};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("recorder");
    let io = Server::new(wsx_sio::Config {
        max_pending_bytes: 64 * 1024,
        ..wsx_sio::Config::default()
    });
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let (sockets_tx, mut sockets) = mpsc::unbounded_channel();
    let seen = reasons.clone();
    io.on_connection(move |socket: Socket| {
        let seen = seen.clone();
        let _ = sockets_tx.send(socket.clone());
        async move {
            socket.on_disconnect(move |_s, reason| {
                let seen = seen.clone();
                async move { seen.lock().expect("lock").push(reason) }
            });
        }
    });
    let addr = common::start(&io).await;
    let _silent = silent_websocket(addr).await;
    let silent = sockets.recv().await.expect("the silent socket");
    let reader = Reader::join(addr).await;
    let _ = sockets.recv().await.expect("the reader's socket");
    // Emits to the silent client until the bound refuses one: at most the bound, and what
    // the kernel's buffers took, in 10 KiB packets.
    let payload = "x".repeat(PAYLOAD);
    let mut refused = None;
    for _ in 0..2000 {
        match silent.emit("broadcast", &payload) {
            Ok(()) => tokio::task::yield_now().await,
            Err(err) => {
                refused = Some(err);
                break;
            }
        }
    }
    assert!(
        matches!(refused, Some(EmitError::QueueFull { limit: 65536, .. })),
        "{refused:?}"
    );
    // The reader still gets what it is sent.
    io.of("/").hub().emit("broadcast", &1).expect("broadcast");
    let deadline = Instant::now() + Duration::from_secs(5);
    while reader.got() < 1 {
        assert!(Instant::now() < deadline, "the reader got nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The handlers run once the transport's close is done: the silent client does not answer
    // the close frame, which waits wsx's `close_timeout` (5 s).
    assert!(!silent.connected(), "still connected");
    let deadline = Instant::now() + Duration::from_secs(15);
    while reasons.lock().expect("lock").is_empty() {
        assert!(Instant::now() < deadline, "no disconnect");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        *reasons.lock().expect("lock"),
        vec![DisconnectReason::SlowConsumer]
    );
    let counted: u64 = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "wsx_sio_slow_consumers_total")
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(counted, 1);
}
