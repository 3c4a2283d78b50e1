//! The msgpack parser: Socket.IO packets as npm `socket.io-msgpack-parser` 3.0 writes them.
//!
//! Each packet is one MessagePack map `{type, data, nsp, id}` sent as one binary Engine.IO
//! message (a binary WebSocket frame, or `b<base64>` in a polling payload): there are no
//! attachments and no binary packet types, a binary value sits in `data` where it belongs
//! (`bin`). The parser encodes with `notepack.io` 2.2, whose choices a server must read:
//!
//! - extra keys in the packet map: socket.io-client adds `options: {compress}`; ignored;
//! - `undefined` as the fixext 1 `d4 00 00` (a CONNECT without auth has `data: undefined`):
//!   read as absent at the top of the packet and in a map (as `JSON.stringify` drops it), as
//!   `null` in an array;
//! - an `ArrayBuffer` or typed array (a browser's binary, a `Uint8Array`) as an ext of type 0
//!   (`c7`/`c8`/`c9`), a Node `Buffer` as `bin`: both are binary;
//! - a `Date` as the fixext 8 `d7 00` with its milliseconds: read as its ISO-8601 text, what
//!   `JSON.stringify` writes for it;
//! - any other ext as `[type, binary]`, as notepack gives it to a Node server.
//!
//! The ext markers carry that meaning, not only the ext type: `d4 00 xx` is `undefined` but
//! `c7 01 00 xx` a one-byte `Uint8Array`, `d7 00` a `Date` but `c7 08 00` eight bytes. A
//! generic value tree (rmpv's `Value` keeps only type and bytes) would confuse them, so this
//! reads the markers itself (with `rmp`'s marker table) straight into JSON values.
//!
//! Binary values map to this crate's argument form (see [`super::binary`]): each becomes a
//! placeholder `{"_placeholder":true,"num":N}` in the arguments and the N-th of the returned
//! attachments, so the layers above see the same thing whichever parser the server speaks. A
//! decoded event or ack with binary inside carries `attachments: Some(n)`.
//!
//! The validation follows the parser's `checkPacket`: `type` an integer 0..4, `nsp` a string,
//! `data` absent or an object for CONNECT, absent for DISCONNECT, a string or an object for
//! CONNECT_ERROR, an array for EVENT and ACK; `id` absent or an integer. Like the JSON decoder
//! ([`super::socket`]), an event must start with a name that is not reserved and an ack needs
//! its id. Two refusals are ours: binary inside a CONNECT's auth or a CONNECT_ERROR (their
//! payload has no attachments here), and a map with `"_placeholder": true`, which the
//! argument form reserves for binary values (the JSON parser reads such a map as a placeholder
//! too; refusing it is clearer than aliasing a binary). Work is bounded: nesting ([`MAX_DEPTH`]), binary values per packet (the caller's
//! bound, as attachments are for the JSON parser), and no length read from the input reserves
//! more memory than the input could fill.

use super::binary::{placeholder, placeholder_num};
use super::socket::{Body, MAX_ACK_ID, Packet, PacketType, RESERVED_EVENTS};
use bytes::Bytes;
use rmp::Marker;
use rmp::encode as mp;
use serde_json::{Map, Number, Value};

/// The deepest nesting decoded (the packet map is level 1, its `data` level 2), as
/// serde_json's recursion limit for the JSON parser.
pub const MAX_DEPTH: usize = 128;

