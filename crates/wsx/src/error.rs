//! Errors: one public [`Error`] for everything wsx does, plus [`ProtocolError`] for a peer that
//! broke RFC 6455 (each knows the close code it is answered with) and [`HandshakeError`] for a
//! failed opening handshake (each knows the HTTP status a server answers with).
#![forbid(unsafe_code)]

use crate::proto::error::SendError;
pub use crate::proto::error::{ExtensionError, HandshakeError, ProtocolError};

/// Everything that can go wrong in wsx. Its `Display` is one sentence saying what happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the WebSocket protocol; the connection was failed with the close code
    /// that [`ProtocolError::close_code`] gives.
    #[error("the peer broke the WebSocket protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed.
    #[error("the opening handshake failed: {0}")]
    Handshake(HandshakeError),
    /// The URL is not a valid `ws://` or `wss://` URL; nothing was connected.
    #[error("invalid WebSocket URL: {0}")]
    InvalidUrl(String),
    /// The TCP connection to the server could not be made.
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// The address (host and port) tried.
        addr: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error of the underlying transport.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The connection is closed (the close handshake finished, or the transport ended); no more
    /// messages can be sent or received.
    #[error("the connection is closed")]
    ConnectionClosed,
    /// A message was sent after this side had already sent a close frame.
    #[error("cannot send: a close frame was already sent")]
    AlreadyClosing,
    /// A message the application wants to send is invalid (for example a control frame payload
    /// over 125 bytes, or a close code that must not be sent).
    #[error("invalid message to send: {0}")]
    InvalidMessage(&'static str),
    /// The operation did not complete in time.
    #[error("timed out waiting for the {0}")]
    Timeout(&'static str),
    /// The connection's outbound queue is full (`max_pending_bytes`): the peer reads slower
    /// than the application writes. Wait for room with `Conn::send`, or drop the message.
    #[error("the outbound queue is full: {queued} bytes queued, limit {limit}")]
    QueueFull {
        /// Payload bytes waiting in the queue.
        queued: usize,
        /// The configured bound.
        limit: usize,
    },
    /// A configuration value is invalid: [`ConfigError`] names the field and why.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// TLS failed (handshake, certificate, or configuration); boxed to keep `Error` small on
    /// the message path.
    #[error("TLS failed: {0}")]
    Tls(Box<TlsError>),
    /// A custom event could not be encoded or decoded as JSON.
    #[error("a custom event is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An event-API handler panicked (with this message); the connection was failed with
    /// 1011 (Internal Error).
    #[error("a handler panicked: {0}")]
    HandlerPanicked(String),
    /// A message from the peer went past a per-connection rate limit and was dropped
    /// ([`crate::OnRateExceeded::Drop`]).
    #[error("a message went past the {} rate limit and was dropped", .0.as_str())]
    RateLimited(crate::event::limit::LimitKind),
    /// The proxy did not open the tunnel to the server (boxed, as `Tls`).
    #[error("proxy failed: {0}")]
    Proxy(Box<crate::proxy::ProxyError>),
}

impl From<crate::proxy::ProxyError> for Error {
    /// Boxed, like `Tls`.
    fn from(err: crate::proxy::ProxyError) -> Self {
        Self::Proxy(Box::new(err))
    }
}

impl From<HandshakeError> for Error {
    /// A bad URL is found before any connection is made: it is not a failed handshake.
    fn from(err: HandshakeError) -> Self {
        match err {
            HandshakeError::InvalidUrl(url) => Self::InvalidUrl(url),
            other => Self::Handshake(other),
        }
    }
}

impl From<SendError> for Error {
    /// The core's refusal to send, as the driver reports it.
    fn from(err: SendError) -> Self {
        match err {
            SendError::Closed => Self::ConnectionClosed,
            SendError::AlreadyClosing => Self::AlreadyClosing,
            SendError::Invalid(why) => Self::InvalidMessage(why),
            SendError::Protocol(err) => Self::Protocol(err),
        }
    }
}

impl From<TlsError> for Error {
    fn from(err: TlsError) -> Self {
        Self::Tls(Box::new(err))
    }
}

/// Which configuration value is invalid, and why (see `Config::validate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A size or a timeout that must be positive is zero.
    #[error("{field} must be positive")]
    NotPositive {
        /// The field, as spelled in `Config`.
        field: &'static str,
    },
    /// A size is below its minimum.
    #[error("{field} must be at least {min} bytes")]
    TooSmall {
        /// The field, as spelled in `Config`.
        field: &'static str,
        /// The smallest accepted value.
        min: usize,
    },
    /// Pings are on (`ping_interval`) but `pong_timeout` is zero: no peer could answer in time.
    #[error("pong_timeout must be positive when ping_interval is set")]
    PongTimeoutWithPings,
    /// A permessage-deflate window size outside RFC 7692's 8..=15.
    #[error("{field} must be 8..=15, not {bits}")]
    WindowBits {
        /// The field, as spelled in `Config` (`compression.server_max_window_bits`...).
        field: &'static str,
        /// The value given.
        bits: u8,
    },
    /// A subprotocol that is not an HTTP token (RFC 6455 §4.1 requires one).
    #[error("subprotocol {0:?} is not an HTTP token")]
    SubprotocolNotToken(String),
}

impl ConfigError {
    /// The name of the invalid field, as spelled in `Config` (`subprotocols` for a bad
    /// subprotocol).
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::NotPositive { field }
            | Self::TooSmall { field, .. }
            | Self::WindowBits { field, .. } => field,
            Self::PongTimeoutWithPings => "pong_timeout",
            Self::SubprotocolNotToken(_) => "subprotocols",
        }
    }
}

/// Why TLS failed: a matchable cause that keeps its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer answered the TLS `ClientHello` with something that is not TLS: most often a
    /// plain `ws://` (HTTP) server reached with `wss://`.
    #[error("{server} did not answer with TLS (is it a plain ws:// server?)")]
    NotTls {
        /// The server's address.
        server: String,
    },
    /// The host of a `wss://` URL is not a name TLS can verify a certificate for.
    #[error("{0:?} is not a valid TLS server name")]
    InvalidServerName(String),
    /// The TLS handshake failed (certificate not trusted, no common protocol version...).
    #[error("the TLS handshake with {peer} failed: {source}")]
    Handshake {
        /// The peer's address.
        peer: String,
        /// What rustls reported.
        #[source]
        source: rustls::Error,
    },
    /// The transport failed during the TLS handshake.
    #[error("the connection to {peer} failed during the TLS handshake: {source}")]
    Io {
        /// The peer's address.
        peer: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// rustls refused the TLS configuration.
    #[error("the TLS configuration was refused: {0}")]
    Config(#[source] rustls::Error),
}

impl TlsError {
    /// Classifies an error of a TLS handshake with `peer` (tokio-rustls reports rustls'
    /// errors inside `io::Error`).
    pub(crate) fn from_handshake(peer: String, err: std::io::Error) -> Self {
        let inner = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned();
        match inner {
            // A first record whose content type is not TLS's: "HTTP/1.1 400..." starts with
            // 'H' (0x48), which no TLS record type is (RFC 8446 §5.1).
            Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
                Self::NotTls { server: peer }
            }
            Some(source) => Self::Handshake { peer, source },
            None => Self::Io { peer, source: err },
        }
    }
}

/// A specialised `Result` for wsx.
pub type Result<T, E = Error> = std::result::Result<T, E>;
