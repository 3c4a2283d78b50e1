//! What an adapter sees of its namespace: the [`Host`] trait. The namespace implements it
//! (over its sockets connected to this server); an adapter calls it to reach them, and a
//! networked adapter keeps it (weakly) to deliver what other servers send.

use super::info::SocketInfo;
use super::server_side::ServerAck;
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::error::AckError;
use crate::packet::Parser;
use crate::rooms::{EmitFlags, Room};
use crate::sid::Sid;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The acknowledgement of an event sent by [`Host::emit_with_ack`]: the client's arguments, or
/// why they did not come.
pub type AckWait = Pin<Box<dyn Future<Output = Result<Args, AckError>> + Send>>;

/// The namespace as its adapter sees it: the sockets connected to this server, by id.
///
/// Implemented by the namespace; an adapter implementation only calls it. Every method is
/// synchronous and cheap enough to call from a subscriber task (nothing waits on a client).
pub trait Host: Send + Sync {
    /// The ids of the namespace's sockets connected to this server.
    fn sids(&self) -> Vec<Sid>;

    /// Whether the socket `sid` is connected to this server (a room named after a socket id
    /// addresses that socket).
    fn has_socket(&self, sid: Sid) -> bool;

    /// Queues `frames` (one packet, encoded once: each receiver gets `Bytes` clones) on each
    /// socket of `sids` that is connected and has room in its queue. Returns how many took
    /// them.
    fn push(&self, sids: &[Sid], frames: &[Frame]) -> usize;

    /// Queues the frames of the broadcast of `event` with `args` on each socket of `sids`,
    /// as Node's in-memory adapter applies a broadcast: with `flags` (a volatile packet goes
    /// only to receivers that can take it at once), and calling each receiver's outgoing
    /// listeners. An adapter calls this for a broadcast another server started. Returns
    /// how many took the frames. The default is [`Self::push`] (flags and listeners left
    /// aside), for hosts that have neither.
    fn push_event(
        &self,
        sids: &[Sid],
        frames: &[Frame],
        flags: EmitFlags,
        event: &str,
        args: &Args,
    ) -> usize {
        let _ = (flags, event, args);
        self.push(sids, frames)
    }

    /// Queues `frames` on every socket connected to this server but those of `except` (a
    /// broadcast to no room in particular); returns how many took them. The default is
    /// [`Self::push`] to those ids; the namespace goes through its sockets without looking each
    /// one up by id.
    fn push_all(&self, except: &std::collections::HashSet<Sid>, frames: &[Frame]) -> usize {
        let mut sids = self.sids();
        if !except.is_empty() {
            sids.retain(|sid| !except.contains(sid));
        }
        self.push(&sids, frames)
    }

    /// Disconnects the sockets of `sids` from the namespace ("server namespace disconnect"),
    /// or with `close` closes their whole connections ("forced server close").
    fn disconnect(&self, sids: &[Sid], close: bool);

    /// Describes a socket connected to this server, as adapters exchange them.
    fn describe(&self, sid: Sid) -> Option<SocketInfo>;

    /// Emits `event` to the socket `sid`, asking for an acknowledgement within `timeout`
    /// (another server's broadcast with acknowledgements). `None` when the socket is not
    /// connected here.
    fn emit_with_ack(
        &self,
        sid: Sid,
        event: &str,
        args: Args,
        timeout: Duration,
    ) -> Option<AckWait>;

    /// Emits `event` to each socket of `sids` connected here, asking each for an
    /// acknowledgement within `timeout` (a broadcast with acknowledgements): one wait per
    /// socket that got it, with `flags` (a volatile packet dropped for a receiver still
    /// counts it: its wait ends at the timeout, as in Node). The namespace encodes the packet
    /// once for all of them (the default, for other hosts, emits to each in turn, without
    /// the flags).
    fn emit_many_with_ack(
        &self,
        sids: &[Sid],
        event: &str,
        args: &Args,
        timeout: Duration,
        flags: EmitFlags,
    ) -> Vec<AckWait> {
        let _ = flags;
        sids.iter()
            .filter_map(|&sid| self.emit_with_ack(sid, event, args.clone(), timeout))
            .collect()
    }

    /// Calls the namespace's handler of a server-side event another server sent (`packet` is
    /// `[event, ...args]`), on a task of its own. Returns whether there was one.
    fn server_side(&self, packet: Vec<Value>, ack: ServerAck) -> bool;

    /// The local socket `sid` joined `rooms`, which it was not in, through
    /// [`super::Adapter::add_sockets`] (`sockets_join`, this server's or another's): the
    /// namespace tells its observers (the admin UI). An adapter that overrides `add_sockets`
    /// without calling the default's local part calls this itself. Default: nothing.
    fn rooms_joined(&self, sid: Sid, rooms: &[Room]) {
        let _ = (sid, rooms);
    }

    /// The local socket `sid` left `rooms`, which it was in, through
    /// [`super::Adapter::del_sockets`]; as [`Self::rooms_joined`].
    fn rooms_left(&self, sid: Sid, rooms: &[Room]) {
        let _ = (sid, rooms);
    }

    /// How this server writes packets ([`crate::Config::parser`]): a networked adapter
    /// encodes what another server broadcast in this form before [`Self::push`].
    fn parser(&self) -> Parser;
}
