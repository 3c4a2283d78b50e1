//! Custom events over loopback: `emit` / `on` both ways, the envelope on the wire, and text that
//! is not a handled envelope going to `on_message`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{next, raw_client, serve, within};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use wsx::{CloseCode, Config, Conn, MessageType, Server};

#[derive(Debug, PartialEq)]
enum Seen {
    Event(String, serde_json::Value),
    Message(MessageType, Bytes),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_flow_both_ways_and_other_text_goes_to_on_message() {
    within(async {
        let (server_tx, mut server_seen) = mpsc::unbounded_channel();
        let server = Server::new(Config::default());
        server.on_connection(move |conn: Conn| {
            let t = server_tx.clone();
            conn.on("chat", move |c, data| {
                let _ = t.send(Seen::Event("chat".into(), data.clone()));
                c.emit("chat", json!({ "echo": data })).unwrap();
            });
            let t = server_tx.clone();
            conn.on_message(move |_, kind, data| {
                let _ = t.send(Seen::Message(kind, data));
            });
        });
        let running = serve(server).await;

        let conn = running.connect().await;
        let (client_tx, mut client_seen) = mpsc::unbounded_channel();
        let t = client_tx.clone();
        conn.on("chat", move |_, data| {
            let _ = t.send(Seen::Event("chat".into(), data));
        });
        let t = client_tx;
        conn.on_message(move |_, kind, data| {
            let _ = t.send(Seen::Message(kind, data));
        });

        let unknown = r#"{"event":"nobody-listens","data":[1,2]}"#;
        let extra_key = r#"{"event":"chat","data":1,"more":true}"#;
        conn.emit("chat", json!({ "from": "ana", "text": "hi" }))
            .unwrap();
        conn.write_text("plain text, not an envelope").unwrap();
        conn.write_text(unknown).unwrap();
        conn.write_text(extra_key).unwrap();
        conn.write_text("{not json").unwrap();
        conn.write_binary(br#"{"event":"chat","data":2}"#.to_vec())
            .unwrap();
        // An envelope written by hand is an event like an emitted one.
        conn.write_text(r#"{"data":"by hand","event":"chat"}"#)
            .unwrap();

        let text = |s: &str| Seen::Message(MessageType::Text, Bytes::copy_from_slice(s.as_bytes()));
        let expected_server = vec![
            Seen::Event("chat".into(), json!({ "from": "ana", "text": "hi" })),
            text("plain text, not an envelope"),
            text(unknown),
            text(extra_key),
            text("{not json"),
            Seen::Message(
                MessageType::Binary,
                Bytes::from_static(br#"{"event":"chat","data":2}"#),
            ),
            Seen::Event("chat".into(), json!("by hand")),
        ];
        for (i, expected) in expected_server.into_iter().enumerate() {
            assert_eq!(
                next(&mut server_seen, &format!("server item {i}")).await,
                expected,
                "server item {i}"
            );
        }

        // The server's replies reach the client's event handler.
        assert_eq!(
            next(&mut client_seen, "first reply").await,
            Seen::Event(
                "chat".into(),
                json!({ "echo": { "from": "ana", "text": "hi" } })
            )
        );
        assert_eq!(
            next(&mut client_seen, "second reply").await,
            Seen::Event("chat".into(), json!({ "echo": "by hand" }))
        );
        assert!(
            client_seen.try_recv().is_err(),
            "nothing else reached the client"
        );
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_without_any_event_handler_goes_to_on_message() {
    within(async {
        let (tx, mut seen) = mpsc::unbounded_channel();
        let server = Server::new(Config::default());
        server.on_connection(move |conn: Conn| {
            let t = tx.clone();
            conn.on_message(move |_, kind, data| {
                let _ = t.send((kind, data));
            });
        });
        let running = serve(server).await;
        let conn = running.connect().await;
        conn.emit("chat", json!({"n": 1})).unwrap();
        let (kind, data) = next(&mut seen, "the envelope").await;
        assert_eq!(kind, MessageType::Text);
        let value: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(value, json!({"event": "chat", "data": {"n": 1}}));
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_sends_the_documented_envelope_on_the_wire() {
    // A raw client reads the server's emitted frame: one unmasked text frame whose payload is
    // the JSON object {"event": NAME, "data": VALUE}.
    within(async {
        let server = Server::new(Config::default());
        server.on_connection(|conn: Conn| {
            conn.emit("news", json!({"id": 7, "tags": ["a", "b"]}))
                .unwrap();
        });
        let running = serve(server).await;
        let mut tcp = raw_client(running.addr).await;
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 0x81, "FIN + text opcode");
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = usize::from(head[1] & 0x7f);
        assert!(len < 126, "small payload");
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.unwrap();
        let value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            value,
            json!({"event": "news", "data": {"id": 7, "tags": ["a", "b"]}})
        );
        // Close politely: masked close frame 1000.
        let mask = [1u8, 2, 3, 4];
        let code = 1000u16.to_be_bytes();
        let frame = [
            0x88,
            0x82,
            mask[0],
            mask[1],
            mask[2],
            mask[3],
            code[0] ^ mask[0],
            code[1] ^ mask[1],
        ];
        tcp.write_all(&frame).await.unwrap();
    })
    .await;
}
