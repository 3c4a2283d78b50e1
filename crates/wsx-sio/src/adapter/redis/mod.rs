//! The Redis adapter (feature `redis`): several servers, Rust or Node, serve one set of rooms
//! through one Redis, speaking the protocol of Node's `@socket.io/redis-adapter` 8 (the classic
//! pub/sub one; see `wire.rs` beside this file for the format). A wsx-sio server and a Node `socket.io` server
//! with that adapter can sit in the same cluster: broadcasts, `fetchSockets`, `socketsJoin`,
//! `socketsLeave`, `disconnectSockets`, `allRooms`, `serverSideEmit` (with or without acks)
//! and broadcasts with acknowledgements (started on either side) all cross between them.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use wsx_sio::adapter::redis::{Redis, RedisOptions};
//! let redis = Redis::connect("redis://127.0.0.1:6379/", RedisOptions::default()).await?;
//! let io = wsx_sio::Server::with_adapter(wsx_sio::Config::default(), redis.factory());
//! // (register handlers and namespaces here)
//! redis.wait_subscribed(std::time::Duration::from_secs(10)).await; // miss nothing from the start
//! io.listen("127.0.0.1:3000").await?;
//! # Ok(()) }
//! ```
//!
//! # The client crate: `redis` (redis-rs), not `fred`
//! redis-rs is the most used Redis client in Rust and is maintained by the Redis company; its
//! `ConnectionManager` reconnects by itself, which is all publishing needs. Subscribing needs
//! one thing more, resubscribing after a reconnection, and redis-rs' pub/sub connection makes
//! that explicit: `link.rs` owns the loop (connect, subscribe every namespace, read; on loss,
//! back off and start again), so the behaviour under faults is ours to test, not a hidden
//! setting. fred does both by itself too, but brings a much larger dependency tree.
//!
//! # Behaviour
//! - Local delivery never waits on Redis: a broadcast reaches this server's sockets before
//!   the emit returns; the message for the other servers is queued and published by a task.
//!   When the queue is full the emit returns [`AdapterError::Unavailable`] (after local
//!   delivery); when Redis is down, what could not be published is counted
//!   ([`Redis::publish_failures`], metric `wsx_sio_redis_publish_failures_total`).
//! - Requests (`fetch_sockets`, `all_rooms`, `server_side_emit_with_ack`) wait for as many
//!   answers as `PUBSUB NUMSUB` on the request channel counts servers, minus this one, for at
//!   most [`RedisOptions::requests_timeout`] (5 s, Node's default); then they fail with
//!   [`AdapterError::Timeout`]. A server that dies closes its subscription, so the next
//!   requests no longer wait for it.
//! - Messages from this server's own uid are ignored (it did the local part already).
//! - [`crate::Server::shutdown`] closes each namespace's adapter: its channels are
//!   unsubscribed (waiting at most 2 s for Redis), so the other servers stop counting this one
//!   (`PUBSUB NUMSUB`) and their requests stop waiting for it.
//! - A broadcast with acknowledgements (`ack_requests.rs`) counts the other servers with
//!   `PUBSUB NUMSUB` as requests do, and waits for their client counts and acknowledgements
//!   until its own timeout (a server that does not report makes it time out, with the
//!   answers that came).
//! - The sharded variant (`SSUBSCRIBE`/`SPUBLISH`, Redis 7, and Redis Cluster) is
//!   [`sharded`]: another protocol (socket.io-adapter's `ClusterAdapter` messages), so the
//!   servers of one cluster all use one or all use the other.

mod ack_requests;
mod answer;
mod exchange;
mod link;
pub(crate) mod nodes;
mod publisher;
mod requests;
pub mod sharded;
pub mod streams;
pub(crate) mod wire;

use super::{
    AckBroadcast, Adapter, AdapterError, AdapterFuture, BroadcastOptions, Host, MemoryAdapter,
    Room, SocketInfo,
};
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::frames::broadcast_frames;
use crate::sid::Sid;
use answer::string_list;
use exchange::{AckRequests, Requests};
use link::Link;
use serde_json::{Map, Value, json};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use wire::{Channels, request_type as rt};

/// Settings of the Redis adapter (the names of Node's `RedisAdapterOptions`).
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// The channel prefix (`key`; `socket.io` by default). Servers of one cluster share it.
    pub key: String,
    /// How long a request waits for the other servers (`requestsTimeout`; 5 s).
    pub requests_timeout: Duration,
    /// Answer requests on the requester's own response channel
    /// (`publishOnSpecificResponseChannel`; off, as in Node, whose older nodes only listen on
    /// the shared one).
    pub publish_on_specific_response_channel: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            key: "socket.io".to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
        }
    }
}

