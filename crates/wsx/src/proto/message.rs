//! Messages as the application sees them, and text bytes known to be UTF-8.

use super::close::CloseFrame;
use bytes::Bytes;
use std::fmt;

/// Bytes that are valid UTF-8: a text message's payload, shared without copying.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps bytes after checking they are UTF-8.
    ///
    /// # Errors
    /// The bytes are not valid UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, Bytes> {
        if simdutf8::basic::from_utf8(&bytes).is_ok() {
            Ok(Self(bytes))
        } else {
            Err(bytes)
        }
    }

    /// Wraps bytes the caller has already validated, without checking them again (the
    /// decoder validates text as it arrives, incrementally: a second pass would cost one more
    /// read of every text message).
    ///
    /// # Safety
    /// `bytes` must be valid UTF-8. [`Self::as_str`] hands them out as a `str` unchecked:
    /// invalid bytes there are undefined behaviour. (Checked in debug builds.)
    #[allow(unsafe_code)]
    pub(crate) unsafe fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text.
    #[must_use]
    // Checking the bytes again on every read of a message's text would cost a UTF-8 pass per
    // message.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor guarantees that the bytes are valid UTF-8 (the safe ones
        // check them; `from_validated`, an `unsafe fn`, makes its callers promise it), and
        // `Bytes` is immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes, sharing the buffer.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Unwraps the underlying bytes.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&'static str> for Message {
    fn from(s: &'static str) -> Self {
        Self::Text(Utf8Bytes(Bytes::from_static(s.as_bytes())))
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A complete WebSocket message, or a control frame.
///
/// A received single-frame message's payload is a slice of the connection's read buffer (no
/// copy). Keeping the payload keeps that buffer's allocation (up to about 128 KiB while data
/// flows) alive: to store small messages for long, copy them out
/// (`bytes::Bytes::copy_from_slice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; the core has already queued the pong that answers it.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame: `None` when it had no status code. Receiving one means the close
    /// handshake is under way (the core has queued the reply); sending one starts it.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// The payload bytes (the encoded close payload for a close).
    #[must_use]
    pub fn into_payload(self) -> Bytes {
        match self {
            Self::Text(t) => t.into_bytes(),
            Self::Binary(b) | Self::Ping(b) | Self::Pong(b) => b,
            Self::Close(Some(frame)) => frame.encode(),
            Self::Close(None) => Bytes::new(),
        }
    }

    /// Whether this is a text or binary message.
    #[must_use]
    pub fn is_data(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Binary(_))
    }
}
