//! Broadcast over loopback: `Server::broadcast` and `PreparedMessage` with `write_prepared`
//! reach every connected client.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{next, serve, within};
use std::collections::HashMap;
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config, Conn, MessageType, PreparedMessage, Server};

const CLIENTS: usize = 50;

/// A server and `CLIENTS` clients whose messages arrive on one channel, tagged with the
/// client's index. Returns once the server has every connection.
async fn fifty_clients() -> (
    event_support::Running,
    Vec<Conn>,
    mpsc::UnboundedReceiver<(usize, MessageType, Bytes)>,
) {
    let server = Server::new(Config::default());
    let (opened_tx, mut opened) = mpsc::unbounded_channel();
    server.on_connection(move |_| {
        let _ = opened_tx.send(());
    });
    let running = serve(server).await;
    let (tx, rx) = mpsc::unbounded_channel();
    let client = Client::new(Config::default());
    let mut conns = Vec::new();
    for i in 0..CLIENTS {
        let conn = client
            .connect(&running.url(), http::HeaderMap::new())
            .await
            .unwrap();
        let tx = tx.clone();
        conn.on_message(move |_, kind, data| {
            let _ = tx.send((i, kind, data));
        });
        conns.push(conn);
    }
    for _ in 0..CLIENTS {
        next(&mut opened, "on_connection").await;
    }
    assert_eq!(running.server.connection_count(), CLIENTS);
    (running, conns, rx)
}

async fn expect_everyone_gets(
    rx: &mut mpsc::UnboundedReceiver<(usize, MessageType, Bytes)>,
    kind: MessageType,
    data: &[u8],
) {
    let mut got = HashMap::new();
    for _ in 0..CLIENTS {
        let (i, k, d) = next(rx, "a broadcast message").await;
        assert_eq!((k, &d[..]), (kind, data), "client {i}");
        *got.entry(i).or_insert(0) += 1;
    }
    assert_eq!(got.len(), CLIENTS, "every client, once each: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_every_client() {
    within(async {
        let (running, conns, mut rx) = fifty_clients().await;
        let queued = running.server.broadcast(MessageType::Text, "hi").unwrap();
        assert_eq!(queued, CLIENTS, "queued on every connection");
        expect_everyone_gets(&mut rx, MessageType::Text, b"hi").await;

        let queued = running
            .server
            .broadcast(MessageType::Binary, vec![1u8, 2, 3])
            .unwrap();
        assert_eq!(queued, CLIENTS);
        expect_everyone_gets(&mut rx, MessageType::Binary, &[1, 2, 3]).await;

        assert!(matches!(
            running.server.broadcast(MessageType::Ping, "x"),
            Err(wsx::Error::InvalidMessage(_))
        ));
        for conn in conns {
            conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_message_written_to_every_connection_reaches_every_client() {
    within(async {
        let (running, conns, mut rx) = fifty_clients().await;
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        let prepared = PreparedMessage::new(MessageType::Binary, big.clone()).unwrap();
        for conn in running.server.connections() {
            conn.write_prepared(&prepared).unwrap();
        }
        expect_everyone_gets(&mut rx, MessageType::Binary, &big).await;

        let prepared = PreparedMessage::new(MessageType::Text, "prepared ✓").unwrap();
        for conn in running.server.connections() {
            conn.write_prepared(&prepared).unwrap();
        }
        expect_everyone_gets(&mut rx, MessageType::Text, "prepared ✓".as_bytes()).await;
        assert!(PreparedMessage::new(MessageType::Text, vec![0xffu8]).is_err());
        for conn in conns {
            conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_reaches_everyone_and_the_except_variants_skip_the_sender() {
    within(async {
        let (running, conns, mut rx) = fifty_clients().await;
        let queued = running
            .server
            .emit("news", serde_json::json!({"n": 1}))
            .unwrap();
        assert_eq!(queued, CLIENTS);
        expect_everyone_gets(
            &mut rx,
            MessageType::Text,
            br#"{"event":"news","data":{"n":1}}"#,
        )
        .await;

        // The server side of client 0's connection is the sender to skip.
        let sender = running.server.connections().into_iter().next().unwrap();
        let queued = running
            .server
            .broadcast_except(MessageType::Text, "relayed", &sender)
            .unwrap();
        assert_eq!(queued, CLIENTS - 1);
        let queued = running.server.emit_except("chat", "hi", &sender).unwrap();
        assert_eq!(queued, CLIENTS - 1);
        let mut relayed = HashMap::new();
        for _ in 0..2 * (CLIENTS - 1) {
            let (i, kind, data) = next(&mut rx, "an except message").await;
            assert_eq!(kind, MessageType::Text);
            relayed.entry(i).or_insert_with(Vec::new).push(data);
        }
        assert_eq!(relayed.len(), CLIENTS - 1, "everyone but the sender");
        for got in relayed.values() {
            assert_eq!(
                got,
                &vec![
                    Bytes::from("relayed"),
                    Bytes::from(r#"{"event":"chat","data":"hi"}"#)
                ]
            );
        }
        // ...and the sender got nothing.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(rx.try_recv().is_err());
        for conn in conns {
            conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
        }
    })
    .await;
}
