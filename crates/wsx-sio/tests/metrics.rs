//! Socket.IO metrics (`wsx_sio::metrics`) move with traffic: a debugging recorder installed
//! before the server exists sees sockets per namespace, events in and out (a broadcast once
//! per receiver), room joins and leaves, and an acknowledgement timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Raw, start};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::time::Duration;
use wsx_sio::{Args, Server, Socket};

/// Adds up what the recorder saw (its snapshots consume: counters and gauges reset, so a
/// gauge's value is the sum of the deltas consumed).
struct Tally {
    snapshotter: Snapshotter,
    seen: Vec<(String, String, f64)>,
}

impl Tally {
    fn total(&mut self, name: &str) -> f64 {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let amount = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(v) => v.len() as f64,
            };
            let namespace = key
                .key()
                .labels()
                .find(|l| l.key() == "namespace")
                .map_or_else(String::new, |l| l.value().to_owned());
            self.seen
                .push((key.key().name().to_owned(), namespace, amount));
        }
        self.seen
            .iter()
            .filter(|(n, ns, _)| n == name && ns == "/")
            .map(|(_, _, a)| a)
            .sum()
    }

    async fn settles(&mut self, name: &str, value: f64) {
        for _ in 0..400 {
            if self.total(name) == value {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(self.total(name), value, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_moves_the_socket_io_metrics() {
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally {
        snapshotter: recorder.snapshotter(),
        seen: Vec::new(),
    };
    recorder.install().unwrap();
    let io = Server::new(wsx_sio::Config {
        ack_timeout: Duration::from_millis(100),
        ..wsx_sio::Config::default()
    });
    io.on_connection(|socket: Socket| async move {
        socket.on("join", |s: Socket, _: Args| async move {
            s.join("lobby");
            s.leave("lobby");
        });
        socket.on("shout", |s: Socket, args: Args| async move {
            let _ = s.hub().emit_args("shout", args);
        });
        // Never acknowledged by the raw clients below: a timeout.
        let ack = socket.emit_with_ack("ask", &1);
        tokio::spawn(ack);
    });
    let addr = start(&io).await;
    let (mut a, _) = Raw::connect_root(addr).await;
    let (mut b, _) = Raw::connect_root(addr).await;
    tally.settles("wsx_sio_sockets", 2.0).await;
    a.send(r#"42["join"]"#).await;
    a.send(r#"42["shout","hi"]"#).await;
    for raw in [&mut a, &mut b] {
        loop {
            let text = raw.text().await;
            if text.contains("shout") {
                break;
            }
        }
    }
    assert_eq!(tally.total("wsx_sio_events_received_total"), 2.0);
    // Two asks and one broadcast to two sockets.
    assert_eq!(tally.total("wsx_sio_events_sent_total"), 4.0);
    assert_eq!(tally.total("wsx_sio_room_joins_total"), 1.0);
    assert_eq!(tally.total("wsx_sio_room_leaves_total"), 1.0);
    tally.settles("wsx_sio_ack_timeouts_total", 2.0).await;
    drop(a);
    tally.settles("wsx_sio_sockets", 1.0).await;
}
