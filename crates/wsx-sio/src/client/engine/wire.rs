//! What the engine task and its transports pass each other: Engine.IO packets owned, the
//! transports' events, and the packets to send.

use crate::client::error::ClientError;
use crate::packet::engine as eio;
use bytes::Bytes;

/// Which transport an event comes from (a new one per transport opened).
pub(crate) type Tag = u32;

/// A message the server sent: a Socket.IO packet's text, or a binary attachment.
#[derive(Debug, Clone)]
pub(crate) enum Inbound {
    /// The text after the Engine.IO type `4`.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// An Engine.IO packet, owned.
#[derive(Debug)]
pub(crate) enum Packet {
    Open(String),
    Close,
    Ping(String),
    Pong(String),
    Message(Inbound),
    Upgrade,
    Noop,
}

impl Packet {
    /// Decodes one text packet.
    pub fn decode(text: &str) -> Result<Self, String> {
        eio::decode_text(text)
            .map(Self::from_eio)
            .map_err(|e| e.to_string())
    }

    pub fn from_eio(packet: eio::Packet<'_>) -> Self {
        match packet {
            eio::Packet::Open(p) => Self::Open(p.to_owned()),
            eio::Packet::Close => Self::Close,
            eio::Packet::Ping(p) => Self::Ping(p.to_owned()),
            eio::Packet::Pong(p) => Self::Pong(p.to_owned()),
            eio::Packet::Message(p) => Self::Message(Inbound::Text(p.to_owned())),
            eio::Packet::Binary(data) => {
                Self::Message(Inbound::Binary(Bytes::from(data.into_owned())))
            }
            eio::Packet::Upgrade => Self::Upgrade,
            eio::Packet::Noop => Self::Noop,
        }
    }
}

/// What a transport reports to the engine task.
pub(crate) enum Event {
    Packet(Packet),
    Error(ClientError),
    /// The WebSocket ended.
    Closed,
    /// Polling's `GET` loop stopped for the upgrade.
    Paused,
    /// Polling's writer sent everything queued before the pause.
    Drained,
}

/// Why an Engine.IO connection ended (socket.io-client's disconnect reasons).
#[derive(Debug, Clone)]
pub(crate) enum CloseCause {
    /// No ping from the server in time.
    PingTimeout,
    /// The server closed the connection (close packet, WebSocket closed).
    TransportClose,
    /// A transport failed.
    TransportError(ClientError),
}

/// What the engine task tells the manager.
#[derive(Debug)]
pub(crate) enum EngineEvent {
    /// A message from the server.
    Message(Inbound),
    /// The connection moved to WebSocket.
    Upgraded,
    /// The server pinged (answered already).
    Ping,
    /// The connection is over.
    Closed(CloseCause),
}

/// A packet to send: a whole Engine.IO text packet (type digit included), or a binary
/// message.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// `<type><payload>`.
    Text(String),
    /// A binary message (a Socket.IO attachment).
    Binary(Bytes),
}

impl Outbound {
    /// Its size in a polling payload (binary grows by a third in base64).
    pub fn payload_len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Binary(data) => data.len().div_ceil(3) * 4 + 1,
        }
    }

    /// Appends its polling encoding (`b<base64>` for binary).
    pub fn encode_into(&self, out: &mut String) {
        match self {
            Self::Text(text) => out.push_str(text),
            Self::Binary(data) => {
                eio::encode_text_into(&eio::Packet::Binary(data.as_ref().into()), out);
            }
        }
    }
}
