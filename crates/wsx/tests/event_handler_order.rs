//! Handler order over loopback: open, then messages in order, then close exactly once, on both
//! sides; handlers registered after their event still fire once; messages that arrive before
//! `on_message` is registered are kept for it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::memory::connect_pipe;
use event_support::{Event, next, record, serve, within};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;
use wsx::{CloseCode, Config, Conn, MessageType, Server};

/// Drains `rx` until it closes (every handler holding its sender was dropped, i.e. the
/// connection's handler table is gone), bounded by `event_support::STEP`.
async fn drain_until_closed(rx: &mut mpsc::UnboundedReceiver<Event>, side: &str) -> Vec<Event> {
    let mut rest = Vec::new();
    loop {
        match tokio::time::timeout(event_support::STEP, rx.recv()).await {
            Ok(Some(event)) => rest.push(event),
            Ok(None) => return rest,
            Err(_) => panic!(
                "{side}: the event channel never closed after on_close (the connection's \
                 handlers are still alive); events after close: {rest:?}"
            ),
        }
    }
}

fn text(s: &str) -> Event {
    Event::Message(MessageType::Text, Bytes::copy_from_slice(s.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_messages_in_order_then_close_exactly_once_on_both_sides() {
    within(async {
        // The server records every event of each connection on a channel of its own, which it
        // hands out; it also echoes.
        let (server_events_tx, mut server_events) = mpsc::unbounded_channel();
        let server_closes = Arc::new(AtomicUsize::new(0));
        let server = Server::new(Config::default());
        {
            let server_closes = server_closes.clone();
            server.on_connection(move |conn: Conn| {
                let (tx, rx) = mpsc::unbounded_channel();
                record(&conn, &tx);
                let t = tx.clone();
                conn.on_message(move |c, kind, data| {
                    let _ = t.send(Event::Message(kind, data.clone()));
                    c.write_message(kind, data).unwrap();
                });
                let closes = server_closes.clone();
                let t = tx.clone();
                conn.on_close(move |_, code, reason| {
                    closes.fetch_add(1, Ordering::SeqCst);
                    let _ = t.send(Event::Close(code.into(), reason.to_owned()));
                });
                let _ = server_events_tx.send(rx);
            });
        }
        let running = serve(server).await;

        let conn = running.connect().await;
        // Registered after `connect` returned: on_open still fires, once.
        let (tx, mut client_events) = mpsc::unbounded_channel();
        record(&conn, &tx);
        let client_closes = Arc::new(AtomicUsize::new(0));
        {
            let closes = client_closes.clone();
            let t = tx.clone();
            conn.on_close(move |_, code, reason| {
                closes.fetch_add(1, Ordering::SeqCst);
                let _ = t.send(Event::Close(code.into(), reason.to_owned()));
            });
        }
        drop(tx);

        let messages = ["m0", "m1", "m2"];
        for m in messages {
            conn.write_text(m).unwrap();
        }
        let mut client_seen = vec![next(&mut client_events, "client on_open").await];
        for _ in messages {
            client_seen.push(next(&mut client_events, "an echoed message").await);
        }
        conn.close(CloseCode::NORMAL_CLOSURE, "done").unwrap();
        let client_close = next(&mut client_events, "client on_close").await;
        client_seen.push(client_close.clone());
        let Event::Close(client_code, _) = client_close else {
            panic!("client: expected on_close after the messages, got {client_close:?}; all: {client_seen:?}");
        };
        assert_eq!(client_code, 1000, "client on_close code");
        assert!(conn.is_closed(), "is_closed() after on_close");

        // on_close registered after the close fires at once (during the call), once, with the
        // same code.
        let late = Arc::new(std::sync::Mutex::new(Vec::new()));
        {
            let late = late.clone();
            conn.on_close(move |_, code, reason| {
                late.lock().unwrap().push((u16::from(code), reason.to_owned()));
            });
        }
        let late_calls = late.lock().unwrap().clone();
        assert_eq!(late_calls.len(), 1, "late on_close calls: {late_calls:?}");
        assert_eq!(late_calls[0].0, client_code, "late on_close code");

        // Nothing else is ever reported: drop our handle and read the channel to its end.
        drop(conn);
        client_seen.extend(drain_until_closed(&mut client_events, "client").await);
        let expected_client = vec![
            Event::Open,
            text("m0"),
            text("m1"),
            text("m2"),
            client_seen.last().cloned().unwrap(),
        ];
        assert_eq!(client_seen, expected_client, "client events");
        assert_eq!(client_closes.load(Ordering::SeqCst), 1, "client on_close calls");
        assert_eq!(late.lock().unwrap().len(), 1, "late on_close calls");

        // Server side: the same order, the close (the client's 1000 "done") once.
        let mut rx = next(&mut server_events, "the server's connection").await;
        let server_seen = drain_until_closed(&mut rx, "server").await;
        assert_eq!(
            server_seen,
            vec![
                Event::Open,
                text("m0"),
                text("m1"),
                text("m2"),
                Event::Close(1000, "done".into()),
            ],
            "server events"
        );
        assert_eq!(server_closes.load(Ordering::SeqCst), 1, "server on_close calls");
        assert_eq!(running.server.connection_count(), 0);
    })
    .await;
}

/// Checks that `messages` yields `early 0` .. `early {n-1}` (text) then the binary `[1, 2, 3]`.
async fn expect_early_messages(
    messages: &mut mpsc::UnboundedReceiver<(MessageType, Bytes)>,
    n: usize,
) {
    for i in 0..n {
        let (kind, data) = next(messages, &format!("early message {i}")).await;
        assert_eq!(kind, MessageType::Text, "message {i}");
        assert_eq!(data, format!("early {i}").as_bytes(), "message {i}");
    }
    let (kind, data) = next(messages, "the early binary message").await;
    assert_eq!((kind, &data[..]), (MessageType::Binary, &[1u8, 2, 3][..]));
}

fn send_early(conn: &Conn, n: usize) {
    for i in 0..n {
        conn.write_text(format!("early {i}")).unwrap();
    }
    conn.write_binary(vec![1u8, 2, 3]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_in_on_connection_before_on_message_is_registered_are_not_lost() {
    const N: usize = 200;
    within(async {
        let server = Server::new(Config::default());
        // Sent at once, before the client can have registered anything.
        server.on_connection(|conn: Conn| send_early(&conn, N));
        let running = serve(server).await;

        let conn = running.connect().await;
        // A ping round trip first, so that the early messages have (almost surely) been read
        // before there is an on_message handler.
        let (pong_tx, mut pongs) = mpsc::unbounded_channel();
        conn.on_pong(move |_, data| {
            let _ = pong_tx.send(data);
        });
        conn.ping("sync").unwrap();
        assert_eq!(next(&mut pongs, "the pong").await, "sync".as_bytes());

        let (tx, mut messages) = mpsc::unbounded_channel();
        conn.on_message(move |_, kind, data| {
            let _ = tx.send((kind, data));
        });
        expect_early_messages(&mut messages, N).await;
        assert!(messages.try_recv().is_err(), "no extra message");
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_arrived_before_on_message_is_registered_are_kept_for_it() {
    const N: usize = 200;
    within(async {
        let server = Server::new(Config::default());
        server.on_connection(|conn: Conn| {
            conn.on_message(|c, _, _| {
                send_early(c, N);
                // Then an event that tells the client all of them have arrived.
                c.emit("ready", serde_json::json!(N)).unwrap();
            });
        });
        let running = serve(server).await;

        let conn = running.connect().await;
        let (ready_tx, mut ready) = mpsc::unbounded_channel();
        conn.on("ready", move |_, data| {
            let _ = ready_tx.send(data);
        });
        conn.write_text("go").unwrap();
        // Messages are handled in order, so when "ready" is handled every early message has
        // been read and, with no on_message handler yet, kept.
        assert_eq!(
            next(&mut ready, "the ready event").await,
            serde_json::json!(N)
        );

        // on_open registered long after the open fires at once, exactly once.
        let opens = Arc::new(AtomicUsize::new(0));
        {
            let opens = opens.clone();
            conn.on_open(move |_| {
                opens.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(opens.load(Ordering::SeqCst), 1, "late on_open calls");

        let (tx, mut messages) = mpsc::unbounded_channel();
        conn.on_message(move |_, kind, data| {
            let _ = tx.send((kind, data));
        });
        expect_early_messages(&mut messages, N).await;
        assert!(messages.try_recv().is_err(), "no extra message");
        assert_eq!(opens.load(Ordering::SeqCst), 1, "late on_open calls");
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

/// The issue: "A handler registered after the event it listens for has happened is still
/// called once." A server that greets with a custom event as soon as a client connects (in
/// `on_connection`) cannot be heard by a client's `on("welcome")`, which can only be
/// registered after `connect` returned. Made deterministic here: the client registers
/// `on("welcome")` only once the event has certainly arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_event_that_arrived_before_its_handler_is_registered_reaches_it() {
    within(async {
        let server = Server::new(Config::default());
        server.on_connection(|conn: Conn| {
            conn.on_message(|c, _, _| {
                c.emit("welcome", serde_json::json!({"motd": "hi"})).unwrap();
                c.emit("sync", serde_json::Value::Null).unwrap();
            });
        });
        let running = serve(server).await;

        let conn = running.connect().await;
        let (sync_tx, mut sync) = mpsc::unbounded_channel();
        conn.on("sync", move |_, _| {
            let _ = sync_tx.send(());
        });
        conn.write_text("go").unwrap();
        next(&mut sync, "the sync event").await;

        // "welcome" was read before "sync"; its handler is registered only now.
        let (welcome_tx, mut welcome) = mpsc::unbounded_channel();
        conn.on("welcome", move |_, data| {
            let _ = welcome_tx.send(data);
        });
        let (tx, mut messages) = mpsc::unbounded_channel();
        conn.on_message(move |_, kind, data: Bytes| {
            let _ = tx.send((kind, String::from_utf8_lossy(&data).into_owned()));
        });
        let got = tokio::select! {
            data = welcome.recv() => Ok(data),
            other = messages.recv() => Err(other),
            () = tokio::time::sleep(event_support::STEP) => panic!("the welcome event was never delivered"),
        };
        match got {
            Ok(data) => assert_eq!(data, Some(serde_json::json!({"motd": "hi"}))),
            Err(message) => panic!(
                "the welcome event, read before on(\"welcome\") was registered, went to \
                 on_message instead of the late event handler: {message:?}"
            ),
        }
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

/// A message that waits for a handler is delivered when the handler is registered from
/// another task while the connection's reader is parked (no more input coming, keep-alive 30 s
/// away): registering must wake the reader, not leave the message until the next frame. On a
/// paused clock over a pipe, the sleep below ends only once every task is idle, so the reader
/// has certainly parked; and a reader left asleep would wake at the first keep-alive ping
/// (30 s), after `next` gave up (10 s).
#[tokio::test(start_paused = true)]
async fn registering_on_message_wakes_a_parked_reader_with_a_message_waiting() {
    within(async {
        let server = Server::new(Config::default());
        let (conn_tx, mut conns) = mpsc::unbounded_channel();
        server.on_connection(move |conn: Conn| {
            let _ = conn_tx.send(conn);
        });
        let (client, _task) = connect_pipe(&server, Config::default()).await;
        let conn = next(&mut conns, "the server's connection").await;
        client.write_text("waiting").unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (tx, mut messages) = mpsc::unbounded_channel();
        conn.on_message(move |_, kind, data: Bytes| {
            let _ = tx.send((kind, data));
        });
        let (kind, data) = next(&mut messages, "the waiting message").await;
        assert_eq!(kind, MessageType::Text);
        assert_eq!(data, Bytes::from_static(b"waiting"));
        client.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}
