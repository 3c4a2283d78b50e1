//! wsx: a WebSocket library written from RFC 6455.
#![warn(missing_docs)]

pub mod error;
pub mod handshake;
pub mod proto;

pub use error::{Error, HandshakeError, ProtocolError, Result};
pub use proto::{CloseCode, CloseFrame};
