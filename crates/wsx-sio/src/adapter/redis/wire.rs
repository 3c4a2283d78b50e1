//! The wire format of Node's `@socket.io/redis-adapter` (the classic, non-sharded protocol of
//! its `lib/index.ts`), pure: no I/O.
//!
//! - Channels, with the prefix `key` (`socket.io` by default): broadcasts on `key#nsp#` or, for
//!   a broadcast to exactly one room, `key#nsp#room#` (a node PSUBSCRIBEs `key#nsp#*` and drops
//!   a room channel's message when it has no socket in that room); requests on
//!   `key-request#nsp#`; responses on `key-response#nsp#` (or `key-response#nsp#uid#` when the
//!   answering node has `publishOnSpecificResponseChannel`).
//! - A broadcast is MessagePack `[uid, packet, {rooms, except, flags}]`: `packet` is the
//!   socket.io-parser packet object `{type: 2, data: [event, ...args], nsp}` with binary values
//!   in place as MessagePack `bin` (notepack.io's encoding of a `Buffer`), not as placeholders.
//! - Requests and responses are JSON objects `{uid, type, requestId, ...}`; a message that does
//!   not start with `{` is MessagePack (Node encodes broadcast-with-ack traffic that way).

use crate::args::Args;
use crate::packet::binary::Data;
use crate::rooms::{BroadcastOptions, Room};
use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};

/// How deep a MessagePack value from Redis may nest (serde_json's own default limit).
const MAX_DEPTH: usize = 128;

/// The request types of the protocol (`RequestType` in `lib/index.ts`).
pub(crate) mod request_type {
    pub(crate) const SOCKETS: u64 = 0;
    pub(crate) const ALL_ROOMS: u64 = 1;
    pub(crate) const REMOTE_JOIN: u64 = 2;
    pub(crate) const REMOTE_LEAVE: u64 = 3;
    pub(crate) const REMOTE_DISCONNECT: u64 = 4;
    pub(crate) const REMOTE_FETCH: u64 = 5;
    pub(crate) const SERVER_SIDE_EMIT: u64 = 6;
    pub(crate) const BROADCAST: u64 = 7;
}

/// socket.io-parser packet types carried in broadcasts.
const EVENT: u64 = 2;
const BINARY_EVENT: u64 = 5;

/// Why a message from Redis was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    /// Not MessagePack, or nested too deep.
    #[error("bad MessagePack: {0}")]
    MessagePack(String),
    /// Not JSON.
    #[error("bad JSON: {0}")]
    Json(String),
    /// Well-formed but not the shape the protocol gives it.
    #[error("unexpected shape: {0}")]
    Shape(&'static str),
}

/// The channels of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    /// `key#nsp#`: broadcasts (and the prefix of the room channels).
    pub(crate) broadcast: String,
    /// `key-request#nsp#`.
    pub(crate) request: String,
    /// `key-response#nsp#`.
    pub(crate) response: String,
    /// `key-response#nsp#uid#`.
    pub(crate) specific_response: String,
}

impl Channels {
    pub(crate) fn new(key: &str, nsp: &str, uid: &str) -> Self {
        let response = format!("{key}-response#{nsp}#");
        Self {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            specific_response: format!("{response}{uid}#"),
            response,
        }
    }

    /// The PSUBSCRIBE pattern for broadcasts: the broadcast channel with its glob characters
    /// escaped (a namespace may contain `*`, `?` or `[`), then `*`.
    pub(crate) fn pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.broadcast.len() + 2);
        for c in self.broadcast.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// The channel a broadcast goes to: the room's own when it addresses exactly one.
    pub(crate) fn publish_channel(&self, opts: &BroadcastOptions) -> String {
        match opts.rooms.as_slice() {
            [room] => format!("{}{room}#", self.broadcast),
            _ => self.broadcast.clone(),
        }
    }

    /// The room of a broadcast channel (`""` for the namespace's own), `None` for a channel
    /// that is not one of this namespace's broadcast channels.
    pub(crate) fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let rest = channel.strip_prefix(&self.broadcast)?;
        if rest.is_empty() {
            return Some("");
        }
        rest.strip_suffix('#')
    }
}

