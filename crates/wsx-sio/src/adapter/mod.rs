//! The `Adapter`: where a namespace keeps its rooms and how a broadcast reaches its sockets.
//!
//! [`memory::MemoryAdapter`] (the default) keeps rooms in process. A networked adapter
//! (`redis::RedisAdapter`, feature `redis`, the Node `@socket.io/redis-adapter` wire format)
//! implements the same trait: it overrides the operations that must reach other servers
//! (`broadcast`, `fetch_sockets`, `add_sockets`, `del_sockets`, `disconnect_sockets`,
//! `all_rooms`, `server_side_emit*`, `server_count`) and does the local part itself, at once:
//! local delivery never waits on the network. [`crate::Hub`] only ever talks to this trait.
//!
//! An adapter knows no `Socket` and no `Hub`: what it needs of its namespace (the ids of the
//! sockets connected to this server, pushing encoded frames to them, disconnecting them,
//! describing them, calling a server-side handler) goes through the small [`Host`] trait the
//! namespace implements, as socketioxide's `CoreAdapter<E: SocketEmitter>` does. So the
//! layers stay one way: adapter below namespace.
//!
//! The operations that cross servers come in two shapes, as in Node's adapter: fire and forget
//! (`broadcast`, `add_sockets`, `del_sockets`, `disconnect_sockets`, `server_side_emit`: the
//! local part is done before they return, the rest is published), and request/response
//! (`fetch_sockets`, `all_rooms`, `server_side_emit_with_ack`, `server_count`: an
//! [`AdapterFuture`] that resolves when every server answered, or fails after a timeout).

mod broadcast_ack;
mod host;
mod info;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
mod server_side;

use crate::args::Args;
use crate::engine::transport::Frame;
use crate::sid::Sid;
use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::time::Duration;

pub use crate::error::AdapterError;
pub use crate::rooms::{BroadcastOptions, Room};
pub use broadcast_ack::{AckBroadcast, AckReport};
pub use host::{AckWait, Host};
pub use info::SocketInfo;
pub use memory::MemoryAdapter;
pub use server_side::ServerAck;

/// What [`Adapter::broadcast_with_offset`] calls once the packet's offset is known (`None`:
/// it could not be published): this server's part of the broadcast.
pub type OffsetDelivery = Box<dyn FnOnce(Option<String>) + Send>;

/// A boxed future returned by adapter operations that may cross the network.
pub type AdapterFuture<T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send>>;

