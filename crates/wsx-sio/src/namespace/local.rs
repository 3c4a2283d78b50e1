//! The sockets of one namespace connected to this server, by id: what the namespace's
//! [`crate::adapter::Host`] implementation answers from.

use super::flags::EmitFlags;
use super::outbox::Shared;
use super::socket::Socket;
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::sid::Sid;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

/// Receivers served per read lock of the map in [`LocalSockets::push`].
const PUSH_BATCH: usize = 256;

/// Up to this many sockets left out of a broadcast to all (`socket.broadcast.emit` leaves
/// one) are compared id by id, not looked up in a hash set.
const FEW_EXCEPT: usize = 8;

/// The sockets of one namespace connected to this server.
#[derive(Debug, Default)]
pub struct LocalSockets {
    map: RwLock<Sockets>,
}

/// The map, and every socket of it as one list for broadcasts to all.
#[derive(Debug, Default)]
struct Sockets {
    by_id: HashMap<Sid, Socket, SidHash>,
    /// Every socket of `by_id`, made by the first broadcast to all after a socket came or
    /// left, and shared by the broadcasts until the next such change (which drops it): a
    /// broadcast clones one `Arc`, not a handle per receiver (about 40 instructions per
    /// delivery, `scripts/sio_fanout_instr.sh`), and goes through its receivers with the map's
    /// lock released. Costs a pointer per socket while the sockets do not change, and nothing
    /// on a server that never broadcasts to all.
    all: OnceLock<Arc<[Socket]>>,
}

impl LocalSockets {
    /// The socket with this id.
    #[must_use]
    pub fn get(&self, sid: Sid) -> Option<Socket> {
        self.read().by_id.get(&sid).cloned()
    }

    /// Whether the socket with this id is here.
    #[must_use]
    pub fn contains(&self, sid: Sid) -> bool {
        self.read().by_id.contains_key(&sid)
    }

    /// Every socket id.
    #[must_use]
    pub fn ids(&self) -> Vec<Sid> {
        self.read().by_id.keys().copied().collect()
    }

    /// How many sockets are connected.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether none is.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every socket.
    #[must_use]
    pub fn sockets(&self) -> Vec<Socket> {
        self.read().by_id.values().cloned().collect()
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
                    .filter_map(|sid| map.by_id.get(sid))
                    .filter(|socket| socket.push_shared(&shared).is_ok())
                    .count()
            })
            .sum()
    }

    /// Sends shared frames to every socket but those of `except` (a broadcast to no room):
    /// through the list of every socket ([`Sockets::all`]), with no lookup by id and no handle
    /// cloned per receiver, the map's lock released (a direct write is a `send` each: a socket
    /// that connects or leaves does not wait for them).
    pub(crate) fn push_all(&self, except: &HashSet<Sid>, frames: &[Frame]) -> usize {
        let all = {
            let map = self.read();
            map.all
                .get_or_init(|| map.by_id.values().cloned().collect())
                .clone()
        };
        let shared = Shared::new(frames);
        let sent = |socket: &&Socket| socket.push_shared(&shared).is_ok();
        if except.is_empty() {
            all.iter().filter(sent).count()
        } else if except.len() <= FEW_EXCEPT {
            let few: Vec<Sid> = except.iter().copied().collect();
            all.iter()
                .filter(|socket| !few.contains(&socket.id()))
                .filter(sent)
                .count()
        } else {
            all.iter()
                .filter(|socket| !except.contains(&socket.id()))
                .filter(sent)
                .count()
        }
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
        // Deflated once for every receiver that compresses, or uncompressed for all.
        let shared = Shared::new(frames).compress(flags.compress);
        let mut sent = 0;
        for batch in sids.chunks(PUSH_BATCH) {
            let sockets: Vec<Socket> = {
                let map = self.read();
                batch
                    .iter()
                    .filter_map(|sid| map.by_id.get(sid).cloned())
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
        let (replaced, all) = {
            let mut map = self.write();
            (map.by_id.insert(socket.id(), socket), map.all.take())
        };
        // Handles let go with the lock released.
        drop((replaced, all));
    }

    pub(crate) fn remove(&self, sid: Sid) {
        let (removed, all) = {
            let mut map = self.write();
            let removed = map.by_id.remove(&sid);
            let all = if removed.is_some() {
                map.all.take()
            } else {
                None
            };
            (removed, all)
        };
        drop((removed, all));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Sockets> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Sockets> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How the map of local sockets hashes ids: a broadcast looks up each receiver, and the
/// default SipHash of a 20-byte id cost about 100 instructions per delivery
/// (`scripts/sio_fanout_instr.sh`). The ids of this server's sockets are random
/// ([`Sid::random`]: 15 bytes from the operating system's generator, or restored by connection
/// state recovery from an id the server made), so no client chooses the keys of this map, and
/// a few multiplications that mix every byte into every bit of the hash are enough (the fold of
/// a 64 x 64 -> 128-bit product, as foldhash and wyhash do).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SidHash;

impl BuildHasher for SidHash {
    type Hasher = SidHasher;

    fn build_hasher(&self) -> SidHasher {
        SidHasher(0x243f_6a88_85a3_08d3)
    }
}

/// See [`SidHash`].
pub(crate) struct SidHasher(u64);

/// The high and low halves of the 128-bit product, folded together.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for SidHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = fold(h ^ u64::from_le_bytes(word), 0x9e37_79b9_7f4a_7c15);
        }
        self.0 = h;
    }

    /// The length before the id's bytes (the derived `Hash` of an array): always 20.
    #[inline]
    fn write_usize(&mut self, _: usize) {}

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_hash_apart_in_every_bit_range() {
        let hashes: Vec<u64> = (0..4096).map(|_| SidHash.hash_one(Sid::random())).collect();
        let distinct: std::collections::HashSet<u64> = hashes.iter().copied().collect();
        assert_eq!(distinct.len(), hashes.len());
        // The low bits pick the bucket and the high ones the tag (hashbrown): both spread.
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 0xfff).collect();
        let high: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 2400, "{} of 4096 low values", low.len());
        assert_eq!(high.len(), 128);
    }
}
