//! The Redis Streams adapter's wire format (feature `redis`), wire-compatible with Node's
//! `@socket.io/redis-streams-adapter` 0.3: the one Node adapter that supports connection
//! state recovery across servers, because every server reads one ordered log (a Redis
//! stream) instead of fire-and-forget pub/sub, so a packet's position in the log is an offset
//! any server can resume from.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use wsx_sio::adapter::redis::streams::{StreamsOptions, StreamsRedis};
//! let redis = StreamsRedis::connect("redis://127.0.0.1:6379/", StreamsOptions::default()).await?;
//! let io = wsx_sio::Server::with_adapter(wsx_sio::Config::default(), redis.factory());
//! redis.wait_subscribed(std::time::Duration::from_secs(10)).await;
//! io.listen("127.0.0.1:3000").await?;
//! # Ok(()) }
//! ```
//!
//! # What is built, what is not yet (issue 27 §3)
//! Built: broadcasts, `socketsJoin`, `socketsLeave` and `disconnectSockets` go through the
//! stream (`entry.rs`: its fields, checked against what the Node adapter writes; `link.rs`:
//! the `XADD` queue and the `XREAD` loop); requests, answers and broadcasts with
//! acknowledgements go over pub/sub as Node sends them (`ephemeral.rs`: classic pub/sub by
//! default, sharded with [`StreamsOptions::use_sharded_pub_sub`], MessagePack always, servers
//! counted with `PUBSUB NUMSUB`; byte for byte what Node publishes), through the sharded
//! adapter's code in its static mode ([`super::sharded`]), which handles every message.
//! So wsx-sio servers and Node servers with `@socket.io/redis-streams-adapter` 0.3 share a
//! cluster (`tests/cluster.rs`, `a_wsx_node_and_a_node_socket_io_server_share_one_streams_cluster`:
//! room emits, broadcasts, binary both ways, `fetchSockets` with `socket.data`,
//! `socketsJoin`/`Leave`, `disconnectSockets`, server-side emits with acks, broadcasts with
//! acks), with the same options on every server (`streamName`, `channelPrefix`,
//! `useShardedPubSub`).
//! Connection state recovery across servers ([`StreamsRedis::recovery`], [`StreamsStore`]):
//! offsets are entry ids (below), sessions are Node's keys and values (`session.rs`,
//! `sessions.rs`), restores read the per-server ring of the stream's tail (`ring.rs`) or one
//! shared `XRANGE` (`store.rs`), and the sessions of live sockets are kept in Redis so that a
//! killed server's clients recover elsewhere (`store.rs`; Node loses them).
//! Not built yet: Node's `streamCount` (one stream per namespace group: wsx-sio reads one
//! stream, Node's default).
//! What Node's adapter itself lacks, so a mixed cluster lacks it too: `allRooms` is not in
//! the protocol (wsx-sio answers it from `fetchSockets`), a server is counted by its
//! subscription (no heartbeat: one that hangs with its connection open makes requests wait
//! their 5 s), and a stream entry is read only by servers that were up when it was written
//! (each reader starts at the stream's end).
//!
//! # The protocol (Node's `lib/adapter.ts`, `lib/util.ts`, 0.3.1)
//! - One stream, `socket.io` (`streamName`), for every namespace. A server publishes with
//!   `XADD <stream> MAXLEN ~ 10000 * uid .. nsp .. type .. data ..` (almost-exact trimming:
//!   `maxLen` bounds memory and with it the recovery window in packets) the messages that
//!   must not be lost across a Redis reconnection: broadcasts without acknowledgements,
//!   `socketsJoin`, `socketsLeave`, `disconnectSockets`.
//! - Each server reads it on a connection of its own with `XREAD BLOCK 5000 COUNT 100
//!   STREAMS <stream> <last id>`, starting at `$` (only what comes after it started), and
//!   resumes from the last id it saw after an error: nothing is missed while Redis is
//!   reachable again within `maxLen` entries.
//! - The other messages ("ephemeral": requests, answers, broadcasts with acknowledgements)
//!   go over classic pub/sub (or sharded, `useShardedPubSub`), MessagePack-encoded, on
//!   `socket.io#<nsp>#` (every server) and `socket.io#<nsp>#<uid>#` (the answers to one
//!   server's requests), and servers are counted with `PUBSUB NUMSUB socket.io#<nsp>#`: the
//!   Node adapter is a plain `ClusterAdapter` (socket.io-adapter 2.5), without heartbeats
//!   (`ephemeral.rs`; message types and codecs are the sharded adapter's, `super::sharded`).
//! - A broadcast's offset is its entry id (`<ms>-<seq>`): the sender learns it from `XADD`
//!   and appends it to the packet before delivering to its own sockets; every other server
//!   appends the id it read. So all servers hand a client the same offset.
//! - `persistSession` stores `{sid, pid, rooms, data}` under `sio:session:<pid>` for the
//!   recovery window; `restoreSession(pid, offset)` takes the key (`GET`+`DEL`), checks that
//!   `offset` is still in the stream (`XRANGE s offset offset`), then reads on with `XRANGE s
//!   next(offset) +` (at most 100 calls) and keeps the broadcasts of the namespace that
//!   reached the session's rooms (`entry.rs`, `reached`), each with its entry id appended.
//!
//! # Fitting wsx-sio's recovery (`crate::recovery`)
//! - The offset: with this adapter and [`StreamsRedis::recovery`] in the server's config,
//!   the adapter says it assigns offsets ([`Adapter::assigns_offsets`]), and an event
//!   without acknowledgement (a broadcast, or an emit to one socket, which Node sends as a
//!   broadcast to the socket's room) goes through [`Adapter::broadcast_with_offset`]: its
//!   `XADD` is queued, and this server's sockets get it once the reply gave its entry id,
//!   appended as the offset (`namespace/offsets.rs`), as Node does: the one place where
//!   local delivery waits on Redis (about one round trip; the writer pipelines the `XADD`s
//!   and hands the ids back in order, so order holds), and the price of cross-server
//!   recovery. Other servers append the id they read. A volatile event is neither delayed
//!   nor given an offset; a `local` one is delivered at once without an offset.
//! - The store: [`crate::RecoveryStore::restore`] is asynchronous (a boxed future; the memory
//!   store answers at once), as this one asks Redis (the session key lives there: the socket
//!   may have been on a Node server). A missed packet gets its entry id appended, as it had
//!   live (Node's restore leaves it out). Not restored: the socket's `data` (wsx-sio keeps
//!   none in the session; what a Node server stored is dropped). As in Node, an entry that
//!   this server's reader hands on between the restore's read and the socket's joining its
//!   rooms (microseconds, with no middleware to await) is missed.
//!
//! # Recovery storms (socket.io discussion #5423)
//! In Node every recovering client reads the stream on its own: 1,000 clients coming back
//! together after a server died cost 1,000 `MULTI`/`GET`/`DEL`/`EXEC` and at least 3,000
//! `XRANGE`s over the same entries (`XRANGE offset offset`, then `XRANGE next(offset) +`
//! until one comes back empty). Here (`store.rs`): every server already reads every entry
//! with its `XREAD` loop, so it keeps the decoded tail it read (at most `maxLen` entries) in
//! a per-server ring (`ring.rs`). A restore whose offset lies in the ring (the common case:
//! the server was up when the client was lost) reads no stream at all; one older than the
//! ring's start reads Redis once per span, shared by concurrent and later restores from the
//! same offset. Session keys are taken in batches (`sessions.rs`): the requests that arrived
//! meanwhile go in one `MULTI` with one `MGET` and one `DEL`. Measured by
//! `tests/streams_recovery.rs` (`a_recovery_storm_costs_a_bounded_number_of_redis_reads`,
//! `redis-cli INFO commandstats` deltas): 1,000 clients lost on one node recovering together
//! on another cost 0 `XRANGE`, 0 `GET` and 11 to 21 `MGET` + as many `DEL` (the batches vary
//! with timing); onto a node started after their offsets, 1 `XRANGE`; the same storm onto a
//! Node server with the 0.3.1 adapter (measured in the same test): 3,000 `XRANGE` and 1,000
//! each of `GET`, `DEL`, `MULTI`, `EXEC`.

