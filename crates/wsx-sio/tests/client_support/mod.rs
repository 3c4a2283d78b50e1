//! What tests/client*.rs share: the in-process sio_demo, Node's demo server, a proxy that
//! breaks connections.

pub mod proxy;
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

/// Node's socket.io demo server, stopped when dropped.
pub struct NodeServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tests/client/node_server.js` (with connection state recovery when `recovery`),
/// or returns `None` after [`missing`] when Node or its modules are not installed.
pub fn node_server(recovery: bool) -> Option<NodeServer> {
    let dir = node_dir();
    if !dir.join("node_modules/socket.io").is_dir() {
        missing("npm socket.io (tests/client/node_modules)");
        return None;
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing("node");
        return None;
    }
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .arg("node_server.js")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if recovery {
        command.arg("--recovery");
    }
    let mut child = command.spawn().expect("node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("node_server prints its address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("node_server said {line:?}"))
        .to_owned();
    Some(NodeServer {
        url: format!("http://{addr}"),
        child,
    })
}
