//! Catch-all listeners (issue 26 §6): `on_any`, `prepend_any`, `off_any` on incoming events;
//! `on_any_outgoing` and its `prepend`/`off` forms on outgoing ones. Raw clients over
//! loopback.

mod common;

use common::{Raw, start};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use wsx_sio::{Args, Server, Socket};

type Log = Arc<Mutex<Vec<String>>>;

fn log_of(log: &Log) -> Vec<String> {
    log.lock().expect("lock").clone()
}

/// The log's entries, as the ack of `429["log"]`.
async fn read_log(raw: &mut Raw) -> Value {
    raw.send(r#"429["log"]"#).await;
    let text = raw.text().await;
    let json = text.strip_prefix("439").expect("the log's ack");
    serde_json::from_str::<Value>(json).expect("json")[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepend_any_runs_first_and_off_any_removes() {
    let io = Server::default();
    let log: Log = Log::default();
    let server_log = log.clone();
    io.on_connection(move |socket: Socket| {
        let log = server_log.clone();
        async move {
            let record = |tag: &'static str, log: Log| {
                move |_s: Socket, event: String, _args: Args| {
                    let log = log.clone();
                    async move { log.lock().expect("lock").push(format!("{tag}:{event}")) }
                }
            };
            socket.on_any(record("a", log.clone()));
            let b = socket.prepend_any(record("b", log.clone()));
            socket.on_with_ack("off-b", move |s: Socket, (), ack| async move {
                let _ = ack.send(&[s.off_any(b), s.off_any(b)]);
            });
            socket.on("off-all", |s: Socket, ()| async move { s.off_any_all() });
            let log = log.clone();
            socket.on_with_ack("log", move |_s: Socket, (), ack| {
                let log = log.clone();
                async move {
                    let _ = ack.send(&log_of(&log));
                }
            });
        }
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"42["e1"]"#).await;
    raw.send(r#"421["off-b"]"#).await;
    assert_eq!(raw.text().await, "431[[true,false]]", "removed once");
    raw.send(r#"42["e2"]"#).await;
    raw.send(r#"42["off-all"]"#).await;
    raw.send(r#"42["e3"]"#).await;
    assert_eq!(
        read_log(&mut raw).await,
        json!(["b:e1", "a:e1", "b:off-b", "a:off-b", "a:e2", "a:off-all"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_listeners_see_emits_and_broadcasts_not_acks() {
    let io = Server::default();
    let log: Log = Log::default();
    let server_log = log.clone();
    io.on_connection(move |socket: Socket| {
        let log = server_log.clone();
        async move {
            let first = log.clone();
            socket.on_any_outgoing(move |s: &Socket, event: &str, args: &Args| {
                assert!(s.connected());
                let arg = args.values.first().cloned().unwrap_or(Value::Null);
                first.lock().expect("lock").push(format!("{event}:{arg}"));
            });
            let second = log.clone();
            let prepended =
                socket.prepend_any_outgoing(move |_s: &Socket, event: &str, _a: &Args| {
                    second.lock().expect("lock").push(format!("first {event}"));
                });
            socket.on("emit", |s: Socket, ()| async move {
                let _ = s.emit("direct", &1);
            });
            socket.on("bcast", |s: Socket, ()| async move {
                let _ = s.hub().emit("all", &2);
            });
            socket.on("ask", |s: Socket, ()| async move {
                let _ = s.emit_with_ack("q", &3).await;
            });
            socket.on_with_ack("acked", |_s: Socket, (), ack| async move {
                let _ = ack.send(&"not an outgoing event");
            });
            socket.on("volatile", |s: Socket, ()| async move {
                let _ = s.volatile().emit("vol", &5);
            });
            socket.on("off-first", move |s: Socket, ()| async move {
                assert!(s.off_any_outgoing(prepended));
                let _ = s.emit("one", &6);
            });
            socket.on("off", |s: Socket, ()| async move {
                s.off_any_outgoing_all();
                let _ = s.emit("after", &7);
            });
            let log = log.clone();
            socket.on_with_ack("log", move |_s: Socket, (), ack| {
                let log = log.clone();
                async move {
                    let _ = ack.send(&log_of(&log));
                }
            });
        }
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"42["emit"]"#).await;
    assert_eq!(raw.text().await, r#"42["direct",1]"#);
    raw.send(r#"42["bcast"]"#).await;
    assert_eq!(raw.text().await, r#"42["all",2]"#);
    raw.send(r#"42["ask"]"#).await;
    assert_eq!(raw.text().await, r#"420["q",3]"#);
    raw.send("430[]").await;
    raw.send(r#"421["acked"]"#).await;
    assert_eq!(raw.text().await, r#"431["not an outgoing event"]"#);
    raw.send(r#"42["volatile"]"#).await;
    assert_eq!(raw.text().await, r#"42["vol",5]"#);
    raw.send(r#"42["off-first"]"#).await;
    assert_eq!(raw.text().await, r#"42["one",6]"#);
    raw.send(r#"42["off"]"#).await;
    assert_eq!(raw.text().await, r#"42["after",7]"#);
    assert_eq!(
        read_log(&mut raw).await,
        json!([
            "first direct",
            "direct:1",
            "first all",
            "all:2",
            "first q",
            "q:3",
            "first vol",
            "vol:5",
            "one:6"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_removes_an_event_s_handler_and_send_emits_message() {
    // Node's `socket.off(event)` and `socket.send(...args)` / `io.send(...args)`.
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on("ping", |s: Socket, n: i64| async move {
            let _ = s.send(Args::new().arg(n).arg("pong"));
        });
        socket.on("off", |s: Socket, ()| async move {
            let removed = [s.off("ping"), s.off("ping")];
            let _ = s.emit("removed", &removed);
            let _ = s.hub().send(Args::new().arg("to all"));
        });
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"42["ping",1]"#).await;
    assert_eq!(raw.text().await, r#"42["message",1,"pong"]"#);
    raw.send(r#"42["off"]"#).await;
    assert_eq!(raw.text().await, r#"42["removed",[true,false]]"#);
    assert_eq!(raw.text().await, r#"42["message","to all"]"#);
    // No handler any more: nothing answers.
    raw.send(r#"42["ping",2]"#).await;
    raw.send(r#"42["off"]"#).await;
    assert_eq!(raw.text().await, r#"42["removed",[false,false]]"#);
}
