//! The adapter of a dynamic namespace's parent (`dynamic.rs`): the parent has no socket of
//! its own; what is done to its selection is done to every child's, as Node's
//! `ParentBroadcastAdapter` (socket.io 4.7) does for broadcasts: `parent.emit(..)` reaches
//! every socket of every child, each child encoding the packet once under its own name and
//! through its own adapter (so a Redis child publishes on its own channel). Joins, leaves,
//! disconnects, `fetch_sockets` and broadcasts with acknowledgements go to every child too.

use super::NsInner;
use super::hub::Hub;
use crate::adapter::{
    AckBroadcast, AckReport, Adapter, AdapterError, AdapterFuture, BroadcastOptions, Host, Room,
    SocketInfo,
};
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::sid::Sid;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

/// The children of one parent (weak: a child is owned by the server's map of namespaces).
/// Cloned handles share the list: the parent's namespace owns one, the server's list of
/// parents another, to adopt the children it creates.
#[derive(Clone, Default)]
pub(crate) struct ParentAdapter {
    children: Arc<RwLock<Vec<Weak<NsInner>>>>,
}

impl ParentAdapter {
    /// Adds a child just created.
    pub(crate) fn adopt(&self, child: &Arc<NsInner>) {
        self.children
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(child));
    }

    fn children(&self) -> Vec<Hub> {
        self.children
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .map(Hub)
            .collect()
    }
}

impl Adapter for ParentAdapter {
    // The parent itself holds no socket and no room.
    fn add_all(&self, _sid: Sid, _rooms: &[Room]) {}

    fn del(&self, _sid: Sid, _room: &str) {}

    fn del_all(&self, _sid: Sid) {}

    fn socket_rooms(&self, _sid: Sid) -> Vec<Room> {
        Vec::new()
    }

    fn rooms(&self) -> Vec<Room> {
        Vec::new()
    }

    fn local_targets(&self, _opts: &BroadcastOptions, _host: &dyn Host) -> Vec<Sid> {
        Vec::new()
    }

    fn broadcast(
        &self,
        event: &str,
        args: &Args,
        _frames: &[Frame],
        opts: &BroadcastOptions,
        _host: &dyn Host,
    ) -> Result<usize, AdapterError> {
        let mut sent = 0;
        let mut failed = None;
        for child in self.children() {
            match child.select(opts.clone()).emit_args(event, args.clone()) {
                Ok(n) => sent += n,
                Err(crate::error::EmitError::Adapter(err)) => failed = Some(err),
                // Not JSON cannot happen (the arguments are built already).
                Err(_) => {}
            }
        }
        failed.map_or(Ok(sent), Err)
    }

    fn broadcast_with_ack(
        &self,
        event: &str,
        args: &Args,
        opts: &BroadcastOptions,
        timeout: Duration,
        _host: &dyn Host,
    ) -> Result<AckBroadcast, AdapterError> {
        let mut local = Vec::new();
        let mut counts = Vec::new();
        let mut feeds = Vec::new();
        for child in self.children() {
            let sent =
                child
                    .adapter()
                    .broadcast_with_ack(event, args, opts, timeout, child.host())?;
            local.extend(sent.local);
            counts.push(sent.other_servers);
            feeds.extend(sent.reports);
        }
        if feeds.is_empty() {
            return Ok(AckBroadcast::local_only(local));
        }
        // One stream of reports: each child's, forwarded as they come.
        let (reports, received) = tokio::sync::mpsc::unbounded_channel::<AckReport>();
        for mut feed in feeds {
            let reports = reports.clone();
            tokio::spawn(async move {
                while let Some(report) = feed.recv().await {
                    if reports.send(report).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(AckBroadcast {
            local,
            // Every child's broadcast is answered by every other server: the reports add up.
            other_servers: Box::pin(async move {
                let mut total = 0;
                for count in counts {
                    total += count.await?;
                }
                Ok(total)
            }),
            reports: Some(received),
        })
    }

    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
        _host: &dyn Host,
    ) -> AdapterFuture<Vec<SocketInfo>> {
        let found: Vec<_> = self
            .children()
            .iter()
            .map(|child| child.adapter().fetch_sockets(opts, child.host()))
            .collect();
        Box::pin(async move {
            let mut sockets = Vec::new();
            for child in found {
                sockets.extend(child.await?);
            }
            Ok(sockets)
        })
    }

    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], _host: &dyn Host) {
        for child in self.children() {
            child.adapter().add_sockets(opts, rooms, child.host());
        }
    }

    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room], _host: &dyn Host) {
        for child in self.children() {
            child.adapter().del_sockets(opts, rooms, child.host());
        }
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool, _host: &dyn Host) {
        for child in self.children() {
            child
                .adapter()
                .disconnect_sockets(opts, close, child.host());
        }
    }
}
