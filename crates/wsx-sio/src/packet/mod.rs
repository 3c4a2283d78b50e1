//! The pure packet layer: no I/O, no clock. Text and bytes in, typed packets out, and back.
//!
//! - [`engine`]: Engine.IO v4 packets (one per WebSocket frame) and polling payloads;
//! - [`socket`]: Socket.IO v5 packets (namespaces, ack ids, attachment counts);
//! - [`binary`]: binary placeholders and attachments.
//!
//! Every decoder returns a typed error for malformed input and never panics; the work per
//! packet is bounded (attachment counts, ack ids and JSON nesting are limited).

pub mod binary;
pub mod engine;
pub mod socket;

pub use binary::{BinaryError, Data};
pub use engine::EngineError;
pub use socket::SocketError;
