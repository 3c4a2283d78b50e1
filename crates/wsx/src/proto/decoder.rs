//! The read side of the core: frames out of a byte buffer, unmasked in place, reassembled into
//! messages, text validated as it arrives, limits enforced as soon as a header declares a size.
//!
//! A single-frame message is handed out as a slice of the read buffer (`BytesMut::split_to`
//! then `freeze`): no copy. Fragmented messages are copied into a reassembly buffer.
// `unsafe` only to hand out text it has validated without a second pass: the calls of
// `Decoder::message`, each right after its validation (see `Utf8Bytes::from_validated`).
#![deny(unsafe_code)]

use super::CloseFrame;
use super::extension::Extension;
use super::frame::{FrameHeader, OpCode};
use super::mask::apply_mask;
use super::message::{Message, Utf8Bytes};
use super::role::Role;
use super::utf8::Utf8Validator;
use crate::proto::error::ProtocolError;
use bytes::{Buf, Bytes, BytesMut};

/// Size limits for incoming data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame payload accepted, in bytes; a header declaring more fails the
    /// connection with 1009 before any of the payload is read.
    pub max_frame_size: usize,
    /// The largest message accepted (after decompression), in bytes; 1009 past it.
    pub max_message_size: usize,
}

impl Default for Limits {
    /// 16 MiB frames, 64 MiB messages.
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
        }
    }
}

/// A frame whose header has been read and whose payload is (partly) in the buffer.
#[derive(Debug)]
struct Pending {
    header: FrameHeader,
    len: usize,
    /// Payload bytes at the front of the buffer already unmasked (and validated, for text).
    processed: usize,
    /// Validate this frame's payload as text while it arrives.
    text: bool,
}

/// A fragmented message in progress.
#[derive(Debug)]
struct Partial {
    opcode: OpCode,
    compressed: bool,
    data: BytesMut,
    /// Wire bytes received so far for this message.
    wire_size: u64,
    /// For compressed text: output bytes already validated.
    validated: usize,
}

/// Decodes frames and messages from bytes.
pub struct Decoder {
    role: Role,
    limits: Limits,
    buf: BytesMut,
    pending: Option<Pending>,
    /// Boxed: a message in fragments is rare, and inline it would take 48 more bytes of
    /// every connection.
    partial: Option<Box<Partial>>,
    utf8: Utf8Validator,
    /// RSV bits the negotiated extension may set.
    extension_bits: u8,
    /// The smallest room made before a read (the configured read size).
    read_size: usize,
    /// The largest room made before a read, however fast data comes.
    max_read: usize,
    /// Room made before the next read: adapts between `read_size` and `max_read`.
    next_read: usize,
    /// Spare capacity offered to the last read.
    offered: usize,
    /// Reads in a row that used less than half of `next_read`.
    small_reads: u32,
    /// Frames no larger than `read_size` since the last larger one.
    small_frames: u32,
}

/// A grown read buffer is let go after this many small frames in a row.
const SHRINK_AFTER: u32 = 32;

/// The read size grows up to this (or the configured read size, if larger) while reads keep
/// filling the room they are given: many pipelined frames per system call.
pub(crate) const MAX_READ: usize = 128 * 1024;

/// The room a declared frame may reserve ahead of its bytes: a frame up to this size is read
/// into one allocation without regrowing; beyond it the buffer grows by at most what arrived
/// (doubling), so a header alone cannot make us allocate more than this.
pub(crate) const FRAME_LOOKAHEAD: usize = 64 * 1024;

/// After a frame larger than this is handed out, a drained buffer's leftover is let go rather
/// than kept (it may be most of a huge allocation).
const RELEASE_AFTER_FRAME: usize = 4 * MAX_READ;

