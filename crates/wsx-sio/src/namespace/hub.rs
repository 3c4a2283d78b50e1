//! `Hub`: one namespace's sockets and rooms, and the broadcast operators over them.
//!
//! `hub.to("room").except(&socket).emit("event", &data)` encodes the packet once and hands the
//! frames to the [`Adapter`], which queues shared copies (`Bytes` clones) on each receiver's
//! connection. Everything goes through the `Adapter` trait, so a networked adapter changes
//! nothing here.

use super::NsInner;
pub use super::local::LocalSockets;
use super::remote_socket::RemoteSocket;
use super::socket::Socket;
use crate::adapter::{Adapter, AdapterFuture, Host, ServerAck};
use crate::args::Args;
use crate::engine::transport::Frame;
use crate::error::{AdapterError, EmitError};
use crate::frames::{broadcast_frames, event_frames};
use crate::rooms::{BroadcastOptions, Room};
use crate::sid::Sid;
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub use super::broadcast_ack::{BroadcastAcks, DEFAULT_BROADCAST_ACK_TIMEOUT};
use super::flags::{Delivery, EmitFlags};
use std::sync::atomic::Ordering;

/// A hub that does not keep its namespace alive (for what the namespace itself owns, such as
/// a task of its own; adapters get the namespace as a weak [`Host`] instead).
#[derive(Clone, Debug, Default)]
pub struct WeakHub(Weak<NsInner>);

impl WeakHub {
    /// The hub, while its namespace exists.
    #[must_use]
    pub fn upgrade(&self) -> Option<Hub> {
        self.0.upgrade().map(Hub)
    }
}

impl std::fmt::Debug for NsInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsInner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A namespace's sockets and rooms. Cheap to clone.
#[derive(Clone)]
pub struct Hub(pub(crate) Arc<NsInner>);

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("namespace", &self.name())
            .finish()
    }
}

impl Hub {
    /// The namespace's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// A handle that does not keep the namespace alive.
    #[must_use]
    pub fn downgrade(&self) -> WeakHub {
        WeakHub(Arc::downgrade(&self.0))
    }

    /// Where sent packets are kept for connection state recovery, when it is on.
    pub(crate) fn recovery(&self) -> Option<&dyn crate::recovery::RecoveryStore> {
        self.0.recovery.as_deref()
    }

    /// The sockets connected to this server.
    #[must_use]
    pub fn local_sockets(&self) -> &LocalSockets {
        &self.0.local
    }

    /// Calls the handler of a server-side event another server sent (`packet` is
    /// `[event, ...args]`), on a task of its own. Returns whether there was one.
    pub fn dispatch_server_side(&self, packet: Vec<Value>, ack: ServerAck) -> bool {
        self.0.dispatch_server_side(packet, ack)
    }

    pub(crate) fn adapter(&self) -> &dyn Adapter {
        &*self.0.adapter
    }

    /// The namespace as its adapter sees it.
    pub(crate) fn host(&self) -> &dyn Host {
        &*self.0
    }

    fn all(&self) -> BroadcastOperator {
        self.select(BroadcastOptions::default())
    }

    /// The sockets `opts` selects.
    pub(crate) fn select(&self, opts: BroadcastOptions) -> BroadcastOperator {
        BroadcastOperator {
            hub: self.clone(),
            opts,
            timeout: None,
            flags: EmitFlags::default(),
        }
    }

