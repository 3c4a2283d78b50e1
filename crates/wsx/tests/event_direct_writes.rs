//! A handler's replies to its own connection skip the outbound queue (they are encoded into the
//! write buffer while the handler runs, `event/conn/window.rs`). What the queue guaranteed must
//! still hold: order across the direct path and the queue (a large payload, a ping, a close), the
//! queue's byte bound, nothing lost past the write buffer's room, and writes to another
//! connection from inside a handler reaching it. Checked with a raw client that sees every
//! frame as sent.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{masked_frame, next, raw_client, read_frame, serve, within};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use wsx::{Config, Conn, Error, MessageType, Server};

/// Sends one masked text frame.
async fn send_text(raw: &mut tokio::net::TcpStream, text: &str) {
    raw.write_all(&masked_frame(true, 0, 0x1, text.as_bytes()))
        .await
        .unwrap();
}

/// The next frame's opcode and payload.
async fn frame(raw: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> (u8, Vec<u8>) {
    let f = read_frame(raw, buf).await.expect("the server closed early");
    (f.opcode, f.payload)
}

#[tokio::test]
async fn replies_keep_their_order_across_the_direct_path_and_the_queue() {
    within(async {
        let big = vec![0xabu8; 8 * 1024];
        let server = Server::new(Config::default());
        let payload = big.clone();
        server.on_connection(move |conn: Conn| {
            let big = payload.clone();
            conn.on_message(move |c, _, data| {
                // Small (direct), large (queued: not copied), small (queued behind it), a
                // ping (queued), small again: the peer must see exactly this order.
                let n = String::from_utf8_lossy(&data).into_owned();
                c.write_text(format!("a{n}")).unwrap();
                c.write_binary(big.clone()).unwrap();
                c.write_text(format!("b{n}")).unwrap();
                c.ping(n.clone().into_bytes()).unwrap();
                c.write_text(format!("c{n}")).unwrap();
                if n == "last" {
                    c.close(1000, "done").unwrap();
                    assert!(matches!(c.write_text("late"), Err(Error::ConnectionClosed)));
                }
            });
        });
        let running = serve(server).await;
        let mut raw = raw_client(running.addr).await;
        let mut buf = Vec::new();
        for n in ["1", "2", "last"] {
            send_text(&mut raw, n).await;
            let want = [
                (0x1, format!("a{n}").into_bytes()),
                (0x2, big.clone()),
                (0x1, format!("b{n}").into_bytes()),
                (0x9, n.as_bytes().to_vec()),
                (0x1, format!("c{n}").into_bytes()),
            ];
            for (i, (opcode, payload)) in want.into_iter().enumerate() {
                let (got_op, got) = frame(&mut raw, &mut buf).await;
                assert_eq!(
                    (got_op, got.len()),
                    (opcode, payload.len()),
                    "frame {i} for {n}"
                );
                assert_eq!(got, payload, "frame {i} for {n}");
            }
        }
        let (opcode, payload) = frame(&mut raw, &mut buf).await;
        assert_eq!(opcode, 0x8, "the close frame comes last");
        assert_eq!(&payload[..2], &1000u16.to_be_bytes());
    })
    .await;
}

#[tokio::test]
async fn a_handler_writing_past_the_write_buffer_room_loses_nothing() {
    const REPLIES: usize = 2_000;
    within(async {
        let server = Server::new(Config {
            // Room for a few replies only: the rest of each burst goes through the queue.
            write_buffer_size: 4 * 1024,
            max_pending_bytes: 4 * 1024 * 1024,
            ..Config::default()
        });
        server.on_connection(|conn: Conn| {
            conn.on_message(|c, _, _| {
                for i in 0..REPLIES {
                    c.write_text(format!("{i:0>1000}")).unwrap();
                }
            });
        });
        let running = serve(server).await;
        let mut raw = raw_client(running.addr).await;
        let mut buf = Vec::new();
        for _ in 0..2 {
            send_text(&mut raw, "go").await;
            for i in 0..REPLIES {
                let (opcode, payload) = frame(&mut raw, &mut buf).await;
                assert_eq!(opcode, 0x1);
                assert_eq!(payload, format!("{i:0>1000}").into_bytes(), "reply {i}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_queue_bound_counts_a_handlers_replies() {
    within(async {
        let server = Server::new(Config {
            max_pending_bytes: 16,
            ..Config::default()
        });
        let (tx, mut seen) = mpsc::unbounded_channel();
        server.on_connection(move |conn: Conn| {
            let tx = tx.clone();
            conn.on_message(move |c, _, _| {
                // An empty queue takes any one message; the second finds 64 bytes held.
                let first = c.write_binary(vec![1u8; 64]);
                let held = c.queued_bytes();
                let second = c.write_binary(vec![2u8; 64]);
                let _ = tx.send((first.is_ok(), held, format!("{second:?}")));
            });
        });
        let running = serve(server).await;
        let mut raw = raw_client(running.addr).await;
        let mut buf = Vec::new();
        send_text(&mut raw, "go").await;
        let (first, held, second) = next(&mut seen, "the handler's writes").await;
        assert!(first, "the first reply was refused");
        assert_eq!(held, 64, "queued_bytes() inside the handler");
        assert!(second.contains("QueueFull"), "the second reply: {second}");
        let (opcode, payload) = frame(&mut raw, &mut buf).await;
        assert_eq!((opcode, payload), (0x2, vec![1u8; 64]));
        // Once the handler returned, the room is back.
        send_text(&mut raw, "again").await;
        let (first, held, _) = next(&mut seen, "the handler's writes").await;
        assert!(first);
        assert_eq!(held, 64);
    })
    .await;
}

#[tokio::test]
async fn a_handler_writing_to_another_connection_reaches_it() {
    within(async {
        let server = Server::new(Config::default());
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let registry = conns.clone();
        server.on_connection(move |conn: Conn| {
            registry.lock().unwrap().push(conn.clone());
            let others = registry.clone();
            conn.on_message(move |me, kind, data| {
                // Relay to every other connection, and confirm to the sender.
                for other in others.lock().unwrap().iter().filter(|c| *c != me) {
                    other.write_message(kind, data.clone()).unwrap();
                }
                me.write_message(MessageType::Text, "sent").unwrap();
            });
        });
        let running = serve(server).await;
        let mut a = raw_client(running.addr).await;
        let mut b = raw_client(running.addr).await;
        while conns.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
        let (mut buf_a, mut buf_b) = (Vec::new(), Vec::new());
        for i in 0..50 {
            let text = format!("hello {i}");
            send_text(&mut a, &text).await;
            assert_eq!(frame(&mut a, &mut buf_a).await, (0x1, b"sent".to_vec()));
            assert_eq!(frame(&mut b, &mut buf_b).await, (0x1, text.into_bytes()));
        }
    })
    .await;
}
