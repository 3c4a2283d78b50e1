//! The sockets of one namespace connected to this server, by id: what the namespace's
//! [`crate::adapter::Host`] implementation answers from.

use super::socket::Socket;
use crate::engine::transport::Frame;
use crate::sid::Sid;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

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

    /// Whether the socket with this id is here.
    #[must_use]
    pub fn contains(&self, sid: Sid) -> bool {
        self.read().contains_key(&sid)
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

    /// Queues shared frames on each of `sids` here; returns how many took them. One read
    /// lock for the whole broadcast, no socket handle cloned per receiver; the outbox's own
    /// lock is taken inside it (nothing takes this map's lock while holding an outbox's).
    pub(crate) fn push(&self, sids: &[Sid], frames: &[Frame]) -> usize {
        let map = self.read();
        sids.iter()
            .filter_map(|sid| map.get(sid))
            .filter(|socket| socket.push(frames.iter().cloned()).is_ok())
            .count()
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
