//! The Streams adapter's [`RecoveryStore`]: sessions under `sio:session:<pid>` in Redis and
//! packets in the stream itself, as `@socket.io/redis-streams-adapter` 0.3 keeps them, so a
//! client lost on any server of the cluster (a Node one included) recovers on any other.
//!
//! `restore(pid, offset)` does what Node's `restoreSession` does: takes the session (`GET` +
//! `DEL`), checks that `offset` is still in the stream, and keeps the broadcasts after it of
//! the session's namespace that reached its rooms (`entry::reached`). What differs is where
//! the entries come from (socket.io discussion #5423: in Node every recovering client reads
//! the stream on its own, at least three `XRANGE`s each):
//! - the ring (`ring.rs`): the tail this server's `XREAD` loop read anyway; an offset in it
//!   costs no read at all (the usual case: this server was up when the client was lost);
//! - for an offset older than the ring, one `XRANGE offset from` per distinct `(offset,
//!   from)`: concurrent restores from the same offset share it (single flight), and it is
//!   kept for those that come later (the last [`SPANS`] spans read);
//! - the session keys go in batches (`sessions.rs`).
//!
//! Each missed packet gets its entry id appended as its last argument, as it had when it was
//! delivered live, so the client's offset moves on (Node's restore leaves it out).
//!
//! `store` keeps nothing: the stream is the store.
//!
//! # Sessions of live sockets (issue 27 §4: a server killed mid-session)
//! Node stores a session when its socket's connection is lost, so the sockets of a server
//! that dies (killed, out of memory, its machine gone) can never recover. This store writes
//! the session of every socket as it connects ([`RecoveryStore::track`]), again within
//! [`TOUCHED`] of each room change (the adapter reports them), and every [`refresh_period`]
//! for all (each `SET` expiring after the recovery window plus that period), so that a
//! dead server's sockets recover elsewhere with the rooms they had. A socket that ends for
//! good (its client disconnected, or the server disconnected it) has its key deleted. The
//! cost, in batched `SET`s (`sessions.rs`): one per connection, one per room change, and the
//! server's sockets once per refresh period (a quarter of the window, at most 30 s: 10,000
//! sockets and the default two minutes are about 333 `SET`s a second, in a few pipelines).

use super::entry;
use super::link::{StreamLink, entries};
use super::ring::{After, EntryId, Logged, Replay};
use super::session;
use super::sessions::Sessions;
use crate::engine::transport::Frame;
use crate::packet::Parser;
use crate::recovery::LiveRooms;
use crate::recovery::{RecoveryStore, RestoreFuture, SavedSession};
use crate::rooms::BroadcastOptions;
use crate::sid::Sid;
use redis::Value as Rv;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How often the sessions of sockets whose rooms changed are written again.
const TOUCHED: Duration = Duration::from_millis(100);

/// How often every live session is written again: a quarter of the window, 1 to 30 s.
fn refresh_period(window: Duration) -> Duration {
    (window / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// A live socket's session, kept up to date in Redis.
struct Tracked {
    pid: Sid,
    rooms: LiveRooms,
}

/// How long a restore waits for this server's reader to reach an offset another server
/// handed out (its `XREAD` answers within a round trip of the `XADD`).
const CATCH_UP: Duration = Duration::from_secs(1);

/// How many spans read from Redis are kept for the restores that come later (a storm spreads
/// over a second or more; what lies between two entry ids never changes).
const SPANS: usize = 64;

/// Entries read from Redis for an offset older than the ring: shared by the restores from the
/// same offset, those at the same time (single flight) and those that come later.
type Span = Arc<OnceCell<Option<Arc<Vec<Arc<Logged>>>>>>;

/// The store. See the module docs.
pub struct StreamsStore(Arc<Inner>);

struct Inner {
    link: Arc<StreamLink>,
    sessions: Sessions,
    window: Duration,
    /// Live sockets' sessions, by namespace and socket id.
    tracked: Mutex<HashMap<(String, Sid), Tracked>>,
    /// Spans read (or being read) from Redis, by `(offset, from)`; at most [`SPANS`] read.
    reading: Mutex<HashMap<(EntryId, EntryId), Span>>,
}

impl std::fmt::Debug for StreamsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsStore")
            .field("window", &self.0.window)
            .finish_non_exhaustive()
    }
}

impl StreamsStore {
    /// A store on `link` whose sessions last `window` (call inside a Tokio runtime).
    pub(crate) fn new(link: Arc<StreamLink>, window: Duration) -> Self {
        let inner = Arc::new(Inner {
            sessions: Sessions::start(link.conn.clone()),
            link,
            window,
            tracked: Mutex::default(),
            reading: Mutex::default(),
        });
        tokio::spawn(refresh(Arc::downgrade(&inner)));
        Self(inner)
    }
}

/// Keeps the live sessions in Redis (see the module docs) while the store exists.
async fn refresh(store: Weak<Inner>) {
    let mut all = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(TOUCHED).await;
        let Some(store) = store.upgrade() else { return };
        let period = refresh_period(store.window);
        if all.elapsed() >= period {
            all = tokio::time::Instant::now();
            let keys: Vec<(String, Sid)> = store
                .tracked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .keys()
                .cloned()
                .collect();
            store.link.take_touched();
            for key in keys {
                store.write(&key);
            }
        } else {
            for key in store.link.take_touched() {
                store.write(&key);
            }
        }
    }
}

