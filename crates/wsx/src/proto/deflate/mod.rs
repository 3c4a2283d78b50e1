//! permessage-deflate (RFC 7692): message compression, negotiated in the opening handshake and
//! plugged into the core through the extension hook ([`super::extension`]).
//!
//! - [`DeflateConfig`]: what one side wants (on/off, compression level, threshold, window sizes,
//!   context takeover).
//! - [`PerMessageDeflate`]: the [`ExtensionFactory`] built from it; put it in
//!   `ServerOptions::extensions` or `ClientOptions::extensions`. The server accepts the first
//!   valid offer of the client's and declines malformed ones (§7); the client offers its
//!   configuration (plus a fallback with the `client_no_context_takeover` hint) and fails the
//!   handshake on a response it did not allow (§7.1).
//! - [`DeflateCodec`]: the per-connection [`Extension`] that compresses and inflates.
//! - [`DeflateParams`]: the parameters a connection runs with.
//!
//! ```
//! use std::sync::Arc;
//! use wsx::handshake::{ClientOptions, ServerOptions};
//! use wsx::proto::deflate::{DeflateConfig, PerMessageDeflate};
//!
//! let deflate = Arc::new(PerMessageDeflate::new(DeflateConfig {
//!     threshold: 256,
//!     ..DeflateConfig::default()
//! }));
//! let server = ServerOptions { extensions: vec![deflate.clone()], ..ServerOptions::default() };
//! let client = ClientOptions { extensions: vec![deflate], ..ClientOptions::default() };
//! # let _ = (server, client);
//! ```
//!
//! # Costs
//!
//! Measured with `cargo bench -p wsx --bench deflate` (zlib-rs backend; a corpus of 2000
//! chat/API JSON messages, 282 bytes on average; one core of a loaded 2-core VM):
//!
//! | configuration                                  | wire/plain | compress   |
//! |------------------------------------------------|-----------:|-----------:|
//! | default: shared compressor, takeover, level 1  |      0.292 |  161 MiB/s |
//! | default, 8 connections taking turns            |      0.308 |   13 MiB/s |
//! | dedicated compressor                           |      0.292 |  133 MiB/s |
//! | dedicated, 8 connections taking turns          |      0.303 |   66 MiB/s |
//! | level 6                                        |      0.233 |   17 MiB/s |
//! | 12 window bits                                 |      0.350 |  102 MiB/s |
//! | no context takeover                            |      0.861 |   32 MiB/s |
//! | no context takeover, level 6                   |      0.689 |   13 MiB/s |
//!
//! (Compress rates from a run with `--measurement-time 2` on a busy machine: compare rows, not
//! runs. Inflating runs at 150-270 MiB/s in every row.) With the shared compressor, connections
//! that send in turn pay a reset and a priming with their 8 KiB history per message: that is
//! the price of holding 56 KB instead of 428 KB per connection. A server that compresses for a
//! few busy connections and has memory to spare can choose [`CompressorMode::Dedicated`].
//!
//! Context takeover is where the gain on small messages comes from. Resetting per message costs
//! CPU too: every reset clears the compressor's 128 KiB hash table.
//!
//! Memory (heap per connection, counted by the bench's allocator, `-- memory`): nothing but
//! the codec (376 bytes) until the first compressed message, since both zlib states are made on
//! first use. Then an inflater of 47 KB whatever the window (zlib-rs always allocates 32 KiB),
//! and for compressing:
//!
//! - [`CompressorMode::Shared`] (the default): the last 8 KiB this side sent, its context for
//!   takeover; the compressor itself (388 KB at 15 bits) is one per thread, shared by its
//!   connections (see `shared.rs`). **56 KB per connection** after traffic, at a wire ratio of
//!   0.292 on the corpus for one connection and 0.308 for 8 connections taking turns (each
//!   message then primes the compressor with its connection's 8 KiB).
//! - [`CompressorMode::Dedicated`] (the setting before): each connection's own compressor, 380 KB
//!   at 15 window bits, 314 KB at 14, 282 KB at 13, 265 KB at 12 and 251 KB at 9 or 8 (zlib-rs's
//!   128 KiB hash table does not shrink with the window or memLevel): 428 KB per connection
//!   with the defaults, kept for the connection's life, at 0.292.
//!
//! No context takeover keeps no history (48 KB per connection). A connection that only sends
//! messages under [`DeflateConfig::threshold`], or runs with [`DeflateConfig::compress`] off,
//! never compresses (48 KB).
//!
//! Decompression is bounded by the connection's `max_message_size`: the inflater is never
//! given room for more than one byte past it (output grows in steps of at most 256 KiB), and a
//! message that would pass it fails the connection with 1009. Invalid DEFLATE data fails it with
//! 1002 (protocol error): RFC 7692 §8 only says to fail the connection, and broken extension
//! framing is a protocol error rather than a payload inconsistent with its type (1007); it is
//! also what python-websockets answers.
#![forbid(unsafe_code)]

