//! What a [`super::Server`] handle shares: its settings, its namespaces, the adapter factory,
//! the open long-polling sessions, the running connections (for [`super::Server::shutdown`]).
//! The connection task reads it; `mod.rs` builds it.

use super::config::Config;
use super::engine_only::EngineHandler;
use crate::adapter::Adapter;
use crate::adapter::Host;
use crate::engine::traffic::Traffic;
use crate::engine::transport::polling::Sessions;
use crate::namespace::DisconnectReason;
use crate::namespace::NsInner;
use crate::namespace::conn::ConnShared;
use crate::namespace::dynamic::{Parent, Parents};
use crate::namespace::observe::SharedObserver;
use crate::sid::Sid;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use tokio::sync::{Notify, watch};

/// Makes the adapter of a namespace, from its name.
pub(crate) type AdapterFactory = Arc<dyn Fn(&str) -> Box<dyn Adapter> + Send + Sync>;

pub(crate) struct ServerInner {
    pub(crate) config: Config,
    pub(crate) namespaces: RwLock<HashMap<String, Arc<NsInner>>>,
    /// The parent namespaces of dynamic namespaces (not in `namespaces`: a client cannot
    /// connect to a parent itself).
    pub(crate) parents: Parents,
    pub(crate) adapter: AdapterFactory,
    /// The open HTTP long-polling sessions, by sid.
    pub(crate) polling: Arc<Sessions>,
    /// Set for an Engine.IO-only server ([`super::Server::engine_only`]).
    pub(crate) engine_only: Option<EngineHandler>,
    /// The Socket.IO connections running, by Engine.IO sid (weak: an entry keeps nothing
    /// alive; one small map entry per connection).
    pub(crate) conns: Mutex<HashMap<Sid, Weak<ConnShared>>>,
    /// Set once [`super::Server::shutdown`] began: no new session starts.
    pub(crate) closing: AtomicBool,
    /// `true` once the connections ended after a shutdown: the accept loops stop. (Not
    /// before: a long-polling client may fetch its DISCONNECT on a new TCP connection.)
    pub(crate) stop: watch::Sender<bool>,
    /// Notified when the last connection ended.
    pub(crate) drained: Notify,
    /// Observers of every namespace, those created later included (the admin UI;
    /// `crate::namespace::observe`).
    pub(crate) observers: RwLock<Vec<SharedObserver>>,
    /// Connections, packets and bytes per second, for the admin UI's `aggregatedEvents`
    /// (off until it is instrumented; `traffic.rs`).
    pub(crate) traffic: Arc<Traffic>,
}

impl ServerInner {
    pub(crate) fn new(
        mut config: Config,
        adapter: AdapterFactory,
        engine_only: Option<EngineHandler>,
    ) -> Self {
        if let Some(deflate) = &config.per_message_deflate {
            // First: the one negotiated when the application's `ws_handshake` has another.
            let extension = deflate.extension();
            config.ws_handshake.extensions.insert(0, extension);
        }
        if config.ws_handshake.check_origin.is_none() {
            config.ws_handshake.check_origin =
                Some(super::cors::websocket_origins(config.cors.as_ref()));
        }
        Self {
            config,
            namespaces: RwLock::default(),
            parents: Parents::default(),
            adapter,
            polling: Arc::default(),
            engine_only,
            conns: Mutex::default(),
            closing: AtomicBool::new(false),
            stop: watch::Sender::new(false),
            drained: Notify::new(),
            observers: RwLock::default(),
            traffic: Arc::default(),
        }
    }

    /// A new session id: random, or with forwarding on, starting with this node's tag.
    pub(crate) fn new_sid(&self) -> Sid {
        match &self.config.forwarding {
            Some(forwarding) => forwarding.new_sid(),
            None => Sid::random(),
        }
    }

    /// Whether the server is shutting down.
    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, Weak<ConnShared>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection that starts; `false` when the server is shutting down (the
    /// connection must not start). Checked under the map's lock, so a connection is either
    /// seen by the shutdown or refused.
    pub(crate) fn register(&self, sid: Sid, conn: &Arc<ConnShared>) -> bool {
        let mut conns = self.lock_conns();
        if self.closing() {
            return false;
        }
        conns.insert(sid, Arc::downgrade(conn));
        self.traffic.opened();
        true
    }

    /// Forgets a connection that ended for `reason`.
    pub(crate) fn unregister(&self, sid: Sid, reason: DisconnectReason) {
        let mut conns = self.lock_conns();
        if conns.remove(&sid).is_some() {
            self.traffic.closed(engine_reason(reason));
        }
        if conns.is_empty() {
            self.drained.notify_waiters();
        }
    }

    /// Marks the server closing; returns the connections running, the first time only (a
    /// second shutdown waits for the same connections and sends nothing twice).
    pub(crate) fn begin_shutdown(&self) -> Vec<Arc<ConnShared>> {
        let conns = self.lock_conns();
        if self.closing.swap(true, Ordering::AcqRel) {
            return Vec::new();
        }
        conns.values().filter_map(Weak::upgrade).collect()
    }

    /// Waits until every registered connection ended.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            if self.lock_conns().is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// The namespace `name`, if it was created.
    pub(crate) fn namespace(&self, name: &str) -> Option<Arc<NsInner>> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The namespace `name` (with its leading `/`), created if missing, with `parent` when it
    /// is a dynamic namespace's child (an existing namespace is returned as it is: a name
    /// created by `Server::of` wins over the patterns, as in Node).
    pub(crate) fn namespace_or_create(&self, name: &str, parent: Option<&Parent>) -> Arc<NsInner> {
        let mut namespaces = self
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut created = false;
        let inner = namespaces
            .entry(name.to_owned())
            .or_insert_with(|| {
                created = true;
                let mut ns = NsInner::new(name.to_owned(), (self.adapter)(name));
                ns.recovery = self.config.recovery.as_ref().map(|r| r.store.clone());
                ns.parent = parent.map(|p| p.ns.clone());
                ns.parser = self.config.parser;
                Arc::new(ns)
            })
            .clone();
        drop(namespaces);
        if created {
            let host: Weak<dyn Host> = Arc::downgrade(&inner) as Weak<NsInner>;
            inner.adapter.attach(host);
            for observer in self
                .observers
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
            {
                inner.observe(observer.clone());
            }
            if let Some(parent) = parent {
                parent.children.adopt(&inner);
            }
        }
        inner
    }
}

/// The Engine.IO close reason of a connection that ended for `reason` (Node's engine socket
/// `close` event, which the admin UI reports as `rawDisconnection`'s `subType`).
fn engine_reason(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose | DisconnectReason::ClientNamespaceDisconnect => {
            "transport close"
        }
        DisconnectReason::TransportError => "transport error",
        DisconnectReason::PingTimeout => "ping timeout",
        DisconnectReason::ParseError => "parse error",
        // The server closed it: Node's `socket.close()` is `forced close`.
        _ => "forced close",
    }
}
