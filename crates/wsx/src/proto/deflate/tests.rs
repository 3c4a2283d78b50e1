//! Tests of permessage-deflate: parameter tables, the RFC 7692 §7.2.3 examples, round trips at
//! every window size with and without context takeover, size limits, and both sides of the
//! handshake through the extension hook.
#![forbid(unsafe_code)]

use super::params::{self, ClientBits, Kind, ParamError, Params};
use super::{CompressorMode, DeflateCodec, DeflateConfig, DeflateParams, PerMessageDeflate};
use crate::handshake::parse_extensions;
use crate::proto::error::ProtocolError;
use crate::proto::frame::RSV1;
use crate::proto::{CloseCode, Extension, ExtensionFactory, ExtensionOffer, Role};
use bytes::BytesMut;

fn element(header: &str) -> ExtensionOffer {
    let mut offers = parse_extensions(header).unwrap();
    assert_eq!(offers.len(), 1, "{header}");
    offers.remove(0)
}

fn params(sn: bool, cn: bool, sb: u8, cb: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: sn,
        client_no_context_takeover: cn,
        server_max_window_bits: sb,
        client_max_window_bits: cb,
    }
}

/// A codec that compresses every message (no threshold) at level 6, zlib's default, which the
/// RFC 7692 examples were made with.
fn codec(role: Role, params: DeflateParams) -> DeflateCodec {
    codec_at(role, params, 6)
}

fn codec_at(role: Role, params: DeflateParams, level: u32) -> DeflateCodec {
    let config = DeflateConfig {
        threshold: 0,
        level,
        ..DeflateConfig::default()
    };
    DeflateCodec::new(role, params, &config)
}

fn encode(codec: &mut DeflateCodec, payload: &[u8]) -> Option<Vec<u8>> {
    let mut out = BytesMut::new();
    let rsv = codec.encode(payload, &mut out).unwrap()?;
    assert_eq!(rsv, RSV1);
    Some(out.to_vec())
}

