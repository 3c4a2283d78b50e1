//! What can be sent: [`IntoPayload`] for anything that can be a payload, and
//! [`PreparedMessage`] for a frame encoded once and shared by many connections.
#![forbid(unsafe_code)]

use super::Conn;
use super::handlers::MessageType;
use crate::error::Error;
use crate::proto::deflate::deflate_frame;
use crate::proto::{Message, OpCode, SharedEncoding, Utf8Bytes, encode_server_frame};
use bytes::Bytes;
use std::borrow::Cow;
use std::sync::OnceLock;

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
/// [`crate::Server::broadcast_prepared`], [`crate::Server::broadcast`]): the frame is built
/// once and shared by every connection's queue, not copied.
///
/// **Compression.** A connection without an extension gets the plain frame. One with
/// permessage-deflate whose server side compresses without context takeover (a server with
/// [`crate::Config::deflate_shared_broadcasts`]) gets the message deflated once for all such
/// connections with the same level and window (computed on first use, then shared), or the
/// plain frame when the message is under the compression threshold or
/// [`Self::compress`] turned compression off. With context takeover each connection compresses
/// the message itself (its window is its own), unless compression is off for this message: it
/// then gets the plain frame too.
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    pub(crate) message: Message,
    pub(crate) frame: Bytes,
    /// Compress for connections that negotiated compression (Node's `compress` flag).
    compress: bool,
    /// The deflated frame for the first (level, window bits) asked for.
    deflated: OnceLock<((u8, u8), Option<Bytes>)>,
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
        let payload = message.clone().into_payload();
        let frame = encode_server_frame(opcode(&message), &payload);
        Ok(Self {
            message,
            frame,
            compress: true,
            deflated: OnceLock::new(),
        })
    }

    /// Whether connections that negotiated permessage-deflate get this message compressed
    /// (default true; Node's `socket.compress(false).emit(...)`). Off, every connection gets
    /// the plain frame: RFC 7692 lets each message choose, and an uncompressed message touches
    /// no compression state.
    #[must_use]
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// The frame for a connection whose extension takes frames encoded once as `encoding`
    /// says; `None`: the connection must encode the message itself.
    #[inline]
    pub(crate) fn frame_for(&self, encoding: SharedEncoding) -> Option<Cow<'_, Bytes>> {
        match encoding {
            SharedEncoding::Plain if !self.compress => Some(Cow::Borrowed(&self.frame)),
            SharedEncoding::Deflate {
                level,
                window_bits,
                threshold,
            } => {
                if !self.compress || self.message_len() < threshold as usize {
                    return Some(Cow::Borrowed(&self.frame));
                }
                self.deflated(level, window_bits)
            }
            _ => None,
        }
    }

    /// The payload length.
    fn message_len(&self) -> usize {
        match &self.message {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
            _ => 0,
        }
    }

    /// The message deflated with `level` and `window_bits` without context: computed once for
    /// the first setting asked (the common case: one server, one setting), for others each
    /// time. `None` when the compressor failed (the connection then compresses it itself).
    fn deflated(&self, level: u8, window_bits: u8) -> Option<Cow<'_, Bytes>> {
        let compute = || {
            let payload = self.message.clone().into_payload();
            deflate_frame(
                opcode(&self.message),
                &payload,
                u32::from(level),
                window_bits,
            )
            .ok()
        };
        let (key, frame) = self
            .deflated
            .get_or_init(|| ((level, window_bits), compute()));
        if *key == (level, window_bits) {
            return frame.as_ref().map(Cow::Borrowed);
        }
        compute().map(Cow::Owned)
    }
}

/// The frame of one [`PreparedMessage`] for each connection a broadcast reaches, chosen once
/// per distinct encoding it meets (plain; deflated with some level, window and threshold),
/// not once per recipient: a broadcast to 10,000 compressed connections asks its prepared
/// message for the deflated frame once and then compares one small value per connection
/// (choosing it per connection cost about 48 instructions per delivery, callgrind, issue 25).
pub(crate) struct FrameChoice<'a> {
    prepared: &'a PreparedMessage,
    /// The latest encoding asked for and its frame (`None`: such a connection encodes the
    /// message itself).
    last: (SharedEncoding, Option<Bytes>),
    /// The other encodings met so far (a server has one setting, often none).
    others: Vec<(SharedEncoding, Option<Bytes>)>,
}

impl<'a> FrameChoice<'a> {
    /// Nothing chosen yet.
    pub fn new(prepared: &'a PreparedMessage) -> Self {
        Self {
            prepared,
            last: (SharedEncoding::None, None),
            others: Vec::new(),
        }
    }

    /// The frame for a connection that takes frames encoded once as `encoding` says
    /// (`None`: a server connection without an extension, the plain frame); `None`: it
    /// encodes the message itself.
    #[inline]
    pub fn frame(&mut self, encoding: Option<SharedEncoding>) -> Option<&Bytes> {
        let Some(encoding) = encoding else {
            return Some(&self.prepared.frame);
        };
        if encoding != self.last.0 {
            self.choose(encoding);
        }
        self.last.1.as_ref()
    }

    /// Makes `encoding` the latest one, its frame chosen now unless it was met before.
    #[cold]
    fn choose(&mut self, encoding: SharedEncoding) {
        let entry = match self.others.iter().position(|(e, _)| *e == encoding) {
            Some(i) => self.others.swap_remove(i),
            None => (
                encoding,
                self.prepared.frame_for(encoding).map(Cow::into_owned),
            ),
        };
        let previous = std::mem::replace(&mut self.last, entry);
        if previous.0 != SharedEncoding::None {
            self.others.push(previous);
        }
    }
}

fn opcode(message: &Message) -> OpCode {
    if let Message::Text(_) = message {
        OpCode::Text
    } else {
        OpCode::Binary
    }
}
