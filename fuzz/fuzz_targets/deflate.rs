//! The permessage-deflate codec (RFC 7692) on its own, with parameters chosen by the input:
//! either role, context takeover on or off each way, every window size 8..=15 each way, any
//! compression level, small or large message limits.
//!
//! Two modes, chosen by the input:
//! - raw: arbitrary bytes inflated as the frames of compressed messages. It must never panic,
//!   never let a message's output pass its limit by more than the one byte that detects the
//!   overflow (decompression bombs), and fail only with the codes RFC 7692 §8 / RFC 6455 §7.4.1
//!   allow (1002 for bad DEFLATE data, 1009 for a message over the limit).
//! - round trip: messages cut from the input are compressed by the peer's codec, the compressed
//!   bytes split into frames at input-chosen points, and inflated by ours: what comes out must be
//!   exactly what went in, message after message (context takeover carries the window across).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wsx::proto::deflate::{DeflateCodec, DeflateConfig, DeflateParams};
use wsx::proto::{CloseCode, Extension, Role};

/// Takes the next byte, or 0 past the end, so every input is a valid program.
fn next(data: &mut &[u8]) -> u8 {
    let Some((&b, rest)) = data.split_first() else {
        return 0;
    };
    *data = rest;
    b
}

/// Takes up to `n` bytes.
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = data.split_at(n.min(data.len()));
    *data = rest;
    head
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let flags = next(&mut data);
    let bits = next(&mut data);
    let tuning = next(&mut data);
    let params = DeflateParams {
        server_no_context_takeover: flags & 1 != 0,
        client_no_context_takeover: flags & 2 != 0,
        // RFC 7692 §7.1.2: window sizes 8..=15, each direction on its own.
        server_max_window_bits: 8 + (bits & 7),
        client_max_window_bits: 8 + ((bits >> 3) & 7),
    };
    let (ours, theirs) = if flags & 4 == 0 {
        (Role::Server, Role::Client)
    } else {
        (Role::Client, Role::Server)
    };
    let config = DeflateConfig {
        threshold: 0,
        level: u32::from(tuning % 10),
        ..DeflateConfig::default()
    };
    let limit = if tuning & 0x80 == 0 { 1024 } else { 1 << 20 };
    let mut decoder = DeflateCodec::new(ours, params, &config);
    assert_eq!(
        decoder.rsv_bits(),
        0x40,
        "RFC 7692 §6: RSV1 marks a compressed message"
    );

    if flags & 8 == 0 {
        // Raw: each frame is [len][fin/end flag][payload].
        let mut out = BytesMut::new();
        while !data.is_empty() {
            let len = usize::from(next(&mut data)) * 4;
            let fin = next(&mut data) & 1 == 1;
            let payload = take(&mut data, len);
            match decoder.decode(payload, fin, &mut out, limit) {
                Ok(()) => assert!(out.len() <= limit, "{} bytes out, limit {limit}", out.len()),
                Err(err) => {
                    // One byte of room past the limit is how an overflow is seen.
                    assert!(
                        out.len() <= limit + 1,
                        "{} bytes out, limit {limit}",
                        out.len()
                    );
                    let code = err.close_code();
                    assert!(
                        code == CloseCode::PROTOCOL_ERROR || code == CloseCode::MESSAGE_TOO_BIG,
                        "{err:?} fails with {code:?}"
                    );
                    // The core fails the connection on the first error: nothing follows.
                    return;
                }
            }
            if fin {
                out.clear();
            }
        }
        return;
    }

    // Round trip: [len][split points byte] + message bytes, repeated.
    let mut encoder = DeflateCodec::new(theirs, params, &config);
    while !data.is_empty() {
        let len = usize::from(next(&mut data)) * 8;
        let split = usize::from(next(&mut data));
        let message = take(&mut data, len);
        let mut compressed = BytesMut::new();
        let rsv = encoder
            .encode(message, &mut compressed)
            .expect("compressing a message in memory cannot fail");
        assert_eq!(rsv, Some(0x40), "threshold 0 compresses every message");
        // Split into frames: each frame `split + 1` bytes (one frame when split is 0).
        let step = if split == 0 {
            compressed.len().max(1)
        } else {
            split
        };
        let mut out = BytesMut::new();
        let frames: Vec<&[u8]> = if compressed.is_empty() {
            vec![&[]]
        } else {
            compressed.chunks(step).collect()
        };
        let last = frames.len() - 1;
        for (i, frame) in frames.into_iter().enumerate() {
            decoder
                .decode(frame, i == last, &mut out, 1 << 20)
                .expect("our own compressed output must inflate");
        }
        assert_eq!(&out[..], message, "a message changed in a round trip");
    }
});
