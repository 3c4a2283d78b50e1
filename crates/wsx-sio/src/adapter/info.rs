//! The sockets `fetch_sockets` finds, on this server or another: [`SocketInfo`] is what an
//! adapter returns (the fields Node's adapters exchange: `{id, handshake, rooms, data}`); the
//! application gets it inside a [`crate::RemoteSocket`].

use crate::rooms::Room;
use serde_json::{Value, json};

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
    /// The application's data attached to the socket (Node's `socket.data`, `{}` unless set).
    pub data: Value,
}

impl SocketInfo {
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
        })
    }
}
