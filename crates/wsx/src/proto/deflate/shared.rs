//! The compressor shared by the connections of a thread ([`super::CompressorMode::Shared`], the
//! default), and the history each connection keeps instead of a compressor of its own.
//!
//! Why: zlib-rs's compressor state is large whatever the window. Its hash table has a fixed
//! 64 Ki entries (128 KiB; unlike C zlib, memLevel does not shrink it), plus two windows of
//! buffer, the previous-match chain and 112 KB of symbol buffers: about 380 KB at 15 window
//! bits, still 251 KB at 9. Kept per connection that is 4 GB for 10,000 connections that
//! compress.
//!
//! What context takeover (RFC 7692 §7.1.1) needs between two messages is much less: the peer's
//! inflater can only refer back into its window of what we sent, so our compressor's state is
//! only worth the tail of our output that it may point at. A connection keeps that tail, its
//! last [`HISTORY`] bytes sent (at most its negotiated window), and each message is compressed
//! by its thread's compressor. When that compressor last served this same connection, at its
//! latest message (a connection can move between the threads of a runtime), with the same
//! settings, it simply goes on (the common case of one busy connection, and the benches);
//! otherwise it is reset and primed with the connection's history (`deflateSetDictionary`,
//! RFC 1950 §2.2's preset dictionary applied to a raw stream). Every back-reference then points
//! at bytes the peer holds in its window, so the peer's inflater, which just continues its
//! stream, decodes it as if one compressor had run all along.
//!
//! The price is CPU when connections take turns: a reset clears the 128 KiB hash table and the
//! priming hashes the history (the `deflate` bench measures both).
#![forbid(unsafe_code)]

use crate::proto::error::{ExtensionError, ProtocolError};
use flate2::{Compress, Compression};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most of its own output a connection keeps for context takeover. 8 KiB keeps the wire
/// ratio on the bench's JSON corpus within 0.35 of the plain size (the window a 13-bit
/// compressor has), at a sixth of the memory of a 32 KiB window plus its state.
pub const HISTORY: usize = 8 * 1024;

/// Ids of histories, so that the thread's compressor knows whose stream it holds (0: nobody's).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Whose stream a compressor holds: a history's id and how many messages it had compressed.
/// The count matters because a connection can move between threads (a multi-thread runtime):
/// the compressor of a thread it left still holds its stream as it was then, not as it is.
type Owner = (u64, u64);

/// The thread's compressor and whose stream it is in the middle of.
struct Cached {
    compress: Compress,
    level: u32,
    bits: u8,
    /// The stream the compressor continues ((0, _): none, it must be reset first).
    owner: Owner,
    /// Freshly reset: nothing to clear before a new stream.
    clean: bool,
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

/// What one connection keeps between the messages it compresses.
#[derive(Debug)]
pub struct History {
    id: u64,
    /// Messages compressed so far.
    sent: u64,
    /// The last bytes sent, oldest first, at most `limit` of them.
    bytes: VecDeque<u8>,
    limit: usize,
}

impl History {
    /// The history of a connection compressing with a window of `window_bits` (its tail is
    /// all the peer can refer to) and, without context takeover, none at all.
    pub fn new(window_bits: u8, takeover: bool) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sent: 0,
            bytes: VecDeque::new(),
            limit: if takeover {
                HISTORY.min(1 << window_bits)
            } else {
                0
            },
        }
    }

    /// Runs `compress` with the thread's compressor set up to continue this connection's
    /// stream (without context takeover: to start a fresh one), then records `payload` as sent.
    pub fn compress(
        &mut self,
        level: Compression,
        bits: u8,
        payload: &[u8],
        compress: impl FnOnce(&mut Compress) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        COMPRESSOR.with(|cell| {
            let mut cell = cell.borrow_mut();
            let cached = match cell.as_mut() {
                Some(c) if c.level == level.level() && c.bits == bits => c,
                _ => cell.insert(Cached {
                    compress: Compress::new_with_window_bits(level, false, bits),
                    level: level.level(),
                    bits,
                    owner: (0, 0),
                    clean: true,
                }),
            };
            if self.limit == 0 || cached.owner != (self.id, self.sent) {
                if !cached.clean {
                    cached.compress.reset();
                }
                if !self.bytes.is_empty() {
                    cached
                        .compress
                        .set_dictionary(self.bytes.make_contiguous())
                        .map_err(|e| ProtocolError::Extension(ExtensionError::Deflate(e)))?;
                }
            }
            // Until it succeeds the compressor's state is nobody's.
            cached.owner = (0, 0);
            cached.clean = false;
            compress(&mut cached.compress)?;
            self.sent += 1;
            if self.limit > 0 {
                cached.owner = (self.id, self.sent);
            }
            Ok(())
        })?;
        self.record(payload);
        Ok(())
    }

    /// Keeps the last `limit` bytes of what was sent.
    fn record(&mut self, payload: &[u8]) {
        if self.limit == 0 {
            return;
        }
        let tail = &payload[payload.len().saturating_sub(self.limit)..];
        let excess = (self.bytes.len() + tail.len()).saturating_sub(self.limit);
        self.bytes.drain(..excess);
        if self.bytes.capacity() == 0 {
            self.bytes.reserve_exact(self.limit);
        }
        self.bytes.extend(tail);
    }
}
