//! A message deflated once for many connections: the frame a broadcast shares between every
//! connection whose server side compresses without context takeover (RFC 7692 §7.1.1.1,
//! `server_no_context_takeover`) at the same level and window.
//!
//! Without context takeover every message is compressed from an empty window, so its
//! compressed bytes depend only on the payload, the level and the window size, never on what
//! the connection sent before: one compression serves every such connection, where context
//! takeover compresses once per recipient (each connection's window differs). The price is the
//! ratio: on the `deflate` bench's JSON corpus about 0.86 of the plain size instead of 0.29
//! with takeover (the module docs' table; the README's broadcast table compares both).
#![forbid(unsafe_code)]

use super::codec::deflate_into;
use super::shared::History;
use crate::proto::error::ProtocolError;
use crate::proto::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, RSV1};
use bytes::{Buf, Bytes, BytesMut};
use flate2::Compression;

/// The complete server frame (FIN, RSV1, unmasked) of `payload` deflated from an empty window
/// with `level` and a window of `window_bits` (9..=15), its sync-flush tail stripped (RFC 7692
/// §7.2.1): what a connection compressing without context takeover with these settings sends
/// for it.
///
/// # Errors
/// The compressor failed.
pub fn deflate_frame(
    opcode: OpCode,
    payload: &[u8],
    level: u32,
    window_bits: u8,
) -> Result<Bytes, ProtocolError> {
    // One buffer: the body is compressed after room for the longest header, which is then
    // written just before it (its length depends on the body's), so nothing is copied.
    let mut frame = BytesMut::with_capacity(MAX_HEADER_LEN + payload.len() + 64);
    frame.resize(MAX_HEADER_LEN, 0);
    if payload.is_empty() {
        // RFC 7692 §7.2.3.6, as `DeflateCodec` sends it.
        frame.extend_from_slice(&[0x00]);
    } else {
        // The thread's compressor, reset for a fresh stream (a history without takeover keeps
        // nothing): no compressor is allocated per broadcast.
        let level = Compression::new(level.min(9));
        let bits = window_bits.clamp(9, 15);
        History::new(bits, false).compress(level, bits, payload, |deflater| {
            deflate_into(deflater, payload, &mut frame)
        })?;
    }
    let header = FrameHeader {
        fin: true,
        rsv: RSV1,
        opcode,
        mask: None,
        payload_len: (frame.len() - MAX_HEADER_LEN) as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let start = MAX_HEADER_LEN - n;
    frame[start..MAX_HEADER_LEN].copy_from_slice(&head[..n]);
    frame.advance(start);
    Ok(frame.freeze())
}
