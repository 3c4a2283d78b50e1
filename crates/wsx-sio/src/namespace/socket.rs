//! `Socket`: one client's connection to one namespace (socket.io-protocol v5: a client may be
//! connected to several namespaces over one Engine.IO session; each is a socket with its own
//! id, handlers, rooms and acknowledgements).

use super::ack::{AckFuture, AckSender, PendingAcks};
use super::conn::ConnShared;
use super::emitter::SocketEmitter;
use super::flags::EmitFlags;
use super::handler::{self, Handlers};
use super::handshake::Handshake;
use super::hub::{BroadcastOperator, Hub, kept_event_frames};
use super::observe::NsEvent;
use super::outbox::{Item, Shared};
use super::reason::DisconnectReason;
use crate::args::{Args, FromArgs};
use crate::engine::transport::Frame;
use crate::error::{AckError, EmitError};
use crate::frames::{event_frames, frames};
use crate::packet::socket::Body;
use crate::rooms::{BroadcastOptions, Room};
use crate::sid::Sid;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A client's connection to a namespace. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct Socket(Arc<Inner>);

struct Inner {
    id: Sid,
    /// The private id for connection state recovery (when it is on).
    pid: Option<Sid>,
    /// Whether this socket was recovered from a lost connection.
    recovered: bool,
    hub: Hub,
    conn: Arc<ConnShared>,
    /// The CONNECT's auth payload; `None` for the usual `{}` (a `Value` is 72 bytes inline).
    auth: Option<Box<Value>>,
    connected: AtomicBool,
    /// Whether [`Handlers::outgoing`] has a listener: an emit checks this, not the lock.
    outgoing: AtomicBool,
    handlers: Mutex<Handlers>,
    /// The application's data (Node's `socket.data`); `None` for `{}`, as at first.
    data: Mutex<Option<Box<Value>>>,
    acks: Mutex<PendingAcks>,
    /// The rooms the socket was in when it disconnected (for its disconnect handlers).
    rooms_at_disconnect: Mutex<Vec<Room>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("namespace", &self.0.hub.name())
            .field("connected", &self.connected())
            .finish_non_exhaustive()
    }
}

/// `{}`, what a socket's auth and data are unless told otherwise.
fn empty_object() -> &'static Value {
    static EMPTY: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| Value::Object(serde_json::Map::new()));
    &EMPTY
}