/// Why bytes are not a msgpack Socket.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MsgPackError {
    /// The input ends inside a value.
    #[error("truncated MessagePack")]
    Truncated,
    /// A byte that starts no MessagePack value (`0xc1`, reserved).
    #[error("invalid MessagePack marker 0x{0:02x}")]
    InvalidMarker(u8),
    /// Bytes after the packet's map.
    #[error("{0} trailing bytes after the packet")]
    TrailingBytes(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in a string")]
    InvalidUtf8,
    /// A map key that is not a string, an integer, a boolean or nil (JavaScript would turn
    /// a float or binary key into text we do not reproduce).
    #[error("unsupported map key")]
    InvalidKey,
    /// More binary values than the configured bound.
    #[error("more than {max} binary values in one packet")]
    TooManyBinaries {
        /// The bound.
        max: usize,
    },
    /// The packet is not a map.
    #[error("a msgpack Socket.IO packet must be a map")]
    NotAMap,
    /// `type` is not an integer 0..4.
    #[error("invalid packet type")]
    InvalidType,
    /// `nsp` is missing or not a string.
    #[error("invalid namespace")]
    InvalidNamespace,
    /// `data` does not suit the packet type.
    #[error("invalid payload for a {0:?} packet")]
    InvalidPayload(PacketType),
    /// `id` is not an integer in 0..=2^53-1.
    #[error("invalid packet id")]
    InvalidId,
    /// An ACK without an id.
    #[error("ack packet without an id")]
    MissingAckId,
    /// A map with `"_placeholder": true`: this server's argument form could not tell it from
    /// a binary value (see [`super::binary`]).
    #[error("a map with \"_placeholder\": true is reserved for binary values")]
    PlaceholderMap,
}

/// Decodes a packet, copying its binary values out of `data`.
///
/// # Errors
/// See [`decode_bytes`].
pub fn decode(data: &[u8], max_binaries: usize) -> Result<(Packet, Vec<Bytes>), MsgPackError> {
    decode_with(data, max_binaries, &|bin| Bytes::copy_from_slice(bin))
}

/// Decodes a packet whose binary values share `data`'s buffer (no copy). Returns the packet,
/// binary values as placeholders, and the attachments they refer to.
///
/// # Errors
/// [`MsgPackError`] naming the first rule the input breaks.
pub fn decode_bytes(
    data: &Bytes,
    max_binaries: usize,
) -> Result<(Packet, Vec<Bytes>), MsgPackError> {
    decode_with(data, max_binaries, &|bin| data.slice_ref(bin))
}

/// What a read gives: JavaScript's `undefined` is kept apart from values.
enum Item {
    Undefined,
    Value(Value),
}

/// A cursor over the input, collecting binary values as attachments.
struct Reader<'a, 'f> {
    input: &'a [u8],
    pos: usize,
    attachments: Vec<Bytes>,
    /// Whether a map key was given twice or set to `undefined` since the attachments were
    /// last taken: the value it dropped may have held some of them.
    dropped: bool,
    max_binaries: usize,
    slice: &'f dyn Fn(&'a [u8]) -> Bytes,
}