/// A broadcast received from another node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Broadcast {
    pub(crate) uid: String,
    pub(crate) nsp: String,
    pub(crate) event: String,
    pub(crate) args: Args,
    pub(crate) opts: BroadcastOptions,
}

/// Encodes a broadcast: `[uid, {type, data, nsp}, {rooms, except, flags}]`.
pub(crate) fn encode_broadcast(
    uid: &str,
    nsp: &str,
    event: &str,
    args: &Args,
    opts: &BroadcastOptions,
) -> Vec<u8> {
    let packet = Mp::Map(vec![
        (Mp::from("type"), Mp::from(EVENT)),
        (Mp::from("data"), event_data(event, args)),
        (Mp::from("nsp"), Mp::from(nsp)),
    ]);
    let message = Mp::Array(vec![Mp::from(uid), packet, raw_opts(opts)]);
    write(&message)
}

/// `[event, ...args]` with the binary values in place.
pub(super) fn event_data(event: &str, args: &Args) -> Mp {
    let mut data = vec![Mp::from(event)];
    match args.clone().into_data() {
        Ok(values) => data.extend(values.iter().map(data_to_mp)),
        // Placeholders that point nowhere: send them as the JSON they are.
        Err(_) => data.extend(args.values.iter().map(json_to_mp)),
    }
    Mp::Array(data)
}

/// `{rooms, except, flags}` as Node's adapter sends them.
pub(super) fn raw_opts(opts: &BroadcastOptions) -> Mp {
    raw_opts_and(opts, None)
}

/// `{rooms, except, flags}` with `flags` as Node's `BroadcastOperator` builds them: a key
/// for each flag set, none for a default (`io.volatile` adds `volatile: true`,
/// `compress(false)` adds `compress: false`, `timeout(ms)` adds `timeout`; `local` never
/// reaches the wire, a local broadcast is not published). With several, the keys come in
/// the order of `io.volatile.compress(false).timeout(ms)`; Node writes them in the order its
/// operator was called, which a receiver does not depend on.
fn raw_opts_and(opts: &BroadcastOptions, timeout_ms: Option<u64>) -> Mp {
    let rooms = |list: &[Room]| Mp::Array(list.iter().map(|r| Mp::from(r.as_str())).collect());
    let mut flags = Vec::new();
    if opts.flags.volatile {
        flags.push((Mp::from("volatile"), Mp::Boolean(true)));
    }
    if !opts.flags.compress {
        flags.push((Mp::from("compress"), Mp::Boolean(false)));
    }
    if let Some(millis) = timeout_ms {
        flags.push((Mp::from("timeout"), Mp::from(millis)));
    }
    Mp::Map(vec![
        (Mp::from("rooms"), rooms(&opts.rooms)),
        (Mp::from("except"), rooms(&opts.except)),
        (Mp::from("flags"), Mp::Map(flags)),
    ])
}

/// `{rooms, except, flags: {.., timeout}}`: the options of a broadcast with
/// acknowledgements (`timeout` in milliseconds; Node's `timeout()` keeps the other flags).
pub(super) fn raw_opts_with_timeout(opts: &BroadcastOptions, timeout: std::time::Duration) -> Mp {
    let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    raw_opts_and(opts, Some(millis))
}

pub(super) fn write(value: &Mp) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, value);
    out
}

/// Decodes a broadcast from another node.
pub(crate) fn decode_broadcast(message: &[u8]) -> Result<Broadcast, WireError> {
    let Mp::Array(parts) = read(message)? else {
        return Err(WireError::Shape("a broadcast is an array"));
    };
    let mut parts = parts.into_iter();
    let (Some(uid), Some(packet), Some(opts)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(WireError::Shape("a broadcast is [uid, packet, opts]"));
    };
    let Mp::String(uid) = uid else {
        return Err(WireError::Shape("the uid is a string"));
    };
    let uid = uid.into_str().ok_or(WireError::Shape("the uid is UTF-8"))?;
    let (nsp, event, args) = packet_from_mp(packet)?;
    let opts = opts_from_mp(opts)?.0;
    Ok(Broadcast {
        uid,
        nsp,
        event,
        args,
        opts,
    })
}