/// `None` for `{}` (kept without an allocation), else the value boxed.
fn boxed_unless_empty(value: Value) -> Option<Box<Value>> {
    match &value {
        Value::Object(map) if map.is_empty() => None,
        _ => Some(Box::new(value)),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is complete: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Socket {
    #[cfg(test)]
    pub(crate) fn new(id: Sid, hub: Hub, conn: Arc<ConnShared>, auth: Value) -> Self {
        Self::with_session(id, None, false, hub, conn, auth)
    }

    /// A socket with its recovery state: a private id when recovery is on, and whether it
    /// was recovered.
    pub(crate) fn with_session(
        id: Sid,
        pid: Option<Sid>,
        recovered: bool,
        hub: Hub,
        conn: Arc<ConnShared>,
        auth: Value,
    ) -> Self {
        Self(Arc::new(Inner {
            id,
            pid,
            recovered,
            hub,
            conn,
            auth: boxed_unless_empty(auth),
            connected: AtomicBool::new(false),
            outgoing: AtomicBool::new(false),
            handlers: Mutex::new(Handlers::default()),
            data: Mutex::new(None),
            acks: Mutex::new(PendingAcks::default()),
            rooms_at_disconnect: Mutex::new(Vec::new()),
        }))
    }

    /// Whether this socket was recovered after a lost connection (connection state
    /// recovery, [`crate::Config::recovery`]): same id, same rooms, missed packets resent.
    #[must_use]
    pub fn recovered(&self) -> bool {
        self.0.recovered
    }

    /// The private session id recovery uses (when it is on).
    pub(crate) fn pid(&self) -> Option<Sid> {
        self.0.pid
    }

    /// The rooms the socket was in when it disconnected.
    pub(crate) fn rooms_at_disconnect(&self) -> Vec<Room> {
        lock(&self.0.rooms_at_disconnect).clone()
    }

    /// The socket id (distinct from the Engine.IO session id, as in Socket.IO v5).
    #[must_use]
    pub fn id(&self) -> Sid {
        self.0.id
    }

    /// The namespace's name.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.0.hub.name()
    }

    /// The namespace's hub (rooms and broadcasts).
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.0.hub
    }

    /// Whether the socket is connected.
    #[must_use]
    pub fn connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    /// The HTTP request the connection started with, and the peer's address.
    #[must_use]
    pub fn handshake(&self) -> &Handshake {
        self.0.conn.handshake.get()
    }

    /// The auth payload of the client's CONNECT (`{}` when it sent none).
    #[must_use]
    pub fn auth(&self) -> &Value {
        self.0.auth.as_deref().unwrap_or_else(|| empty_object())
    }

    /// The application's data attached to the socket (Node's `socket.data`; `{}` until set).
    /// Other servers of a cluster see it in [`crate::Hub::fetch_sockets`] (as
    /// [`crate::RemoteSocket::data`]), as Node's adapters send it, and so do Node servers of
    /// a mixed cluster.
    #[must_use]
    pub fn data(&self) -> Value {
        lock(&self.0.data)
            .as_deref()
            .map_or_else(|| empty_object().clone(), Value::clone)
    }

    /// Replaces the socket's data (see [`Self::data`]).
    pub fn set_data(&self, data: Value) {
        *lock(&self.0.data) = boxed_unless_empty(data);
    }

    /// The Engine.IO session id of the connection this socket runs on.
    #[must_use]
    pub fn engine_id(&self) -> Sid {
        self.0.conn.sid
    }

    /// Handles `event` with `handler`, replacing an earlier handler of that event.
    ///
    /// Unlike Node's `socket.on`, where listeners add up, an event has one handler here: it
    /// owns the event's typed arguments and its [`AckSender`] (answered once), which several
    /// listeners could not share. To run several things for one event, call them from the
    /// handler, or add [`Self::on_any`] handlers (those add up, and run first).
    ///
    /// `T` is any serde type (taken from the single argument, or from all of them as a tuple:
    /// see [`FromArgs`]) or [`Args`] for the raw arguments, binary included. Arguments that do
    /// not convert skip the handler: the event is logged at warn level, and a client that
    /// asked for an acknowledgement gets `{"error": "<why>"}` at once.
    ///
    /// The handlers of one connection are started in the order the packets arrived, on the
    /// connection's task, and each runs until its first await before the next one starts,
    /// as in Node: emits made before an await keep the order of the events, and a handler
    /// that awaits (say [`Self::emit_with_ack`]) does not hold the events behind it. With
    /// [`crate::Config::sequential_handlers`], each runs to its end before the next starts.
    pub fn on<T, F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        T: FromArgs + Send + 'static,
        F: Fn(Socket, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let event = event.into();
        let (handler, stateless) =
            handler::event_fn(move |socket, args, _ack| handler(socket, args));
        lock(&self.0.handlers).set(event, handler, stateless);
    }

    /// Like [`Self::on`], with the [`AckSender`] that answers the client's acknowledgement
    /// request (a no-op when the client asked for none).
    pub fn on_with_ack<T, F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        T: FromArgs + Send + 'static,
        F: Fn(Socket, T, AckSender) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let event = event.into();
        let (handler, stateless) = handler::event_fn(handler);
        lock(&self.0.handlers).set(event, handler, stateless);
    }

    /// Adds a handler called once when the socket is disconnected, with the reason.
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = handler::stateless::<F, handler::DisconnectFn>(size_of::<F>(), || {
            Arc::new(move |s, reason| Box::pin(handler(s, reason)))
        });
        lock(&self.0.handlers).disconnect.push(handler);
    }

    /// Emits `event` with one argument to this socket.
    ///
    /// # Errors
    /// [`EmitError`]: disconnected, queue full, or not JSON.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), EmitError> {
        self.emit_args(event, Args::one(data)?)
    }

    /// Emits `event` with any arguments, binary included.
    ///
    /// # Errors
    /// [`EmitError`]: disconnected or queue full.
    pub fn emit_args(&self, event: &str, args: Args) -> Result<(), EmitError> {
        self.emit_flagged(event, args, EmitFlags::default())
    }

    /// An emit to this socket with Node's `volatile` flag: dropped if the client cannot take
    /// it at once (see [`SocketEmitter::volatile`]).
    pub fn volatile(&self) -> SocketEmitter {
        SocketEmitter::new(self.clone()).volatile()
    }

    /// An emit to this socket with Node's `compress` flag (see [`EmitFlags::compress`]).
    pub fn compress(&self, compress: bool) -> SocketEmitter {
        SocketEmitter::new(self.clone()).compress(compress)
    }

    /// An emit whose acknowledgement is awaited at most `timeout` (Node's
    /// `socket.timeout(ms).emitWithAck(..)`).
    pub fn timeout(&self, timeout: Duration) -> SocketEmitter {
        SocketEmitter::new(self.clone()).timeout(timeout)
    }

    /// What [`Self::emit_args`] and [`SocketEmitter::emit_args`] do.
    pub(crate) fn emit_flagged(
        &self,
        event: &str,
        args: Args,
        flags: EmitFlags,
    ) -> Result<(), EmitError> {
        if flags.volatile {
            // Node keeps no volatile packet for recovery: it is stale by design.
            if !self.connected() {
                return Ok(());
            }
            self.notify_outgoing(event, &args);
            let frames = event_frames(self.0.conn.parser, self.namespace(), event, args, None);
            if self.push_volatile_flagged(frames, flags) {
                crate::metrics::events_sent(self.namespace(), 1);
            }
            return Ok(());
        }
        if super::offsets::applies(&self.0.hub, flags) {
            // As Node with recovery on: a broadcast to the socket's own room, through the
            // adapter, which assigns its offset (`offsets.rs`; listeners called on delivery).
            if !self.connected() {
                return Err(EmitError::Disconnected);
            }
            let to_self = BroadcastOptions {
                rooms: vec![Room::from(self)],
                except: Vec::new(),
                local: false,
                flags,
            };
            super::offsets::emit(&self.0.hub, to_self, flags, event, args)?;
            return Ok(());
        }
        self.notify_outgoing(event, &args);
        let to_self = BroadcastOptions {
            rooms: vec![Room::from(self)],
            local: true,
            ..BroadcastOptions::default()
        };
        self.push_flagged(kept_event_frames(&self.0.hub, &to_self, event, args), flags)?;
        crate::metrics::events_sent(self.namespace(), 1);
        Ok(())
    }

    /// Emits `event` with one argument and waits for the client's acknowledgement, at most
    /// `Config::ack_timeout` (5 s by default; [`Self::timeout`] sets another). **Differs from
    /// Node**, whose `emitWithAck` without a timeout waits forever: a future that may never
    /// end would hold its handler (and the handler's memory) as long as the connection
    /// lives. To wait as Node does, set `Config::ack_timeout` (or the timeout) to
    /// `Duration::MAX`; a disconnect still ends the wait. The packet is queued before this
    /// returns.
    pub fn emit_with_ack(&self, event: &str, data: &impl Serialize) -> AckFuture {
        match Args::one(data) {
            Ok(args) => self.emit_args_with_ack(event, args, self.0.conn.ack_timeout),
            Err(err) => AckFuture::new(std::future::ready(Err(EmitError::from(err).into()))),
        }
    }

    /// Emits with any arguments and waits for the acknowledgement at most `timeout`.
    pub fn emit_args_with_ack(&self, event: &str, args: Args, timeout: Duration) -> AckFuture {
        self.emit_args_with_ack_flagged(event, args, timeout, EmitFlags::default())
    }

    /// The server's `ack_timeout`.
    pub(crate) fn ack_timeout(&self) -> Duration {
        self.0.conn.ack_timeout
    }

    /// What [`Self::emit_args_with_ack`] and [`SocketEmitter::emit_args_with_ack`] do. A
    /// volatile event that was dropped times out, as in Node (the client never saw it).
    pub(crate) fn emit_args_with_ack_flagged(
        &self,
        event: &str,
        args: Args,
        timeout: Duration,
        flags: EmitFlags,
    ) -> AckFuture {
        self.notify_outgoing(event, &args);
        let (id, rx) = lock(&self.0.acks).register();
        let frames = event_frames(self.0.conn.parser, self.namespace(), event, args, Some(id));
        let sent = if flags.volatile && self.connected() {
            // Dropped or not, the wait ends at the timeout or with a disconnect.
            let _ = self.push_volatile_flagged(frames, flags);
            Ok(())
        } else {
            self.push_flagged(frames, flags)
        };
        self.await_ack(id, rx, sent, timeout)
    }

    /// Queues the frames of a broadcast with acknowledgements (encoded once for every
    /// receiver, with the ack id `id` they share, and deflated once for those that compress) and waits for this socket's answer at most
    /// `timeout`. `None` when the socket is not connected or already waits under that id.
    /// A `volatile` packet is dropped when something else waits for the client; the wait
    /// then ends at the timeout (Node counts the client all the same).
    pub(crate) fn emit_frames_with_ack(
        &self,
        id: u64,
        shared: &Shared<'_>,
        timeout: Duration,
        volatile: bool,
    ) -> Option<AckFuture> {
        if !self.connected() {
            return None;
        }
        let rx = lock(&self.0.acks).register_at(id)?;
        if volatile {
            let _ = self.push_volatile(shared);
            return Some(self.await_ack(id, rx, Ok(()), timeout));
        }
        // As a broadcast's: straight to an idle client's socket, deflated once for all.
        let sent = self.push_shared(shared);
        Some(self.await_ack(id, rx, sent, timeout))
    }

    /// The wait for the answer under `id` to an event whose queueing gave `sent`.
    fn await_ack(
        &self,
        id: u64,
        rx: tokio::sync::oneshot::Receiver<Args>,
        sent: Result<(), EmitError>,
        timeout: Duration,
    ) -> AckFuture {
        if sent.is_err() {
            lock(&self.0.acks).forget(id);
        } else {
            crate::metrics::events_sent(self.namespace(), 1);
        }
        let socket = self.clone();
        AckFuture::new(async move {
            sent?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(args)) => Ok(args),
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    lock(&socket.0.acks).forget(id);
                    crate::metrics::ack_timeout(socket.namespace());
                    Err(AckError::Timeout)
                }
            }
        })
    }

    /// Like [`Self::emit_with_ack`], converting the acknowledgement's arguments (see
    /// [`FromArgs`]); arguments that do not convert are [`AckError::Parse`].
    pub fn emit_with_ack_as<T: FromArgs + Send + 'static>(
        &self,
        event: &str,
        data: &impl Serialize,
    ) -> AckFuture<T> {
        let waiting = self.emit_with_ack(event, data);
        AckFuture::new(async move { Ok(waiting.await?.parse::<T>()?) })
    }

    /// Joins a room. No effect before the socket is connected (in a middleware) or after it
    /// disconnected: a refused or gone socket must not stay in a room.
    pub fn join(&self, room: impl Into<Room>) {
        if self.connected() {
            let room = room.into();
            let ns = &self.0.hub.0;
            // Observers hear of a room the socket was not in only (as Node's `join-room`).
            let new = ns.observed() && !self.in_room(&room);
            self.0
                .hub
                .adapter()
                .add_all(self.id(), std::slice::from_ref(&room));
            crate::metrics::room_joined(self.namespace(), 1);
            if new {
                ns.notify(NsEvent::Joined(self.id(), &room));
            }
        }
    }

    /// Leaves a room.
    pub fn leave(&self, room: &str) {
        let ns = &self.0.hub.0;
        let was_in = ns.observed() && self.in_room(room);
        self.0.hub.adapter().del(self.id(), room);
        crate::metrics::room_left(self.namespace());
        if was_in {
            ns.notify(NsEvent::Left(self.id(), room));
        }
    }

    /// Whether the socket is in `room` (its own id aside).
    fn in_room(&self, room: &str) -> bool {
        self.0
            .hub
            .adapter()
            .socket_rooms(self.id())
            .iter()
            .any(|r| r == room)
    }

    /// The rooms this socket is in, its own id first (every socket is addressable by its id).
    /// Once disconnected (in its disconnect handlers), the rooms it was in when it
    /// disconnected, as Node's `disconnecting` event sees them.
    #[must_use]
    pub fn rooms(&self) -> Vec<Room> {
        let mut rooms = vec![Room::from(self.id().as_str())];
        if self.connected() {
            rooms.extend(self.0.hub.adapter().socket_rooms(self.id()));
        } else {
            rooms.extend(lock(&self.0.rooms_at_disconnect).iter().cloned());
        }
        rooms
    }

    /// A broadcast to `room` that leaves this socket out (Socket.IO's `socket.to(room)`).
    #[must_use]
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// A broadcast to every socket of the namespace on this server but this one (Node's
    /// `socket.local`): nothing goes to the other servers of a cluster.
    #[must_use]
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }

    /// A broadcast to every socket of the namespace but this one (`socket.broadcast`).
    #[must_use]
    pub fn broadcast(&self) -> BroadcastOperator {
        self.0.hub.except(self.id().as_str())
    }

    /// Disconnects the socket from its namespace: the client gets DISCONNECT, the socket leaves
    /// every room, its disconnect handlers run with "server namespace disconnect". The
    /// connection stays open for its other namespaces.
    pub fn disconnect(&self) {
        if self.mark_disconnected() {
            let frames = frames(self.0.conn.parser, self.namespace(), Body::Disconnect, &[]);
            let _ = self.0.conn.outbox.push(frames);
            self.0.conn.outbox.control(Item::Disconnected(
                self.clone(),
                DisconnectReason::ServerNamespaceDisconnect,
            ));
        }
    }

    /// Closes the whole connection (every namespace on it), with "forced server close".
    pub fn close_connection(&self) {
        self.0
            .conn
            .outbox
            .control(Item::Close(DisconnectReason::ForcedServerClose));
    }

    /// Sends a packet of this socket's namespace.
    pub(crate) fn send_packet(&self, body: Body, attachments: &[Bytes]) -> Result<(), EmitError> {
        self.push(frames(
            self.0.conn.parser,
            self.namespace(),
            body,
            attachments,
        ))
    }

    /// Queues frames encoded elsewhere (a broadcast shares them among its receivers).
    pub(crate) fn push(&self, frames: impl IntoIterator<Item = Frame>) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.0.conn.outbox.push(frames)
    }

    /// Queues the frames of an emit of this socket's with `flags`: with `compress(false)`,
    /// uncompressed even on a connection that compresses (`outbox.rs`'s `Shared::compress`).
    fn push_flagged(&self, frames: Vec<Frame>, flags: EmitFlags) -> Result<(), EmitError> {
        if flags.compress {
            self.push(frames)
        } else {
            self.push_shared(&Shared::new(&frames).compress(false))
        }
    }

    /// [`Self::push_flagged`] for a volatile emit: returns whether it was queued.
    fn push_volatile_flagged(&self, frames: Vec<Frame>, flags: EmitFlags) -> bool {
        if flags.compress {
            self.0.conn.outbox.push_volatile(frames)
        } else {
            self.push_volatile(&Shared::new(&frames).compress(false))
        }
    }

    /// Sends the shared frames of a broadcast (straight to the socket when the client is
    /// idle: `outbox.rs`).
    pub(crate) fn push_shared(&self, shared: &Shared<'_>) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.0.conn.outbox.push_shared(shared)
    }

    /// Sends the shared frames of a volatile broadcast if nothing else waits for this
    /// client; returns whether it did.
    pub(crate) fn push_volatile(&self, shared: &Shared<'_>) -> bool {
        self.0.conn.outbox.push_volatile_shared(shared)
    }

    /// The socket's handlers (for `listeners.rs`).
    pub(super) fn handlers(&self) -> MutexGuard<'_, Handlers> {
        lock(&self.0.handlers)
    }

    /// Shares the socket's event handlers with the namespace's other sockets that registered
    /// the same (`handler.rs`): once its connection handlers ran.
    pub(crate) fn share_handlers(&self) {
        lock(&self.0.handlers).share(&self.0.hub.0.last_events);
    }

    /// Whether the socket has outgoing listeners (an emit checks this, not the lock).
    pub(super) fn outgoing_flag(&self) -> &AtomicBool {
        &self.0.outgoing
    }

    /// The handlers to run for an event.
    pub(crate) fn handlers_for(
        &self,
        event: &str,
    ) -> (Vec<handler::AnyFn>, Option<handler::EventFn>) {
        let handlers = lock(&self.0.handlers);
        (handlers.any.to_vec(), handlers.get(event))
    }

    /// Resolves an acknowledgement from the client.
    pub(crate) fn resolve_ack(&self, id: u64, args: Args) {
        lock(&self.0.acks).resolve(id, args);
    }

    /// Marks the socket connected and registers it with its namespace and connection.
    pub(crate) fn mark_connected(&self) {
        self.0.connected.store(true, Ordering::Release);
        self.0.hub.local_sockets().insert(self.clone());
        lock(&self.0.conn.sockets).push(self.clone());
    }

    /// Marks the socket disconnected: leaves every room, leaves its namespace and connection,
    /// fails pending acks. Returns whether it was connected (only the first call does it).
    pub(crate) fn mark_disconnected(&self) -> bool {
        if !self.0.connected.swap(false, Ordering::AcqRel) {
            return false;
        }
        *lock(&self.0.rooms_at_disconnect) = self.0.hub.adapter().socket_rooms(self.id());
        crate::metrics::socket_disconnected(self.namespace());
        self.0.hub.adapter().del_all(self.id());
        self.0.hub.local_sockets().remove(self.id());
        lock(&self.0.conn.sockets).retain(|s| s.id() != self.id());
        lock(&self.0.acks).fail_all();
        let ns = &self.0.hub.0;
        if ns.observed() {
            // Every room left, its own id first, as Node's `leaveAll` reports them.
            ns.notify(NsEvent::Left(self.id(), self.id().as_str()));
            for room in self.rooms_at_disconnect() {
                ns.notify(NsEvent::Left(self.id(), &room));
            }
        }
        true
    }

    /// Takes the disconnect handlers and drops every handler (they may hold sockets: this
    /// breaks reference cycles once the socket is gone).
    pub(crate) fn take_disconnect_handlers(&self) -> Vec<handler::DisconnectFn> {
        let mut handlers = lock(&self.0.handlers);
        let taken = std::mem::take(&mut handlers.disconnect);
        *handlers = Handlers::default();
        self.set_outgoing(false);
        taken
    }
}

impl From<&Socket> for Room {
    fn from(socket: &Socket) -> Self {
        Room::from(socket.id().as_str())
    }
}
