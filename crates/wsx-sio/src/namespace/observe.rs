//! Instrumentation hooks: what happens to a namespace's sockets (connect, disconnect, rooms
//! joined and left), reported as it happens to the namespace's observers. The admin UI
//! (`crate::admin`) is the observer; this is what Node's admin UI gets from listening to the
//! namespace (`connection`, `disconnect`) and to its adapter (`join-room`, `leave-room`).
//!
//! Crate-internal on purpose: the events are the shape the admin UI needs, not yet an API
//! to keep stable. Observers are called synchronously where the event happens (on the
//! connection's task, or on the task that made a socket join): they must be quick and must
//! not block (the admin UI's observer encodes one packet and queues it). No lock of the
//! namespace is held while they run, so they may emit or look sockets up. A namespace
//! without observers pays one uncontended read lock per join, leave, connect and
//! disconnect.
//!
//! Where each event is reported:
//! - [`NsEvent::Connected`]: in `connect.rs`, once the socket is registered and its CONNECT
//!   answer queued, before the connection handlers run (Node's admin UI prepends its
//!   `connection` listener);
//! - [`NsEvent::Disconnected`]: in `jobs.rs`, when the socket's disconnect handlers start,
//!   with the reason they get;
//! - [`NsEvent::Joined`] and [`NsEvent::Left`]: in `Socket::join`/`leave`, for a room the
//!   socket was not (was) in; when a socket disconnects, for each room it was in (its own
//!   id included, as Node's `leaveAll`); and through [`crate::adapter::Host::rooms_joined`] /
//!   `rooms_left` when an adapter applies `sockets_join`/`sockets_leave` (this server's or
//!   another's).

use super::reason::DisconnectReason;
use super::socket::Socket;
use crate::sid::Sid;
use serde_json::Value;
use std::sync::Arc;

/// Something that happened to a socket of a namespace.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NsEvent<'a> {
    /// A socket connected (its CONNECT answer is queued; its connection handlers have not
    /// run yet).
    Connected(&'a Socket),
    /// A socket disconnected; its disconnect handlers are about to run with this reason.
    Disconnected(&'a Socket, DisconnectReason),
    /// The local socket `Sid` joined a room it was not in.
    Joined(Sid, &'a str),
    /// The local socket `Sid` left a room it was in.
    Left(Sid, &'a str),
}

/// An observer of namespaces (see the module docs).
pub(crate) trait Observer: Send + Sync {
    /// `event` happened in the namespace `namespace`.
    fn event(&self, namespace: &str, event: NsEvent<'_>);

    /// A key and value the observer adds to a socket's `data` when adapters describe it
    /// (`fetch_sockets`, on this server or for another one): Node's admin UI keeps its
    /// `_admin` entry (client id, transport) in `socket.data` so that the other servers'
    /// UIs see it too.
    fn data(&self, socket: &Socket) -> Option<(String, Value)> {
        let _ = socket;
        None
    }
}

/// A shared observer.
pub(crate) type SharedObserver = Arc<dyn Observer>;
