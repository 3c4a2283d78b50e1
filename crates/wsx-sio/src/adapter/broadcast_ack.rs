//! Broadcasts that collect acknowledgements (Node's `io.to(room).timeout(ms).emit(ev, data,
//! (err, responses) => ..)`), the adapter's side: what [`super::Adapter::broadcast_with_ack`]
//! hands back to the namespace, which waits for the answers
//! (`crate::namespace::broadcast_ack`).
//!
//! As in Node's adapters, an answer is counted against what the servers report: this server
//! knows its own receivers at once (one [`AckWait`] each); every other server first reports
//! how many of its sockets got the packet ([`AckReport::Clients`], Redis'
//! `BROADCAST_CLIENT_COUNT`), then forwards each acknowledgement ([`AckReport::Response`],
//! `BROADCAST_ACK`). The broadcast is complete when every other server reported and every
//! counted socket answered. A plain broadcast ([`super::Adapter::broadcast`]) pays for none of
//! this.

use super::{AckWait, AdapterFuture};
use crate::args::Args;
use tokio::sync::mpsc;

/// What another server reports about a broadcast with acknowledgements.
#[derive(Debug, Clone, PartialEq)]
pub enum AckReport {
    /// A server sent the packet to this many of its sockets (each report counts one server).
    Clients(usize),
    /// One socket's acknowledgement: its arguments.
    Response(Args),
}

/// A broadcast with acknowledgements, sent: what to wait for.
pub struct AckBroadcast {
    /// The acknowledgements of this server's sockets that got the packet.
    pub local: Vec<AckWait>,
    /// How many *other* servers will report (resolves when known; `0` on one node).
    pub other_servers: AdapterFuture<usize>,
    /// The other servers' reports, in arrival order (`None` on one node).
    pub reports: Option<mpsc::UnboundedReceiver<AckReport>>,
}

impl std::fmt::Debug for AckBroadcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckBroadcast")
            .field("local", &self.local.len())
            .field("reports", &self.reports.is_some())
            .finish_non_exhaustive()
    }
}

impl AckBroadcast {
    /// This server's acknowledgements only (one node, or a broadcast flagged `local`).
    #[must_use]
    pub fn local_only(local: Vec<AckWait>) -> Self {
        Self {
            local,
            other_servers: Box::pin(std::future::ready(Ok(0))),
            reports: None,
        }
    }
}