mod codec;
mod params;
mod prepared;
mod shared;
#[cfg(test)]
mod tests;

pub use codec::DeflateCodec;
pub use params::{DeflateParams, NAME};
pub use prepared::deflate_frame;

use crate::proto::error::HandshakeError;
use crate::proto::extension::{Extension, ExtensionFactory, ExtensionOffer};
use crate::proto::role::Role;
use params::{Kind, Params, WINDOW_BITS};

/// What one side of a connection wants from permessage-deflate.
///
/// The same structure configures a server and a client; the fields that name a side
/// (`server_*`, `client_*`) are the RFC 7692 parameters, and what each one does depends on which
/// side this is, as described on each field.
///
/// The defaults favour bandwidth on chatty JSON connections while bounding CPU: compression
/// both ways with context takeover (later messages refer to earlier ones, which is where most of
/// the gain on small, repetitive messages comes from) and full 32 KiB windows, level 1, and
/// messages under 64 bytes sent as they are, and a compressor shared by the connections of a
/// thread ([`CompressorMode::Shared`]). On the bench's JSON corpus that sends 29-31% of the
/// bytes; a connection that has sent and received compressed messages holds about 56 KB (see
/// the module docs). [`CompressorMode::Dedicated`] is the setting before: 428 KB per connection,
/// no priming cost when many connections send in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) permessage-deflate at all. Default: true.
    pub enabled: bool,
    /// Compress outgoing messages. When false the extension is still negotiated, so the peer
    /// may compress what it sends, but everything this side sends goes out uncompressed and no
    /// compressor is ever allocated. Default: true.
    pub compress: bool,
    /// Server: compress every message with an empty window (and tell the client so).
    /// Client: ask the server to do that; the handshake fails if it does not agree
    /// (RFC 7692 §7.1.1.1). Default: false.
    pub server_no_context_takeover: bool,
    /// Server: require the client to compress every message with an empty window.
    /// Client: compress every message with an empty window (and tell the server so)
    /// (RFC 7692 §7.1.1.2). Default: false.
    pub client_no_context_takeover: bool,
    /// Server: the largest window (base-2 logarithm, 8..=15) this server compresses with;
    /// announced when under 15, and lowered further if the client asks.
    /// Client: ask the server to compress with at most this window (offered when under 15; the
    /// handshake fails if the server answers with more) (RFC 7692 §7.1.2.1). Default: 15.
    pub server_max_window_bits: u8,
    /// Server: the largest window (8..=15) the client may compress with, imposed when the
    /// client's offer says it can limit its window (RFC 7692 §7.1.2.2; a client that cannot is
    /// still accepted).
    /// Client: the largest window this client compresses with; the server may lower it.
    /// Default: 15.
    pub client_max_window_bits: u8,
    /// Messages shorter than this many bytes are sent uncompressed: on tiny messages the
    /// deflate block overhead and the CPU cost outweigh the gain. 0 compresses every message,
    /// empty ones included. Default: 64.
    pub threshold: usize,
    /// zlib compression level, 0 (store only) to 9 (smallest output). Default: 1. On chat-sized
    /// JSON messages zlib-rs compresses about 7 times faster at level 1 (static Huffman codes,
    /// no per-flush tree building) than at 6, for output about 25% larger (see the bench).
    pub level: u32,
    /// Where the compressor's state lives between messages. Default:
    /// [`CompressorMode::Shared`] (about 56 KB per connection that compresses and inflates,
    /// instead of 430 KB).
    pub compressor: CompressorMode,
}

