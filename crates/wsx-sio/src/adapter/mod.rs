//! The `Adapter`: where a namespace keeps its rooms and how a broadcast reaches its sockets.
//!
//! [`memory::MemoryAdapter`] (the default) keeps rooms in process. A networked adapter (Redis,
//! matching the Node `@socket.io/redis-adapter` wire format) implements the same trait: it
//! overrides the operations that must reach other servers (`broadcast`, `fetch_sockets`,
//! `add_sockets`, `del_sockets`, `disconnect_sockets`) and calls the provided local versions
//! for its own sockets. [`crate::Hub`] only ever talks to this trait.

pub mod memory;

use crate::engine::transport::Frame;
use crate::server::Socket;
use crate::sid::Sid;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{PoisonError, RwLock};

pub use memory::MemoryAdapter;

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
}

/// A boxed future returned by adapter operations that may cross the network.
pub type AdapterFuture<T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send>>;

/// Why an adapter operation failed (networked adapters; the in-memory one never fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The other servers could not be reached or did not answer in time.
    #[error("adapter unavailable: {0}")]
    Unavailable(String),
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
    /// Adds a local socket to rooms.
    fn add_all(&self, sid: Sid, rooms: &[Room]);

    /// Removes a local socket from a room.
    fn del(&self, sid: Sid, room: &str);

    /// Removes a local socket from every room (it disconnected).
    fn del_all(&self, sid: Sid);

    /// The rooms a local socket is in (its own id not included).
    fn socket_rooms(&self, sid: Sid) -> Vec<Room>;

    /// The local sockets `opts` addresses.
    fn local_targets(&self, opts: &BroadcastOptions, local: &LocalSockets) -> Vec<Sid>;

    /// Sends a packet, encoded once, to every socket `opts` addresses; the frames are shared
    /// (`Bytes` clones), never re-encoded per receiver. Returns how many local sockets it
    /// was queued for.
    ///
    /// # Errors
    /// A networked adapter could not publish it.
    fn broadcast(
        &self,
        frames: &[Frame],
        opts: &BroadcastOptions,
        local: &LocalSockets,
    ) -> Result<usize, AdapterError> {
        let mut sent = 0;
        for sid in self.local_targets(opts, local) {
            if let Some(socket) = local.get(sid)
                && socket.push(frames.iter().cloned()).is_ok()
            {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// The sockets `opts` addresses.
    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
        local: &LocalSockets,
    ) -> AdapterFuture<Vec<Socket>> {
        let sockets = self
            .local_targets(opts, local)
            .into_iter()
            .filter_map(|sid| local.get(sid))
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

    /// Disconnects the sockets `opts` addresses ("server namespace disconnect").
    fn disconnect_sockets(&self, opts: &BroadcastOptions, local: &LocalSockets) {
        for sid in self.local_targets(opts, local) {
            if let Some(socket) = local.get(sid) {
                socket.disconnect();
            }
        }
    }
}