/// Decodes one message given as frames.
fn decode(
    codec: &mut DeflateCodec,
    frames: &[&[u8]],
    limit: usize,
) -> Result<Vec<u8>, ProtocolError> {
    let mut out = BytesMut::new();
    for (i, frame) in frames.iter().enumerate() {
        codec.decode(frame, i + 1 == frames.len(), &mut out, limit)?;
    }
    Ok(out.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Parameters.

#[test]
fn parse_offer_parameters() {
    let cases: &[(&str, Result<Params, ParamError>)] = &[
        ("permessage-deflate", Ok(Params::default())),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Ok(Params {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..Params::default()
            }),
        ),
        (
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits",
            Ok(Params {
                server_max_window_bits: Some(8),
                client_max_window_bits: ClientBits::Any,
                ..Params::default()
            }),
        ),
        (
            "permessage-deflate; client_max_window_bits=\"15\"; Server_Max_Window_Bits=10",
            Ok(Params {
                server_max_window_bits: Some(10),
                client_max_window_bits: ClientBits::Max(15),
                ..Params::default()
            }),
        ),
        (
            "permessage-deflate; x_unknown",
            Err(ParamError::Unknown("x_unknown".into())),
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            Err(ParamError::Duplicate("server_no_context_takeover")),
        ),
        (
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            Err(ParamError::Duplicate("client_max_window_bits")),
        ),
        (
            "permessage-deflate; server_no_context_takeover=1",
            Err(ParamError::InvalidValue(
                "server_no_context_takeover",
                Some("1".into()),
            )),
        ),
        (
            "permessage-deflate; client_no_context_takeover=x",
            Err(ParamError::InvalidValue(
                "client_no_context_takeover",
                Some("x".into()),
            )),
        ),
        (
            "permessage-deflate; server_max_window_bits",
            Err(ParamError::InvalidValue("server_max_window_bits", None)),
        ),
    ];
    for (header, want) in cases {
        assert_eq!(
            &Params::parse(&element(header), Kind::Offer),
            want,
            "{header}"
        );
    }
    // Window bits: 8 to 15, decimal, no leading zeros, no sign.
    for value in ["8", "9", "10", "15"] {
        let offer = element(&format!(
            "permessage-deflate; server_max_window_bits={value}"
        ));
        assert!(Params::parse(&offer, Kind::Offer).is_ok(), "{value}");
    }
    for value in [
        "7",
        "16",
        "0",
        "08",
        "010",
        "-9",
        "+9",
        "9.0",
        "a",
        "255",
        "256",
        "99999999999",
    ] {
        for name in ["server_max_window_bits", "client_max_window_bits"] {
            let offer = element(&format!("permessage-deflate; {name}={value}"));
            assert!(
                matches!(
                    Params::parse(&offer, Kind::Offer),
                    Err(ParamError::InvalidValue(..))
                ),
                "{name}={value}"
            );
        }
    }
    // A response must give client_max_window_bits a value.
    assert_eq!(
        Params::parse(
            &element("permessage-deflate; client_max_window_bits"),
            Kind::Response
        ),
        Err(ParamError::InvalidValue("client_max_window_bits", None))
    );
}

#[test]
fn elements_round_trip() {
    for header in [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12",
        "permessage-deflate; client_max_window_bits",
    ] {
        let parsed = Params::parse(&element(header), Kind::Offer).unwrap();
        assert_eq!(parsed.to_element().to_string(), header);
    }
}

/// Server side: (config, offers header, response or None when declined, agreed parameters).
#[test]
fn server_negotiation_table() {
    let default = DeflateConfig::default();
    let small = DeflateConfig {
        server_max_window_bits: 10,
        client_max_window_bits: 11,
        ..DeflateConfig::default()
    };
    let no_takeover = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let cases: Vec<(&DeflateConfig, &str, Option<&str>, DeflateParams)> = vec![
        (
            &default,
            "permessage-deflate",
            Some("permessage-deflate"),
            params(false, false, 15, 15),
        ),
        // What browsers send.
        (
            &default,
            "permessage-deflate; client_max_window_bits",
            Some("permessage-deflate"),
            params(false, false, 15, 15),
        ),
        (
            &default,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            params(true, true, 15, 15),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9",
            Some("permessage-deflate; server_max_window_bits=8; client_max_window_bits=9"),
            params(false, false, 8, 9),
        ),
        // The server's own limits: announced, and the smaller of the two wins.
        (
            &small,
            "permessage-deflate",
            Some("permessage-deflate; server_max_window_bits=10"),
            params(false, false, 10, 15),
        ),
        (
            &small,
            "permessage-deflate; client_max_window_bits",
            Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=11"),
            params(false, false, 10, 11),
        ),
        (
            &small,
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
            Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"),
            params(false, false, 10, 9),
        ),
        (
            &small,
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=13",
            Some("permessage-deflate; server_max_window_bits=9; client_max_window_bits=11"),
            params(false, false, 9, 11),
        ),
        (
            &no_takeover,
            "permessage-deflate",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            params(true, true, 15, 15),
        ),
        // Several offers: the first valid one is answered.
        (
            &default,
            "permessage-deflate; server_max_window_bits=9; server_no_context_takeover, permessage-deflate",
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
            params(true, false, 9, 15),
        ),
        (
            &default,
            "permessage-deflate; bogus, permessage-deflate; server_max_window_bits=16, permessage-deflate; client_no_context_takeover",
            Some("permessage-deflate; client_no_context_takeover"),
            params(false, true, 15, 15),
        ),
        // Malformed offers are declined.
        (
            &default,
            "permessage-deflate; bogus",
            None,
            params(false, false, 15, 15),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits",
            None,
            params(false, false, 15, 15),
        ),
        (
            &default,
            "permessage-deflate; client_max_window_bits=7",
            None,
            params(false, false, 15, 15),
        ),
        (
            &default,
            "permessage-deflate; server_no_context_takeover=yes",
            None,
            params(false, false, 15, 15),
        ),
        (
            &default,
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            None,
            params(false, false, 15, 15),
        ),
    ];
    for (config, header, want, agreed) in cases {
        let offers = parse_extensions(header).unwrap();
        let factory = PerMessageDeflate::new(config.clone());
        let accepted = factory.accept(&offers);
        assert_eq!(
            accepted
                .as_ref()
                .map(|(resp, _)| resp.to_string())
                .as_deref(),
            want,
            "{header}"
        );
        if want.is_some() {
            // The agreed parameters, as the codec sees them.
            let first_valid = offers
                .iter()
                .find_map(|o| Params::parse(o, Kind::Offer).ok())
                .unwrap();
            assert_eq!(
                params::server_response(factory.config(), first_valid).1,
                agreed,
                "{header}"
            );
        }
    }
    // Disabled: nothing is accepted or offered.
    let off = PerMessageDeflate::new(DeflateConfig {
        enabled: false,
        ..DeflateConfig::default()
    });
    assert!(off.accept(&[element("permessage-deflate")]).is_none());
    assert!(off.offer().is_empty());
}

/// Client side: (config, expected offer, response, Ok(agreed) or the error).
#[test]
fn client_negotiation_table() {
    let default = DeflateConfig::default();
    let demanding = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 10,
        client_max_window_bits: 12,
        ..DeflateConfig::default()
    };
    let default_offer = "permessage-deflate; client_max_window_bits, permessage-deflate; client_no_context_takeover; client_max_window_bits";
    let demanding_offer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12";
    let cases: Vec<(
        &DeflateConfig,
        &str,
        &str,
        Result<DeflateParams, ParamError>,
    )> = vec![
        (
            &default,
            default_offer,
            "permessage-deflate",
            Ok(params(false, false, 15, 15)),
        ),
        (
            &default,
            default_offer,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8",
            Ok(params(true, true, 9, 8)),
        ),
        (
            &default,
            default_offer,
            "permessage-deflate; client_max_window_bits",
            Err(ParamError::InvalidValue("client_max_window_bits", None)),
        ),
        (
            &default,
            default_offer,
            "permessage-deflate; unknown=1",
            Err(ParamError::Unknown("unknown".into())),
        ),
        (
            &default,
            default_offer,
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            Err(ParamError::Duplicate("server_max_window_bits")),
        ),
        (
            &default,
            default_offer,
            "permessage-deflate; server_max_window_bits=16",
            Err(ParamError::InvalidValue(
                "server_max_window_bits",
                Some("16".into()),
            )),
        ),
        (
            &demanding,
            demanding_offer,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
            Ok(params(true, true, 10, 12)),
        ),
        (
            &demanding,
            demanding_offer,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9",
            Ok(params(true, true, 8, 9)),
        ),
        (
            &demanding,
            demanding_offer,
            "permessage-deflate; server_max_window_bits=10",
            Err(ParamError::NotGranted("server_no_context_takeover")),
        ),
        (
            &demanding,
            demanding_offer,
            "permessage-deflate; server_no_context_takeover",
            Err(ParamError::NotGranted("server_max_window_bits")),
        ),
        (
            &demanding,
            demanding_offer,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
            Err(ParamError::WindowTooLarge("server_max_window_bits", 11)),
        ),
        (
            &demanding,
            demanding_offer,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=13",
            Err(ParamError::WindowTooLarge("client_max_window_bits", 13)),
        ),
    ];
    for (config, offer, response, want) in cases {
        let factory = PerMessageDeflate::new(config.clone());
        let offers = factory.offer();
        let offers: Vec<String> = offers.iter().map(ToString::to_string).collect();
        assert_eq!(offers.join(", "), offer);
        let answered = Params::parse(&element(response), Kind::Response);
        let got = answered.and_then(|a| params::client_confirm(params::client_offer(config), a));
        assert_eq!(got, want, "{response}");
        assert_eq!(
            factory.confirm(&element(response)).is_ok(),
            want.is_ok(),
            "{response}"
        );
    }
    // A response with client_max_window_bits to an offer without it.
    let offered = Params::default();
    let answered = Params::parse(
        &element("permessage-deflate; client_max_window_bits=10"),
        Kind::Response,
    )
    .unwrap();
    assert_eq!(
        params::client_confirm(offered, answered),
        Err(ParamError::NotOffered("client_max_window_bits"))
    );
    // The error names the response and the reason.
    let err = PerMessageDeflate::default()
        .confirm(&element("permessage-deflate; foo"))
        .unwrap_err();
    assert!(err.to_string().contains("unknown parameter foo"), "{err}");
}

