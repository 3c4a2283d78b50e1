//! A handler's replies to its own connection are encoded into the connection's write buffer
//! through a pointer the handler's window holds (`event/conn/window.rs`, one of the crate's few
//! `unsafe` blocks). These tests run the event API over an in-memory pipe, with no socket and no
//! I/O driver, so that `scripts/miri.sh` can run them under Miri too: the ways a handler's
//! writes set, use and clear that pointer (replies within the buffer's room, a burst past it
//! into the queue, a handler that panics with a direct reply written, a handler writing to
//! another connection, a handler running after the peer's close, whose window must not open
//! for direct writes at all). The drop guard's clearing on unwind is not reached: it needs a
//! panic in wsx's own code while a window is open.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{SAMPLE_KEY, close_payload, masked_frame, parse_frames, read_head, read_to_eof};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, DuplexStream};
use wsx::handshake::{ClientOptions, Target};
use wsx::http::HeaderMap;
use wsx::{CloseCode, Config, Conn, Message, MessageType, Server, WebSocket, WebSocketConfig};

/// A client over an in-memory pipe to `server`, which serves the other end on its own task.
async fn connect(server: &Server) -> WebSocket<DuplexStream> {
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let server = server.clone();
    tokio::spawn(async move {
        let _ = server.serve_connection(server_end, None).await;
    });
    let target = Target::parse("ws://in-memory/").unwrap();
    let (ws, _) = wsx::client_handshake(
        client_end,
        &target,
        &HeaderMap::new(),
        &ClientOptions::default(),
        WebSocketConfig::default(),
    )
    .await
    .unwrap();
    ws
}

/// The next message, within a generous bound (Miri is slow).
async fn next(ws: &mut WebSocket<DuplexStream>) -> Message {
    tokio::time::timeout(Duration::from_secs(120), ws.next())
        .await
        .expect("no message in time")
        .expect("the connection ended")
        .expect("a read error")
}

async fn send(ws: &mut WebSocket<DuplexStream>, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// Small messages in the tests' runtime: one thread, a real clock (Miri has no paused one to
/// offer the I/O-free runtime any faster).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn replies_within_and_past_the_write_buffer_arrive_in_order() {
    runtime().block_on(async {
        // A 64-byte write buffer: the third reply of each message no longer fits and is
        // queued, so every later one of that handler's call goes through the queue too.
        let server = Server::new(Config {
            write_buffer_size: 64,
            ..Config::default()
        });
        server.on_connection(|conn: Conn| {
            conn.on_message(|c: &Conn, kind: MessageType, data| {
                for i in 0..5u8 {
                    let mut reply = data.to_vec();
                    reply.push(b'0' + i);
                    c.write_message(kind, reply).unwrap();
                }
            });
        });
        let mut ws = connect(&server).await;
        for round in ["a", "bb"] {
            send(&mut ws, &format!("{round:-<20}")).await;
            for i in 0..5u8 {
                let expected = format!("{round:-<20}{}", char::from(b'0' + i));
                assert_eq!(next(&mut ws).await, Message::text(expected));
            }
        }
    });
}

