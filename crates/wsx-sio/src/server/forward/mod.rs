//! No sticky sessions: a request for a session that another node of the cluster owns is
//! forwarded to that node, never refused.
//!
//! Behind a balancer without affinity (round robin, most managed HTTP/2 balancers, many users
//! behind one NAT address) the requests of one Engine.IO session land on any node: the
//! long-polling `GET`s and `POST`s, and the WebSocket upgrade. A session is owned by the node
//! that opened it, because its Socket.IO state lives there: the sockets, their rooms, the
//! handler tasks and their local state, the acknowledgements in flight. Any other node that
//! gets one of its requests passes it on to the owner, node to node over HTTP/1.1, and relays
//! the answer.
//!
//! # How a node finds the owner
//! - **Who**: a session id starts with its owner's node tag ([`Forwarding::node`], 6 random
//!   URL-safe characters chosen at start; the other 14 characters of the id stay random). A
//!   node reads the owner from the id alone: no lookup per session.
//! - **Where**: the tag's address, `host:port` that the other nodes can reach
//!   ([`Forwarding::start`]'s `advertise`), is kept in a [`Directory`]. The Redis one (the
//!   adapter's own connection, the classic [`crate::adapter::redis::Redis`] or the sharded
//!   [`crate::adapter::redis::sharded::ShardedRedis`], feature `redis`) keeps the key `<key>#wsx-node#<tag>` with a
//!   time to live, refreshed every [`ForwardOptions::advertise_interval`] (so a Redis that
//!   restarted empty has it again within that time; while advertising fails it is retried
//!   every 250 ms), deleted by [`crate::Server::shutdown`].
//!   A node caches each address after its first lookup: Redis is asked once per owner node,
//!   not per request.
//!
//! # What is forwarded, and how
//! - **Polling `GET` and `POST`** (a `sid` this node has no session for, whose tag is another
//!   node's): sent to the owner on a pool of keep-alive HTTP/1.1 connections (at most 64 idle
//!   per owner, each reused for at most 4 s, less than the time a node keeps an idle
//!   connection), with the header `x-wsx-forwarded` (a request that carries it is never
//!   forwarded again: no loops). `Host` and the other end-to-end headers go along unchanged
//!   (the owner checks `Origin` against `Host` as it would for a direct request). A `POST`
//!   body is read first (at most `maxPayload`, as on the owner). The owner's status,
//!   `Content-Type` and body are the answer.
//! - **The WebSocket upgrade** of a polling session is tunnelled, not moved: the upgrade
//!   request goes to the owner, its `101` comes back to the client, then the bytes are copied
//!   both ways until either side closes. Moving the session would have to move what cannot
//!   move: the handlers' state on the owner (closures, tasks, acknowledgements waiting). The
//!   tunnel is transparent (the owner does the probe, the upgrade, the heartbeat and the
//!   WebSocket extensions itself), so nothing is lost, doubled or reordered. An HTTP/2
//!   extended CONNECT (RFC 8441) is tunnelled as an HTTP/1.1 upgrade with a key of our own.
//! - The request that opens a session (no `sid`) is never forwarded: the node it reached owns
//!   the new session.
//!
//! # What it costs
//! - Nothing on one node or without [`crate::Config::forwarding`]: ids are fully random and an
//!   unknown `sid` is refused as before. With forwarding on, a request for a local session is
//!   served exactly as before; the forwarding path starts where the session table has no
//!   entry.
//! - A forwarded request: one more hop on a warm connection, and the answer read whole before
//!   it is passed on. Measured on loopback, release build, 300 one-packet `POST`s one at a
//!   time on a keep-alive client connection, six rounds in two runs: 70-92 us median
//!   straight to the owner, 104-129 us through the other node, 35-45 us added per forwarded poll
//!   (`scripts/sio_forward_latency.py A B` against two release `sio_demo --advertise auto`
//!   nodes). In a debug build (`cargo test -p wsx-sio --features redis --test round_robin
//!   forwarded_poll_latency -- --nocapture`, a new client connection per request) 0.45-0.73 ms
//!   are added. Across hosts add one network round trip between the nodes.
//! - A long poll held for the owner holds one node-to-node connection while it waits (as
//!   long as the owner holds the `GET`, at most `pingInterval`).
//! - A tunnelled WebSocket passes through two nodes for its whole life: one more TCP
//!   connection and one copy of each byte on the node that took it.
//!
//! # When things fail
//! - **The owner is gone** (its address refuses connections): `400`
//!   `{"code":1,"message":"Session ID unknown"}`, what the owner itself would answer after a
//!   restart. The clients reconnect, to any node, and open a new session there. A tunnel
//!   whose owner dies closes, and its client reconnects the same way.
//! - **The owner does not answer** (hung, or stopped): `504 Gateway Timeout` with a text body
//!   naming the node, after [`ForwardOptions::timeout`] (a `GET` gets `pingInterval` more:
//!   the owner holds it that long by design). Never a hang.
//! - **The owner breaks the connection mid-answer**: `502 Bad Gateway`.
//! - **The directory is down** (Redis restarting) and the owner's address is not cached yet:
//!   `503 Service Unavailable` within [`ForwardOptions::lookup_timeout`] (1 s), the body
//!   naming Redis' error. Owners already cached are still reached (Redis is an address book
//!   here, not a path). Once Redis is back, the nodes advertise again within
//!   [`ForwardOptions::advertise_interval`], and lookups succeed.
//! - **A tag that no node advertises** (a node gone for longer than its entry's time to
//!   live, a forged id): `400` "Session ID unknown", after one more lookup an
//!   `advertise_interval` later (a Redis that restarted empty knows every live node again by
//!   then).
//!
//! [`crate::Server::upgrade_hyper`] (for routers that cannot await) does not tunnel: it
//! refuses an upgrade of a session it does not own, as before.

