//! Event handlers against a raw client: arguments that do not fit a typed handler.

mod common;

use common::{Raw, start};
use serde_json::Value;
use wsx_sio::{Server, Socket};

/// The one argument of an ACK packet `43<id>[..]`.
fn ack_argument(packet: &str, id: u64) -> Value {
    let json = packet
        .strip_prefix(&format!("43{id}"))
        .unwrap_or_else(|| panic!("ACK {id} expected, got {packet}"));
    let mut args: Vec<Value> = serde_json::from_str(json).expect("ACK arguments");
    assert_eq!(args.len(), 1, "{packet}");
    args.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_that_do_not_fit_answer_the_ack_with_an_error() {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("add", |_s: Socket, (a, b): (u32, u32), ack| async move {
            let _ = ack.send(&(a + b));
        });
        socket.on("byte", |s: Socket, n: u8| async move {
            let _ = s.emit("byte", &n);
        });
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;

    raw.send(r#"421["add",1,2]"#).await;
    assert_eq!(ack_argument(&raw.text().await, 1), Value::from(3));

    // A handler with an ack: the client is answered at once with the reason.
    raw.send(r#"422["add","one",2]"#).await;
    let error = ack_argument(&raw.text().await, 2);
    let why = error["error"].as_str().expect("an error string");
    assert!(
        why.contains(r#""add""#) && why.contains("invalid type"),
        "{why}"
    );

    // A handler without an ack parameter: a client that asked for one is answered too.
    raw.send(r#"423["byte",300]"#).await;
    let error = ack_argument(&raw.text().await, 3);
    assert!(error["error"].as_str().is_some(), "{error}");

    // Without an ack request nothing is sent back, and the connection goes on in order.
    raw.send(r#"42["byte","x"]"#).await;
    raw.send(r#"42["byte",7]"#).await;
    assert_eq!(raw.text().await, r#"42["byte",7]"#);
}
