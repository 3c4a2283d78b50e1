//! Opening handshakes (RFC 6455 §4): server and client, sans-I/O.
//!
//! Everything here is a pure function over byte slices: the caller owns the socket and the
//! buffer, and decides when to read and write.
//!
//! - [`server`]: [`server::parse_request`] a request head, [`server::accept`] it (validation,
//!   subprotocol and extension negotiation), then [`server::write_response`] the `101`, or
//!   [`server::error_response`] when it failed.
//! - [`target`]: [`Target::parse`] a `ws://` / `wss://` URL.
//! - [`client`]: [`ClientHandshake::new`] builds the request bytes, [`ClientHandshake::parse_response`] and [`ClientHandshake::validate`] check
//!   the answer.
//! - [`accept`]: the `Sec-WebSocket-Key` nonce and its `Sec-WebSocket-Accept` answer.
//! - [`origin`]: which `Origin`s a server accepts ([`origin::same_origin`], the event API's
//!   default; [`origin::allow`] a list; [`origin::any`]).
//!
//! "Accept" names three things here, after the RFC: [`server::accept`] validates a request and
//! negotiates (the server's half of the handshake), the [`accept`] module computes the
//! `Sec-WebSocket-Accept` value, and [`crate::proto::ExtensionFactory::accept`] picks an
//! extension offer. [`crate::accept`] runs the server's half over an async transport. Internal
//! code says `serve`/`negotiated` for the rest (a listener's incoming connections, a result).
//!
//! In both directions the head parsers report how many bytes the head took: whatever follows
//! is already the frame stream and belongs to the WebSocket connection.
//!
//! # Example
//!
//! Both sides in memory:
//!
//! ```
//! use wsx::handshake::{ClientHandshake, ClientOptions, ServerOptions, Target, server};
//!
//! # fn main() -> Result<(), wsx::HandshakeError> {
//! let target = Target::parse("ws://example.com/chat")?;
//! let (client, request) =
//!     ClientHandshake::new(&target, &http::HeaderMap::new(), &ClientOptions::default());
//!
//! // Server: parse the head (None would mean "read more"), accept, answer.
//! let opts = ServerOptions::default();
//! let Some((parsed, head_len)) = server::parse_request(&request, &opts)? else {
//!     return Ok(()); // a real server would read more bytes and try again
//! };
//! assert_eq!(head_len, request.len());
//! let mut response = Vec::new();
//! match server::accept(&parsed, &opts) {
//!     Ok(accepted) => server::write_response(&accepted.response, &mut response),
//!     Err(err) => response = server::error_response(&err),
//! }
//!
//! // Client: parse and check the answer.
//! let Some((answer, _)) = client.parse_response(&response)? else {
//!     return Ok(()); // likewise
//! };
//! let negotiated = client.validate(&answer)?;
//! assert!(negotiated.subprotocol.is_none());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod accept;
pub mod client;
pub mod extended_connect;
mod header;
pub mod origin;
pub mod server;
pub mod target;
#[cfg(test)]
mod testing;

pub use accept::{accept_key, generate_key};
pub use client::{ClientHandshake, ClientOptions};
pub(crate) use header::is_token;
pub use header::{format_extensions, parse_extensions};
pub use server::{Accepted, OriginCheck, ServerOptions};
pub use target::Target;

use crate::proto::Extension;

/// A successful opening handshake, on either side: the `101` response (sent by a server,
/// received by a client) and what was agreed.
pub struct Negotiated {
    /// The `101 Switching Protocols` response.
    pub response: http::Response<()>,
    /// The subprotocol agreed, if any.
    pub subprotocol: Option<String>,
    /// The extension agreed, if any.
    pub extension: Option<Box<dyn Extension>>,
}

impl std::fmt::Debug for Negotiated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Negotiated")
            .field("response", &self.response)
            .field("subprotocol", &self.subprotocol)
            .field("extension", &self.extension)
            .finish()
    }
}
