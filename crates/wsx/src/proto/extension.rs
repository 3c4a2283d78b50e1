//! The extension hook (RFC 6455 §9): how an extension such as permessage-deflate (RFC 7692)
//! plugs into negotiation and into the frame codec.
//!
//! Negotiation is done by an [`ExtensionFactory`] (the server answers offers, the client makes
//! an offer and checks the answer); the negotiated [`Extension`] then transforms message payloads
//! on the way in and out. The core knows nothing of any particular extension: it only lets the
//! RSV bits an extension claims through and routes payloads via these traits.
#![forbid(unsafe_code)]

use crate::proto::error::{HandshakeError, ProtocolError};
use bytes::BytesMut;
use std::fmt;

/// One element of a `Sec-WebSocket-Extensions` header: an extension name with its parameters,
/// e.g. `permessage-deflate; client_max_window_bits; server_max_window_bits=10`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// The parameters in order: name and optional value (quotes removed).
    pub params: Vec<(String, Option<String>)>,
}

impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            match value {
                Some(v) => write!(f, "; {name}={v}")?,
                None => write!(f, "; {name}")?,
            }
        }
        Ok(())
    }
}

/// A negotiated extension, owned by one connection, transforming message payloads.
///
/// Decoding is called once per data frame of a message whose first frame carried one of the
/// extension's RSV bits; encoding once per outgoing data message.
pub trait Extension: Send + fmt::Debug {
    /// The RSV bits (as in the first header byte: RSV1 = 0x40, RSV2 = 0x20, RSV3 = 0x10) this
    /// extension may set on the first frame of a message.
    fn rsv_bits(&self) -> u8;

    /// Decodes one frame's payload of an extension-encoded message, appending the result to
    /// `out`. `fin` is true on the message's last frame. The output of the whole message must
    /// not grow `out` past `limit` bytes: past it, return [`ProtocolError::MessageTooLarge`]
    /// without allocating further (decompression bombs).
    ///
    /// # Errors
    /// Undecodable data or a message over `limit`.
    fn decode(
        &mut self,
        payload: &[u8],
        fin: bool,
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError>;

    /// Encodes a whole outgoing data message into `out`. Returns the RSV bits to set on its first
    /// frame, or `None` when the extension chose to send this message untransformed (`out` is
    /// then ignored).
    ///
    /// # Errors
    /// The encoder failed.
    fn encode(&mut self, payload: &[u8], out: &mut BytesMut) -> Result<Option<u8>, ProtocolError>;

    /// Which frames encoded once for many connections (a broadcast's) a server may send on
    /// this connection as they are, instead of passing each message through
    /// [`Self::encode`]. The default, [`SharedEncoding::None`]: none.
    fn shared_encoding(&self) -> SharedEncoding {
        SharedEncoding::None
    }
}

/// Which frames encoded once for many connections may go out on a connection with an
/// extension as they are ([`Extension::shared_encoding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SharedEncoding {
    /// None: every message passes through [`Extension::encode`].
    None,
    /// Uncompressed frames (no RSV bit): the extension keeps no state for the messages it
    /// leaves untransformed (permessage-deflate with context takeover: RFC 7692 §6 lets every
    /// message choose, and an uncompressed one is not part of the peer's window).
    Plain,
    /// Uncompressed frames, and messages of at least `threshold` bytes as frames deflated on
    /// their own (RSV1) with `level` and a window of `window_bits`: the extension compresses
    /// every message from an empty window (permessage-deflate with `server_no_context_takeover`,
    /// RFC 7692 §7.1.1.1), so those bytes are the same on every connection with these settings.
    Deflate {
        /// zlib level, 0..=9.
        level: u8,
        /// The window the compressor uses, 9..=15.
        window_bits: u8,
        /// Messages shorter than this go out uncompressed.
        threshold: u32,
    },
}

/// Negotiates one extension in the opening handshake.
pub trait ExtensionFactory: Send + Sync {
    /// The extension token this factory handles, e.g. `permessage-deflate`.
    fn name(&self) -> &str;

    /// Server side: given the client's offers of this extension (in the client's order of
    /// preference), pick one. Returns the response element for `Sec-WebSocket-Extensions` and
    /// the extension instance, or `None` to decline (the connection goes on without it).
    fn accept(&self, offers: &[ExtensionOffer]) -> Option<(ExtensionOffer, Box<dyn Extension>)>;

    /// Client side: the offers to send, most preferred first.
    fn offer(&self) -> Vec<ExtensionOffer>;

    /// Client side: check the server's response element and build the extension.
    ///
    /// # Errors
    /// A response the client did not ask for or cannot accept; the client handshake fails.
    fn confirm(&self, response: &ExtensionOffer) -> Result<Box<dyn Extension>, HandshakeError>;
}
