//! How a test that needs a peer from outside Rust (a browser, Python, Node, tinyproxy, Redis)
//! says that it did not run: one `SKIPPED` line on stderr naming the test, the missing piece
//! and the command that installs every peer, or a failure where the environment requires the
//! peer (CI sets `WSX_REQUIRE_*`).
//!
//! The line is written to the process's stderr directly, not with `eprintln!`: libtest
//! captures `eprintln!` in a passing test and shows it only when the test fails, so a skipped
//! test used to look like a pass in `cargo test`'s output. The same file is in each crate's
//! `tests/skip/` (a test crate cannot share a module with another package).
#![allow(dead_code)]

use std::io::Write;

/// The script that installs every peer, as CI does, and runs every test with the peers
/// required.
pub const RUN_ALL: &str = "scripts/test_all.sh";

/// Whether the environment variable `require` asks for the peer (set, and not `0`).
pub fn required(require: &str) -> bool {
    std::env::var(require).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Skips the calling test because `missing` is missing (the caller returns right after), or
/// fails it when `require` (a `WSX_REQUIRE_*` variable) is set. `missing` names the missing
/// piece and how to get it.
#[track_caller]
pub fn skip(require: &str, missing: &str) {
    assert!(!required(require), "{require} is set but {missing}");
    note(&format!(
        "{missing}; run {RUN_ALL} (installs the peers) to run it"
    ));
}

/// Writes `SKIPPED <test>: <what>` to stderr, past libtest's capture.
pub fn note(what: &str) {
    let thread = std::thread::current();
    // libtest names each test's thread after the test.
    let test = thread.name().filter(|n| *n != "main").unwrap_or("a test");
    // One write, so that the line is not cut by libtest's own output on stdout.
    let line = format!("SKIPPED {test}: {what}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
