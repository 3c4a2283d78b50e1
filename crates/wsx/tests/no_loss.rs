//! Nothing the application queued is lost on a graceful close: 10,000 messages queued and then
//! a close arrive all, in order, before the close frame (RFC 6455 §1.4: the close frame is the
//! last thing an endpoint sends; §5.5.1: after it, no data). On the event API (`Conn`, both
//! the server's and the client's side), on the stream path (`WebSocket<S>`: messages fed
//! without a flush, then `close`), and through `Server::shutdown`, which flushes every
//! connection's queue before its 1001 close frame. (`event_shutdown.rs` checks that shutdown
//! gives up on a peer that does not read after `close_timeout`.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{
    close_payload, masked_frame, next, raw_client, read_frame, serve, within, within_for,
};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsx::handshake::{ClientOptions, ServerOptions};
use wsx::{Client, Config, Conn, Message, MessageType, Server, WebSocket, WebSocketConfig};

const COUNT: usize = 10_000;

fn numbered(i: usize) -> String {
    format!("message {i:05}")
}

/// Reads frames until the close frame, answering it; returns the data payloads and the close
/// code. Fails on a data frame after the close.
async fn read_all_then_close(raw: &mut TcpStream) -> (Vec<Vec<u8>>, Option<u16>) {
    let mut buf = Vec::new();
    let mut data = Vec::new();
    while let Some(frame) = read_frame(raw, &mut buf).await {
        match frame.opcode {
            0x1 | 0x2 => data.push(frame.payload),
            0x8 => {
                let code = frame.close_code();
                let reply = close_payload(code.unwrap_or(1000), b"");
                let _ = raw.write_all(&masked_frame(true, 0, 0x8, &reply)).await;
                // RFC 6455 §5.5.1: nothing may follow the close frame.
                let rest = read_frame(raw, &mut buf).await;
                assert!(rest.is_none(), "a frame after the close frame: {rest:?}");
                return (data, code);
            }
            _ => {}
        }
    }
    panic!("EOF before a close frame, after {} messages", data.len());
}

fn assert_in_order(got: &[Vec<u8>]) {
    assert_eq!(got.len(), COUNT, "messages lost before the close frame");
    for (i, payload) in got.iter().enumerate() {
        assert_eq!(
            payload,
            numbered(i).as_bytes(),
            "message {i} out of order or changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_conn_delivers_every_queued_message_before_its_close() {
    within(async {
        let server = Server::new(Config::default());
        server.on_connection(|conn: Conn| {
            conn.on_open(|c| {
                for i in 0..COUNT {
                    c.write_text(numbered(i)).unwrap();
                }
                c.close(1000, "done").unwrap();
                assert!(
                    c.write_text("late").is_err(),
                    "a write after close() was accepted"
                );
            });
        });
        let running = serve(server).await;
        let mut raw = raw_client(running.addr).await;
        let (got, code) = read_all_then_close(&mut raw).await;
        assert_eq!(code, Some(1000));
        assert_in_order(&got);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_conn_delivers_every_queued_message_before_its_close() {
    within(async {
        let (tx, mut events) = mpsc::unbounded_channel();
        let server = Server::new(Config::default());
        server.on_connection(move |conn: Conn| {
            let t = tx.clone();
            conn.on_message(move |_, _, data| {
                let _ = t.send(Ok(data));
            });
            let t = tx.clone();
            conn.on_close(move |_, code, _| {
                let _ = t.send(Err(u16::from(code)));
            });
        });
        let running = serve(server).await;
        let conn = Client::new(Config::default())
            .connect(&running.url(), http::HeaderMap::new())
            .await
            .unwrap();
        for i in 0..COUNT {
            conn.write_text(numbered(i)).unwrap();
        }
        conn.close(1000, "done").unwrap();
        let mut got = Vec::new();
        let code = loop {
            match next(&mut events, "a message or on_close").await {
                Ok(data) => got.push(data.to_vec()),
                Err(code) => break code,
            }
        };
        assert_eq!(code, 1000, "the server's on_close");
        assert_in_order(&got);
        let (code, _) = tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .expect("the client's close handshake did not finish");
        assert_eq!(u16::from(code), 1000);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_path_delivers_every_fed_message_before_its_close() {
    within(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (mut ws, _) =
                wsx::accept_with(tcp, &ServerOptions::default(), WebSocketConfig::default())
                    .await
                    .unwrap();
            let mut got = Vec::new();
            let mut close = None;
            // Read to the end: the close reply goes out on the `next` after the close.
            while let Some(item) = ws.next().await {
                match item.unwrap() {
                    Message::Text(text) => {
                        assert!(close.is_none(), "a message after the close frame");
                        got.push(text.as_bytes().to_vec());
                    }
                    Message::Close(frame) => close = Some(frame.map(|f| u16::from(f.code))),
                    _ => {}
                }
            }
            (got, close.expect("the stream ended without a close frame"))
        });
        let (mut ws, _): (WebSocket<TcpStream>, _) = wsx::connect_with(
            &format!("ws://{addr}/"),
            &http::HeaderMap::new(),
            &ClientOptions::default(),
            WebSocketConfig::default(),
        )
        .await
        .unwrap();
        // Fed, never flushed by hand: `close` must write them out before its frame.
        for i in 0..COUNT {
            ws.feed(Message::text(numbered(i))).await.unwrap();
        }
        ws.close(Some(wsx::CloseFrame::new(1000, "done")))
            .await
            .unwrap();
        assert_eq!(u16::from(ws.close_code()), 1000);
        let (got, code) = reader.await.unwrap();
        assert_eq!(code, Some(1000));
        assert_in_order(&got);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_every_connections_queue_before_its_close_frame() {
    const CLIENTS: usize = 3;
    within_for(Duration::from_secs(60), async {
        let config = Config {
            close_timeout: Duration::from_secs(10),
            ..Config::default()
        };
        let server = Server::new(config);
        let (open_tx, mut opened) = mpsc::unbounded_channel();
        server.on_connection(move |_| {
            let _ = open_tx.send(());
        });
        let running = serve(server).await;
        let mut readers = Vec::new();
        for _ in 0..CLIENTS {
            let mut raw = raw_client(running.addr).await;
            next(&mut opened, "on_connection").await;
            readers.push(tokio::spawn(
                async move { read_all_then_close(&mut raw).await },
            ));
        }
        // Everything is queued, on every connection, before shutdown starts.
        for conn in running.server.connections() {
            for i in 0..COUNT {
                conn.write_message(MessageType::Text, numbered(i)).unwrap();
            }
        }
        tokio::time::timeout(Duration::from_secs(20), running.server.shutdown())
            .await
            .expect("shutdown did not return");
        for reader in readers {
            let (got, code) = reader.await.unwrap();
            assert_eq!(code, Some(1001), "shutdown closes with 1001 (going away)");
            assert_in_order(&got);
        }
    })
    .await;
}