fn decode_with<'a>(
    data: &'a [u8],
    max_binaries: usize,
    slice: &dyn Fn(&'a [u8]) -> Bytes,
) -> Result<(Packet, Vec<Bytes>), MsgPackError> {
    let mut rd = Reader {
        input: data,
        pos: 0,
        attachments: Vec::new(),
        dropped: false,
        max_binaries,
        slice,
    };
    let len = match Marker::from_u8(rd.byte()?) {
        Marker::FixMap(n) => usize::from(n),
        Marker::Map16 => rd.len16()?,
        Marker::Map32 => rd.len32()?,
        _ => return Err(MsgPackError::NotAMap),
    };
    let (mut kind, mut nsp, mut payload, mut id) = (None, None, None, None);
    let mut attachments = Vec::new();
    for _ in 0..len {
        let key = rd.key(1)?;
        let value = match rd.item(1)? {
            Item::Undefined => None,
            Item::Value(v) => Some(v),
        };
        // Later keys win, as in the JavaScript object notepack builds. Only `data` keeps its
        // binaries (those of an ignored key, or of a `data` a later one replaces, go).
        let binaries = std::mem::take(&mut rd.attachments);
        let dropped = std::mem::take(&mut rd.dropped);
        match key.as_str() {
            "type" => kind = value,
            "nsp" => nsp = value,
            "id" => id = value,
            "data" => {
                payload = value;
                attachments = match &mut payload {
                    // Binaries of a dropped value must not stay attachments: renumber.
                    Some(value) if dropped => {
                        let mut kept = Vec::new();
                        renumber(value, &binaries, &mut kept);
                        kept
                    }
                    _ => binaries,
                };
            }
            _ => {}
        }
    }
    if rd.pos != data.len() {
        return Err(MsgPackError::TrailingBytes(data.len() - rd.pos));
    }
    let kind = match kind.as_ref().and_then(integer) {
        Some(0.0) => PacketType::Connect,
        Some(1.0) => PacketType::Disconnect,
        Some(2.0) => PacketType::Event,
        Some(3.0) => PacketType::Ack,
        Some(4.0) => PacketType::ConnectError,
        _ => return Err(MsgPackError::InvalidType),
    };
    let Some(Value::String(namespace)) = nsp else {
        return Err(MsgPackError::InvalidNamespace);
    };
    let ack = match id {
        None => None,
        Some(v) => match integer(&v) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(n) if (0.0..=MAX_ACK_ID as f64).contains(&n) => Some(n as u64),
            _ => return Err(MsgPackError::InvalidId),
        },
    };
    let invalid = || MsgPackError::InvalidPayload(kind);
    let binary = (!attachments.is_empty()).then_some(attachments.len());
    let body = match kind {
        PacketType::Connect => match payload {
            None => Body::Connect(None),
            Some(auth @ Value::Object(_)) if binary.is_none() => Body::Connect(Some(auth)),
            Some(_) => return Err(invalid()),
        },
        PacketType::Disconnect => match payload {
            None => Body::Disconnect,
            Some(_) => return Err(invalid()),
        },
        PacketType::ConnectError => match payload {
            Some(p @ (Value::Object(_) | Value::String(_))) if binary.is_none() => {
                Body::ConnectError(p)
            }
            _ => return Err(invalid()),
        },
        PacketType::Event => {
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
                attachments: binary,
            }
        }
        _ => {
            let id = ack.ok_or(MsgPackError::MissingAckId)?;
            let Some(Value::Array(args)) = payload else {
                return Err(invalid());
            };
            Body::Ack {
                id,
                args,
                attachments: binary,
            }
        }
    };
    Ok((Packet { namespace, body }, attachments))
}

/// The value of a JavaScript number that `Number.isInteger` accepts (what the parser checks
/// `type` and `id` with: `2.0` written as a float is an integer too).
fn integer(value: &Value) -> Option<f64> {
    let n = value.as_f64()?;
    (n.fract() == 0.0).then_some(n)
}

