//! `Utf8Bytes::as_str` is one of the crate's `unsafe` blocks (`from_utf8_unchecked`, kept because a
//! checked conversion costs a UTF-8 pass per call: measured with simdutf8 0.1.5 on this
//! machine, about 25 ns for 32 bytes, 130-600 ns for 1 KiB and 4-19 us for 64 KiB, against a
//! few hundred ns to echo a small message). Its soundness rests on one invariant: every way to
//! obtain a `Utf8Bytes` yields valid UTF-8 (the one unchecked constructor, `from_validated`, is
//! an `unsafe fn` of the crate's own, called by the decoder after validating). These tests take every public way — the
//! constructors, and text messages decoded by the core whole, fragmented (split inside a code
//! point) and compressed — and check `as_str` against a checked conversion of the same bytes.
//! Pure (no I/O, no tokio), so they also run under Miri: `scripts/miri.sh` (passes; by hand,
//! not in CI: it needs a nightly toolchain, which the project's machines do not have).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::Bytes;
use wsx::proto::deflate::{DeflateCodec, DeflateConfig, DeflateParams};
use wsx::proto::{Limits, Message, Protocol, Role, Utf8Bytes};

const SAMPLES: [&str; 4] = [
    "",
    "hello",
    "h\u{e9}llo \u{3b1}\u{3b2}\u{3b3} \u{1f600}",
    "\u{10ffff}",
];

fn check(text: &Utf8Bytes) {
    let checked = std::str::from_utf8(text.as_bytes()).expect("a Utf8Bytes holds invalid UTF-8");
    assert_eq!(text.as_str(), checked);
    assert_eq!(&**text, checked);
    assert_eq!(text.to_string(), checked);
}

#[test]
fn every_constructor_yields_valid_utf8() {
    for sample in SAMPLES {
        check(&Utf8Bytes::from(sample));
        check(&Utf8Bytes::from(sample.to_owned()));
        check(&Utf8Bytes::try_from_bytes(Bytes::from(sample)).unwrap());
        let Message::Text(text) = Message::text(sample) else {
            panic!("Message::text made something else")
        };
        check(&text);
    }
    for invalid in [
        &b"\xff"[..],
        b"\xc3",
        b"\xed\xa0\x80",
        b"ok\xf4\x90\x80\x80",
    ] {
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(invalid)).is_err());
    }
}

/// Sends `text` from a client core to a server core, `split` bytes at a time, and returns what
/// the server decoded.
fn through_the_core(text: &str, compressed: bool, fragment: bool, split: usize) -> Utf8Bytes {
    let mut client = Protocol::new(Role::Client, Limits::default(), 64);
    let mut server = Protocol::new(Role::Server, Limits::default(), 64);
    if compressed {
        let config = DeflateConfig {
            threshold: 0,
            ..DeflateConfig::default()
        };
        let params = DeflateParams::default();
        client.set_extension(Box::new(DeflateCodec::new(Role::Client, params, &config)));
        server.set_extension(Box::new(DeflateCodec::new(Role::Server, params, &config)));
    }
    if fragment {
        // Two frames cut inside the text's bytes (possibly inside a code point, RFC 6455 §8.1:
        // only the whole message must be UTF-8), masked as a client must.
        let bytes = text.as_bytes();
        let cut = bytes.len() / 2 + 1;
        let (a, b) = bytes.split_at(cut.min(bytes.len()));
        let mut frames = Vec::new();
        for (opcode, fin, part) in [(0x1u8, false, a), (0x0, true, b)] {
            frames.push(if fin { 0x80 } else { 0 } | opcode);
            frames.push(0x80 | u8::try_from(part.len()).unwrap());
            frames.extend_from_slice(&[0, 0, 0, 0]);
            frames.extend_from_slice(part);
        }
        for piece in frames.chunks(split) {
            server.receive_data(piece);
        }
    } else {
        client.send(Message::text(text)).unwrap();
        let out = client.write_buffer();
        let mut wire = Vec::new();
        while !out.is_empty() {
            let chunk = out.chunk().to_vec();
            out.advance(chunk.len());
            wire.extend_from_slice(&chunk);
        }
        for piece in wire.chunks(split) {
            server.receive_data(piece);
        }
    }
    match server.next_message() {
        Ok(Some(Message::Text(text))) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn decoded_text_messages_are_valid_utf8() {
    for sample in SAMPLES {
        for compressed in [false, true] {
            for split in [1, 3, 1000] {
                let text = through_the_core(sample, compressed, false, split);
                check(&text);
                assert_eq!(text.as_str(), sample);
            }
        }
        for split in [1, 2, 1000] {
            let text = through_the_core(sample, false, true, split);
            check(&text);
            assert_eq!(text.as_str(), sample);
        }
    }
}
