//! Broadcasts that collect acknowledgements (`hub.to(room).timeout(d).emit_with_ack(..)`) on
//! one node, against raw clients: every answer in time is kept, the result comes as soon as
//! the last one is in, a silent socket makes it time out with the others' answers, an empty
//! selection answers at once, binary answers keep their attachments, and `Socket::broadcast`
//! leaves the sender out.

mod common;

use common::{Raw, start};
use std::time::{Duration, Instant};
use wsx_sio::{Args, BroadcastAcks, Server, Socket};

/// A server whose sockets join a room with `join(room)` (ack `true`) and whose `ask(room)`
/// asks the others in the room (`socket.broadcast()`) and emits the result back as `asked`.
fn server() -> Server {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
        socket.on("ask", |s: Socket, room: String| async move {
            tokio::spawn(async move {
                let acks = s
                    .broadcast()
                    .to(room)
                    .timeout(Duration::from_secs(2))
                    .emit_with_ack("q", &"from a peer")
                    .await
                    .expect("in memory");
                let answers: Vec<_> = acks.responses.iter().map(|a| a.values.clone()).collect();
                let _ = s.emit("asked", &(acks.timed_out, answers));
            });
        });
    });
    io
}

async fn member(addr: std::net::SocketAddr, room: &str) -> Raw {
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(&format!(r#"421["join","{room}"]"#)).await;
    assert_eq!(raw.text().await, "431[true]");
    raw
}

/// Reads an event packet that asks for an ack (`42<id>[..]`): its id and its arguments.
async fn question(raw: &mut Raw) -> (u64, String) {
    let text = raw.text().await;
    let rest = text
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("event expected: {text}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert!(!digits.is_empty(), "no ack id: {text}");
    (
        digits.parse().expect("ack id"),
        rest[digits.len()..].to_owned(),
    )
}

fn spawn_ask(
    io: &Server,
    room: &str,
    timeout: Duration,
) -> tokio::task::JoinHandle<(BroadcastAcks, Duration)> {
    let operator = io.of("/").to(room.to_owned()).timeout(timeout);
    tokio::spawn(async move {
        let started = Instant::now();
        let acks = operator
            .emit_with_ack("q", &"question?")
            .await
            .expect("in memory");
        (acks, started.elapsed())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_collected_as_soon_as_the_last_arrives() {
    let io = server();
    let addr = start(&io).await;
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(member(addr, "r").await);
    }
    let outsider = member(addr, "elsewhere").await;

    let asking = spawn_ask(&io, "r", Duration::from_secs(10));
    for (n, raw) in members.iter_mut().enumerate() {
        let (id, args) = question(raw).await;
        assert_eq!(args, r#"["q","question?"]"#);
        raw.send(&format!(r#"43{id}["answer {n}",{n}]"#)).await;
    }
    let (acks, elapsed) = asking.await.expect("join");
    assert!(!acks.timed_out);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let mut got: Vec<_> = acks.responses.iter().map(|a| a.values.clone()).collect();
    got.sort_by_key(|values| values[1].as_u64());
    assert_eq!(
        got,
        (0..3u64)
            .map(|n| vec![format!("answer {n}").into(), n.into()])
            .collect::<Vec<Vec<serde_json::Value>>>()
    );
    drop(outsider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_makes_it_time_out_with_the_answers_that_came() {
    let io = server();
    let addr = start(&io).await;
    let mut talker = member(addr, "r").await;
    let mut silent = member(addr, "r").await;

    let timeout = Duration::from_millis(400);
    let asking = spawn_ask(&io, "r", timeout);
    let (id, _) = question(&mut talker).await;
    talker.send(&format!(r#"43{id}["here"]"#)).await;
    let (late_id, _) = question(&mut silent).await;
    let (acks, elapsed) = asking.await.expect("join");
    assert!(acks.timed_out);
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert_eq!(acks.responses, vec![Args::new().arg("here")]);

    // A late answer changes nothing and breaks nothing: the connection goes on.
    silent.send(&format!(r#"43{late_id}["late"]"#)).await;
    silent.send(r#"422["join","r2"]"#).await;
    assert_eq!(silent.text().await, "432[true]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_room_answers_at_once() {
    let io = server();
    let _addr = start(&io).await;
    let (acks, elapsed) = spawn_ask(&io, "nobody", Duration::from_secs(10))
        .await
        .expect("join");
    assert_eq!(acks, BroadcastAcks::default());
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_answers_keep_their_attachments() {
    let io = server();
    let addr = start(&io).await;
    let mut raw = member(addr, "bin").await;
    let asking = spawn_ask(&io, "bin", Duration::from_secs(10));
    let (id, _) = question(&mut raw).await;
    raw.send(&format!(r#"461-{id}[{{"_placeholder":true,"num":0}}]"#))
        .await;
    raw.send_binary(&[1, 2, 3]).await;
    let (acks, _) = asking.await.expect("join");
    assert!(!acks.timed_out);
    assert_eq!(acks.responses.len(), 1);
    let answer = &acks.responses[0];
    assert_eq!(
        answer.binary(&answer.values[0]).map(|b| b.to_vec()),
        Some(vec![1, 2, 3])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sockets_broadcast_asks_the_others_only() {
    let io = server();
    let addr = start(&io).await;
    let mut asker = member(addr, "team").await;
    let mut peer = member(addr, "team").await;
    asker.send(r#"42["ask","team"]"#).await;
    let (id, args) = question(&mut peer).await;
    assert_eq!(args, r#"["q","from a peer"]"#);
    peer.send(&format!(r#"43{id}["peer says hi"]"#)).await;
    // The asker got no question: its next packet is the result.
    assert_eq!(
        asker.text().await,
        r#"42["asked",[false,[["peer says hi"]]]]"#
    );
}