impl<'a> Reader<'a, '_> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MsgPackError> {
        let end = self.pos.checked_add(n).ok_or(MsgPackError::Truncated)?;
        let bytes = self
            .input
            .get(self.pos..end)
            .ok_or(MsgPackError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MsgPackError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, MsgPackError> {
        Ok(self.array::<1>()?[0])
    }

    fn len16(&mut self) -> Result<usize, MsgPackError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn len32(&mut self) -> Result<usize, MsgPackError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| MsgPackError::Truncated)
    }

    /// The bytes left: no collection reserves more entries than they could hold.
    fn left(&self) -> usize {
        self.input.len() - self.pos
    }

    fn str(&mut self, len: usize) -> Result<String, MsgPackError> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| MsgPackError::InvalidUtf8)
    }

    fn binary(&mut self, len: usize) -> Result<Value, MsgPackError> {
        let bytes = self.take(len)?;
        if self.attachments.len() == self.max_binaries {
            return Err(MsgPackError::TooManyBinaries {
                max: self.max_binaries,
            });
        }
        self.attachments.push((self.slice)(bytes));
        Ok(placeholder(self.attachments.len() - 1))
    }

    /// A map key at nesting level `depth`, as JavaScript names the property.
    fn key(&mut self, depth: usize) -> Result<String, MsgPackError> {
        match self.item(depth)? {
            Item::Value(Value::String(s)) => Ok(s),
            Item::Value(Value::Number(n)) if !n.is_f64() => Ok(n.to_string()),
            Item::Value(v @ (Value::Bool(_) | Value::Null)) => Ok(v.to_string()),
            _ => Err(MsgPackError::InvalidKey),
        }
    }

    /// Reads one value at nesting level `depth`.
    fn item(&mut self, depth: usize) -> Result<Item, MsgPackError> {
        if depth >= MAX_DEPTH {
            return Err(MsgPackError::TooDeep);
        }
        let first = self.byte()?;
        let value = match Marker::from_u8(first) {
            Marker::FixPos(n) => Value::from(n),
            Marker::FixNeg(n) => Value::from(n),
            Marker::Null => Value::Null,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::U8 => Value::from(self.byte()?),
            Marker::U16 => Value::from(u16::from_be_bytes(self.array()?)),
            Marker::U32 => Value::from(u32::from_be_bytes(self.array()?)),
            Marker::U64 => Value::from(u64::from_be_bytes(self.array()?)),
            Marker::I8 => Value::from(i8::from_be_bytes(self.array()?)),
            Marker::I16 => Value::from(i16::from_be_bytes(self.array()?)),
            Marker::I32 => Value::from(i32::from_be_bytes(self.array()?)),
            Marker::I64 => Value::from(i64::from_be_bytes(self.array()?)),
            Marker::F32 => float(f64::from(f32::from_be_bytes(self.array()?))),
            Marker::F64 => float(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => Value::String(self.str(usize::from(n))?),
            Marker::Str8 => {
                let n = self.byte()?;
                Value::String(self.str(usize::from(n))?)
            }
            Marker::Str16 => {
                let n = self.len16()?;
                Value::String(self.str(n)?)
            }
            Marker::Str32 => {
                let n = self.len32()?;
                Value::String(self.str(n)?)
            }
            Marker::Bin8 => {
                let n = self.byte()?;
                self.binary(usize::from(n))?
            }
            Marker::Bin16 => {
                let n = self.len16()?;
                self.binary(n)?
            }
            Marker::Bin32 => {
                let n = self.len32()?;
                self.binary(n)?
            }
            Marker::FixArray(n) => self.array_items(usize::from(n), depth)?,
            Marker::Array16 => {
                let n = self.len16()?;
                self.array_items(n, depth)?
            }
            Marker::Array32 => {
                let n = self.len32()?;
                self.array_items(n, depth)?
            }
            Marker::FixMap(n) => self.map_entries(usize::from(n), depth)?,
            Marker::Map16 => {
                let n = self.len16()?;
                self.map_entries(n, depth)?
            }
            Marker::Map32 => {
                let n = self.len32()?;
                self.map_entries(n, depth)?
            }
            Marker::FixExt1 => {
                let kind = self.byte()?;
                if kind == 0 {
                    // notepack: `undefined` (its one data byte means nothing).
                    self.take(1)?;
                    return Ok(Item::Undefined);
                }
                self.ext(kind, 1, depth)?
            }
            Marker::FixExt2 => self.fixext(2, depth)?,
            Marker::FixExt4 => self.fixext(4, depth)?,
            Marker::FixExt8 => {
                let kind = self.byte()?;
                if kind == 0 {
                    // notepack: a `Date`, as milliseconds since the epoch (i64, big endian).
                    date(i64::from_be_bytes(self.array()?))
                } else {
                    self.ext(kind, 8, depth)?
                }
            }
            Marker::FixExt16 => self.fixext(16, depth)?,
            Marker::Ext8 => {
                let n = self.byte()?;
                self.typed_ext(usize::from(n), depth)?
            }
            Marker::Ext16 => {
                let n = self.len16()?;
                self.typed_ext(n, depth)?
            }
            Marker::Ext32 => {
                let n = self.len32()?;
                self.typed_ext(n, depth)?
            }
            Marker::Reserved => return Err(MsgPackError::InvalidMarker(first)),
        };
        Ok(Item::Value(value))
    }

    fn array_items(&mut self, len: usize, depth: usize) -> Result<Value, MsgPackError> {
        let mut items = Vec::with_capacity(len.min(self.left()));
        for _ in 0..len {
            items.push(match self.item(depth + 1)? {
                // `JSON.stringify([undefined])` is `[null]`.
                Item::Undefined => Value::Null,
                Item::Value(v) => v,
            });
        }
        Ok(Value::Array(items))
    }

    fn map_entries(&mut self, len: usize, depth: usize) -> Result<Value, MsgPackError> {
        let mut map = Map::new();
        for _ in 0..len {
            let key = self.key(depth + 1)?;
            let old = match self.item(depth + 1)? {
                // `JSON.stringify({k: undefined})` is `{}`.
                Item::Undefined => map.remove(&key),
                Item::Value(v) => map.insert(key, v),
            };
            self.dropped |= old.is_some();
        }
        let map = Value::Object(map);
        if placeholder_num(&map).is_some() {
            return Err(MsgPackError::PlaceholderMap);
        }
        Ok(map)
    }

    /// A fixext other than `undefined` and `Date`.
    fn fixext(&mut self, len: usize, depth: usize) -> Result<Value, MsgPackError> {
        let kind = self.byte()?;
        self.ext(kind, len, depth)
    }

    /// An ext 8/16/32: type 0 is notepack's `ArrayBuffer` (a typed array's bytes).
    fn typed_ext(&mut self, len: usize, depth: usize) -> Result<Value, MsgPackError> {
        let kind = self.byte()?;
        if kind == 0 {
            return self.binary(len);
        }
        self.ext(kind, len, depth)
    }

    /// Any other ext: `[type, binary]`, as notepack hands it to a Node server. The array is
    /// a level of nesting (it is one when written back).
    fn ext(&mut self, kind: u8, len: usize, depth: usize) -> Result<Value, MsgPackError> {
        if depth + 1 >= MAX_DEPTH {
            return Err(MsgPackError::TooDeep);
        }
        let data = self.binary(len)?;
        Ok(Value::Array(vec![
            Value::from(i8::from_be_bytes([kind])),
            data,
        ]))
    }
}