#[test]
fn config_is_normalized() {
    let factory = PerMessageDeflate::new(DeflateConfig {
        server_max_window_bits: 3,
        client_max_window_bits: 200,
        level: 42,
        ..DeflateConfig::default()
    });
    assert_eq!(factory.config().server_max_window_bits, 8);
    assert_eq!(factory.config().client_max_window_bits, 15);
    assert_eq!(factory.config().level, 9);
}

// ---------------------------------------------------------------------------------------------
// The RFC 7692 §7.2.3 examples.

const HELLO: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc_7692_examples_decode() {
    let limit = 1 << 20;
    let mut c = codec(Role::Client, DeflateParams::default());
    // §7.2.3.1: one compressed block, in one frame and split over two.
    assert_eq!(decode(&mut c, &[HELLO], limit).unwrap(), b"Hello");
    let mut c = codec(Role::Client, DeflateParams::default());
    assert_eq!(
        decode(&mut c, &[&HELLO[..3], &HELLO[3..]], limit).unwrap(),
        b"Hello"
    );
    // §7.2.3.2: the second message refers to the first one's window.
    assert_eq!(
        decode(&mut c, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]], limit).unwrap(),
        b"Hello"
    );
    // §7.2.3.3: a stored (uncompressed) block.
    let stored = [
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    assert_eq!(decode(&mut c, &[&stored], limit).unwrap(), b"Hello");
    // §7.2.3.4: a block with BFINAL set; what follows it in the message is ignored, and the
    // next message starts a new stream.
    let mut c = codec(Role::Client, DeflateParams::default());
    let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(decode(&mut c, &[&bfinal], limit).unwrap(), b"Hello");
    assert_eq!(
        decode(&mut c, &[&bfinal, &[0x00]], limit).unwrap(),
        b"Hello"
    );
    assert_eq!(decode(&mut c, &[HELLO], limit).unwrap(), b"Hello");
    // §7.2.3.5: two blocks in one message.
    let two = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    assert_eq!(decode(&mut c, &[&two], limit).unwrap(), b"Hello");
    // §7.2.3.6: an empty message is the single byte 0x00, and a message may end with an empty
    // fragment.
    assert_eq!(decode(&mut c, &[&[0x00]], limit).unwrap(), b"");
    assert_eq!(decode(&mut c, &[HELLO, &[]], limit).unwrap(), b"Hello");
    // A compressed message with no bytes at all decodes as empty and leaves the stream intact.
    assert_eq!(decode(&mut c, &[&[]], limit).unwrap(), b"");
    assert_eq!(decode(&mut c, &[HELLO], limit).unwrap(), b"Hello");
}

