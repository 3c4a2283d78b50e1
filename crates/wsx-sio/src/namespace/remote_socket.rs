//! [`RemoteSocket`]: a socket `fetch_sockets` found, on this server or another: the
//! [`SocketInfo`] its adapter returned, plus the operations Node's `RemoteSocket` has
//! (`emit`, `join`, `leave`, `disconnect`), which go through the adapter so that they reach
//! the socket wherever it is connected.

use super::hub::Hub;
use super::socket::Socket;
use crate::adapter::SocketInfo;
use crate::error::EmitError;
use crate::rooms::{BroadcastOptions, Room};
use crate::sid::Sid;
use serde::Serialize;
use serde_json::Value;

/// A socket found by [`Hub::fetch_sockets`], connected to this server or to another one.
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    info: SocketInfo,
    hub: Hub,
    /// The socket itself, when it is connected to this server.
    local: Option<Socket>,
}

impl RemoteSocket {
    pub(crate) fn new(info: SocketInfo, hub: Hub) -> Self {
        let local = Sid::parse(&info.id).and_then(|sid| hub.get_socket(sid));
        Self { info, hub, local }
    }

    /// The socket id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The rooms it was in when it was fetched, its own id first.
    #[must_use]
    pub fn rooms(&self) -> &[Room] {
        &self.info.rooms
    }

    /// Its handshake (see [`SocketInfo::handshake`]).
    #[must_use]
    pub fn handshake(&self) -> &Value {
        &self.info.handshake
    }

    /// The application's data attached to it.
    #[must_use]
    pub fn data(&self) -> &Value {
        &self.info.data
    }

    /// The socket itself, when it is connected to this server.
    #[must_use]
    pub fn local(&self) -> Option<&Socket> {
        self.local.as_ref()
    }

    /// Everything known about it.
    #[must_use]
    pub fn info(&self) -> &SocketInfo {
        &self.info
    }

    fn only_this(&self) -> BroadcastOptions {
        BroadcastOptions {
            rooms: vec![self.info.id.clone()],
            ..BroadcastOptions::default()
        }
    }

    /// Emits an event to it, wherever it is connected.
    ///
    /// # Errors
    /// `data` is not JSON, or see [`crate::BroadcastOperator::emit_args`].
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<usize, EmitError> {
        self.hub.to(self.info.id.clone()).emit(event, data)
    }

    /// Makes it join `room`, wherever it is connected.
    pub fn join(&self, room: impl Into<Room>) {
        self.hub
            .adapter()
            .add_sockets(&self.only_this(), &[room.into()], self.hub.host());
    }

    /// Makes it leave `room`, wherever it is connected.
    pub fn leave(&self, room: impl Into<Room>) {
        self.hub
            .adapter()
            .del_sockets(&self.only_this(), &[room.into()], self.hub.host());
    }

    /// Disconnects it from its namespace, or with `close` closes its whole connection.
    pub fn disconnect(&self, close: bool) {
        self.hub
            .adapter()
            .disconnect_sockets(&self.only_this(), close, self.hub.host());
    }
}
