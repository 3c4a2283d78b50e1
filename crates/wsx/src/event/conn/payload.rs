//! What can be sent: [`IntoPayload`] for anything that can be a payload, and
//! [`PreparedMessage`] for a frame encoded once and shared by many connections.
#![forbid(unsafe_code)]

use super::Conn;
use super::handlers::MessageType;
use crate::error::Error;
use crate::proto::{Message, OpCode, Utf8Bytes, encode_server_frame};
use bytes::Bytes;

/// Anything that can be a binary payload: `Vec<u8>`, `&[u8]`, `Bytes`, `String`, `&str`...
pub trait IntoPayload {
    /// The payload as shared bytes (without a copy where the type allows).
    fn into_payload(self) -> Bytes;
}

impl IntoPayload for Bytes {
    fn into_payload(self) -> Bytes {
        self
    }
}
impl IntoPayload for Vec<u8> {
    fn into_payload(self) -> Bytes {
        Bytes::from(self)
    }
}
impl IntoPayload for &[u8] {
    fn into_payload(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}
impl<const N: usize> IntoPayload for &[u8; N] {
    fn into_payload(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}
impl IntoPayload for &Vec<u8> {
    fn into_payload(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}
impl IntoPayload for bytes::BytesMut {
    fn into_payload(self) -> Bytes {
        self.freeze()
    }
}
impl IntoPayload for String {
    fn into_payload(self) -> Bytes {
        Bytes::from(self)
    }
}
impl IntoPayload for &str {
    fn into_payload(self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}
impl IntoPayload for Utf8Bytes {
    fn into_payload(self) -> Bytes {
        self.into_bytes()
    }
}

/// A message encoded once to be written to many connections ([`Conn::write_prepared`],
/// [`crate::Server::broadcast`]): the frame is built once and shared by every connection's
/// queue, not copied.
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    pub(crate) message: Message,
    pub(crate) frame: Bytes,
}

impl PreparedMessage {
    /// Prepares a text or binary message.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] for a kind other than text or binary, or text that is not
    /// UTF-8.
    pub fn new(kind: MessageType, data: impl IntoPayload) -> Result<Self, Error> {
        let message = match kind {
            MessageType::Text | MessageType::Binary => Conn::message(kind, data.into_payload())?,
            _ => {
                return Err(Error::InvalidMessage(
                    "only text and binary messages can be prepared",
                ));
            }
        };
        let opcode = if kind == MessageType::Text {
            OpCode::Text
        } else {
            OpCode::Binary
        };
        let payload = message.clone().into_payload();
        let frame = encode_server_frame(opcode, &payload);
        Ok(Self { message, frame })
    }
}
