//! What the admin UI's `aggregatedEvents` count (`crate::admin`): connections opened and
//! closed, Engine.IO message packets and their bytes in each direction, per second, as Node's
//! `@socket.io/admin-ui` 0.5 counts them in its `EventBuffer` (`dist/index.js`,
//! `registerEngineListeners`):
//! - `rawConnection` when a connection starts, `rawDisconnection` with the Engine.IO close
//!   reason as `subType` when it ends;
//! - `packetsOut` / `bytesOut` for each message packet written to a client (the engine's
//!   `packetCreate` with `data`: a Socket.IO packet's text without the Engine.IO `4`, or one
//!   binary attachment, or with the msgpack parser the whole binary packet), `packetsIn` /
//!   `bytesIn` for each one a client sent (the engine's `packet` with `data`). Opening,
//!   heartbeat and upgrade packets carry no data and are not counted, as in Node.
//!
//! Off (one relaxed load per write batch and per received message) until the admin UI turns
//! it on. On, each counted batch takes one uncontended lock and one clock read: a write of
//! several queued frames counts once.

use crate::engine::transport::Frame;
use crate::namespace::DisconnectReason;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// One entry of Node's `EventBuffer`: `count` events of `kind` (and `sub`) during the
/// second that starts at `second` (milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Aggregated {
    pub(crate) second: u64,
    pub(crate) kind: &'static str,
    pub(crate) sub: Option<&'static str>,
    pub(crate) count: u64,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    on: AtomicBool,
    buffer: Mutex<Vec<Aggregated>>,
}

/// The second now starts at, in milliseconds since the epoch (Node's
/// `timestamp.setMilliseconds(0)`).
fn this_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().saturating_mul(1000))
}

/// The Engine.IO close reason of a connection that ended for `reason` (Node's engine
/// socket `close` event, which the admin UI reports as `rawDisconnection`'s `subType`).
fn engine_reason(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose | DisconnectReason::ClientNamespaceDisconnect => {
            "transport close"
        }
        DisconnectReason::TransportError => "transport error",
        DisconnectReason::PingTimeout => "ping timeout",
        DisconnectReason::ParseError => "parse error",
        // The server closed it: Node's `socket.close()` is `forced close`.
        _ => "forced close",
    }
}

impl Traffic {
    /// Starts counting (the admin UI is instrumented).
    pub(crate) fn enable(&self) {
        self.on.store(true, Ordering::Relaxed);
    }

    fn add(&self, events: &[(&'static str, Option<&'static str>, u64)]) {
        let second = this_second();
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        for &(kind, sub, count) in events {
            match buffer
                .iter_mut()
                .rev()
                .find(|e| e.second == second && e.kind == kind && e.sub == sub)
            {
                Some(entry) => entry.count += count,
                None => buffer.push(Aggregated {
                    second,
                    kind,
                    sub,
                    count,
                }),
            }
        }
    }

    /// A connection started.
    pub(crate) fn opened(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.add(&[("rawConnection", None, 1)]);
        }
    }

    /// A connection ended for `reason`.
    pub(crate) fn closed(&self, reason: DisconnectReason) {
        if self.on.load(Ordering::Relaxed) {
            self.add(&[("rawDisconnection", Some(engine_reason(reason)), 1)]);
        }
    }

    /// `frames` were written to a client: the message packets among them count (a text frame
    /// `4..` without its type digit, a binary frame whole).
    pub(crate) fn written(&self, frames: &[Frame]) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let (mut packets, mut bytes) = (0u64, 0u64);
        for frame in frames {
            let len = match frame {
                Frame::Text(text) if text.as_bytes().first() == Some(&b'4') => text.len() - 1,
                Frame::Text(_) => continue,
                Frame::Binary(data) => data.len(),
            };
            packets += 1;
            bytes += len as u64;
        }
        if packets > 0 {
            self.add(&[("packetsOut", None, packets), ("bytesOut", None, bytes)]);
        }
    }

    /// A message packet of `len` bytes came from a client (its text without the type
    /// digit, or a binary message).
    pub(crate) fn received(&self, len: usize) {
        if self.on.load(Ordering::Relaxed) {
            self.add(&[("packetsIn", None, 1), ("bytesIn", None, len as u64)]);
        }
    }

    /// What was counted since the last call (Node's `getValuesAndClear`).
    pub(crate) fn take(&self) -> Vec<Aggregated> {
        std::mem::take(&mut *self.buffer.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_message_packets_and_their_bytes_per_second() {
        let traffic = Traffic::default();
        traffic.written(&[Frame::Text("42[\"a\"]".into())]);
        assert!(traffic.take().is_empty(), "off until enabled");
        traffic.enable();
        traffic.written(&[
            Frame::Text("42[\"a\"]".into()),
            Frame::Text("2".into()),
            Frame::Binary(vec![1, 2, 3].into()),
        ]);
        traffic.received(5);
        traffic.received(7);
        traffic.closed(DisconnectReason::PingTimeout);
        let mut got: Vec<(&str, Option<&str>, u64)> = traffic
            .take()
            .into_iter()
            .map(|e| (e.kind, e.sub, e.count))
            .collect();
        got.sort_unstable();
        // Two seconds may have passed between the calls: add the counts up per kind.
        got.dedup_by(|b, a| {
            let same = a.0 == b.0 && a.1 == b.1;
            if same {
                a.2 += b.2;
            }
            same
        });
        assert_eq!(
            got,
            vec![
                ("bytesIn", None, 12),
                ("bytesOut", None, 9),
                ("packetsIn", None, 2),
                ("packetsOut", None, 2),
                ("rawDisconnection", Some("ping timeout"), 1),
            ]
        );
        assert!(traffic.take().is_empty(), "cleared");
    }
}
