//! `idle_timeout`: a connection on which no data message arrives for that long is closed with
//! 1001; data messages keep it open (pings and pongs do not count as data). On a paused tokio
//! clock over in-memory pipes (see `event_support::memory`): deadlines checked to the
//! millisecond.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::memory::connect_pipe;
use event_support::{echo_server, next, within};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use wsx::{CloseCode, Config};

fn idle(ms: u64) -> Config {
    Config {
        idle_timeout: Duration::from_millis(ms),
        ..Config::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_quiet_connection_is_closed_with_1001_after_idle_timeout() {
    within(async {
        let server = echo_server(idle(300));
        let started = Instant::now();
        let (conn, _task) = connect_pipe(&server, Config::default()).await;
        let (tx, mut closes) = mpsc::unbounded_channel();
        conn.on_close(move |_, code, reason| {
            let _ = tx.send((u16::from(code), reason.to_owned()));
        });
        let (code, reason) = next(&mut closes, "on_close after idle_timeout").await;
        let elapsed = started.elapsed();
        assert_eq!(
            (code, reason.as_str()),
            (u16::from(CloseCode::GOING_AWAY), "idle timeout")
        );
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed <= Duration::from_millis(302),
            "closed after {elapsed:?} of virtual time, idle_timeout is 300 ms"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn data_messages_keep_a_connection_open_past_idle_timeout() {
    within(async {
        // The client pings every 50 ms: control frames must not count as data.
        let server = echo_server(idle(400));
        let client = Config {
            ping_interval: Duration::from_millis(50),
            ..Config::default()
        };
        let (conn, _task) = connect_pipe(&server, client).await;
        let (tx, mut echoes) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, data| {
            let _ = tx.send(data);
        });
        let (close_tx, mut closes) = mpsc::unbounded_channel();
        conn.on_close(move |_, code, _| {
            let _ = close_tx.send(u16::from(code));
        });
        // A message every 390 ms for 10 rounds: nearly 4 s, ten idle periods, never idle for
        // one.
        let started = Instant::now();
        for i in 0..10 {
            conn.write_text(format!("tick {i}")).unwrap();
            assert_eq!(
                next(&mut echoes, "echo").await,
                format!("tick {i}").as_bytes()
            );
            tokio::time::sleep(Duration::from_millis(390)).await;
        }
        assert!(started.elapsed() >= Duration::from_millis(3900));
        assert!(
            closes.try_recv().is_err(),
            "closed while messages were flowing"
        );
        assert!(!conn.is_closed());
        // Then only pings: idle 400 ms after the last message.
        let quiet = Instant::now();
        assert_eq!(next(&mut closes, "on_close").await, 1001);
        let elapsed = quiet.elapsed();
        assert!(
            elapsed <= Duration::from_millis(20),
            "closed {elapsed:?} after the last sleep, want 10 ms (400 - 390)"
        );
    })
    .await;
}
