//! Typed per-connection state on `Conn`: set in one handler, read and changed in the next,
//! still readable in `on_close`, dropped when the connection ends (no global map, no clean-up).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{next, serve, within};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;
use wsx::{Config, Conn, Server};

/// A nickname, as a chat server keeps it.
#[derive(Clone, Debug, PartialEq)]
struct Nick(String);

/// Counts its drops, to see the state go with the connection.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_lives_on_the_connection_and_is_dropped_with_it() {
    within(async {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (close_tx, mut closes) = mpsc::unbounded_channel();
        let server = Server::new(Config::default());
        let d = dropped.clone();
        server.on_connection(move |conn: Conn| {
            assert!(conn.state::<Nick>().is_none());
            conn.set_state(Tracked(d.clone()));
            conn.on_message(|c, _, data| {
                let text = String::from_utf8_lossy(&data).into_owned();
                if let Some(name) = text.strip_prefix("/nick ") {
                    let old = c.set_state(Nick(name.to_owned()));
                    let _ = c.write_text(format!("was {:?}", old.map(|n| n.0)));
                } else if text == "/forget" {
                    let _ = c.write_text(format!("forgot {:?}", c.take_state::<Nick>()));
                } else if text == "/shout" {
                    c.with_state(|nick: &mut Nick| nick.0.make_ascii_uppercase());
                    let _ = c.write_text("ok");
                } else {
                    let nick = c.state::<Nick>().map_or_else(|| "anon".to_owned(), |n| n.0);
                    let _ = c.write_text(format!("{nick}: {text}"));
                }
            });
            let tx = close_tx.clone();
            conn.on_close(move |c, _, _| {
                // Still there in on_close.
                let _ = tx.send(c.state::<Nick>());
            });
        });
        let running = serve(server).await;
        let conn = running.connect().await;
        let (tx, mut replies) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, data| {
            let _ = tx.send(data);
        });
        for (send, expect) in [
            ("hi", "anon: hi"),
            ("/nick ana", "was None"),
            ("hi", "ana: hi"),
            ("/nick bea", "was Some(\"ana\")"),
            ("/shout", "ok"),
            ("hi", "BEA: hi"),
            ("/forget", "forgot Some(Nick(\"BEA\"))"),
            ("hi", "anon: hi"),
            ("/nick cy", "was None"),
        ] {
            conn.write_text(send).unwrap();
            assert_eq!(next(&mut replies, expect).await, Bytes::from(expect));
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        conn.close(1000u16, "bye").unwrap();
        assert_eq!(
            next(&mut closes, "server on_close").await,
            Some(Nick("cy".into()))
        );
        event_support::wait_for_no_connections(&running.server).await;
        // The server's handle to the connection is gone and its state dropped with it.
        for _ in 0..200 {
            if dropped.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "state dropped exactly once"
        );
    })
    .await;
}