#[test]
fn a_handler_panicking_after_direct_replies_fails_only_its_connection() {
    runtime().block_on(async {
        let server = Server::new(Config::default());
        server.on_connection(|conn: Conn| {
            conn.on_message(|c: &Conn, kind: MessageType, data| {
                c.write_message(kind, data.clone()).unwrap();
                assert!(data.as_ref() != b"panic", "asked to panic");
            });
        });
        let mut ws = connect(&server).await;
        send(&mut ws, "hello").await;
        assert_eq!(next(&mut ws).await, Message::text("hello"));
        // The window is open with a direct reply in the buffer when the handler panics: the
        // panic is caught inside the window, which closes as usual; the connection fails with
        // 1011 behind the reply.
        send(&mut ws, "panic").await;
        let mut saw_close = None;
        for _ in 0..2 {
            match next(&mut ws).await {
                Message::Close(frame) => {
                    saw_close = frame.map(|f| f.code);
                    break;
                }
                Message::Text(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(saw_close, Some(CloseCode::INTERNAL_ERROR));
        // Another connection is served as before, on the same thread.
        let mut other = connect(&server).await;
        send(&mut other, "again").await;
        assert_eq!(next(&mut other).await, Message::text("again"));
    });
}

#[test]
fn a_handler_writing_to_another_connection_goes_through_its_queue() {
    runtime().block_on(async {
        let server = Server::new(Config::default());
        let first: std::sync::Arc<std::sync::Mutex<Option<Conn>>> = std::sync::Arc::default();
        let keep = first.clone();
        server.on_connection(move |conn: Conn| {
            let mut slot = keep.lock().unwrap();
            if slot.is_none() {
                *slot = Some(conn.clone());
            }
            let first = keep.clone();
            conn.on_message(move |c: &Conn, kind: MessageType, data| {
                let target = first.lock().unwrap().clone().unwrap();
                if &target != c {
                    target.write_message(kind, data.clone()).unwrap();
                }
                c.write_message(kind, data).unwrap();
            });
        });
        let mut a = connect(&server).await;
        let mut b = connect(&server).await;
        send(&mut b, "relayed").await;
        assert_eq!(next(&mut b).await, Message::text("relayed"));
        assert_eq!(next(&mut a).await, Message::text("relayed"));
        // The slot holds the first connection, whose handlers hold the slot: break the cycle
        // (the runtime ends with the connections open, so no `on_close` frees them).
        first.lock().unwrap().take();
    });
}

/// RFC 6455 §5.5.1: after sending a close frame, an endpoint MUST NOT send any more data
/// frames. A handler that runs after the peer's close arrived, while the close reply still waits
/// behind a peer that does not read (here: a message that waited for its handler, whose handler
/// is registered then), must not get a data frame onto the wire behind the close frame: its
/// reply is refused like a queued one. The direct path once skipped that check (issue 29).
#[test]
fn no_data_frame_follows_the_close_frame_when_a_handler_runs_after_the_peer_closed() {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        // The paused clock moves only when every task waits: the handler below is registered
        // once the server has read the peer's close and is stuck writing its reply.
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async {
            let server = Server::new(Config {
                close_timeout: Duration::from_secs(60),
                ..Config::default()
            });
            server.on_connection(|conn: Conn| {
                // More than the pipe holds and less than the write buffer does: the write
                // buffer keeps the rest, with nothing left queued, so the close reply goes in
                // behind it and the window opens for direct writes.
                conn.write_binary(vec![0u8; 8 * 1024]).unwrap();
                let late = conn.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    late.on_message(|c: &Conn, kind: MessageType, data| {
                        let _ = c.write_message(kind, data);
                    });
                });
            });
            let (mut client, server_end) = tokio::io::duplex(1024);
            let serving = server.clone();
            tokio::spawn(async move {
                let _ = serving.serve_connection(server_end, None).await;
            });
            client
                .write_all(
                    format!(
                        "GET / HTTP/1.1\r\nHost: in-memory\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Key: {SAMPLE_KEY}\r\n\
                         Sec-WebSocket-Version: 13\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await
                .unwrap();
            let head = read_head(&mut client).await;
            assert!(head.starts_with("HTTP/1.1 101"), "{head}");
            // A message with no handler yet (it waits for one), then our close; then this
            // side stops reading for a while.
            let mut frames = masked_frame(true, 0, 0x1, b"late");
            frames.extend(masked_frame(true, 0, 0x8, &close_payload(1000, b"")));
            client.write_all(&frames).await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let wire =
                tokio::time::timeout(Duration::from_secs(30), read_to_eof(&mut client, 1 << 20))
                    .await
                    .expect("the server did not end the connection")
                    .unwrap();
            let frames = parse_frames(&wire);
            let close = frames
                .iter()
                .position(|f| f.opcode == 0x8)
                .expect("no close frame");
            assert_eq!(frames[close].close_code(), Some(1000));
            assert!(
                frames[close + 1..].is_empty(),
                "frames after the close frame: {:?}",
                frames[close + 1..]
                    .iter()
                    .map(|f| (f.opcode, String::from_utf8_lossy(&f.payload)))
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                frames[..close]
                    .iter()
                    .map(|f| f.payload.len())
                    .sum::<usize>(),
                8 * 1024
            );
        });
}