mod entry;
mod ephemeral;
mod link;
mod ring;
mod session;
mod sessions;
mod store;

use super::sharded::message::{broadcast_data, kind, opts as raw_opts};
use super::sharded::{ShardedAdapter, ShardedRedis};
use crate::adapter::{
    AckBroadcast, Adapter, AdapterError, AdapterFuture, BroadcastOptions, Host, OffsetDelivery,
    Room, SocketInfo,
};
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::sid::Sid;
use link::StreamLink;
use rmpv::Value as Mp;
use serde_json::Value;
use std::sync::{Arc, Weak};
use std::time::Duration;
pub use store::StreamsStore;

/// Settings of the Streams adapter (the names of Node's `RedisStreamsAdapterOptions`).
#[derive(Debug, Clone)]
pub struct StreamsOptions {
    /// The stream (`streamName`; `socket.io`). Servers of one cluster share it.
    pub stream_name: String,
    /// The stream's length, trimmed almost exactly (`maxLen`; 10,000 entries).
    pub max_len: usize,
    /// Entries read at most per `XREAD` (`readCount`; 100).
    pub read_count: usize,
    /// How long one `XREAD` blocks (`blockTimeInMs`; 5 s).
    pub block_time: Duration,
    /// The prefix of the pub/sub channels (`channelPrefix`; `socket.io`).
    pub channel_prefix: String,
    /// Sharded pub/sub (`SSUBSCRIBE`, Redis 7) for the ephemeral messages instead of classic
    /// pub/sub (`useShardedPubSub`; false). Servers of one cluster share it.
    pub use_sharded_pub_sub: bool,
    /// The prefix of the session keys (`sessionKeyPrefix`; `sio:session:`).
    pub session_key_prefix: String,
    /// How long a request waits for the other servers (5 s).
    pub requests_timeout: Duration,
}

