//! [`DeflateOptions`]: permessage-deflate on the WebSocket transport (Node's
//! `perMessageDeflate`), compressing each broadcast once for all its receivers.

use std::sync::Arc;
use wsx::proto::deflate::{DeflateConfig, PerMessageDeflate};

/// permessage-deflate (RFC 7692) on the WebSocket transport, for [`super::Config::per_message_deflate`]
/// (off by default, as Node's `perMessageDeflate: false`).
///
/// With it, the server accepts a client's permessage-deflate offer (browsers and Node's `ws`
/// make one) and always answers `server_no_context_takeover` (RFC 7692 §7.1.1.1: a server may
/// always add it): each message it sends is compressed from an empty window, so a broadcast
/// is deflated **once** and the same compressed frame bytes go to every receiver that
/// compresses (directly to the socket when the receiver is idle), where compressing with
/// context takeover would cost one compression per receiver. The price is the ratio: without
/// context a small message compresses less (on the wsx `deflate` bench's JSON corpus of
/// 282-byte messages, 0.86 of the plain size instead of 0.29), which is why messages under
/// [`Self::threshold`] go uncompressed. What the client sends may still use context takeover.
///
/// Per emit, `compress(false)` (on a socket or a broadcast) sends that packet uncompressed.
/// Long-polling ignores all of this (as Node's `compress` flag does not reach its
/// `httpCompression`, which wsx-sio does not have).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateOptions {
    /// Messages (Engine.IO packets, each binary attachment on its own) shorter than this many
    /// bytes are sent uncompressed (default 1024, Node's `perMessageDeflate.threshold`).
    pub threshold: usize,
    /// zlib level, 0..=9 (default 1: on chat-sized JSON about 7 times faster than 6 for
    /// output about 25 % larger; Node's `ws` uses zlib's default, 6).
    pub level: u32,
    /// The window the server compresses with, 9..=15 (default 15); a client may ask for less.
    pub window_bits: u8,
}

impl Default for DeflateOptions {
    fn default() -> Self {
        Self {
            threshold: 1024,
            level: 1,
            window_bits: 15,
        }
    }
}

impl DeflateOptions {
    /// The WebSocket extension these options stand for: wsx's permessage-deflate with
    /// `server_no_context_takeover`.
    #[must_use]
    pub fn extension(&self) -> Arc<PerMessageDeflate> {
        Arc::new(PerMessageDeflate::new(DeflateConfig {
            server_no_context_takeover: true,
            server_max_window_bits: self.window_bits.clamp(9, 15),
            threshold: self.threshold,
            level: self.level,
            ..DeflateConfig::default()
        }))
    }
}
