//! The namespace layer: [`Namespace`] (where connection handlers and connect middlewares are
//! registered, `io.of("/admin")`), its [`Hub`] (rooms and broadcasts, through the adapter),
//! its [`Socket`]s with their handlers and acknowledgements, and the jobs a connection runs
//! for them; `observe.rs` reports what happens to the sockets (connect, disconnect, rooms) to
//! instrumentation, the admin UI (`crate::admin`, a layer above the server, which holds it).
//!
//! This is the one layer whose files refer to each other in a circle, by nature: a socket
//! holds its hub (to join rooms and broadcast), the hub hands out its sockets, a handler and
//! an acknowledgement take the socket they answer for. Below it, the adapter sees the
//! namespace only through [`crate::adapter::Host`] (implemented in `host.rs`); above it, the
//! server layer (`crate::server`) accepts connections and feeds their packets in here.

pub(crate) mod ack;
pub(crate) mod broadcast_ack;
pub(crate) mod conn;
pub(crate) mod connect;
mod deflated;
pub(crate) mod dynamic;
pub(crate) mod emitter;
pub(crate) mod flags;
pub(crate) mod handler;
pub(crate) mod handshake;
mod host;
pub mod hub;
pub(crate) mod jobs;
mod listeners;
pub(crate) mod local;
pub(crate) mod observe;
mod offsets;
pub(crate) mod outbox;
mod parent_adapter;
pub(crate) mod reason;
mod remote_socket;
pub(crate) mod socket;
#[cfg(test)]
mod test_support;

pub use ack::{AckFuture, AckSender};
pub use broadcast_ack::BroadcastAcks;
pub use emitter::SocketEmitter;
pub use flags::EmitFlags;
pub use handler::ListenerId;
pub use handshake::Handshake;
pub(crate) use handshake::StoredHandshake;
pub use hub::{BroadcastOperator, Hub};
pub use local::LocalSockets;
pub use reason::DisconnectReason;
pub use remote_socket::RemoteSocket;
pub use socket::Socket;

use crate::adapter::{Adapter, ServerAck};
use crate::error::ConnectError;
use handler::{ConnectionFn, MiddlewareFn, ServerSideHandlers};
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

/// The state of one namespace.
pub(crate) struct NsInner {
    pub(crate) name: String,
    pub(crate) adapter: Box<dyn Adapter>,
    pub(crate) local: LocalSockets,
    pub(crate) on_connection: RwLock<Vec<ConnectionFn>>,
    pub(crate) middlewares: RwLock<Vec<MiddlewareFn>>,
    pub(crate) server_side: RwLock<ServerSideHandlers>,
    /// Where sent packets are kept for connection state recovery, when it is on.
    pub(crate) recovery: Option<Arc<dyn crate::recovery::RecoveryStore>>,
    /// How the server writes packets (its broadcasts are encoded once, in this form).
    pub(crate) parser: crate::packet::Parser,
    /// The parent namespace of a dynamic namespace ([`dynamic`]): its middlewares and
    /// connection handlers run first.
    pub(crate) parent: Option<Arc<NsInner>>,
    /// The next ack id of a broadcast with acknowledgements (see `ack::BROADCAST_ACK_IDS`).
    pub(crate) next_broadcast_ack: std::sync::atomic::AtomicU64,
    /// How many sockets have outgoing listeners ([`Socket::on_any_outgoing`]): while none
    /// has, a plain broadcast skips looking for them (`flags.rs`).
    pub(crate) outgoing_sockets: std::sync::atomic::AtomicUsize,
    /// Who is told what happens to the sockets (the admin UI; [`observe`]).
    pub(crate) observers: RwLock<Vec<observe::SharedObserver>>,
    /// The event handlers a socket shared last, for the next that registered the same
    /// (`handler.rs`, `Events`).
    pub(crate) last_events: handler::LastEvents,
}

