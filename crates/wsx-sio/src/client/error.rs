//! The errors of the client API.

use serde_json::Value;

/// Why the Engine.IO connection could not be opened or was lost.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not an `http(s)://` or `ws(s)://` URL.
    #[error("invalid URL {0}")]
    InvalidUrl(String),
    /// TCP, TLS, HTTP or the WebSocket handshake failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The server answered an HTTP request with an error status (Engine.IO's
    /// `{"code":..,"message":..}` body, when there is one, is in the text).
    #[error("HTTP {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// The response body (cut to 200 bytes).
        body: String,
    },
    /// The server broke the protocol (a malformed packet, an open packet that is not one).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Nothing happened within the `timeout` option.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// A manager was made outside a Tokio runtime (its task has nowhere to run).
    #[error("not within a Tokio runtime")]
    NoRuntime,
}

/// Why a namespace could not be joined.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The server refused (CONNECT_ERROR, from a middleware or for an unknown namespace):
    /// its `message`, and its `data` when it sent one.
    #[error("refused by the server: {message}")]
    Refused {
        /// The error's message (`"Invalid namespace"` for a namespace the server does not
        /// have).
        message: String,
        /// The error's `data`, if any.
        data: Option<Value>,
    },
    /// The connection could not be opened, or was lost before the answer.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// [`Socket::disconnect`](super::Socket::disconnect) was called meanwhile.
    #[error("disconnected by the client")]
    Disconnected,
}

/// Why an emit did not go out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The arguments cannot be represented as JSON.
    #[error("arguments are not JSON: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The event name is reserved (`connect`, `disconnect`...; socket.io-parser's
    /// `RESERVED_EVENTS`).
    #[error("{0:?} is a reserved event name")]
    Reserved(String),
    /// The client is closed for good (its manager is gone).
    #[error("client closed")]
    Closed,
}

/// Why an acknowledgement did not arrive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The event could not be sent.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// No acknowledgement within the timeout.
    #[error("acknowledgement timed out")]
    Timeout,
    /// The connection was lost after the event was sent (socket.io-client's "socket has
    /// been disconnected"): the server may or may not have handled it.
    #[error("socket disconnected before the acknowledgement")]
    Disconnected,
    /// The acknowledgement's arguments do not convert to the type asked for.
    #[error("acknowledgement arguments do not fit: {0}")]
    Parse(#[source] serde_json::Error),
}
