//! The messages of the sharded adapter, pure: socket.io-adapter 2.5's `ClusterAdapter`
//! protocol (`lib/cluster-adapter.ts`), which `createShardedAdapter` of
//! `@socket.io/redis-adapter` 8.3 publishes as is (`lib/sharded-adapter.ts`).
//!
//! A message is `{type, data, uid, nsp}`: `uid` the sender's id, `nsp` its namespace, `type`
//! one of [`kind`], `data` what that type carries. It travels as JSON, or as MessagePack
//! (notepack.io) when `data` holds binary: Node checks `hasBinary(message.data)` for the types
//! that may carry some, and a reader tells the two apart by the first byte (`{` is JSON).
//! Binary values are MessagePack `bin` in place (no placeholders), as in the classic protocol,
//! so the classic codec's conversions (`super::super::wire`) serve here too.

use super::super::wire::{self, WireError};
use crate::args::Args;
use crate::rooms::BroadcastOptions;
use rmpv::Value as Mp;
use serde_json::Value;
use std::time::Duration;

/// The message types (`MessageType` in socket.io-adapter's `cluster-adapter.ts`).
pub(crate) mod kind {
    pub(crate) const BROADCAST: u64 = 3;
    pub(crate) const SOCKETS_JOIN: u64 = 4;
    pub(crate) const SOCKETS_LEAVE: u64 = 5;
    pub(crate) const DISCONNECT_SOCKETS: u64 = 6;
    pub(crate) const FETCH_SOCKETS: u64 = 7;
    pub(crate) const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub(crate) const SERVER_SIDE_EMIT: u64 = 9;
    pub(crate) const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub(crate) const BROADCAST_ACK: u64 = 12;
}

/// A message from another server, its `data` still raw.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub(crate) uid: String,
    pub(crate) nsp: String,
    pub(crate) kind: u64,
    pub(crate) data: Vec<(Mp, Mp)>,
}

impl Message {
    /// Takes a field of `data`.
    pub(crate) fn take(&mut self, key: &str) -> Option<Mp> {
        wire::take(&mut self.data, key)
    }

    /// `data.requestId`, when it is a string.
    pub(crate) fn request_id(&mut self) -> Option<String> {
        match self.take("requestId")? {
            Mp::String(s) => s.into_str(),
            _ => None,
        }
    }

    /// `data.opts` as broadcast options, and `flags.timeout` (milliseconds) if set.
    pub(crate) fn opts(&mut self) -> Result<(BroadcastOptions, Option<u64>), WireError> {
        match self.take("opts") {
            Some(opts) => wire::opts_from_mp(opts),
            None => Ok((BroadcastOptions::default(), None)),
        }
    }

    /// `data.rooms`.
    pub(crate) fn rooms(&mut self) -> Vec<String> {
        wire::rooms(self.take("rooms"))
    }

    /// `data.packet` as an event: its name and arguments (binary as attachments).
    pub(crate) fn event(&mut self) -> Result<(String, Args), WireError> {
        let packet = self.take("packet").ok_or(WireError::Shape("a packet"))?;
        let (_, event, args) = wire::packet_from_mp(packet)?;
        Ok((event, args))
    }

    /// A field of `data` as JSON (binary as arrays of byte values, as `JSON.stringify` would
    /// print a decoded Buffer's bytes).
    pub(crate) fn json(&mut self, key: &str) -> Value {
        self.take(key).map_or(Value::Null, wire::mp_to_json)
    }
}

/// Decodes a message: JSON when it starts with `{`, else MessagePack.
pub(crate) fn decode(raw: &[u8]) -> Result<Message, WireError> {
    let value = if raw.first() == Some(&b'{') {
        let json: Value =
            serde_json::from_slice(raw).map_err(|e| WireError::Json(e.to_string()))?;
        wire::json_to_mp(&json)
    } else {
        wire::read(raw)?
    };
    let mut message = wire::map_entries(value).ok_or(WireError::Shape("a message is a map"))?;
    let string = |v: Option<Mp>| match v {
        Some(Mp::String(s)) => s.into_str(),
        _ => None,
    };
    let uid = string(wire::take(&mut message, "uid")).unwrap_or_default();
    let nsp = string(wire::take(&mut message, "nsp")).ok_or(WireError::Shape("a namespace"))?;
    let kind = wire::take(&mut message, "type")
        .and_then(|t| t.as_u64())
        .ok_or(WireError::Shape("a message type"))?;
    let data = match wire::take(&mut message, "data") {
        Some(data) => wire::map_entries(data).ok_or(WireError::Shape("data is a map"))?,
        None => Vec::new(),
    };
    Ok(Message {
        uid,
        nsp,
        kind,
        data,
    })
}

/// Encodes `{type, data, uid, nsp}` the way Node does: MessagePack when `data` holds binary,
/// JSON otherwise.
pub(crate) fn encode(uid: &str, nsp: &str, kind: u64, data: Vec<(&str, Mp)>) -> Vec<u8> {
    let data = Mp::Map(data.into_iter().map(|(k, v)| (Mp::from(k), v)).collect());
    let binary = has_binary(&data);
    let message = Mp::Map(vec![
        (Mp::from("type"), Mp::from(kind)),
        (Mp::from("data"), data),
        (Mp::from("uid"), Mp::from(uid)),
        (Mp::from("nsp"), Mp::from(nsp)),
    ]);
    if binary {
        wire::write(&message)
    } else {
        wire::mp_to_json(message).to_string().into_bytes()
    }
}

fn has_binary(value: &Mp) -> bool {
    match value {
        Mp::Binary(_) => true,
        Mp::Array(items) => items.iter().any(has_binary),
        Mp::Map(entries) => entries.iter().any(|(_, v)| has_binary(v)),
        _ => false,
    }
}