/// A socket.io-parser event packet `{type, data: [event, ...args], nsp}`.
pub(super) fn packet_from_mp(packet: Mp) -> Result<(String, String, Args), WireError> {
    let mut packet = map_entries(packet).ok_or(WireError::Shape("the packet is a map"))?;
    let kind = take(&mut packet, "type").and_then(|t| t.as_u64());
    if !matches!(kind, Some(EVENT | BINARY_EVENT)) {
        return Err(WireError::Shape("only events are broadcast"));
    }
    let nsp = match take(&mut packet, "nsp") {
        Some(Mp::String(s)) => s.into_str().ok_or(WireError::Shape("nsp is UTF-8"))?,
        _ => "/".to_owned(),
    };
    let Some(Mp::Array(data)) = take(&mut packet, "data") else {
        return Err(WireError::Shape("the packet's data is an array"));
    };
    let mut data = data.into_iter();
    let Some(Mp::String(event)) = data.next() else {
        return Err(WireError::Shape("an event starts with its name"));
    };
    let event = event
        .into_str()
        .ok_or(WireError::Shape("the event is UTF-8"))?;
    let values = data.map(mp_to_data).collect::<Result<Vec<_>, _>>()?;
    Ok((nsp, event, Args::from_data(values)))
}

/// Broadcast options `{rooms, except, flags}`, and `flags.timeout` (milliseconds) if set.
pub(super) fn opts_from_mp(opts: Mp) -> Result<(BroadcastOptions, Option<u64>), WireError> {
    let mut opts = map_entries(opts).ok_or(WireError::Shape("the options are a map"))?;
    let mut flags = take(&mut opts, "flags")
        .and_then(map_entries)
        .unwrap_or_default();
    let local = take(&mut flags, "local")
        .and_then(|l| l.as_bool())
        .unwrap_or(false);
    // Node's in-memory adapter reads `flags.volatile` and `flags.compress` as they are:
    // absent is a plain emit.
    let volatile = take(&mut flags, "volatile")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let compress = take(&mut flags, "compress")
        .and_then(|c| c.as_bool())
        .unwrap_or(true);
    let timeout = take(&mut flags, "timeout").and_then(|t| {
        t.as_u64()
            .or_else(|| t.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
    });
    Ok((
        BroadcastOptions {
            rooms: rooms(take(&mut opts, "rooms")),
            except: rooms(take(&mut opts, "except")),
            local,
            flags: crate::rooms::EmitFlags { volatile, compress },
        },
        timeout,
    ))
}

/// A broadcast with acknowledgements another node asks for (request type 7, MessagePack).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AckBroadcast {
    pub(crate) uid: String,
    pub(crate) request_id: String,
    pub(crate) event: String,
    pub(crate) args: Args,
    pub(crate) opts: BroadcastOptions,
    /// How long the sender collects acknowledgements, in milliseconds.
    pub(crate) timeout_ms: Option<u64>,
}

/// Decodes `{uid, requestId, type: 7, packet, opts}`; `Ok(None)` for another request type.
pub(crate) fn decode_ack_broadcast(message: &[u8]) -> Result<Option<AckBroadcast>, WireError> {
    if message.first() == Some(&b'{') {
        return Ok(None);
    }
    let mut request = map_entries(read(message)?).ok_or(WireError::Shape("a request is a map"))?;
    if take(&mut request, "type").and_then(|t| t.as_u64()) != Some(request_type::BROADCAST) {
        return Ok(None);
    }
    let string = |v: Option<Mp>| match v {
        Some(Mp::String(s)) => s.into_str(),
        _ => None,
    };
    let uid = string(take(&mut request, "uid")).unwrap_or_default();
    let request_id =
        string(take(&mut request, "requestId")).ok_or(WireError::Shape("a requestId"))?;
    let packet = take(&mut request, "packet").ok_or(WireError::Shape("a packet"))?;
    let (_, event, args) = packet_from_mp(packet)?;
    let (opts, timeout_ms) = match take(&mut request, "opts") {
        Some(opts) => opts_from_mp(opts)?,
        None => (BroadcastOptions::default(), None),
    };
    Ok(Some(AckBroadcast {
        uid,
        request_id,
        event,
        args,
        opts,
        timeout_ms,
    }))
}

