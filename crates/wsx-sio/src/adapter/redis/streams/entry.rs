//! The stream entries of the Streams adapter, pure: how `@socket.io/redis-streams-adapter` 0.3
//! (`lib/adapter.ts`, `encode`/`decode`) lays a socket.io-adapter `ClusterAdapter` message
//! (`{uid, nsp, type, data}`, the sharded adapter's `message.rs`) out as the field-value pairs
//! of one `XADD`, and the offsets (entry ids) connection state recovery hands to clients.
//!
//! An entry has the fields `uid`, `nsp`, `type` (the message type as decimal text: stream
//! values are strings) and, when the message has data, `data`: JSON text, or, when the data
//! holds binary and the type may carry some, MessagePack encoded in base64 (a stream value
//! cannot hold raw bytes for Node's string-typed clients). A reader tells the two apart as
//! Node does: JSON starts with `{`.
//!
//! Only the messages that must survive a Redis reconnection go through the stream (broadcasts
//! without acknowledgements, `socketsJoin`, `socketsLeave`, `disconnectSockets`): the others
//! (requests, broadcasts with acknowledgements, answers) are "ephemeral" and travel over
//! pub/sub, MessagePack-encoded ([`is_ephemeral`]).

use super::super::sharded::message::{Message, kind};
use super::super::wire::{self, WireError};
use base64::Engine as _;
use rmpv::Value as Mp;

/// The message types that may carry binary (Node's `mayContainBinary`): only their data is
/// ever MessagePack.
const MAY_CONTAIN_BINARY: [u64; 5] = [
    kind::BROADCAST,
    kind::FETCH_SOCKETS_RESPONSE,
    kind::SERVER_SIDE_EMIT,
    kind::SERVER_SIDE_EMIT_RESPONSE,
    kind::BROADCAST_ACK,
];

/// Whether a message goes over pub/sub rather than the stream (Node's `isEphemeral`): a
/// broadcast with acknowledgements (it has a `requestId`), a server-side emit, a fetch.
pub(crate) fn is_ephemeral(kind: u64, data: &[(&str, Mp)]) -> bool {
    (kind == kind::BROADCAST && data.iter().any(|(k, _)| *k == "requestId"))
        || kind == kind::SERVER_SIDE_EMIT
        || kind == kind::FETCH_SOCKETS
}

/// The fields of the `XADD` for a message, in Node's order.
pub(crate) fn encode(
    uid: &str,
    nsp: &str,
    kind: u64,
    data: Vec<(&str, Mp)>,
) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("uid", uid.to_owned()),
        ("nsp", nsp.to_owned()),
        ("type", kind.to_string()),
    ];
    if data.is_empty() {
        return fields;
    }
    let data = Mp::Map(data.into_iter().map(|(k, v)| (Mp::from(k), v)).collect());
    let text = if MAY_CONTAIN_BINARY.contains(&kind) && has_binary(&data) {
        base64::engine::general_purpose::STANDARD.encode(wire::write(&data))
    } else {
        wire::mp_to_json(data).to_string()
    };
    fields.push(("data", text));
    fields
}

fn has_binary(value: &Mp) -> bool {
    match value {
        Mp::Binary(_) => true,
        Mp::Array(items) => items.iter().any(has_binary),
        Mp::Map(entries) => entries.iter().any(|(_, v)| has_binary(v)),
        _ => false,
    }
}

