//! The errors of the sans-I/O core: [`ProtocolError`] for a peer that broke RFC 6455 (each
//! knows the close code it is answered with), [`SendError`] for a message [`super::Protocol`]
//! refuses to send, and [`HandshakeError`] for a failed opening handshake (each knows the HTTP
//! status a server answers with).
//!
//! They live here, at the bottom, so that the core imports nothing from above it; the crate's
//! one public `wsx::Error` wraps them (and re-exports them under `wsx::error`).
//! `HandshakeError` is here rather than in `handshake/` because the extension hook
//! ([`super::ExtensionFactory::confirm`]) negotiates in the handshake, and `handshake/` builds
//! on `proto/`, not the other way round.
#![forbid(unsafe_code)]

use super::close::CloseCode;
use http::StatusCode;

/// A rule of RFC 6455 the peer broke. The connection is failed with [`Self::close_code`].
///
/// An error is told in two ways, both from here: the close frame that fails the connection
/// carries [`Self::close_code`] and the short [`Self::wire_reason`] (the peer learns what it
/// did wrong, with no detail of our limits), and the application is told the full `Display`
/// text (the event API's `on_close` reason and `on_error`).
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
    /// An extension failed (for example invalid deflate data).
    #[error("extension error: {0}")]
    Extension(ExtensionError),
}

impl ProtocolError {
    /// The close code this error is answered with when the connection is failed.
    #[must_use]
    pub fn close_code(&self) -> CloseCode {
        self.wire().0
    }

    /// The short reason put in the close frame that fails the connection (at most 123 bytes,
    /// so that the frame fits in a control frame, RFC 6455 §5.5.1). The application is told
    /// the error's `Display` text instead, which may be longer and name our limits.
    #[must_use]
    pub fn wire_reason(&self) -> &'static str {
        self.wire().1
    }

    /// The one table from an error to what goes on the wire: close code (RFC 6455 §7.4.1) and
    /// short reason.
    fn wire(&self) -> (CloseCode, &'static str) {
        match self {
            Self::InvalidUtf8 => (CloseCode::INVALID_PAYLOAD, "invalid UTF-8"),
            Self::FrameTooLarge { .. } => (CloseCode::MESSAGE_TOO_BIG, "frame too large"),
            Self::MessageTooLarge { .. } => (CloseCode::MESSAGE_TOO_BIG, "message too large"),
            _ => (CloseCode::PROTOCOL_ERROR, "protocol error"),
        }
    }
}

/// Why an extension failed to transform a message. Compares by kind and message (the
/// sources, zlib's errors, have no equality of their own).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionError {
    /// zlib refused to compress (permessage-deflate, RFC 7692).
    #[error("deflate failed: {0}")]
    Deflate(#[source] flate2::CompressError),
    /// The compressor made no progress.
    #[error("deflate made no progress")]
    DeflateStalled,
    /// The compressor's output did not end with the sync flush RFC 7692 §7.2.1 removes.
    #[error("deflate output does not end with a sync flush")]
    MissingSyncFlush,
    /// The peer's compressed data is not valid DEFLATE (RFC 7692 §7.2.2).
    #[error("invalid deflate data: {0}")]
    Inflate(#[source] flate2::DecompressError),
    /// The peer's compressed data made the decompressor stall.
    #[error("invalid deflate data: no progress")]
    InflateStalled,
    /// An extension of the application's own failed, for this reason.
    #[error("{0}")]
    Other(&'static str),
}

impl PartialEq for ExtensionError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for ExtensionError {}

/// Why [`super::Protocol::send`] (or `send_raw_frame`) refused a message. The driver reports
/// it as the matching `wsx::Error` variant (`From<SendError> for wsx::Error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed (failed, ended, or the close handshake is done).
    #[error("the connection is closed")]
    Closed,
    /// This side already sent its close frame.
    #[error("cannot send: a close frame was already sent")]
    AlreadyClosing,
    /// The message is not valid to send (for example a control frame payload over 125 bytes,
    /// or a close code that must not be sent).
    #[error("invalid message to send: {0}")]
    Invalid(&'static str),
    /// The extension failed to encode the message.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_error_stays_small() {
        // It travels in every `next_message` result: a typed extension cause must not make it
        // larger than the `String` it replaced.
        assert!(std::mem::size_of::<ProtocolError>() <= 24);
    }

    #[test]
    fn wire_reasons_fit_a_close_frame_and_local_reasons_say_more() {
        let errors = [
            ProtocolError::InvalidUtf8,
            ProtocolError::FrameTooLarge { size: 9, limit: 8 },
            ProtocolError::MessageTooLarge { size: 9, limit: 8 },
            ProtocolError::ReservedOpcode(3),
            ProtocolError::Extension(ExtensionError::InflateStalled),
        ];
        let table: Vec<_> = errors
            .iter()
            .map(|e| (e.close_code().as_u16(), e.wire_reason()))
            .collect();
        assert_eq!(
            table,
            [
                (1007, "invalid UTF-8"),
                (1009, "frame too large"),
                (1009, "message too large"),
                (1002, "protocol error"),
                (1002, "protocol error"),
            ]
        );
        for err in &errors {
            assert!(err.wire_reason().len() <= 123, "{err:?}");
            assert_ne!(err.to_string(), err.wire_reason(), "{err:?}");
        }
        assert_eq!(
            errors[1].to_string(),
            "frame of 9 bytes exceeds the limit of 8"
        );
    }

    #[test]
    fn extension_errors_keep_their_source() {
        let err = ProtocolError::Extension(ExtensionError::DeflateStalled);
        assert_eq!(err.to_string(), "extension error: deflate made no progress");
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
        let mut inflater = flate2::Decompress::new(false);
        let cause = inflater
            .decompress(&[0x07], &mut [0u8; 16], flate2::FlushDecompress::None)
            .unwrap_err();
        let err = ExtensionError::Inflate(cause);
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.clone(), err);
        assert_ne!(err, ExtensionError::InflateStalled);
    }
}
