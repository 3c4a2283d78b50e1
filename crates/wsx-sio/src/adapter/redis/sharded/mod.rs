//! The sharded Redis adapter (feature `redis`): Redis 7's sharded pub/sub (`SSUBSCRIBE`,
//! `SPUBLISH`) on one Redis or on a Redis Cluster, wire-compatible with Node's
//! `createShardedAdapter` from `@socket.io/redis-adapter` 8.3: wsx-sio servers and Node
//! `socket.io` servers with that adapter can share one cluster (broadcasts, binary included,
//! `fetchSockets`, `socketsJoin`, `socketsLeave`, `disconnectSockets`, server-side events with
//! or without acks, broadcasts with acks, started on either side).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use wsx_sio::adapter::redis::sharded::{ShardedOptions, ShardedRedis, SubscriptionMode};
//! let options = ShardedOptions { subscription_mode: SubscriptionMode::Static, ..ShardedOptions::default() };
//! let redis = ShardedRedis::connect("redis://127.0.0.1:6379/", options).await?;
//! // Or a Redis Cluster: ShardedRedis::connect_cluster(&["redis://10.0.0.1:7000/"], ..).
//! let io = wsx_sio::Server::with_adapter(wsx_sio::Config::default(), redis.factory());
//! redis.wait_subscribed(std::time::Duration::from_secs(10)).await;
//! io.listen("127.0.0.1:3000").await?;
//! # Ok(()) }
//! ```
//!
//! # Why sharded
//! Classic pub/sub sends every message to every node of a Redis Cluster; sharded pub/sub
//! sends a channel's messages only to the shard that owns the channel's slot, so adding
//! shards adds capacity. The price is that a node can only count the servers subscribed to
//! one channel (`PUBSUB SHARDNUMSUB`), not match patterns: there is no `PSUBSCRIBE` for
//! shard channels.
//!
//! # Channels (`lib/sharded-adapter.ts`)
//! With the prefix `channel_prefix` (`socket.io`): every message of namespace `nsp` goes on
//! `socket.io#nsp#`, the answers to a server's requests on `socket.io#nsp#uid#` (its own
//! channel). In [`SubscriptionMode::Dynamic`] (Node's default) a broadcast to exactly one room
//! goes on that room's channel `socket.io#nsp#room#`, which only the servers with a socket in
//! the room subscribe to: a server subscribes to a room's channel when the room gets its first
//! local socket and unsubscribes when it loses its last. Exceptions, as in Node: a room whose
//! name is 20 UTF-16 units long looks like a socket id and is never a channel of its own;
//! broadcasts with acknowledgements always go on the namespace channel (their answers are
//! counted per server). In [`SubscriptionMode::Static`] each namespace uses its two channels
//! only (fewer subscriptions: for many dynamic namespaces or rooms). Every server of a
//! cluster must use the same mode and prefix.
//!
//! # Messages
//! socket.io-adapter's `ClusterAdapter` protocol (`message.rs`): `{type, data, uid, nsp}`,
//! JSON, or MessagePack when it carries binary. Messages from this server's own uid are
//! ignored (it did the local part already).
//!
//! # Behaviour
//! As the classic adapter's ([`super`]): local delivery never waits on Redis; requests wait
//! for as many answers as `PUBSUB SHARDNUMSUB` counts other servers, at most
//! [`ShardedOptions::requests_timeout`]; [`crate::Server::shutdown`] unsubscribes. The
//! protocol has no "all rooms" request: [`crate::Adapter::all_rooms`] is the union of the
//! rooms of every socket `fetchSockets` finds, which is what a room is (a room exists while
//! a socket is in it).
//! On a Redis Cluster, a namespace's own channel lives on one shard (its requests and
//! namespace-wide broadcasts go there); room channels spread over all of them.

mod answer;
mod link;
pub(super) mod message;
mod nodes;

use super::exchange::{AckRequests, Requests};
use super::{MemoryAdapter, random_id};
use crate::adapter::{
    AckBroadcast, Adapter, AdapterError, AdapterFuture, BroadcastOptions, Host, Room, SocketInfo,
};
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::sid::Sid;
pub(crate) use link::PubSub;
use link::{Endpoint, ShardLink};
use message::kind;
use rmpv::Value as Mp;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

