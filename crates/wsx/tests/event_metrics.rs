//! Metrics through the `metrics` facade: with a recorder installed (here `metrics-util`'s
//! debugging recorder, before any server or client exists, as the docs ask), traffic moves
//! the counters, gauges and histograms the `wsx::metrics` table documents.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{next, raw_request, serve, within};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx::{Config, Conn, Server};

/// What the recorder saw so far. Its snapshots consume (a snapshot resets counters and
/// gauges to zero and drains histograms), so every snapshot is added up here; for a gauge the
/// sum of the consumed deltas is its value.
struct Tally {
    snapshotter: Snapshotter,
    seen: Vec<Seen>,
}

/// A metric's name, labels, and an amount a snapshot consumed.
type Seen = (String, Vec<(String, String)>, f64);

impl Tally {
    fn refresh(&mut self) {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key: CompositeKey = key;
            let amount = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(v) => v.len() as f64,
            };
            let name = key.key().name().to_owned();
            let labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            self.seen.push((name, labels, amount));
        }
    }

    /// The total of `name` over the entries carrying all of `labels`.
    fn total(&mut self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.refresh();
        self.seen
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, amount)| amount)
            .sum()
    }

    /// Waits (bounded) until `name` totals `value`.
    async fn settles(&mut self, name: &str, value: f64) {
        for _ in 0..500 {
            if self.total(name, &[]) == value {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(self.total(name, &[]), value, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_moves_the_documented_metrics() {
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally {
        snapshotter: recorder.snapshotter(),
        seen: Vec::new(),
    };
    recorder.install().unwrap();
    within(async {
        let server = Server::new(Config {
            ping_interval: Duration::from_millis(50),
            max_pending_bytes: 16,
            ..Config::default()
        });
        server.on_connection(|conn: Conn| {
            conn.on_message(|c, kind, data| {
                if &data[..] == b"fill" {
                    // The queue's bound is 16 bytes: the first goes (an empty queue takes
                    // any one message), the second finds it full.
                    let _ = c.write_binary(vec![0u8; 64]);
                    let _ = c.write_binary(vec![0u8; 64]);
                } else {
                    let _ = c.write_message(kind, data);
                }
            });
        });
        let running = serve(server).await;
        let conn = running.connect().await;
        // Server and client sides (the server's reader may start a moment after the client's).
        tally.settles("wsx_connections_active", 2.0).await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        conn.on_message(move |_, _, d| {
            let _ = tx.send(d);
        });
        for _ in 0..3 {
            conn.write_text("hello").unwrap();
            next(&mut rx, "echo").await;
        }
        conn.write_binary(vec![0u8; 10]).unwrap();
        next(&mut rx, "echo").await;
        // 3 texts of 5 bytes each way (received by the server, then by the client).
        let text = [("type", "text")];
        assert_eq!(tally.total("wsx_messages_received_total", &text), 6.0);
        assert_eq!(tally.total("wsx_bytes_received_total", &text), 30.0);
        assert_eq!(
            tally.total("wsx_messages_sent_total", &[("type", "binary")]),
            2.0
        );
        assert_eq!(
            tally.total("wsx_handshakes_total", &[("result", "ok")]),
            1.0
        );
        // A refused handshake, by its status.
        let (_s, head) = raw_request(running.addr, "Sec-WebSocket-Version: 8\r\n").await;
        assert!(head.starts_with("HTTP/1.1 4"), "{head}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let failed = [("result", "failed")];
        assert_eq!(tally.total("wsx_handshakes_total", &failed), 1.0);
        // Keep-alive round trips (a ping every 50 ms on both sides).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(tally.total("wsx_ping_rtt_seconds", &[]) >= 2.0);
        // A full queue.
        conn.write_text("fill").unwrap();
        next(&mut rx, "the write that fit").await;
        assert_eq!(tally.total("wsx_queue_full_total", &[]), 1.0);
        // Close codes both ways.
        conn.close(4000u16, "bye").unwrap();
        conn.closed().await;
        event_support::wait_for_no_connections(&running.server).await;
        let code = [("code", "4000")];
        assert_eq!(tally.total("wsx_close_codes_sent_total", &code), 1.0);
        assert!(tally.total("wsx_close_codes_received_total", &code) >= 1.0);
        tally.settles("wsx_connections_active", 0.0).await;
        assert_eq!(tally.total("wsx_connections_total", &[]), 2.0);
    })
    .await;
}
