//! Node's emit flags, `volatile` and `compress`, and how a broadcast carrying them (or
//! reaching a socket with outgoing listeners) is delivered on this server.
//!
//! The flags never go through the adapter's interface: a broadcast hands its adapter a
//! [`Host`] that wraps the namespace's ([`Delivery`]), whose `push` applies them to each
//! receiver and calls the receivers' outgoing listeners ([`crate::Socket::on_any_outgoing`]).
//! A plain broadcast to a namespace where no socket has outgoing listeners takes the
//! namespace's own `push` unchanged, so it pays nothing for them.
//!
//! The flags travel in [`crate::BroadcastOptions::flags`], Node's `opts.flags`: the Redis
//! adapters put them on the wire as `@socket.io/redis-adapter` does (`{volatile: true}`,
//! `{compress: false}`, beside a broadcast with acknowledgements' `timeout`), and a
//! broadcast another server started reaches this server's sockets through
//! [`Host::push_event`] with them: volatile applied to each receiver here, and its outgoing
//! listeners called, as Node's in-memory adapter does for every broadcast it applies
//! (`notifyOutgoingListeners`, then `writeToEngine` with the packet's `volatile` and
//! `compress`). A dynamic namespace's parent passes its options, flags included, to every
//! child (Node's `ParentBroadcastAdapter`).

use super::NsInner;
use crate::adapter::{AckWait, Host, ServerAck, SocketInfo};
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::packet::Parser;
use crate::sid::Sid;
use serde_json::Value;
use std::time::Duration;

pub use crate::rooms::EmitFlags;

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

    fn push_event(
        &self,
        sids: &[Sid],
        frames: &[Frame],
        flags: EmitFlags,
        event: &str,
        args: &Args,
    ) -> usize {
        self.ns.push_event(sids, frames, flags, event, args)
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
        flags: EmitFlags,
    ) -> Vec<AckWait> {
        self.ns
            .emit_many_with_ack(sids, event, args, timeout, flags)
    }

    fn server_side(&self, packet: Vec<Value>, ack: ServerAck) -> bool {
        self.ns.server_side(packet, ack)
    }

    fn parser(&self) -> Parser {
        self.ns.parser()
    }
}