    /// A broadcast to the sockets in `room` (a socket id addresses that socket).
    #[must_use]
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.all().to(room)
    }

    /// A broadcast to every socket but those in `room` (or the socket: `except(&socket)`).
    #[must_use]
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.all().except(room)
    }

    /// Emits to every socket of the namespace.
    ///
    /// # Errors
    /// See [`BroadcastOperator::emit`].
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<usize, EmitError> {
        self.all().emit(event, data)
    }

    /// Emits any arguments, binary included, to every socket of the namespace.
    ///
    /// # Errors
    /// See [`BroadcastOperator::emit_args`].
    pub fn emit_args(&self, event: &str, args: Args) -> Result<usize, EmitError> {
        self.all().emit_args(event, args)
    }

    /// A broadcast whose receivers drop it if they cannot take it at once (Node's
    /// `io.volatile`; see [`BroadcastOperator::volatile`]).
    #[must_use]
    pub fn volatile(&self) -> BroadcastOperator {
        self.all().volatile()
    }

    /// A broadcast with Node's `compress` flag (see [`EmitFlags::compress`]).
    #[must_use]
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.all().compress(compress)
    }

    /// A broadcast to this server's sockets only (Socket.IO's `io.local`).
    #[must_use]
    pub fn local(&self) -> BroadcastOperator {
        self.all().local()
    }

    /// A broadcast to every socket whose acknowledgements are awaited at most `timeout`
    /// (`io.timeout(ms)`); see [`BroadcastOperator::emit_with_ack`].
    #[must_use]
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.all().timeout(timeout)
    }

    /// Every socket of the namespace (on every server, with a networked adapter).
    pub fn fetch_sockets(&self) -> AdapterFuture<Vec<RemoteSocket>> {
        self.all().fetch_sockets()
    }

    /// Every room of the namespace on every server, socket ids included (Node's
    /// `adapter.allRooms()`).
    pub fn all_rooms(&self) -> AdapterFuture<Vec<Room>> {
        self.adapter().all_rooms(self.host())
    }

    /// How many servers serve this namespace, this one included (Node's `serverCount`).
    pub fn server_count(&self) -> AdapterFuture<usize> {
        self.adapter().server_count()
    }

    /// Sends a server-side event to the other servers (Node's `io.serverSideEmit`); their
    /// [`crate::Namespace::on_server_side`] handlers get it. This server's are not called.
    ///
    /// # Errors
    /// `data` is not JSON, or the adapter could not publish it.
    pub fn server_side_emit(&self, event: &str, data: &impl Serialize) -> Result<(), AdapterError> {
        let data = serde_json::to_value(data).map_err(|e| AdapterError::NotJson(e.to_string()))?;
        self.adapter()
            .server_side_emit(vec![Value::from(event), data])
    }

    /// Like [`Self::server_side_emit`], and collects one answer per other server (Node's
    /// `serverSideEmitWithAck`); fails with [`AdapterError::Timeout`] when one did not answer
    /// in time.
    pub fn server_side_emit_with_ack(
        &self,
        event: &str,
        data: &impl Serialize,
    ) -> AdapterFuture<Vec<Value>> {
        match serde_json::to_value(data) {
            Ok(data) => self
                .adapter()
                .server_side_emit_with_ack(vec![Value::from(event), data]),
            Err(e) => Box::pin(std::future::ready(Err(AdapterError::NotJson(
                e.to_string(),
            )))),
        }
    }

    /// Makes every socket join `room`.
    pub fn sockets_join(&self, room: impl Into<Room>) {
        self.all().sockets_join(room);
    }

    /// Makes every socket leave `room`.
    pub fn sockets_leave(&self, room: impl Into<Room>) {
        self.all().sockets_leave(room);
    }

    /// Disconnects every socket of the namespace (with `close`, closes their connections).
    pub fn disconnect_sockets(&self, close: bool) {
        self.all().disconnect_sockets(close);
    }

    /// The local socket with this id.
    #[must_use]
    pub fn get_socket(&self, id: Sid) -> Option<Socket> {
        self.0.local.get(id)
    }

    /// How many sockets of this namespace are connected to this server.
    #[must_use]
    pub fn local_count(&self) -> usize {
        self.0.local.len()
    }
}

/// A selection of sockets of one namespace (`to`, `except`), and what can be done to them.
#[derive(Debug, Clone)]
pub struct BroadcastOperator {
    pub(super) hub: Hub,
    pub(super) opts: BroadcastOptions,
    /// How long [`Self::emit_with_ack`] waits (not part of the options: it never crosses
    /// servers, and a plain broadcast ignores it; `broadcast_ack.rs`).
    pub(super) timeout: Option<Duration>,
    /// `volatile` and `compress` (applied on this server: `flags.rs`).
    pub(super) flags: EmitFlags,
}

