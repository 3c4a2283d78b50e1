//! A connection's registered handlers, the rule that a handler registered after its event
//! still hears of it once, and the guard that keeps a panicking handler from taking its task
//! down with it.
#![forbid(unsafe_code)]

use super::Conn;
use crate::error::Error;
use crate::proto::CloseCode;
use bytes::Bytes;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;

/// What kind of message a handler is given or a write sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A UTF-8 text message.
    Text,
    /// A binary message.
    Binary,
    /// A close frame.
    Close,
    /// A ping.
    Ping,
    /// A pong.
    Pong,
}

/// The future an async handler returns, boxed so handlers of every shape fit one slot.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pub(crate) type OpenHandler = Arc<dyn Fn(&Conn) + Send + Sync>;
pub(crate) type MessageHandler = Arc<dyn Fn(&Conn, MessageType, Bytes) + Send + Sync>;
pub(crate) type AsyncMessageHandler =
    Arc<dyn Fn(Conn, MessageType, Bytes) -> HandlerFuture + Send + Sync>;
pub(crate) type CloseHandler = Arc<dyn Fn(&Conn, CloseCode, &str) + Send + Sync>;
pub(crate) type ErrorHandler = Arc<dyn Fn(&Conn, &Error) + Send + Sync>;
pub(crate) type DataHandler = Arc<dyn Fn(&Conn, Bytes) + Send + Sync>;
pub(crate) type EventHandler = Arc<dyn Fn(&Conn, serde_json::Value) + Send + Sync>;
pub(crate) type AsyncEventHandler =
    Arc<dyn Fn(Conn, serde_json::Value) -> HandlerFuture + Send + Sync>;

/// The handler of data messages: called in place on the connection's task, or an async one
/// whose future the task runs to completion before it hands over the next message.
#[derive(Clone)]
pub(crate) enum OnMessage {
    Sync(MessageHandler),
    Async(AsyncMessageHandler),
}

/// The handler of one custom event, in the same two shapes.
#[derive(Clone)]
pub(crate) enum OnEvent {
    Sync(EventHandler),
    Async(AsyncEventHandler),
}

/// The handlers of one connection and the events that already happened.
#[derive(Default)]
pub(crate) struct Handlers {
    pub open: Option<OpenHandler>,
    pub message: Option<OnMessage>,
    pub close: Option<CloseHandler>,
    pub error: Option<ErrorHandler>,
    pub ping: Option<DataHandler>,
    pub pong: Option<DataHandler>,
    pub events: Events,
    /// `on_open` has fired (or will fire for a handler registered from now on, at once).
    pub opened: bool,
    /// The connection ended with this code and reason (boxed: known only at the end, and
    /// inline it would take 24 more bytes of every connection's shared state).
    pub closed: Option<Box<(CloseCode, String)>>,
    /// `on_close` has run and the handlers are gone: [`Conn::closed`] can return.
    pub finished: bool,
}

impl Handlers {
    /// Takes every handler out once the connection is over (handlers often hold a clone of
    /// their own `Conn`: the table must not keep the connection alive through that cycle),
    /// keeping what happened. The caller drops them outside the lock.
    pub fn take_all(&mut self) -> Self {
        self.finished = true;
        Self {
            open: self.open.take(),
            message: self.message.take(),
            close: self.close.take(),
            error: self.error.take(),
            ping: self.ping.take(),
            pong: self.pong.take(),
            events: std::mem::take(&mut self.events),
            opened: self.opened,
            closed: self.closed.clone(),
            finished: true,
        }
    }
}

/// The custom events' handlers by name: nothing but a null pointer until the first
/// `on_event` (most connections have none; a map inline is 48 bytes of every connection's
/// shared state).
#[derive(Default)]
// The box is the point: a null pointer inline instead of the map's 48 bytes.
#[allow(clippy::box_collection)]
pub(crate) struct Events(Option<Box<HashMap<String, OnEvent>>>);

impl Events {
    /// Whether no event has a handler.
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|map| map.is_empty())
    }

    /// The handler of `name`.
    pub fn get(&self, name: &str) -> Option<&OnEvent> {
        self.0.as_ref()?.get(name)
    }

    /// Sets the handler of `name`.
    pub fn insert(&mut self, name: String, handler: OnEvent) {
        self.0
            .get_or_insert_with(Box::default)
            .insert(name, handler);
    }
}

/// A handler panicked; the text of its panic.
#[derive(Debug)]
pub(crate) struct Panicked(pub String);

impl Panicked {
    pub fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_owned());
        Self(text)
    }
}

/// Calls user code, catching a panic so that it costs the connection, not the task that
/// serves it (which would leave the socket half-open). Handlers hold no lock of ours when
/// called, so nothing of ours is left poisoned.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Panicked::from_payload(&*payload))
}