/// `{type: 9, requestId, packet}`: one client's acknowledgement (its first argument, binary in
/// place), MessagePack as Node sends it.
pub(crate) fn encode_broadcast_ack(request_id: &str, args: Args) -> Vec<u8> {
    let first = match args.clone().into_data() {
        Ok(values) => values.first().map_or(Mp::Nil, data_to_mp),
        Err(_) => args.values.first().map_or(Mp::Nil, json_to_mp),
    };
    write(&Mp::Map(vec![
        (Mp::from("type"), Mp::from(9u64)),
        (Mp::from("requestId"), Mp::from(request_id)),
        (Mp::from("packet"), first),
    ]))
}

/// Room names from a MessagePack array (numbers as Node would print them).
pub(super) fn rooms(value: Option<Mp>) -> Vec<Room> {
    let Some(Mp::Array(items)) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Mp::String(s) => s.into_str(),
            Mp::Integer(i) => Some(i.to_string()),
            _ => None,
        })
        .collect()
}

pub(super) fn map_entries(value: Mp) -> Option<Vec<(Mp, Mp)>> {
    match value {
        Mp::Map(entries) => Some(entries),
        _ => None,
    }
}

pub(super) fn take(entries: &mut Vec<(Mp, Mp)>, key: &str) -> Option<Mp> {
    let at = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
    Some(entries.swap_remove(at).1)
}

pub(super) fn read(message: &[u8]) -> Result<Mp, WireError> {
    let mut reader = message;
    let value = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH)
        .map_err(|e| WireError::MessagePack(e.to_string()))?;
    Ok(value)
}

/// Decodes a request or response: JSON when it starts with `{`, else MessagePack (whose binary
/// values become arrays of numbers: no request or response this adapter reads carries any).
pub(crate) fn decode_object(message: &[u8]) -> Result<Map<String, Value>, WireError> {
    let value = if message.first() == Some(&b'{') {
        serde_json::from_slice(message).map_err(|e| WireError::Json(e.to_string()))?
    } else {
        mp_to_json(read(message)?)
    };
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(WireError::Shape("a request or response is an object")),
    }
}

/// Options `{rooms, except}` of a request.
pub(crate) fn request_opts(request: &Map<String, Value>) -> BroadcastOptions {
    let list = |value: Option<&Value>| -> Vec<Room> {
        value
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let opts = request.get("opts");
    BroadcastOptions {
        rooms: list(opts.and_then(|o| o.get("rooms"))),
        except: list(opts.and_then(|o| o.get("except"))),
        ..BroadcastOptions::default()
    }
}

/// A string field.
pub(crate) fn str_field<'a>(request: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    request.get(key).and_then(Value::as_str)
}