/// Reads in a row that use less than half the room before the read size steps down.
const SHRINK_READ_AFTER: u32 = 4;

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("role", &self.role)
            .field("limits", &self.limits)
            .field("buffered", &self.buf.len())
            .field("pending", &self.pending)
            .field("extension_bits", &self.extension_bits)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder for `role` (a server decodes client frames). `read_size` is how much room is
    /// made in the read buffer before each read.
    #[must_use]
    pub fn new(role: Role, limits: Limits, read_size: usize) -> Self {
        Self {
            role,
            limits,
            buf: BytesMut::new(),
            pending: None,
            partial: None,
            utf8: Utf8Validator::new(),
            extension_bits: 0,
            small_frames: 0,
            read_size: read_size.max(64),
            max_read: read_size.max(MAX_READ),
            next_read: read_size.max(64),
            offered: 0,
            small_reads: 0,
        }
    }

    /// Makes the RSV bits of the negotiated extension legal on the first frame of a data
    /// message; such messages are then decoded through the extension passed to
    /// [`Self::decode_with`].
    pub fn set_extension_bits(&mut self, bits: u8) {
        self.extension_bits = bits;
    }

    /// The read buffer: bytes read from the transport are appended here (see
    /// [`Self::prepare_read`]).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes buffered and not yet decoded into a message.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Makes room in the read buffer for the next read and returns it; report how much the
    /// read brought with [`Self::note_read`].
    ///
    /// The room adapts: it starts at the configured read size, doubles (up to 128 KiB) while
    /// reads fill it, so pipelined frames come many per system call, and steps back down when
    /// reads come small. A declared frame reserves room for its rest, but at most 64 KiB ahead
    /// of its bytes (beyond that the buffer grows by what arrived, doubling): a header alone
    /// cannot make us allocate much. A large buffer that drains is let go once frames have
    /// been small for a while, so a burst does not pin memory.
    #[inline]
    pub fn prepare_read(&mut self) -> &mut BytesMut {
        let spare = self.buf.capacity() - self.buf.len();
        if self.pending.is_none() && self.buf.capacity() <= 4 * self.read_size {
            // The common cases, before every read: no frame in progress, no grown buffer to
            // let go. (What `make_room` would decide, without its work.)
            if spare >= self.next_read / 2 {
                // Room enough.
                self.offered = spare;
                return &mut self.buf;
            }
            if self.buf.is_empty() {
                // Every byte read was handed out: the allocation is taken back whole once the
                // messages sharing it are gone, with nothing to move (every few messages when
                // they are about 1 KiB; apart, it cost 10 instructions per message, issue 17).
                self.buf.reserve(self.next_read);
                self.offered = self.buf.capacity();
                return &mut self.buf;
            }
        }
        self.make_room()
    }

    /// [`Self::prepare_read`] when the buffer may have to grow, shrink or be let go: apart,
    /// so that the common case above is inlined into the read loop.
    #[inline(never)]
    fn make_room(&mut self) -> &mut BytesMut {
        let missing = self
            .pending
            .as_ref()
            .map_or(0, |p| p.len.saturating_sub(self.buf.len()));
        // The rare condition first: this runs before every read.
        if self.buf.capacity() > 4 * self.read_size
            && self.buf.is_empty()
            && missing == 0
            && self.next_read == self.read_size
            && self.small_frames >= SHRINK_AFTER
        {
            self.buf = BytesMut::new();
        }
        let buffered = self.buf.len();
        let ahead = missing.min(FRAME_LOOKAHEAD.saturating_sub(buffered).max(buffered));
        let want = self.next_read.max(ahead);
        // Half the read size left is room enough for a plain read (no reserve, which would
        // move the buffered bytes, after every small frame); a frame's rest needs all of it.
        let enough = if ahead > self.next_read / 2 {
            want
        } else {
            self.next_read / 2
        };
        if self.buf.capacity() - self.buf.len() < enough {
            self.buf.reserve(want);
        }
        self.offered = self.buf.capacity() - self.buf.len();
        &mut self.buf
    }

    /// Tells how many bytes the read into [`Self::prepare_read`]'s buffer brought, which sets
    /// the room made for the next one.
    #[inline]
    pub fn note_read(&mut self, n: usize) {
        if n >= self.offered.min(self.next_read) && n > 0 {
            // The read filled what it was given: more is probably waiting.
            self.next_read = (self.next_read * 2).min(self.max_read);
            self.small_reads = 0;
        } else if n < self.next_read / 2 && self.next_read > self.read_size {
            self.small_reads += 1;
            if self.small_reads >= SHRINK_READ_AFTER {
                self.next_read = (self.next_read / 2).max(self.read_size);
                self.small_reads = 0;
            }
        } else {
            self.small_reads = 0;
        }
    }

    /// The room the next read is given (see [`Self::prepare_read`]).
    #[must_use]
    pub fn next_read_size(&self) -> usize {
        self.next_read
    }

    /// The read buffer's allocated size.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends bytes (for drivers that read into their own buffer). A buffer that owns no
    /// memory yet is given a full `read_size` at once, so that the reads after it go straight
    /// into it.
    pub fn extend(&mut self, data: &[u8]) {
        if self.buf.capacity() == 0 && !data.is_empty() {
            self.buf.reserve(self.read_size.max(data.len()));
        }
        self.buf.extend_from_slice(data);
    }

    /// Decodes the next message or control frame from the buffered bytes; `Ok(None)` when more
    /// bytes are needed.
    ///
    /// # Errors
    /// The peer broke the protocol; the connection must be failed with the error's close code.
    /// Errors are reported as soon as the offending byte is buffered.
    pub fn decode(&mut self) -> Result<Option<Message>, ProtocolError> {
        self.decode_with(None)
    }

    /// As [`Self::decode`], with the negotiated extension that decodes messages whose first
    /// frame carried its RSV bits.
    ///
    /// # Errors
    /// As [`Self::decode`]; also the extension's errors.
    pub fn decode_with(
        &mut self,
        mut extension: Option<&mut (dyn Extension + '_)>,
    ) -> Result<Option<Message>, ProtocolError> {
        loop {
            if self.pending.is_none() {
                let Some((header, header_len)) = FrameHeader::decode(&self.buf)? else {
                    return Ok(None);
                };
                let pending = self.start_frame(header)?;
                self.buf.advance(header_len);
                self.pending = Some(pending);
            }
            let Some(pending) = self.pending.as_mut() else {
                return Ok(None);
            };
            let available = self.buf.len().min(pending.len);
            if available > pending.processed {
                let fresh = &mut self.buf[pending.processed..available];
                if let Some(key) = pending.header.mask {
                    apply_mask(fresh, key, pending.processed);
                }
                if pending.text {
                    // Fail fast: validate text as it arrives, not when the frame is complete.
                    self.utf8.feed(fresh)?;
                }
                pending.processed = available;
            }
            if available < pending.len {
                return Ok(None);
            }
            let header = pending.header;
            let len = pending.len;
            self.pending = None;
            let payload = self.buf.split_to(len);
            if len > self.read_size {
                self.small_frames = 0;
                if len > RELEASE_AFTER_FRAME && self.buf.is_empty() {
                    // The leftover of a huge frame's allocation: not worth pinning.
                    self.buf = BytesMut::new();
                }
            } else {
                self.small_frames = self.small_frames.saturating_add(1);
            }
            if let Some(message) = self.finish_frame(header, payload, extension.as_deref_mut())? {
                return Ok(Some(message));
            }
        }
    }

    /// A whole single-frame data message, when one is buffered and no frame or fragmented
    /// message is in progress (see `decode_whole`); `None` when [`Self::decode_with`] must
    /// decide. Errors are those of [`Self::decode_with`] for the same bytes. A driver tries
    /// this first and calls `decode_with` only when it gives `None` (as `Protocol` does);
    /// `decode_with` does not try it again.
    #[inline]
    pub fn decode_whole_message(&mut self) -> Option<Result<Message, ProtocolError>> {
        if self.pending.is_none() && self.partial.is_none() {
            self.decode_whole()
        } else {
            None
        }
    }

    /// The common case in one step: a whole single-frame data message (FIN set, no RSV bits,
    /// text or binary, masked as the role requires, length in the 7- or 16-bit form, within the
    /// limits) is buffered while no frame or fragmented message is in progress. Anything else
    /// (`None`), including every error, goes the general way, which checks the rules one by
    /// one; this saves it the frame-in-progress bookkeeping: about 105 instructions per echoed
    /// message (callgrind, issue 17). Kept out of line: inlined into `Protocol::next_message`,
    /// it left its own calls (`freeze`, `advance`) out of line, 40 instructions more.
    #[inline(never)]
    fn decode_whole(&mut self) -> Option<Result<Message, ProtocolError>> {
        let [b0, b1, ..] = *self.buf else { return None };
        // RFC 6455 §5.2: 0x81 and 0x82 are FIN with text or binary and no RSV bits.
        if b0 != 0x81 && b0 != 0x82 {
            return None;
        }
        let masked = b1 & 0x80 != 0;
        // §5.1: a client's frames are masked, a server's are not (the general path fails).
        if masked != (self.role == Role::Server) {
            return None;
        }
        let (len, mut pos) = match b1 & 0x7f {
            126 => {
                let b = self.buf.get(2..4)?;
                (usize::from(u16::from_be_bytes([b[0], b[1]])), 4)
            }
            127 => return None,
            n => (usize::from(n), 2),
        };
        let key = if masked {
            let k = self.buf.get(pos..pos + 4)?;
            pos += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        if len > self.limits.max_frame_size
            || len > self.limits.max_message_size
            || self.buf.len() - pos < len
        {
            return None;
        }
        let end = pos + len;
        if let Some(key) = key {
            apply_mask(&mut self.buf[pos..end], key, 0);
        }
        // Header and payload leave the buffer together; skipping the header is then a pointer
        // bump on the frozen `Bytes` (a `BytesMut::advance` on the buffer first cost 23 more
        // instructions per message).
        let mut payload = self.buf.split_to(end).freeze();
        payload.advance(pos);
        // At most 64 KiB: never the huge frame whose leftover decode_with lets go.
        if len > self.read_size {
            self.small_frames = 0;
        } else {
            self.small_frames = self.small_frames.saturating_add(1);
        }
        let text = b0 == 0x81;
        // §8.1: the whole text is here, so one pass validates it.
        if text && simdutf8::basic::from_utf8(&payload).is_err() {
            return Some(Err(ProtocolError::InvalidUtf8));
        }
        #[allow(unsafe_code)]
        // SAFETY: text was validated just above.
        Some(Ok(unsafe { Self::message(text, payload) }))
    }

    /// Checks a new frame's header against the connection state and the limits.
    fn start_frame(&mut self, header: FrameHeader) -> Result<Pending, ProtocolError> {
        // RFC 6455 §5.1: a server MUST fail on unmasked client frames, a client on masked ones.
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defines them. The extension
        // (RFC 7692 §6) defines them for the first frame of a data message only.
        if header.rsv != 0 {
            let allowed = match header.opcode {
                OpCode::Text | OpCode::Binary => self.extension_bits,
                _ => 0,
            };
            if header.rsv & !allowed != 0 {
                return Err(ProtocolError::ReservedBits);
            }
        }
        let size = header.payload_len;
        if size > self.limits.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge {
                size,
                limit: self.limits.max_frame_size as u64,
            });
        }
        // Fits in usize: bounded by max_frame_size.
        let len = size as usize;
        let text = match header.opcode {
            OpCode::Close | OpCode::Ping | OpCode::Pong => false,
            OpCode::Text | OpCode::Binary => {
                // RFC 6455 §5.4: a new message may not start inside a fragmented one.
                if self.partial.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                let compressed = header.rsv != 0;
                if !compressed && size > self.limits.max_message_size as u64 {
                    return Err(self.too_large(size));
                }
                let text = header.opcode == OpCode::Text;
                if text {
                    self.utf8.reset();
                }
                if !header.fin {
                    self.partial = Some(Box::new(Partial {
                        opcode: header.opcode,
                        compressed,
                        data: BytesMut::new(),
                        wire_size: size,
                        validated: 0,
                    }));
                }
                text && !compressed
            }
            OpCode::Continuation => {
                let limit = self.limits.max_message_size as u64;
                let Some(partial) = self.partial.as_mut() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                partial.wire_size += size;
                if !partial.compressed && partial.wire_size > limit {
                    let size = partial.wire_size;
                    return Err(self.too_large(size));
                }
                partial.opcode == OpCode::Text && !partial.compressed
            }
        };
        Ok(Pending {
            header,
            len,
            processed: 0,
            text,
        })
    }

    fn too_large(&self, size: u64) -> ProtocolError {
        ProtocolError::MessageTooLarge {
            size,
            limit: self.limits.max_message_size as u64,
        }
    }

    /// A frame's payload is complete: produce a message, or add to the one in progress.
    fn finish_frame(
        &mut self,
        header: FrameHeader,
        payload: BytesMut,
        extension: Option<&mut (dyn Extension + '_)>,
    ) -> Result<Option<Message>, ProtocolError> {
        // start_frame lets RSV bits through only with an extension's bits set.
        let mut extension = extension.ok_or(ProtocolError::ReservedBits);
        let limit = self.limits.max_message_size;
        match header.opcode {
            OpCode::Ping => Ok(Some(Message::Ping(payload.freeze()))),
            OpCode::Pong => Ok(Some(Message::Pong(payload.freeze()))),
            OpCode::Close => Ok(Some(Message::Close(CloseFrame::parse(&payload)?))),
            OpCode::Text | OpCode::Binary if header.fin => {
                let text = header.opcode == OpCode::Text;
                let data = if header.rsv == 0 {
                    if text {
                        self.utf8.finish(&[])?;
                    }
                    payload
                } else {
                    let mut out = BytesMut::new();
                    extension
                        .as_mut()
                        .map_err(|e| e.clone())?
                        .decode(&payload, true, &mut out, limit)?;
                    if text {
                        self.utf8.finish(&out)?;
                    }
                    out
                };
                #[allow(unsafe_code)]
                // SAFETY: text was validated whole by `utf8.finish` in either branch above
                // (the frame's payload fed to `utf8` as it arrived, or the inflated message).
                Ok(Some(unsafe { Self::message(text, data.freeze()) }))
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                let Some(mut partial) = self.partial.take() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                let text = partial.opcode == OpCode::Text;
                if partial.compressed {
                    extension.as_mut().map_err(|e| e.clone())?.decode(
                        &payload,
                        header.fin,
                        &mut partial.data,
                        limit,
                    )?;
                    if text {
                        self.utf8.feed(&partial.data[partial.validated..])?;
                        partial.validated = partial.data.len();
                    }
                } else {
                    partial.data.extend_from_slice(&payload);
                }
                if !header.fin {
                    self.partial = Some(partial);
                    return Ok(None);
                }
                if text {
                    self.utf8.finish(&[])?;
                }
                #[allow(unsafe_code)]
                // SAFETY: every fragment of a text message was fed to `utf8` as it arrived
                // (or as it was inflated), and `finish` just checked that none ends inside a
                // character.
                Ok(Some(unsafe { Self::message(text, partial.data.freeze()) }))
            }
        }
    }

    /// A text (`text`) or binary message of `data`.
    ///
    /// # Safety
    /// When `text`, `data` must be valid UTF-8 ([`Utf8Bytes::from_validated`]).
    #[inline]
    #[allow(unsafe_code)]
    unsafe fn message(text: bool, data: Bytes) -> Message {
        if text {
            // SAFETY: the caller's promise.
            Message::Text(unsafe { Utf8Bytes::from_validated(data) })
        } else {
            Message::Binary(data)
        }
    }
}