impl Default for StreamsOptions {
    fn default() -> Self {
        Self {
            stream_name: "socket.io".to_owned(),
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_secs(5),
            channel_prefix: "socket.io".to_owned(),
            use_sharded_pub_sub: false,
            session_key_prefix: "sio:session:".to_owned(),
            requests_timeout: Duration::from_secs(5),
        }
    }
}

/// A server's connections to Redis for the Streams adapter, shared by the adapters of all
/// its namespaces. Cheap to clone.
#[derive(Clone)]
pub struct StreamsRedis {
    pubsub: ShardedRedis,
    link: Arc<StreamLink>,
}

impl std::fmt::Debug for StreamsRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsRedis")
            .field("uid", &self.pubsub.uid())
            .finish_non_exhaustive()
    }
}

impl StreamsRedis {
    /// Connects to Redis at `url` (5 or later; 7 with [`StreamsOptions::use_sharded_pub_sub`]).
    /// Call it inside a Tokio runtime: it starts the stream's reading and writing tasks and
    /// the pub/sub ones.
    ///
    /// # Errors
    /// The URL is malformed, or Redis cannot be reached now (later outages are survived: the
    /// stream is read on from where it was left).
    pub async fn connect(url: &str, options: StreamsOptions) -> Result<Self, AdapterError> {
        let unavailable = |e: redis::RedisError| AdapterError::Unavailable(e.to_string());
        let pubsub = ephemeral::connect(url, &options).await?;
        let client = redis::Client::open(url).map_err(unavailable)?;
        let link = StreamLink::connect(client, Arc::new(options), pubsub.uid().into())
            .await
            .map_err(unavailable)?;
        Ok(Self { pubsub, link })
    }