mod pool;
mod proxy;
#[cfg(feature = "redis")]
mod redis;
mod tunnel;

use crate::adapter::AdapterError;
use crate::sid::Sid;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// The length of a node tag, the prefix of the session ids a node hands out.
pub const NODE_TAG_LEN: usize = 6;

/// The header a forwarded request carries (its value: the forwarding node's tag). A node never
/// forwards a request that has it.
pub const FORWARDED_HEADER: &str = "x-wsx-forwarded";

/// What a [`Directory`] call returns.
pub type DirectoryFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send + 'a>>;

/// Where the nodes of a cluster can be reached: node tag -> `host:port`. The Redis adapter's
/// [`crate::adapter::redis::Redis`] is one (feature `redis`); a deployment with another
/// registry (Consul, DNS, a static table) implements this.
pub trait Directory: Send + Sync + 'static {
    /// Publishes that `node` is at `address`, for `ttl` (then it is forgotten unless
    /// published again).
    fn advertise<'a>(
        &'a self,
        node: &'a str,
        address: &'a str,
        ttl: Duration,
    ) -> DirectoryFuture<'a, ()>;

    /// The address of `node`; `None` when no node has that tag.
    fn lookup<'a>(&'a self, node: &'a str) -> DirectoryFuture<'a, Option<String>>;

    /// Forgets `node` (it shuts down).
    fn withdraw<'a>(&'a self, node: &'a str) -> DirectoryFuture<'a, ()>;

    /// What the directory is, for error messages (`"Redis"`).
    fn name(&self) -> &str {
        "the directory"
    }
}

/// The settings of [`Forwarding`].
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    /// How long the owner may take to answer a forwarded request or a tunnel's upgrade
    /// (default 10 s, as `Config::body_timeout`); a `GET` gets `pingInterval` more. Then the
    /// client gets `504`.
    pub timeout: Duration,
    /// How long a directory lookup may take (default 1 s); then the client gets `503`.
    pub lookup_timeout: Duration,
    /// How often this node advertises its address again (default 2 s; the entry lives 5
    /// times as long).
    pub advertise_interval: Duration,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            lookup_timeout: Duration::from_secs(1),
            advertise_interval: Duration::from_secs(2),
        }
    }
}

/// A node's part in forwarding (see the module docs): its tag, its advertised address, the
/// directory, the known owners' addresses and the connections to them. Set it as
/// [`crate::Config::forwarding`]. Cheap to clone.
#[derive(Clone)]
pub struct Forwarding(Arc<Inner>);

struct Inner {
    node: String,
    address: String,
    directory: Arc<dyn Directory>,
    options: ForwardOptions,
    /// Owner tag -> address, filled by lookups (a node's tag is never reused: an entry never
    /// goes stale, only dead).
    known: Mutex<HashMap<String, String>>,
    pool: pool::Pool,
    /// Set once withdrawn: the advertising task stops.
    withdrawn: AtomicBool,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding")
            .field("node", &self.0.node)
            .field("address", &self.0.address)
            .field("options", &self.0.options)
            .finish_non_exhaustive()
    }
}