impl Inner {
    /// Writes the session of live socket `key` again, or deletes it if the socket ended for
    /// good (one whose connection was lost was [`RecoveryStore::persist`]ed, and untracked).
    fn write(&self, key: &(String, Sid)) {
        let mut tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(live) = tracked.get(key) else { return };
        let pid = live.pid;
        match (live.rooms)() {
            Some(rooms) => {
                let session = SavedSession {
                    sid: key.1,
                    pid,
                    namespace: key.0.clone(),
                    rooms,
                };
                let ttl = self.window + refresh_period(self.window);
                self.sessions
                    .set(self.key(pid.as_str()), session::encode(&session, None), ttl);
            }
            None => {
                tracked.remove(key);
                self.sessions.del(self.key(pid.as_str()));
            }
        }
    }

    fn key(&self, pid: &str) -> String {
        session::key(&self.link.options.session_key_prefix, pid)
    }

    /// The entries after `offset`, `None` when the stream no longer has `offset`.
    async fn after(self: Arc<Self>, offset: EntryId) -> Option<Vec<Arc<Logged>>> {
        match self.link.after(offset, CATCH_UP).await {
            After::Found(entries) => Some(entries),
            After::Unknown => None,
            After::Older { from, tail } => {
                let span = {
                    let mut spans = self.reading.lock().unwrap_or_else(PoisonError::into_inner);
                    if spans.len() >= SPANS && !spans.contains_key(&(offset, from)) {
                        spans.retain(|_, span| !span.initialized());
                    }
                    spans.entry((offset, from)).or_default().clone()
                };
                // A failed read is not kept: the next restore asks again.
                let read = span
                    .get_or_try_init(|| self.clone().xrange(offset, from))
                    .await
                    .ok()?
                    .clone();
                let mut entries: Vec<Arc<Logged>> = read?.iter().cloned().collect();
                entries.extend(tail);
                Some(entries)
            }
        }
    }

    /// `XRANGE stream offset from`: the entries after `offset` up to `from` (inclusive),
    /// `None` when `offset` is not the first (trimmed away, or never an entry); an error when
    /// Redis could not be asked.
    async fn xrange(
        self: Arc<Self>,
        offset: EntryId,
        from: EntryId,
    ) -> Result<Option<Arc<Vec<Arc<Logged>>>>, redis::RedisError> {
        let mut conn = self.link.conn.clone();
        let reply: Rv = redis::cmd("XRANGE")
            .arg(&self.link.options.stream_name)
            .arg(offset.to_string())
            .arg(from.to_string())
            .query_async(&mut conn)
            .await?;
        let mut found = entries(reply).into_iter();
        match found.next() {
            Some((first, _)) if EntryId::parse(&first) == Some(offset) => {}
            _ => return Ok(None),
        }
        let logged = found
            .filter_map(|(id, fields)| {
                let id = EntryId::parse(&id)?;
                let mut message =
                    entry::decode(fields.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).ok()?;
                let replay = Replay::of(&mut message);
                Some(Arc::new(Logged {
                    id,
                    nsp: message.nsp,
                    replay,
                }))
            })
            .collect();
        Ok(Some(Arc::new(logged)))
    }
}

impl RecoveryStore for StreamsStore {
    fn store(&self, _namespace: &str, _offset: &str, _opts: &BroadcastOptions, _frames: &[Frame]) {
        // The stream is the store.
    }

    fn persist(&self, session: SavedSession) {
        // Under the lock: a refresh that saw the socket gone deletes the key before this
        // sets it, never after (`write`).
        let mut tracked = self
            .0
            .tracked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tracked.remove(&(session.namespace.clone(), session.sid));
        let key = self.0.key(session.pid.as_str());
        self.0
            .sessions
            .set(key, session::encode(&session, None), self.0.window);
        drop(tracked);
    }

    fn track(&self, session: SavedSession, rooms: LiveRooms) {
        let key = (session.namespace.clone(), session.sid);
        let ttl = self.0.window + refresh_period(self.0.window);
        let mut tracked = self
            .0
            .tracked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.0.sessions.set(
            self.0.key(session.pid.as_str()),
            session::encode(&session, None),
            ttl,
        );
        tracked.insert(
            key,
            Tracked {
                pid: session.pid,
                rooms,
            },
        );
    }

    fn restore(&self, namespace: &str, pid: &str, offset: &str, parser: Parser) -> RestoreFuture {
        // Node's `restoreSession` refuses what is not an entry id before asking Redis.
        let (Some(offset), Some(_)) = (
            entry::is_offset(offset)
                .then(|| EntryId::parse(offset))
                .flatten(),
            Sid::parse(pid),
        ) else {
            return Box::pin(std::future::ready(None));
        };
        let key = self.0.key(pid);
        let namespace = namespace.to_owned();
        let inner = self.0.clone();
        Box::pin(async move {
            let sessions = inner.sessions.clone();
            let (raw, entries) = tokio::join!(sessions.take(key), inner.after(offset));
            let (session, _data) = session::decode(&namespace, &raw?).ok()?;
            let missed = entries?
                .iter()
                .filter(|e| e.nsp == namespace)
                .filter_map(|e| Some((e.id, e.replay.as_ref()?)))
                .filter(|(_, r)| {
                    !r.volatile && entry::reached(&session.rooms, &r.opts.rooms, &r.opts.except)
                })
                .map(|(id, r)| r.frames(parser, &namespace, Some(&id.to_string())))
                .collect();
            Some((session, missed))
        })
    }
}
