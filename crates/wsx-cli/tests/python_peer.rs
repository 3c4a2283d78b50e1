//! `wsx connect` and `wsx bench` against a real third-party peer: Python's `websockets` echo
//! server (permessage-deflate on by default there). Uses the virtualenv `target/pyws-venv` that
//! `.ci/run`, `scripts/test_all.sh` and wsx's own deflate tests set up; without it the test
//! prints a `SKIPPED` line saying what is missing, unless `WSX_REQUIRE_PYTHON` is set (as CI
//! does), which makes it fail.

mod common;
mod skip;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

const ECHO: &str = r#"
import asyncio
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main():
    async with serve(echo, "127.0.0.1", 0, max_size=None) as server:
        print(list(server.sockets)[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"#;

fn venv_python() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let python = target.join("pyws-venv/bin/python");
    let usable = Command::new(&python)
        .args(["-c", "import websockets.asyncio.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    usable.then_some(python)
}

/// The Python echo server and its port; killed when the guard drops.
struct PythonEcho(Child, u16);

impl Drop for PythonEcho {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_echo() -> Option<PythonEcho> {
    let Some(python) = venv_python() else {
        skip::skip(
            "WSX_REQUIRE_PYTHON",
            "Python's websockets is not installed in target/pyws-venv (python3 -m venv target/pyws-venv && target/pyws-venv/bin/pip install websockets; `cargo test -p wsx --test deflate` also creates it)",
        );
        return None;
    };
    let mut child = Command::new(python)
        .args(["-c", ECHO])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    let port = line
        .trim()
        .parse()
        .expect("the Python server prints its port");
    Some(PythonEcho(child, port))
}

#[test]
fn connect_talks_to_python_websockets_with_deflate() {
    let Some(server) = python_echo() else { return };
    let url = format!("ws://127.0.0.1:{}/", server.1);
    let run = common::wsx(
        &[
            "connect",
            &url,
            "--show-ping-pong",
            "-x",
            "hello python",
            "-x",
            "/ping p",
            "-w",
            "0.5",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    // Python answers the ping in its protocol layer, before its handler echoes: either order.
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["< [pong] p", "< hello python"], "{}", run.stdout);
    assert!(
        run.stderr.contains("permessage-deflate"),
        "stderr: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("closed: 1000"),
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn bench_drives_python_websockets_without_errors() {
    let Some(server) = python_echo() else { return };
    let url = format!("ws://127.0.0.1:{}/", server.1);
    let run = common::wsx(
        &[
            "bench",
            &url,
            "--conns",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0",
            "--size",
            "200",
            "--json",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(v["errors"], 0, "{v}");
    assert!(v["messages"].as_u64().unwrap_or(0) > 0, "{v}");
}
