//! The real admin UI (npm `@socket.io/admin-ui` 0.5, its `ui/dist`) in Debian's headless
//! Chromium, driven by `playwright-core`, against `sio_demo --admin-ui`:
//! `tests/admin_ui/admin_ui.mjs` serves the dashboard from a loopback port of its own, starts
//! the demo (this package's `examples/sio_demo`, built by `cargo test`) on a free port, connects
//! three demo clients (npm `socket.io-client`) into rooms, then logs the dashboard in: a wrong
//! password shows the dashboard's "Invalid credentials", the right one (`admin` / `changeit`)
//! shows the demo's sockets (their ids on the sockets page) and rooms (the rooms page). The
//! screenshot of the sockets page is written to `target/admin-ui.png` (docs/admin-ui.png is
//! refreshed from it).
//!
//! Skipped with a `SKIPPED` line naming what is missing (Chromium, node, the `npm ci` of
//! tests/admin_ui, the demo binary) unless `WSX_REQUIRE_BROWSER` is set (CI), which makes that
//! a failure; `scripts/test_all.sh` installs them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod skip;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `examples/sio_demo` of this build (`cargo test` builds the package's examples beside the
/// test binaries' folder).
fn sio_demo_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let demo = dir.join("examples/sio_demo");
    demo.exists().then_some(demo)
}

/// The test's folder and the demo binary, or `None` (skipped) when something is missing.
fn setup() -> Option<(PathBuf, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/admin_ui");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    let demo = sio_demo_exe();
    let missing = if !Path::new(&chromium).exists() {
        format!(
            "Chromium is not installed at {chromium} (Debian: apt-get install chromium; or set CHROMIUM to its path)"
        )
    } else if !node {
        "node is not installed (Node.js 18+)".to_owned()
    } else if !dir.join("node_modules/playwright-core").exists()
        || !dir
            .join("node_modules/@socket.io/admin-ui/ui/dist")
            .exists()
        || !dir.join("node_modules/socket.io-client").exists()
    {
        "the npm packages of crates/wsx-sio/tests/admin_ui are not installed (there: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)".to_owned()
    } else if let Some(demo) = demo {
        return Some((dir, demo));
    } else {
        "examples/sio_demo is not built (run `cargo test -p wsx-sio`, which builds it)".to_owned()
    };
    skip::skip("WSX_REQUIRE_BROWSER", &missing);
    None
}

#[test]
fn the_admin_ui_in_chromium_logs_in_and_shows_the_demo_sockets_and_rooms() {
    let Some((dir, demo)) = setup() else { return };
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/admin-ui.png");
    let run = Command::new("node")
        .current_dir(&dir)
        .args([
            "admin_ui.mjs",
            demo.to_str().unwrap(),
            shot.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "admin UI run failed:\n{stdout}\n{stderr}"
    );
    // What the script saw, checked here too so that a script that printed nothing fails.
    assert!(stdout.contains(r#""invalidCredentials":true"#), "{stdout}");
    assert!(stdout.contains(r#""socketsShown":3"#), "{stdout}");
    assert!(
        stdout.contains(r#""roomsShown":["lobby","vip"]"#),
        "{stdout}"
    );
}
