//! The `Adapter`: where a namespace keeps its rooms and how a broadcast reaches its sockets.
//!
//! [`memory::MemoryAdapter`] (the default) keeps rooms in process. A networked adapter
//! (`redis::RedisAdapter`, feature `redis`, the Node `@socket.io/redis-adapter` wire format)
//! implements the same trait: it overrides the operations that must reach other servers
//! (`broadcast`, `fetch_sockets`, `add_sockets`, `del_sockets`, `disconnect_sockets`,
//! `all_rooms`, `server_side_emit*`, `server_count`) and does the local part itself, at once:
//! local delivery never waits on the network. [`crate::Hub`] only ever talks to this trait.
//!
//! The operations that cross servers come in two shapes, as in Node's adapter: fire and forget
//! (`broadcast`, `add_sockets`, `del_sockets`, `disconnect_sockets`, `server_side_emit`: the
//! local part is done before they return, the rest is published), and request/response
//! (`fetch_sockets`, `all_rooms`, `server_side_emit_with_ack`, `server_count`: an
//! [`AdapterFuture`] that resolves when every server answered, or fails after a timeout).

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
mod remote;

use crate::engine::transport::Frame;
use crate::hub::Hub;
use crate::server::Socket;
use crate::sid::Sid;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{PoisonError, RwLock};

pub use memory::MemoryAdapter;
pub use remote::{RemoteSocket, SocketInfo};

/// A room name.
pub type Room = String;

/// Which sockets an operation addresses: those in any of `rooms` (every socket when empty),
/// minus those in any of `except`. A socket id is also a room holding just that socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// The rooms addressed; empty means the whole namespace.
    pub rooms: Vec<Room>,
    /// The rooms left out.
    pub except: Vec<Room>,
    /// This server's sockets only (Socket.IO's `io.local`): nothing is sent to other servers.
    pub local: bool,
}

/// A boxed future returned by adapter operations that may cross the network.
pub type AdapterFuture<T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send>>;

/// Why an adapter operation failed (networked adapters; the in-memory one never fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The other servers could not be reached.
    #[error("adapter unavailable: {0}")]
    Unavailable(String),
    /// The arguments of a server-side event cannot be represented as JSON.
    #[error("arguments are not JSON: {0}")]
    NotJson(String),
    /// Not every server answered a request in time (Node's "timeout reached while waiting
    /// for ... response").
    #[error("timeout: {got} of {expected} servers answered")]
    Timeout {
        /// Answers received.
        got: usize,
        /// Answers expected (the other servers subscribed when the request went out).
        expected: usize,
    },
}

/// The sockets of one namespace connected to this server.
#[derive(Debug, Default)]
pub struct LocalSockets {
    map: RwLock<HashMap<Sid, Socket>>,
}

impl LocalSockets {
    /// The socket with this id.
    #[must_use]
    pub fn get(&self, sid: Sid) -> Option<Socket> {
        self.read().get(&sid).cloned()
    }

    /// Every socket id.
    #[must_use]
    pub fn ids(&self) -> Vec<Sid> {
        self.read().keys().copied().collect()
    }

    /// How many sockets are connected.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether none is.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every socket.
    #[must_use]
    pub fn sockets(&self) -> Vec<Socket> {
        self.read().values().cloned().collect()
    }

    pub(crate) fn insert(&self, socket: Socket) {
        self.write().insert(socket.id(), socket);
    }

    pub(crate) fn remove(&self, sid: Sid) {
        self.write().remove(&sid);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Sid, Socket>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Sid, Socket>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Rooms and broadcasts of one namespace. See the module docs.
pub trait Adapter: Send + Sync + 'static {
    /// Called once, when the namespace that owns this adapter is created: a networked adapter
    /// keeps the hub (weakly: the hub owns the adapter) to deliver what other servers send.
    fn attach(&self, hub: &Hub) {
        let _ = hub;
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
    fn local_targets(&self, opts: &BroadcastOptions, local: &LocalSockets) -> Vec<Sid>;

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
        args: &crate::Args,
        frames: &[Frame],
        opts: &BroadcastOptions,
        local: &LocalSockets,
    ) -> Result<usize, AdapterError> {
        let _ = (event, args);
        Ok(deliver(self.local_targets(opts, local), frames, local))
    }

    /// The sockets `opts` addresses, on every server.
    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
        local: &LocalSockets,
    ) -> AdapterFuture<Vec<SocketInfo>> {
        let sockets = self
            .local_targets(opts, local)
            .into_iter()
            .filter_map(|sid| local.get(sid))
            .map(|socket| SocketInfo::of_local(&socket))
            .collect();
        Box::pin(std::future::ready(Ok(sockets)))
    }

    /// Makes the sockets `opts` addresses join `rooms`.
    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], local: &LocalSockets) {
        for sid in self.local_targets(opts, local) {
            self.add_all(sid, rooms);
        }
    }

    /// Makes the sockets `opts` addresses leave `rooms`.
    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], local: &LocalSockets) {
        for sid in self.local_targets(opts, local) {
            for room in rooms {
                self.del(sid, room);
            }
        }
    }

    /// Disconnects the sockets `opts` addresses: from their namespace ("server namespace
    /// disconnect"), or with `close` their whole connection.
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool, local: &LocalSockets) {
        disconnect_local(self.local_targets(opts, local), close, local);
    }

    /// Every room of the namespace, on every server (socket ids included, as in Node).
    fn all_rooms(&self, local: &LocalSockets) -> AdapterFuture<Vec<Room>> {
        let mut rooms = self.rooms();
        rooms.extend(local.ids().into_iter().map(|sid| sid.to_string()));
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
}

/// Queues shared frames on each target; returns how many took them.
pub(crate) fn deliver(targets: Vec<Sid>, frames: &[Frame], local: &LocalSockets) -> usize {
    let mut sent = 0;
    for sid in targets {
        if let Some(socket) = local.get(sid)
            && socket.push(frames.iter().cloned()).is_ok()
        {
            sent += 1;
        }
    }
    sent
}

/// Disconnects local targets from their namespace, or closes their connections.
pub(crate) fn disconnect_local(targets: Vec<Sid>, close: bool, local: &LocalSockets) {
    for sid in targets {
        if let Some(socket) = local.get(sid) {
            if close {
                socket.close_connection();
            } else {
                socket.disconnect();
            }
        }
    }
}
