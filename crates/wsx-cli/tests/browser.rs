//! The demo in a real browser: Debian's headless Chromium, driven by `playwright-core`.
//! `tests/browser/chat.mjs` opens `wsx serve`'s page twice; the browser's own WebSocket
//! (which offers permessage-deflate) talks to our server, a chat message crosses from one
//! page to the other, the online count moves. `tests/browser/h2.mjs` loads the page over
//! HTTPS/HTTP2 and checks that Chromium opened its WebSocket as an RFC 8441 extended CONNECT
//! on that connection (DevTools sees a 200 handshake; the server saw HTTP/2). Skipped with a
//! note when Chromium or the npm package is missing, unless `WSX_REQUIRE_BROWSER=1` (CI),
//! which makes that a failure. `tests/browser/sio.mjs` runs the official Socket.IO browser
//! client (from the npm package) against the wsx-sio server mounted at `/socket.io/`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The browser scripts' folder, or `None` (test skipped) when Chromium or the npm package is
/// missing and the environment does not require them.
fn browser_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var_os("WSX_REQUIRE_BROWSER").is_none(),
            "WSX_REQUIRE_BROWSER is set but {chromium} or tests/browser/node_modules is missing"
        );
        eprintln!(
            "skipped: needs {chromium} and `npm ci` in {}",
            dir.display()
        );
        return None;
    }
    Some(dir)
}

/// Starts `wsx serve` with `extra` arguments; returns it and the base URL it printed.
fn serve(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    (child, base)
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
    let (mut child, base) = serve(&[]);
    // The screenshot the README shows (docs/demo.png) is refreshed from target/demo.png.
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/demo.png");
    let result =
        std::panic::catch_unwind(|| node(&dir, &["chat.mjs", &base, shot.to_str().unwrap()]));
    let _ = child.kill();
    let _ = child.wait();
    let stdout = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
    assert!(stdout.contains("permessage-deflate"), "{stdout}");
}

#[test]
fn chromium_opens_its_websocket_over_http2_with_extended_connect() {
    let Some(dir) = browser_dir() else { return };
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tmp = std::env::temp_dir().join(format!("wsx-browser-h2-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (cert, key) = (tmp.join("cert.pem"), tmp.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let (mut child, base) = serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    // The certificate names localhost.
    let base = base.replace("127.0.0.1", "localhost");
    let result = std::panic::catch_unwind(|| node(&dir, &["h2.mjs", &base]));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&tmp);
    let stdout = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(stdout.contains(r#""pageProtocol":"h2""#), "{stdout}");
    assert!(stdout.contains(r#""serverSaw":"HTTP/2""#), "{stdout}");
    assert!(stdout.contains(r#""handshakes":[200]"#), "{stdout}");
}

#[test]
fn the_official_socketio_browser_client_talks_to_wsx_sio_through_wsx_serve() {
    let Some(dir) = browser_dir() else { return };
    let client = dir.join("node_modules/socket.io-client/dist/socket.io.min.js");
    let (mut child, base) = serve(&["--socketio-client", client.to_str().unwrap()]);
    let result = std::panic::catch_unwind(|| node(&dir, &["sio.mjs", &base]));
    let _ = child.kill();
    let _ = child.wait();
    let stdout = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
}
