//! The connection state machine: the whole sans-I/O core behind five verbs, after
//! python-websockets' design.
//!
//! - bytes in: read into [`Protocol::read_buffer`] (or [`Protocol::receive_data`]), and
//!   [`Protocol::receive_eof`] when the transport ends;
//! - events out: [`Protocol::next_message`] until it returns `Ok(None)`;
//! - bytes out: [`Protocol::write_buffer`], written to the transport and advanced;
//! - [`Protocol::send`] to queue a message;
//! - [`Protocol::should_close_transport`] tells when the transport should be closed.
//!
//! Rules for a driver: after every read, call `next_message` until it returns `Ok(None)` or an
//! error; after any call, write out what the write buffer holds; when `should_close_transport`
//! is true, flush and close (a server closes TCP first, RFC 6455 §7.1.1; a client waits a little for the
//! server to do it). An error from `next_message` has already queued the close frame that fails
//! the connection (RFC 6455 §7.1.7).
#![forbid(unsafe_code)]

use super::close::{CloseCode, CloseFrame};
use super::decoder::{Decoder, Limits};
use super::encoder::Encoder;
use super::extension::Extension;
use super::frame::{OpCode, check_control_payload};
use super::message::Message;
use super::role::Role;
use super::write_buf::WriteBuffer;
use crate::proto::error::{ProtocolError, SendError};
use bytes::{Bytes, BytesMut};

/// Past this many bytes waiting to be written, pings are no longer answered one by one: only
/// the latest is, once the buffer drains below it.
const PONG_BACKLOG: usize = 64 * 1024;

/// Where the connection is in its life (RFC 6455 §4-§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// One side sent a close frame; waiting for the other's.
    Closing,
    /// The close handshake is done, or the connection was failed: nothing more is sent or
    /// received; the transport should be closed.
    Closed,
}

/// The sans-I/O WebSocket connection.
#[derive(Debug)]
pub struct Protocol {
    role: Role,
    decoder: Decoder,
    encoder: Encoder,
    extension: Option<Box<dyn Extension>>,
    out: WriteBuffer,
    /// The payload of the latest ping not yet answered because the write buffer was full.
    pending_pong: Option<Bytes>,
    close_sent: bool,
    // `Some(None)` is a close frame without a status code (reported as 1005), which RFC 6455
    // §7.1.5 tells apart from no close frame at all.
    #[allow(clippy::option_option)]
    close_received: Option<Option<CloseFrame>>,
    failed: Option<ProtocolError>,
    eof: bool,
}

impl Protocol {
    /// A connection in the open state, right after the handshake.
    #[must_use]
    pub fn new(role: Role, limits: Limits, read_size: usize) -> Self {
        Self {
            role,
            decoder: Decoder::new(role, limits, read_size),
            encoder: Encoder::new(role),
            extension: None,
            out: WriteBuffer::new(),
            pending_pong: None,
            close_sent: false,
            close_received: None,
            failed: None,
            eof: false,
        }
    }

    /// Installs the extension negotiated in the handshake: its RSV bits become legal and data
    /// messages pass through it both ways.
    pub fn set_extension(&mut self, extension: Box<dyn Extension>) {
        self.decoder.set_extension_bits(extension.rsv_bits());
        self.extension = Some(extension);
    }

    /// Whether an extension was negotiated.
    #[must_use]
    pub fn has_extension(&self) -> bool {
        self.extension.is_some()
    }

    /// Which side this is.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// The state of the connection.
    #[must_use]
    pub fn state(&self) -> State {
        if self.failed.is_some() || self.eof || (self.close_sent && self.close_received.is_some()) {
            State::Closed
        } else if self.close_sent || self.close_received.is_some() {
            State::Closing
        } else {
            State::Open
        }
    }