pub(super) fn json_to_mp(value: &Value) -> Mp {
    match value {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else {
                Mp::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => Mp::Array(items.iter().map(json_to_mp).collect()),
        Value::Object(map) => Mp::Map(
            map.iter()
                .map(|(k, v)| (Mp::from(k.as_str()), json_to_mp(v)))
                .collect(),
        ),
    }
}

pub(super) fn data_to_mp(data: &Data) -> Mp {
    match data {
        Data::Json(value) => json_to_mp(value),
        Data::Binary(bytes) => Mp::Binary(bytes.to_vec()),
        Data::Array(items) => Mp::Array(items.iter().map(data_to_mp).collect()),
        Data::Object(entries) => Mp::Map(
            entries
                .iter()
                .map(|(k, v)| (Mp::from(k.as_str()), data_to_mp(v)))
                .collect(),
        ),
    }
}

/// A map key as JavaScript sees it (object keys are strings).
fn key_string(key: Mp) -> Result<String, WireError> {
    match key {
        Mp::String(s) => s.into_str().ok_or(WireError::Shape("a key is UTF-8")),
        Mp::Integer(i) => Ok(i.to_string()),
        _ => Err(WireError::Shape("a map key is a string")),
    }
}

/// A MessagePack value as [`Data`]: `bin` becomes a binary leaf; a subtree without binary
/// stays one JSON value.
pub(super) fn mp_to_data(value: Mp) -> Result<Data, WireError> {
    Ok(match value {
        Mp::Binary(bytes) => Data::Binary(Bytes::from(bytes)),
        Mp::Array(items) => {
            let items = items
                .into_iter()
                .map(mp_to_data)
                .collect::<Result<Vec<_>, _>>()?;
            if items.iter().all(|d| matches!(d, Data::Json(_))) {
                Data::Json(Value::Array(
                    items
                        .into_iter()
                        .map(|d| match d {
                            Data::Json(v) => v,
                            _ => Value::Null,
                        })
                        .collect(),
                ))
            } else {
                Data::Array(items)
            }
        }
        Mp::Map(entries) => {
            let entries = entries
                .into_iter()
                .map(|(k, v)| Ok((key_string(k)?, mp_to_data(v)?)))
                .collect::<Result<Vec<_>, WireError>>()?;
            if entries.iter().all(|(_, d)| matches!(d, Data::Json(_))) {
                Data::Json(Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, d)| match d {
                            Data::Json(v) => (k, v),
                            _ => (k, Value::Null),
                        })
                        .collect(),
                ))
            } else {
                Data::Object(entries)
            }
        }
        scalar => Data::Json(mp_to_json(scalar)),
    })
}

