//! Connection state recovery with wsx-sio's client: a client whose connection drops (a proxy
//! cuts it) reconnects and is recovered, with the same id, its room, and every packet sent
//! meanwhile delivered once, in order; against Node's socket.io 4.8 with
//! `connectionStateRecovery` on (`tests/client/node_server.js --recovery`) and against
//! sio_demo with recovery on.
//!
//! The Node test skips without `tests/client/node_modules` unless `WSX_REQUIRE_INTEROP=1`.

#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;

#[allow(dead_code)]
mod client_support;

use client_support::proxy::{Mode, Proxy};
use client_support::recording::{drain, payloads, wait_until};
use client_support::{node_server, start_demo};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::timeout;
use wsx_sio::client::{Args, ClientOptions, Manager};

fn options() -> ClientOptions {
    ClientOptions {
        reconnection_delay: Duration::from_millis(100),
        reconnection_delay_max: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

async fn recovers_after_a_dropped_connection(server: SocketAddr) {
    let proxy = Proxy::start(server).await;
    let s = Manager::new(&proxy.url(), options())
        .expect("manager")
        .socket("/");
    let mut got = payloads(&s);
    let (reconnected_tx, mut reconnected) = unbounded_channel();
    s.manager().on_reconnect(move |n| {
        let _ = reconnected_tx.send(n);
    });
    let (disconnected_tx, mut disconnected) = unbounded_channel();
    s.on_disconnect(move |_s, reason| {
        let _ = disconnected_tx.send(reason);
        async {}
    });
    let other = Manager::new(&format!("http://{server}"), options())
        .expect("manager")
        .socket("/");
    s.connect().await.expect("connect");
    other.connect().await.expect("connect other");
    assert!(!s.recovered());
    let first_id = s.id().expect("id");
    let joined: bool = s.emit_with_ack_as("join", &"rec").await.expect("join");
    assert!(joined);
    let recovered = s
        .emit_args_with_ack("recovered", Args::new(), Duration::from_secs(5))
        .await
        .expect("recovered ack");
    assert_eq!(recovered.values, vec![json!(false)]);
    other
        .emit_args("to-room", Args::new().arg("rec").arg("before"))
        .expect("emit");
    assert_eq!(drain(&mut got, "before").await, vec![json!("before")]);

    // The network drops; while it is down, the room and everyone get packets.
    proxy.set(Mode::Refuse);
    let reason = timeout(Duration::from_secs(5), disconnected.recv())
        .await
        .expect("disconnect in time");
    assert!(
        reason.as_ref().is_some_and(|r| r.reconnects()),
        "{reason:?}"
    );
    for i in 1..=20 {
        other
            .emit_args("to-room", Args::new().arg("rec").arg(format!("missed-{i}")))
            .expect("emit");
    }
    other.emit("broadcast", &"missed-broadcast").expect("emit");
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set(Mode::Pass);
    timeout(Duration::from_secs(10), reconnected.recv())
        .await
        .expect("reconnect in time");
    wait_until("connected again", || s.connected()).await;

    assert!(s.recovered(), "not recovered");
    assert_eq!(s.id().as_deref(), Some(first_id.as_str()), "a new id");
    let server_says = s
        .emit_args_with_ack("recovered", Args::new(), Duration::from_secs(5))
        .await
        .expect("recovered ack");
    assert_eq!(server_says.values, vec![json!(true)]);
    let mut want: Vec<Value> = (1..=20).map(|i| json!(format!("missed-{i}"))).collect();
    want.push(json!("missed-broadcast"));
    assert_eq!(
        drain(&mut got, "missed-broadcast").await,
        want,
        "missed packets"
    );
    other
        .emit_args("to-room", Args::new().arg("rec").arg("after"))
        .expect("emit");
    assert_eq!(
        drain(&mut got, "after").await,
        vec![json!("after")],
        "its room is back"
    );
    wait_until("the upgrade", || {
        s.manager().transport() == Some("websocket")
    })
    .await;
    s.disconnect();
    other.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_against_node_socket_io_with_nothing_missed() {
    let Some(node) = node_server(&["--recovery"]) else {
        return;
    };
    let addr: SocketAddr = node
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("node address");
    recovers_after_a_dropped_connection(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_against_wsx_sio_with_nothing_missed() {
    let config = wsx_sio::Config {
        recovery: Some(wsx_sio::Recovery::default()),
        ..sio_demo::config()
    };
    let addr = start_demo(sio_demo::server_with(config)).await;
    recovers_after_a_dropped_connection(addr).await;
}
