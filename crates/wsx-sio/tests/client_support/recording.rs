//! What the recovery tests record of a client: the payloads of its `room-msg` and
//! `broadcast` events in arrival order, and waits with a deadline.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::timeout;
use wsx_sio::client::{Args, Socket};

/// Waits (at most 10 s) until `done`; fails naming `what` past that.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first argument of every `room-msg` and `broadcast` the client gets, in order.
pub fn payloads(socket: &Socket) -> UnboundedReceiver<Value> {
    let (tx, rx) = unbounded_channel();
    for event in ["room-msg", "broadcast"] {
        let tx = tx.clone();
        socket.on(event, move |_s, args: Args| {
            let _ = tx.send(args.values.into_iter().next().unwrap_or_default());
            async {}
        });
    }
    rx
}

/// What `rx` gets up to and including the payload `until` (each within 5 s of the previous).
pub async fn drain(rx: &mut UnboundedReceiver<Value>, until: &str) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(Some(value)) = timeout(Duration::from_secs(5), rx.recv()).await {
        let last = value == json!(until);
        got.push(value);
        if last {
            return got;
        }
    }
    panic!("{until:?} never came; got {got:?}");
}
