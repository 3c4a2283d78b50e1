//! Why a socket was disconnected, with the strings the Node server uses
//! (socket.io `DisconnectReason`), so logs and dashboards read the same.

use crate::engine::CloseReason;
use std::fmt;

/// Why a socket was disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client sent DISCONNECT for the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server disconnected the socket ([`super::Socket::disconnect`], `disconnect_sockets`).
    ServerNamespaceDisconnect,
    /// The client closed the connection (or it ended without an error).
    TransportClose,
    /// The connection failed (I/O error, WebSocket protocol error, message over `maxPayload`).
    TransportError,
    /// The client's pong came later than `pingTimeout`.
    PingTimeout,
    /// The client sent a packet that is not valid Engine.IO or Socket.IO.
    ParseError,
    /// The server closed the connection (no CONNECT within the connect timeout, or
    /// [`super::Socket::close_connection`]).
    ForcedServerClose,
    /// A handler of this connection panicked; the connection was closed.
    HandlerPanic,
    /// The server shut down ([`crate::Server::shutdown`]); the client got DISCONNECT first.
    ServerShuttingDown,
    /// The client took what it was sent slower than the server sent it, past
    /// `Config::max_pending_bytes`: the connection was closed (a wsx-sio reason; Node has no
    /// such bound).
    SlowConsumer,
}

impl DisconnectReason {
    /// The reason as the Node server names it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::PingTimeout => "ping timeout",
            Self::ParseError => "parse error",
            Self::ForcedServerClose => "forced server close",
            Self::HandlerPanic => "handler panic",
            Self::ServerShuttingDown => "server shutting down",
            Self::SlowConsumer => "slow consumer",
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&CloseReason> for DisconnectReason {
    fn from(reason: &CloseReason) -> Self {
        match reason {
            CloseReason::TransportClose => Self::TransportClose,
            CloseReason::PingTimeout => Self::PingTimeout,
            CloseReason::ParseError(_) => Self::ParseError,
            // The Node server reports a message over maxPayload as a transport error too.
            CloseReason::TransportError(_) | CloseReason::PayloadTooLarge => Self::TransportError,
        }
    }
}
