//! Engine.IO v4 packets (engine.io-protocol, "Protocol" section): a one-digit type, then an
//! optional payload.
//!
//! Over WebSocket every frame is one packet: a text frame is `<type><text payload>`, a binary
//! frame is a `message` packet whose payload is the frame's bytes (v4 adds no type prefix to
//! binary frames). Over HTTP long-polling several packets share one body, separated by the
//! record separator `0x1e`, with binary payloads written as `b<base64>` ([`decode_payload`],
//! [`encode_payload`]).
//!
//! Decoding borrows from the input: nothing is copied but a polling payload's base64 data.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;

/// The record separator between packets of an HTTP long-polling payload (engine.io-protocol v4,
/// "Payload").
pub const SEPARATOR: char = '\u{1e}';

/// The most packets one polling payload may hold; more is a malformed payload (bounded work).
pub const MAX_PAYLOAD_PACKETS: usize = 4096;

/// The type of an Engine.IO packet: the digit that starts its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: sent by the server when a new transport is opened (handshake data).
    Open = 0,
    /// `1`: the transport may be closed.
    Close = 1,
    /// `2`: heartbeat request (sent by the server in v4), or the upgrade probe.
    Ping = 2,
    /// `3`: heartbeat answer.
    Pong = 3,
    /// `4`: an application message (a Socket.IO packet).
    Message = 4,
    /// `5`: completes the upgrade from polling to WebSocket.
    Upgrade = 5,
    /// `6`: nothing; used to end a pending poll during an upgrade.
    Noop = 6,
}

impl PacketType {
    /// The type of a digit character.
    #[must_use]
    pub fn from_char(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }

    /// The digit character of this type.
    #[must_use]
    pub fn as_char(self) -> char {
        char::from(b'0' + self as u8)
    }
}

/// An Engine.IO packet, borrowing its payload from the decoded input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0` with the handshake JSON.
    Open(&'a str),
    /// `1`.
    Close,
    /// `2`, with an optional payload (`probe` during an upgrade).
    Ping(&'a str),
    /// `3`, echoing the ping's payload.
    Pong(&'a str),
    /// `4` with a text payload.
    Message(&'a str),
    /// A binary message: a binary WebSocket frame, or `b<base64>` in a polling payload.
    Binary(Cow<'a, [u8]>),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

/// Why bytes are not an Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// An empty text frame: every packet has at least its type.
    #[error("empty Engine.IO packet")]
    Empty,
    /// The first character is not a packet type `0`..`6`.
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownType(char),
    /// A packet type that carries no payload (close, upgrade, noop) came with one.
    #[error("Engine.IO packet type {0:?} takes no payload")]
    UnexpectedPayload(PacketType),
    /// A `b` packet of a polling payload is not valid base64.
    #[error("invalid base64 in a binary polling packet")]
    InvalidBase64,
    /// A polling payload with more than [`MAX_PAYLOAD_PACKETS`] packets.
    #[error("polling payload holds more than {MAX_PAYLOAD_PACKETS} packets")]
    TooManyPackets,
}

impl PacketType {
    fn of(packet: &Packet<'_>) -> Self {
        match packet {
            Packet::Open(_) => Self::Open,
            Packet::Close => Self::Close,
            Packet::Ping(_) => Self::Ping,
            Packet::Pong(_) => Self::Pong,
            Packet::Message(_) | Packet::Binary(_) => Self::Message,
            Packet::Upgrade => Self::Upgrade,
            Packet::Noop => Self::Noop,
        }
    }
}

impl Packet<'_> {
    /// This packet's type.
    #[must_use]
    pub fn packet_type(&self) -> PacketType {
        PacketType::of(self)
    }
}

/// Decodes a text frame (or one text packet of a polling payload).
///
/// # Errors
/// [`EngineError`] for an empty input, an unknown type, or a payload on a type that takes none.
pub fn decode_text(text: &str) -> Result<Packet<'_>, EngineError> {
    let first = *text.as_bytes().first().ok_or(EngineError::Empty)?;
    let Some(kind) = PacketType::from_char(first) else {
        // `first` may be the first byte of a multi-byte character: report the character.
        return Err(EngineError::UnknownType(
            text.chars().next().unwrap_or_default(),
        ));
    };
    // The type is one ASCII byte, so the rest starts on a character boundary.
    let payload = &text[1..];
    let bare = |packet| {
        if payload.is_empty() {
            Ok(packet)
        } else {
            Err(EngineError::UnexpectedPayload(kind))
        }
    };
    match kind {
        PacketType::Open => Ok(Packet::Open(payload)),
        PacketType::Close => bare(Packet::Close),
        PacketType::Ping => Ok(Packet::Ping(payload)),
        PacketType::Pong => Ok(Packet::Pong(payload)),
        PacketType::Message => Ok(Packet::Message(payload)),
        PacketType::Upgrade => bare(Packet::Upgrade),
        PacketType::Noop => bare(Packet::Noop),
    }
}

/// Decodes a binary WebSocket frame: always a message (engine.io-protocol v4: binary frames
/// carry no type prefix).
#[must_use]
pub fn decode_binary(data: &[u8]) -> Packet<'_> {
    Packet::Binary(Cow::Borrowed(data))
}

/// How a packet goes out over WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Encodes a packet as one WebSocket frame.
#[must_use]
pub fn encode_frame(packet: &Packet<'_>) -> Frame {
    match packet {
        Packet::Binary(data) => Frame::Binary(data.to_vec()),
        text => {
            let mut out = String::new();
            encode_text_into(text, &mut out);
            Frame::Text(out)
        }
    }
}

/// Appends the text encoding of a packet (a binary packet as `b<base64>`, as in a polling
/// payload).
pub fn encode_text_into(packet: &Packet<'_>, out: &mut String) {
    match packet {
        Packet::Binary(data) => {
            out.push('b');
            STANDARD.encode_string(data, out);
        }
        other => {
            out.push(other.packet_type().as_char());
            match other {
                Packet::Open(p) | Packet::Ping(p) | Packet::Pong(p) | Packet::Message(p) => {
                    out.push_str(p);
                }
                _ => {}
            }
        }
    }
}

/// Decodes an HTTP long-polling payload: packets separated by `0x1e`, binary ones as
/// `b<base64>` (engine.io-protocol v4, "Payload").
///
/// # Errors
/// The first packet's [`EngineError`], or [`EngineError::TooManyPackets`].
pub fn decode_payload(payload: &str) -> Result<Vec<Packet<'_>>, EngineError> {
    let mut packets = Vec::new();
    for part in payload.split(SEPARATOR) {
        if packets.len() == MAX_PAYLOAD_PACKETS {
            return Err(EngineError::TooManyPackets);
        }
        let packet = match part.strip_prefix('b') {
            Some(b64) => Packet::Binary(Cow::Owned(
                STANDARD
                    .decode(b64)
                    .map_err(|_| EngineError::InvalidBase64)?,
            )),
            None => decode_text(part)?,
        };
        packets.push(packet);
    }
    Ok(packets)
}

