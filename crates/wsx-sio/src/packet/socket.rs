//! Socket.IO v5 packets (socket.io-protocol, "Packet encoding"):
//!
//! ```text
//! <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//! ```
//!
//! The namespace is written only when it is not `/`; the attachment count only for the binary
//! types (5 and 6), which are followed by that many binary Engine.IO messages (see
//! [`super::binary`]). The payload is the JSON text with every binary value replaced by a
//! placeholder.

use serde_json::Value;
use std::fmt::Write as _;

/// The most binary attachments a packet may announce by default (bounded work and memory per
/// packet; the count is checked before any attachment is awaited).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 256;

/// The largest ack id accepted: JavaScript's `Number.MAX_SAFE_INTEGER` (2^53 - 1), the largest
/// id the official clients can produce.
pub const MAX_ACK_ID: u64 = (1 << 53) - 1;

/// Event names the protocol reserves (socket.io-parser `RESERVED_EVENTS`): a client may not
/// emit them.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The type digit of a Socket.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: connect to a namespace.
    Connect = 0,
    /// `1`: disconnect from a namespace.
    Disconnect = 1,
    /// `2`: an event.
    Event = 2,
    /// `3`: an acknowledgement.
    Ack = 3,
    /// `4`: a refused connection to a namespace.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an acknowledgement with binary attachments.
    BinaryAck = 6,
}

/// A Socket.IO packet without its binary attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace, `/` by default.
    pub namespace: String,
    /// What the packet says.
    pub body: Body,
}

/// The content of a [`Packet`], by type.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `CONNECT`: from a client with its optional auth object; from the server with
    /// `{"sid": ..}`.
    Connect(Option<Value>),
    /// `DISCONNECT`.
    Disconnect,
    /// `EVENT` (`attachments: None`) or `BINARY_EVENT`.
    Event {
        /// The event name (the payload array's first element).
        name: String,
        /// The arguments after the name.
        args: Vec<Value>,
        /// The ack id, when the sender wants an acknowledgement.
        ack: Option<u64>,
        /// The announced attachment count for `BINARY_EVENT`, `None` for `EVENT`.
        attachments: Option<usize>,
    },
    /// `ACK` (`attachments: None`) or `BINARY_ACK`.
    Ack {
        /// The id of the event this acknowledges.
        id: u64,
        /// The acknowledgement's arguments.
        args: Vec<Value>,
        /// The announced attachment count for `BINARY_ACK`, `None` for `ACK`.
        attachments: Option<usize>,
    },
    /// `CONNECT_ERROR` with its payload (an object such as `{"message": ..}`).
    ConnectError(Value),
}

impl Packet {
    /// A packet on `namespace`.
    pub fn new(namespace: impl Into<String>, body: Body) -> Self {
        Self {
            namespace: namespace.into(),
            body,
        }
    }

    /// The type digit this packet is encoded with.
    #[must_use]
    pub fn packet_type(&self) -> PacketType {
        match &self.body {
            Body::Connect(_) => PacketType::Connect,
            Body::Disconnect => PacketType::Disconnect,
            Body::Event {
                attachments: None, ..
            } => PacketType::Event,
            Body::Event { .. } => PacketType::BinaryEvent,
            Body::Ack {
                attachments: None, ..
            } => PacketType::Ack,
            Body::Ack { .. } => PacketType::BinaryAck,
            Body::ConnectError(_) => PacketType::ConnectError,
        }
    }

    /// The attachment count announced (0 for the non-binary types).
    #[must_use]
    pub fn attachments(&self) -> usize {
        match &self.body {
            Body::Event { attachments, .. } | Body::Ack { attachments, .. } => {
                attachments.unwrap_or(0)
            }
            _ => 0,
        }
    }
}

/// Why text is not a Socket.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// An empty packet.
    #[error("empty Socket.IO packet")]
    Empty,
    /// The first character is not a packet type `0`..`6`.
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownType(char),
    /// A binary type without a valid `<count>-` attachment prefix.
    #[error("invalid attachment count")]
    InvalidAttachments,
    /// More attachments announced than the configured bound.
    #[error("{announced} attachments announced, at most {max} allowed")]
    TooManyAttachments {
        /// The count the packet announced.
        announced: usize,
        /// The bound.
        max: usize,
    },
    /// An ack id past 2^53 - 1.
    #[error("ack id too large")]
    AckIdTooLarge,
    /// The payload is not JSON.
    #[error("invalid JSON payload: {0}")]
    InvalidJson(String),
    /// The payload does not suit the packet type (for example an event whose payload is not an
    /// array starting with a name, or a reserved event name).
    #[error("invalid payload for a {0:?} packet")]
    InvalidPayload(PacketType),
    /// An `ACK` without an id.
    #[error("ack packet without an id")]
    MissingAckId,
}