#[test]
fn rfc_7692_examples_encode() {
    let deflate = |c: &mut DeflateCodec, payload: &[u8]| {
        let mut out = BytesMut::new();
        c.deflate(payload, &mut out).unwrap();
        out.to_vec()
    };
    // §7.2.3.1 and §7.2.3.2: with context takeover the second "Hello" refers to the first.
    let mut c = codec(Role::Server, DeflateParams::default());
    assert_eq!(deflate(&mut c, b"Hello"), HELLO);
    assert_eq!(deflate(&mut c, b"Hello"), [0xf2, 0x00, 0x11, 0x00, 0x00]);
    // §7.2.3.6: the empty message, also right after another one.
    assert_eq!(deflate(&mut c, b""), [0x00]);
    let mut c = codec(Role::Server, DeflateParams::default());
    assert_eq!(deflate(&mut c, b""), [0x00]);
    // `encode` too, with a threshold of 0.
    let mut out = BytesMut::new();
    assert_eq!(c.encode(b"", &mut out).unwrap(), Some(RSV1));
    assert_eq!(&out[..], [0x00]);
}

#[test]
fn no_context_takeover_applies_to_the_right_side() {
    let message = b"Hello, Hello, Hello, Hello, Hello!";
    let second_size = |role: Role, p: DeflateParams| {
        let mut c = codec(role, p);
        let first = encode(&mut c, message).unwrap();
        let second = encode(&mut c, message).unwrap();
        (first.len(), second.len())
    };
    // server_no_context_takeover resets the server's compressor, not the client's.
    let p = params(true, false, 15, 15);
    let (first, second) = second_size(Role::Server, p);
    assert_eq!(first, second);
    let (first, second) = second_size(Role::Client, p);
    assert!(second < first);
    // client_no_context_takeover resets the client's compressor, not the server's.
    let p = params(false, true, 15, 15);
    let (first, second) = second_size(Role::Client, p);
    assert_eq!(first, second);
    let (first, second) = second_size(Role::Server, p);
    assert!(second < first);
}

