//! The write side of the core: messages into frames in a [`WriteBuffer`].
//!
//! A server's frame is a header in the coalescing buffer followed by the payload, copied when
//! small and shared when large. A client's frame is masked (RFC 6455 §5.3) with a fresh key,
//! which needs a copy.
#![forbid(unsafe_code)]

use super::extension::Extension;
use super::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, RSV_MASK};
use super::role::Role;
use super::write_buf::WriteBuffer;
use crate::proto::error::ProtocolError;
use bytes::{Bytes, BytesMut};

/// Masking keys: wyrand seeded from the operating system's entropy.
///
/// RFC 6455 §5.3 asks for keys a script in a browser cannot predict; this generator is seeded
/// per connection from `getrandom`, and the keys never leave the process except masked into the
/// frames they protect. A per-frame system call would cost more than the frame.
#[derive(Debug)]
struct MaskRng(u64);

impl MaskRng {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        if getrandom::fill(&mut seed).is_err() {
            // No OS entropy: fall back to the clock and an address, which still varies per
            // connection and per process.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let addr = (&raw const seed).addr() as u64;
            seed = (nanos ^ addr.rotate_left(32)).to_ne_bytes();
        }
        Self(u64::from_ne_bytes(seed))
    }

    fn next_key(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((((t >> 64) as u64) ^ (t as u64)) as u32).to_ne_bytes()
    }
}

/// Encodes outgoing messages into frames.
pub struct Encoder {
    role: Role,
    rng: MaskRng,
    scratch: BytesMut,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for `role` (a client masks its frames).
    #[must_use]
    pub fn new(role: Role) -> Self {
        Self {
            role,
            rng: MaskRng::new(),
            scratch: BytesMut::new(),
        }
    }

    /// Encodes a whole text or binary message as one frame, through `extension` if given.
    ///
    /// # Errors
    /// The extension failed to encode.
    // `always`, as `frame`: a call per message costs its register saves, and LLVM kept both
    // out of line with a plain `#[inline]` (callgrind, issue 17).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn data(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        extension: Option<&mut (dyn Extension + '_)>,
        out: &mut WriteBuffer,
    ) -> Result<(), ProtocolError> {
        if let Some(ext) = extension {
            self.scratch.clear();
            if let Some(rsv) = ext.encode(&payload, &mut self.scratch)? {
                let encoded = self.scratch.split().freeze();
                self.frame(true, rsv, opcode, encoded, out);
                return Ok(());
            }
        }
        self.frame(true, 0, opcode, payload, out);
        Ok(())
    }

    /// Encodes a control frame (close, ping, pong); the caller has checked the 125-byte limit.
    pub fn control(&mut self, opcode: OpCode, payload: Bytes, out: &mut WriteBuffer) {
        self.frame(true, 0, opcode, payload, out);
    }

    /// Encodes one frame.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn frame(
        &mut self,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload: Bytes,
        out: &mut WriteBuffer,
    ) {
        let key = match self.role {
            Role::Server => return put_server_frame(fin, rsv, opcode, payload, out),
            Role::Client => self.rng.next_key(),
        };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: Some(key),
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        out.reserve(n + payload.len());
        out.put_slice(&head[..n]);
        out.put_masked(&payload, key);
    }
}

/// Encodes one unmasked (server) frame into `out`: the header, then the payload, copied when
/// small and queued by reference when large.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn put_server_frame(
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    payload: Bytes,
    out: &mut WriteBuffer,
) {
    if WriteBuffer::copies(payload.len()) {
        // RFC 6455 §5.2: FIN, RSV and opcode, then the unmasked length. A small server frame
        // (one per echoed message) is written by the buffer with constant-length stores
        // rather than through `FrameHeader` (issue 17).
        let first = (u8::from(fin) << 7) | (rsv & RSV_MASK) | opcode as u8;
        out.put_small_unmasked_frame(first, &payload);
        return;
    }
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    // A large server payload is queued by reference, after its header.
    out.put_slice(&head[..n]);
    out.put_bytes(payload);
}

/// Encodes a complete unmasked (server) frame into one shared buffer, for sending the same
/// message to many connections: encode once, queue the `Bytes` on each.
#[must_use]
pub fn encode_server_frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut buf = BytesMut::with_capacity(n + payload.len());
    buf.extend_from_slice(&head[..n]);
    buf.extend_from_slice(payload);
    buf.freeze()
}
