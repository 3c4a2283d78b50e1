//! The demo in a real browser: Debian's headless Chromium, driven by `playwright-core`
//! (`tests/browser/chat.mjs`), opens `wsx serve`'s page twice; the browser's own WebSocket
//! (which offers permessage-deflate) talks to our server, a chat message crosses from one
//! page to the other, the online count moves. Skipped with a note when Chromium or the npm
//! package is missing, unless `WSX_REQUIRE_BROWSER=1` (CI), which makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn two_chromium_pages_chat_through_wsx_serve() {
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
        return;
    }
    let mut serve = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(serve.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    // The screenshot the README shows is refreshed by each run (target/ is not committed).
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/demo.png");
    let run = Command::new("node")
        .current_dir(&dir)
        .args(["chat.mjs", &base, shot.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
    assert!(stdout.contains("permessage-deflate"), "{stdout}");
}
