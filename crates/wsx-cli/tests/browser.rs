//! The demo in a real browser: Debian's headless Chromium, driven by `playwright-core`.
//! `tests/browser/chat.mjs` opens `wsx serve`'s page twice; the browser's own WebSocket
//! (which offers permessage-deflate) talks to our server, a chat message crosses from one
//! page to the other, the online count moves. `tests/browser/h2.mjs` loads the page over
//! HTTPS/HTTP2 and checks that Chromium opened its WebSocket as an RFC 8441 extended CONNECT
//! on that connection (DevTools sees a 200 handshake; the server saw HTTP/2). Skipped with a
//! `SKIPPED` line naming what is missing (Chromium, node, or the `npm ci` of tests/browser)
//! unless `WSX_REQUIRE_BROWSER` is set (CI), which makes that a failure; `scripts/test_all.sh`
//! installs them. `tests/browser/sio.mjs` runs the official Socket.IO browser
//! client (from the npm package) against the wsx-sio server mounted at `/socket.io/`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod skip;

use common::serve::{Serve, TlsFiles};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The browser scripts' folder, or `None` (test skipped) when Chromium, node or the npm
/// packages are missing and the environment does not require them; the skip names which.
fn browser_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    let missing = if !Path::new(&chromium).exists() {
        format!(
            "Chromium is not installed at {chromium} (Debian: apt-get install chromium; or set CHROMIUM to its path)"
        )
    } else if !node {
        "node is not installed (Node.js 18+)".to_owned()
    } else if !dir.join("node_modules/playwright-core").exists()
        || !dir.join("node_modules/socket.io-client").exists()
    {
        "the npm packages of crates/wsx-cli/tests/browser are not installed (there: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)".to_owned()
    } else {
        return Some(dir);
    };
    skip::skip("WSX_REQUIRE_BROWSER", &missing);
    None
}

/// Runs a browser script; returns its stdout, failing the test with its output if it failed.
fn node(dir: &Path, args: &[&str]) -> String {
    let run = Command::new("node")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
fn two_chromium_pages_chat_through_wsx_serve() {
    let Some(dir) = browser_dir() else { return };
    // Killed when dropped, also when the browser run fails.
    let serve = Serve::start(&[]);
    // The screenshot the README shows (docs/demo.png) is refreshed from target/demo.png.
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/demo.png");
    let stdout = node(&dir, &["chat.mjs", &serve.base, shot.to_str().unwrap()]);
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
    assert!(stdout.contains("permessage-deflate"), "{stdout}");
}

#[test]
fn chromium_opens_its_websocket_over_http2_with_extended_connect() {
    let Some(dir) = browser_dir() else { return };
    let tls = TlsFiles::localhost("browser-h2");
    let serve = Serve::start(&tls.args());
    // The certificate names localhost.
    let base = serve.base.replace("127.0.0.1", "localhost");
    let stdout = node(&dir, &["h2.mjs", &base]);
    assert!(stdout.contains(r#""pageProtocol":"h2""#), "{stdout}");
    assert!(stdout.contains(r#""serverSaw":"HTTP/2""#), "{stdout}");
    assert!(stdout.contains(r#""handshakes":[200]"#), "{stdout}");
}

#[test]
fn the_official_socketio_browser_client_talks_to_wsx_sio_through_wsx_serve() {
    let Some(dir) = browser_dir() else { return };
    let client = dir.join("node_modules/socket.io-client/dist/socket.io.min.js");
    let serve = Serve::start(&["--socketio-client", client.to_str().unwrap()]);
    let stdout = node(&dir, &["sio.mjs", &serve.base]);
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
}