/// Encodes packets as one HTTP long-polling payload.
#[must_use]
pub fn encode_payload(packets: &[Packet<'_>]) -> String {
    let mut out = String::new();
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        encode_text_into(packet, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_packets() {
        let cases: &[(&str, Packet<'_>)] = &[
            (r#"0{"sid":"abc"}"#, Packet::Open(r#"{"sid":"abc"}"#)),
            ("1", Packet::Close),
            ("2", Packet::Ping("")),
            ("2probe", Packet::Ping("probe")),
            ("3", Packet::Pong("")),
            ("3probe", Packet::Pong("probe")),
            ("4", Packet::Message("")),
            ("4hello é 😀", Packet::Message("hello é 😀")),
            ("5", Packet::Upgrade),
            ("6", Packet::Noop),
        ];
        for (text, want) in cases {
            assert_eq!(decode_text(text).as_ref(), Ok(want), "{text}");
            assert_eq!(
                encode_frame(want),
                Frame::Text((*text).to_owned()),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_text_packets() {
        let cases: &[(&str, EngineError)] = &[
            ("", EngineError::Empty),
            ("7", EngineError::UnknownType('7')),
            ("a", EngineError::UnknownType('a')),
            ("😀", EngineError::UnknownType('😀')),
            ("1x", EngineError::UnexpectedPayload(PacketType::Close)),
            (
                "5probe",
                EngineError::UnexpectedPayload(PacketType::Upgrade),
            ),
            ("6 ", EngineError::UnexpectedPayload(PacketType::Noop)),
        ];
        for (text, want) in cases {
            assert_eq!(decode_text(text), Err(want.clone()), "{text:?}");
        }
    }

    #[test]
    fn binary_frames() {
        assert_eq!(
            decode_binary(&[1, 2, 3]),
            Packet::Binary(Cow::Borrowed(&[1, 2, 3]))
        );
        assert_eq!(decode_binary(&[]), Packet::Binary(Cow::Borrowed(&[])));
        assert_eq!(
            encode_frame(&Packet::Binary(Cow::Borrowed(&[0, 255]))),
            Frame::Binary(vec![0, 255])
        );
    }

    #[test]
    fn polling_payloads() {
        // engine.io-protocol v4 README, "Payload" examples.
        let cases: Vec<(&str, Vec<Packet<'_>>)> = vec![
            (
                "4hello\x1e4€",
                vec![Packet::Message("hello"), Packet::Message("€")],
            ),
            (
                "4€\x1ebAQIDBA==",
                vec![
                    Packet::Message("€"),
                    Packet::Binary(Cow::Owned(vec![1, 2, 3, 4])),
                ],
            ),
            ("2", vec![Packet::Ping("")]),
            ("b", vec![Packet::Binary(Cow::Owned(vec![]))]),
            ("6\x1e1", vec![Packet::Noop, Packet::Close]),
        ];
        for (text, want) in cases {
            assert_eq!(decode_payload(text).as_ref(), Ok(&want), "{text:?}");
            assert_eq!(encode_payload(&want), text, "{text:?}");
        }
        let bad: &[(&str, EngineError)] = &[
            ("", EngineError::Empty),
            ("4a\x1e", EngineError::Empty),
            ("b!!", EngineError::InvalidBase64),
            ("4a\x1e9", EngineError::UnknownType('9')),
        ];
        for (text, want) in bad {
            assert_eq!(decode_payload(text), Err(want.clone()), "{text:?}");
        }
        let many = vec!["6"; MAX_PAYLOAD_PACKETS + 1].join("\x1e");
        assert_eq!(decode_payload(&many), Err(EngineError::TooManyPackets));
    }
}