    /// The adapter of namespace `nsp`.
    #[must_use]
    pub fn adapter(&self, nsp: &str) -> StreamsAdapter {
        StreamsAdapter {
            pubsub: Arc::new(self.pubsub.adapter(nsp)),
            link: self.link.clone(),
            uid: self.pubsub.uid().into(),
            nsp: nsp.into(),
        }
    }

    /// The factory for [`crate::Server::with_adapter`].
    pub fn factory(&self) -> impl Fn(&str) -> Box<dyn Adapter> + Send + Sync + 'static {
        let redis = self.clone();
        move |nsp| Box::new(redis.adapter(nsp))
    }

    /// Connection state recovery across the cluster, for [`crate::Config::recovery`]: the
    /// sessions of lost sockets under `sio:session:<pid>` for `max_disconnection_duration`,
    /// the packets in the stream, offsets its entry ids, as Node's Streams adapter does, so
    /// that a client lost on one server (a Node one included) recovers on any other
    /// ([`StreamsStore`]). From this call on, this server's events without acknowledgement
    /// reach its own sockets once their `XADD` answered (the entry id is their offset), and
    /// it keeps the stream's tail it reads (at most `max_len` entries) for restores. Call it
    /// inside a Tokio runtime, and put what it returns in the `Config` of the server this
    /// adapter serves (a server whose recovery is in memory with this adapter gets offsets
    /// of its own, which no other server knows).
    #[must_use]
    pub fn recovery(&self, max_disconnection_duration: Duration) -> crate::Recovery {
        self.link.enable_offsets();
        crate::Recovery {
            max_disconnection_duration,
            skip_middlewares: true,
            store: Arc::new(StreamsStore::new(
                self.link.clone(),
                max_disconnection_duration,
            )),
        }
    }

    /// This server's id in the cluster (Node's `adapter.uid`).
    #[must_use]
    pub fn uid(&self) -> &str {
        self.pubsub.uid()
    }

    /// The pub/sub connection under this adapter (its requests go there; classic pub/sub
    /// unless [`StreamsOptions::use_sharded_pub_sub`], driven by the sharded adapter's code): a
    /// [`crate::server::Directory`] for forwarding, as the sharded adapter's.
    #[must_use]
    pub fn pubsub(&self) -> &ShardedRedis {
        &self.pubsub
    }

    /// Messages that could not be sent since the start (Redis down, or a queue full).
    #[must_use]
    pub fn publish_failures(&self) -> u64 {
        self.pubsub.publish_failures() + self.link.failures()
    }

    /// Waits at most `timeout` until every namespace created so far is subscribed on
    /// pub/sub (the stream is read from the start: nothing needs waiting for).
    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        self.pubsub.wait_subscribed(timeout).await
    }
}

/// The adapter of one namespace. See the module docs.
pub struct StreamsAdapter {
    /// The sharded adapter (static mode): local rooms, requests and answers, and the handling
    /// of every message, the stream's included.
    pubsub: Arc<ShardedAdapter>,
    link: Arc<StreamLink>,
    uid: Arc<str>,
    nsp: Arc<str>,
}

impl std::fmt::Debug for StreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapter")
            .field("namespace", &self.nsp)
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

impl StreamsAdapter {
    /// Appends one of our messages to the stream.
    fn append(&self, kind: u64, data: Vec<(&str, Mp)>) -> Result<(), AdapterError> {
        // What Node sends over pub/sub never goes to the stream (a reader would replay it).
        debug_assert!(!entry::is_ephemeral(kind, &data));
        if self
            .link
            .append(entry::encode(&self.uid, &self.nsp, kind, data))
        {
            Ok(())
        } else {
            Err(AdapterError::Unavailable(
                "the Redis stream queue is full".into(),
            ))
        }
    }
}

/// `opts` for this server's part only.
fn local(opts: &BroadcastOptions) -> BroadcastOptions {
    BroadcastOptions {
        local: true,
        ..opts.clone()
    }
}

fn rooms_mp(rooms: &[Room]) -> Mp {
    Mp::Array(rooms.iter().map(|r| Mp::from(r.as_str())).collect())
}

