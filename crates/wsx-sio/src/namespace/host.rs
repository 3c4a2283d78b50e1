//! The namespace as its adapter's [`Host`]: the adapter reaches this server's sockets of the
//! namespace only through these methods (see [`crate::adapter`]).

use super::NsInner;
use super::ack::BROADCAST_ACK_IDS;
use super::observe::NsEvent;
use super::outbox::Shared;
use super::socket::Socket;
use crate::adapter::{AckWait, Host, ServerAck, SocketInfo};
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::frames::event_frames;
use crate::packet::socket::MAX_ACK_ID;
use crate::rooms::{EmitFlags, Room};
use crate::sid::Sid;
use serde_json::{Map, Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

impl Host for NsInner {
    fn sids(&self) -> Vec<Sid> {
        self.local.ids()
    }

    fn has_socket(&self, sid: Sid) -> bool {
        self.local.contains(sid)
    }

    fn push(&self, sids: &[Sid], frames: &[Frame]) -> usize {
        self.local.push(sids, frames)
    }

    fn push_event(
        &self,
        sids: &[Sid],
        frames: &[Frame],
        flags: EmitFlags,
        event: &str,
        args: &Args,
    ) -> usize {
        // As a broadcast of this server (`hub.rs`): plain, to a namespace where no socket has
        // outgoing listeners, it takes the plain push and pays nothing for them.
        if flags.is_plain() && self.outgoing_sockets.load(Ordering::Acquire) == 0 {
            self.local.push(sids, frames)
        } else {
            self.local.push_flagged(sids, frames, flags, event, args)
        }
    }

    fn push_all(&self, except: &std::collections::HashSet<Sid>, frames: &[Frame]) -> usize {
        self.local.push_all(except, frames)
    }

    fn disconnect(&self, sids: &[Sid], close: bool) {
        for &sid in sids {
            // Looked up one by one, the map's lock released: disconnecting leaves the map.
            if let Some(socket) = self.local.get(sid) {
                if close {
                    socket.close_connection();
                } else {
                    socket.disconnect();
                }
            }
        }
    }

    fn describe(&self, sid: Sid) -> Option<SocketInfo> {
        self.local.get(sid).map(|socket| describe(&socket))
    }

    fn emit_with_ack(
        &self,
        sid: Sid,
        event: &str,
        args: Args,
        timeout: Duration,
    ) -> Option<AckWait> {
        let socket = self.local.get(sid)?;
        Some(socket.emit_args_with_ack(event, args, timeout).into_inner())
    }

    fn emit_many_with_ack(
        &self,
        sids: &[Sid],
        event: &str,
        args: &Args,
        timeout: Duration,
        flags: EmitFlags,
    ) -> Vec<AckWait> {
        // One id for every receiver, from the namespace's range (above any socket's own),
        // so that the packet is encoded once, as Node's broadcastWithAck does.
        let id = BROADCAST_ACK_IDS
            + self.next_broadcast_ack.fetch_add(1, Ordering::Relaxed)
                % (MAX_ACK_ID + 1 - BROADCAST_ACK_IDS);
        let frames = event_frames(self.parser, &self.name, event, args.clone(), Some(id));
        let shared = Shared::new(&frames).compress(flags.compress);
        let mut waits = Vec::with_capacity(sids.len());
        for &sid in sids {
            let Some(socket) = self.local.get(sid) else {
                continue;
            };
            match socket.emit_frames_with_ack(id, &shared, timeout, flags.volatile) {
                Some(wait) => {
                    // Node's broadcastWithAck calls the outgoing listeners too.
                    socket.notify_outgoing(event, args);
                    waits.push(wait.into_inner());
                }
                // The id is still taken on this socket (a broadcast 2^52 broadcasts ago that
                // is still unanswered): a packet of its own.
                None if socket.connected() => {
                    // (Its outgoing listeners are called there.)
                    waits.push(
                        socket
                            .emit_args_with_ack_flagged(event, args.clone(), timeout, flags)
                            .into_inner(),
                    );
                }
                None => {}
            }
        }
        waits
    }

    fn server_side(&self, packet: Vec<Value>, ack: ServerAck) -> bool {
        self.dispatch_server_side(packet, ack)
    }

    fn rooms_joined(&self, sid: Sid, rooms: &[Room]) {
        for room in rooms {
            self.notify(NsEvent::Joined(sid, room));
        }
    }

    fn rooms_left(&self, sid: Sid, rooms: &[Room]) {
        for room in rooms {
            self.notify(NsEvent::Left(sid, room));
        }
    }

    fn parser(&self) -> crate::packet::Parser {
        self.parser
    }
}

/// A socket as adapters describe it to each other (Node's `fetchSockets` answer).
pub(crate) fn describe(socket: &Socket) -> SocketInfo {
    let handshake = socket.handshake();
    let headers: Map<String, Value> = handshake
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), Value::from(value.to_str().ok()?)))
        })
        .collect();
    let query: Map<String, Value> = handshake
        .query
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    let issued = handshake
        .issued
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let handshake = json!({
        "headers": headers,
        "time": issued.to_string(),
        "address": handshake.remote_addr.map(|a| a.ip().to_string()).unwrap_or_default(),
        "xdomain": handshake.headers.contains_key(http::header::ORIGIN),
        "secure": false,
        "issued": issued,
        "url": handshake.uri.to_string(),
        "query": query,
        "auth": socket.auth(),
    });
    // The application's `socket.data`, and what observers keep in it (the admin UI's
    // `_admin`), as Node's do (which cannot add a key to data that is not an object either).
    let mut data = socket.data();
    if let Value::Object(map) = &mut data {
        for observer in socket.hub().0.observers() {
            if let Some((key, value)) = observer.data(socket) {
                map.insert(key, value);
            }
        }
    }
    SocketInfo {
        id: socket.id().to_string(),
        handshake,
        rooms: socket.rooms(),
        data,
    }
}