/// `data` of a broadcast: `{packet: {type: 2, data: [event, ...args]}, opts}`, with
/// `requestId` and `opts.flags.timeout` when it asks for acknowledgements. The packet has no
/// `nsp`: Node's `ClusterAdapter` publishes it before the in-memory adapter sets one, and the
/// receiver uses its own namespace.
pub(crate) fn broadcast_data(
    event: &str,
    args: &Args,
    opts: &BroadcastOptions,
    ack: Option<(&str, Duration)>,
) -> Vec<(&'static str, Mp)> {
    let packet = Mp::Map(vec![
        (Mp::from("type"), Mp::from(2u64)),
        (Mp::from("data"), wire::event_data(event, args)),
    ]);
    match ack {
        None => vec![("packet", packet), ("opts", wire::raw_opts(opts))],
        Some((request_id, timeout)) => vec![
            ("packet", packet),
            ("requestId", Mp::from(request_id)),
            ("opts", wire::raw_opts_with_timeout(opts, timeout)),
        ],
    }
}

/// `{rooms, except, flags}` of a request.
pub(crate) fn opts(opts: &BroadcastOptions) -> Mp {
    wire::raw_opts(opts)
}

/// A JSON value as it goes into a message.
pub(crate) fn from_json(value: &Value) -> Mp {
    wire::json_to_mp(value)
}

/// One client's acknowledgement, its first argument with binary in place.
pub(crate) fn ack_packet(args: Args) -> Mp {
    match args.clone().into_data() {
        Ok(values) => values.first().map_or(Mp::Nil, wire::data_to_mp),
        Err(_) => args.values.first().map_or(Mp::Nil, wire::json_to_mp),
    }
}

/// An acknowledgement's packet as arguments.
pub(crate) fn ack_args(packet: Mp) -> Result<Args, WireError> {
    Ok(Args::from_data(vec![wire::mp_to_data(packet)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;

    /// What socket.io 4.8 with `createShardedAdapter` (redis-adapter 8.3) publishes for
    /// `io.to("r").emit("ev", 1)`, captured with `redis-cli MONITOR`.
    const NODE_BROADCAST: &str = r#"{"type":3,"data":{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["r"],"except":[],"flags":{}}},"uid":"791cbce967888535","nsp":"/"}"#;

    /// The same for `io.to("r").emit("bin", Buffer.from([7]))`: MessagePack.
    const NODE_BINARY_BROADCAST: &[u8] = b"\x84\xa4type\x03\xa4data\x82\xa6packet\x82\xa4type\x02\xa4data\x92\xa3bin\xc4\x01\x07\xa4opts\x83\xa5rooms\x91\xa1r\xa6except\x90\xa5flags\x80\xa3uid\xb0791cbce967888535\xa3nsp\xa1/";

    #[test]
    fn our_broadcasts_are_byte_for_byte_what_node_publishes() {
        let opts = BroadcastOptions {
            rooms: vec!["r".into()],
            ..BroadcastOptions::default()
        };
        let uid = "791cbce967888535";
        let json = encode(
            uid,
            "/",
            kind::BROADCAST,
            broadcast_data("ev", &Args::new().arg(1), &opts, None),
        );
        assert_eq!(String::from_utf8(json).expect("JSON"), NODE_BROADCAST);
        let args = Args::new().binary_arg(Bytes::from_static(&[7]));
        let binary = encode(
            uid,
            "/",
            kind::BROADCAST,
            broadcast_data("bin", &args, &opts, None),
        );
        assert_eq!(binary, NODE_BINARY_BROADCAST);
        let mut m = decode(NODE_BINARY_BROADCAST).expect("decodes");
        assert_eq!(m.event().expect("event"), ("bin".to_owned(), args));
    }

    #[test]
    fn a_node_broadcast_decodes() {
        let mut m = decode(NODE_BROADCAST.as_bytes()).expect("decodes");
        assert_eq!(
            (m.uid.as_str(), m.nsp.as_str(), m.kind),
            ("791cbce967888535", "/", kind::BROADCAST)
        );
        let (event, args) = m.event().expect("an event");
        assert_eq!((event.as_str(), args.values), ("ev", vec![json!(1)]));
        let (opts, timeout) = m.opts().expect("opts");
        assert_eq!((opts.rooms, timeout), (vec!["r".to_owned()], None));
        assert_eq!(m.request_id(), None);
    }

    #[test]
    fn binary_makes_messagepack_and_reads_back() {
        let args = Args::new().arg("x").binary_arg(Bytes::from_static(&[1, 2]));
        let opts = BroadcastOptions::default();
        let data = broadcast_data(
            "ev",
            &args,
            &opts,
            Some(("req", Duration::from_millis(1500))),
        );
        let raw = encode("me", "/", kind::BROADCAST, data);
        assert_ne!(raw.first(), Some(&b'{'), "binary is MessagePack");
        let mut m = decode(&raw).expect("decodes");
        assert_eq!(m.request_id().as_deref(), Some("req"));
        assert_eq!(m.opts().expect("opts").1, Some(1500));
        assert_eq!(m.event().expect("event").1, args);

        let plain = encode(
            "me",
            "/a",
            kind::FETCH_SOCKETS,
            vec![("requestId", Mp::from("x"))],
        );
        let text = String::from_utf8(plain).expect("JSON without binary");
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("JSON"),
            json!({"type": 7, "data": {"requestId": "x"}, "uid": "me", "nsp": "/a"})
        );
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"{",
            b"[1]",
            b"{\"type\":3}",
            &[0x81, 0xa1, b'x', 0x01],
            &[0xc1],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        assert!(decode(&vec![0x91; 10_000]).is_err());
    }
}