/// At most this many owner addresses are cached (then the cache starts over).
const KNOWN_MAX: usize = 4096;

impl Forwarding {
    /// Joins a cluster: picks this node's tag, advertises `address` (`host:port` where the
    /// other nodes reach this server's listener) in `directory`, and keeps advertising it
    /// every [`ForwardOptions::advertise_interval`] on a task of its own, until the server
    /// shuts down or every clone of this is dropped. Call it inside a Tokio runtime.
    ///
    /// # Errors
    /// The first advertisement failed (the directory cannot be reached now).
    pub async fn start(
        directory: impl Directory,
        address: impl Into<String>,
        options: ForwardOptions,
    ) -> Result<Self, AdapterError> {
        let node = random_tag();
        let inner = Arc::new(Inner {
            node,
            address: address.into(),
            directory: Arc::new(directory),
            options,
            known: Mutex::default(),
            pool: pool::Pool::default(),
            withdrawn: AtomicBool::new(false),
        });
        inner.advertise().await?;
        tokio::spawn(advertising(Arc::downgrade(&inner)));
        Ok(Self(inner))
    }

    /// This node's tag: the first [`NODE_TAG_LEN`] characters of every session id it hands
    /// out.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.0.node
    }

    /// The address this node advertises.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.0.address
    }

    /// The settings.
    #[must_use]
    pub fn options(&self) -> &ForwardOptions {
        &self.0.options
    }

    /// A new session id of this node.
    pub(crate) fn new_sid(&self) -> Sid {
        Sid::random_with_prefix(&self.0.node)
    }

    /// The node to forward a request for `sid` to (which this node has no session for):
    /// `None` when this node owns the id, or when the request was forwarded already.
    pub(crate) fn owner_elsewhere(&self, sid: &Sid, headers: &http::HeaderMap) -> Option<String> {
        if headers.contains_key(FORWARDED_HEADER) {
            return None;
        }
        let tag = sid.as_str().get(..NODE_TAG_LEN)?;
        (tag != self.0.node).then(|| tag.to_owned())
    }

    /// Stops advertising and removes this node from the directory (at most
    /// `lookup_timeout`).
    pub(crate) async fn withdraw(&self) {
        self.0.withdrawn.store(true, Ordering::Release);
        let inner = &self.0;
        let withdraw = inner.directory.withdraw(&inner.node);
        match tokio::time::timeout(inner.options.lookup_timeout, withdraw).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "forwarding: could not withdraw this node"),
            Err(_) => tracing::warn!("forwarding: withdrawing this node timed out"),
        }
    }

    /// The address of `node`: cached, else looked up (bounded by `lookup_timeout`). A node
    /// the directory does not know is looked up once more after an `advertise_interval`: a
    /// directory that restarted empty (Redis without persistence) knows every live node again
    /// by then, and a session must not be given up for that.
    async fn resolve(&self, node: &str) -> Result<Option<String>, Unresolved> {
        if let Some(address) = self.0.lock_known().get(node) {
            return Ok(Some(address.clone()));
        }
        if let Some(found) = self.look_up(node).await? {
            return Ok(Some(found));
        }
        tokio::time::sleep(self.0.options.advertise_interval + Duration::from_millis(200)).await;
        self.look_up(node).await
    }

    /// Asks the directory for `node`'s address, and caches it.
    async fn look_up(&self, node: &str) -> Result<Option<String>, Unresolved> {
        let lookup = self.0.directory.lookup(node);
        let found = match tokio::time::timeout(self.0.options.lookup_timeout, lookup).await {
            Ok(Ok(found)) => found,
            Ok(Err(err)) => {
                return Err(Unresolved(format!("{}: {err}", self.0.directory.name())));
            }
            Err(_) => {
                return Err(Unresolved(format!(
                    "{} did not answer within {} ms",
                    self.0.directory.name(),
                    self.0.options.lookup_timeout.as_millis()
                )));
            }
        };
        if let Some(address) = &found {
            let mut known = self.0.lock_known();
            if known.len() >= KNOWN_MAX {
                known.clear();
            }
            known.insert(node.to_owned(), address.clone());
        }
        Ok(found)
    }
}

/// A lookup that failed (the directory is unreachable): why.
struct Unresolved(String);

