//! [`DisconnectReason`]: why a socket disconnected, with socket.io-client's strings.

/// Why a socket disconnected: socket.io-client's reasons, with their strings
/// ([`Self::as_str`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server disconnected the socket (`socket.disconnect()` on the server); no
    /// reconnection follows.
    IoServerDisconnect,
    /// [`Socket::disconnect`](super::Socket::disconnect) or
    /// [`Manager::close`](super::Manager::close) was called.
    IoClientDisconnect,
    /// The server sent no ping within `pingInterval + pingTimeout`.
    PingTimeout,
    /// The connection was closed (by the server, or the network).
    TransportClose,
    /// The connection failed (its text says how).
    TransportError(String),
    /// The server sent something that is not a Socket.IO packet.
    ParseError,
}

impl DisconnectReason {
    /// The reason's string in socket.io-client (`"io server disconnect"`, ...).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::IoServerDisconnect => "io server disconnect",
            Self::IoClientDisconnect => "io client disconnect",
            Self::PingTimeout => "ping timeout",
            Self::TransportClose => "transport close",
            Self::TransportError(_) => "transport error",
            Self::ParseError => "parse error",
        }
    }

    /// Whether the manager reconnects after it (only the client's and the server's explicit
    /// disconnects are final).
    #[must_use]
    pub fn reconnects(&self) -> bool {
        !matches!(self, Self::IoServerDisconnect | Self::IoClientDisconnect)
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TransportError(why) => write!(f, "transport error: {why}"),
            other => f.write_str(other.as_str()),
        }
    }
}
