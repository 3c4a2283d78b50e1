//! How one client's handlers run (issue 26 §5): each is started in arrival order and runs to
//! its first await, then the next starts, as in Node; a handler awaiting an acknowledgement
//! from its own client does not hold the client's next events; `Config::sequential_handlers`
//! runs them strictly one at a time. Raw clients over loopback.

mod common;

use common::{Raw, start};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wsx_sio::{Config, Server, Socket};

/// The issue's case: `emit_with_ack` awaited in `on_connection` held the socket's `join` ack
/// for 5,032 ms (the default ack timeout) while the client was about to answer the question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_awaited_in_on_connection_does_not_delay_the_next_acks() {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
        socket.on_with_ack("echo-ack", |_s: Socket, v: Value, ack| async move {
            let _ = ack.send(&v);
        });
        // Awaits the client's answer, which the client gives only after its join.
        let answer = socket.emit_with_ack("question", &"name?").await;
        let answer = match answer {
            Ok(args) => args.values.first().cloned().unwrap_or(Value::Null),
            Err(err) => json!(err.to_string()),
        };
        let _ = socket.emit("answered", &answer);
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    assert_eq!(raw.text().await, r#"420["question","name?"]"#);

    let started = Instant::now();
    raw.send(r#"421["join","r"]"#).await;
    assert_eq!(raw.text().await, "431[true]");
    raw.send(r#"422["echo-ack",{"n":2}]"#).await;
    assert_eq!(raw.text().await, r#"432[{"n":2}]"#);
    let stall = started.elapsed();
    assert!(stall < Duration::from_millis(1000), "acks held {stall:?}");

    // The awaiting handler goes on once its answer comes.
    raw.send(r#"430["wsx"]"#).await;
    assert_eq!(raw.text().await, r#"42["answered","wsx"]"#);
}

/// Emits made before a handler's first await keep the order of the events, and the events
/// start in arrival order, however long each handler then awaits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emits_before_an_await_keep_the_order_of_the_events() {
    let io = Server::default();
    let started = Arc::new(Mutex::new(Vec::new()));
    let seen = started.clone();
    io.on_connection(move |socket: Socket| {
        let seen = seen.clone();
        async move {
            socket.on("n", move |s: Socket, n: u64| {
                let seen = seen.clone();
                async move {
                    seen.lock().expect("lock").push(n);
                    let _ = s.emit("before", &n);
                    // Uneven waits: later events end first.
                    tokio::time::sleep(Duration::from_millis(40 - n % 40)).await;
                    let _ = s.emit("after", &n);
                }
            });
        }
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    const N: u64 = 60;
    for n in 0..N {
        raw.send(&format!(r#"42["n",{n}]"#)).await;
    }
    let mut before = Vec::new();
    let mut after = Vec::new();
    while before.len() + after.len() < 2 * N as usize {
        let text = raw.text().await;
        let args: Value =
            serde_json::from_str(text.strip_prefix("42").expect("event")).expect("json");
        let n = args[1].as_u64().expect("n");
        match args[0].as_str() {
            Some("before") => before.push(n),
            Some("after") => after.push(n),
            other => panic!("unexpected {other:?}"),
        }
    }
    let in_order: Vec<u64> = (0..N).collect();
    assert_eq!(before, in_order, "emits before the first await");
    assert_eq!(*started.lock().expect("lock"), in_order, "start order");
    // The handlers ran together: the "after" emits come in the order of their waits, not of
    // the events (one at a time, the first "after" would be event 0's).
    assert_ne!(after, in_order, "handlers did not overlap");
    after.sort_unstable();
    assert_eq!(after, in_order);
}

/// A handler started at once runs until its first await: what it does before (joining a
/// room, registering a handler) is done when the next event starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_runs_to_its_first_await_before_the_next_starts() {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on("register", |s: Socket, ()| async move {
            s.on_with_ack("late", |_s: Socket, (), ack| async move {
                let _ = ack.send(&"late handler");
            });
            // Never ends (until the connection does).
            std::future::pending::<()>().await;
        });
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"42["register"]"#).await;
    raw.send(r#"421["late"]"#).await;
    assert_eq!(raw.text().await, r#"431["late handler"]"#);
}

/// A CONNECT whose middleware awaits holds the events sent right behind it (without waiting
/// for the answer): they run once the socket exists, on its handlers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_behind_a_slow_connect_wait_for_the_socket() {
    let io = Server::default();
    io.use_middleware(|_socket: Socket| async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok(())
    });
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("echo-ack", |_s: Socket, v: Value, ack| async move {
            let _ = ack.send(&v);
        });
    });
    let addr = start(&io).await;
    let mut raw = Raw::connect(addr).await;
    raw.send("40").await;
    raw.send(r#"421["echo-ack","right behind"]"#).await;
    assert!(raw.text().await.starts_with("40{"), "CONNECT answer first");
    assert_eq!(raw.text().await, r#"431["right behind"]"#);
}

/// The events `slow` (acked after 300 ms) and `fast` (acked at once), sent in that order;
/// returns the acks' ids in the order they came.
async fn slow_then_fast(config: Config) -> Vec<String> {
    let io = Server::new(config);
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("slow", |_s: Socket, (), ack| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = ack.send(&"slow");
        });
        socket.on_with_ack("fast", |_s: Socket, (), ack| async move {
            let _ = ack.send(&"fast");
        });
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"421["slow"]"#).await;
    raw.send(r#"422["fast"]"#).await;
    vec![raw.text().await, raw.text().await]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_handlers_run_one_at_a_time() {
    assert_eq!(
        slow_then_fast(Config::default()).await,
        [r#"432["fast"]"#, r#"431["slow"]"#],
        "by default the fast one does not wait"
    );
    assert_eq!(
        slow_then_fast(Config::default().sequential_handlers(true)).await,
        [r#"431["slow"]"#, r#"432["fast"]"#],
        "one at a time"
    );
}

/// A panic in a handler while others await closes that connection only (1011), and the
/// others' clients go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_among_awaiting_handlers_costs_its_connection_only() {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on("wait", |_s: Socket, ()| async move {
            std::future::pending::<()>().await;
        });
        socket.on("boom", |_s: Socket, ()| async move {
            tokio::task::yield_now().await;
            panic!("boom");
        });
        socket.on_with_ack("echo-ack", |_s: Socket, v: Value, ack| async move {
            let _ = ack.send(&v);
        });
    });
    let addr = start(&io).await;
    let (mut other, _) = Raw::connect_root(addr).await;
    other.send(r#"42["wait"]"#).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"42["wait"]"#).await;
    raw.send(r#"42["boom"]"#).await;
    let (code, _) = raw.closed().await.expect("a close frame");
    assert_eq!(code, 1011);
    other.send(r#"421["echo-ack",1]"#).await;
    assert_eq!(other.text().await, "431[1]");
}
