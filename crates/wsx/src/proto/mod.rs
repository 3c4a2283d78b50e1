//! The sans-I/O protocol core: no sockets, no tasks, no clock. Bytes in, messages and bytes out;
//! time comes in as an argument ([`KeepAlive`]).
//!
//! [`Protocol`] is the whole connection state machine; the modules below it are its parts and
//! are public for drivers and tools that want a single piece (a frame parser, the masking loop).

pub mod close;
pub mod decoder;
pub mod deflate;
pub mod encoder;
pub mod error;
pub mod extension;
pub mod frame;
pub mod keepalive;
pub mod mask;
pub mod message;
pub mod protocol;
pub mod role;
pub mod utf8;
pub mod write_buf;

pub use close::{CloseCode, CloseFrame};
pub use decoder::{Decoder, Limits};
pub use deflate::{CompressorMode, DeflateConfig, PerMessageDeflate};
pub use encoder::{Encoder, encode_server_frame};
pub use error::{ExtensionError, HandshakeError, ProtocolError, SendError};
pub use extension::{Extension, ExtensionFactory, ExtensionOffer, SharedEncoding};
pub use frame::{FrameHeader, OpCode};
pub use keepalive::{KeepAlive, Timeout};
pub use message::{Message, Utf8Bytes};
pub use protocol::{CloseOrder, Protocol, State};
pub use role::Role;
pub use write_buf::WriteBuffer;

#[cfg(test)]
mod tests;