    /// The read buffer with room made for the next read (see [`Decoder::prepare_read`]);
    /// tell how much the read brought with [`Self::read_done`].
    #[inline]
    pub fn read_buffer(&mut self) -> &mut BytesMut {
        self.decoder.prepare_read()
    }

    /// A read into [`Self::read_buffer`] brought `n` bytes: sets the room for the next read
    /// (it grows while reads fill it, see [`Decoder::note_read`]).
    #[inline]
    pub fn read_done(&mut self, n: usize) {
        self.decoder.note_read(n);
    }

    /// The read buffer's allocated size (0 while it owns no memory).
    #[must_use]
    pub fn read_capacity(&self) -> usize {
        self.decoder.capacity()
    }

    /// Feeds bytes received from the transport (copying; drivers that can should read straight
    /// into [`Self::read_buffer`]).
    pub fn receive_data(&mut self, data: &[u8]) {
        self.decoder.extend(data);
    }

    /// Whether received bytes wait to be decoded (none: [`Self::next_message`] would return
    /// `Ok(None)` until more arrive).
    #[must_use]
    pub fn has_buffered_input(&self) -> bool {
        self.decoder.buffered() > 0
    }

    /// The transport reached end of file.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// Whether the transport ended.
    #[must_use]
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// The next message or control frame from the buffered bytes; `Ok(None)` when more bytes
    /// are needed, or when the peer's close frame was already received (bytes after it are
    /// ignored, RFC 6455 §5.5.1).
    ///
    /// A ping is answered with a pong here; a close is answered with a close (echoing the
    /// code) here; a protocol error queues the close frame that fails the connection.
    ///
    /// # Errors
    /// The peer broke the protocol; the connection is failed.
    pub fn next_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        if self.close_received.is_some() {
            return Ok(None);
        }
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.decoder.decode_with(self.extension.as_deref_mut()) {
            Ok(Some(message)) => {
                match &message {
                    Message::Ping(payload) => {
                        // RFC 6455 §5.5.2: answer with a pong carrying the same payload, unless a
                        // close was received (then we never get here). Having sent a close is no
                        // exception: a pong is a control frame, not data (§5.5.1).
                        if self.out.len() < PONG_BACKLOG {
                            self.encoder
                                .control(OpCode::Pong, payload.clone(), &mut self.out);
                        } else {
                            // A peer that pings but does not read must not grow our memory:
                            // §5.5.3 allows answering only the most recent ping, once the
                            // write buffer drains.
                            self.pending_pong = Some(payload.clone());
                        }
                    }
                    Message::Close(frame) => {
                        self.close_received = Some(frame.clone());
                        if !self.close_sent {
                            // RFC 6455 §5.5.1: reply with a close, echoing the status code.
                            let reply = frame
                                .as_ref()
                                .map_or_else(Bytes::new, |f| CloseFrame::new(f.code, "").encode());
                            self.encoder.control(OpCode::Close, reply, &mut self.out);
                            self.close_sent = true;
                        }
                    }
                    _ => {}
                }
                Ok(Some(message))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.fail(&err);
                Err(err)
            }
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7): queue a close frame with the error's code if none
    /// was sent yet; nothing more is received.
    fn fail(&mut self, err: &ProtocolError) {
        if !self.close_sent {
            let reason = match err {
                ProtocolError::InvalidUtf8 => "invalid UTF-8",
                ProtocolError::FrameTooLarge { .. } => "frame too large",
                ProtocolError::MessageTooLarge { .. } => "message too large",
                _ => "protocol error",
            };
            let payload = CloseFrame::new(err.close_code(), reason).encode();
            self.encoder.control(OpCode::Close, payload, &mut self.out);
            self.close_sent = true;
        }
        self.failed = Some(err.clone());
    }