/// Decodes an entry's fields (any order; unknown fields ignored). An entry without `nsp` is
/// not a message (Node's reader skips it too): `Shape` error.
pub(crate) fn decode<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Message, WireError> {
    let (mut uid, mut nsp, mut kind, mut data) = (None, None, None, None);
    for (name, value) in fields {
        match name {
            "uid" => uid = Some(value),
            "nsp" => nsp = Some(value),
            "type" => kind = Some(value),
            "data" => data = Some(value),
            _ => {}
        }
    }
    let text = |v: &[u8]| String::from_utf8(v.to_vec()).map_err(|_| WireError::Shape("UTF-8"));
    let nsp = text(nsp.ok_or(WireError::Shape("a namespace"))?)?;
    let uid = uid.map(text).transpose()?.unwrap_or_default();
    let kind = std::str::from_utf8(kind.ok_or(WireError::Shape("a message type"))?)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or(WireError::Shape("a message type"))?;
    let data = match data {
        None => Vec::new(),
        Some(raw) if raw.first() == Some(&b'{') => {
            let json: serde_json::Value =
                serde_json::from_slice(raw).map_err(|e| WireError::Json(e.to_string()))?;
            wire::map_entries(wire::json_to_mp(&json)).ok_or(WireError::Shape("data is a map"))?
        }
        Some(raw) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|_| WireError::Shape("data is base64"))?;
            wire::map_entries(wire::read(&bytes)?).ok_or(WireError::Shape("data is a map"))?
        }
    };
    Ok(Message {
        uid,
        nsp,
        kind,
        data,
    })
}

/// Whether `offset` is a stream entry id (`<ms>-<seq>`, both decimal), the only offsets
/// Node's `restoreSession` accepts.
#[cfg_attr(not(test), allow(dead_code))] // for restore (module docs)
pub(crate) fn is_offset(offset: &str) -> bool {
    offset
        .split_once('-')
        .is_some_and(|(ms, seq)| decimal(ms) && decimal(seq))
}