/// Rooms and broadcasts of one namespace. See the module docs.
pub trait Adapter: Send + Sync + 'static {
    /// Called once, when the namespace that owns this adapter is created: a networked adapter
    /// keeps its host (weakly: the namespace owns the adapter) to deliver what other servers
    /// send.
    fn attach(&self, host: Weak<dyn Host>) {
        let _ = host;
    }

    /// Adds a local socket to rooms.
    fn add_all(&self, sid: Sid, rooms: &[Room]);

    /// Removes a local socket from a room.
    fn del(&self, sid: Sid, room: &str);

    /// Removes a local socket from every room (it disconnected).
    fn del_all(&self, sid: Sid);

    /// The rooms a local socket is in (its own id not included).
    fn socket_rooms(&self, sid: Sid) -> Vec<Room>;

    /// The rooms of this server's sockets (their own ids not included).
    fn rooms(&self) -> Vec<Room>;

    /// The local sockets `opts` addresses.
    fn local_targets(&self, opts: &BroadcastOptions, host: &dyn Host) -> Vec<Sid>;

    /// Sends a packet, encoded once, to every socket `opts` addresses; the frames are shared
    /// (`Bytes` clones), never re-encoded per receiver. Returns how many local sockets it
    /// was queued for. `args` (with `event`) is the packet's content, for adapters that pass
    /// it on to other servers.
    ///
    /// # Errors
    /// A networked adapter could not publish it (local delivery was done all the same).
    fn broadcast(
        &self,
        event: &str,
        args: &Args,
        frames: &[Frame],
        opts: &BroadcastOptions,
        host: &dyn Host,
    ) -> Result<usize, AdapterError> {
        let _ = (event, args);
        Ok(host.push(&self.local_targets(opts, host), frames))
    }

    /// Whether this adapter assigns the offsets of connection state recovery (the Streams
    /// adapter: an offset is the packet's entry id in the log every server reads, so any
    /// server can resume from it). Then, with recovery on, the namespace sends its events
    /// without acknowledgement through [`Self::broadcast_with_offset`] instead of making an
    /// offset up. Default: no.
    fn assigns_offsets(&self) -> bool {
        false
    }

    /// Publishes the packet of `event` with `args` to the sockets `opts` addresses, and once
    /// its offset is known calls `deliver` with it (`None` when the packet could not be
    /// published): `deliver` does this server's part, so local delivery waits for the
    /// offset. Calls of `deliver` keep the order of the calls of this method. Only called
    /// when [`Self::assigns_offsets`]; the default delivers at once without an offset.
    ///
    /// # Errors
    /// The packet could not be queued for publishing (`deliver` was called with `None`).
    fn broadcast_with_offset(
        &self,
        event: &str,
        args: &Args,
        opts: &BroadcastOptions,
        deliver: OffsetDelivery,
    ) -> Result<(), AdapterError> {
        let _ = (event, args, opts);
        deliver(None);
        Ok(())
    }

    /// Sends `event` with `args` to every socket `opts` addresses, each asked for an
    /// acknowledgement within `timeout`; returns what to wait for (see [`AckBroadcast`]).
    /// This server's sockets get it before this returns. A networked adapter publishes it
    /// to the other servers and feeds their reports in (with `opts.local`, it must not).
    ///
    /// # Errors
    /// A networked adapter could not publish it: then nothing was sent, not even to this
    /// server's sockets (their answers could not be told apart from a partial result).
    fn broadcast_with_ack(
        &self,
        event: &str,
        args: &Args,
        opts: &BroadcastOptions,
        timeout: Duration,
        host: &dyn Host,
    ) -> Result<AckBroadcast, AdapterError> {
        Ok(AckBroadcast::local_only(local_acks(
            self, event, args, opts, timeout, host,
        )))
    }

    /// The sockets `opts` addresses, on every server.
    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
        host: &dyn Host,
    ) -> AdapterFuture<Vec<SocketInfo>> {
        let sockets = self
            .local_targets(opts, host)
            .into_iter()
            .filter_map(|sid| host.describe(sid))
            .collect();
        Box::pin(std::future::ready(Ok(sockets)))
    }

    /// Makes the sockets `opts` addresses join `rooms`.
    /// The host hears of the rooms each socket was not in ([`Host::rooms_joined`]).
    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        for sid in self.local_targets(opts, host) {
            let had = self.socket_rooms(sid);
            self.add_all(sid, rooms);
            let mut joined: Vec<Room> = Vec::new();
            for room in rooms {
                if !had.contains(room) && !joined.contains(room) {
                    joined.push(room.clone());
                }
            }
            if !joined.is_empty() {
                host.rooms_joined(sid, &joined);
            }
        }
    }

    /// Makes the sockets `opts` addresses leave `rooms`. The host hears of the rooms each
    /// socket was in ([`Host::rooms_left`]).
    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], host: &dyn Host) {
        for sid in self.local_targets(opts, host) {
            let had = self.socket_rooms(sid);
            let mut left: Vec<Room> = Vec::new();
            for room in rooms {
                self.del(sid, room);
                if had.contains(room) && !left.contains(room) {
                    left.push(room.clone());
                }
            }
            if !left.is_empty() {
                host.rooms_left(sid, &left);
            }
        }
    }

    /// Disconnects the sockets `opts` addresses: from their namespace ("server namespace
    /// disconnect"), or with `close` their whole connection.
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool, host: &dyn Host) {
        host.disconnect(&self.local_targets(opts, host), close);
    }

    /// Every room of the namespace, on every server (socket ids included, as in Node).
    fn all_rooms(&self, host: &dyn Host) -> AdapterFuture<Vec<Room>> {
        let mut rooms = self.rooms();
        rooms.extend(host.sids().into_iter().map(|sid| sid.to_string()));
        Box::pin(std::future::ready(Ok(rooms)))
    }

    /// Sends a server-side event (`[event, ...args]`) to the other servers' namespace handlers
    /// ([`crate::Namespace::on_server_side`]); this server's handlers are not called.
    ///
    /// # Errors
    /// A networked adapter could not publish it.
    fn server_side_emit(&self, packet: Vec<serde_json::Value>) -> Result<(), AdapterError> {
        let _ = packet;
        Ok(())
    }

    /// Like [`Self::server_side_emit`], and collects one answer from each other server.
    fn server_side_emit_with_ack(
        &self,
        packet: Vec<serde_json::Value>,
    ) -> AdapterFuture<Vec<serde_json::Value>> {
        let _ = packet;
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// How many servers serve this namespace (this one included).
    fn server_count(&self) -> AdapterFuture<usize> {
        Box::pin(std::future::ready(Ok(1)))
    }

    /// The server shuts down ([`crate::Server::shutdown`], after its connections ended): a
    /// networked adapter stops receiving from the other servers (the Redis adapter
    /// unsubscribes this namespace's channels), so that they stop counting this server.
    fn close(&self) -> AdapterFuture<()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Emits `event` to each of this server's sockets that `opts` addresses, asking each for an
/// acknowledgement (the local part of [`Adapter::broadcast_with_ack`], for adapters that
/// override it), through [`Host::emit_many_with_ack`].
pub fn local_acks<A: Adapter + ?Sized>(
    adapter: &A,
    event: &str,
    args: &Args,
    opts: &BroadcastOptions,
    timeout: Duration,
    host: &dyn Host,
) -> Vec<AckWait> {
    let targets = adapter.local_targets(opts, host);
    if targets.is_empty() {
        return Vec::new();
    }
    host.emit_many_with_ack(&targets, event, args, timeout)
}
