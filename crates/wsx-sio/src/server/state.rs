//! What a [`super::Server`] handle shares: its settings, its namespaces, the adapter factory,
//! the open long-polling sessions. The connection task reads it; `mod.rs` builds it.

use super::config::Config;
use super::engine_only::EngineHandler;
use crate::adapter::Adapter;
use crate::engine::transport::polling::Sessions;
use crate::namespace::NsInner;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// Makes the adapter of a namespace, from its name.
pub(crate) type AdapterFactory = Arc<dyn Fn(&str) -> Box<dyn Adapter> + Send + Sync>;

pub(crate) struct ServerInner {
    pub(crate) config: Config,
    pub(crate) namespaces: RwLock<HashMap<String, Arc<NsInner>>>,
    pub(crate) adapter: AdapterFactory,
    /// The open HTTP long-polling sessions, by sid.
    pub(crate) polling: Arc<Sessions>,
    /// Set for an Engine.IO-only server ([`super::Server::engine_only`]).
    pub(crate) engine_only: Option<EngineHandler>,
}

impl ServerInner {
    /// The namespace `name`, if it was created.
    pub(crate) fn namespace(&self, name: &str) -> Option<Arc<NsInner>> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }
}
