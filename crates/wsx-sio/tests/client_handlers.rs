//! How the client runs handlers, against sio_demo: in arrival order, each to its first
//! `.await` before the next event (so one that waits does not hold the next), `on_any` before
//! the event's own handler, a panic contained to its handler (in its closure's synchronous
//! part too) or manager callback, and a server's ack request answered with binary (a BINARY_ACK).

#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;

#[allow(dead_code)]
mod client_support;

use client_support::start_demo;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::timeout;
use wsx_sio::client::{Args, ClientOptions, Manager, Socket};

async fn socket() -> Socket {
    let addr = start_demo(sio_demo::server()).await;
    let options = ClientOptions {
        reconnection: false,
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    Manager::new(&format!("http://{addr}"), options)
        .expect("manager")
        .socket("/")
}

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, line: impl Into<String>) {
    log.lock().expect("log").push(line.into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_waits_does_not_hold_the_next_event_and_on_any_comes_first() {
    let s = socket().await;
    let log: Log = Arc::default();
    let (done_tx, mut done) = unbounded_channel();
    let l = log.clone();
    s.on_any(move |_s, event, args: Args| {
        if event == "echo" {
            push(&l, format!("any {event} {}", args.values[0]));
        }
        async {}
    });
    let l = log.clone();
    s.on("echo", move |_s, word: String| {
        let (l, done_tx) = (l.clone(), done_tx.clone());
        // Runs to its first await at once, in arrival order.
        push(&l, format!("start {word}"));
        async move {
            if word == "slow" {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            push(&l, format!("end {word}"));
            let _ = done_tx.send(word);
        }
    });
    s.connect().await.expect("connect");
    s.emit("echo", &"slow").expect("emit");
    s.emit("echo", &"fast").expect("emit");
    for _ in 0..2 {
        timeout(Duration::from_secs(5), done.recv())
            .await
            .expect("both handlers end");
    }
    let log = log.lock().expect("log").clone();
    assert_eq!(
        log,
        [
            "any echo \"slow\"",
            "start slow",
            "any echo \"fast\"",
            "start fast",
            "end fast",
            "end slow"
        ],
    );
    s.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_costs_only_its_own_call() {
    let s = socket().await;
    let (tx, mut rx) = unbounded_channel();
    s.on("echo", move |_s, word: String| {
        assert_ne!(word, "boom", "a handler's own panic, before its future");
        let tx = tx.clone();
        async move {
            tokio::task::yield_now().await;
            assert_ne!(word, "boom later", "a handler's own panic, in its future");
            let _ = tx.send(word);
        }
    });
    s.connect().await.expect("connect");
    s.emit("echo", &"boom").expect("emit");
    s.emit("echo", &"boom later").expect("emit");
    s.emit("echo", &"after").expect("emit");
    let got = timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time");
    assert_eq!(got.as_deref(), Some("after"));
    assert!(s.connected());
    let back: String = s
        .emit_with_ack_as("echo-ack", &"still here")
        .await
        .expect("ack");
    assert_eq!(back, "still here");
    // A manager callback's panic: the ping is still answered, the connection stays up.
    let manager = s.manager();
    manager.on_ping(|| panic!("a manager callback's own panic"));
    let (pinged_tx, mut pinged) = unbounded_channel();
    manager.on_ping(move || {
        let _ = pinged_tx.send(());
    });
    for _ in 0..2 {
        timeout(Duration::from_secs(5), pinged.recv())
            .await
            .expect("pings go on");
    }
    assert!(s.connected());
    s.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ack_request_is_answered_with_binary() {
    let s = socket().await;
    s.on_with_ack("server-ask", |_s, n: i64, ack| async move {
        assert!(ack.requested());
        let mut answer = Args::new().arg(n + 1);
        let bin = answer.attach(vec![0u8, 255]);
        answer = answer.arg(json!({"deep": [bin]}));
        let _ = ack.send_args(answer);
    });
    let (tx, mut rx) = unbounded_channel();
    s.on("server-ask-ok", move |_s, args: Args| {
        let _ = tx.send(args);
        async {}
    });
    s.connect().await.expect("connect");
    let got = timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("server-ask-ok");
    assert_eq!(got.values[0], json!(43));
    let deep = &got.values[1]["deep"][0];
    assert_eq!(got.binary(deep).map(|b| b.to_vec()), Some(vec![0u8, 255]));
    s.disconnect();
}