// ---------------------------------------------------------------------------------------------
// Round trips.

/// Deterministic test data: JSON-like text with repetition at all distances, plus noise.
fn corpus(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let words = [
        "user",
        "message",
        "timestamp",
        "room",
        "hello",
        "world",
        "id",
        "true",
        "null",
    ];
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        let r = next();
        match r % 5 {
            0 => out.extend_from_slice(
                format!(
                    "{{\"{}\":{},",
                    words[(r >> 8) as usize % words.len()],
                    r >> 40
                )
                .as_bytes(),
            ),
            1 => out.extend_from_slice(words[(r >> 16) as usize % words.len()].as_bytes()),
            2 => out.push((r >> 24) as u8),
            3 => {
                // Copy something from up to 40 KiB back: exercises every window size.
                if out.len() > 16 {
                    let back = 1 + (r >> 20) as usize % out.len().min(40 * 1024);
                    let start = out.len() - back;
                    let n = back.min(3 + (r >> 50) as usize % 200);
                    let copy = out[start..start + n].to_vec();
                    out.extend_from_slice(&copy);
                }
            }
            _ => out.extend_from_slice(b"}, "),
        }
    }
    out.truncate(len);
    out
}

/// Sends `messages` from `sender` to `receiver`, each split into frames of `frame` bytes.
fn transfer(
    sender: &mut DeflateCodec,
    receiver: &mut DeflateCodec,
    messages: &[Vec<u8>],
    frame: usize,
) {
    for (i, message) in messages.iter().enumerate() {
        let mut wire = BytesMut::new();
        let Some(_) = sender.encode(message, &mut wire).unwrap() else {
            continue; // sent uncompressed: nothing for the inflater
        };
        let frames: Vec<&[u8]> = if wire.is_empty() {
            vec![&[][..]]
        } else {
            wire.chunks(frame).collect()
        };
        let got = decode(receiver, &frames, 64 << 20).unwrap();
        assert!(
            got == *message,
            "message {i} of {} bytes differs",
            message.len()
        );
    }
}

#[test]
fn round_trip_every_window_and_takeover() {
    let messages: Vec<Vec<u8>> = [0usize, 1, 100, 5000, 34_000, 300, 2]
        .iter()
        .enumerate()
        .map(|(i, &len)| corpus(len, i as u64 + 1))
        .collect();
    for bits in 8..=15 {
        for server_reset in [false, true] {
            for client_reset in [false, true] {
                let p = params(server_reset, client_reset, bits, 23 - bits);
                // Whole messages at every size; split into frames (down to 7 bytes) at the
                // extremes.
                let frames: &[usize] = if matches!(bits, 8 | 9 | 15) {
                    &[1 << 30, 1000, 7]
                } else {
                    &[1 << 30]
                };
                for (&frame, level) in frames.iter().zip([6, 1, 9]) {
                    let mut server = codec_at(Role::Server, p, level);
                    let mut client = codec_at(Role::Client, p, 0);
                    transfer(&mut server, &mut client, &messages, frame);
                    transfer(&mut client, &mut server, &messages, frame);
                }
            }
        }
    }
}

