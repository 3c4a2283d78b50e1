//! Connection state recovery (the Node server's `connectionStateRecovery`): a client that lost
//! its connection and comes back within `max_disconnection_duration` gets its old socket id,
//! its rooms, and every event packet it missed, in order; [`crate::Socket::recovered`] is true.
//!
//! How it works, as in the Node server (socket.io `lib/socket.ts`, `socket.io-adapter`'s
//! `SessionAwareAdapter`):
//! - the CONNECT answer carries a private session id, `40{"sid":..,"pid":..}`;
//! - every event packet sent without an acknowledgement gets an offset appended as its last
//!   argument (the client remembers the last one it saw), and the packet is kept with the
//!   rooms it went to;
//! - when a connection is lost (transport close or error, ping timeout, forced server close),
//!   the socket's id, private id and rooms are kept;
//! - a CONNECT whose auth payload holds `pid` and `offset` within the window restores that
//!   socket: same id, same rooms, and the kept packets after `offset` that were addressed to
//!   it are sent right after the CONNECT answer. An unknown `pid`, an expired session or an
//!   `offset` no longer kept gives a new session, as without recovery.
//!
//! The packets and sessions live in a [`RecoveryStore`]; [`MemoryStore`] (the default) keeps
//! them in this process. A networked store (the scale-out issue) implements the same trait.

use crate::engine::transport::Frame;
use crate::packet::Parser;
use crate::rooms::{BroadcastOptions, Room};
use crate::sid::Sid;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A socket kept after its connection was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSession {
    /// The socket id, given back on recovery.
    pub sid: Sid,
    /// The private id the client presents to recover.
    pub pid: Sid,
    /// The namespace.
    pub namespace: String,
    /// The rooms the socket was in (its own id room included or not).
    pub rooms: Vec<Room>,
}

/// What [`RecoveryStore::restore`] answers: the session and the frames of the packets it
/// missed, in order, or `None`.
pub type Restored = Option<(SavedSession, Vec<Vec<Frame>>)>;

/// The future of a [`RecoveryStore::restore`]: a networked store asks its server (the session
/// may have been lost on another node); [`MemoryStore`] answers at once.
pub type RestoreFuture = Pin<Box<dyn Future<Output = Restored> + Send>>;

/// Where recovery keeps sent packets and lost sessions.
pub trait RecoveryStore: Send + Sync + std::fmt::Debug {
    /// Keeps an event packet (its encoded frames, the offset already inside) sent in
    /// `namespace` to the sockets `opts` selects.
    fn store(&self, namespace: &str, offset: &str, opts: &BroadcastOptions, frames: &[Frame]);

    /// Keeps a socket whose connection was lost.
    fn persist(&self, session: SavedSession);

    /// Takes the session `pid` of `namespace` back, with the frames of the packets after
    /// `offset` that were addressed to it, in order (in `parser`'s form, for a store that
    /// keeps packets unencoded). `None` when the session is unknown or expired, or `offset`
    /// is no longer kept.
    fn restore(&self, namespace: &str, pid: &str, offset: &str, parser: Parser) -> RestoreFuture;

    /// A socket connected (a new session or a recovered one) with `session`; `rooms` tells
    /// its rooms while it is connected (`None` once it is not). A store that outlives this
    /// server (Redis) keeps the session from now on, so that it can still be restored when
    /// this server dies without [`Self::persist`]ing it. Default: nothing.
    fn track(&self, session: SavedSession, rooms: LiveRooms) {
        let _ = (session, rooms);
    }
}

/// What [`RecoveryStore::track`] asks for a live socket's rooms (its own id among them);
/// `None` once it is no longer connected.
pub type LiveRooms = Box<dyn Fn() -> Option<Vec<Room>> + Send + Sync>;

/// Recovery settings.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// How long a lost session can be recovered (default 2 minutes, as the Node server).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the namespace's connect middlewares (default
    /// `true`, as the Node server).
    pub skip_middlewares: bool,
    /// The store.
    pub store: Arc<dyn RecoveryStore>,
}

impl Default for Recovery {
    fn default() -> Self {
        Self::in_memory(Duration::from_secs(120))
    }
}

impl Recovery {
    /// Recovery within `max_disconnection_duration`, kept in this process ([`MemoryStore`]).
    #[must_use]
    pub fn in_memory(max_disconnection_duration: Duration) -> Self {
        Self {
            max_disconnection_duration,
            skip_middlewares: true,
            store: Arc::new(MemoryStore::new(max_disconnection_duration)),
        }
    }
}

/// A new offset: unique, opaque to the client.
pub(crate) fn new_offset() -> String {
    Sid::random().to_string()
}

#[derive(Debug)]
struct Kept {
    offset: String,
    at: Instant,
    opts: BroadcastOptions,
    frames: Vec<Frame>,
}

#[derive(Debug, Default)]
struct Namespace {
    packets: VecDeque<Kept>,
    sessions: HashMap<Sid, (SavedSession, Instant)>,
}

/// The in-memory [`RecoveryStore`]: packets and sessions are dropped once older than the
/// window, and at most [`MemoryStore::MAX_PACKETS`] packets are kept per namespace (a client
/// whose offset fell out gets a new session), so memory stays bounded.
#[derive(Debug)]
pub struct MemoryStore {
    window: Duration,
    namespaces: Mutex<HashMap<String, Namespace>>,
}