/// Which channels a namespace subscribes to (Node's `subscriptionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionMode {
    /// Two channels per namespace (`"static"`).
    Static,
    /// Two per namespace plus one per room with a local socket (`"dynamic"`, Node's default).
    #[default]
    Dynamic,
}

/// Settings of the sharded adapter (the names of Node's `ShardedRedisAdapterOptions`).
#[derive(Debug, Clone)]
pub struct ShardedOptions {
    /// The channel prefix (`channelPrefix`; `socket.io`). Servers of one cluster share it.
    pub channel_prefix: String,
    /// Which channels are subscribed (`subscriptionMode`; dynamic). Servers of one cluster
    /// share it.
    pub subscription_mode: SubscriptionMode,
    /// How long a request waits for the other servers (5 s, Node's fixed timeout).
    pub requests_timeout: Duration,
}

impl Default for ShardedOptions {
    fn default() -> Self {
        Self {
            channel_prefix: "socket.io".to_owned(),
            subscription_mode: SubscriptionMode::Dynamic,
            requests_timeout: Duration::from_secs(5),
        }
    }
}

/// How a message of ours is encoded (`uid`, `nsp`, type, `data`): [`message::encode`] (JSON
/// unless binary, as `createShardedAdapter` does), or the Streams adapter's MessagePack.
pub(crate) type Encode = fn(&str, &str, u64, Vec<(&str, Mp)>) -> Vec<u8>;

/// A server's connections to a Redis (or Redis Cluster) for sharded pub/sub, shared by the
/// adapters of all its namespaces. Cheap to clone.
#[derive(Clone)]
pub struct ShardedRedis {
    link: Arc<ShardLink>,
    options: Arc<ShardedOptions>,
    uid: Arc<str>,
    encode: Encode,
}

impl std::fmt::Debug for ShardedRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedRedis")
            .field("uid", &self.uid)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ShardedRedis {
    /// Connects to one Redis 7 at `url` (`redis://host:port/db`). Call it inside a Tokio
    /// runtime: it starts the publishing and subscribing tasks.
    ///
    /// # Errors
    /// The URL is malformed, or Redis cannot be reached now (outages after this are
    /// survived: the subscription connection reconnects and subscribes again).
    pub async fn connect(url: &str, options: ShardedOptions) -> Result<Self, AdapterError> {
        Self::start(
            link::single_endpoint(url),
            options,
            PubSub::Sharded,
            message::encode,
        )
        .await
    }

    /// Connects to one Redis with another pub/sub flavor and encoding: the Streams adapter's
    /// ephemeral messages (`super::streams`).
    pub(crate) async fn connect_with(
        url: &str,
        options: ShardedOptions,
        pubsub: PubSub,
        encode: Encode,
    ) -> Result<Self, AdapterError> {
        Self::start(link::single_endpoint(url), options, pubsub, encode).await
    }

    /// Connects to a Redis Cluster through some of its nodes (`redis://host:port/` each);
    /// each channel is published to and subscribed on the node that owns its slot.
    ///
    /// # Errors
    /// A URL is malformed, or the cluster cannot be reached now.
    pub async fn connect_cluster(
        nodes: &[&str],
        options: ShardedOptions,
    ) -> Result<Self, AdapterError> {
        Self::start(
            link::cluster_endpoint(nodes),
            options,
            PubSub::Sharded,
            message::encode,
        )
        .await
    }

    async fn start(
        endpoint: redis::RedisResult<Endpoint>,
        options: ShardedOptions,
        pubsub: PubSub,
        encode: Encode,
    ) -> Result<Self, AdapterError> {
        let unavailable = |e: redis::RedisError| AdapterError::Unavailable(e.to_string());
        let link = ShardLink::connect(endpoint.map_err(unavailable)?, pubsub)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            link,
            options: Arc::new(options),
            // Node's ClusterAdapter uses 8 random bytes in hex; any unique string will do.
            uid: random_id(16).into(),
            encode,
        })
    }

    /// The adapter of namespace `nsp`.
    #[must_use]
    pub fn adapter(&self, nsp: &str) -> ShardedAdapter {
        let channel = format!("{}#{nsp}#", self.options.channel_prefix);
        ShardedAdapter {
            inner: Arc::new(ShardedNs {
                nsp: nsp.to_owned(),
                uid: self.uid.clone(),
                response: format!("{channel}{}#", self.uid),
                channel,
                options: self.options.clone(),
                encode: self.encode,
                memory: MemoryAdapter::new(),
                link: self.link.clone(),
                host: OnceLock::new(),
                requests: Requests::default(),
                ack_requests: Arc::default(),
                room_channels: Mutex::default(),
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

    /// Whether the subscription connection is up and every channel wanted so far (each
    /// namespace's, and in the dynamic mode each room's) is subscribed.
    #[must_use]
    pub fn is_subscribed(&self) -> bool {
        self.link.subscribed()
    }

    /// Waits at most `timeout` until [`Self::is_subscribed`], and returns it.
    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        self.link.wait_subscribed(timeout).await
    }

    /// The channels subscribed now, sorted.
    #[must_use]
    pub fn subscribed_channels(&self) -> Vec<String> {
        self.link.confirmed()
    }
}

/// The adapter of one namespace. See the module docs.
pub struct ShardedAdapter {
    inner: Arc<ShardedNs>,
}

impl std::fmt::Debug for ShardedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedAdapter")
            .field("namespace", &self.inner.nsp)
            .field("uid", &self.inner.uid)
            .finish_non_exhaustive()
    }
}