/// Connections taking turns on one thread share its compressor: each message continues its own
/// connection's stream (primed with that connection's history when another used the compressor
/// in between), and every peer inflates exactly what was sent, at every window and with a
/// dedicated compressor beside them.
#[test]
fn connections_taking_turns_on_the_shared_compressor_each_keep_their_context() {
    let messages: Vec<Vec<u8>> = (0..24u64)
        .map(|i| corpus([300, 9000, 40, 70_000][i as usize % 4], i % 3 + 1))
        .collect();
    for bits in [9u8, 12, 15] {
        let p = params(false, false, bits, bits);
        let mut pairs: Vec<(DeflateCodec, DeflateCodec)> = (0..3)
            .map(|i| {
                let config = DeflateConfig {
                    threshold: 0,
                    compressor: if i == 2 {
                        CompressorMode::Dedicated
                    } else {
                        CompressorMode::Shared
                    },
                    ..DeflateConfig::default()
                };
                (
                    DeflateCodec::new(Role::Server, p, &config),
                    DeflateCodec::new(Role::Client, p, &config),
                )
            })
            .collect();
        for (i, message) in messages.iter().enumerate() {
            let (server, client) = &mut pairs[i % 3];
            transfer(server, client, std::slice::from_ref(message), 1 << 30);
        }
    }
}

/// Regression (Autobahn 13.4.17-18 on a multi-thread runtime): a connection that moves to
/// another thread and back must not continue from the stale stream the first thread's
/// compressor still holds from before it left.
#[test]
fn a_connection_moving_between_threads_never_continues_a_stale_stream() {
    let messages: Vec<Vec<u8>> = (0..6u64).map(|i| corpus(3000, i % 2 + 1)).collect();
    let p = DeflateParams::default();
    let mut server = codec(Role::Server, p);
    let mut client = codec(Role::Client, p);
    for (i, message) in messages.iter().enumerate() {
        if i % 2 == 0 {
            transfer(
                &mut server,
                &mut client,
                std::slice::from_ref(message),
                1 << 30,
            );
        } else {
            // The same connection's next message, compressed on another thread.
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    transfer(
                        &mut server,
                        &mut client,
                        std::slice::from_ref(message),
                        1 << 30,
                    );
                });
            });
        }
    }
}

/// The shared compressor keeps what context takeover needs: a message repeated on one
/// connection after another connection used the compressor still compresses to a few bytes.
#[test]
fn the_shared_compressor_primes_with_the_history_after_another_connection() {
    let message = corpus(2000, 9);
    let other = corpus(2000, 10);
    let mut a = codec(Role::Server, DeflateParams::default());
    let mut b = codec(Role::Server, DeflateParams::default());
    let first = encode(&mut a, &message).unwrap().len();
    encode(&mut b, &other).unwrap();
    let again = encode(&mut a, &message).unwrap().len();
    assert!(again < first / 5, "primed: {first} then {again}");
}

#[test]
fn context_takeover_shrinks_repeated_messages() {
    let message = corpus(2000, 7);
    let sizes = |p: DeflateParams| {
        let mut c = codec(Role::Client, p);
        let first = encode(&mut c, &message).unwrap().len();
        let second = encode(&mut c, &message).unwrap().len();
        (first, second)
    };
    let (first, second) = sizes(DeflateParams::default());
    assert!(second < first / 10, "takeover: {first} then {second}");
    let (first, second) = sizes(params(false, true, 15, 15));
    assert_eq!(first, second, "no takeover");
}

#[test]
fn threshold_and_compress_off_send_uncompressed() {
    let config = DeflateConfig {
        threshold: 10,
        ..DeflateConfig::default()
    };
    let mut c = DeflateCodec::new(Role::Server, DeflateParams::default(), &config);
    let mut out = BytesMut::new();
    assert_eq!(c.encode(b"123456789", &mut out).unwrap(), None);
    assert_eq!(c.encode(&[b'a'; 100], &mut out).unwrap(), Some(RSV1));
    let off = DeflateConfig {
        compress: false,
        ..DeflateConfig::default()
    };
    let mut c = DeflateCodec::new(Role::Server, DeflateParams::default(), &off);
    assert_eq!(
        c.encode(&[b'a'; 100_000], &mut BytesMut::new()).unwrap(),
        None
    );
    assert!(format!("{c:?}").contains("deflater: false"));
}

