//! Async handlers (`on_message_async`, `on_async`) and the pull API (`Conn::messages`): one
//! message at a time per connection in arrival order, even when later handlers finish
//! sooner, on a multi-threaded runtime; a slow handler holds up neither other connections
//! nor its own keep-alive; a pull stream gets every message received before the close, then
//! `None`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{next, serve, within};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx::{CloseCode, Config, Conn, MessageType, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_handlers_keep_arrival_order_and_do_not_block_other_connections() {
    within(async {
        let server = Server::new(Config::default());
        server.on_connection(|conn: Conn| {
            if conn.uri().path() == "/stuck" {
                // This connection's handler never finishes.
                conn.on_message_async(|_, _, _| std::future::pending::<()>());
                return;
            }
            conn.on_message_async(|c, kind, data| async move {
                // Earlier messages sleep longer: only one-at-a-time keeps them in order.
                let n: u64 = std::str::from_utf8(&data).unwrap().parse().unwrap();
                tokio::time::sleep(Duration::from_millis((20 - n % 20) / 2)).await;
                c.send(kind, data).await.unwrap();
            });
            conn.on_async("add", |c, value| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let sum: i64 = value
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|v| v.as_i64())
                    .sum();
                c.emit("sum", sum).unwrap();
            });
        });
        let running = serve(server).await;

        let stuck = wsx::Client::default()
            .connect_url(&format!("{}stuck", running.url()))
            .await
            .unwrap();
        stuck.write_text("never answered").unwrap();

        let conn = running.connect().await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, data| {
            let _ = tx.send(data);
        });
        for i in 0..60 {
            conn.write_text(i.to_string()).unwrap();
        }
        conn.emit("add", [1, 2, 39]).unwrap();
        for i in 0..60 {
            assert_eq!(next(&mut rx, "an echo").await, Bytes::from(i.to_string()));
        }
        assert_eq!(
            next(&mut rx, "the event's answer").await,
            Bytes::from(r#"{"event":"sum","data":42}"#)
        );
        assert!(!stuck.is_closed());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_async_handler_does_not_stop_keep_alive() {
    within(async {
        // The server pings every 100 ms and gives up after 300 ms without an answer: it must
        // keep reading pongs while the handler sleeps for a second.
        let config = Config {
            ping_interval: Duration::from_millis(100),
            pong_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let server = Server::new(config);
        server.on_connection(|conn: Conn| {
            conn.on_message_async(|c, kind, data| async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = c.write_message(kind, data);
            });
        });
        let running = serve(server).await;
        let conn = running.connect().await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, data| {
            let _ = tx.send(data);
        });
        conn.write_text("slow").unwrap();
        assert_eq!(next(&mut rx, "the slow echo").await, Bytes::from("slow"));
        assert!(!conn.is_closed());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_stream_gets_every_message_then_none_and_closed_tells_how() {
    within(async {
        let server = Server::new(Config::default());
        let (done_tx, mut done) = mpsc::unbounded_channel();
        server.on_connection(move |conn: Conn| {
            let done_tx = done_tx.clone();
            let mut messages = conn.messages();
            tokio::spawn(async move {
                // A late consumer: the client has sent everything and closed by now, and the
                // messages received before the close must still all come.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut got = Vec::new();
                while let Some((kind, data)) = messages.recv().await {
                    assert_eq!(kind, MessageType::Binary);
                    got.push(data);
                    // A slow consumer: the connection must wait for it, not drop messages.
                    if got.len() % 10 == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                let how = conn.closed().await;
                let _ = done_tx.send((got, how));
            });
        });
        let running = serve(server).await;
        let conn = running.connect().await;
        for i in 0..200u32 {
            conn.write_binary(i.to_be_bytes().to_vec()).unwrap();
        }
        conn.close(4001u16, "done").unwrap();
        let (got, (code, reason)) = next(&mut done, "the pull loop's end").await;
        let expected: Vec<Bytes> = (0..200u32)
            .map(|i| Bytes::from(i.to_be_bytes().to_vec()))
            .collect();
        assert_eq!(got, expected, "every message, in order, before None");
        assert_eq!((code, reason.as_str()), (CloseCode::from(4001), "done"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_can_pull_too() {
    within(async {
        let running = serve(event_support::echo_server(Config::default())).await;
        let conn = running.connect().await;
        let mut messages = conn.messages();
        conn.write_text("one").unwrap();
        conn.write_binary(&b"two"[..]).unwrap();
        assert_eq!(
            messages.recv().await,
            Some((MessageType::Text, Bytes::from("one")))
        );
        assert_eq!(
            messages.recv().await,
            Some((MessageType::Binary, Bytes::from("two")))
        );
        conn.close(1000u16, "").unwrap();
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(10), messages.recv())
                .await
                .unwrap(),
            None
        );
    })
    .await;
}
