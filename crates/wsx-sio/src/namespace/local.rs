//! The sockets of one namespace connected to this server, by id: what the namespace's
//! [`crate::adapter::Host`] implementation answers from.

use super::flags::EmitFlags;
use super::outbox::Shared;
use super::socket::Socket;
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::sid::Sid;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Receivers served per read lock of the map in [`LocalSockets::push`].
const PUSH_BATCH: usize = 256;

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

    /// Queues shared frames on each of `sids` here; returns how many took them. No socket
    /// handle is cloned per receiver, and the map's read lock is taken once per
    /// [`PUSH_BATCH`] receivers: few lock operations, and a socket that connects or leaves
    /// (the write lock) waits for one batch at most, not for a whole large broadcast. The
    /// outbox's own lock is taken inside (nothing takes this map's lock while holding an
    /// outbox's).
    pub(crate) fn push(&self, sids: &[Sid], frames: &[Frame]) -> usize {
        // Encoded for direct writes once, when the first idle receiver takes one.
        let shared = Shared::new(frames);
        sids.chunks(PUSH_BATCH)
            .map(|batch| {
                let map = self.read();
                batch
                    .iter()
                    .filter_map(|sid| map.get(sid))
                    .filter(|socket| socket.push_shared(&shared).is_ok())
                    .count()
            })
            .sum()
    }

    /// Like [`Self::push`], for a broadcast with flags or to sockets with outgoing listeners
    /// (`flags.rs`): a volatile packet goes only to receivers for which nothing else waits, and the
    /// outgoing listeners of each connected receiver are called with `event` and `args`
    /// (a dropped volatile packet included, as in Node). The map's lock is
    /// released before any listener runs (a listener may broadcast in turn).
    pub(crate) fn push_flagged(
        &self,
        sids: &[Sid],
        frames: &[Frame],
        flags: EmitFlags,
        event: &str,
        args: &Args,
    ) -> usize {
        // `flags.compress` has no effect here yet: see `EmitFlags::compress`.
        let shared = Shared::new(frames);
        let mut sent = 0;
        for batch in sids.chunks(PUSH_BATCH) {
            let sockets: Vec<Socket> = {
                let map = self.read();
                batch
                    .iter()
                    .filter_map(|sid| map.get(sid).cloned())
                    .collect()
            };
            for socket in sockets {
                let queued = if flags.volatile {
                    socket.connected() && socket.push_volatile(&shared)
                } else {
                    socket.push_shared(&shared).is_ok()
                };
                if socket.connected() {
                    socket.notify_outgoing(event, args);
                }
                sent += usize::from(queued);
            }
        }
        sent
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
