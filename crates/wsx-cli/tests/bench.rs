//! `wsx bench` against an in-process wsx echo server.

mod common;

use common::{Behaviour, bench_json, closed_port, echo_server, json_of, server, wsx};
use std::sync::atomic::Ordering;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn json_summary_counts_messages_and_no_errors() {
    let server = echo_server();
    let run = wsx(
        &[
            "bench",
            &server.url(),
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--conns",
            "4",
            "--size",
            "100",
            "--json",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    // --json: no progress bar, nothing on stderr.
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    let v = json_of(&run.stdout);
    assert!(v["messages"].as_u64().expect("messages") > 0, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["conns_ok"], 4);
    assert_eq!(v["size"], 100);
    assert_eq!(v["opcode"], "binary");
    let rate = v["msgs_per_sec"].as_f64().expect("rate");
    assert!(rate > 0.0);
    let (p50, p99, max) = (
        v["p50_us"].as_f64().expect("p50"),
        v["p99_us"].as_f64().expect("p99"),
        v["max_us"].as_f64().expect("max"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{v}");
    // Every message the server echoed was binary, and it saw more than were counted (the
    // warm-up is not counted).
    assert_eq!(server.texts.load(Ordering::Relaxed), 0);
    assert!(server.binaries.load(Ordering::Relaxed) >= v["messages"].as_u64().unwrap_or(0));
    // Each connection ended with a normal close.
    for _ in 0..4 {
        assert_eq!(server.next_close().0, 1000);
    }
}

#[test]
fn text_mode_sends_text_frames() {
    let server = echo_server();
    let (_, v) = bench_json(&format!(
        "{} --duration 0.5 --warmup 0 --conns 2 --text",
        server.url()
    ));
    assert_eq!(v["opcode"], "text");
    assert_eq!(v["errors"], 0, "{v}");
    assert!(v["messages"].as_u64().unwrap_or(0) > 0);
    assert!(server.texts.load(Ordering::Relaxed) > 0);
    assert_eq!(server.binaries.load(Ordering::Relaxed), 0);
}

#[test]
fn pipelined_large_messages_and_rate() {
    let server = echo_server();
    let (_, v) = bench_json(&format!(
        "{} --duration 0.5 --warmup 0 --conns 2 --size 70000 --pipeline 8",
        server.url()
    ));
    assert_eq!(v["errors"], 0, "{v}");
    assert!(v["messages"].as_u64().unwrap_or(0) > 0);

    // --rate 200 over 2 connections for 1 s: about 200 messages, not thousands.
    let (_, v) = bench_json(&format!(
        "{} --duration 1 --warmup 0 --conns 2 --rate 200 --threads 2",
        server.url()
    ));
    let n = v["messages"].as_u64().unwrap_or(0);
    assert!((120..=280).contains(&n), "{n} messages at --rate 200: {v}");
    assert_eq!(v["errors"], 0, "{v}");
}

#[test]
fn human_summary_has_the_numbers() {
    let server = echo_server();
    let run = wsx(
        &[
            "bench",
            &server.url(),
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--conns",
            "1",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    for part in [
        "connections  1/1 up",
        "msg/s",
        "MB/s",
        "p50",
        "p90",
        "p99",
        "max",
        "errors       none",
    ] {
        assert!(
            run.stdout.contains(part),
            "summary lacks {part:?}: {}",
            run.stdout
        );
    }
}

#[test]
fn a_server_that_drops_connections_is_counted_not_fatal() {
    let server = server(Behaviour::DropAfterFirst);
    let (_, v) = bench_json(&format!(
        "{} --duration 0.5 --warmup 0 --conns 3",
        server.url()
    ));
    // Each connection ends in one error. The server drops it right after its first echo,
    // while the client may be sending its next message: the kernel then answers with a reset,
    // which may reach the client before it read the end of the stream (`io`) or after
    // (`server_closed`, the usual case). CI saw one `io` of three under load.
    assert_eq!(v["errors"], 3, "{v}");
    let kind = |name: &str| v["errors_by_kind"][name].as_u64().unwrap_or(0);
    assert_eq!(kind("server_closed") + kind("io"), 3, "{v}");
    let first = v["first_error"].as_str().unwrap_or("");
    assert!(
        first.starts_with("server_closed") || first.starts_with("io"),
        "{v}"
    );
}

#[test]
fn idle_mode_holds_and_reports_ready() {
    let server = echo_server();
    let dir = std::env::temp_dir().join(format!("wsx-cli-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ready = dir.join("ready");
    let (_, v) = bench_json(&format!(
        "{} --idle 50 --hold 0.3 --ready-file {}",
        server.url(),
        ready.to_str().unwrap_or_default()
    ));
    assert_eq!(v["mode"], "idle");
    assert_eq!(v["conns_ok"], 50);
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(std::fs::read_to_string(&ready).expect("ready file"), "50\n");
    for _ in 0..50 {
        assert_eq!(server.next_close().0, 1000);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unusable_arguments_fail_in_one_line() {
    let refused = format!("ws://127.0.0.1:{}/", closed_port());
    for args in [
        vec!["bench", "wss://127.0.0.1:1/"],
        vec!["bench", "http://127.0.0.1:1/"],
        vec!["bench", &refused, "--duration", "1", "--conns", "2"],
        vec!["bench", "ws://127.0.0.1:1/", "--rate=-5"],
        vec!["bench", "ws://127.0.0.1:1/", "--ramp", "0"],
        vec!["bench", "ws://127.0.0.1:1/", "--ramp", "0.00001"],
        vec!["bench", "ws://127.0.0.1:1/", "--warmup", "100000"],
        vec!["bench", "ws://127.0.0.1:1/", "--duration", "0"],
    ] {
        let run = wsx(&args, "", LIMIT);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("wsx: error: "),
            "{args:?}: {}",
            run.stderr
        );
    }
    // clap's own usage errors: status 2.
    for bad in [
        ["--conns", "0"],
        ["--duration", "1e300"],
        ["--duration", "soon"],
        ["--pipeline", "0"],
        ["--size", "99999999999"],
    ] {
        let run = wsx(&["bench", "ws://127.0.0.1:1/", bad[0], bad[1]], "", LIMIT);
        assert_eq!(run.code, Some(2), "{bad:?}: {}", run.stderr);
    }
}

#[test]
fn help_explains_every_flag() {
    let run = wsx(&["bench", "--help"], "", LIMIT);
    assert_eq!(run.code, Some(0));
    for flag in [
        "--conns",
        "--size",
        "--duration",
        "--warmup",
        "--rate",
        "--ramp",
        "--pipeline",
        "--binary",
        "--text",
        "--json",
        "--threads",
        "--raw",
        "--idle",
        "--hold",
        "--ready-file",
        "--server-pid",
    ] {
        assert!(run.stdout.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn raw_mode_expects_its_own_bytes_back() {
    let (addr, _runtime) = common::raw_echo_server();
    let url = format!("ws://{addr}/");
    let (_, v) = bench_json(&format!(
        "{url} --raw --duration 0.5 --warmup 0 --conns 2 --size 3000"
    ));
    assert_eq!(v["mode"], "raw");
    assert_eq!(v["errors"], 0, "{v}");
    assert!(v["messages"].as_u64().unwrap_or(0) > 0, "{v}");
}

#[test]
fn ramp_spaces_the_connections_out() {
    let server = echo_server();
    let (_, v) = bench_json(&format!(
        "{} --conns 5 --ramp 10 --duration 0.2 --warmup 0",
        server.url()
    ));
    // 5 connections at 10 per second: the last one starts 0.4 s after the first.
    let connect = v["connect_s"].as_f64().expect("connect_s");
    assert!(connect >= 0.38, "connect_s {connect}: {v}");
    assert_eq!(v["conns_ok"], 5);
    assert_eq!(v["errors"], 0, "{v}");
}

/// A hand-made server that answers each message (up to 125 bytes) in three fragments with a
/// ping in between (RFC 6455 §5.4: control frames may be injected between fragments); with
/// `short`, the echo lacks its last byte.
fn fragmenting_server(short: bool) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = std::thread::spawn(move || {
        let Ok((mut tcp, _)) = listener.accept() else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && tcp.read_exact(&mut byte).is_ok() {
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let key = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("Sec-WebSocket-Key: ")
                    .or_else(|| l.strip_prefix("sec-websocket-key: "))
            })
            .unwrap_or_default()
            .trim()
            .to_owned();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            wsx::handshake::accept_key(key.as_bytes())
        );
        if tcp.write_all(response.as_bytes()).is_err() {
            return;
        }
        loop {
            let mut h = [0u8; 2];
            if tcp.read_exact(&mut h).is_err() {
                return;
            }
            let len = match h[1] & 0x7F {
                126 => {
                    let mut b = [0u8; 2];
                    let _ = tcp.read_exact(&mut b);
                    usize::from(u16::from_be_bytes(b))
                }
                n => usize::from(n),
            };
            let mut rest = vec![0u8; 4 + len];
            if tcp.read_exact(&mut rest).is_err() {
                return;
            }
            let opcode = h[0] & 0x0F;
            if opcode == 0x8 {
                // Close: answer with a close and end.
                let _ = tcp.write_all(&[0x88, 0x02, 0x03, 0xE8]);
                return;
            }
            let len = len - usize::from(short);
            let third = len / 3;
            let mut out = Vec::new();
            out.extend_from_slice(&[opcode, third as u8]);
            out.extend(std::iter::repeat_n(b'a', third));
            out.extend_from_slice(&[0x89, 0x01, b'p']);
            out.extend_from_slice(&[0x00, third as u8]);
            out.extend(std::iter::repeat_n(b'b', third));
            out.extend_from_slice(&[0x80, (len - 2 * third) as u8]);
            out.extend(std::iter::repeat_n(b'c', len - 2 * third));
            if tcp.write_all(&out).is_err() {
                return;
            }
        }
    });
    (addr, handle)
}

#[test]
fn fragmented_echoes_with_pings_between_are_reassembled() {
    let (addr, server) = fragmenting_server(false);
    let url = format!("ws://{addr}/");
    let (_, v) = bench_json(&format!(
        "{url} --conns 1 --size 100 --duration 0.3 --warmup 0"
    ));
    assert_eq!(v["errors"], 0, "{v}");
    assert!(v["messages"].as_u64().unwrap_or(0) > 0, "{v}");
    server.join().expect("server thread");
}

#[test]
fn wrong_echo_length_is_counted() {
    let (addr, _server) = fragmenting_server(true);
    let url = format!("ws://{addr}/");
    let (_, v) = bench_json(&format!(
        "{url} --conns 1 --size 100 --duration 0.3 --warmup 0"
    ));
    assert_eq!(v["errors"], 1, "{v}");
    assert_eq!(v["errors_by_kind"]["wrong_echo"], 1, "{v}");
    assert_eq!(v["messages"], 0, "{v}");
}

/// `--binary` is the default, so alone it changes nothing; it is there to undo an earlier
/// `--text` (the last of the two wins), and each run reports and sends what it said.
#[test]
fn the_last_of_text_and_binary_wins() {
    for (flags, opcode) in [
        (["--text", "--binary"], "binary"),
        (["--binary", "--text"], "text"),
    ] {
        let server = echo_server();
        let url = server.url();
        let mut args = vec![
            "bench",
            url.as_str(),
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--conns",
            "1",
            "--json",
        ];
        args.extend(flags);
        let run = wsx(&args, "", LIMIT);
        assert_eq!(run.code, Some(0), "{flags:?}: {}", run.stderr);
        let v = json_of(&run.stdout);
        assert_eq!(v["opcode"], opcode, "{flags:?}: {v}");
        let (texts, binaries) = (
            server.texts.load(Ordering::Relaxed),
            server.binaries.load(Ordering::Relaxed),
        );
        if opcode == "text" {
            assert!(
                texts > 0 && binaries == 0,
                "{flags:?}: {texts} / {binaries}"
            );
        } else {
            assert!(
                binaries > 0 && texts == 0,
                "{flags:?}: {texts} / {binaries}"
            );
        }
    }
}

#[test]
fn a_path_that_is_not_a_websocket_endpoint_gets_a_hint() {
    let serve = common::serve::Serve::start(&[]);
    let url = format!("ws://{}/", serve.hostport());
    let run = wsx(
        &[
            "bench",
            &url,
            "--duration",
            "0.2",
            "--warmup",
            "0",
            "-c",
            "1",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{url} is not a WebSocket endpoint: the server answered 200 OK; check the path"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_rate_slower_than_the_run_is_not_stuck() {
    let server = echo_server();
    // 4 connections at 0.5 msg/s: a period of 8 s per connection, the last one's first
    // message due at 6 s, past the end (0.5 s) and the grace period (5 s). Messages due after
    // the end are not sent, and nothing waits for them.
    let (run, v) = bench_json(&format!(
        "{} --conns 4 --rate 0.5 --duration 0.5 --warmup 0",
        server.url()
    ));
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["messages"], 1, "{v}");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);
}