/// A server's connection to Redis, shared by the adapters of all its namespaces. Cheap to
/// clone.
#[derive(Clone)]
pub struct Redis {
    link: Arc<Link>,
    options: Arc<RedisOptions>,
    uid: Arc<str>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("uid", &self.uid)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Connects to Redis at `url` (`redis://host:port/db`). Call it inside a Tokio runtime:
    /// it starts the publishing and subscribing tasks.
    ///
    /// # Errors
    /// The URL is malformed, or Redis cannot be reached now (outages after this are
    /// survived: see the module docs).
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, AdapterError> {
        let unavailable = |e: redis::RedisError| AdapterError::Unavailable(e.to_string());
        let client = redis::Client::open(url).map_err(unavailable)?;
        let link = Link::connect(client).await.map_err(unavailable)?;
        Ok(Self {
            link,
            options: Arc::new(options),
            uid: random_id(6).into(),
        })
    }

    /// The adapter of namespace `nsp`.
    #[must_use]
    pub fn adapter(&self, nsp: &str) -> RedisAdapter {
        RedisAdapter {
            inner: Arc::new(NsAdapter {
                nsp: nsp.to_owned(),
                uid: self.uid.clone(),
                channels: Channels::new(&self.options.key, nsp, &self.uid),
                options: self.options.clone(),
                memory: MemoryAdapter::new(),
                link: self.link.clone(),
                host: OnceLock::new(),
                pending: Requests::default(),
                ack_requests: Arc::default(),
                subscribed: AtomicBool::new(false),
            }),
        }
    }

    /// The factory for [`crate::Server::with_adapter`].
    pub fn factory(&self) -> impl Fn(&str) -> Box<dyn Adapter> + Send + Sync + 'static {
        let redis = self.clone();
        move |nsp| Box::new(redis.adapter(nsp))
    }

    /// This server's id in the cluster (Node's `adapter.uid`).
    #[must_use]
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Messages that could not be published since the start (Redis down, or the queue full).
    #[must_use]
    pub fn publish_failures(&self) -> u64 {
        self.link.publish_failures()
    }

    /// Whether the subscription connection is up and every namespace created so far is
    /// subscribed: other servers' messages are received.
    #[must_use]
    pub fn is_subscribed(&self) -> bool {
        self.link.subscribed()
    }

    /// Waits at most `timeout` until [`Self::is_subscribed`], and returns it. Namespaces
    /// subscribe in the background when they are created: a server that must not miss what
    /// other servers send from its first client on waits for this before it listens.
    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        self.link.wait_subscribed(timeout).await
    }
}

/// The adapter of one namespace. See the module docs.
pub struct RedisAdapter {
    inner: Arc<NsAdapter>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("namespace", &self.inner.nsp)
            .field("uid", &self.inner.uid)
            .finish_non_exhaustive()
    }
}

/// The state behind a [`RedisAdapter`] (the link dispatches messages to it).
pub(crate) struct NsAdapter {
    pub(crate) nsp: String,
    uid: Arc<str>,
    pub(crate) channels: Channels,
    options: Arc<RedisOptions>,
    /// This server's rooms.
    memory: MemoryAdapter,
    link: Arc<Link>,
    /// The namespace, once attached (weakly: the namespace owns its adapter).
    host: OnceLock<Weak<dyn Host>>,
    pending: Requests<Map<String, Value>>,
    /// Our broadcasts with acknowledgements waiting for reports (`ack_requests.rs`).
    ack_requests: Arc<AckRequests>,
    /// Whether its channels are subscribed on the current connection.
    pub(crate) subscribed: AtomicBool,
}

impl NsAdapter {
    fn host(&self) -> Option<Arc<dyn Host>> {
        self.host.get()?.upgrade()
    }

    /// Whether a channel is one of this namespace's.
    pub(crate) fn owns(&self, channel: &str) -> bool {
        channel == self.channels.request
            || channel.starts_with(&self.channels.response)
            || self.channels.room_of(channel).is_some()
    }