/// The state behind a [`ShardedAdapter`] (the link hands messages to it).
pub(crate) struct ShardedNs {
    pub(crate) nsp: String,
    uid: Arc<str>,
    /// `prefix#nsp#`: every message but the answers to our requests.
    channel: String,
    /// `prefix#nsp#uid#`: the answers to our requests.
    response: String,
    options: Arc<ShardedOptions>,
    encode: Encode,
    /// This server's rooms.
    memory: MemoryAdapter,
    link: Arc<ShardLink>,
    /// The namespace, once attached (weakly: the namespace owns its adapter).
    host: OnceLock<Weak<dyn Host>>,
    /// Our fetch and server-side requests, their answers the `data` maps.
    requests: Requests<Vec<(Mp, Mp)>>,
    ack_requests: Arc<AckRequests>,
    /// Dynamic mode: the rooms whose channel is subscribed. The lock is held across a room
    /// change and its (un)subscription, so that they reach the link in the rooms' order.
    room_channels: Mutex<HashSet<Room>>,
}

/// Whether Node takes a room for a socket id (`looksLikeASocketId`: 20 UTF-16 units), which
/// never gets a channel of its own.
fn looks_like_a_socket_id(room: &str) -> bool {
    room.encode_utf16().count() == 20
}

impl ShardedNs {
    fn host(&self) -> Option<Arc<dyn Host>> {
        self.host.get()?.upgrade()
    }

    fn room_channel(&self, room: &str) -> String {
        format!("{}{room}#", self.channel)
    }

    fn dynamic(&self) -> bool {
        self.options.subscription_mode == SubscriptionMode::Dynamic
    }

    /// Dynamic mode: after the rooms `touched` changed, subscribes the channels of those that
    /// now have a local socket and unsubscribes those that have none.
    fn sync_rooms(&self, touched: &[Room], change: impl FnOnce()) {
        if !self.dynamic() {
            change();
            return;
        }
        let mut subscribed = self
            .room_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        change();
        for room in touched {
            if looks_like_a_socket_id(room) {
                continue;
            }
            let exists = self.memory.has_room(room);
            if exists && subscribed.insert(room.clone()) {
                self.link.subscribe(&self.room_channel(room));
            } else if !exists && subscribed.remove(room) {
                drop(self.link.unsubscribe(&self.room_channel(room)));
            }
        }
    }

    /// Publishes a message of ours on the namespace channel (or `channel`).
    fn publish(&self, channel: Option<String>, kind: u64, data: Vec<(&str, Mp)>) -> bool {
        let payload = (self.encode)(&self.uid, &self.nsp, kind, data);
        self.link
            .publish(channel.unwrap_or_else(|| self.channel.clone()), payload)
    }