impl NsInner {
    pub(crate) fn new(name: String, adapter: Box<dyn Adapter>) -> Self {
        Self {
            name,
            adapter,
            local: LocalSockets::default(),
            on_connection: RwLock::default(),
            middlewares: RwLock::default(),
            server_side: RwLock::default(),
            recovery: None,
            parser: crate::packet::Parser::default(),
            parent: None,
            next_broadcast_ack: std::sync::atomic::AtomicU64::new(0),
            outgoing_sockets: std::sync::atomic::AtomicUsize::new(0),
            observers: RwLock::default(),
            last_events: handler::LastEvents::default(),
        }
    }

    /// Adds an observer of this namespace's sockets ([`observe`]).
    pub(crate) fn observe(&self, observer: observe::SharedObserver) {
        self.observers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(observer);
    }

    /// The observers (cloned: none is called under the lock).
    pub(crate) fn observers(&self) -> Vec<observe::SharedObserver> {
        self.observers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether anyone observes this namespace.
    pub(crate) fn observed(&self) -> bool {
        !self
            .observers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Tells the observers about `event`.
    pub(crate) fn notify(&self, event: observe::NsEvent<'_>) {
        for observer in self.observers() {
            observer.event(&self.name, event);
        }
    }

    /// The connection handlers: the parent's (of a dynamic namespace), then its own.
    pub(crate) fn connection_handlers(&self) -> Vec<ConnectionFn> {
        let mut handlers = self
            .parent
            .as_ref()
            .map(|parent| parent.connection_handlers())
            .unwrap_or_default();
        handlers.extend(
            self.on_connection
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        handlers
    }

    /// The connect middlewares: the parent's (of a dynamic namespace), then its own.
    pub(crate) fn middleware_list(&self) -> Vec<MiddlewareFn> {
        let mut middlewares = self
            .parent
            .as_ref()
            .map(|parent| parent.middleware_list())
            .unwrap_or_default();
        middlewares.extend(
            self.middlewares
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        middlewares
    }

    /// Calls the handler of a server-side event another server sent (`packet` is
    /// `[event, ...args]`), on a task of its own. Returns whether there was one.
    pub(crate) fn dispatch_server_side(&self, mut packet: Vec<Value>, ack: ServerAck) -> bool {
        if packet.is_empty() {
            return false;
        }
        let Value::String(event) = packet.remove(0) else {
            return false;
        };
        let handler = self
            .server_side
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&event)
            .cloned();
        match handler {
            Some(handler) => {
                tokio::spawn(handler(packet, ack));
                true
            }
            None => false,
        }
    }
}

/// A namespace of a [`crate::Server`]. Derefs to its [`Hub`].
#[derive(Clone, Debug)]
pub struct Namespace {
    hub: Hub,
}

impl Namespace {
    pub(crate) fn new(inner: Arc<NsInner>) -> Self {
        Self { hub: Hub(inner) }
    }

    /// Adds a handler called for each socket that connects, after the middlewares accepted
    /// it and the client got its CONNECT answer. Register the socket's event handlers here.
    pub fn on_connection<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hub
            .0
            .on_connection
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(move |socket| Box::pin(handler(socket))));
    }

    /// Adds a connect middleware: called in order for each CONNECT before the socket joins;
    /// an `Err` refuses it with CONNECT_ERROR. [`Socket::handshake`] and [`Socket::auth`] are
    /// there to decide.
    pub fn use_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.hub
            .0
            .middlewares
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(move |socket| Box::pin(middleware(socket))));
    }

    /// Handles the server-side `event` that other servers of the cluster send
    /// ([`Hub::server_side_emit`]; Node's `io.serverSideEmit`), replacing an earlier handler of
    /// that event. The handler gets the event's arguments and a [`ServerAck`] to answer
    /// `server_side_emit_with_ack`.
    pub fn on_server_side<F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(Vec<Value>, ServerAck) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hub
            .0
            .server_side
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                event.into(),
                Arc::new(move |args, ack| Box::pin(handler(args, ack))),
            );
    }

    /// The namespace's hub.
    #[must_use]
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }
}

impl std::ops::Deref for Namespace {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.hub
    }
}