#[test]
fn incompressible_messages_are_sent_compressed_and_context_stays_in_sync() {
    let mut noise = Vec::new();
    let mut x = 0x1234_5678_u32;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x as u8);
    }
    let text = corpus(3000, 3);
    let mut server = codec(Role::Server, DeflateParams::default());
    let mut client = codec(Role::Client, DeflateParams::default());
    transfer(
        &mut server,
        &mut client,
        std::slice::from_ref(&text),
        usize::MAX,
    );
    // Stored blocks: 5 bytes per 64 KiB at most, plus the flush.
    let sent = encode(&mut server, &noise).unwrap();
    assert!(sent.len() <= noise.len() + 16, "{}", sent.len());
    assert_eq!(decode(&mut client, &[&sent], 1 << 20).unwrap(), noise);
    // Later messages still refer to earlier ones.
    let mut later = BytesMut::new();
    server.encode(&text, &mut later).unwrap();
    assert!(later.len() < 100, "{}", later.len());
    assert_eq!(decode(&mut client, &[&later], 1 << 20).unwrap(), text);
}

// ---------------------------------------------------------------------------------------------
// Limits and bad data.

#[test]
fn decompression_bomb_stops_at_the_limit() {
    // 16 MiB of zeros compress to about 16 KB.
    let mut c = codec(Role::Client, DeflateParams::default());
    let bomb = encode(&mut c, &vec![0u8; 16 << 20]).unwrap();
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    for limit in [0, 1, 1000, 1 << 20] {
        let mut receiver = codec(Role::Server, DeflateParams::default());
        let mut out = BytesMut::new();
        let err = receiver.decode(&bomb, true, &mut out, limit).unwrap_err();
        assert!(
            matches!(err, ProtocolError::MessageTooLarge { .. }),
            "{err:?}"
        );
        assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
        // Never more than one byte past the limit was kept, and the buffer did not grow with
        // the bomb.
        assert!(out.len() <= limit + 1);
        assert!(
            out.capacity() <= 2 * limit + 2 * super::codec::MAX_CHUNK,
            "{}",
            out.capacity()
        );
    }
    // Exactly at the limit is fine.
    let mut receiver = codec(Role::Server, DeflateParams::default());
    let exact = decode(&mut receiver, &[&bomb], 16 << 20).unwrap();
    assert_eq!(exact.len(), 16 << 20);
    // Over several frames, the limit counts the whole message.
    let mut receiver = codec(Role::Server, DeflateParams::default());
    let frames: Vec<&[u8]> = bomb.chunks(1000).collect();
    let err = decode(&mut receiver, &frames, 10 << 20).unwrap_err();
    assert!(
        matches!(err, ProtocolError::MessageTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn invalid_data_fails_with_protocol_error() {
    for bad in [
        &[0xff, 0xff, 0xff, 0xff][..],
        // Reserved block type 3.
        &[0x07],
        // A match at the very start: a distance further back than anything inflated.
        &[0x02, 0x02, 0x00],
        // A stored block whose length does not match its complement.
        &[0x00, 0x05, 0x00, 0x00, 0x00, b'a'],
    ] {
        let mut c = codec(Role::Server, DeflateParams::default());
        let err = decode(&mut c, &[bad], 1 << 20).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Extension(_)),
            "{bad:?}: {err:?}"
        );
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn peer_without_context_takeover_resets_our_inflater() {
    // The server promised not to take over context: each of its messages stands alone and the
    // client inflates each with a fresh state.
    let p = params(true, false, 15, 15);
    let mut server = codec(Role::Server, p);
    let mut client = codec(Role::Client, p);
    let a = encode(&mut server, b"Hello Hello Hello").unwrap();
    let b = encode(&mut server, b"Hello Hello Hello").unwrap();
    assert_eq!(a, b);
    assert_eq!(
        decode(&mut client, &[&a], 100).unwrap(),
        b"Hello Hello Hello"
    );
    assert_eq!(
        decode(&mut client, &[&b], 100).unwrap(),
        b"Hello Hello Hello"
    );
}