impl Inner {
    fn lock_known(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn advertise(&self) -> Result<(), AdapterError> {
        let ttl = self.options.advertise_interval * 5;
        let advertise = self.directory.advertise(&self.node, &self.address, ttl);
        match tokio::time::timeout(self.options.lookup_timeout, advertise).await {
            Ok(result) => result,
            Err(_) => Err(AdapterError::Unavailable(format!(
                "no answer within {} ms",
                self.options.lookup_timeout.as_millis()
            ))),
        }
    }
}

/// Advertises the node again and again, until it is withdrawn or dropped. A failure (the
/// directory down) is logged once and retried every 250 ms, so that a directory that comes
/// back knows this node again at once.
async fn advertising(inner: Weak<Inner>) {
    let Some(interval) = inner.upgrade().map(|i| i.options.advertise_interval) else {
        return;
    };
    let retry = interval.min(Duration::from_millis(250));
    let mut failing = false;
    loop {
        tokio::time::sleep(if failing { retry } else { interval }).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.withdrawn.load(Ordering::Acquire) {
            return;
        }
        match inner.advertise().await {
            Ok(()) if failing => {
                tracing::info!(node = inner.node, "forwarding: advertised again");
                failing = false;
            }
            Ok(()) => {}
            Err(err) => {
                if !failing {
                    tracing::warn!(node = inner.node, %err, "forwarding: cannot advertise this node");
                }
                failing = true;
            }
        }
    }
}

/// A random node tag of [`NODE_TAG_LEN`] URL-safe characters.
fn random_tag() -> String {
    Sid::random().as_str()[..NODE_TAG_LEN].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// An in-memory directory that counts its lookups.
    #[derive(Default, Clone)]
    struct Table(Arc<(Mutex<HashMap<String, String>>, AtomicUsize)>);

    impl Directory for Table {
        fn advertise<'a>(
            &'a self,
            node: &'a str,
            address: &'a str,
            _ttl: Duration,
        ) -> DirectoryFuture<'a, ()> {
            let mut table = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
            table.insert(node.to_owned(), address.to_owned());
            Box::pin(async { Ok(()) })
        }

        fn lookup<'a>(&'a self, node: &'a str) -> DirectoryFuture<'a, Option<String>> {
            self.0.1.fetch_add(1, Ordering::Relaxed);
            let table = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
            let found = table.get(node).cloned();
            Box::pin(async move { Ok(found) })
        }

        fn withdraw<'a>(&'a self, node: &'a str) -> DirectoryFuture<'a, ()> {
            let mut table = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
            table.remove(node);
            Box::pin(async { Ok(()) })
        }
    }

    fn options() -> ForwardOptions {
        ForwardOptions {
            advertise_interval: Duration::from_millis(20),
            ..ForwardOptions::default()
        }
    }

    #[tokio::test]
    async fn ids_name_their_node_and_other_nodes_ids_are_forwarded_once() {
        let table = Table::default();
        let a = Forwarding::start(table.clone(), "10.0.0.1:3000", options())
            .await
            .expect("a");
        let b = Forwarding::start(table.clone(), "10.0.0.2:3000", options())
            .await
            .expect("b");
        assert_ne!(a.node(), b.node());
        let sid = a.new_sid();
        assert!(sid.as_str().starts_with(a.node()), "{sid}");
        let plain = http::HeaderMap::new();
        assert_eq!(a.owner_elsewhere(&sid, &plain), None);
        assert_eq!(b.owner_elsewhere(&sid, &plain), Some(a.node().to_owned()));
        let mut forwarded = http::HeaderMap::new();
        forwarded.insert(FORWARDED_HEADER, http::HeaderValue::from_static("x"));
        assert_eq!(b.owner_elsewhere(&sid, &forwarded), None, "never twice");

        // b finds a once, then from its cache.
        let looked_up = table.0.1.load(Ordering::Relaxed);
        for _ in 0..3 {
            assert_eq!(
                b.resolve(a.node()).await.ok().flatten().as_deref(),
                Some("10.0.0.1:3000")
            );
        }
        assert_eq!(table.0.1.load(Ordering::Relaxed), looked_up + 1);

        // A node gone from the directory: asked twice (an interval apart), then unknown.
        a.withdraw().await;
        let gone = Forwarding::start(Table::default(), "10.0.0.3:3000", options())
            .await
            .expect("gone");
        let before = table.0.1.load(Ordering::Relaxed);
        assert_eq!(b.resolve(gone.node()).await.ok().flatten(), None);
        assert_eq!(table.0.1.load(Ordering::Relaxed), before + 2);
    }
}
