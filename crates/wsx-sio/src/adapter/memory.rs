//! The in-memory adapter: rooms as two maps (room -> sockets, socket -> rooms) under one lock.
//!
//! A socket's own id is not stored as a room (that would cost an entry per idle client): a
//! room name that is the id of a local socket addresses that socket.

use super::{Adapter, Host};
use crate::rooms::{BroadcastOptions, Room};
use crate::sid::Sid;
use std::collections::{HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

#[derive(Debug, Default)]
struct Rooms {
    members: HashMap<Room, HashSet<Sid>>,
    of_socket: HashMap<Sid, Vec<Room>>,
}

/// The default adapter: rooms of one server's sockets, in memory.
#[derive(Debug, Default)]
pub struct MemoryAdapter {
    rooms: RwLock<Rooms>,
}

impl MemoryAdapter {
    /// An adapter with no rooms.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether some socket is in `room`.
    #[must_use]
    pub fn has_room(&self, room: &str) -> bool {
        self.read().members.contains_key(room)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rooms> {
        self.rooms.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rooms> {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sockets in any of `rooms` (socket ids count as rooms).
    fn members(rooms: &Rooms, names: &[Room], host: &dyn Host, out: &mut HashSet<Sid>) {
        for name in names {
            if let Some(sids) = rooms.members.get(name) {
                out.extend(sids.iter().copied());
            }
            if let Some(sid) = Sid::parse(name)
                && host.has_socket(sid)
            {
                out.insert(sid);
            }
        }
    }
}

impl Adapter for MemoryAdapter {
    /// A broadcast to no room goes to every local socket through [`Host::push_all`] (no list
    /// of ids, no lookup per receiver, no handle cloned per receiver: about 15 instructions per
    /// delivery besides the write, `scripts/sio_fanout_instr.sh`); to rooms, as the trait's
    /// default.
    fn broadcast(
        &self,
        event: &str,
        args: &crate::args::Args,
        frames: &[crate::engine::transport::Frame],
        opts: &BroadcastOptions,
        host: &dyn Host,
    ) -> Result<usize, super::AdapterError> {
        let _ = (event, args);
        if !opts.rooms.is_empty() {
            return Ok(host.push(&self.local_targets(opts, host), frames));
        }
        let mut except = HashSet::new();
        Self::members(&self.read(), &opts.except, host, &mut except);
        Ok(host.push_all(&except, frames))
    }

    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        let mut state = self.write();
        for room in rooms {
            if state.members.entry(room.clone()).or_default().insert(sid) {
                state.of_socket.entry(sid).or_default().push(room.clone());
            }
        }
    }

    fn del(&self, sid: Sid, room: &str) {
        let mut state = self.write();
        if let Some(sids) = state.members.get_mut(room) {
            sids.remove(&sid);
            if sids.is_empty() {
                state.members.remove(room);
            }
        }
        if let Some(rooms) = state.of_socket.get_mut(&sid) {
            rooms.retain(|r| r != room);
            if rooms.is_empty() {
                state.of_socket.remove(&sid);
            }
        }
    }

    fn del_all(&self, sid: Sid) {
        let mut state = self.write();
        let Some(rooms) = state.of_socket.remove(&sid) else {
            return;
        };
        for room in rooms {
            if let Some(sids) = state.members.get_mut(&room) {
                sids.remove(&sid);
                if sids.is_empty() {
                    state.members.remove(&room);
                }
            }
        }
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.read().of_socket.get(&sid).cloned().unwrap_or_default()
    }

    fn rooms(&self) -> Vec<Room> {
        self.read().members.keys().cloned().collect()
    }

    fn local_targets(&self, opts: &BroadcastOptions, host: &dyn Host) -> Vec<Sid> {
        let state = self.read();
        let mut except = HashSet::new();
        Self::members(&state, &opts.except, host, &mut except);
        if opts.rooms.is_empty() {
            // A broadcast to everybody: the ids as they come, filtered only when something is
            // left out (a second pass over a large broadcast's ids cost about 20 instructions
            // per delivery, `scripts/sio_fanout_instr.sh`).
            let mut sids = host.sids();
            if !except.is_empty() {
                sids.retain(|sid| !except.contains(sid));
            }
            return sids;
        }
        let mut targets = HashSet::new();
        Self::members(&state, &opts.rooms, host, &mut targets);
        targets.retain(|sid| !except.contains(sid));
        targets.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{AckWait, ServerAck, SocketInfo};
    use crate::args::Args;
    use crate::engine::transport::Frame;
    use std::time::Duration;

    /// A host with no socket connected: rooms alone select.
    struct NoSockets;

    impl Host for NoSockets {
        fn sids(&self) -> Vec<Sid> {
            Vec::new()
        }
        fn has_socket(&self, _: Sid) -> bool {
            false
        }
        fn push(&self, _: &[Sid], _: &[Frame]) -> usize {
            0
        }
        fn disconnect(&self, _: &[Sid], _: bool) {}
        fn describe(&self, _: Sid) -> Option<SocketInfo> {
            None
        }
        fn emit_with_ack(&self, _: Sid, _: &str, _: Args, _: Duration) -> Option<AckWait> {
            None
        }
        fn server_side(&self, _: Vec<serde_json::Value>, _: ServerAck) -> bool {
            false
        }
        fn parser(&self) -> crate::packet::Parser {
            crate::packet::Parser::Json
        }
    }

    #[test]
    fn rooms_are_kept_both_ways_and_emptied() {
        let adapter = MemoryAdapter::new();
        let (a, b) = (Sid::random(), Sid::random());
        adapter.add_all(a, &["x".into(), "y".into(), "x".into()]);
        adapter.add_all(b, &["x".into()]);
        assert_eq!(
            adapter.socket_rooms(a),
            vec!["x".to_owned(), "y".to_owned()]
        );
        let local = NoSockets;
        let mut in_x = adapter.local_targets(
            &BroadcastOptions {
                rooms: vec!["x".into()],
                except: vec![],
                ..BroadcastOptions::default()
            },
            &local,
        );
        in_x.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(in_x, want);
        let x_but_y = adapter.local_targets(
            &BroadcastOptions {
                rooms: vec!["x".into()],
                except: vec!["y".into()],
                ..BroadcastOptions::default()
            },
            &local,
        );
        assert_eq!(x_but_y, vec![b]);
        let mut rooms = adapter.rooms();
        rooms.sort();
        assert_eq!(rooms, vec!["x".to_owned(), "y".to_owned()]);
        adapter.del(a, "y");
        adapter.del_all(a);
        adapter.del_all(b);
        let state = adapter.read();
        assert!(state.members.is_empty() && state.of_socket.is_empty());
    }
}
