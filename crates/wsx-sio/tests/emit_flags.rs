//! Node's emit flags (issue 26 §6): `volatile` (dropped for a client for which something
//! sent is not taken yet, or that is not connected), `compress(bool)` (on the wire: `tests/compression.rs`), and `local` on a
//! socket. Raw clients over loopback.

mod common;

use common::{Raw, start};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx_sio::{EmitError, Namespace, Regex, Server, Socket};

/// Whether nothing but heartbeats comes within 200 ms.
async fn quiet(raw: &mut Raw) -> bool {
    tokio::time::timeout(Duration::from_millis(200), raw.text())
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_emits_are_dropped_while_the_queue_is_not_empty() {
    let io = Server::default();
    let kept = Arc::new(Mutex::new(None));
    let keep = kept.clone();
    io.on_connection(move |socket: Socket| {
        *keep.lock().expect("lock") = Some(socket.clone());
        async move {
            socket.on("burst", |s: Socket, ()| async move {
                // The connection writes nothing while its handler runs: after the first, the
                // queue holds a packet, so the other 99 are dropped.
                for i in 0..100 {
                    s.volatile()
                        .emit("v", &i)
                        .expect("a dropped volatile emit is Ok");
                }
                let _ = s.emit("done", &true);
            });
            socket.on("one", |s: Socket, ()| async move {
                let _ = s.volatile().compress(false).emit("v", &"alone");
            });
        }
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"42["burst"]"#).await;
    assert_eq!(raw.text().await, r#"42["v",0]"#);
    assert_eq!(raw.text().await, r#"42["done",true]"#);
    // An idle client takes one at once.
    raw.send(r#"42["one"]"#).await;
    assert_eq!(raw.text().await, r#"42["v","alone"]"#);

    // Not connected: dropped without an error, where a plain emit fails.
    drop(raw);
    let socket = kept.lock().expect("lock").clone().expect("a socket");
    for _ in 0..100 {
        if !socket.connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!socket.connected());
    assert!(socket.volatile().emit("v", &1).is_ok());
    assert!(matches!(socket.emit("v", &1), Err(EmitError::Disconnected)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volatile_broadcast_skips_the_receivers_whose_queue_is_not_empty() {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on("vb", |s: Socket, ()| async move {
            // This client's queue now holds "x": the volatile broadcast passes it by.
            let _ = s.emit("x", &1);
            let sent = s.hub().volatile().emit("v", &2).expect("emit");
            let _ = s.emit("count", &sent);
        });
    });
    let addr = start(&io).await;
    let (mut busy, _) = Raw::connect_root(addr).await;
    let (mut idle, _) = Raw::connect_root(addr).await;
    busy.send(r#"42["vb"]"#).await;
    assert_eq!(busy.text().await, r#"42["x",1]"#);
    assert_eq!(busy.text().await, r#"42["count",1]"#);
    assert_eq!(idle.text().await, r#"42["v",2]"#);
    assert!(
        quiet(&mut busy).await,
        "the busy client got no volatile packet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_is_kept_and_delivers_as_usual() {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on("c", |s: Socket, ()| async move {
            assert!(!s.compress(false).flags().compress);
            assert!(s.compress(true).flags().compress);
            assert!(!s.hub().compress(false).flags().compress);
            assert!(s.hub().to("r").flags().compress, "compress by default");
            let _ = s.compress(false).emit("c", &1);
            let _ = s.hub().compress(false).emit("all", &2);
        });
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"42["c"]"#).await;
    assert_eq!(raw.text().await, r#"42["c",1]"#);
    assert_eq!(raw.text().await, r#"42["all",2]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_local_reaches_this_servers_other_sockets() {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on("loc", |s: Socket, ()| async move {
            let sent = s.local().emit("l", &1).expect("emit");
            let _ = s.emit("sent", &sent);
        });
    });
    let addr = start(&io).await;
    let (mut sender, _) = Raw::connect_root(addr).await;
    let (mut other, _) = Raw::connect_root(addr).await;
    sender.send(r#"42["loc"]"#).await;
    assert_eq!(
        sender.text().await,
        r#"42["sent",1]"#,
        "the sender left out"
    );
    assert_eq!(other.text().await, r#"42["l",1]"#);
}

/// Registers `hold` on `namespace`'s sockets: it queues `held`, says so on the channel, then
/// keeps its connection's task for `millis` (nothing is written meanwhile: the client is busy,
/// and a volatile packet is dropped for it).
fn holding(namespace: &Namespace, millis: u64) -> mpsc::UnboundedReceiver<()> {
    let (held_tx, held) = mpsc::unbounded_channel();
    namespace.on_connection(move |socket: Socket| {
        let held_tx = held_tx.clone();
        async move {
            socket.on("hold", move |s: Socket, ()| {
                let held_tx = held_tx.clone();
                async move {
                    let _ = s.emit("held", &true);
                    let _ = held_tx.send(());
                    tokio::task::block_in_place(|| {
                        std::thread::sleep(Duration::from_millis(millis));
                    });
                }
            });
        }
    });
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dynamic_parent_passes_its_flags_to_every_child() {
    // Node's ParentBroadcastAdapter hands each child the parent's options, flags included.
    let io = Server::default();
    let parent = io.of_matching(Regex::new(r"^/dyn-\d+$").expect("pattern"));
    let mut held = holding(&parent, 1500);
    let addr = start(&io).await;
    let mut busy = Raw::connect(addr).await;
    let mut idle = Raw::connect(addr).await;
    for (raw, nsp) in [(&mut busy, "/dyn-1"), (&mut idle, "/dyn-2")] {
        raw.send(&format!("40{nsp},")).await;
        assert!(raw.text().await.starts_with(&format!("40{nsp},")));
    }
    busy.send(r#"42/dyn-1,["hold"]"#).await;
    held.recv().await.expect("holding");
    parent.volatile().emit("v", &1).expect("emit");
    parent.emit("after", &2).expect("emit");
    assert_eq!(idle.text().await, r#"42/dyn-2,["v",1]"#);
    assert_eq!(idle.text().await, r#"42/dyn-2,["after",2]"#);
    assert_eq!(busy.text().await, r#"42/dyn-1,["held",true]"#);
    assert_eq!(
        busy.text().await,
        r#"42/dyn-1,["after",2]"#,
        "the volatile one was dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_volatile_broadcast_with_acks_skips_a_busy_client_which_then_times_out() {
    // Node's `io.volatile.timeout(ms).emit(.., cb)`: the busy client is counted, gets
    // nothing, and the answers that came are kept when the timeout ends the wait.
    let io = Server::default();
    let root = io.of("/");
    let mut held = holding(&root, 1500);
    let addr = start(&io).await;
    let (mut busy, _) = Raw::connect_root(addr).await;
    let (mut idle, _) = Raw::connect_root(addr).await;
    busy.send(r#"42["hold"]"#).await;
    held.recv().await.expect("holding");
    let asked = root
        .volatile()
        .timeout(Duration::from_millis(700))
        .emit_with_ack("q", &1);
    let question = idle.text().await;
    let id = question
        .strip_prefix("42")
        .and_then(|rest| rest.strip_suffix(r#"["q",1]"#))
        .expect("an event with an ack id");
    idle.send(&format!("43{id}[\"yes\"]")).await;
    let acks = asked.await.expect("acks");
    assert!(acks.timed_out, "the busy client never got it");
    assert_eq!(acks.responses.len(), 1);
    assert_eq!(acks.responses[0].values, vec![serde_json::json!("yes")]);
    assert_eq!(busy.text().await, r#"42["held",true]"#);
    assert!(quiet(&mut busy).await, "no question for the busy client");
}
