//! Graceful shutdown over loopback: every client gets close 1001, `shutdown()` returns within
//! `close_timeout`, the registry empties and the listener stops accepting.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{echo_server, next, raw_client, read_to_eof, serve, within};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsx::{Client, CloseCode, Config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_1001_to_every_client_and_returns() {
    const CLIENTS: usize = 5;
    within(async {
        let config = Config {
            close_timeout: Duration::from_secs(2),
            ..Config::default()
        };
        let running = serve(echo_server(config)).await;

        let (tx, mut closes) = mpsc::unbounded_channel();
        let mut conns = Vec::new();
        for i in 0..CLIENTS {
            let conn = running.connect().await;
            let tx = tx.clone();
            conn.on_close(move |_, code, reason| {
                let _ = tx.send((i, u16::from(code), reason.to_owned()));
            });
            // Make sure the server side is running: an echo round trip.
            let (echo_tx, mut echo) = mpsc::unbounded_channel();
            conn.on_message(move |_, _, data| {
                let _ = echo_tx.send(data);
            });
            conn.write_text("hello").unwrap();
            assert_eq!(next(&mut echo, "echo").await, "hello".as_bytes());
            conns.push(conn);
        }
        assert_eq!(running.server.connection_count(), CLIENTS);

        let started = Instant::now();
        running.server.shutdown().await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2) + Duration::from_secs(1),
            "shutdown took {took:?}, close_timeout is 2 s"
        );
        assert_eq!(
            running.server.connection_count(),
            0,
            "connections left after shutdown"
        );

        let mut seen = vec![None; CLIENTS];
        for _ in 0..CLIENTS {
            let (i, code, reason) = next(&mut closes, "a client's on_close").await;
            assert!(seen[i].is_none(), "client {i}: on_close twice");
            seen[i] = Some((code, reason));
        }
        for (i, close) in seen.iter().enumerate() {
            let (code, reason) = close.clone().unwrap();
            assert_eq!(
                code,
                u16::from(CloseCode::GOING_AWAY),
                "client {i} (reason {reason:?})"
            );
        }
        assert!(conns.iter().all(wsx::Conn::is_closed));

        // The listen loop ended: serve returned Ok and the port no longer accepts.
        let url = running.url();
        let served = tokio::time::timeout(Duration::from_secs(5), running.task)
            .await
            .expect("serve did not return after shutdown")
            .unwrap();
        assert!(served.is_ok(), "serve returned {served:?}");
        let refused = TcpStream::connect(running.addr).await;
        assert!(
            refused.is_err(),
            "a new TCP connection was accepted after shutdown"
        );
        let refused = Client::new(Config::default())
            .connect(&url, http::HeaderMap::new())
            .await;
        assert!(
            refused.is_err(),
            "a new WebSocket connection succeeded after shutdown"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_a_peer_that_never_answers_after_close_timeout() {
    // A raw client that never reads nor answers the close frame: shutdown waits close_timeout,
    // then drops it and returns anyway.
    within(async {
        let config = Config {
            close_timeout: Duration::from_millis(500),
            ..Config::default()
        };
        let server = wsx::Server::new(config);
        let (tx, mut closes) = mpsc::unbounded_channel();
        let (opened_tx, mut opened) = mpsc::unbounded_channel();
        server.on_connection(move |conn| {
            let tx = tx.clone();
            conn.on_close(move |_, code, _| {
                let _ = tx.send(u16::from(code));
            });
            let _ = opened_tx.send(());
        });
        let running = serve(server).await;
        let mut raw = raw_client(running.addr).await;
        next(&mut opened, "on_connection").await;
        assert_eq!(running.server.connection_count(), 1);

        let started = Instant::now();
        running.server.shutdown().await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(400)
                && took < Duration::from_millis(500) + Duration::from_secs(2),
            "shutdown took {took:?} with close_timeout 500 ms and a silent peer"
        );
        assert_eq!(running.server.connection_count(), 0);
        let code = next(&mut closes, "the server's on_close").await;
        assert_eq!(code, 1006, "a peer that never answered the close: 1006");
        // The raw peer got the 1001 close frame, then EOF.
        let bytes = tokio::time::timeout(Duration::from_secs(5), read_to_eof(&mut raw, 1 << 16))
            .await
            .expect("no EOF")
            .expect("read error instead of EOF");
        assert!(
            bytes.len() >= 4 && bytes[0] == 0x88 && bytes[2..4] == 1001u16.to_be_bytes(),
            "expected a close frame with 1001, got {bytes:02x?}"
        );
    })
    .await;
}