/// Renumbers the placeholders in `value` in depth-first order, moving the attachments they
/// refer to from `old` to `kept` (every placeholder here was made by [`Reader::binary`]: a
/// peer's placeholder-shaped map is refused).
fn renumber(value: &mut Value, old: &[Bytes], kept: &mut Vec<Bytes>) {
    if let Some(Ok(n)) = placeholder_num(value) {
        if let Some(bin) = old.get(n) {
            kept.push(bin.clone());
            *value = placeholder(kept.len() - 1);
        }
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| renumber(v, old, kept)),
        Value::Object(map) => map.values_mut().for_each(|v| renumber(v, old, kept)),
        _ => {}
    }
}

/// A float as JSON holds it: `NaN` and the infinities become `null`, as `JSON.stringify`
/// writes them.
fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A JavaScript `Date` as `Date.prototype.toJSON` writes it (ECMA-262 "Date Time String
/// Format"): `YYYY-MM-DDTHH:mm:ss.sssZ`, with a signed six-digit year outside 0..=9999, and
/// `null` for a time past ±8.64e15 ms (an invalid date).
fn date(ms: i64) -> Value {
    const MAX_MS: i64 = 8_640_000_000_000_000;
    if !(-MAX_MS..=MAX_MS).contains(&ms) {
        return Value::Null;
    }
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar, counted in
    // 400-year eras of 146,097 days from 0000-03-01).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    Value::String(format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    ))
}

/// Encodes a packet as one msgpack message; each placeholder of its arguments that refers to
/// one of `attachments` is written as that binary (`bin`) in its place. A placeholder that
/// refers to none is written as the map it is.
#[must_use]
pub fn encode(packet: &Packet, attachments: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(packet, attachments, &mut out);
    out
}

/// Appends the encoding of a packet to `out` (see [`encode`]). The keys go in the order the
/// Node server's packets have them: `type`, `data`, `id`, `nsp`.
pub fn encode_into(packet: &Packet, attachments: &[Bytes], out: &mut Vec<u8>) {
    // socket.io-msgpack-parser has no binary types: binary sits in `data`.
    let kind = match packet.packet_type() {
        PacketType::BinaryEvent => PacketType::Event,
        PacketType::BinaryAck => PacketType::Ack,
        other => other,
    };
    let (data, id): (Option<DataRef<'_>>, Option<u64>) = match &packet.body {
        Body::Connect(auth) => (auth.as_ref().map(DataRef::Value), None),
        Body::Disconnect => (None, None),
        Body::ConnectError(payload) => (Some(DataRef::Value(payload)), None),
        Body::Event {
            name, args, ack, ..
        } => (Some(DataRef::Event(name, args)), *ack),
        Body::Ack { id, args, .. } => (Some(DataRef::Args(args)), Some(*id)),
    };
    let len = 2 + u32::from(data.is_some()) + u32::from(id.is_some());
    let _ = mp::write_map_len(out, len);
    let _ = mp::write_str(out, "type");
    let _ = mp::write_uint(out, u64::from(kind as u8));
    if let Some(data) = data {
        let _ = mp::write_str(out, "data");
        match data {
            DataRef::Value(value) => write_value(out, value, attachments),
            DataRef::Event(name, args) => {
                write_len(out, args.len() + 1, mp::write_array_len);
                let _ = mp::write_str(out, name);
                args.iter().for_each(|v| write_value(out, v, attachments));
            }
            DataRef::Args(args) => {
                write_len(out, args.len(), mp::write_array_len);
                args.iter().for_each(|v| write_value(out, v, attachments));
            }
        }
    }
    if let Some(id) = id {
        let _ = mp::write_str(out, "id");
        let _ = mp::write_uint(out, id);
    }
    let _ = mp::write_str(out, "nsp");
    let _ = mp::write_str(out, &packet.namespace);
}

/// What a packet's `data` is made of.
enum DataRef<'a> {
    Value(&'a Value),
    Event(&'a str, &'a [Value]),
    Args(&'a [Value]),
}

type LenWriter = fn(&mut Vec<u8>, u32) -> Result<Marker, mp::ValueWriteError<std::io::Error>>;

/// Writes a collection's length. A length past `u32::MAX` cannot be written in MessagePack;
/// nothing that large fits in an Engine.IO message (`maxPayload`), so it is clamped.
fn write_len(out: &mut Vec<u8>, len: usize, write: LenWriter) {
    let _ = write(out, u32::try_from(len).unwrap_or(u32::MAX));
}

/// Writes a JSON value, binary placeholders as `bin`, integers in their shortest form and
/// other numbers as float 64, as notepack does.
fn write_value(out: &mut Vec<u8>, value: &Value, attachments: &[Bytes]) {
    match value {
        Value::Null => {
            let _ = mp::write_nil(out);
        }
        Value::Bool(b) => {
            let _ = mp::write_bool(out, *b);
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = mp::write_sint(out, i);
            } else if let Some(u) = n.as_u64() {
                let _ = mp::write_uint(out, u);
            } else {
                let _ = mp::write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => {
            let _ = mp::write_str(out, s);
        }
        Value::Array(items) => {
            write_len(out, items.len(), mp::write_array_len);
            items.iter().for_each(|v| write_value(out, v, attachments));
        }
        Value::Object(map) => {
            if let Some(Ok(n)) = placeholder_num(value)
                && let Some(bin) = attachments.get(n)
            {
                let _ = mp::write_bin(out, bin);
                return;
            }
            write_len(out, map.len(), mp::write_map_len);
            for (k, v) in map {
                let _ = mp::write_str(out, k);
                write_value(out, v, attachments);
            }
        }
    }
}

#[cfg(test)]
#[path = "msgpack_tests.rs"]
mod tests;