    /// Handles a message from Redis (on the subscriber task: nothing here waits).
    pub(crate) fn on_message(self: &Arc<Self>, channel: &str, payload: &[u8]) {
        let Some(host) = self.host() else { return };
        if channel.starts_with(&self.channels.response) {
            if !self.on_ack_response(payload) {
                self.on_response(payload);
            }
        } else if channel == self.channels.request {
            self.on_request(&*host, payload);
        } else if let Some(room) = self.channels.room_of(channel) {
            self.on_broadcast(&*host, room, payload);
        }
    }

    /// Whether this server has a socket in `room` (a socket id is a room).
    fn has_room(&self, room: &str, host: &dyn Host) -> bool {
        self.memory.has_room(room) || Sid::parse(room).is_some_and(|sid| host.has_socket(sid))
    }

    fn on_broadcast(&self, host: &dyn Host, room: &str, payload: &[u8]) {
        // Node's adapter drops a room channel's message early when it has no such room.
        if !room.is_empty() && !self.has_room(room, host) {
            return;
        }
        let message = match wire::decode_broadcast(payload) {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(%err, "redis adapter: broadcast dropped");
                return;
            }
        };
        if *message.uid == *self.uid || message.nsp != self.nsp {
            return;
        }
        let (frames, args) =
            broadcast_frames(host.parser(), &self.nsp, &message.event, message.args);
        // With the sender's flags and our receivers' outgoing listeners, as Node's
        // in-memory adapter applies another server's broadcast.
        let targets = self.memory.local_targets(&message.opts, host);
        let sent = host.push_event(&targets, &frames, message.opts.flags, &message.event, &args);
        crate::metrics::events_sent(&self.nsp, sent);
    }

    fn publish(&self, channel: String, payload: Vec<u8>) -> bool {
        self.link.publish(channel, payload)
    }

    fn local_rooms(&self, host: &dyn Host) -> Vec<Room> {
        let mut rooms = self.memory.rooms();
        rooms.extend(host.sids().into_iter().map(|sid| sid.to_string()));
        rooms
    }

    fn local_add(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.memory.add_sockets(opts, rooms, host);
    }

    fn local_del(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.memory.del_sockets(opts, rooms, host);
    }

    /// The number of servers: subscribers of the request channel.
    async fn server_count(&self) -> Result<usize, AdapterError> {
        self.link
            .numsub(&self.channels.request)
            .await
            .map_err(|e| AdapterError::Unavailable(e.to_string()))
    }

    /// Publishes a fire-and-forget request (`socketsJoin`, `socketsLeave`,
    /// `disconnectSockets`).
    fn publish_request(&self, mut body: Map<String, Value>) {
        body.insert("uid".into(), Value::from(&*self.uid));
        self.publish(
            self.channels.request.clone(),
            Value::Object(body).to_string().into_bytes(),
        );
    }
}

fn opts_json(opts: &BroadcastOptions) -> Value {
    json!({"rooms": opts.rooms, "except": opts.except})
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A random id of `len` characters from `[0-9A-Za-z]` (Node uses `uid2`).
fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: still unique enough within this process for request ids.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (nanos >> (i % 4 * 8)) as u8 ^ i as u8;
        }
    }
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

