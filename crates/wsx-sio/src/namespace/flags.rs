//! Node's emit flags, `volatile` and `compress`, and how a broadcast carrying them (or
//! reaching a socket with outgoing listeners) is delivered on this server.
//!
//! The flags never go through the adapter's interface: a broadcast hands its adapter a
//! [`Host`] that wraps the namespace's ([`Delivery`]), whose `push` applies them to each
//! receiver and calls the receivers' outgoing listeners ([`crate::Socket::on_any_outgoing`]).
//! A plain broadcast to a namespace where no socket has outgoing listeners takes the
//! namespace's own `push` unchanged, so it pays nothing for them. Other servers get the
//! packet without the flags (the cluster's wire format carries `flags: {}`), so `volatile`
//! applies to this server's receivers only.

use super::NsInner;
use crate::adapter::{AckWait, Host, ServerAck, SocketInfo};
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::packet::Parser;
use crate::sid::Sid;
use serde_json::Value;
use std::time::Duration;

/// How an emit is delivered (Node's `socket.volatile`, `socket.compress(bool)`, on sockets
/// and broadcasts alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmitFlags {
    /// Dropped for a receiver that cannot take it at once: one whose outbound queue is not
    /// empty (it is slow, or being written) or that is not connected; Node's `volatile`,
    /// for data that is stale soon anyway (positions, ticks). A volatile event is not kept
    /// for connection state recovery either, as in Node.
    pub volatile: bool,
    /// Whether the message may be compressed (default `true`; Node's `compress(bool)`).
    /// Kept and passed down to the delivery, where it has no effect yet: this server's
    /// WebSocket transport negotiates no permessage-deflate (as Node's default
    /// `perMessageDeflate: false`), so nothing is compressed either way.
    pub compress: bool,
}

impl Default for EmitFlags {
    fn default() -> Self {
        Self {
            volatile: false,
            compress: true,
        }
    }
}

impl EmitFlags {
    /// Whether these are the flags of a plain emit.
    pub(crate) fn is_plain(self) -> bool {
        self == Self::default()
    }
}

/// The namespace as a broadcast with flags (or to sockets with outgoing listeners) shows it
/// to the adapter: everything as the namespace, but `push` delivers with the flags and calls
/// the outgoing listeners with the packet's event and arguments.
pub(crate) struct Delivery<'a> {
    pub(crate) ns: &'a NsInner,
    pub(crate) flags: EmitFlags,
    pub(crate) event: &'a str,
    pub(crate) args: &'a Args,
}

impl Host for Delivery<'_> {
    fn sids(&self) -> Vec<Sid> {
        self.ns.sids()
    }

    fn has_socket(&self, sid: Sid) -> bool {
        self.ns.has_socket(sid)
    }

    fn push(&self, sids: &[Sid], frames: &[Frame]) -> usize {
        self.ns
            .local
            .push_flagged(sids, frames, self.flags, self.event, self.args)
    }

    fn disconnect(&self, sids: &[Sid], close: bool) {
        self.ns.disconnect(sids, close);
    }

    fn describe(&self, sid: Sid) -> Option<SocketInfo> {
        self.ns.describe(sid)
    }

    fn emit_with_ack(
        &self,
        sid: Sid,
        event: &str,
        args: Args,
        timeout: Duration,
    ) -> Option<AckWait> {
        self.ns.emit_with_ack(sid, event, args, timeout)
    }

    fn emit_many_with_ack(
        &self,
        sids: &[Sid],
        event: &str,
        args: &Args,
        timeout: Duration,
    ) -> Vec<AckWait> {
        self.ns.emit_many_with_ack(sids, event, args, timeout)
    }

    fn server_side(&self, packet: Vec<Value>, ack: ServerAck) -> bool {
        self.ns.server_side(packet, ack)
    }

    fn parser(&self) -> Parser {
        self.ns.parser()
    }
}