impl MemoryStore {
    /// The most packets kept per namespace.
    pub const MAX_PACKETS: usize = 65_536;

    /// A store whose sessions and packets last `window`.
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            namespaces: Mutex::default(),
        }
    }

    fn prune(&self, ns: &mut Namespace, now: Instant) {
        while ns
            .packets
            .front()
            .is_some_and(|p| now.duration_since(p.at) > self.window)
            || ns.packets.len() > Self::MAX_PACKETS
        {
            ns.packets.pop_front();
        }
        ns.sessions
            .retain(|_, (_, at)| now.duration_since(*at) <= self.window);
    }
}

/// Whether a packet sent to `opts` reached a socket `sid` in `rooms`.
fn addressed(opts: &BroadcastOptions, sid: Sid, rooms: &[Room]) -> bool {
    let member = |room: &Room| room == sid.as_str() || rooms.contains(room);
    (opts.rooms.is_empty() || opts.rooms.iter().any(member)) && !opts.except.iter().any(member)
}

impl RecoveryStore for MemoryStore {
    fn store(&self, namespace: &str, offset: &str, opts: &BroadcastOptions, frames: &[Frame]) {
        let now = Instant::now();
        let mut namespaces = self
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ns = namespaces.entry(namespace.to_owned()).or_default();
        ns.packets.push_back(Kept {
            offset: offset.to_owned(),
            at: now,
            opts: opts.clone(),
            frames: frames.to_vec(),
        });
        self.prune(ns, now);
    }

    fn persist(&self, session: SavedSession) {
        let now = Instant::now();
        let mut namespaces = self
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ns = namespaces.entry(session.namespace.clone()).or_default();
        self.prune(ns, now);
        ns.sessions.insert(session.pid, (session, now));
    }

    fn restore(&self, namespace: &str, pid: &str, offset: &str, _parser: Parser) -> RestoreFuture {
        Box::pin(std::future::ready(self.take(namespace, pid, offset)))
    }
}

impl MemoryStore {
    /// What [`RecoveryStore::restore`] answers, at once.
    fn take(&self, namespace: &str, pid: &str, offset: &str) -> Restored {
        let pid = Sid::parse(pid)?;
        let now = Instant::now();
        let mut namespaces = self
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ns = namespaces.get_mut(namespace)?;
        self.prune(ns, now);
        let (session, _) = ns.sessions.remove(&pid)?;
        let start = ns.packets.iter().position(|p| p.offset == offset)? + 1;
        let missed = ns
            .packets
            .iter()
            .skip(start)
            .filter(|p| addressed(&p.opts, session.sid, &session.rooms))
            .map(|p| p.frames.clone())
            .collect();
        Some((session, missed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Vec<Frame> {
        vec![Frame::Text(text.to_owned().into())]
    }

    #[test]
    fn restores_rooms_and_the_packets_after_the_offset_addressed_to_the_session() {
        let store = MemoryStore::new(Duration::from_secs(60));
        let (sid, pid) = (Sid::random(), Sid::random());
        let all = BroadcastOptions::default();
        let room = |r: &str| BroadcastOptions {
            rooms: vec![r.into()],
            ..BroadcastOptions::default()
        };
        store.store("/", "o1", &all, &frame("a"));
        store.persist(SavedSession {
            sid,
            pid,
            namespace: "/".into(),
            rooms: vec!["r".into()],
        });
        store.store("/", "o2", &room("r"), &frame("b"));
        store.store("/", "o3", &room("other"), &frame("c"));
        store.store("/", "o4", &room(sid.as_str()), &frame("d"));
        let except = BroadcastOptions {
            except: vec!["r".into()],
            ..BroadcastOptions::default()
        };
        store.store("/", "o5", &except, &frame("e"));
        store.store("/admin", "o6", &all, &frame("f"));
        store.store("/", "o7", &all, &frame("g"));
        let (session, missed) = store.take("/", pid.as_str(), "o1").expect("restored");
        assert_eq!(session.sid, sid);
        assert_eq!(session.rooms, vec!["r".to_owned()]);
        assert_eq!(missed, vec![frame("b"), frame("d"), frame("g")]);
        // Taken: a second restore is a new session.
        assert!(store.take("/", pid.as_str(), "o1").is_none());
    }

    #[test]
    fn unknown_offsets_and_expired_sessions_are_not_restored() {
        let store = MemoryStore::new(Duration::from_millis(0));
        let pid = Sid::random();
        store.store("/", "o1", &BroadcastOptions::default(), &frame("a"));
        store.persist(SavedSession {
            sid: Sid::random(),
            pid,
            namespace: "/".into(),
            rooms: vec![],
        });
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.take("/", pid.as_str(), "o1").is_none());

        let store = MemoryStore::new(Duration::from_secs(60));
        store.persist(SavedSession {
            sid: Sid::random(),
            pid,
            namespace: "/".into(),
            rooms: vec![],
        });
        assert!(store.take("/", pid.as_str(), "nope").is_none());
        assert!(store.take("/", "not a pid", "o1").is_none());
    }
}
