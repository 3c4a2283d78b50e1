//! `wsx connect` against an in-process wsx echo server.

mod common;

use common::{closed_port, echo_server, wsx};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn execute_and_wait_prints_the_echo_then_closes_normally() {
    let server = echo_server();
    let run = wsx(
        &["connect", &server.url(), "-x", "hello", "-w", "1"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "< hello\n");
    assert!(
        run.elapsed >= Duration::from_millis(900),
        "left before -w 1: {:?}",
        run.elapsed
    );
    assert_eq!(server.next_close().0, 1000);
    assert!(
        run.stderr.contains("closed: 1000"),
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn several_execute_messages_arrive_in_order() {
    let server = echo_server();
    let run = wsx(
        &[
            "connect",
            &server.url(),
            "-x",
            "one",
            "-x",
            "//two",
            "-x",
            "three",
            "-w",
            "0.5",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "< one\n< /two\n< three\n");
}

#[test]
fn close_command_closes_with_that_code_and_reason() {
    let server = echo_server();
    let run = wsx(
        &["connect", &server.url(), "-x", "/close 4000 bye", "-w", "5"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(server.next_close(), (4000, "bye".to_owned()));
    // The close handshake ends the session; -w 5 is not waited out.
    assert!(
        run.elapsed < Duration::from_secs(4),
        "took {:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains("closed: 4000"),
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn stdin_lines_are_sent_and_end_of_input_closes() {
    let server = echo_server();
    let run = wsx(
        &["connect", &server.url(), "--show-ping-pong"],
        "first line\n/ping abc\nsecond\n",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    // Texts come back in order; a pong may overtake an echo (it is answered below the handler).
    let texts: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("< [pong]"))
        .collect();
    assert_eq!(texts, ["< first line", "< second"], "{}", run.stdout);
    assert_eq!(
        run.stdout.lines().filter(|l| *l == "< [pong] abc").count(),
        1,
        "{}",
        run.stdout
    );
    assert_eq!(server.next_close().0, 1000);
}

#[test]
fn close_command_from_stdin() {
    let server = echo_server();
    let run = wsx(
        &["connect", &server.url()],
        "x\n/close 4001 done here\nnot sent\n",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(server.next_close(), (4001, "done here".to_owned()));
    assert_eq!(run.stdout, "< x\n");
}

/// A user who types `/ping` wants to see the answer: its pong is printed without
/// `--show-ping-pong` (which prints every ping and pong, solicited or not).
#[test]
fn the_pong_of_a_ping_command_is_shown_without_show_ping_pong() {
    let server = echo_server();
    let run = wsx(
        &[
            "connect",
            &server.url(),
            "-x",
            "/ping p",
            "-x",
            "t",
            "-w",
            "0.5",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    // The pong may overtake the echo (it is answered below the handler): compare as a set.
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["< [pong] p", "< t"], "{}", run.stdout);
}

#[test]
fn bad_usage_is_one_line_and_nonzero() {
    for args in [
        vec!["connect", "http://127.0.0.1:1/"],
        vec!["connect", "ws://127.0.0.1:0/"],
        vec!["connect", "not a url"],
        vec!["connect", "ws://127.0.0.1:9/", "-H", "no colon"],
    ] {
        let run = wsx(&args, "", LIMIT);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("wsx: error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn refused_connection_is_one_line_and_nonzero() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let run = wsx(&["connect", &url, "-x", "hi"], "", LIMIT);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot connect"), "{}", run.stderr);
}

#[test]
fn help_explains_every_flag() {
    let run = wsx(&["connect", "--help"], "", LIMIT);
    assert_eq!(run.code, Some(0));
    for flag in [
        "--header",
        "--subprotocol",
        "--ca",
        "--insecure",
        "--show-ping-pong",
        "--execute",
        "--wait",
        "--no-deflate",
        "--connect-timeout",
        "/ping",
        "/close",
    ] {
        assert!(run.stdout.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn deflate_is_offered_by_default_and_no_deflate_turns_it_off() {
    let server = common::start(common::Spec {
        deflate: true,
        ..common::Spec::default()
    });
    let run = wsx(
        &["connect", &server.url(), "-x", "squeeze me", "-w", "0.3"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "< squeeze me\n");
    assert!(
        run.stderr.contains("permessage-deflate"),
        "stderr: {}",
        run.stderr
    );
    assert!(server.deflated.load(std::sync::atomic::Ordering::Relaxed));

    let server = common::start(common::Spec {
        deflate: true,
        ..common::Spec::default()
    });
    let run = wsx(
        &[
            "connect",
            &server.url(),
            "--no-deflate",
            "-x",
            "plain",
            "-w",
            "0.3",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "< plain\n");
    assert!(
        !run.stderr.contains("permessage-deflate"),
        "stderr: {}",
        run.stderr
    );
    assert!(!server.deflated.load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn ctrl_c_closes_with_a_close_handshake() {
    let server = echo_server();
    let run = common::wsx_with(&["connect", &server.url()], None, LIMIT, |pid| {
        // Let it connect, then interrupt it as Ctrl-C would.
        std::thread::sleep(Duration::from_millis(500));
        // The shell's own `kill`: no procps needed.
        let sent = std::process::Command::new("sh")
            .args(["-c", &format!("kill -INT {pid}")])
            .status()
            .expect("sh");
        assert!(sent.success());
    });
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("closed: 1000"),
        "stderr: {}",
        run.stderr
    );
    assert_eq!(server.next_close().0, 1000);
}

#[test]
fn wss_to_a_plain_server_says_it_is_not_tls_and_gives_the_ws_url() {
    let serve = common::serve::Serve::start(&[]);
    let url = format!("wss://{}/echo", serve.hostport());
    let run = wsx(&["connect", &url, "-x", "hi"], "", LIMIT);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("did not answer with TLS"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("try ws://{}/echo", serve.hostport())),
        "{}",
        run.stderr
    );
    // rustls' own wording is not what a user should have to decode.
    assert!(!run.stderr.contains("InvalidContentType"), "{}", run.stderr);
}

#[test]
fn a_path_that_is_not_a_websocket_endpoint_gets_a_hint() {
    let serve = common::serve::Serve::start(&[]);
    for (path, status) in [("/", "200 OK"), ("/nope", "404 Not Found")] {
        let url = format!("ws://{}{path}", serve.hostport());
        let run = wsx(&["connect", &url, "-x", "hi"], "", LIMIT);
        assert_eq!(run.code, Some(1), "{path}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{path}: {}", run.stderr);
        let expected = format!(
            "wsx: error: {url} is not a WebSocket endpoint: the server answered {status}; check the path (the demo `wsx serve` serves /echo and /chat)"
        );
        assert_eq!(run.stderr.trim_end(), expected);
    }
    // The endpoint itself connects.
    let url = format!("ws://{}/echo", serve.hostport());
    let run = wsx(&["connect", &url, "-x", "hi", "-w", "0.3"], "", LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "< hi\n");
}