impl BroadcastOperator {
    /// Adds a room to the selection (the union of all rooms given).
    #[must_use]
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.opts.rooms.push(room.into());
        self
    }

    /// Leaves out the sockets in `room` (or that socket: `except(&socket)`).
    #[must_use]
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.opts.except.push(room.into());
        self
    }

    /// Restricts the selection to this server's sockets (Socket.IO's `local` flag).
    #[must_use]
    pub fn local(mut self) -> Self {
        self.opts.local = true;
        self
    }

    /// Drops the event for each receiver on this server that cannot take it at once:
    /// something sent to it is not taken yet (queued, being written, or waiting for its next
    /// poll), or it is not connected (Node's `volatile`). Not kept for connection state
    /// recovery. Other servers of a cluster deliver it as a plain broadcast (their wire
    /// format carries no flags from here). Applies to [`Self::emit`] and [`Self::emit_args`],
    /// not to broadcasts with acknowledgements.
    #[must_use]
    pub fn volatile(mut self) -> Self {
        self.flags.volatile = true;
        self
    }

    /// Sets whether the event may be compressed (Node's `compress(bool)`; see
    /// [`EmitFlags::compress`]: no effect yet).
    #[must_use]
    pub fn compress(mut self, compress: bool) -> Self {
        self.flags.compress = compress;
        self
    }

    /// The flags set so far.
    #[must_use]
    pub fn flags(&self) -> EmitFlags {
        self.flags
    }

    /// The selection.
    #[must_use]
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    /// Emits `event` with one argument to the selected sockets; returns how many local sockets
    /// it was queued for.
    ///
    /// # Errors
    /// `data` is not JSON.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<usize, EmitError> {
        self.emit_args(event, Args::one(data)?)
    }

    /// Emits any arguments, binary included. The packet is encoded once.
    ///
    /// # Errors
    /// Never for the in-memory adapter; a networked adapter that could not publish reports
    /// [`EmitError::Adapter`] (local delivery was done all the same).
    pub fn emit_args(&self, event: &str, args: Args) -> Result<usize, EmitError> {
        // With connection state recovery on, this server's copy carries an offset and is
        // kept for sockets that lose their connection; other servers get the arguments
        // without it (the offset means something to this server's store only; Node's Redis
        // adapter does no recovery either).
        // A volatile packet is not kept: it is stale by design (as in Node).
        if super::offsets::applies(&self.hub, self.flags) {
            // The adapter assigns the offset (the Streams adapter): `offsets.rs`.
            return super::offsets::emit(&self.hub, self.opts.clone(), self.flags, event, args);
        }
        let (frames, args) = if self.hub.recovery().is_some() && !self.flags.volatile {
            let frames = kept_event_frames(&self.hub, &self.opts, event, args.clone());
            (frames, args)
        } else {
            broadcast_frames(self.hub.0.parser, self.hub.name(), event, args)
        };
        let ns = &*self.hub.0;
        // A plain broadcast where no socket listens to its outgoing events goes straight to
        // the sockets; otherwise through a host that applies flags and calls listeners.
        let delivery;
        let host: &dyn crate::adapter::Host =
            if self.flags.is_plain() && ns.outgoing_sockets.load(Ordering::Acquire) == 0 {
                ns
            } else {
                delivery = Delivery {
                    ns,
                    flags: self.flags,
                    event,
                    args: &args,
                };
                &delivery
            };
        let sent = self
            .hub
            .adapter()
            .broadcast(event, &args, &frames, &self.opts, host)?;
        crate::metrics::events_sent(self.hub.name(), sent);
        Ok(sent)
    }

    /// The selected sockets, on every server with a networked adapter.
    pub fn fetch_sockets(&self) -> AdapterFuture<Vec<RemoteSocket>> {
        let hub = self.hub.clone();
        let found = self
            .hub
            .adapter()
            .fetch_sockets(&self.opts, self.hub.host());
        Box::pin(async move {
            Ok(found
                .await?
                .into_iter()
                .map(|info| RemoteSocket::new(info, hub.clone()))
                .collect())
        })
    }

    /// Makes the selected sockets join `room`.
    pub fn sockets_join(&self, room: impl Into<Room>) {
        self.hub
            .adapter()
            .add_sockets(&self.opts, &[room.into()], self.hub.host());
    }

    /// Makes the selected sockets leave `room`.
    pub fn sockets_leave(&self, room: impl Into<Room>) {
        self.hub
            .adapter()
            .del_sockets(&self.opts, &[room.into()], self.hub.host());
    }

    /// Disconnects the selected sockets ("server namespace disconnect"), or with `close`
    /// closes their connections.
    pub fn disconnect_sockets(&self, close: bool) {
        self.hub
            .adapter()
            .disconnect_sockets(&self.opts, close, self.hub.host());
    }
}

