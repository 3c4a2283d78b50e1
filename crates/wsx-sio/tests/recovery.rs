//! Connection state recovery over the wire, with a raw client: the CONNECT answer's `pid`,
//! offsets on events, and a client that lost its connection coming back with `pid` and its
//! last offset: same socket id, same rooms, every missed packet in order, and
//! `Socket::recovered()`; past the window, a new session. (The official JavaScript client does
//! the same in tests/interop.rs.)

mod common;

use common::Raw;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wsx_sio::{Config, Recovery, Server, Socket};

/// The (socket id, recovered) of every connection, in order.
type Seen = Arc<Mutex<Vec<(String, bool)>>>;

fn server(window: Duration) -> (Server, Seen) {
    let config = Config {
        recovery: Some(Recovery::in_memory(window)),
        ..Config::default()
    };
    let io = Server::new(config);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    io.on_connection(move |socket: Socket| {
        record
            .lock()
            .expect("lock")
            .push((socket.id().to_string(), socket.recovered()));
        async move {
            socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
                s.join(room);
                let _ = ack.send(&true);
            });
        }
    });
    (io, seen)
}

/// CONNECT answer JSON.
fn answer(text: &str) -> Value {
    serde_json::from_str(text.strip_prefix("40").expect("CONNECT answer")).expect("JSON")
}

/// An event `42["m",n,offset]`: (n, offset).
fn event(text: &str) -> (u64, String) {
    let value: Value = serde_json::from_str(text.strip_prefix("42").expect("event")).expect("JSON");
    assert_eq!(value[0], "m", "{text}");
    let n = value[1].as_u64().expect("n");
    let offset = value[2].as_str().expect("the offset is the last argument");
    (n, offset.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_client_gets_its_id_rooms_and_missed_packets_back() {
    let (io, seen) = server(Duration::from_secs(120));
    let addr = common::start(&io).await;
    let mut client = Raw::connect(addr).await;
    client.send("40").await;
    let first = answer(&client.text().await);
    let (sid, pid) = (first["sid"].clone(), first["pid"].clone());
    assert!(pid.is_string(), "{first}");
    client.send(r#"420["join","r"]"#).await;
    assert_eq!(client.text().await, "430[true]");
    io.of("/").to("r").emit("m", &1).expect("emit");
    let (n, offset) = event(&client.text().await);
    assert_eq!(n, 1);

    // The connection drops (no close handshake): the socket is kept.
    drop(client);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (room, n) in [("r", 2), ("elsewhere", 3), ("r", 4)] {
        io.of("/").to(room).emit("m", &n).expect("emit");
    }
    io.of("/").emit("m", &5).expect("emit");

    let mut back = Raw::connect(addr).await;
    back.send(&format!(r#"40{{"pid":{pid},"offset":"{offset}"}}"#))
        .await;
    let again = answer(&back.text().await);
    assert_eq!((&again["sid"], &again["pid"]), (&sid, &pid));
    let missed: Vec<u64> = [back.text().await, back.text().await, back.text().await]
        .iter()
        .map(|t| event(t).0)
        .collect();
    assert_eq!(
        missed,
        [2, 4, 5],
        "missed packets, in order, for its rooms only"
    );
    // Its rooms are back.
    io.of("/").to("r").emit("m", &6).expect("emit");
    assert_eq!(event(&back.text().await).0, 6);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1], (sid.as_str().expect("sid").to_owned(), true));
    assert!(!seen[0].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_window_or_with_a_stale_offset_it_is_a_new_session() {
    let (io, seen) = server(Duration::from_millis(100));
    let addr = common::start(&io).await;
    let mut client = Raw::connect(addr).await;
    client.send("40").await;
    let first = answer(&client.text().await);
    io.of("/").emit("m", &1).expect("emit");
    let (_, offset) = event(&client.text().await);
    drop(client);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut back = Raw::connect(addr).await;
    back.send(&format!(
        r#"40{{"pid":{},"offset":"{offset}"}}"#,
        first["pid"]
    ))
    .await;
    let again = answer(&back.text().await);
    assert_ne!(again["sid"], first["sid"]);
    assert_ne!(again["pid"], first["pid"]);
    // A made-up pid is a new session too.
    let mut other = Raw::connect(addr).await;
    other
        .send(r#"40{"pid":"AAAAAAAAAAAAAAAAAAAA","offset":"x"}"#)
        .await;
    assert!(answer(&other.text().await)["sid"].is_string());
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .all(|(_, recovered)| !recovered)
    );
}