    /// Publishes an answer to `requester`'s request on its own channel.
    fn respond(&self, requester: &str, kind: u64, data: Vec<(&str, Mp)>) {
        let payload = (self.encode)(&self.uid, &self.nsp, kind, data);
        self.link
            .publish(format!("{}{requester}#", self.channel), payload);
    }

    fn local_add(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.sync_rooms(rooms, || self.memory.add_sockets(opts, rooms, host));
    }

    fn local_del(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.sync_rooms(rooms, || self.memory.del_sockets(opts, rooms, host));
    }

    /// The number of servers: subscribers of the namespace channel.
    async fn server_count(&self) -> Result<usize, AdapterError> {
        self.link
            .numsub(&self.channel)
            .await
            .map_err(|e| AdapterError::Unavailable(e.to_string()))
    }

    /// Publishes a request (its `requestId` added) and collects one answer from each of the
    /// `expected` other servers.
    async fn request(
        &self,
        kind: u64,
        mut data: Vec<(&str, Mp)>,
        expected: usize,
    ) -> Result<Vec<Vec<(Mp, Mp)>>, AdapterError> {
        let opened = self.requests.open(expected);
        // Where Node puts it: `{requestId, packet}` for a server-side emit, `{opts,
        // requestId}` for a fetch (the bytes match Node's, `streams/ephemeral.rs` checks).
        let id = ("requestId", Mp::from(opened.id.as_str()));
        if kind == kind::SERVER_SIDE_EMIT {
            data.insert(0, id);
        } else {
            data.push(id);
        }
        if !self.publish(None, kind, data) {
            self.requests.cancel(&opened.id);
            return Err(AdapterError::Unavailable(
                "the Redis publish queue is full".into(),
            ));
        }
        self.requests
            .wait(opened, self.options.requests_timeout)
            .await
    }

    /// `fetchSockets` across the cluster: this server's sockets and the others'.
    async fn fetch(
        self: Arc<Self>,
        opts: BroadcastOptions,
        mut sockets: Vec<SocketInfo>,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        let others = self.server_count().await?.saturating_sub(1);
        if others == 0 {
            return Ok(sockets);
        }
        let data = vec![("opts", message::opts(&opts))];
        for mut answer in self.request(kind::FETCH_SOCKETS, data, others).await? {
            if let Some(found) = super::wire::take(&mut answer, "sockets")
                && let Value::Array(found) = super::wire::mp_to_json(found)
            {
                sockets.extend(found.iter().filter_map(SocketInfo::from_json));
            }
        }
        Ok(sockets)
    }
}

impl ShardedAdapter {
    /// Handles a message that came another way than this adapter's channels (the Streams
    /// adapter reads its broadcasts and room changes from a stream, `super::streams`).
    pub(in crate::adapter::redis) fn on_message(&self, message: message::Message) {
        self.inner.on_message(message);
    }
}

