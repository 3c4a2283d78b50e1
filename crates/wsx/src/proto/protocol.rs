//! The connection state machine: the whole sans-I/O core behind five verbs, after
//! python-websockets' design.
//!
//! - bytes in: read into [`Protocol::read_buffer`] (or [`Protocol::receive_data`]), and
//!   [`Protocol::receive_eof`] when the transport ends;
//! - events out: [`Protocol::next_message`] until it returns `Ok(None)`;
//! - bytes out: [`Protocol::write_buffer`], written to the transport and advanced;
//! - [`Protocol::send`] to queue a message;
//! - [`Protocol::should_close_transport`] tells when the transport should be closed, and
//!   [`Protocol::close_order`] how.
//!
//! Rules for a driver: after every read, call `next_message` until it returns `Ok(None)` or an
//! error; after any call, write out what the write buffer holds; when `should_close_transport`
//! is true, flush and close as [`Protocol::close_order`] says (RFC 6455 §7.1.1: the server
//! closes TCP first; a client waits for it, up to the driver's close timeout). An error from
//! `next_message` has already queued the close frame that fails the connection (RFC 6455
//! §7.1.7); a driver that gives up on the peer itself (a keep-alive timeout) calls
//! [`Protocol::fail`].
//!
//! The life of a connection is one private `Phase`, changed only by the transition methods
//! at the bottom of `impl Protocol` (`close_sent_now`, `close_received_now`, `failed_now`);
//! everything that reports on the connection reads the phase. The end of the transport is kept
//! beside it, not in it: it is a fact about the input rather than a step of the close handshake
//! (bytes buffered before it are still decoded), and a client must know it after the handshake
//! too, to tell whether the server already closed TCP.
#![forbid(unsafe_code)]

use super::close::{CloseCode, CloseFrame};
use super::decoder::{Decoder, Limits};
use super::encoder::Encoder;
use super::extension::{Extension, SharedEncoding};
use super::frame::{OpCode, RSV_MASK, RSV1, check_control_payload};
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

/// How the driver closes the transport once [`Protocol::should_close_transport`] says so
/// (RFC 6455 §7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOrder {
    /// Flush, then close the transport now: a server closes TCP first, right after the close
    /// handshake or a failure (so that the `TIME_WAIT` state is on the server, §7.1.1), and
    /// anyone does once the transport has ended.
    CloseNow,
    /// Flush, then wait for the peer (the server) to close the transport, up to the driver's
    /// close timeout, and close it then: a client "SHOULD wait for the server to close the
    /// connection but MAY close the connection at any time after sending and receiving a Close
    /// message" (§7.1.1, §7.1.2).
    AwaitPeer,
}

/// Where the connection is in the close handshake (RFC 6455 §7). Every change goes through
/// one of the transition methods of [`Protocol`].
///
/// `repr(u8)`: the phase is read several times per message (`next_message`, `send`, and the
/// driver's `should_close_transport` / `close_sent` on every poll), and a plain tag byte is one
/// load, where the tag Rust would otherwise hide in a niche of the `CloseFrame`'s `String` takes
/// a handful of instructions to decode each time (measured: 31 more instructions per echoed
/// message without it).
#[derive(Debug)]
#[repr(u8)]
enum Phase {
    /// Messages flow both ways.
    Open,
    /// This side sent its close frame and awaits the peer's (§7.1.2): data is no longer sent,
    /// but still received.
    CloseSent,
    /// The close handshake is complete: the peer's close frame arrived and this side's was sent
    /// (before it, or as the reply, §5.5.1). `None` is a close frame without a status code
    /// (reported as 1005), which §7.1.5 tells apart from no close frame at all.
    Closed(Option<CloseFrame>),
    /// The connection was failed (§7.1.7): a close frame went out unless one had been sent, and
    /// nothing more is received.
    Failed(Failure),
}

/// Who failed the connection.
#[derive(Debug)]
enum Failure {
    /// The peer broke the protocol.
    Peer(ProtocolError),
    /// This side gave up on the peer ([`Protocol::fail`]).
    Local,
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
    phase: Phase,
    /// The transport ended (see the module docs for why this is not a phase).
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
            phase: Phase::Open,
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
        match self.phase {
            _ if self.eof => State::Closed,
            Phase::Open => State::Open,
            // A close received is answered at once, so only ours, awaiting the answer, leaves
            // the connection half closed.
            Phase::CloseSent => State::Closing,
            Phase::Closed(_) | Phase::Failed(_) => State::Closed,
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
        // The common case on its own: a whole data frame is buffered while messages may still
        // arrive. Apart from the general path (a large function once the decoder is inlined
        // into it, whose set-up alone cost more than this whole case), it is about 40
        // instructions cheaper per message (callgrind, issue 17).
        if matches!(self.phase, Phase::Open | Phase::CloseSent) {
            match self.decoder.decode_whole_message() {
                Some(Ok(message)) => return Ok(Some(message)),
                Some(Err(err)) => return Err(self.peer_failed(err)),
                None => {}
            }
        }
        self.next_message_general()
    }

