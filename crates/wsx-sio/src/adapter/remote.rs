//! The sockets `fetch_sockets` finds, on this server or another: [`SocketInfo`] is what an
//! adapter returns (the fields Node's adapters exchange: `{id, handshake, rooms, data}`), and
//! [`RemoteSocket`] is what the application gets: that, plus the operations Node's
//! `RemoteSocket` has (`emit`, `join`, `leave`, `disconnect`), which go through the adapter so
//! that they reach the socket wherever it is connected.

use super::{BroadcastOptions, Room};
use crate::error::EmitError;
use crate::hub::Hub;
use crate::server::Socket;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::time::UNIX_EPOCH;

/// A socket as adapters describe it to each other.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket id.
    pub id: String,
    /// The handshake, in the shape of Node's `socket.handshake` (`headers`, `time`,
    /// `address`, `xdomain`, `secure`, `issued`, `url`, `query`, `auth`).
    pub handshake: Value,
    /// The rooms it is in, its own id included (as Node's `socket.rooms`).
    pub rooms: Vec<Room>,
    /// The application's data attached to the socket (Node's `socket.data`; `{}` here).
    pub data: Value,
    /// The socket itself when it is connected to this server.
    pub local: Option<Socket>,
}

impl SocketInfo {
    /// Describes a local socket.
    #[must_use]
    pub fn of_local(socket: &Socket) -> Self {
        let handshake = socket.handshake();
        let headers: Map<String, Value> = handshake
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), Value::from(value.to_str().ok()?)))
            })
            .collect();
        let query: Map<String, Value> = handshake
            .query
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        let issued = handshake
            .issued
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let handshake = json!({
            "headers": headers,
            "time": issued.to_string(),
            "address": handshake.remote_addr.map(|a| a.ip().to_string()).unwrap_or_default(),
            "xdomain": handshake.headers.contains_key(http::header::ORIGIN),
            "secure": false,
            "issued": issued,
            "url": handshake.uri.to_string(),
            "query": query,
            "auth": socket.auth(),
        });
        Self {
            id: socket.id().to_string(),
            handshake,
            rooms: socket.rooms(),
            data: Value::Object(Map::new()),
            local: Some(socket.clone()),
        }
    }

    /// The wire form Node's adapters send in a fetch response: `{id, handshake, rooms, data}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "handshake": self.handshake,
            "rooms": self.rooms,
            "data": self.data,
        })
    }

    /// Reads the wire form; `None` when it has no string `id`.
    #[must_use]
    pub fn from_json(value: &Value) -> Option<Self> {
        let id = value.get("id")?.as_str()?.to_owned();
        let rooms = value
            .get("rooms")
            .and_then(Value::as_array)
            .map(|rooms| {
                rooms
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            id,
            handshake: value.get("handshake").cloned().unwrap_or(Value::Null),
            rooms,
            data: value.get("data").cloned().unwrap_or(Value::Null),
            local: None,
        })
    }
}

/// A socket found by [`Hub::fetch_sockets`], connected to this server or to another one.
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    info: SocketInfo,
    hub: Hub,
}

impl RemoteSocket {
    pub(crate) fn new(info: SocketInfo, hub: Hub) -> Self {
        Self { info, hub }
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
        self.info.local.as_ref()
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
            .add_sockets(&self.only_this(), &[room.into()], self.hub.local_sockets());
    }

    /// Makes it leave `room`, wherever it is connected.
    pub fn leave(&self, room: impl Into<Room>) {
        self.hub
            .adapter()
            .del_sockets(&self.only_this(), &[room.into()], self.hub.local_sockets());
    }

    /// Disconnects it from its namespace, or with `close` closes its whole connection.
    pub fn disconnect(&self, close: bool) {
        self.hub
            .adapter()
            .disconnect_sockets(&self.only_this(), close, self.hub.local_sockets());
    }
}
