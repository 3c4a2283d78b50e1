//! The outgoing byte queue: small frames are coalesced into one buffer, large payloads are
//! queued as shared `Bytes` without a copy, and the driver writes it all with vectored writes.
#![forbid(unsafe_code)]

use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;

/// Payloads at least this large are queued by reference instead of copied (server role only:
/// a client must mask, which needs a copy).
pub const ZERO_COPY_MIN: usize = 4096;
// `put_small_unmasked_frame` writes a copied payload's length in the 16-bit form at most.
const _: () = assert!(ZERO_COPY_MIN <= 0x1_0000);

/// Bytes waiting to be written to the transport, in order.
#[derive(Debug, Default)]
pub struct WriteBuffer {
    /// Chunks before `tail`, oldest first.
    chunks: VecDeque<Bytes>,
    /// The newest bytes; small frames are appended here.
    tail: BytesMut,
    len: usize,
    /// The most bytes buffered since the buffer was last drained.
    peak: usize,
    /// Drains in a row whose peak stayed small.
    small_drains: u32,
}

/// A tail grown past this is let go after `SHRINK_AFTER` small drains in a row.
const SHRINK_ABOVE: usize = 64 * 1024;
const SHRINK_AFTER: u32 = 32;
/// The least room made in the tail when it is full: enough for the small frames of an idle
/// connection (pings, a Socket.IO open packet) without keeping more for each (an idle
/// connection keeps its tail; past this, the tail grows by doubling and keeps its size).
const TAIL_MIN: usize = 128;

impl WriteBuffer {
    /// An empty buffer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes waiting to be written.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits to be written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether [`Self::put_bytes`] copies a payload of `len` bytes into the buffer (small ones)
    /// rather than queueing it by reference.
    #[must_use]
    pub fn copies(len: usize) -> bool {
        len < ZERO_COPY_MIN
    }

    /// Makes room for `n` more copied bytes (a frame's header and small payload at once).
    /// Room is made for at least 128 bytes: a buffer sized to one small frame would need a
    /// reserve (moving its start back) for every frame.
    pub fn reserve(&mut self, n: usize) {
        if self.tail.capacity() - self.tail.len() < n {
            self.tail.reserve(n.max(TAIL_MIN));
        }
    }

    /// Appends bytes by copying them.
    pub fn put_slice(&mut self, data: &[u8]) {
        self.reserve(data.len());
        self.tail.extend_from_slice(data);
        self.len += data.len();
        self.peak = self.peak.max(self.len);
    }

    /// Appends `data` copied and masked with `key` (client frames).
    pub fn put_masked(&mut self, data: &[u8], key: [u8; 4]) {
        let start = self.tail.len();
        self.reserve(data.len());
        self.tail.extend_from_slice(data);
        super::mask::apply_mask(&mut self.tail[start..], key, 0);
        self.len += data.len();
        self.peak = self.peak.max(self.len);
    }

    /// Appends a small unmasked (server) frame, copied: `first` is its first byte (FIN, RSV,
    /// opcode), then the payload length in its 7- or 16-bit form (RFC 6455 §5.2), then the
    /// payload. One check for room and a constant-length header store per form. For payloads
    /// that [`Self::copies`]; larger ones take their header and [`Self::put_bytes`].
    #[inline]
    pub fn put_small_unmasked_frame(&mut self, first: u8, payload: &[u8]) {
        let len = payload.len();
        debug_assert!(Self::copies(len), "a {len}-byte payload is not copied");
        let n = if len <= 125 { 2 } else { 4 } + len;
        self.reserve(n);
        if len <= 125 {
            self.tail.extend_from_slice(&[first, len as u8]);
        } else {
            let [hi, lo] = (len as u16).to_be_bytes();
            self.tail.extend_from_slice(&[first, 126, hi, lo]);
        }
        self.tail.extend_from_slice(payload);
        self.len += n;
        self.peak = self.peak.max(self.len);
    }

    /// Appends shared bytes: without a copy when large, copied into the tail when small.
    pub fn put_bytes(&mut self, data: Bytes) {
        if Self::copies(data.len()) {
            self.put_slice(&data);
            return;
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.len += data.len();
        self.peak = self.peak.max(self.len);
        self.chunks.push_back(data);
    }

    /// Fills `dst` with the buffered bytes in order and returns how many slices were used.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for chunk in &self.chunks {
            if n == dst.len() {
                return n;
            }
            dst[n] = IoSlice::new(chunk);
            n += 1;
        }
        if n < dst.len() && !self.tail.is_empty() {
            dst[n] = IoSlice::new(&self.tail);
            n += 1;
        }
        n
    }

    /// The first contiguous run of buffered bytes (for transports without vectored writes).
    #[must_use]
    pub fn chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(c) => c,
            None => &self.tail,
        }
    }

    /// Drops the first `n` bytes, which were written.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        if n >= self.len && self.chunks.is_empty() {
            // All of it was written (the common case): the tail starts over at the front of
            // its allocation, with nothing to move.
            self.tail.clear();
            self.drained();
            return;
        }
        self.advance_part(n);
    }

    /// [`Self::advance`] through shared chunks or part of the tail.
    #[inline(never)]
    fn advance_part(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(front) if front.len() <= n => {
                    n -= front.len();
                    self.chunks.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    break;
                }
            }
        }
        if self.len == 0 {
            self.tail.clear();
            self.drained();
        }
    }

    /// Everything was written. Let a large buffer go once writes have been small for a while:
    /// steady large writes keep it (no allocation per message), a burst does not pin it.
    fn drained(&mut self) {
        self.len = 0;
        if self.peak > SHRINK_ABOVE {
            self.small_drains = 0;
        } else {
            self.small_drains = self.small_drains.saturating_add(1);
        }
        self.peak = 0;
        if self.small_drains >= SHRINK_AFTER && self.tail.capacity() > SHRINK_ABOVE {
            self.tail = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(buf: &mut WriteBuffer, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let mut slices = [IoSlice::new(&[]); 8];
            let n = buf.io_slices(&mut slices);
            let mut written = Vec::new();
            for s in &slices[..n] {
                written.extend_from_slice(s);
            }
            let take = step.min(written.len());
            out.extend_from_slice(&written[..take]);
            buf.advance(take);
        }
        out
    }

    #[test]
    fn order_is_kept_across_copied_and_shared_parts() {
        for step in [1, 3, 100, 5000, usize::MAX] {
            let mut buf = WriteBuffer::new();
            let big = Bytes::from(vec![7u8; ZERO_COPY_MIN + 10]);
            buf.put_slice(b"ab");
            buf.put_bytes(big.clone());
            buf.put_slice(b"cd");
            buf.put_bytes(Bytes::from_static(b"ef"));
            let mut expected = b"ab".to_vec();
            expected.extend_from_slice(&big);
            expected.extend_from_slice(b"cdef");
            assert_eq!(buf.len(), expected.len());
            assert_eq!(drain(&mut buf, step), expected, "step {step}");
            assert!(buf.is_empty());
        }
    }
}