/// The frames of an event sent without an acknowledgement to the sockets `opts` selects;
/// with connection state recovery on, an offset is appended to its arguments and the packet
/// is kept for sockets that lose their connection ([`crate::recovery`]).
pub(crate) fn kept_event_frames(
    hub: &Hub,
    opts: &BroadcastOptions,
    event: &str,
    mut args: Args,
) -> Vec<Frame> {
    let Some(store) = hub.recovery() else {
        return event_frames(hub.0.parser, hub.name(), event, args, None);
    };
    let offset = crate::recovery::new_offset();
    args.values.push(Value::String(offset.clone()));
    let frames = event_frames(hub.0.parser, hub.name(), event, args, None);
    store.store(hub.name(), &offset, opts, &frames);
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transport::Frame;
    use crate::namespace::test_support::{address, connected_socket, frames};

    #[test]
    fn a_broadcast_is_encoded_once_and_its_bytes_shared() {
        let server = crate::Server::default();
        let hub = server.of("/").hub();
        let receivers: Vec<_> = (0..3).map(|_| connected_socket(&hub)).collect();
        let mut args = Args::new().arg("text");
        let placeholder = args.attach(bytes::Bytes::from_static(b"binary"));
        let args = args.arg(placeholder);
        assert_eq!(hub.emit_args("news", args).ok(), Some(3));
        let got: Vec<Vec<Frame>> = receivers.iter().map(|(_, conn)| frames(conn)).collect();
        for frames in &got {
            assert_eq!(frames.len(), 2, "the text and one attachment");
            assert_eq!(frames[0], got[0][0]);
            // The same allocation, not equal copies.
            assert_eq!(address(&frames[0]), address(&got[0][0]));
            assert_eq!(address(&frames[1]), address(&got[0][1]));
        }
        assert!(matches!(&got[0][0], Frame::Text(t)
            if t.as_str() == r#"451-["news","text",{"_placeholder":true,"num":0}]"#));
    }

    #[test]
    fn rooms_and_exceptions_select_receivers() {
        let server = crate::Server::default();
        let hub = server.of("/").hub();
        let (a, ca) = connected_socket(&hub);
        let (b, cb) = connected_socket(&hub);
        let (_c, cc) = connected_socket(&hub);
        a.join("r");
        b.join("r");
        assert_eq!(hub.to("r").except(&a).emit("x", &1).ok(), Some(1));
        assert_eq!(
            (frames(&ca).len(), frames(&cb).len(), frames(&cc).len()),
            (0, 1, 0)
        );
        assert_eq!(
            a.to("r").emit("x", &2).ok(),
            Some(1),
            "socket.to leaves the sender out"
        );
        assert_eq!(frames(&cb).len(), 1);
        assert_eq!(
            hub.to(a.id().as_str()).emit("x", &3).ok(),
            Some(1),
            "an id is a room"
        );
        assert_eq!(frames(&ca).len(), 1);
        assert_eq!(a.rooms(), vec![a.id().to_string(), "r".to_owned()]);
        hub.to("r").sockets_leave("r");
        assert_eq!(hub.to("r").emit("x", &4).ok(), Some(0));
        b.join("kept");
        b.disconnect();
        assert_eq!(hub.local_count(), 2);
        assert_eq!(
            b.rooms(),
            vec![b.id().to_string(), "kept".to_owned()],
            "as at disconnect"
        );
        assert_eq!(
            hub.to("kept").emit("x", &6).ok(),
            Some(0),
            "but out of the room"
        );
        assert!(b.emit("x", &5).is_err());
    }

    /// The cost of a broadcast per receiver, in instructions: `cargo test --release -p
    /// wsx-sio --lib --no-run`, then `valgrind --tool=callgrind
    /// '--toggle-collect=*BroadcastOperator*emit_args*' <the test binary> --ignored --exact
    /// namespace::hub::tests::broadcast_to_a_thousand` and divide by 20,000. 762 before the
    /// adapter's host trait (a lock and a socket handle clone per receiver), 612 after.
    #[test]
    #[ignore = "a measurement, run under callgrind"]
    fn broadcast_to_a_thousand() {
        let server = crate::Server::default();
        let hub = server.of("/").hub();
        let receivers: Vec<_> = (0..1000).map(|_| connected_socket(&hub)).collect();
        for i in 0..20 {
            assert_eq!(hub.emit("news", &i).ok(), Some(1000));
            for (_, conn) in &receivers {
                drop(conn.outbox.take());
            }
        }
    }
}