impl Adapter for ShardedAdapter {
    fn attach(&self, host: Weak<dyn Host>) {
        if self.inner.host.set(host).is_ok() {
            self.inner.link.register(&self.inner);
            self.inner.link.subscribe(&self.inner.channel);
            self.inner.link.subscribe(&self.inner.response);
        }
    }

    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.inner
            .sync_rooms(rooms, || self.inner.memory.add_all(sid, rooms));
    }

    fn del(&self, sid: Sid, room: &str) {
        self.inner
            .sync_rooms(&[room.to_owned()], || self.inner.memory.del(sid, room));
    }

    fn del_all(&self, sid: Sid) {
        let rooms = self.inner.memory.socket_rooms(sid);
        self.inner
            .sync_rooms(&rooms, || self.inner.memory.del_all(sid));
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
        if opts.local {
            return Ok(sent);
        }
        let inner = &self.inner;
        // `computeChannel`: one room, in the dynamic mode, not a socket id: its own channel.
        let channel = match opts.rooms.as_slice() {
            [room] if inner.dynamic() && !looks_like_a_socket_id(room) => {
                Some(inner.room_channel(room))
            }
            _ => None,
        };
        let data = message::broadcast_data(event, args, opts, None);
        if inner.publish(channel, kind::BROADCAST, data) {
            Ok(sent)
        } else {
            Err(AdapterError::Unavailable(
                "the Redis publish queue is full".into(),
            ))
        }
    }

    fn broadcast_with_ack(
        &self,
        event: &str,
        args: &Args,
        opts: &BroadcastOptions,
        timeout: Duration,
        host: &dyn Host,
    ) -> Result<AckBroadcast, AdapterError> {
        let inner = self.inner.clone();
        // Published first (always on the namespace channel: every server reports), so that
        // the other servers' reports find the request registered.
        let reports = if opts.local {
            None
        } else {
            let (id, reports) = inner.ack_requests.open(timeout);
            let data = message::broadcast_data(event, args, opts, Some((&id, timeout)));
            if !inner.publish(None, kind::BROADCAST, data) {
                inner.ack_requests.cancel(&id);
                return Err(AdapterError::Unavailable(
                    "the Redis publish queue is full".into(),
                ));
            }
            Some(reports)
        };
        let local = crate::adapter::local_acks(self, event, args, opts, timeout, host);
        let Some(reports) = reports else {
            return Ok(AckBroadcast::local_only(local));
        };
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
        let sockets: Vec<SocketInfo> = self
            .local_targets(opts, host)
            .into_iter()
            .filter_map(|sid| host.describe(sid))
            .collect();
        if opts.local {
            return Box::pin(std::future::ready(Ok(sockets)));
        }
        Box::pin(self.inner.clone().fetch(opts.clone(), sockets))
    }

    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.inner.local_add(opts, rooms, host);
        if !opts.local {
            let rooms = Mp::Array(rooms.iter().map(|r| Mp::from(r.as_str())).collect());
            let data = vec![("opts", message::opts(opts)), ("rooms", rooms)];
            self.inner.publish(None, kind::SOCKETS_JOIN, data);
        }
    }

    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.inner.local_del(opts, rooms, host);
        if !opts.local {
            let rooms = Mp::Array(rooms.iter().map(|r| Mp::from(r.as_str())).collect());
            let data = vec![("opts", message::opts(opts)), ("rooms", rooms)];
            self.inner.publish(None, kind::SOCKETS_LEAVE, data);
        }
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool, host: &dyn Host) {
        host.disconnect(&self.local_targets(opts, host), close);
        if !opts.local {
            let data = vec![("opts", message::opts(opts)), ("close", Mp::from(close))];
            self.inner.publish(None, kind::DISCONNECT_SOCKETS, data);
        }
    }

    fn all_rooms(&self, host: &dyn Host) -> AdapterFuture<Vec<Room>> {
        // No such request in this protocol: the rooms of every socket of the cluster.
        let local: Vec<SocketInfo> = host
            .sids()
            .into_iter()
            .filter_map(|sid| host.describe(sid))
            .collect();
        let fetched = self.inner.clone().fetch(BroadcastOptions::default(), local);
        Box::pin(async move {
            let mut rooms: Vec<Room> = fetched
                .await?
                .into_iter()
                .flat_map(|socket| socket.rooms)
                .collect();
            rooms.sort();
            rooms.dedup();
            Ok(rooms)
        })
    }

    fn server_side_emit(&self, packet: Vec<Value>) -> Result<(), AdapterError> {
        let packet = message::from_json(&Value::Array(packet));
        if self
            .inner
            .publish(None, kind::SERVER_SIDE_EMIT, vec![("packet", packet)])
        {
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
            let data = vec![("packet", message::from_json(&Value::Array(packet)))];
            Ok(inner
                .request(kind::SERVER_SIDE_EMIT, data, others)
                .await?
                .into_iter()
                .map(|mut answer| {
                    super::wire::take(&mut answer, "packet")
                        .map_or(Value::Null, super::wire::mp_to_json)
                })
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
            inner.link.unregister(&inner.nsp);
            let mut channels = vec![inner.channel.clone(), inner.response.clone()];
            channels.extend(
                inner
                    .room_channels
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .drain()
                    .map(|room| inner.room_channel(&room)),
            );
            let confirmations: Vec<_> = channels
                .iter()
                .map(|channel| inner.link.unsubscribe(channel))
                .collect();
            // At most 2 s for Redis to confirm (it is down, or slow: the server stops all
            // the same).
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                futures_util::future::join_all(confirmations),
            )
            .await;
            Ok(())
        })
    }
}
