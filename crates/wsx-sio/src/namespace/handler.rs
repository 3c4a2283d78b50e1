//! Handlers as the server stores them: type-erased closures that return boxed futures.
//!
//! The typed forms the API takes (`Fn(Socket, T) -> Fut` with `T: FromArgs`) are wrapped here
//! once, at registration; dispatch only calls through an `Arc<dyn Fn>`.

use super::ack::AckSender;
use super::reason::DisconnectReason;
use super::socket::Socket;
use crate::adapter::ServerAck;
use crate::args::{Args, FromArgs};
use crate::error::ConnectError;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A boxed handler future.
pub(crate) type BoxFuture<T = ()> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An event's handler; called with the event's name (for its warnings: not captured, so that
/// a handler that captures nothing costs one 16-byte allocation per socket, not 32).
pub(crate) type EventFn = Arc<dyn Fn(Socket, &str, Args, AckSender) -> BoxFuture + Send + Sync>;
pub(crate) type AnyFn = Arc<dyn Fn(Socket, String, Args) -> BoxFuture + Send + Sync>;
/// An outgoing listener ([`Socket::on_any_outgoing`]): called synchronously, as Node's.
pub(crate) type OutgoingFn = Arc<dyn Fn(&Socket, &str, &Args) + Send + Sync>;
pub(crate) type DisconnectFn = Arc<dyn Fn(Socket, DisconnectReason) -> BoxFuture + Send + Sync>;
pub(crate) type ConnectionFn = Arc<dyn Fn(Socket) -> BoxFuture + Send + Sync>;
pub(crate) type MiddlewareFn =
    Arc<dyn Fn(Socket) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;
/// A stored server-side event handler ([`crate::Namespace::on_server_side`]).
pub(crate) type ServerSideFn = Arc<dyn Fn(Vec<Value>, ServerAck) -> BoxFuture + Send + Sync>;

/// The registered server-side handlers of a namespace, by event name.
pub(crate) type ServerSideHandlers = HashMap<String, ServerSideFn>;

/// Names a catch-all listener ([`Socket::on_any`], [`Socket::on_any_outgoing`]) so that it
/// can be removed ([`Socket::off_any`]): Rust closures have no identity to compare, as
/// Node's `offAny(listener)` compares functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Catch-all listeners in call order, each with its id.
pub(crate) struct Listeners<F>(Vec<(ListenerId, F)>);

impl<F> Default for Listeners<F> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<F: Clone> Listeners<F> {
    /// Adds a listener last (`prepend`: first).
    pub(crate) fn add(&mut self, listener: F, prepend: bool) -> ListenerId {
        let id = ListenerId::next();
        if prepend {
            self.0.insert(0, (id, listener));
        } else {
            self.0.push((id, listener));
        }
        id
    }

    /// Removes one listener (`Some`) or all (`None`); returns whether any was removed.
    pub(crate) fn remove(&mut self, id: Option<ListenerId>) -> bool {
        let before = self.0.len();
        match id {
            Some(id) => self.0.retain(|(i, _)| *i != id),
            None => self.0 = Vec::new(),
        }
        self.0.len() != before
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The listeners, in call order.
    pub(crate) fn to_vec(&self) -> Vec<F> {
        self.0.iter().map(|(_, f)| f.clone()).collect()
    }
}

/// The handlers registered on one socket. Few per socket: vectors, searched linearly, are
/// smaller than maps; grown one entry at a time (an idle client keeps no spare room); the
/// handler is told its event's name when called rather than keeping a copy, and a short
/// name is kept inline ([`EventName`]).
#[derive(Default)]
pub(crate) struct Handlers {
    pub(crate) events: Vec<(EventName, EventFn)>,
    pub(crate) any: Listeners<AnyFn>,
    pub(crate) outgoing: Listeners<OutgoingFn>,
    pub(crate) disconnect: Vec<DisconnectFn>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.events.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Handlers")
            .field("events", &names)
            .field("any", &self.any.len())
            .field("outgoing", &self.outgoing.len())
            .field("disconnect", &self.disconnect.len())
            .finish()
    }
}

impl Handlers {
    /// Sets the handler of `event`, replacing any earlier one.
    pub(crate) fn set(&mut self, event: String, handler: EventFn) {
        if let Some(slot) = self
            .events
            .iter_mut()
            .find(|(n, _)| n.as_bytes() == event.as_bytes())
        {
            slot.1 = handler;
        } else {
            self.events.reserve_exact(1);
            self.events.push((EventName::new(event), handler));
        }
    }

    /// Removes the handler of `event`; returns whether there was one.
    pub(crate) fn remove(&mut self, event: &str) -> bool {
        let before = self.events.len();
        self.events
            .retain(|(n, _)| n.as_bytes() != event.as_bytes());
        self.events.len() != before
    }

    pub(crate) fn get(&self, event: &str) -> Option<EventFn> {
        self.events
            .iter()
            .find(|(n, _)| n.as_bytes() == event.as_bytes())
            .map(|(_, h)| h.clone())
    }
}

/// An event's name as a socket's handlers keep it: inline up to 22 bytes (most names), so
/// that a handler costs its socket no allocation for its name (14 handlers of the demo:
/// about 0.4 KiB per client).
pub(crate) enum EventName {
    Inline(u8, [u8; 22]),
    Heap(Box<str>),
}

impl EventName {
    fn new(name: String) -> Self {
        let mut bytes = [0; 22];
        match bytes.get_mut(..name.len()) {
            Some(inline) => {
                inline.copy_from_slice(name.as_bytes());
                // At most 22: fits.
                Self::Inline(name.len() as u8, bytes)
            }
            None => Self::Heap(name.into_boxed_str()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Self::Heap(name) => name.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        // Inline bytes are a whole `String`'s: valid UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// A handler whose type holds nothing (a closure that captures nothing, or a function: the
/// common case) is the same value for every socket that registers it: one `Arc` per type
/// serves them all, rather than one allocation per socket and handler (about 0.7 KiB per
/// client of the demo, which registers 14). `K` names the type (with what the wrapping
/// adds); `size` is the size of the handler's type: a handler that holds state gets its own.
pub(crate) fn stateless<K: 'static, H>(size: usize, make: impl FnOnce() -> H) -> H
where
    H: Clone + Send + Sync + 'static,
{
    use std::any::{Any, TypeId};
    use std::sync::{LazyLock, PoisonError, RwLock};
    type Cache = RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>;
    static CACHE: LazyLock<Cache> = LazyLock::new(Cache::default);
    if size != 0 {
        return make();
    }
    let key = TypeId::of::<K>();
    let cached = CACHE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .and_then(|h| h.downcast_ref::<H>().cloned());
    if let Some(handler) = cached {
        return handler;
    }
    let handler = make();
    CACHE
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_insert_with(|| Box::new(handler.clone()));
    handler
}

/// Wraps a typed event handler. Arguments that do not convert skip the handler; the event is
/// reported at warn level (a client and a server that disagree on an event's shape is a bug
/// to see, not a debug detail), and when the client asked for an acknowledgement it gets one
/// argument, `{"error": "<why>"}`, at once: it must not wait for its timeout to learn that
/// nothing will answer.
pub(crate) fn event_fn<T, F, Fut>(handler: F) -> EventFn
where
    T: FromArgs + Send + 'static,
    F: Fn(Socket, T, AckSender) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    stateless::<(T, F), EventFn>(std::mem::size_of::<F>(), || {
        Arc::new(
            move |socket, event: &str, args, ack| match T::from_args(args) {
                Ok(value) => Box::pin(handler(socket, value, ack)),
                Err(err) => {
                    tracing::warn!(
                        event = %event,
                        socket = %socket.id(),
                        namespace = socket.namespace(),
                        %err,
                        "arguments do not fit the handler; skipped"
                    );
                    if ack.requested() {
                        let why = format!("arguments of \"{event}\" do not fit its handler: {err}");
                        let _ = ack.send(&serde_json::json!({ "error": why }));
                    }
                    Box::pin(std::future::ready(()))
                }
            },
        )
    })
}
