//! Echo over loopback through the event API: every payload type the writes accept, the bytes an
//! `on_message` handler got passed back to `write_message` unchanged, and 1000 messages in
//! order.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{echo_server, next, serve, within};
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config, Conn, MessageType};

async fn echo_client(url: &str) -> (Conn, mpsc::UnboundedReceiver<(MessageType, Bytes)>) {
    let conn = Client::new(Config::default())
        .connect(url, http::HeaderMap::new())
        .await
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    conn.on_message(move |_, kind, data| {
        let _ = tx.send((kind, data));
    });
    (conn, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_payload_type_echoes_unchanged() {
    within(async {
        let running = serve(echo_server(Config::default())).await;
        let (conn, mut rx) = echo_client(&running.url()).await;

        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let slice: &[u8] = &[4, 5, 6];
        conn.write_text("text from &str").unwrap();
        conn.write_text(String::from("text from String ✓")).unwrap();
        conn.write_binary(vec![1u8, 2, 3]).unwrap();
        conn.write_binary(slice).unwrap();
        conn.write_binary(Bytes::from_static(b"\x00\xffbytes"))
            .unwrap();
        conn.write_binary(Vec::<u8>::new()).unwrap();
        conn.write_text("").unwrap();
        conn.write_message(MessageType::Text, "write_message text")
            .unwrap();
        conn.write_message(MessageType::Binary, big.clone())
            .unwrap();
        conn.write_message(MessageType::Binary, Bytes::from_static(&[9, 8, 7]))
            .unwrap();

        let expected: Vec<(MessageType, Vec<u8>)> = vec![
            (MessageType::Text, b"text from &str".to_vec()),
            (MessageType::Text, "text from String ✓".as_bytes().to_vec()),
            (MessageType::Binary, vec![1, 2, 3]),
            (MessageType::Binary, vec![4, 5, 6]),
            (MessageType::Binary, b"\x00\xffbytes".to_vec()),
            (MessageType::Binary, Vec::new()),
            (MessageType::Text, Vec::new()),
            (MessageType::Text, b"write_message text".to_vec()),
            (MessageType::Binary, big),
            (MessageType::Binary, vec![9, 8, 7]),
        ];
        for (i, (kind, data)) in expected.into_iter().enumerate() {
            let (got_kind, got) = next(&mut rx, &format!("echo {i}")).await;
            assert_eq!(got_kind, kind, "echo {i}: kind");
            assert!(
                got[..] == data[..],
                "echo {i}: payload differs ({} vs {} bytes)",
                got.len(),
                data.len()
            );
        }
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_passes_received_bytes_back_unchanged() {
    // The client echoes too: whatever the server sends comes back through the client's
    // `write_message(kind, data)` with the handler's own `Bytes`.
    within(async {
        let (back_tx, mut back) = mpsc::unbounded_channel();
        let server = wsx::Server::new(Config::default());
        server.on_connection(move |conn: Conn| {
            let back_tx = back_tx.clone();
            conn.on_message(move |_, kind, data| {
                let _ = back_tx.send((kind, data));
            });
            conn.write_text("ping-pong text").unwrap();
            conn.write_binary(vec![0u8, 1, 2, 255]).unwrap();
        });
        let running = serve(server).await;
        let conn = running.connect().await;
        conn.on_message(|c, kind, data| {
            c.write_message(kind, data).unwrap();
        });
        assert_eq!(
            next(&mut back, "text back").await,
            (MessageType::Text, Bytes::from_static(b"ping-pong text"))
        );
        assert_eq!(
            next(&mut back, "binary back").await,
            (MessageType::Binary, Bytes::from_static(&[0, 1, 2, 255]))
        );
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_echo_in_order() {
    const N: usize = 1000;
    within(async {
        let running = serve(echo_server(Config::default())).await;
        let (conn, mut rx) = echo_client(&running.url()).await;
        for i in 0..N {
            if i % 2 == 0 {
                conn.write_text(format!("message {i}")).unwrap();
            } else {
                conn.write_binary(format!("message {i}").into_bytes())
                    .unwrap();
            }
        }
        for i in 0..N {
            let (kind, data) = next(&mut rx, &format!("echo {i}")).await;
            let expected_kind = if i % 2 == 0 {
                MessageType::Text
            } else {
                MessageType::Binary
            };
            assert_eq!(kind, expected_kind, "echo {i}: kind");
            assert_eq!(data, format!("message {i}").as_bytes(), "echo {i}: payload");
        }
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_writes_are_refused_without_closing() {
    within(async {
        let running = serve(echo_server(Config::default())).await;
        let (conn, mut rx) = echo_client(&running.url()).await;
        assert!(matches!(
            conn.write_message(MessageType::Text, vec![0xffu8, 0xfe]),
            Err(wsx::Error::InvalidMessage(_))
        ));
        assert!(matches!(
            conn.ping(vec![0u8; 126]),
            Err(wsx::Error::InvalidMessage(_))
        ));
        conn.write_text("still open").unwrap();
        assert_eq!(
            next(&mut rx, "echo").await,
            (MessageType::Text, Bytes::from_static(b"still open"))
        );
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
        // After close, writes fail with ConnectionClosed.
        assert!(matches!(
            conn.write_text("late"),
            Err(wsx::Error::ConnectionClosed)
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_before_close_are_sent_before_it() {
    const N: usize = 100;
    within(async {
        let (tx, mut seen) = mpsc::unbounded_channel();
        let server = wsx::Server::new(Config::default());
        server.on_connection(move |conn: Conn| {
            let t = tx.clone();
            conn.on_message(move |_, _, data| {
                let _ = t.send(Ok(data));
            });
            let t = tx.clone();
            conn.on_close(move |_, code, reason| {
                let _ = t.send(Err((u16::from(code), reason.to_owned())));
            });
        });
        let running = serve(server).await;
        let conn = running.connect().await;
        for i in 0..N {
            conn.write_text(format!("before close {i}")).unwrap();
        }
        conn.close(CloseCode::NORMAL_CLOSURE, "bye").unwrap();
        for i in 0..N {
            match next(&mut seen, &format!("message {i}")).await {
                Ok(data) => assert_eq!(data, format!("before close {i}").as_bytes()),
                Err(close) => panic!("close {close:?} before message {i}"),
            }
        }
        assert_eq!(
            next(&mut seen, "on_close").await,
            Err((1000, "bye".to_owned()))
        );
    })
    .await;
}