    /// Queues a message. Sending a [`Message::Close`] starts the close handshake.
    ///
    /// # Errors
    /// [`SendError::AlreadyClosing`] once a close frame was sent, [`SendError::Invalid`] for
    /// a control payload over 125 bytes or a close code that must not be sent,
    /// [`SendError::Protocol`] when the extension fails, [`SendError::Closed`] once closed.
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        if self.eof || self.failed.is_some() {
            return Err(SendError::Closed);
        }
        if self.close_sent {
            return Err(if self.state() == State::Closed {
                SendError::Closed
            } else {
                SendError::AlreadyClosing
            });
        }
        match message {
            Message::Text(text) => self.encoder.data(
                OpCode::Text,
                text.into_bytes(),
                self.extension.as_deref_mut(),
                &mut self.out,
            )?,
            Message::Binary(data) => self.encoder.data(
                OpCode::Binary,
                data,
                self.extension.as_deref_mut(),
                &mut self.out,
            )?,
            Message::Ping(data) => self.control(OpCode::Ping, data)?,
            Message::Pong(data) => self.control(OpCode::Pong, data)?,
            Message::Close(frame) => {
                // An answer held back for a backlog goes out before our close.
                if let Some(payload) = self.pending_pong.take() {
                    self.encoder.control(OpCode::Pong, payload, &mut self.out);
                }
                let payload = match frame {
                    Some(f) => {
                        f.code.check_sendable()?;
                        f.encode()
                    }
                    None => Bytes::new(),
                };
                self.control(OpCode::Close, payload)?;
                self.close_sent = true;
            }
        }
        Ok(())
    }

    fn control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), SendError> {
        check_control_payload(payload.len())?;
        self.encoder.control(opcode, payload, &mut self.out);
        Ok(())
    }

    /// Queues an already encoded frame (see [`super::encoder::encode_server_frame`]) for a
    /// server connection without an extension.
    ///
    /// # Errors
    /// As [`Self::send`].
    pub fn send_raw_frame(&mut self, frame: Bytes) -> Result<(), SendError> {
        if self.role != Role::Server || self.extension.is_some() {
            return Err(SendError::Invalid(
                "pre-encoded frames need a server without extensions",
            ));
        }
        if self.close_sent {
            return Err(SendError::AlreadyClosing);
        }
        self.out.put_bytes(frame);
        Ok(())
    }

    /// Bytes waiting to be written to the transport.
    pub fn write_buffer(&mut self) -> &mut WriteBuffer {
        if self.out.len() < PONG_BACKLOG
            && let Some(payload) = self.pending_pong.take()
        {
            self.encoder.control(OpCode::Pong, payload, &mut self.out);
        }
        &mut self.out
    }

    /// Whether this side has sent its close frame.
    #[must_use]
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// The peer's close frame, once received (`Some(None)`: it had no status code).
    #[must_use]
    pub fn close_received(&self) -> Option<&Option<CloseFrame>> {
        self.close_received.as_ref()
    }

    /// The error the connection was failed with, if any.
    #[must_use]
    pub fn failure(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    /// Whether the driver should close the transport once the write buffer is flushed: the
    /// close handshake is complete, the connection was failed, or the transport ended.
    #[must_use]
    pub fn should_close_transport(&self) -> bool {
        self.failed.is_some() || self.eof || (self.close_sent && self.close_received.is_some())
    }

    /// The former name of [`Self::should_close_transport`].
    #[deprecated(note = "renamed to `should_close_transport`: it is a question, not an action")]
    #[must_use]
    pub fn close_transport(&self) -> bool {
        self.should_close_transport()
    }

    /// The code to report for how the connection ended: the peer's close code, 1005 for a
    /// close without one, the failure's code, or 1006 when the transport ended without a close.
    #[must_use]
    pub fn close_code(&self) -> CloseCode {
        match (&self.close_received, &self.failed) {
            (Some(Some(frame)), _) => frame.code,
            (Some(None), _) => CloseCode::NO_STATUS_RECEIVED,
            (None, Some(err)) => err.close_code(),
            (None, None) => CloseCode::ABNORMAL_CLOSURE,
        }
    }
}