/// A MessagePack value as JSON, the way `JSON.stringify` would print what notepack.io
/// decoded: non-finite floats and extension values (notepack's `undefined`, dates) as `null`,
/// binary as an array of byte values, invalid UTF-8 replaced.
pub(super) fn mp_to_json(value: Mp) -> Value {
    match value {
        Mp::Nil | Mp::Ext(..) => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => i
            .as_u64()
            .map(Value::from)
            .or_else(|| i.as_i64().map(Value::from))
            .unwrap_or(Value::Null),
        Mp::F32(f) => Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number),
        Mp::F64(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Mp::String(s) => match s.into_str() {
            Some(s) => Value::String(s),
            None => Value::Null,
        },
        Mp::Binary(bytes) => Value::Array(bytes.into_iter().map(Value::from).collect()),
        Mp::Array(items) => Value::Array(items.into_iter().map(mp_to_json).collect()),
        Mp::Map(entries) => Value::Object(
            entries
                .into_iter()
                .filter_map(|(k, v)| Some((key_string(k).ok()?, mp_to_json(v))))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn channels_follow_the_node_names() {
        let c = Channels::new("socket.io", "/", "abc123");
        assert_eq!(c.broadcast, "socket.io#/#");
        assert_eq!(c.request, "socket.io-request#/#");
        assert_eq!(c.response, "socket.io-response#/#");
        assert_eq!(c.specific_response, "socket.io-response#/#abc123#");
        assert_eq!(c.pattern(), "socket.io#/#*");
        assert_eq!(Channels::new("k", "/a*b", "u").pattern(), "k#/a\\*b#*");
        let one = BroadcastOptions {
            rooms: vec!["r".into()],
            ..BroadcastOptions::default()
        };
        assert_eq!(c.publish_channel(&one), "socket.io#/#r#");
        assert_eq!(
            c.publish_channel(&BroadcastOptions::default()),
            "socket.io#/#"
        );
        assert_eq!(c.room_of("socket.io#/#r#"), Some("r"));
        assert_eq!(c.room_of("socket.io#/#"), Some(""));
        assert_eq!(c.room_of("socket.io#/admin#"), None);
    }

    /// The bytes notepack.io 3 writes for
    /// `["uid1", {type: 2, data: ["ev", 1, Buffer.from([7])], nsp: "/"},
    ///   {rooms: ["r"], except: [], flags: {}}]` (captured from Node).
    const NODE_BROADCAST: &[u8] = &[
        0x93, 0xa4, b'u', b'i', b'd', b'1', 0x83, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa4, b'd',
        b'a', b't', b'a', 0x93, 0xa2, b'e', b'v', 0x01, 0xc4, 0x01, 0x07, 0xa3, b'n', b's', b'p',
        0xa1, b'/', 0x83, 0xa5, b'r', b'o', b'o', b'm', b's', 0x91, 0xa1, b'r', 0xa6, b'e', b'x',
        b'c', b'e', b'p', b't', 0x90, 0xa5, b'f', b'l', b'a', b'g', b's', 0x80,
    ];

    #[test]
    fn a_node_broadcast_decodes_with_its_binary_as_an_attachment() {
        let b = decode_broadcast(NODE_BROADCAST).expect("decodes");
        assert_eq!((b.uid.as_str(), b.nsp.as_str()), ("uid1", "/"));
        assert_eq!(b.event, "ev");
        assert_eq!(b.opts.rooms, vec!["r".to_owned()]);
        assert_eq!(
            b.args.values,
            vec![json!(1), json!({"_placeholder": true, "num": 0})]
        );
        assert_eq!(b.args.attachments, vec![Bytes::from_static(&[7])]);
    }

    #[test]
    fn our_broadcast_is_byte_for_byte_what_node_writes() {
        let mut args = Args::new().arg(1);
        let placeholder = args.attach(Bytes::from_static(&[7]));
        let args = args.arg(placeholder);
        let opts = BroadcastOptions {
            rooms: vec!["r".into()],
            ..BroadcastOptions::default()
        };
        let bytes = encode_broadcast("uid1", "/", "ev", &args, &opts);
        assert_eq!(bytes, NODE_BROADCAST);
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        for bad in [
            &b""[..],
            &[0x93],
            &[0x91, 0x01],
            &[0x93, 0xa1, b'u', 0x80, 0x80],
            &[0xc1],
        ] {
            assert!(decode_broadcast(bad).is_err(), "{bad:?}");
        }
        // A value nested past the depth limit.
        let deep = vec![0x91; 10_000];
        assert!(matches!(
            decode_broadcast(&deep),
            Err(WireError::MessagePack(_))
        ));
        assert!(decode_object(b"{not json").is_err());
        assert!(decode_object(b"[1]").is_err());
    }

    #[test]
    fn requests_are_json_or_messagepack() {
        let r = decode_object(
            br#"{"uid":"u","type":5,"requestId":"x","opts":{"rooms":["a"],"except":["b"]}}"#,
        )
        .expect("json");
        assert_eq!(str_field(&r, "requestId"), Some("x"));
        let opts = request_opts(&r);
        assert_eq!(
            (opts.rooms, opts.except),
            (vec!["a".to_owned()], vec!["b".to_owned()])
        );
        let mp = write(&Mp::Map(vec![(Mp::from("type"), Mp::from(9u64))]));
        assert_eq!(decode_object(&mp).expect("msgpack")["type"], json!(9));
    }

    /// Node's `opts.flags` (`io.volatile.compress(false)`, with `timeout` on a broadcast
    /// with acknowledgements) read back as they were written, in Node's key order; a plain
    /// broadcast's `flags` stay `{}`.
    #[test]
    fn flags_cross_as_node_writes_them() {
        let mut opts = BroadcastOptions {
            rooms: vec!["r".into()],
            ..BroadcastOptions::default()
        };
        assert_eq!(
            write(&raw_opts(&opts)),
            b"\x83\xa5rooms\x91\xa1r\xa6except\x90\xa5flags\x80".to_vec()
        );
        opts.flags.volatile = true;
        opts.flags.compress = false;
        let raw = write(&raw_opts(&opts));
        assert!(raw.ends_with(b"\xa5flags\x82\xa8volatile\xc3\xa8compress\xc2"));
        let back = opts_from_mp(read(&raw).expect("msgpack")).expect("options");
        assert_eq!(back, (opts.clone(), None));
        let raw = write(&raw_opts_with_timeout(
            &opts,
            std::time::Duration::from_millis(1500),
        ));
        assert!(
            raw.ends_with(b"\xa5flags\x83\xa8volatile\xc3\xa8compress\xc2\xa7timeout\xcd\x05\xdc")
        );
        let back = opts_from_mp(read(&raw).expect("msgpack")).expect("options");
        assert_eq!(back, (opts, Some(1500)));
    }
}
