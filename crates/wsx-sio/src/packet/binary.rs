//! Binary attachments (socket.io-protocol v5, "Packet encoding", binary types 5 and 6).
//!
//! A packet whose arguments hold binary values is sent as its JSON text with every binary value
//! replaced by a placeholder `{"_placeholder":true,"num":N}`, followed by the N-th binary value
//! as the N-th binary Engine.IO message. Placeholders may sit at any depth.
//!
//! Two forms are offered:
//! - [`Data`], a JSON-like tree with binary leaves, for code that wants the values in place:
//!   [`deconstruct`] it for sending, [`reconstruct`] it from a packet and its attachments;
//! - the wire form itself (JSON values holding placeholders, plus the attachments), which the
//!   server passes around as is: [`check_placeholders`] validates it, [`placeholder_num`]
//!   resolves one. [`Reassembly`] collects the attachments that follow a packet.

use bytes::Bytes;
use serde_json::{Map, Value};

/// A JSON value that may hold binary leaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// A JSON value with no binary inside (it may still be an array or object).
    Json(Value),
    /// A binary value.
    Binary(Bytes),
    /// An array with binary somewhere inside.
    Array(Vec<Data>),
    /// An object with binary somewhere inside (keys in order).
    Object(Vec<(String, Data)>),
}

/// Why a packet's placeholders and attachments do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BinaryError {
    /// A placeholder whose `num` is not an integer in range.
    #[error("placeholder num {num} out of range: {attachments} attachments")]
    PlaceholderOutOfRange {
        /// The placeholder's `num` (`-1` when it was not a non-negative integer).
        num: i64,
        /// The packet's attachment count.
        attachments: usize,
    },
    /// A binary attachment arrived while no binary packet was waiting for one.
    #[error("unexpected binary attachment")]
    UnexpectedAttachment,
    /// A text packet arrived while attachments of the previous packet were still due.
    #[error("{missing} attachments missing before the next packet")]
    MissingAttachments {
        /// How many were still due.
        missing: usize,
    },
    /// A packet's attachments together exceed the bound the receiver set.
    #[error("attachments larger than {limit} bytes in total")]
    AttachmentsTooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// More attachments than placeholders can reference (when deconstructing is bounded).
    #[error("attachment count {got} does not match {expected}")]
    CountMismatch {
        /// Attachments given.
        got: usize,
        /// Attachments expected.
        expected: usize,
    },
}

/// The `num` of a placeholder object (`Some(Err(()))` for a placeholder with a bad `num`),
/// `None` for any other value. Like socket.io-parser, any object with `"_placeholder": true` is a
/// placeholder.
#[must_use]
pub fn placeholder_num(value: &Value) -> Option<Result<usize, ()>> {
    let Value::Object(map) = value else {
        return None;
    };
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    Some(
        map.get("num")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(()),
    )
}

/// A placeholder for attachment `num`.
#[must_use]
pub fn placeholder(num: usize) -> Value {
    let mut map = Map::new();
    map.insert("_placeholder".into(), Value::Bool(true));
    map.insert("num".into(), Value::from(num));
    Value::Object(map)
}

/// Checks that every placeholder in `values` (at any depth) refers to one of `attachments`.
///
/// # Errors
/// [`BinaryError::PlaceholderOutOfRange`] for the first one that does not.
pub fn check_placeholders(values: &[Value], attachments: usize) -> Result<(), BinaryError> {
    values.iter().try_for_each(|v| check_value(v, attachments))
}

fn check_value(value: &Value, attachments: usize) -> Result<(), BinaryError> {
    match placeholder_num(value) {
        Some(Ok(num)) if num < attachments => return Ok(()),
        Some(num) => {
            return Err(BinaryError::PlaceholderOutOfRange {
                num: num.ok().and_then(|n| i64::try_from(n).ok()).unwrap_or(-1),
                attachments,
            });
        }
        None => {}
    }
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| check_value(v, attachments)),
        Value::Object(map) => map.values().try_for_each(|v| check_value(v, attachments)),
        _ => Ok(()),
    }
}

/// Splits values with binary leaves into JSON with placeholders and the attachments, numbered
/// in depth-first order.
#[must_use]
pub fn deconstruct(values: Vec<Data>) -> (Vec<Value>, Vec<Bytes>) {
    let mut attachments = Vec::new();
    let json = values
        .into_iter()
        .map(|v| deconstruct_one(v, &mut attachments))
        .collect();
    (json, attachments)
}

fn deconstruct_one(data: Data, attachments: &mut Vec<Bytes>) -> Value {
    match data {
        Data::Json(value) => value,
        Data::Binary(bytes) => {
            attachments.push(bytes);
            placeholder(attachments.len() - 1)
        }
        Data::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| deconstruct_one(v, attachments))
                .collect(),
        ),
        Data::Object(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k, deconstruct_one(v, attachments)))
                .collect(),
        ),
    }
}

/// Replaces every placeholder in `values` by its attachment.
///
/// # Errors
/// [`BinaryError::PlaceholderOutOfRange`] for a placeholder that refers to no attachment.
pub fn reconstruct(values: Vec<Value>, attachments: &[Bytes]) -> Result<Vec<Data>, BinaryError> {
    values
        .into_iter()
        .map(|v| reconstruct_one(v, attachments))
        .collect()
}

