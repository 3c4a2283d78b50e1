//! The pure packet layer: no I/O, no clock. Text and bytes in, typed packets out, and back.
//!
//! - [`engine`]: Engine.IO v4 packets (one per WebSocket frame) and polling payloads;
//! - [`socket`]: Socket.IO v5 packets (namespaces, ack ids, attachment counts), the JSON
//!   parser's text form;
//! - [`msgpack`]: the same packets as npm `socket.io-msgpack-parser` writes them;
//! - [`binary`]: binary placeholders and attachments.
//!
//! Every decoder returns a typed error for malformed input and never panics; the work per
//! packet is bounded (attachment counts, ack ids and JSON nesting are limited).

pub mod binary;
pub mod engine;
pub mod msgpack;
pub mod socket;

pub use binary::{BinaryError, Data};
pub use engine::EngineError;
pub use msgpack::MsgPackError;
pub use socket::SocketError;

/// How Socket.IO packets are written on the wire (Node's `parser` option). Both ends must use
/// the same one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Parser {
    /// socket.io-parser, the default: each packet is JSON text, its binary values follow as
    /// attachments ([`socket`], [`binary`]).
    #[default]
    Json,
    /// socket.io-msgpack-parser 3: each packet is one binary message, a MessagePack map
    /// holding its binary values in place ([`msgpack`]).
    MsgPack,
}
