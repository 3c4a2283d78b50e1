//! Shared by the CLI tests: an in-process wsx echo server on a free loopback port, and a way to
//! run the built `wsx` binary with a time limit.

#![allow(dead_code)]

pub mod serve;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use wsx::Message;

/// How each connection the echo server saw ended: the client's close code and reason.
pub type CloseSeen = (u16, String);

/// An echo server (wsx's driver, one task per connection) on a runtime of its own.
pub struct EchoServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// One entry per finished connection.
    pub closes: std::sync::mpsc::Receiver<CloseSeen>,
    /// Text messages echoed.
    pub texts: Arc<AtomicU64>,
    /// Binary messages echoed.
    pub binaries: Arc<AtomicU64>,
    /// Some connection negotiated permessage-deflate.
    pub deflated: Arc<AtomicBool>,
    _runtime: tokio::runtime::Runtime,
}

impl EchoServer {
    /// `ws://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// `wss://localhost:PORT/`.
    pub fn wss_url(&self) -> String {
        format!("wss://localhost:{}/", self.addr.port())
    }

    /// The next connection's end, waiting up to 5 s.
    pub fn next_close(&self) -> CloseSeen {
        self.closes
            .recv_timeout(Duration::from_secs(5))
            .expect("the echo server saw no connection end within 5 s")
    }
}

/// What the server does with each accepted connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Echo every text and binary message.
    Echo,
    /// Echo the first message, then drop the TCP connection.
    DropAfterFirst,
}

/// How to start a test server.
#[derive(Clone, Default)]
pub struct Spec {
    /// Drop connections after the first message instead of echoing on.
    pub drop_after_first: bool,
    /// Accept permessage-deflate.
    pub deflate: bool,
    /// Serve `wss://` with this TLS configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Starts an echo server on 127.0.0.1 with a free port.
pub fn echo_server() -> EchoServer {
    start(Spec::default())
}

/// Starts a server with `behaviour` on 127.0.0.1 with a free port.
pub fn server(behaviour: Behaviour) -> EchoServer {
    start(Spec {
        drop_after_first: behaviour == Behaviour::DropAfterFirst,
        ..Spec::default()
    })
}

/// Runs one connection: echo until it ends, then report how it ended.
async fn serve_one<S>(
    stream: S,
    spec: &Spec,
    counters: (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicBool>),
    tx: std::sync::mpsc::Sender<CloseSeen>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (t, b, deflated) = counters;
    let mut options = wsx::handshake::ServerOptions::default();
    if spec.deflate {
        let factory: Arc<dyn wsx::proto::ExtensionFactory> = Arc::new(
            wsx::proto::PerMessageDeflate::new(wsx::proto::DeflateConfig::default()),
        );
        options.extensions.push(factory);
    }
    let Ok((mut ws, _)) = wsx::accept_with(stream, &options, wsx::WebSocketConfig::default()).await
    else {
        return;
    };
    if ws.has_extension() {
        deflated.store(true, Ordering::Relaxed);
    }
    while let Some(Ok(message)) = ws.next().await {
        match &message {
            Message::Text(_) => t.fetch_add(1, Ordering::Relaxed),
            Message::Binary(_) => b.fetch_add(1, Ordering::Relaxed),
            _ => continue,
        };
        if ws.send(message).await.is_err() {
            break;
        }
        if spec.drop_after_first {
            return;
        }
    }
    let reason = ws.close_frame().map(|f| f.reason.clone());
    let _ = tx.send((u16::from(ws.close_code()), reason.unwrap_or_default()));
}

/// Starts a server as `spec` says on 127.0.0.1 with a free port.
pub fn start(spec: Spec) -> EchoServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, closes) = std::sync::mpsc::channel();
    let texts = Arc::new(AtomicU64::new(0));
    let binaries = Arc::new(AtomicU64::new(0));
    let deflated = Arc::new(AtomicBool::new(false));
    let counters = (texts.clone(), binaries.clone(), deflated.clone());
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (tx, counters, spec) = (tx.clone(), counters.clone(), spec.clone());
            tokio::spawn(async move {
                match spec.tls.clone() {
                    Some(tls) => {
                        let Ok(stream) = tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await
                        else {
                            return;
                        };
                        serve_one(stream, &spec, counters, tx).await;
                    }
                    None => serve_one(tcp, &spec, counters, tx).await,
                }
            });
        }
    });
    EchoServer {
        addr,
        closes,
        texts,
        binaries,
        deflated,
        _runtime: runtime,
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// What a run of the binary gave.
pub struct Run {
    /// Exit status code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs `wsx ARGS` with `stdin` as its input, killing it after `limit`.
pub fn wsx(args: &[&str], stdin: &str, limit: Duration) -> Run {
    wsx_with(args, Some(stdin), limit, |_| {})
}

/// The one-line JSON that `wsx bench --json` prints.
pub fn json_of(stdout: &str) -> serde_json::Value {
    let line = stdout.trim();
    assert_eq!(line.lines().count(), 1, "not one line: {stdout}");
    serde_json::from_str(line).expect("valid JSON")
}

/// Runs `wsx bench ARGS --json` (`args` split at whitespace: URLs and paths without spaces)
/// within 30 s, checks that it exited with 0, and gives the run with its JSON summary.
pub fn bench_json(args: &str) -> (Run, serde_json::Value) {
    let mut argv = vec!["bench"];
    argv.extend(args.split_whitespace());
    argv.push("--json");
    let run = wsx(&argv, "", Duration::from_secs(30));
    assert_eq!(run.code, Some(0), "{args}: stderr: {}", run.stderr);
    let v = json_of(&run.stdout);
    (run, v)
}

/// As [`wsx`], calling `meanwhile` with the child's PID once it started; with `stdin` `None`
/// the input stays open (no end of input) until the child exits.
pub fn wsx_with(
    args: &[&str],
    stdin: Option<&str>,
    limit: Duration,
    meanwhile: impl FnOnce(u32),
) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wsx");
    let mut input = child.stdin.take().expect("stdin");
    let mut open_input = None;
    match stdin {
        // Written from a thread so a child that does not read cannot block the test; dropping
        // the pipe is the end of input.
        Some(text) => {
            let text = text.to_owned();
            std::thread::spawn(move || {
                let _ = input.write_all(text.as_bytes());
            });
        }
        None => open_input = Some(input),
    }
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    meanwhile(child.id());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wsx {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(open_input);
    Run {
        code: status.code(),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
        elapsed: started.elapsed(),
    }
}

/// A raw TCP echo server (no WebSocket) on 127.0.0.1 with a free port: the address and the
/// runtime that serves it (dropping it stops the server).
pub fn raw_echo_server() -> (SocketAddr, tokio::runtime::Runtime) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    runtime.spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tcp.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, runtime)
}