    /// [`Self::next_message`] for everything but its common case.
    #[inline(never)]
    fn next_message_general(&mut self) -> Result<Option<Message>, ProtocolError> {
        match &self.phase {
            Phase::Open | Phase::CloseSent => {}
            // RFC 6455 §5.5.1: nothing after the peer's close frame is read; §7.1.7: nothing
            // after a failure either (the peer's failure is reported again).
            Phase::Closed(_) | Phase::Failed(Failure::Local) => return Ok(None),
            Phase::Failed(Failure::Peer(err)) => return Err(err.clone()),
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
                    Message::Close(frame) => self.close_received_now(frame.clone()),
                    _ => {}
                }
                Ok(Some(message))
            }
            Ok(None) => Ok(None),
            Err(err) => Err(self.peer_failed(err)),
        }
    }

    /// The peer broke the protocol: fail the connection (RFC 6455 §7.1.7) and give the error
    /// back to report.
    #[cold]
    fn peer_failed(&mut self, err: ProtocolError) -> ProtocolError {
        // The close frame carries the error's short wire reason; the error itself (its
        // `Display`) is what the application is told (`ProtocolError::wire_reason`).
        let frame = CloseFrame::new(err.close_code(), err.wire_reason());
        self.failed_now(Some(&frame), Failure::Peer(err.clone()));
        err
    }

    /// Fails the connection from this side (RFC 6455 §7.1.7), for a reason of the driver's or
    /// the application's: a peer that stopped answering pings, say. A close frame with `code`
    /// and `reason` is queued unless one was sent (the reason cut to fit 123 bytes, at a
    /// character boundary); nothing more is received; [`Self::should_close_transport`] becomes
    /// true and the driver should flush what it can and close the transport
    /// ([`Self::close_order`]).
    ///
    /// A `code` that may not be sent (RFC 6455 §7.4.1: 1005, 1006, 1015, unassigned codes) is
    /// not put on the wire: the close frame then has no body. [`Self::close_code`] reports 1006
    /// afterwards, since no close frame was received. A connection already closed or failed is
    /// left as it is.
    pub fn fail(&mut self, code: CloseCode, reason: &str) {
        if matches!(self.phase, Phase::Open | Phase::CloseSent) {
            let frame = code
                .is_valid_on_wire()
                .then(|| CloseFrame::new(code, reason));
            self.failed_now(frame.as_ref(), Failure::Local);
        }
    }

    /// Queues a message. Sending a [`Message::Close`] starts the close handshake.
    ///
    /// # Errors
    /// [`SendError::AlreadyClosing`] once a close frame was sent, [`SendError::Invalid`] for
    /// a control payload over 125 bytes or a close code that must not be sent,
    /// [`SendError::Protocol`] when the extension fails, [`SendError::Closed`] once closed.
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        self.check_sendable()?;
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
                self.close_sent_now();
            }
        }
        Ok(())
    }

    /// Whether a message may be sent now: only while open (RFC 6455 §5.5.1: no data after a
    /// close frame), and not once the transport ended. The refusal is built apart: `send` runs
    /// per message and stays small enough for the encoder to be inlined into it.
    #[inline]
    fn check_sendable(&self) -> Result<(), SendError> {
        if self.can_send() {
            Ok(())
        } else {
            Err(self.refusal())
        }
    }

    /// Whether [`Self::send`] would take a data message now: the connection is open (no close
    /// frame sent, RFC 6455 §5.5.1) and the transport has not ended. Frames appended to the
    /// write buffer by anything but `send` (the event API's direct replies) must ask first.
    #[inline]
    pub(crate) fn can_send(&self) -> bool {
        matches!(self.phase, Phase::Open) && !self.eof
    }

    /// Why [`Self::check_sendable`] refuses: still closing, or closed.
    #[cold]
    fn refusal(&self) -> SendError {
        if matches!(self.phase, Phase::CloseSent) && !self.eof {
            SendError::AlreadyClosing
        } else {
            SendError::Closed
        }
    }

    fn control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), SendError> {
        check_control_payload(payload.len())?;
        self.encoder.control(opcode, payload, &mut self.out);
        Ok(())
    }

    /// Queues an already encoded frame (see [`super::encoder::encode_server_frame`] and
    /// [`super::deflate::deflate_frame`]) for a server connection that takes it
    /// ([`Self::shared_encoding`]): one without an extension, or one whose extension lets
    /// such frames through as they are.
    ///
    /// # Errors
    /// As [`Self::send`], and [`SendError::Invalid`] for a frame this connection does not
    /// take.
    pub fn send_raw_frame(&mut self, frame: Bytes) -> Result<(), SendError> {
        let rsv = frame.first().map_or(0, |b| b & RSV_MASK);
        let taken = match self.shared_encoding() {
            None | Some(SharedEncoding::Plain) => rsv == 0,
            Some(SharedEncoding::Deflate { .. }) => rsv & !RSV1 == 0,
            Some(SharedEncoding::None) => false,
        };
        if !taken {
            return Err(SendError::Invalid(
                "this connection does not take this pre-encoded frame",
            ));
        }
        self.check_sendable()?;
        self.out.put_bytes(frame);
        Ok(())
    }

    /// Whether frames encoded elsewhere can be sent on this connection
    /// ([`Self::send_raw_frame`]; the event API's direct replies): a server without an
    /// extension (a client masks each frame, and an extension transforms each message).
    #[must_use]
    pub fn takes_raw_frames(&self) -> bool {
        self.role == Role::Server && self.extension.is_none()
    }

    /// Which frames encoded once for many connections this connection takes
    /// ([`Self::send_raw_frame`]): `None` for a server without an extension (every unmasked
    /// frame), else what its extension allows ([`Extension::shared_encoding`]); a client takes
    /// none ([`SharedEncoding::None`]: it masks each frame).
    #[must_use]
    pub fn shared_encoding(&self) -> Option<SharedEncoding> {
        if self.role != Role::Server {
            return Some(SharedEncoding::None);
        }
        self.extension.as_ref().map(|e| e.shared_encoding())
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
        !matches!(self.phase, Phase::Open)
    }

    /// The peer's close frame, once received (`Some(None)`: it had no status code).
    #[must_use]
    pub fn close_received(&self) -> Option<&Option<CloseFrame>> {
        match &self.phase {
            Phase::Closed(frame) => Some(frame),
            _ => None,
        }
    }

    /// The error the connection was failed with, if the peer broke the protocol (`None` when
    /// it was failed with [`Self::fail`]).
    #[must_use]
    pub fn failure(&self) -> Option<&ProtocolError> {
        match &self.phase {
            Phase::Failed(Failure::Peer(err)) => Some(err),
            _ => None,
        }
    }

    /// Whether the driver should close the transport once the write buffer is flushed: the
    /// close handshake is complete, the connection was failed, or the transport ended.
    #[must_use]
    #[inline]
    pub fn should_close_transport(&self) -> bool {
        self.eof || matches!(self.phase, Phase::Closed(_) | Phase::Failed(_))
    }

    /// How to close the transport once [`Self::should_close_transport`] says so (RFC 6455
    /// §7.1.1): a server closes it at once, a client waits for the server to, unless the
    /// transport already ended.
    #[must_use]
    pub fn close_order(&self) -> CloseOrder {
        if self.role == Role::Client && !self.eof {
            CloseOrder::AwaitPeer
        } else {
            CloseOrder::CloseNow
        }
    }

    /// The former name of [`Self::should_close_transport`].
    #[deprecated(note = "renamed to `should_close_transport`: it is a question, not an action")]
    #[must_use]
    pub fn close_transport(&self) -> bool {
        self.should_close_transport()
    }

    /// The code to report for how the connection ended: the peer's close code, 1005 for a
    /// close without one, the code of the peer's protocol error, or 1006 when no close frame
    /// was received otherwise (the transport ended, or [`Self::fail`]).
    #[must_use]
    pub fn close_code(&self) -> CloseCode {
        match &self.phase {
            Phase::Closed(Some(frame)) => frame.code,
            Phase::Closed(None) => CloseCode::NO_STATUS_RECEIVED,
            Phase::Failed(Failure::Peer(err)) => err.close_code(),
            Phase::Open | Phase::CloseSent | Phase::Failed(Failure::Local) => {
                CloseCode::ABNORMAL_CLOSURE
            }
        }
    }

    // The transitions of the phase: the only places that change it.

    /// This side's close frame was queued (RFC 6455 §7.1.2): open → close sent.
    fn close_sent_now(&mut self) {
        if matches!(self.phase, Phase::Open) {
            self.phase = Phase::CloseSent;
        }
    }

    /// The peer's close frame arrived: the close handshake is complete. If this side had not
    /// sent its close yet, the reply echoing the status code is queued first (RFC 6455
    /// §5.5.1). Only called while open or close sent (`next_message` reads nothing after).
    fn close_received_now(&mut self, frame: Option<CloseFrame>) {
        if matches!(self.phase, Phase::Open) {
            let reply = frame
                .as_ref()
                .map_or_else(Bytes::new, |f| CloseFrame::new(f.code, "").encode());
            self.encoder.control(OpCode::Close, reply, &mut self.out);
        }
        self.phase = Phase::Closed(frame);
    }

    /// The connection is failed (RFC 6455 §7.1.7): `frame` is queued as the close frame
    /// (an empty one for `None`) unless this side sent its close already.
    fn failed_now(&mut self, frame: Option<&CloseFrame>, failure: Failure) {
        if matches!(self.phase, Phase::Open) {
            let payload = frame.map_or_else(Bytes::new, CloseFrame::encode);
            self.encoder.control(OpCode::Close, payload, &mut self.out);
        }
        self.phase = Phase::Failed(failure);
    }
}