impl Adapter for StreamsAdapter {
    fn attach(&self, host: Weak<dyn Host>) {
        self.link.register_host(&self.nsp, host.clone());
        self.pubsub.attach(host);
        self.link.register(&self.nsp, Arc::downgrade(&self.pubsub));
    }

    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.pubsub.add_all(sid, rooms);
        self.link.touch(&self.nsp, sid);
    }

    fn del(&self, sid: Sid, room: &str) {
        self.pubsub.del(sid, room);
        self.link.touch(&self.nsp, sid);
    }

    fn del_all(&self, sid: Sid) {
        self.pubsub.del_all(sid);
        self.link.touch(&self.nsp, sid);
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.pubsub.socket_rooms(sid)
    }

    fn rooms(&self) -> Vec<Room> {
        self.pubsub.rooms()
    }

    fn local_targets(&self, opts: &BroadcastOptions, host: &dyn Host) -> Vec<Sid> {
        self.pubsub.local_targets(opts, host)
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
        let sent = self
            .pubsub
            .broadcast(event, args, frames, &local(opts), host)?;
        if !opts.local {
            self.append(kind::BROADCAST, broadcast_data(event, args, opts, None))?;
        }
        Ok(sent)
    }

    fn assigns_offsets(&self) -> bool {
        self.link.offsets()
    }

    fn broadcast_with_offset(
        &self,
        event: &str,
        args: &Args,
        opts: &BroadcastOptions,
        deliver: OffsetDelivery,
    ) -> Result<(), AdapterError> {
        let fields = entry::encode(
            &self.uid,
            &self.nsp,
            kind::BROADCAST,
            broadcast_data(event, args, opts, None),
        );
        match self.link.append_then(fields, Some(deliver)) {
            Ok(()) => Ok(()),
            Err(deliver) => {
                if let Some(deliver) = deliver {
                    deliver(None);
                }
                Err(AdapterError::Unavailable(
                    "the Redis stream queue is full".into(),
                ))
            }
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
        // Ephemeral in Node too: over pub/sub.
        self.pubsub
            .broadcast_with_ack(event, args, opts, timeout, host)
    }

    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
        host: &dyn Host,
    ) -> AdapterFuture<Vec<SocketInfo>> {
        self.pubsub.fetch_sockets(opts, host)
    }

    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.pubsub.add_sockets(&local(opts), rooms, host);
        if !opts.local {
            let data = vec![("opts", raw_opts(opts)), ("rooms", rooms_mp(rooms))];
            let _ = self.append(kind::SOCKETS_JOIN, data);
        }
    }

    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        self.pubsub.del_sockets(&local(opts), rooms, host);
        if !opts.local {
            let data = vec![("opts", raw_opts(opts)), ("rooms", rooms_mp(rooms))];
            let _ = self.append(kind::SOCKETS_LEAVE, data);
        }
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool, host: &dyn Host) {
        self.pubsub.disconnect_sockets(&local(opts), close, host);
        if !opts.local {
            let data = vec![("opts", raw_opts(opts)), ("close", Mp::from(close))];
            let _ = self.append(kind::DISCONNECT_SOCKETS, data);
        }
    }

    fn all_rooms(&self, host: &dyn Host) -> AdapterFuture<Vec<Room>> {
        self.pubsub.all_rooms(host)
    }

    fn server_side_emit(&self, packet: Vec<Value>) -> Result<(), AdapterError> {
        self.pubsub.server_side_emit(packet)
    }

    fn server_side_emit_with_ack(&self, packet: Vec<Value>) -> AdapterFuture<Vec<Value>> {
        self.pubsub.server_side_emit_with_ack(packet)
    }

    fn server_count(&self) -> AdapterFuture<usize> {
        self.pubsub.server_count()
    }

    fn close(&self) -> AdapterFuture<()> {
        self.link.unregister(&self.nsp);
        self.pubsub.close()
    }
}
