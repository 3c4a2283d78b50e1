//! Dynamic namespaces, as Node's `io.of(/^\/tenant-\d+$/)` and `io.of((name, auth, next) =>
//! ..)`: a *parent* namespace holds connection handlers and middlewares and a rule; the first
//! CONNECT to a namespace that does not exist yet and that the rule accepts creates it as a
//! *child* of that parent. The child is an ordinary namespace (its own adapter, rooms and
//! sockets, [`crate::Socket::namespace`] names it); its connect middlewares and connection
//! handlers are the parent's (looked up at each CONNECT, so those added later apply too),
//! then its own. Parents are tried in the order they were made; a name that no parent
//! accepts is refused with CONNECT_ERROR "Invalid namespace", as a name never created is.
//!
//! What is done to the parent's own selection (`parent.emit(..)`, `parent.to(room)..`) is
//! done to every child's (`parent_adapter.rs`), as Node's parent namespaces do.
//!
//! A child is kept once created (as Node does by default, without
//! `cleanupEmptyChildNamespaces`): one namespace per tenant name that ever connected.

use super::NsInner;
use super::handler::BoxFuture;
use super::parent_adapter::ParentAdapter;
use serde_json::Value;
use std::sync::{Arc, PoisonError, RwLock};

/// The rule of a parent namespace: which names it creates.
pub(crate) enum Matcher {
    /// Names the pattern matches (anywhere: anchor it with `^...$`, as in Node).
    Pattern(regex::Regex),
    /// Names the function accepts, given the name and the CONNECT's auth payload.
    Function(Arc<dyn Fn(String, Value) -> BoxFuture<bool> + Send + Sync>),
}

impl Matcher {
    async fn accepts(&self, name: &str, auth: &Value) -> bool {
        match self {
            Self::Pattern(pattern) => pattern.is_match(name),
            Self::Function(accepts) => accepts(name.to_owned(), auth.clone()).await,
        }
    }
}

/// A parent namespace: its state, and its adapter's list of children.
#[derive(Clone)]
pub(crate) struct Parent {
    pub(crate) ns: Arc<NsInner>,
    pub(crate) children: ParentAdapter,
}

impl Parent {
    /// A parent namespace named `name` (never in the server's map of namespaces).
    pub(crate) fn new(name: String, parser: crate::packet::Parser) -> Self {
        let children = ParentAdapter::default();
        let mut ns = NsInner::new(name, Box::new(children.clone()));
        ns.parser = parser;
        Self {
            ns: Arc::new(ns),
            children,
        }
    }
}

/// The parent namespaces of a server, in the order they were made.
#[derive(Default)]
pub(crate) struct Parents(RwLock<Vec<(Arc<Matcher>, Parent)>>);

impl Parents {
    /// Adds a parent.
    pub(crate) fn push(&self, matcher: Matcher, parent: Parent) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Arc::new(matcher), parent));
    }

    /// How many parents there are (to name the next one, `/_0`, `/_1`.. as Node does).
    pub(crate) fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether there is none (then a CONNECT to an unknown name is refused at once).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first parent whose rule accepts `name` (the rules run one after another, outside
    /// the lock: a function may await).
    pub(crate) async fn find(&self, name: &str, auth: &Value) -> Option<Parent> {
        let parents = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (matcher, parent) in parents {
            if matcher.accepts(name, auth).await {
                return Some(parent);
            }
        }
        None
    }
}
