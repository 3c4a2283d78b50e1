//! Namespaces: where connection handlers and connect middlewares are registered
//! (`io.of("/admin")`). A [`Namespace`] derefs to its [`Hub`] for rooms and broadcasts.

use super::handler::{ConnectionFn, MiddlewareFn};
use super::server_side::{ServerAck, ServerSideHandlers};
use super::socket::Socket;
use crate::adapter::{Adapter, LocalSockets};
use crate::hub::Hub;
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

/// A refusal by a connect middleware: the client gets CONNECT_ERROR
/// `{"message": .., "data": ..}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message (`err.message` on the client).
    pub message: String,
    /// Extra data (`err.data` on the client).
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data for the client.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The CONNECT_ERROR payload.
    pub(crate) fn payload(&self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("message".into(), Value::String(self.message.clone()));
        if let Some(data) = &self.data {
            map.insert("data".into(), data.clone());
        }
        Value::Object(map)
    }
}

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
        }
    }

    pub(crate) fn connection_handlers(&self) -> Vec<ConnectionFn> {
        self.on_connection
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn middleware_list(&self) -> Vec<MiddlewareFn> {
        self.middlewares
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A namespace of a [`super::Server`]. Derefs to its [`Hub`].
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
