//! `Hub`: one namespace's sockets and rooms, and the broadcast operators over them.
//!
//! `hub.to("room").except(&socket).emit("event", &data)` encodes the packet once and hands the
//! frames to the [`Adapter`], which queues shared copies (`Bytes` clones) on each receiver's
//! connection. Everything goes through the `Adapter` trait, so a networked adapter changes
//! nothing here.

use crate::adapter::{Adapter, AdapterFuture, BroadcastOptions, LocalSockets, Room};
use crate::error::EmitError;
use crate::server::namespace::NsInner;
use crate::server::socket::event_frames;
use crate::server::{Args, Socket};
use crate::sid::Sid;
use serde::Serialize;
use std::sync::Arc;

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

    pub(crate) fn adapter(&self) -> &dyn Adapter {
        &*self.0.adapter
    }

    pub(crate) fn local(&self) -> &LocalSockets {
        &self.0.local
    }

    fn all(&self) -> BroadcastOperator {
        BroadcastOperator {
            hub: self.clone(),
            opts: BroadcastOptions::default(),
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

    /// Every socket of the namespace (on every server, with a networked adapter).
    pub fn fetch_sockets(&self) -> AdapterFuture<Vec<Socket>> {
        self.all().fetch_sockets()
    }

    /// Makes every socket join `room`.
    pub fn sockets_join(&self, room: impl Into<Room>) {
        self.all().sockets_join(room);
    }

    /// Makes every socket leave `room`.
    pub fn sockets_leave(&self, room: impl Into<Room>) {
        self.all().sockets_leave(room);
    }

    /// Disconnects every socket of the namespace.
    pub fn disconnect_sockets(&self) {
        self.all().disconnect_sockets();
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
    hub: Hub,
    opts: BroadcastOptions,
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
    /// Never for the in-memory adapter; a networked adapter may fail to publish
    /// (reported as [`EmitError::Disconnected`]).
    pub fn emit_args(&self, event: &str, args: Args) -> Result<usize, EmitError> {
        let frames = event_frames(self.hub.name(), event, args, None);
        self.hub
            .adapter()
            .broadcast(&frames, &self.opts, self.hub.local())
            .map_err(|err| {
                tracing::warn!(%err, "broadcast failed");
                EmitError::Disconnected
            })
    }

    /// The selected sockets.
    pub fn fetch_sockets(&self) -> AdapterFuture<Vec<Socket>> {
        self.hub
            .adapter()
            .fetch_sockets(&self.opts, self.hub.local())
    }

    /// Makes the selected sockets join `room`.
    pub fn sockets_join(&self, room: impl Into<Room>) {
        self.hub
            .adapter()
            .add_sockets(&self.opts, &[room.into()], self.hub.local());
    }

    /// Makes the selected sockets leave `room`.
    pub fn sockets_leave(&self, room: impl Into<Room>) {
        self.hub
            .adapter()
            .del_sockets(&self.opts, &[room.into()], self.hub.local());
    }

    /// Disconnects the selected sockets ("server namespace disconnect").
    pub fn disconnect_sockets(&self) {
        self.hub
            .adapter()
            .disconnect_sockets(&self.opts, self.hub.local());
    }
}
