//! Custom events: a thin JSON envelope over text messages.
//!
//! An event is the text message
//!
//! ```json
//! {"event": "chat", "data": {"from": "ana", "text": "hi"}}
//! ```
//!
//! an object with exactly the keys `event` (a string, the event name) and `data` (any JSON
//! value; absent means `null`). [`crate::Conn::emit`] sends one; [`crate::Conn::on`] handles
//! one by name. A text message that is not such an envelope, or whose event has no handler, goes
//! to `on_message` unchanged, so nothing is lost; while neither handler exists yet, it waits
//! until one is registered (messages that do have a handler are not held back by it). Binary
//! messages are never events.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// The envelope as sent.
#[derive(Serialize)]
pub(crate) struct Envelope<'a, T> {
    pub event: &'a str,
    pub data: T,
}

/// The envelope as received.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Incoming {
    event: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// Reads `text` as an event envelope: `Some((name, data))`, or `None` for any other text.
#[must_use]
pub fn parse_event(text: &str) -> Option<(String, serde_json::Value)> {
    // Cheap rejection of ordinary text before any JSON parsing.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let incoming: Incoming = serde_json::from_str(text).ok()?;
    Some((incoming.event, incoming.data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_and_non_envelopes() {
        let cases: &[(&str, Option<(&str, serde_json::Value)>)] = &[
            (
                r#"{"event":"chat","data":{"a":1}}"#,
                Some(("chat", json!({"a": 1}))),
            ),
            (r#" {"data":[1,2],"event":"x"}"#, Some(("x", json!([1, 2])))),
            (
                r#"{"event":"ping"}"#,
                Some(("ping", serde_json::Value::Null)),
            ),
            (r#"{"event":"x","data":1,"extra":true}"#, None),
            (r#"{"event":5,"data":1}"#, None),
            (r#"{"data":1}"#, None),
            ("hello", None),
            ("{not json", None),
            ("[]", None),
        ];
        for (text, expected) in cases {
            let got = parse_event(text);
            let expected = expected
                .as_ref()
                .map(|(n, v)| ((*n).to_string(), v.clone()));
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn emitted_envelope_parses_back() {
        let text = serde_json::to_string(&Envelope {
            event: "chat",
            data: json!({"t": "hi"}),
        })
        .unwrap();
        assert_eq!(
            parse_event(&text),
            Some(("chat".into(), json!({"t": "hi"})))
        );
    }
}
