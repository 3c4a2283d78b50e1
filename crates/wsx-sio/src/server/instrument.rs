//! What instrumentation (the admin UI, `crate::admin`) reads of a [`Server`] and hooks into:
//! its namespaces (those created later included), its connection counts, the transport of a
//! connection. Crate-internal: the admin module is the one user.

use super::Server;
use super::state::ServerInner;
use crate::namespace::Hub;
use crate::namespace::observe::SharedObserver;
use crate::sid::Sid;
use std::sync::{PoisonError, Weak};

/// A server handle that does not keep the server alive (for a task of its own, such as the
/// admin UI's statistics).
#[derive(Clone)]
pub(crate) struct WeakServer(Weak<ServerInner>);

impl WeakServer {
    /// The server, while it exists.
    pub(crate) fn upgrade(&self) -> Option<Server> {
        self.0.upgrade().map(Server)
    }
}

impl Server {
    /// A handle that does not keep the server alive.
    pub(crate) fn downgrade(&self) -> WeakServer {
        WeakServer(std::sync::Arc::downgrade(&self.0))
    }

    /// Adds an observer to every namespace, present and future (dynamic namespaces' children
    /// included).
    pub(crate) fn observe_all(&self, observer: SharedObserver) {
        // Registered first, so that a namespace created meanwhile is not missed (one created
        // in between gets it from both sides: it is added once only below).
        self.0
            .observers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(observer.clone());
        for hub in self.namespaces() {
            let known = hub
                .0
                .observers()
                .iter()
                .any(|o| std::sync::Arc::ptr_eq(o, &observer));
            if !known {
                hub.0.observe(observer.clone());
            }
        }
    }

    /// The namespaces created so far, by name.
    pub(crate) fn namespaces(&self) -> Vec<Hub> {
        let mut hubs: Vec<Hub> = self
            .0
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .map(Hub)
            .collect();
        hubs.sort_by(|a, b| a.name().cmp(b.name()));
        hubs
    }

    /// The namespace `name` if it exists (never creates one, unlike [`Server::of`]).
    pub(crate) fn existing_namespace(&self, name: &str) -> Option<Hub> {
        self.0.namespace(name).map(Hub)
    }

    /// How many Socket.IO connections are open (Node's `io.engine.clientsCount`).
    pub(crate) fn clients_count(&self) -> usize {
        self.0
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// How many connections are on HTTP long-polling, not upgraded.
    pub(crate) fn polling_clients_count(&self) -> usize {
        self.0.polling.polling_count()
    }

    /// The transport of the connection with Engine.IO session id `sid`: `"polling"` while
    /// a polling session has not upgraded, `"websocket"` otherwise.
    pub(crate) fn transport_of(&self, sid: Sid) -> &'static str {
        match self.0.polling.get(&sid) {
            Some(session) if !session.upgraded() => "polling",
            _ => "websocket",
        }
    }

    /// Starts counting connections, packets and bytes (`traffic.rs`).
    pub(crate) fn count_traffic(&self) {
        self.0.traffic.enable();
    }

    /// What was counted since the last call: Node's `aggregatedEvents`.
    pub(crate) fn take_traffic(&self) -> Vec<super::traffic::Aggregated> {
        self.0.traffic.take()
    }
}