/// Decodes a packet with the default attachment bound.
///
/// # Errors
/// See [`decode_with`].
pub fn decode(text: &str) -> Result<Packet, SocketError> {
    decode_with(text, DEFAULT_MAX_ATTACHMENTS)
}

/// Decodes a packet, refusing to announce more than `max_attachments` attachments.
///
/// # Errors
/// [`SocketError`] naming the first rule the text breaks.
pub fn decode_with(text: &str, max_attachments: usize) -> Result<Packet, SocketError> {
    let bytes = text.as_bytes();
    let first = *bytes.first().ok_or(SocketError::Empty)?;
    let kind = match first {
        b'0' => PacketType::Connect,
        b'1' => PacketType::Disconnect,
        b'2' => PacketType::Event,
        b'3' => PacketType::Ack,
        b'4' => PacketType::ConnectError,
        b'5' => PacketType::BinaryEvent,
        b'6' => PacketType::BinaryAck,
        _ => {
            return Err(SocketError::UnknownType(
                text.chars().next().unwrap_or_default(),
            ));
        }
    };
    let mut pos = 1;

    let attachments = if matches!(kind, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let digits = leading_digits(&bytes[pos..]);
        if digits == 0 || bytes.get(pos + digits) != Some(&b'-') {
            return Err(SocketError::InvalidAttachments);
        }
        // More than 10 digits cannot be under any sane bound: refuse before parsing.
        let count = if digits > 10 {
            usize::MAX
        } else {
            text[pos..pos + digits]
                .parse::<usize>()
                .map_err(|_| SocketError::InvalidAttachments)?
        };
        if count > max_attachments {
            return Err(SocketError::TooManyAttachments {
                announced: count,
                max: max_attachments,
            });
        }
        pos += digits + 1;
        Some(count)
    } else {
        None
    };

    // The namespace runs from a `/` to the next `,` (or the end).
    let namespace = if bytes.get(pos) == Some(&b'/') {
        let end = text[pos..].find(',').map_or(text.len(), |i| pos + i);
        let ns = text[pos..end].to_owned();
        pos = (end + 1).min(text.len());
        ns
    } else {
        "/".to_owned()
    };

    let digits = leading_digits(&bytes[pos..]);
    let ack = if digits > 0 {
        if digits > 16 {
            return Err(SocketError::AckIdTooLarge);
        }
        let id = text[pos..pos + digits]
            .parse::<u64>()
            .map_err(|_| SocketError::AckIdTooLarge)?;
        if id > MAX_ACK_ID {
            return Err(SocketError::AckIdTooLarge);
        }
        pos += digits;
        Some(id)
    } else {
        None
    };

    let rest = &text[pos..];
    let payload = if rest.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(rest)
                .map_err(|e| SocketError::InvalidJson(e.to_string()))?,
        )
    };

    let invalid = || SocketError::InvalidPayload(kind);
    let body = match kind {
        PacketType::Connect => match payload {
            None => Body::Connect(None),
            Some(auth @ Value::Object(_)) => Body::Connect(Some(auth)),
            Some(_) => return Err(invalid()),
        },
        PacketType::Disconnect => match payload {
            None => Body::Disconnect,
            Some(_) => return Err(invalid()),
        },
        PacketType::ConnectError => match payload {
            Some(p @ (Value::Object(_) | Value::String(_))) => Body::ConnectError(p),
            _ => return Err(invalid()),
        },
        PacketType::Event | PacketType::BinaryEvent => {
            let Some(Value::Array(mut args)) = payload else {
                return Err(invalid());
            };
            let name = match args.first() {
                Some(Value::String(name)) if !RESERVED_EVENTS.contains(&name.as_str()) => {
                    name.clone()
                }
                _ => return Err(invalid()),
            };
            args.remove(0);
            Body::Event {
                name,
                args,
                ack,
                attachments,
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            let id = ack.ok_or(SocketError::MissingAckId)?;
            let Some(Value::Array(args)) = payload else {
                return Err(invalid());
            };
            Body::Ack {
                id,
                args,
                attachments,
            }
        }
    };
    Ok(Packet { namespace, body })
}

/// The number of ASCII digits at the start of `bytes`.
fn leading_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Encodes a packet (without its attachments, which go out as binary messages after it).
#[must_use]
pub fn encode(packet: &Packet) -> String {
    let mut out = String::new();
    encode_into(packet, &mut out);
    out
}