impl Adapter for RedisAdapter {
    fn attach(&self, host: Weak<dyn Host>) {
        if self.inner.host.set(host).is_ok() {
            self.inner.link.register(&self.inner);
        }
    }

    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.inner.memory.add_all(sid, rooms);
    }

    fn del(&self, sid: Sid, room: &str) {
        self.inner.memory.del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        self.inner.memory.del_all(sid);
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.inner.memory.socket_rooms(sid)
    }

    fn rooms(&self) -> Vec<Room> {
        self.inner.memory.rooms()
    }

    fn local_targets(&self, opts: &BroadcastOptions, host: &dyn Host) -> Vec<Sid> {
        self.inner.memory.local_targets(opts, host)
    }

    fn broadcast(
        &self,
        event: &str,
        args: &Args,
        frames: &[Frame],
        opts: &BroadcastOptions,
        host: &dyn Host,
    ) -> Result<usize, AdapterError> {
        // Local delivery first: it never waits on Redis.
        let sent = host.push(&self.local_targets(opts, host), frames);
        if !opts.local {
            let inner = &self.inner;
            let message = wire::encode_broadcast(&inner.uid, &inner.nsp, event, args, opts);
            if !inner.publish(inner.channels.publish_channel(opts), message) {
                return Err(AdapterError::Unavailable(
                    "the Redis publish queue is full".into(),
                ));
            }
        }
        Ok(sent)
    }

    fn broadcast_with_ack(
        &self,
        event: &str,
        args: &Args,
        opts: &BroadcastOptions,
        timeout: Duration,
        host: &dyn Host,
    ) -> Result<AckBroadcast, AdapterError> {
        // Published first, so that the other servers' reports find the request registered
        // (they cannot answer before it is published); this server's sockets get it next,
        // without waiting on Redis.
        let reports = if opts.local {
            None
        } else {
            Some(
                self.inner
                    .request_ack_broadcast(event, args, opts, timeout)?,
            )
        };
        let local = super::local_acks(self, event, args, opts, timeout, host);
        let Some(reports) = reports else {
            return Ok(AckBroadcast::local_only(local));
        };
        let inner = self.inner.clone();
        Ok(AckBroadcast {
            local,
            other_servers: Box::pin(
                async move { Ok(inner.server_count().await?.saturating_sub(1)) },
            ),
            reports: Some(reports),
        })
    }

    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
        host: &dyn Host,
    ) -> AdapterFuture<Vec<SocketInfo>> {
        let mut sockets: Vec<SocketInfo> = self
            .local_targets(opts, host)
            .into_iter()
            .filter_map(|sid| host.describe(sid))
            .collect();
        if opts.local {
            return Box::pin(std::future::ready(Ok(sockets)));
        }
        let inner = self.inner.clone();
        let body = object(json!({"type": rt::REMOTE_FETCH, "opts": opts_json(opts)}));
        Box::pin(async move {
            let servers = inner.server_count().await?;
            if servers <= 1 {
                return Ok(sockets);
            }
            for answer in inner.request(body, servers - 1).await? {
                if let Some(Value::Array(found)) = answer.get("sockets") {
                    sockets.extend(found.iter().filter_map(SocketInfo::from_json));
                }
            }
            Ok(sockets)
        })
    }

    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.inner.local_add(opts, rooms, host);
        if !opts.local {
            self.inner.publish_request(object(
                json!({"type": rt::REMOTE_JOIN, "opts": opts_json(opts), "rooms": rooms}),
            ));
        }
    }

    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.inner.local_del(opts, rooms, host);
        if !opts.local {
            self.inner.publish_request(object(
                json!({"type": rt::REMOTE_LEAVE, "opts": opts_json(opts), "rooms": rooms}),
            ));
        }
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool, host: &dyn Host) {
        host.disconnect(&self.local_targets(opts, host), close);
        if !opts.local {
            self.inner.publish_request(object(
                json!({"type": rt::REMOTE_DISCONNECT, "opts": opts_json(opts), "close": close}),
            ));
        }
    }

    fn all_rooms(&self, host: &dyn Host) -> AdapterFuture<Vec<Room>> {
        let mut rooms = self.inner.local_rooms(host);
        let inner = self.inner.clone();
        Box::pin(async move {
            let servers = inner.server_count().await?;
            if servers > 1 {
                let body = object(json!({"type": rt::ALL_ROOMS}));
                for answer in inner.request(body, servers - 1).await? {
                    rooms.extend(string_list(answer.get("rooms")));
                }
            }
            rooms.sort();
            rooms.dedup();
            Ok(rooms)
        })
    }

    fn server_side_emit(&self, packet: Vec<Value>) -> Result<(), AdapterError> {
        let body = json!({"uid": &*self.inner.uid, "type": rt::SERVER_SIDE_EMIT, "data": packet});
        if self.inner.publish(
            self.inner.channels.request.clone(),
            body.to_string().into_bytes(),
        ) {
            Ok(())
        } else {
            Err(AdapterError::Unavailable(
                "the Redis publish queue is full".into(),
            ))
        }
    }

    fn server_side_emit_with_ack(&self, packet: Vec<Value>) -> AdapterFuture<Vec<Value>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let others = inner.server_count().await?.saturating_sub(1);
            if others == 0 {
                return Ok(Vec::new());
            }
            let body = object(json!({"type": rt::SERVER_SIDE_EMIT, "data": packet}));
            Ok(inner
                .request(body, others)
                .await?
                .into_iter()
                .map(|mut answer| answer.remove("data").unwrap_or(Value::Null))
                .collect())
        })
    }

    fn server_count(&self) -> AdapterFuture<usize> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.server_count().await })
    }

    fn close(&self) -> AdapterFuture<()> {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner.link.unregister(&inner).await;
            Ok(())
        })
    }
}