fn reconstruct_one(value: Value, attachments: &[Bytes]) -> Result<Data, BinaryError> {
    if !contains_placeholder(&value) {
        return Ok(Data::Json(value));
    }
    if let Some(num) = placeholder_num(&value) {
        return match num {
            Ok(n) if n < attachments.len() => Ok(Data::Binary(attachments[n].clone())),
            other => Err(BinaryError::PlaceholderOutOfRange {
                num: other.ok().and_then(|n| i64::try_from(n).ok()).unwrap_or(-1),
                attachments: attachments.len(),
            }),
        };
    }
    match value {
        Value::Array(items) => Ok(Data::Array(
            items
                .into_iter()
                .map(|v| reconstruct_one(v, attachments))
                .collect::<Result<_, _>>()?,
        )),
        Value::Object(map) => Ok(Data::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, reconstruct_one(v, attachments)?)))
                .collect::<Result<_, BinaryError>>()?,
        )),
        other => Ok(Data::Json(other)),
    }
}

/// Whether a placeholder sits anywhere in `value`.
#[must_use]
pub fn contains_placeholder(value: &Value) -> bool {
    if placeholder_num(value).is_some() {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().any(contains_placeholder),
        Value::Object(map) => map.values().any(contains_placeholder),
        _ => false,
    }
}

/// Collects the attachments that follow a binary packet.
#[derive(Debug)]
pub struct Reassembly<P> {
    packet: P,
    expected: usize,
    attachments: Vec<Bytes>,
}

impl<P> Reassembly<P> {
    /// Starts waiting for `expected` attachments of `packet`. The caller has already bounded
    /// `expected` (see [`super::socket::decode_with`]).
    pub fn new(packet: P, expected: usize) -> Self {
        Self {
            packet,
            expected,
            attachments: Vec::new(),
        }
    }

    /// How many attachments are still due.
    #[must_use]
    pub fn missing(&self) -> usize {
        self.expected - self.attachments.len()
    }

    /// Adds an attachment; returns the packet and all its attachments once the last arrived.
    pub fn push(mut self, attachment: Bytes) -> Result<(P, Vec<Bytes>), Self> {
        self.attachments.push(attachment);
        if self.attachments.len() == self.expected {
            Ok((self.packet, self.attachments))
        } else {
            Err(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bin(bytes: &'static [u8]) -> Data {
        Data::Binary(Bytes::from_static(bytes))
    }

    #[test]
    fn deconstruct_and_reconstruct_at_any_depth() {
        let cases: Vec<(Vec<Data>, Vec<Value>, usize)> = vec![
            (
                vec![Data::Json(json!("no binary"))],
                vec![json!("no binary")],
                0,
            ),
            (
                vec![bin(b"top")],
                vec![json!({"_placeholder": true, "num": 0})],
                1,
            ),
            (
                vec![bin(b""), Data::Json(json!(1)), bin(b"\x00\xff")],
                vec![
                    json!({"_placeholder": true, "num": 0}),
                    json!(1),
                    json!({"_placeholder": true, "num": 1}),
                ],
                2,
            ),
            (
                vec![Data::Object(vec![
                    ("a".into(), Data::Json(json!(1))),
                    (
                        "deep".into(),
                        Data::Array(vec![Data::Array(vec![Data::Object(vec![(
                            "x".into(),
                            bin(b"deep"),
                        )])])]),
                    ),
                    ("b".into(), bin(b"b")),
                ])],
                vec![json!({
                    "a": 1,
                    "deep": [[{"x": {"_placeholder": true, "num": 0}}]],
                    "b": {"_placeholder": true, "num": 1},
                })],
                2,
            ),
        ];
        for (data, want_json, count) in cases {
            let (json, attachments) = deconstruct(data.clone());
            assert_eq!(json, want_json);
            assert_eq!(attachments.len(), count);
            assert_eq!(check_placeholders(&json, count), Ok(()));
            let back = reconstruct(json, &attachments).expect("reconstruct");
            // Binary-free subtrees come back as one Json leaf: compare through deconstruct.
            assert_eq!(deconstruct(back), deconstruct(data));
        }
    }

    #[test]
    fn bad_placeholders() {
        let cases: Vec<(Value, usize, i64)> = vec![
            (json!({"_placeholder": true, "num": 1}), 1, 1),
            (json!({"_placeholder": true, "num": 0}), 0, 0),
            (json!([[{"_placeholder": true, "num": 5}]]), 2, 5),
            (json!({"_placeholder": true, "num": -1}), 3, -1),
            (json!({"_placeholder": true, "num": 0.5}), 3, -1),
            (json!({"_placeholder": true}), 3, -1),
            (json!({"k": {"_placeholder": true, "num": "0"}}), 3, -1),
        ];
        for (value, attachments, num) in cases {
            let want = Err(BinaryError::PlaceholderOutOfRange { num, attachments });
            assert_eq!(
                check_placeholders(std::slice::from_ref(&value), attachments),
                want,
                "{value}"
            );
            let bytes = vec![Bytes::new(); attachments];
            assert_eq!(
                reconstruct(vec![value.clone()], &bytes).map(|_| ()),
                want,
                "{value}"
            );
        }
        // Not placeholders: `_placeholder` must be `true`.
        for value in [json!({"_placeholder": false, "num": 9}), json!({"num": 9})] {
            assert_eq!(check_placeholders(std::slice::from_ref(&value), 0), Ok(()));
        }
    }

    #[test]
    fn reassembly_waits_for_every_attachment() {
        let mut waiting = Reassembly::new("packet", 3);
        for i in 0..2u8 {
            assert_eq!(waiting.missing(), 3 - usize::from(i));
            waiting = waiting.push(Bytes::from(vec![i])).expect_err("not yet");
        }
        let (packet, attachments) = waiting.push(Bytes::new()).expect("complete");
        assert_eq!(packet, "packet");
        assert_eq!(
            attachments,
            vec![Bytes::from(vec![0]), Bytes::from(vec![1]), Bytes::new()]
        );
    }
}