fn decimal(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

/// The smallest id after `offset`, for an exclusive `XRANGE` that works before Redis 6.2
/// (which added the `(` prefix), as Node's `nextOffset`. `None` when `offset` is not an id.
#[cfg_attr(not(test), allow(dead_code))] // for restore (module docs)
pub(crate) fn next_offset(offset: &str) -> Option<String> {
    let (ms, seq) = offset.split_once('-')?;
    let ms: u64 = ms.parse().ok()?;
    let seq: u64 = seq.parse().ok()?;
    Some(match seq.checked_add(1) {
        Some(seq) => format!("{ms}-{seq}"),
        None => format!("{}-0", ms.checked_add(1)?),
    })
}

/// Whether a packet broadcast to `rooms` except `except` reached a socket that was in
/// `session_rooms` (its own id room among them), Node's `shouldIncludePacket`.
#[cfg_attr(not(test), allow(dead_code))] // for restore (module docs)
pub(crate) fn reached(session_rooms: &[String], rooms: &[String], except: &[String]) -> bool {
    let included = rooms.is_empty() || session_rooms.iter().any(|r| rooms.contains(r));
    included && !session_rooms.iter().any(|r| except.contains(r))
}

#[cfg(test)]
mod tests {
    use super::super::super::sharded::message::broadcast_data;
    use super::*;
    use crate::args::Args;
    use crate::rooms::BroadcastOptions;
    use bytes::Bytes;
    use serde_json::json;

    /// `data` of `io.to("r").emit("ev", 1)` as the Node adapter writes it (JSON.stringify).
    const NODE_DATA: &str =
        r#"{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["r"],"except":[],"flags":{}}}"#;
    /// `data` of `io.to("r").emit("bin", Buffer.from([7]))`: `@msgpack/msgpack` in base64.
    const NODE_BINARY_DATA: &str =
        "gqZwYWNrZXSCpHR5cGUCpGRhdGGSo2JpbsQBB6RvcHRzg6Vyb29tc5GhcqZleGNlcHSQpWZsYWdzgA==";

    fn room(r: &str) -> BroadcastOptions {
        BroadcastOptions {
            rooms: vec![r.into()],
            ..BroadcastOptions::default()
        }
    }

    #[test]
    fn our_entries_are_what_node_writes() {
        let data = broadcast_data("ev", &Args::new().arg(1), &room("r"), None);
        let fields = encode("u1", "/", kind::BROADCAST, data);
        assert_eq!(
            fields,
            vec![
                ("uid", "u1".to_owned()),
                ("nsp", "/".to_owned()),
                ("type", "3".to_owned()),
                ("data", NODE_DATA.to_owned()),
            ]
        );
        let args = Args::new().binary_arg(Bytes::from_static(&[7]));
        let data = broadcast_data("bin", &args, &room("r"), None);
        let fields = encode("u1", "/", kind::BROADCAST, data);
        assert_eq!(fields[3], ("data", NODE_BINARY_DATA.to_owned()));
        // No data, no field (Node's `if (message.data)`).
        assert_eq!(encode("u1", "/", kind::SOCKETS_JOIN, vec![]).len(), 3);
    }

    #[test]
    fn node_entries_decode() {
        let fields = [
            ("type", &b"3"[..]),
            ("uid", b"n"),
            ("nsp", b"/"),
            ("data", NODE_BINARY_DATA.as_bytes()),
        ];
        let mut m = decode(fields).expect("decodes");
        assert_eq!((m.uid.as_str(), m.nsp.as_str(), m.kind), ("n", "/", 3));
        let (event, args) = m.event().expect("an event");
        assert_eq!(event, "bin");
        assert_eq!(args, Args::new().binary_arg(Bytes::from_static(&[7])));
        assert_eq!(m.opts().expect("opts").0.rooms, vec!["r".to_owned()]);

        let mut m = decode([
            ("nsp", &b"/x"[..]),
            ("type", b"3"),
            ("data", NODE_DATA.as_bytes()),
        ])
        .expect("decodes");
        assert_eq!(m.uid, "");
        assert_eq!(m.event().expect("event").1.values, vec![json!(1)]);
    }

    #[test]
    fn bad_entries_are_errors_not_panics() {
        let bad: [&[(&str, &[u8])]; 6] = [
            &[],
            &[("type", b"3")],
            &[("nsp", b"/"), ("type", b"x")],
            &[("nsp", b"/"), ("type", b"3"), ("data", b"{")],
            &[("nsp", b"/"), ("type", b"3"), ("data", b"!!")],
            &[("nsp", &[0xff]), ("type", b"3")],
        ];
        for fields in bad {
            assert!(decode(fields.iter().copied()).is_err(), "{fields:?}");
        }
    }

    #[test]
    fn ephemeral_messages_are_those_node_sends_over_pub_sub() {
        let data = broadcast_data("ev", &Args::new(), &room("r"), None);
        assert!(!is_ephemeral(kind::BROADCAST, &data));
        let acked = broadcast_data(
            "ev",
            &Args::new(),
            &room("r"),
            Some(("id", std::time::Duration::from_secs(1))),
        );
        assert!(is_ephemeral(kind::BROADCAST, &acked));
        assert!(is_ephemeral(kind::FETCH_SOCKETS, &[]));
        assert!(is_ephemeral(kind::SERVER_SIDE_EMIT, &[]));
        assert!(!is_ephemeral(kind::SOCKETS_JOIN, &[]));
        assert!(!is_ephemeral(kind::DISCONNECT_SOCKETS, &[]));
    }

    #[test]
    fn offsets() {
        assert!(is_offset("1700000000000-0"));
        for bad in ["", "1-", "-1", "1", "a-1", "1-1-1", "1-+", "$"] {
            assert!(!is_offset(bad), "{bad}");
        }
        assert_eq!(next_offset("5-1").as_deref(), Some("5-2"));
        assert_eq!(
            next_offset(&format!("5-{}", u64::MAX)).as_deref(),
            Some("6-0")
        );
        assert_eq!(next_offset("x-1"), None);
    }

    #[test]
    fn a_packet_reached_a_session_as_node_decides() {
        let rooms = vec!["sid".to_owned(), "r".to_owned()];
        let s = |v: &[&str]| v.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
        assert!(reached(&rooms, &[], &[]));
        assert!(reached(&rooms, &s(&["r"]), &[]));
        assert!(reached(&rooms, &s(&["sid"]), &[]));
        assert!(!reached(&rooms, &s(&["other"]), &[]));
        assert!(!reached(&rooms, &[], &s(&["r"])));
        assert!(!reached(&rooms, &s(&["r"]), &s(&["sid"])));
    }
}
