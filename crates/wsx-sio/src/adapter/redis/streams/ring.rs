//! The per-server ring of the stream's tail (issue 27 §3, "go past Node"): every entry this
//! server's `XREAD` loop read, decoded once, kept in order, at most `maxLen` of them (the
//! stream holds no more either). A restore whose offset lies in the ring reads no stream at
//! all; only an offset older than the ring's start asks Redis (`store.rs`).
//!
//! The ring is complete from `from` (exclusive: the entry before its first one, or where the
//! reader started) to its last entry; `from` and every entry in the ring are still in the
//! stream, because the stream keeps at least `maxLen` entries (`MAXLEN ~` trims whole
//! blocks and never below the bound) and the ring holds at most that many after `from`.

use super::super::sharded::message::{Message, kind};
use super::super::wire;
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::frames::event_frames;
use crate::packet::Parser;
use crate::rooms::BroadcastOptions;
use rmpv::Value as Mp;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;

/// A stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct EntryId(pub(crate) u64, pub(crate) u64);

impl EntryId {
    /// Parses `<ms>-<seq>`.
    pub(crate) fn parse(id: &str) -> Option<Self> {
        let (ms, seq) = id.split_once('-')?;
        Some(Self(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// A broadcast without acknowledgement, as a recovering socket may need it again.
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    pub(crate) opts: BroadcastOptions,
    /// Sent with Node's `volatile` flag: never given an offset nor replayed.
    pub(crate) volatile: bool,
    pub(crate) event: String,
    pub(crate) args: Args,
}

impl Replay {
    /// The broadcast a message carries (`None` for other messages, and for broadcasts with
    /// acknowledgements, which never go to the stream).
    pub(crate) fn of(message: &mut Message) -> Option<Self> {
        if !Self::is_plain_broadcast(message) {
            return None;
        }
        let volatile = volatile(&message.data);
        let (opts, _) = message.opts().ok()?;
        let (event, args) = message.event().ok()?;
        Some(Self {
            opts,
            volatile,
            event,
            args,
        })
    }

    /// Whether `message` is a broadcast without acknowledgements (no `requestId`).
    pub(crate) fn is_plain_broadcast(message: &Message) -> bool {
        message.kind == kind::BROADCAST
            && !message
                .data
                .iter()
                .any(|(k, _)| k.as_str() == Some("requestId"))
    }

    /// The frames of the event with `offset` appended (Node's `addOffsetIfNecessary`).
    pub(crate) fn frames(&self, parser: Parser, nsp: &str, offset: Option<&str>) -> Vec<Frame> {
        let mut args = self.args.clone();
        if let Some(offset) = offset {
            args.values.push(Value::String(offset.to_owned()));
        }
        event_frames(parser, nsp, &self.event, args, None)
    }
}

/// `data.opts.flags.volatile` is set (Node checks `opts.flags?.volatile === undefined`).
fn volatile(data: &[(Mp, Mp)]) -> bool {
    let field = |map: &[(Mp, Mp)], key: &str| {
        map.iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v.clone())
    };
    field(data, "opts")
        .and_then(wire::map_entries)
        .and_then(|opts| field(&opts, "flags"))
        .and_then(wire::map_entries)
        .and_then(|flags| field(&flags, "volatile"))
        .is_some_and(|v| !v.is_nil())
}

/// One entry of the stream, decoded.
#[derive(Debug)]
pub(crate) struct Logged {
    pub(crate) id: EntryId,
    pub(crate) nsp: String,
    pub(crate) replay: Option<Replay>,
}

/// What the ring knows of the entries after an offset.
#[derive(Debug)]
pub(crate) enum After {
    /// The offset is `from` or in the ring: these entries follow it, in order.
    Found(Vec<Arc<Logged>>),
    /// The offset is older than the ring: Redis has the entries up to `from` (inclusive);
    /// `tail` is the ring's part.
    Older {
        from: EntryId,
        tail: Vec<Arc<Logged>>,
    },
    /// Not an entry the stream has (or had): after `from` but not in the ring.
    Unknown,
}

/// The ring. See the module docs.
#[derive(Debug)]
pub(crate) struct Ring {
    from: EntryId,
    entries: VecDeque<Arc<Logged>>,
    capacity: usize,
}

impl Ring {
    /// An empty ring that starts after `from`, holding at most `capacity` entries.
    pub(crate) fn new(from: EntryId, capacity: usize) -> Self {
        Self {
            from,
            entries: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The last id the ring knows.
    pub(crate) fn last(&self) -> EntryId {
        self.entries.back().map_or(self.from, |e| e.id)
    }

    /// Appends an entry the reader read (in stream order).
    pub(crate) fn push(&mut self, entry: Arc<Logged>) {
        if entry.id <= self.last() {
            return;
        }
        self.entries.push_back(entry);
        while self.entries.len() > self.capacity {
            if let Some(old) = self.entries.pop_front() {
                self.from = old.id;
            }
        }
    }

    /// The entries after `offset`.
    pub(crate) fn after(&self, offset: EntryId) -> After {
        // `0-0` is where an empty stream starts, never an entry.
        if offset < self.from || (offset == self.from && offset == EntryId(0, 0)) {
            return After::Older {
                from: self.from,
                tail: self.entries.iter().cloned().collect(),
            };
        }
        if offset == self.from {
            return After::Found(self.entries.iter().cloned().collect());
        }
        match self.entries.binary_search_by(|e| e.id.cmp(&offset)) {
            Ok(at) => After::Found(self.entries.iter().skip(at + 1).cloned().collect()),
            Err(_) => After::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(ms: u64) -> Arc<Logged> {
        Arc::new(Logged {
            id: EntryId(ms, 0),
            nsp: "/".into(),
            replay: None,
        })
    }

    fn ids(entries: &[Arc<Logged>]) -> Vec<u64> {
        entries.iter().map(|e| e.id.0).collect()
    }

    #[test]
    fn the_ring_answers_what_it_holds_and_says_when_redis_must() {
        let mut ring = Ring::new(EntryId(10, 0), 3);
        for ms in [11, 12, 13] {
            ring.push(logged(ms));
        }
        ring.push(logged(12)); // read twice (a reconnection): ignored
        assert!(matches!(ring.after(EntryId(10, 0)), After::Found(e) if ids(&e) == [11, 12, 13]));
        assert!(matches!(ring.after(EntryId(12, 0)), After::Found(e) if ids(&e) == [13]));
        assert!(matches!(ring.after(EntryId(13, 0)), After::Found(e) if e.is_empty()));
        assert!(matches!(ring.after(EntryId(12, 1)), After::Unknown));
        ring.push(logged(14));
        assert_eq!(ring.last(), EntryId(14, 0));
        // 11 fell out: it is `from` now, still answered; 10 is Redis's.
        assert!(matches!(ring.after(EntryId(11, 0)), After::Found(e) if ids(&e) == [12, 13, 14]));
        assert!(
            matches!(ring.after(EntryId(10, 0)), After::Older { from, tail } if from == EntryId(11, 0) && ids(&tail) == [12, 13, 14])
        );
        let empty = Ring::new(EntryId(0, 0), 3);
        assert!(matches!(empty.after(EntryId(0, 0)), After::Older { .. }));
        assert_eq!(EntryId::parse("5-7"), Some(EntryId(5, 7)));
        assert!(EntryId(5, 7) < EntryId(6, 0));
        assert_eq!(EntryId(5, 7).to_string(), "5-7");
    }
}
