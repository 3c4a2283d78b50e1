//! The polling payload (engine.io-protocol v4, "Payload"): packets joined by the record
//! separator `0x1e`, binary packets as `b` + base64.

use super::super::Frame;
use crate::packet::engine::{self, EngineError, MAX_PAYLOAD_PACKETS, SEPARATOR};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use std::collections::VecDeque;
use wsx::Utf8Bytes;

/// Encodes frames as a polling payload.
pub(super) fn encode_payload(frames: VecDeque<Frame>) -> String {
    let mut out = String::new();
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        match frame {
            Frame::Text(text) => out.push_str(&text),
            Frame::Binary(data) => {
                out.push('b');
                STANDARD.encode_string(&data, &mut out);
            }
        }
    }
    out
}

/// Decodes a polling payload into frames, checking every text packet.
pub(super) fn decode_payload(payload: &str) -> Result<Vec<Frame>, EngineError> {
    let mut frames = Vec::new();
    for part in payload.split(SEPARATOR) {
        if frames.len() == MAX_PAYLOAD_PACKETS {
            return Err(EngineError::TooManyPackets);
        }
        let frame = match part.strip_prefix('b') {
            Some(b64) => Frame::Binary(Bytes::from(
                STANDARD
                    .decode(b64)
                    .map_err(|_| EngineError::InvalidBase64)?,
            )),
            None => {
                engine::decode_text(part)?;
                Frame::Text(Utf8Bytes::from(part.to_owned()))
            }
        };
        frames.push(frame);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let frames = decode_payload("4hello\u{1e}bAQIDBA==\u{1e}2").expect("payload");
        assert_eq!(
            frames,
            vec![
                Frame::Text("4hello".into()),
                Frame::Binary(Bytes::from_static(&[1, 2, 3, 4])),
                Frame::Text("2".into()),
            ]
        );
        assert_eq!(
            encode_payload(frames.into()),
            "4hello\u{1e}bAQIDBA==\u{1e}2"
        );
        assert!(matches!(
            decode_payload("abc"),
            Err(EngineError::UnknownType('a'))
        ));
        assert!(matches!(
            decode_payload("4a\u{1e}"),
            Err(EngineError::Empty)
        ));
        assert!(matches!(
            decode_payload("b!!"),
            Err(EngineError::InvalidBase64)
        ));
    }
}