/// Appends the encoding of a packet to `out` (an Engine.IO message packet can be built by
/// starting `out` with `4`).
pub fn encode_into(packet: &Packet, out: &mut String) {
    out.push(char::from(b'0' + packet.packet_type() as u8));
    if matches!(
        packet.packet_type(),
        PacketType::BinaryEvent | PacketType::BinaryAck
    ) {
        let _ = write!(out, "{}-", packet.attachments());
    }
    if packet.namespace != "/" {
        out.push_str(&packet.namespace);
        out.push(',');
    }
    match &packet.body {
        Body::Connect(None) | Body::Disconnect => {}
        Body::Connect(Some(value)) | Body::ConnectError(value) => push_json(out, value),
        Body::Event {
            name, args, ack, ..
        } => {
            if let Some(id) = ack {
                let _ = write!(out, "{id}");
            }
            out.push('[');
            push_json(out, &Value::String(name.clone()));
            for arg in args {
                out.push(',');
                push_json(out, arg);
            }
            out.push(']');
        }
        Body::Ack { id, args, .. } => {
            let _ = write!(out, "{id}");
            out.push('[');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json(out, arg);
            }
            out.push(']');
        }
    }
}

/// Appends a JSON value. `Value`'s `Display` is serde_json's compact writer (it cannot fail
/// for a `Value`: map keys are strings).
fn push_json(out: &mut String, value: &Value) {
    let _ = write!(out, "{value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(
        ns: &str,
        name: &str,
        args: Vec<Value>,
        ack: Option<u64>,
        att: Option<usize>,
    ) -> Packet {
        Packet::new(
            ns,
            Body::Event {
                name: name.into(),
                args,
                ack,
                attachments: att,
            },
        )
    }

    #[test]
    fn round_trips() {
        // The examples of the socket.io-protocol v5 README, and more.
        let placeholder = json!({"_placeholder": true, "num": 0});
        let cases: Vec<(&str, Packet)> = vec![
            ("0", Packet::new("/", Body::Connect(None))),
            ("0/admin,", Packet::new("/admin", Body::Connect(None))),
            (
                r#"0/admin,{"token":"123"}"#,
                Packet::new("/admin", Body::Connect(Some(json!({"token": "123"})))),
            ),
            (
                r#"0{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
                Packet::new(
                    "/",
                    Body::Connect(Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"}))),
                ),
            ),
            ("1/admin,", Packet::new("/admin", Body::Disconnect)),
            ("1", Packet::new("/", Body::Disconnect)),
            (
                r#"2["hello",1]"#,
                event("/", "hello", vec![json!(1)], None, None),
            ),
            (r#"2["hello"]"#, event("/", "hello", vec![], None, None)),
            (
                r#"2/admin,456["project:delete",123]"#,
                event(
                    "/admin",
                    "project:delete",
                    vec![json!(123)],
                    Some(456),
                    None,
                ),
            ),
            (
                r#"3/admin,456[]"#,
                Packet::new(
                    "/admin",
                    Body::Ack {
                        id: 456,
                        args: vec![],
                        attachments: None,
                    },
                ),
            ),
            (
                r#"31["ok",{"a":[1,2.5,null,true]}]"#,
                Packet::new(
                    "/",
                    Body::Ack {
                        id: 1,
                        args: vec![json!("ok"), json!({"a": [1, 2.5, null, true]})],
                        attachments: None,
                    },
                ),
            ),
            (
                r#"4{"message":"Invalid namespace"}"#,
                Packet::new(
                    "/",
                    Body::ConnectError(json!({"message": "Invalid namespace"})),
                ),
            ),
            (
                r#"4/admin,"Not authorized""#,
                Packet::new("/admin", Body::ConnectError(json!("Not authorized"))),
            ),
            (
                r#"51-["hello",{"_placeholder":true,"num":0}]"#,
                event("/", "hello", vec![placeholder.clone()], None, Some(1)),
            ),
            (
                r#"61-/admin,456[{"_placeholder":true,"num":0}]"#,
                Packet::new(
                    "/admin",
                    Body::Ack {
                        id: 456,
                        args: vec![placeholder],
                        attachments: Some(1),
                    },
                ),
            ),
            (r#"50-["x"]"#, event("/", "x", vec![], None, Some(0))),
            (
                r#"2["big",9007199254740991,-9007199254740991,1.5e-7,"😀\u2028"]"#,
                event(
                    "/",
                    "big",
                    vec![
                        json!(9_007_199_254_740_991_u64),
                        json!(-9_007_199_254_740_991_i64),
                        json!(1.5e-7),
                        json!("😀\u{2028}"),
                    ],
                    None,
                    None,
                ),
            ),
            (
                r#"29007199254740991["max ack"]"#,
                event("/", "max ack", vec![], Some(MAX_ACK_ID), None),
            ),
        ];
        for (text, want) in &cases {
            let got = decode(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&got, want, "{text}");
            let encoded = encode(want);
            assert_eq!(
                decode(&encoded).as_ref(),
                Ok(want),
                "re-decode of {encoded}"
            );
        }
        // Exact text for the forms we write (compact JSON; `\u2028` is written raw, which is
        // valid JSON that every parser reads back the same).
        assert_eq!(encode(&cases[6].1), r#"2["hello",1]"#);
        assert_eq!(encode(&cases[8].1), r#"2/admin,456["project:delete",123]"#);
        assert_eq!(
            encode(&cases[13].1),
            r#"51-["hello",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(
            encode(&cases[16].1),
            "2[\"big\",9007199254740991,-9007199254740991,1.5e-7,\"😀\u{2028}\"]"
        );
    }

    #[test]
    fn floats_round_trip_exactly() {
        for text in [
            "0.1",
            "1e300",
            "-2.2250738585072014e-308",
            "5e-324",
            "0.30000000000000004",
        ] {
            let packet = decode(&format!(r#"2["f",{text}]"#)).expect(text);
            let Body::Event { args, .. } = &packet.body else {
                panic!("not an event")
            };
            let want: f64 = text.parse().expect("float");
            assert_eq!(
                args[0].as_f64().map(f64::to_bits),
                Some(want.to_bits()),
                "{text}"
            );
            let again = decode(&encode(&packet)).expect("re-decode");
            assert_eq!(again, packet, "{text}");
        }
    }

    #[test]
    fn malformed() {
        let too_many = SocketError::TooManyAttachments {
            announced: 257,
            max: 256,
        };
        let cases: &[(&str, SocketError)] = &[
            ("", SocketError::Empty),
            ("7", SocketError::UnknownType('7')),
            ("x[]", SocketError::UnknownType('x')),
            ("é", SocketError::UnknownType('é')),
            (r#"5["a"]"#, SocketError::InvalidAttachments),
            (r#"5-["a"]"#, SocketError::InvalidAttachments),
            (r#"51["a"]"#, SocketError::InvalidAttachments),
            (r#"5257-["a"]"#, too_many),
            (
                r#"599999999999999999999999-["a"]"#,
                SocketError::TooManyAttachments {
                    announced: usize::MAX,
                    max: 256,
                },
            ),
            (r#"29007199254740992["a"]"#, SocketError::AckIdTooLarge),
            (r#"2123456789012345678901["a"]"#, SocketError::AckIdTooLarge),
            ("2[", SocketError::InvalidJson(String::new())),
            (r#"2["a"]x"#, SocketError::InvalidJson(String::new())),
            ("2", SocketError::InvalidPayload(PacketType::Event)),
            ("2/admin,", SocketError::InvalidPayload(PacketType::Event)),
            ("2{}", SocketError::InvalidPayload(PacketType::Event)),
            ("2[]", SocketError::InvalidPayload(PacketType::Event)),
            ("2[1]", SocketError::InvalidPayload(PacketType::Event)),
            (
                r#"2["disconnect"]"#,
                SocketError::InvalidPayload(PacketType::Event),
            ),
            ("0[]", SocketError::InvalidPayload(PacketType::Connect)),
            ("0\"x\"", SocketError::InvalidPayload(PacketType::Connect)),
            ("1{}", SocketError::InvalidPayload(PacketType::Disconnect)),
            ("4", SocketError::InvalidPayload(PacketType::ConnectError)),
            ("41", SocketError::InvalidPayload(PacketType::ConnectError)),
            ("3[]", SocketError::MissingAckId),
            ("31{}", SocketError::InvalidPayload(PacketType::Ack)),
            ("31", SocketError::InvalidPayload(PacketType::Ack)),
        ];
        for (text, want) in cases {
            let got = decode(text).expect_err(text);
            if let SocketError::InvalidJson(_) = want {
                assert!(
                    matches!(got, SocketError::InvalidJson(_)),
                    "{text}: {got:?}"
                );
            } else {
                assert_eq!(&got, want, "{text}");
            }
        }
        // Deep nesting is refused by the JSON parser's recursion limit, not a stack overflow.
        let deep = format!("2[\"a\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(decode(&deep), Err(SocketError::InvalidJson(_))));
    }
}
