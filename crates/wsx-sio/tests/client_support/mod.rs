//! What tests/client*.rs share: the in-process sio_demo, Node's demo server, a proxy that
//! breaks connections.

pub mod proxy;
pub mod recording;
#[path = "../skip/mod.rs"]
mod skip;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Serves `io` on a free loopback port.
pub async fn start_demo(io: wsx_sio::Server) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { io.serve(listener).await });
    addr
}

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/client")
}

/// Skips (or fails, under `WSX_REQUIRE_INTEROP=1`) when a peer is missing.
fn missing(what: &str) {
    skip::skip(
        "WSX_REQUIRE_INTEROP",
        &format!("{what} missing (npm ci in crates/wsx-sio/tests/client)"),
    );
}

/// A demo-contract server in another language (Node, Python), stopped when dropped.
pub struct PeerServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl PeerServer {
    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .expect("a peer's address")
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` (in tests/client) and waits for its `listening on ADDR` line.
fn start(mut command: Command) -> PeerServer {
    command
        .current_dir(node_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().expect("the peer server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the peer server prints its address");
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        panic!("the peer server said {line:?}");
    };
    PeerServer {
        url: format!("http://{addr}"),
        child,
    }
}

/// Starts `tests/client/node_server.js` (socket.io 4.8) with `flags` (`--recovery`,
/// `--msgpack`), or returns `None` after [`missing`] when Node or its modules are not
/// installed.
pub fn node_server(flags: &[&str]) -> Option<PeerServer> {
    if !node_dir()
        .join("node_modules/socket.io-msgpack-parser")
        .is_dir()
    {
        missing("npm socket.io (tests/client/node_modules)");
        return None;
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing("node");
        return None;
    }
    let mut command = Command::new("node");
    command.arg("node_server.js").args(flags);
    Some(start(command))
}

/// Starts `tests/client/python_server.py` (python-socketio 5.18 on uvicorn) with the venv's
/// Python (`WSX_SIO_SERVER_PYTHON`, or target/sio-client-venv), or returns `None` after
/// [`missing`] when it is not there.
pub fn python_server() -> Option<PeerServer> {
    let python = std::env::var_os("WSX_SIO_SERVER_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/sio-client-venv/bin/python"),
        PathBuf::from,
    );
    let ready = Command::new(&python)
        .args(["-c", "import socketio, uvicorn, wsproto"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        skip::skip(
            "WSX_REQUIRE_INTEROP",
            "python-socketio and uvicorn missing (a venv at target/sio-client-venv with \
             pip install -r crates/wsx-sio/tests/client/requirements.txt)",
        );
        return None;
    }
    let mut command = Command::new(python);
    command.arg("python_server.py");
    Some(start(command))
}
