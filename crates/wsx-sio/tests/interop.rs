//! The official clients against the sio_demo contract: npm `socket.io-client` (Node) and
//! `python-socketio`, each on the WebSocket transport, with its default options (HTTP
//! long-polling, then the upgrade to WebSocket), and on polling only, against the demo's own
//! code (`examples/sio_demo.rs`) served in-process on a multi-threaded runtime; and the Node
//! client with npm `socket.io-msgpack-parser` against the demo on `Parser::MsgPack`, over
//! WebSocket, over polling, and polling then upgrading; and the Node client against `Server::shutdown`
//! (`tests/interop/shutdown.js`).
//!
//! The clients are installed by `scripts/sio_interop_setup.sh`. Without them each test prints a
//! `SKIPPED` line naming the missing client, unless `WSX_REQUIRE_INTEROP` is set (CI), which
//! makes them fail.

#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;
mod skip;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Skips (or fails, under `WSX_REQUIRE_INTEROP=1`) when a client is missing.
fn missing(what: &str) {
    skip::skip(
        "WSX_REQUIRE_INTEROP",
        &format!("{what} is not installed (scripts/sio_interop_setup.sh installs the clients)"),
    );
}

async fn start_demo() -> SocketAddr {
    start_demo_with(sio_demo::config()).await
}

async fn start_demo_with(config: wsx_sio::Config) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let io = sio_demo::server_with(config);
    tokio::spawn(async move { io.serve(listener).await });
    addr
}

/// Runs a client script to its end and checks that every check passed (at least
/// `min_checks` of them).
async fn run_checks(mut command: Command, what: &str, min_checks: usize) {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .unwrap_or_else(|err| panic!("{what} did not start: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{what}:\n{stdout}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("not ok")).collect();
    assert!(
        output.status.success() && failed.is_empty() && stdout.contains("all checks passed"),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.lines().filter(|l| l.starts_with("ok - ")).count() >= min_checks);
}

async fn run_client(command: Command, what: &str) {
    run_checks(command, what, 12).await;
}

async fn node_client(mode: &str) {
    node_client_with(mode, wsx_sio::Parser::Json).await;
}

async fn node_client_with(mode: &str, parser: wsx_sio::Parser) {
    let dir = interop_dir();
    let (package, parser_arg) = match parser {
        wsx_sio::Parser::MsgPack => ("socket.io-msgpack-parser", "msgpack"),
        _ => ("socket.io-client", "json"),
    };
    if !dir.join("node_modules").join(package).is_dir() {
        return missing(&format!(
            "npm {package} (crates/wsx-sio/tests/interop/node_modules)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return missing("node");
    }
    let addr = start_demo_with(sio_demo::config().parser(parser)).await;
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .arg("client.js")
        .arg(format!("http://{addr}"))
        .arg(mode)
        .arg(parser_arg);
    // Every check of client.js (the dynamic namespaces' and ask-room's included) must run.
    run_checks(
        command,
        &format!("socket.io-client (Node, {mode}, {parser_arg} parser)"),
        20,
    )
    .await;
}

async fn python_client(mode: &str) {
    let python = std::env::var_os("WSX_SIO_PYTHON").map_or_else(
        || workspace_root().join("target/sio-venv/bin/python"),
        PathBuf::from,
    );
    if !python.exists() {
        return missing("the python-socketio venv target/sio-venv");
    }
    let probe = Command::new(&python)
        .args(["-c", "import socketio, websocket, requests"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return missing("python-socketio, websocket-client or requests in target/sio-venv");
    }
    let addr = start_demo().await;
    let mut command = Command::new(python);
    command
        .current_dir(interop_dir())
        .arg("client.py")
        .arg(format!("http://{addr}"))
        .arg(mode);
    run_client(command, &format!("python-socketio ({mode})")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_socket_io_client_passes_the_contract() {
    node_client("websocket").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_client_with_default_options_polls_then_upgrades_and_passes_the_contract() {
    node_client("default").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_client_on_polling_only_passes_the_contract() {
    node_client("polling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_client_with_the_msgpack_parser_passes_the_contract_over_websocket() {
    node_client_with("websocket", wsx_sio::Parser::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_client_with_the_msgpack_parser_passes_the_contract_over_polling() {
    node_client_with("polling", wsx_sio::Parser::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_client_with_the_msgpack_parser_polls_then_upgrades_and_passes_the_contract() {
    node_client_with("default", wsx_sio::Parser::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_socketio_client_passes_the_contract() {
    python_client("websocket").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_client_with_default_options_polls_then_upgrades_and_passes_the_contract() {
    python_client("default").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_client_on_polling_only_passes_the_contract() {
    python_client("polling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_client_that_drops_and_reconnects_is_recovered_with_nothing_missed() {
    let dir = interop_dir();
    if !dir.join("node_modules/socket.io-client").is_dir() {
        return missing("npm socket.io-client (crates/wsx-sio/tests/interop/node_modules)");
    }
    if Command::new("node").arg("--version").output().is_err() {
        return missing("node");
    }
    let config = wsx_sio::Config {
        recovery: Some(wsx_sio::Recovery::default()),
        ..sio_demo::config()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let io = sio_demo::server_with(config);
    tokio::spawn(async move { io.serve(listener).await });
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .arg("recovery.js")
        .arg(format!("http://{addr}"));
    run_checks(command, "socket.io-client recovery", 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_clients_get_their_disconnect_when_the_server_shuts_down() {
    let dir = interop_dir();
    if !dir.join("node_modules/socket.io-client").is_dir() {
        return missing("npm socket.io-client (crates/wsx-sio/tests/interop/node_modules)");
    }
    if Command::new("node").arg("--version").output().is_err() {
        return missing("node");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let io = wsx_sio::Server::default();
    let (shut, shut_down) = tokio::sync::oneshot::channel();
    let shut = std::sync::Mutex::new(Some(shut));
    let shut = std::sync::Arc::new(shut);
    io.on_connection(move |socket: wsx_sio::Socket| {
        let shut = shut.clone();
        async move {
            socket.on_with_ack("shutdown", move |_s: wsx_sio::Socket, (): (), ack| {
                let shut = shut.lock().expect("lock").take();
                async move {
                    let _ = ack.send(&true);
                    if let Some(shut) = shut {
                        let _ = shut.send(());
                    }
                }
            });
        }
    });
    let serving = tokio::spawn({
        let io = io.clone();
        async move { io.serve(listener).await }
    });
    let shutting = tokio::spawn({
        let io = io.clone();
        async move {
            if shut_down.await.is_ok() {
                io.shutdown().await;
            }
        }
    });
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .arg("shutdown.js")
        .arg(format!("http://{addr}"));
    run_checks(command, "socket.io-client and Server::shutdown", 7).await;
    shutting.await.expect("shutdown");
    assert!(matches!(serving.await, Ok(Ok(()))), "serve returned");
}
