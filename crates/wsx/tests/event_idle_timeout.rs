//! `idle_timeout`: a connection on which no data message arrives for that long is closed with
//! 1001; data messages keep it open (pings and pongs do not count as data).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{echo_server, next, serve, within};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wsx::{CloseCode, Config};

fn idle(ms: u64) -> Config {
    Config {
        idle_timeout: Duration::from_millis(ms),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_connection_is_closed_with_1001_after_idle_timeout() {
    within(async {
        let running = serve(echo_server(idle(300))).await;
        let conn = running.connect().await;
        let started = Instant::now();
        let (tx, mut closes) = mpsc::unbounded_channel();
        conn.on_close(move |_, code, reason| {
            let _ = tx.send((u16::from(code), reason.to_owned()));
        });
        let (code, reason) = next(&mut closes, "on_close after idle_timeout").await;
        let elapsed = started.elapsed();
        assert_eq!(code, u16::from(CloseCode::GOING_AWAY), "reason {reason:?}");
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed <= Duration::from_millis(1800),
            "closed after {elapsed:?}, idle_timeout is 300 ms"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_messages_keep_a_connection_open_past_idle_timeout() {
    within(async {
        let running = serve(echo_server(idle(400))).await;
        let conn = running.connect().await;
        let (tx, mut echoes) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, data| {
            let _ = tx.send(data);
        });
        let (close_tx, mut closes) = mpsc::unbounded_channel();
        conn.on_close(move |_, code, _| {
            let _ = close_tx.send(u16::from(code));
        });
        // A message every 100 ms for 1 s: 2.5 idle periods, never idle for one.
        let started = Instant::now();
        for i in 0..10 {
            conn.write_text(format!("tick {i}")).unwrap();
            assert_eq!(
                next(&mut echoes, "echo").await,
                format!("tick {i}").as_bytes()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(started.elapsed() >= Duration::from_millis(800));
        assert!(
            closes.try_recv().is_err(),
            "closed while messages were flowing"
        );
        assert!(!conn.is_closed());
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
        assert_eq!(next(&mut closes, "on_close").await, 1000);
    })
    .await;
}
