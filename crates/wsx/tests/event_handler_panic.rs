//! A handler that panics costs its connection only: the connection is failed with 1011 after
//! what was queued before the panic, `on_error` (with `Error::HandlerPanicked`) then
//! `on_close` run once each, the socket is closed (the peer sees a close frame and then EOF,
//! never a half-open socket), the server's registry lets go of it, and everyone else is
//! served as before. On the server and on the client, for sync and async handlers,
//! `on_connection` and `on_open`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{
    Event, close_payload, masked_frame, next, raw_client, read_frame, record_close_and_more, serve,
    wait_for_no_connections, within,
};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config, Conn, Error, MessageType, Server};

const PANIC_REASON: &str = "handler panicked";

fn config() -> Config {
    Config {
        ping_interval: Duration::from_secs(1),
        pong_timeout: Duration::from_secs(1),
        close_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

/// An echo server whose handler writes "before" and then panics on the text "boom"; every
/// handler event of every connection is reported on the returned channel.
fn boom_server(events: &mpsc::UnboundedSender<Event>) -> Server {
    let server = Server::new(config());
    let events = events.clone();
    server.on_connection(move |conn: Conn| {
        conn.on_message(|c, kind, data| {
            if &data[..] == b"boom" {
                let _ = c.write_text("before");
                panic!("boom in the handler");
            }
            let _ = c.write_message(kind, data);
        });
        record_close_and_more(&conn, &events);
    });
    server
}

/// Reads frames until EOF, answering a close frame as a client must; returns them (the EOF
/// proves the server closed its socket).
async fn frames_until_eof(stream: &mut tokio::net::TcpStream) -> Vec<event_support::Frame> {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    while let Some(frame) = read_frame(stream, &mut buf).await {
        if frame.opcode == 0x8 {
            let reply = masked_frame(true, 0, 0x8, &frame.payload);
            let _ = stream.write_all(&reply).await;
        }
        frames.push(frame);
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_server_handler_fails_only_its_connection_with_1011() {
    within(async {
        let (tx, mut events) = mpsc::unbounded_channel();
        let running = serve(boom_server(&tx)).await;
        let mut raw = raw_client(running.addr).await;
        // "hello" and "boom" in one write: the server reads both at once, so "hello"'s echo
        // and "before" are queued in the same read as the panic.
        let mut both = masked_frame(true, 0, 0x1, b"hello");
        both.extend(masked_frame(true, 0, 0x1, b"boom"));
        raw.write_all(&both).await.unwrap();

        let frames = tokio::time::timeout(Duration::from_secs(10), frames_until_eof(&mut raw))
            .await
            .expect("the server must close its socket (EOF), not leave it half-open");
        let got: Vec<(u8, Vec<u8>)> = frames
            .iter()
            .map(|f| (f.opcode, f.payload.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0x1, b"hello".to_vec()),
                (0x1, b"before".to_vec()),
                (0x8, close_payload(1011, PANIC_REASON.as_bytes())),
            ],
            "what was queued before the panic goes out before the 1011 close frame"
        );

        match next(&mut events, "on_error").await {
            Event::Error(text) => {
                assert!(text.contains("HandlerPanicked"), "{text}");
                assert!(text.contains("boom in the handler"), "{text}");
            }
            other => panic!("expected on_error first, got {other:?}"),
        }
        assert_eq!(
            next(&mut events, "on_close").await,
            Event::Close(1011, PANIC_REASON.into())
        );
        wait_for_no_connections(&running.server).await;
        // on_close ran once: nothing more comes for that connection.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(events.try_recv().is_err(), "a second handler event");

        // The server keeps serving everyone else.
        let conn = running.connect().await;
        let (echo_tx, mut echoes) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, data| {
            let _ = echo_tx.send(data);
        });
        conn.write_text("still here").unwrap();
        assert_eq!(next(&mut echoes, "echo").await, Bytes::from("still here"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_vanishes_after_the_panic_is_still_released() {
    within(async {
        let (tx, mut events) = mpsc::unbounded_channel();
        let running = serve(boom_server(&tx)).await;
        let mut raw = raw_client(running.addr).await;
        raw.write_all(&masked_frame(true, 0, 0x1, b"boom"))
            .await
            .unwrap();
        // The client never answers the close frame and goes away.
        let mut buf = Vec::new();
        let first = read_frame(&mut raw, &mut buf).await.unwrap();
        assert_eq!(first.payload, b"before");
        drop(raw);
        assert!(matches!(
            next(&mut events, "on_error").await,
            Event::Error(_)
        ));
        assert!(matches!(
            next(&mut events, "on_close").await,
            Event::Close(1011, _)
        ));
        wait_for_no_connections(&running.server).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_in_on_connection_on_open_and_async_handlers_fail_with_1011() {
    within(async {
        let server = Server::new(config());
        server.on_connection(|conn: Conn| match conn.uri().path() {
            "/connection" => panic!("in on_connection"),
            "/open" => conn.on_open(|_| panic!("in on_open")),
            _ => conn.on_message_async(|_, _, _| async {
                tokio::task::yield_now().await;
                panic!("in an async handler");
            }),
        });
        let running = serve(server).await;
        for path in ["connection", "open", "async"] {
            let conn = Client::new(Config::default())
                .connect_url(&format!("{}{path}", running.url()))
                .await
                .unwrap();
            // The server may have failed the connection already (on_connection, on_open).
            let _ = conn.write_text("go");
            let (code, reason) = tokio::time::timeout(Duration::from_secs(10), conn.closed())
                .await
                .unwrap_or_else(|_| panic!("{path}: no close"));
            assert_eq!(
                (code, reason.as_str()),
                (CloseCode::INTERNAL_ERROR, PANIC_REASON),
                "{path}"
            );
        }
        wait_for_no_connections(&running.server).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_client_handler_fails_the_client_connection_with_1011() {
    within(async {
        // The server greets with "boom" and reports what it receives and how it closed.
        let server = Server::new(config());
        let (server_tx, mut server_events) = mpsc::unbounded_channel();
        server.on_connection(move |conn: Conn| {
            let t = server_tx.clone();
            conn.on_message(move |_, _, data| {
                let _ = t.send(Event::Message(MessageType::Text, data));
            });
            record_close_and_more(&conn, &server_tx);
            conn.write_text("boom").unwrap();
        });
        let running = serve(server).await;

        let conn = Client::new(config())
            .connect_url(&running.url())
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        conn.on_message(|c, _, data| {
            if &data[..] == b"boom" {
                c.write_text("last words").unwrap();
                panic!("client handler panic");
            }
        });
        record_close_and_more(&conn, &tx);

        // The server gets what was queued before the panic, then the 1011 close.
        assert_eq!(
            next(&mut server_events, "last words").await,
            Event::Message(MessageType::Text, Bytes::from("last words"))
        );
        assert_eq!(
            next(&mut server_events, "server on_close").await,
            Event::Close(1011, PANIC_REASON.into())
        );
        // The client: on_error with the panic, then on_close once, and closed() agrees.
        match next(&mut events, "client on_error").await {
            Event::Error(text) => assert!(text.contains("client handler panic"), "{text}"),
            other => panic!("expected on_error, got {other:?}"),
        }
        assert_eq!(
            next(&mut events, "client on_close").await,
            Event::Close(1011, PANIC_REASON.into())
        );
        let (code, _) = conn.closed().await;
        assert_eq!(code, CloseCode::INTERNAL_ERROR);
        assert!(matches!(conn.write_text("x"), Err(Error::ConnectionClosed)));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(events.try_recv().is_err(), "on_close or on_error ran twice");
        wait_for_no_connections(&running.server).await;
    })
    .await;
}