/// Where a connection's compressor state lives between messages (see the module docs' memory
/// table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressorMode {
    /// One compressor per thread, shared by its connections. A connection keeps only the last
    /// 8 KiB it sent (its context, RFC 7692 §7.1.1, for a window of 13 bits or more), and the
    /// compressor is primed with them when it last served another connection: about 8 KB per
    /// connection instead of 380 KB, for more CPU when many connections send in turn (a reset
    /// and a priming per message) and a slightly larger output (the context is 8 KiB, not the
    /// whole window). The default.
    #[default]
    Shared,
    /// Each connection keeps its own compressor for its life, with the whole negotiated
    /// window: about 380 KB per connection at 15 window bits (zlib-rs's hash table and buffers
    /// do not shrink much with the window), no priming cost.
    Dedicated,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            compress: true,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            threshold: 64,
            level: 1,
            compressor: CompressorMode::Shared,
        }
    }
}

impl DeflateConfig {
    /// The configuration with window bits clamped to 8..=15 and the level to 0..=9.
    #[must_use]
    pub fn normalized(mut self) -> Self {
        self.server_max_window_bits = self
            .server_max_window_bits
            .clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end());
        self.client_max_window_bits = self
            .client_max_window_bits
            .clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end());
        self.level = self.level.min(9);
        self
    }
}

/// The permessage-deflate [`ExtensionFactory`] (RFC 7692 §7), for both sides of the handshake.
#[derive(Debug, Clone, Default)]
pub struct PerMessageDeflate {
    config: DeflateConfig,
}

impl PerMessageDeflate {
    /// A factory for `config` (window bits are clamped to 8..=15, the level to 0..=9).
    #[must_use]
    pub fn new(config: DeflateConfig) -> Self {
        Self {
            config: config.normalized(),
        }
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &DeflateConfig {
        &self.config
    }

    fn codec(&self, role: Role, params: DeflateParams) -> Box<dyn Extension> {
        Box::new(DeflateCodec::new(role, params, &self.config))
    }
}

impl ExtensionFactory for PerMessageDeflate {
    fn name(&self) -> &str {
        NAME
    }

    fn accept(&self, offers: &[ExtensionOffer]) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
        if !self.config.enabled {
            return None;
        }
        // RFC 7692 §5.1: answer the first offer we can accept, in the client's order; RFC 7692
        // §7: an offer with unknown, duplicate or malformed parameters must be declined.
        for offer in offers {
            match Params::parse(offer, Kind::Offer) {
                Ok(requested) => {
                    let (response, agreed) = params::server_response(&self.config, requested);
                    return Some((response.to_element(), self.codec(Role::Server, agreed)));
                }
                Err(err) => {
                    tracing::debug!(%offer, %err, "declining a permessage-deflate offer");
                }
            }
        }
        None
    }

    fn offer(&self) -> Vec<ExtensionOffer> {
        if !self.config.enabled {
            return Vec::new();
        }
        let preferred = params::client_offer(&self.config);
        let mut offers = vec![preferred.to_element()];
        if !preferred.client_no_context_takeover {
            // A second, less preferred offer with the client_no_context_takeover hint (RFC 7692
            // §7.1.1.2), for servers that only ask a client to reset its context per message
            // when its offer says it can (Autobahn's fuzzing server does). Servers take the
            // first offer they accept, and one that wants the client without context takeover
            // says so in its response, which is what decides it here; the answer is checked
            // against the preferred offer, which allows every answer the second one allows.
            offers.push(
                Params {
                    client_no_context_takeover: true,
                    ..preferred
                }
                .to_element(),
            );
        }
        offers
    }

    fn confirm(&self, response: &ExtensionOffer) -> Result<Box<dyn Extension>, HandshakeError> {
        let refuse =
            |reason: String| HandshakeError::UnofferedExtension(format!("{response} ({reason})"));
        if !self.config.enabled {
            return Err(refuse("permessage-deflate was not offered".into()));
        }
        let answered =
            Params::parse(response, Kind::Response).map_err(|e| refuse(e.to_string()))?;
        let offered = params::client_offer(&self.config);
        let agreed =
            params::client_confirm(offered, answered).map_err(|e| refuse(e.to_string()))?;
        Ok(self.codec(Role::Client, agreed))
    }
}
