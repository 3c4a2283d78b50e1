//! Errors: one public [`Error`] for everything wsx does, plus [`ProtocolError`] for a peer that
//! broke RFC 6455 (each knows the close code it is answered with) and [`HandshakeError`] for a
//! failed opening handshake (each knows the HTTP status a server answers with).

use crate::proto::CloseCode;
use http::StatusCode;

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
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
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
    RateLimited(crate::limit::LimitKind),
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

impl From<TlsError> for Error {
    fn from(err: TlsError) -> Self {
        Self::Tls(Box::new(err))
    }
}

/// Why TLS failed: a matchable cause that keeps its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer answered the TLS ClientHello with something that is not TLS: most often a
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

/// A rule of RFC 6455 the peer broke. The connection is failed with [`Self::close_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV bits set without an extension that defines them (RFC 6455 §5.2).
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// An opcode that RFC 6455 reserves (0x3-0x7, 0xB-0xF).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame with FIN clear (RFC 6455 §5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload (RFC 6455 §5.5).
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlFrameTooLarge(u64),
    /// A continuation frame with no message in progress (RFC 6455 §5.4).
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (RFC 6455 §5.4).
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A server received an unmasked frame (RFC 6455 §5.1).
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A client received a masked frame (RFC 6455 §5.1).
    #[error("server frame is masked")]
    MaskedFrame,
    /// A 64-bit payload length with its most significant bit set (RFC 6455 §5.2).
    #[error("64-bit payload length has its most significant bit set")]
    InvalidLength,
    /// A frame larger than the configured maximum frame size.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The declared frame payload length.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A message larger than the configured maximum message size.
    #[error("message of at least {size} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// The message size known so far.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// Text (or a close reason) that is not valid UTF-8 (RFC 6455 §8.1).
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// A close frame with a 1-byte payload (RFC 6455 §5.5.1).
    #[error("close frame payload of 1 byte")]
    InvalidClosePayload,
    /// A close frame with a code that must not appear on the wire (RFC 6455 §7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A data frame after the peer's close frame (RFC 6455 §5.5.1).
    #[error("frame received after close")]
    FrameAfterClose,
    /// An extension failed to decode a frame (for example invalid deflate data).
    #[error("extension error: {0}")]
    Extension(String),
}

impl ProtocolError {
    /// The close code this error is answered with when the connection is failed.
    #[must_use]
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// Why an opening handshake failed. On the server side, [`Self::status`] is the HTTP status the
/// request is answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The bytes are not an HTTP/1.x message.
    #[error("malformed HTTP: {0}")]
    MalformedHttp(String),
    /// The request head is larger than the configured limit.
    #[error("request head larger than {0} bytes")]
    HeadTooLarge(usize),
    /// More header fields than the configured limit.
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    /// The request method is not GET.
    #[error("method {0} is not GET")]
    MethodNotGet(String),
    /// The HTTP version is older than HTTP/1.1.
    #[error("HTTP version older than 1.1")]
    UnsupportedHttpVersion,
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header that must appear once appears several times.
    #[error("duplicated header {0}")]
    DuplicateHeader(&'static str),
    /// A header has a value that is not acceptable.
    #[error("invalid value for header {0}")]
    InvalidHeader(&'static str),
    /// `Sec-WebSocket-Version` is not 13.
    #[error("unsupported WebSocket version (only 13 is supported)")]
    UnsupportedVersion,
    /// The Origin check refused the request.
    #[error("origin not allowed")]
    OriginRefused,
    /// The server answered with a status other than 101.
    #[error("server answered with status {0}")]
    UnexpectedStatus(StatusCode),
    /// `Sec-WebSocket-Accept` does not match the key that was sent.
    #[error("Sec-WebSocket-Accept does not match the key")]
    AcceptMismatch,
    /// The server chose a subprotocol the client did not offer.
    #[error("server chose subprotocol {0:?} which was not offered")]
    UnofferedSubprotocol(String),
    /// The server answered with an extension the client did not offer or cannot accept.
    #[error("server answered with an extension that was not offered: {0}")]
    UnofferedExtension(String),
    /// The URL is not a valid `ws://` or `wss://` URL.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The transport ended before the handshake finished.
    #[error("connection closed during the handshake")]
    UnexpectedEof,
    /// An HTTP/2 extended CONNECT (RFC 8441) whose `:protocol` is absent or not `websocket`.
    #[error("extended CONNECT for protocol {0:?}, not \"websocket\"")]
    NotWebSocketProtocol(Option<String>),
    /// The server is at its connection cap (`RateLimits::max_connections`): 503.
    #[error("the server is at its connection limit; retry after {retry_after} s")]
    ServerBusy {
        /// Seconds, sent as `Retry-After`.
        retry_after: u64,
    },
    /// The client address went past a per-IP limit (open connections or handshakes per
    /// second): 429.
    #[error("too many connections or handshakes from this address; retry after {retry_after} s")]
    TooManyRequests {
        /// Seconds, sent as `Retry-After`.
        retry_after: u64,
    },
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::HeadTooLarge(_) | Self::TooManyHeaders(_) => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::MethodNotGet(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            Self::OriginRefused => StatusCode::FORBIDDEN,
            Self::ServerBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A specialised `Result` for wsx.
pub type Result<T, E = Error> = std::result::Result<T, E>;
