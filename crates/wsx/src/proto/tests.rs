//! Cross-cutting, table-driven tests of the sans-I/O core through the public API of
//! [`Protocol`] and [`Decoder`].
//!
//! Frames are built and parsed by hand here, independently of the crate's [`FrameHeader`] and
//! encoder, so that the encoder's output is checked byte by byte against RFC 6455 too.
#![forbid(unsafe_code)]

use super::*;
use crate::proto::error::{ProtocolError, SendError};
use bytes::Bytes;
use std::io::IoSlice;

/// The masking key of the RFC 6455 §5.7 examples.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BIN: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xa;

const ROLES: [Role; 2] = [Role::Server, Role::Client];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A frame header, by hand: `rsv` as it sits in the first byte (0x40, 0x20, 0x10), `len` the
/// declared payload length in its minimal encoding.
fn header(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | rsv | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    if len <= 125 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// `data` XORed with `key`, where `data[0]` is byte number `offset` of the payload.
fn xor_at(data: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ key[(i + offset) % 4])
        .collect()
}

/// A whole frame, by hand.
fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = header(fin, rsv, opcode, mask, payload.len() as u64);
    match mask {
        Some(key) => out.extend(xor_at(payload, key, 0)),
        None => out.extend_from_slice(payload),
    }
    out
}

/// The masking a well-behaved peer of `receiver` uses: clients mask, servers do not.
fn mask_for(receiver: Role) -> Option<[u8; 4]> {
    match receiver {
        Role::Server => Some(KEY),
        Role::Client => None,
    }
}

/// A well-formed frame addressed to `receiver`.
fn to(receiver: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, mask_for(receiver), payload)
}

fn peer(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

/// A frame parsed by hand, payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raw {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    payload: Vec<u8>,
}

impl Raw {
    /// A final, RSV-free frame as `sender` must write it.
    fn new(sender: Role, opcode: u8, payload: &[u8]) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            masked: sender == Role::Client,
            payload: payload.to_vec(),
        }
    }
}

/// Parses a byte stream that must consist of complete, minimally length-encoded frames.
fn parse(mut bytes: &[u8]) -> Vec<Raw> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "truncated header: {bytes:02x?}");
        let (b0, b1) = (bytes[0], bytes[1]);
        let (len, mut pos) = match b1 & 0x7f {
            126 => {
                let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
                assert!(len > 125, "non-minimal 16-bit length {len}");
                (len, 4)
            }
            127 => {
                let len = u64::from_be_bytes(bytes[2..10].try_into().unwrap());
                assert!(len > 0xffff && len >> 63 == 0, "bad 64-bit length {len}");
                (usize::try_from(len).unwrap(), 10)
            }
            n => (usize::from(n), 2),
        };
        let masked = b1 & 0x80 != 0;
        let key = masked.then(|| {
            let key = [bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]];
            pos += 4;
            key
        });
        let body = &bytes[pos..pos + len];
        let opcode = b0 & 0x0f;
        if opcode & 0x8 != 0 {
            assert!(
                len <= 125 && b0 & 0x80 != 0,
                "bad control frame {b0:#x} {len}"
            );
        }
        frames.push(Raw {
            fin: b0 & 0x80 != 0,
            rsv: b0 & 0x70,
            opcode,
            masked,
            payload: key.map_or_else(|| body.to_vec(), |k| xor_at(body, k, 0)),
        });
        bytes = &bytes[pos + len..];
    }
    frames
}

/// Drains a write buffer the way a driver does: vectored writes (3 slices at a time) of at most
/// `max_write` bytes, then `advance`.
fn drain_with(buf: &mut WriteBuffer, max_write: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len());
    while !buf.is_empty() {
        let mut slices = [IoSlice::new(&[]); 3];
        let n = buf.io_slices(&mut slices);
        let mut written = 0;
        for s in &slices[..n] {
            let take = s.len().min(max_write - written);
            out.extend_from_slice(&s[..take]);
            written += take;
            if written == max_write {
                break;
            }
        }
        assert!(written > 0, "a non-empty write buffer gave no bytes");
        buf.advance(written);
    }
    out
}

/// Drains a write buffer through `chunk` (transports without vectored writes).
fn drain_by_chunk(buf: &mut WriteBuffer) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len());
    while !buf.is_empty() {
        let n = buf.chunk().len();
        assert!(n > 0, "a non-empty write buffer gave an empty chunk");
        out.extend_from_slice(buf.chunk());
        buf.advance(n);
    }
    out
}

fn drain(p: &mut Protocol) -> Vec<u8> {
    drain_with(p.write_buffer(), usize::MAX)
}

/// xorshift64: deterministic pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn proto(role: Role) -> Protocol {
    Protocol::new(role, Limits::default(), 4096)
}

fn proto_limited(role: Role, max_frame_size: usize, max_message_size: usize) -> Protocol {
    let limits = Limits {
        max_frame_size,
        max_message_size,
    };
    Protocol::new(role, limits, 4096)
}

/// Calls `next_message` until `Ok(None)` or an error, collecting the messages.
fn pull(p: &mut Protocol, msgs: &mut Vec<Message>) -> Result<(), ProtocolError> {
    while let Some(m) = p.next_message()? {
        msgs.push(m);
    }
    Ok(())
}

/// Feeds `data` with `receive_data` in pseudo-random chunks of 1..=`max_chunk` bytes (all at
/// once for `usize::MAX`), pulling messages after each chunk; stops at the first error.
fn feed(
    p: &mut Protocol,
    data: &[u8],
    max_chunk: usize,
    seed: u64,
) -> (Vec<Message>, Result<(), ProtocolError>) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut msgs = Vec::new();
    let mut rest = data;
    loop {
        let n = if max_chunk == usize::MAX {
            rest.len()
        } else {
            (1 + rng.below(max_chunk)).min(rest.len())
        };
        let (chunk, tail) = rest.split_at(n);
        p.receive_data(chunk);
        rest = tail;
        if let Err(e) = pull(p, &mut msgs) {
            return (msgs, Err(e));
        }
        if rest.is_empty() {
            return (msgs, Ok(()));
        }
    }
}

fn feed_all(p: &mut Protocol, data: &[u8]) -> (Vec<Message>, Result<(), ProtocolError>) {
    feed(p, data, usize::MAX, 0)
}

/// `out` must be exactly one close frame written by `sender`, with status `code`.
fn assert_single_close(sender: Role, out: &[u8], code: u16) {
    let frames = parse(out);
    assert_eq!(frames.len(), 1, "expected one close frame: {frames:?}");
    let f = &frames[0];
    assert_eq!(
        (f.fin, f.rsv, f.opcode, f.masked),
        (true, 0, CLOSE, sender == Role::Client)
    );
    assert_eq!(
        f.payload[..2],
        code.to_be_bytes(),
        "close payload {:?}",
        f.payload
    );
    assert!(std::str::from_utf8(&f.payload[2..]).is_ok());
}

/// `out` must end with a close frame written by `sender` with status `code`; what comes before
/// can only be pongs answering pings that preceded the failure.
fn assert_ends_with_close(sender: Role, out: &[u8], code: u16) {
    let frames = parse(out);
    let Some((last, before)) = frames.split_last() else {
        panic!("no close frame was queued");
    };
    assert!(before.iter().all(|f| f.opcode == PONG), "{frames:?}");
    let split = out.len() - 2 - last.payload.len() - if last.masked { 4 } else { 0 };
    assert_single_close(sender, &out[split..], code);
}

/// Feeds `bytes` to a fresh `role` connection, all at once and then byte by byte, and checks it
/// is failed with `err`: the error and its close code, the close frame queued, the state after.
/// Returns the messages delivered before the error (of the all-at-once run).
fn assert_fails(role: Role, bytes: &[u8], err: &ProtocolError, code: u16) -> Vec<Message> {
    assert_eq!(err.close_code().as_u16(), code, "{err:?}");
    let mut first = None;
    for max_chunk in [usize::MAX, 1] {
        let mut p = proto(role);
        let (msgs, res) = feed(&mut p, bytes, max_chunk, 1);
        let ctx = format!("{role:?} chunk {max_chunk} {bytes:02x?}");
        assert_eq!(res.as_ref(), Err(err), "{ctx}");
        assert_eq!(p.failure(), Some(err), "{ctx}");
        assert_eq!(p.close_code().as_u16(), code, "{ctx}");
        assert_eq!(p.state(), State::Closed, "{ctx}");
        assert!(p.should_close_transport() && p.close_sent(), "{ctx}");
        assert_ends_with_close(role, &drain(&mut p), code);
        // The failure sticks; nothing more is queued or can be sent.
        assert_eq!(p.next_message().as_ref(), Err(err), "{ctx}");
        assert!(p.write_buffer().is_empty(), "{ctx}");
        assert!(
            matches!(p.send(Message::text("x")), Err(SendError::Closed)),
            "{ctx}"
        );
        first.get_or_insert(msgs);
    }
    first.unwrap_or_default()
}

/// Text of exactly `n` bytes mixing 1- to 4-byte characters.
fn text_of_len(n: usize) -> String {
    let mut s = String::with_capacity(n);
    for c in ['a', 'é', '€', '𝄞'].iter().cycle() {
        if s.len() + c.len_utf8() > n {
            break;
        }
        s.push(*c);
    }
    while s.len() < n {
        s.push('z');
    }
    s
}

fn binary_of_len(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

#[test]
fn helpers_match_the_rfc_examples() {
    // RFC 6455 §5.7.
    assert_eq!(frame(true, 0, TEXT, None, b"Hello"), b"\x81\x05Hello");
    assert_eq!(
        frame(true, 0, TEXT, Some(KEY), b"Hello"),
        [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
    assert_eq!(header(true, 0, BIN, None, 256), [0x82, 0x7e, 0x01, 0x00]);
    assert_eq!(
        header(true, 0, BIN, None, 65536),
        [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]
    );
    assert_eq!(
        parse(&frame(true, 0, TEXT, Some(KEY), b"Hello")),
        [Raw::new(Role::Client, TEXT, b"Hello")]
    );
    assert_eq!(text_of_len(10).len(), 10);
    assert_eq!(text_of_len(100_000).len(), 100_000);
}

// ---------------------------------------------------------------------------------------------
// 2. Round trips between a client and a server
// ---------------------------------------------------------------------------------------------

const SIZES: [usize; 8] = [0, 1, 125, 126, 127, 65535, 65536, 100_000];

/// The messages of every kind and size, with their opcodes.
fn all_messages() -> Vec<(u8, Message)> {
    let mut cases = Vec::new();
    for size in SIZES {
        cases.push((TEXT, Message::text(text_of_len(size))));
        cases.push((BIN, Message::binary(binary_of_len(size))));
        if size <= 125 {
            cases.push((PING, Message::Ping(binary_of_len(size).into())));
            cases.push((PONG, Message::Pong(text_of_len(size).into())));
        }
    }
    cases
}

#[test]
fn every_message_kind_and_size_round_trips_in_any_chunking() {
    for sender_role in ROLES {
        let receiver_role = peer(sender_role);
        for (i, (opcode, msg)) in all_messages().into_iter().enumerate() {
            let payload = msg.clone().into_payload().to_vec();
            let mut sender = proto(sender_role);
            sender.send(msg.clone()).unwrap();
            // Partial writes of 1000 bytes exercise `advance` inside chunks.
            let wire = drain_with(sender.write_buffer(), 1000);
            // The encoder's bytes, checked by hand: FIN, no RSV, opcode, mask bit iff client,
            // minimal length encoding, payload masked with the key it announced.
            assert_eq!(
                parse(&wire),
                [Raw::new(sender_role, opcode, &payload)],
                "{sender_role:?} {opcode} {}",
                payload.len()
            );
            let mask_len = if sender_role == Role::Client { 4 } else { 0 };
            let len_len = match payload.len() {
                0..=125 => 0,
                126..=65535 => 2,
                _ => 8,
            };
            assert_eq!(wire.len(), 2 + len_len + mask_len + payload.len());

            let chunkings: &[usize] = if wire.len() <= 200 {
                &[usize::MAX, 1, 3]
            } else {
                &[usize::MAX, 7, 1500, 70_000]
            };
            for &max_chunk in chunkings {
                let ctx = format!(
                    "{sender_role:?} op {opcode} len {} chunk {max_chunk}",
                    payload.len()
                );
                let mut receiver = proto(receiver_role);
                let (msgs, res) = feed(&mut receiver, &wire, max_chunk, i as u64);
                assert_eq!(res, Ok(()), "{ctx}");
                assert_eq!(msgs, std::slice::from_ref(&msg), "{ctx}");
                assert_eq!(receiver.state(), State::Open, "{ctx}");
                let reply = drain(&mut receiver);
                if opcode == PING {
                    // The pong echoes the ping's payload, and goes back to the sender.
                    assert_eq!(
                        parse(&reply),
                        [Raw::new(receiver_role, PONG, &payload)],
                        "{ctx}"
                    );
                    let (back, res) = feed(&mut sender, &reply, max_chunk, 3);
                    assert_eq!(res, Ok(()), "{ctx}");
                    assert_eq!(back, [Message::Pong(payload.clone().into())], "{ctx}");
                    assert!(drain(&mut sender).is_empty(), "a pong is not answered");
                } else {
                    assert!(reply.is_empty(), "{ctx}: unexpected reply {reply:02x?}");
                }
            }
        }
    }
}

#[test]
fn a_stream_of_many_messages_round_trips_in_random_chunks() {
    for sender_role in ROLES {
        let cases = all_messages();
        let mut sender = proto(sender_role);
        for (_, msg) in &cases {
            sender.send(msg.clone()).unwrap();
        }
        let wire = drain_by_chunk(sender.write_buffer());
        let expected: Vec<Message> = cases.iter().map(|(_, m)| m.clone()).collect();
        let pings: Vec<Vec<u8>> = cases
            .iter()
            .filter(|(op, _)| *op == PING)
            .map(|(_, m)| m.clone().into_payload().to_vec())
            .collect();
        for (seed, max_chunk) in [(1, 3000), (2, 100_000), (3, usize::MAX)] {
            let mut receiver = proto(peer(sender_role));
            let (msgs, res) = feed(&mut receiver, &wire, max_chunk, seed);
            assert_eq!(res, Ok(()));
            assert_eq!(msgs, expected, "{sender_role:?} chunk {max_chunk}");
            // One pong per ping, in order.
            let pongs: Vec<Vec<u8>> = parse(&drain(&mut receiver))
                .into_iter()
                .map(|f| {
                    assert_eq!(f.opcode, PONG);
                    f.payload
                })
                .collect();
            assert_eq!(pongs, pings);
        }
    }
}

#[test]
fn close_frames_round_trip_and_are_echoed() {
    let long_reason = format!("{}x", "é".repeat(61));
    assert_eq!(long_reason.len(), 123);
    let cases = [
        (None, vec![]),
        (Some(CloseFrame::new(1000, "")), vec![0x03, 0xe8]),
        (
            Some(CloseFrame::new(4999, long_reason.clone())),
            close_payload(4999, long_reason.as_bytes()),
        ),
    ];
    for sender_role in ROLES {
        for (frame_sent, payload) in &cases {
            let ctx = format!("{sender_role:?} {frame_sent:?}");
            let mut sender = proto(sender_role);
            let mut receiver = proto(peer(sender_role));
            sender.send(Message::Close(frame_sent.clone())).unwrap();
            let wire = drain(&mut sender);
            assert_eq!(
                parse(&wire),
                [Raw::new(sender_role, CLOSE, payload)],
                "{ctx}"
            );
            let (msgs, res) = feed(&mut receiver, &wire, 1, 0);
            assert_eq!(res, Ok(()));
            assert_eq!(msgs, [Message::Close(frame_sent.clone())], "{ctx}");
            // The reply echoes the code only.
            let echo = frame_sent.as_ref().map(|f| CloseFrame::new(f.code, ""));
            let reply = drain(&mut receiver);
            let echo_payload = echo.as_ref().map_or(vec![], |f| f.encode().to_vec());
            assert_eq!(
                parse(&reply),
                [Raw::new(receiver.role(), CLOSE, &echo_payload)],
                "{ctx}"
            );
            let (msgs, res) = feed(&mut sender, &reply, 1, 0);
            assert_eq!(res, Ok(()));
            assert_eq!(msgs, [Message::Close(echo)], "{ctx}");
            let code = frame_sent.as_ref().map_or(1005, |f| f.code.as_u16());
            for p in [&sender, &receiver] {
                assert_eq!(p.state(), State::Closed, "{ctx}");
                assert!(p.should_close_transport(), "{ctx}");
                assert_eq!(p.close_code().as_u16(), code, "{ctx}");
            }
            assert!(drain(&mut sender).is_empty(), "no second close");
        }
    }
}

#[test]
fn invalid_messages_are_refused_before_anything_is_queued() {
    let cases = [
        Message::Ping(vec![0; 126].into()),
        Message::Pong(vec![0; 126].into()),
        Message::Close(Some(CloseFrame::new(1005, ""))),
        Message::Close(Some(CloseFrame::new(1006, ""))),
        Message::Close(Some(CloseFrame::new(1015, ""))),
        Message::Close(Some(CloseFrame::new(0, ""))),
        Message::Close(Some(CloseFrame::new(5000, ""))),
    ];
    for role in ROLES {
        for msg in &cases {
            let mut p = proto(role);
            let res = p.send(msg.clone());
            assert!(
                matches!(res, Err(SendError::Invalid(_))),
                "{msg:?}: {res:?}"
            );
            assert!(p.write_buffer().is_empty());
            assert_eq!(p.state(), State::Open);
            assert!(!p.close_sent());
        }
        // A reason too long for a control frame is cut at a character boundary.
        let mut p = proto(role);
        p.send(Message::Close(Some(CloseFrame::new(1000, "é".repeat(100)))))
            .unwrap();
        let frames = parse(&drain(&mut p));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].payload.len(), 124);
        assert_eq!(frames[0].payload[..2], [0x03, 0xe8]);
        assert_eq!(frames[0].payload[2..], *"é".repeat(61).as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// 3-4. Masking and header rules
// ---------------------------------------------------------------------------------------------

#[test]
fn masking_direction_is_enforced() {
    for op in [TEXT, BIN, PING, PONG, CLOSE] {
        for payload in [&b""[..], b"hi"] {
            let unmasked = frame(true, 0, op, None, payload);
            assert_fails(Role::Server, &unmasked, &ProtocolError::UnmaskedFrame, 1002);
            let masked = frame(true, 0, op, Some(KEY), payload);
            assert_fails(Role::Client, &masked, &ProtocolError::MaskedFrame, 1002);
        }
    }
    // The server's close frame, byte for byte: unmasked, code 1002 first.
    let mut p = proto(Role::Server);
    p.receive_data(b"\x81\x02hi");
    assert_eq!(p.next_message(), Err(ProtocolError::UnmaskedFrame));
    let out = drain(&mut p);
    assert_eq!(out[..4], [0x88, out.len() as u8 - 2, 0x03, 0xea]);
}

#[test]
fn header_violations_fail_with_1002() {
    for role in ROLES {
        let m = mask_for(role);
        let mut cases: Vec<(Vec<u8>, ProtocolError)> = Vec::new();
        for op in (0x3..=0x7).chain(0xb..=0xf) {
            cases.push((
                frame(true, 0, op, m, b"x"),
                ProtocolError::ReservedOpcode(op),
            ));
            cases.push((
                frame(false, 0, op, m, b""),
                ProtocolError::ReservedOpcode(op),
            ));
        }
        for rsv in [0x40, 0x20, 0x10, 0x70] {
            for op in [TEXT, BIN, PING, PONG, CLOSE] {
                cases.push((frame(true, rsv, op, m, b"x"), ProtocolError::ReservedBits));
            }
            // On a continuation too (RSV is never allowed there without an extension).
            let mut wire = to(role, false, TEXT, b"a");
            wire.extend(frame(true, rsv, CONT, m, b"b"));
            cases.push((wire, ProtocolError::ReservedBits));
        }
        for op in [PING, PONG, CLOSE] {
            cases.push((
                frame(false, 0, op, m, b""),
                ProtocolError::FragmentedControlFrame,
            ));
            // Oversized control frames fail on the header alone (no payload follows).
            cases.push((
                header(true, 0, op, m, 126),
                ProtocolError::ControlFrameTooLarge(126),
            ));
            cases.push((
                header(true, 0, op, m, 65535),
                ProtocolError::ControlFrameTooLarge(126),
            ));
            cases.push((
                header(true, 0, op, m, 70_000),
                ProtocolError::ControlFrameTooLarge(127),
            ));
        }
        cases.push((
            frame(true, 0, PING, m, &[7; 126]),
            ProtocolError::ControlFrameTooLarge(126),
        ));
        for top in [0x80u8, 0xff] {
            let mut wire = vec![0x82, if m.is_some() { 0xff } else { 0x7f }, top];
            wire.extend_from_slice(&[0; 7]);
            wire.extend(m.unwrap_or_default());
            cases.push((wire, ProtocolError::InvalidLength));
        }
        for (wire, err) in cases {
            let msgs = assert_fails(role, &wire, &err, 1002);
            assert!(msgs.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Fragmentation
// ---------------------------------------------------------------------------------------------

#[test]
fn fragments_with_interleaved_control_frames() {
    for role in ROLES {
        let t = |fin, op, p: &[u8]| to(role, fin, op, p);
        let wire = [
            t(false, TEXT, b"Hel"),
            t(true, PING, b"p1"),
            t(false, CONT, b"lo, "),
            t(true, PONG, b"q"),
            t(true, PING, b""),
            t(true, CONT, b"world"),
        ]
        .concat();
        let expected = [
            Message::Ping(Bytes::from_static(b"p1")),
            Message::Pong(Bytes::from_static(b"q")),
            Message::Ping(Bytes::new()),
            Message::text("Hello, world"),
        ];
        let pongs = [Raw::new(role, PONG, b"p1"), Raw::new(role, PONG, b"")];
        for max_chunk in [usize::MAX, 1, 5] {
            let mut p = proto(role);
            let (msgs, res) = feed(&mut p, &wire, max_chunk, 9);
            assert_eq!(res, Ok(()));
            assert_eq!(msgs, expected, "{role:?} chunk {max_chunk}");
            let out = drain(&mut p);
            assert_eq!(parse(&out), pongs);
            if role == Role::Server {
                assert_eq!(out, [0x8a, 0x02, b'p', b'1', 0x8a, 0x00]);
            }
        }
        // The pong is queued when the ping is delivered, before the message is complete.
        let mut p = proto(role);
        p.receive_data(&[t(false, TEXT, b"Hel"), t(true, PING, b"p1")].concat());
        assert_eq!(
            p.next_message(),
            Ok(Some(Message::Ping(Bytes::from_static(b"p1"))))
        );
        assert_eq!(parse(&drain(&mut p)), [Raw::new(role, PONG, b"p1")]);
        assert_eq!(p.next_message(), Ok(None));
        p.receive_data(&t(true, CONT, b"lo"));
        assert_eq!(p.next_message(), Ok(Some(Message::text("Hello"))));

        // Binary, and empty fragments anywhere.
        let cases: [(Vec<u8>, Message); 4] = [
            (
                [
                    t(false, BIN, b"\x00\x01"),
                    t(false, CONT, b"\x02"),
                    t(true, CONT, b"\xff"),
                ]
                .concat(),
                Message::binary(&b"\x00\x01\x02\xff"[..]),
            ),
            (
                [
                    t(false, TEXT, b""),
                    t(false, CONT, b""),
                    t(false, CONT, b"abc"),
                    t(true, CONT, b""),
                ]
                .concat(),
                Message::text("abc"),
            ),
            (
                [t(false, TEXT, b""), t(true, CONT, b"")].concat(),
                Message::text(""),
            ),
            (
                [t(false, BIN, b""), t(true, CONT, b"")].concat(),
                Message::binary(Vec::new()),
            ),
        ];
        for (wire, msg) in cases {
            for max_chunk in [usize::MAX, 1] {
                let mut p = proto(role);
                assert_eq!(
                    feed(&mut p, &wire, max_chunk, 0),
                    (vec![msg.clone()], Ok(()))
                );
            }
        }
    }
}

#[test]
fn fragmentation_violations_fail_with_1002() {
    for role in ROLES {
        let t = |fin, op, p: &[u8]| to(role, fin, op, p);
        let unexpected = ProtocolError::UnexpectedContinuation;
        let expected = ProtocolError::ExpectedContinuation;
        let cases: [(Vec<u8>, &ProtocolError, Vec<Message>); 7] = [
            (t(true, CONT, b"x"), &unexpected, vec![]),
            (t(false, CONT, b""), &unexpected, vec![]),
            (
                [t(true, TEXT, b"a"), t(true, CONT, b"b")].concat(),
                &unexpected,
                vec![Message::text("a")],
            ),
            (
                [t(false, TEXT, b"a"), t(true, TEXT, b"b")].concat(),
                &expected,
                vec![],
            ),
            (
                [t(false, TEXT, b"a"), t(false, BIN, b"b")].concat(),
                &expected,
                vec![],
            ),
            (
                [t(false, BIN, b"a"), t(true, PING, b""), t(true, BIN, b"b")].concat(),
                &expected,
                vec![Message::Ping(Bytes::new())],
            ),
            (
                [
                    t(false, BIN, b"a"),
                    t(false, CONT, b"b"),
                    t(true, TEXT, b""),
                ]
                .concat(),
                &expected,
                vec![],
            ),
        ];
        for (wire, err, before) in cases {
            assert_eq!(assert_fails(role, &wire, err, 1002), before);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. UTF-8
// ---------------------------------------------------------------------------------------------

const SAMPLE: &str = "κόσμε€𝄞";

const INVALID_UTF8: [&[u8]; 6] = [
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // surrogate
    b"\xf4\x90\x80\x80",                                               // above U+10FFFF
    b"\xc0\xaf",                                                       // overlong
    b"ab\x80cd",                                                       // lone continuation
    b"\xe2\x82a",                                                      // truncated, then ASCII
    b"\xf8\x88\x80\x80\x80",                                           // 5-byte form
];

#[test]
fn text_split_at_every_byte_offset_is_delivered_whole() {
    let bytes = SAMPLE.as_bytes();
    assert_eq!(bytes.len(), 17);
    for role in ROLES {
        for i in 0..=bytes.len() {
            let wire = [
                to(role, false, TEXT, &bytes[..i]),
                to(role, true, CONT, &bytes[i..]),
            ]
            .concat();
            for max_chunk in [usize::MAX, 1] {
                let mut p = proto(role);
                assert_eq!(
                    feed(&mut p, &wire, max_chunk, 0),
                    (vec![Message::text(SAMPLE)], Ok(())),
                    "{role:?} split at {i}"
                );
            }
            // Three fragments with a ping in the middle.
            for j in i..=bytes.len() {
                let wire = [
                    to(role, false, TEXT, &bytes[..i]),
                    to(role, true, PING, &bytes[..2]),
                    to(role, false, CONT, &bytes[i..j]),
                    to(role, true, CONT, &bytes[j..]),
                ]
                .concat();
                let mut p = proto(role);
                let (msgs, res) = feed_all(&mut p, &wire);
                assert_eq!(res, Ok(()));
                assert_eq!(
                    msgs,
                    [
                        Message::Ping(Bytes::from_static("κ".as_bytes())),
                        Message::text(SAMPLE)
                    ]
                );
            }
        }
    }
}

#[test]
fn invalid_utf8_split_at_every_offset_fails_with_1007() {
    for role in ROLES {
        for bad in INVALID_UTF8 {
            assert_fails(
                role,
                &to(role, true, TEXT, bad),
                &ProtocolError::InvalidUtf8,
                1007,
            );
            for i in 0..=bad.len() {
                let wire = [
                    to(role, false, TEXT, &bad[..i]),
                    to(role, true, CONT, &bad[i..]),
                ]
                .concat();
                assert_fails(role, &wire, &ProtocolError::InvalidUtf8, 1007);
            }
        }
        // Ending inside a character, in one frame or across fragments.
        let t = |fin, op, p: &[u8]| to(role, fin, op, p);
        for wire in [
            t(true, TEXT, b"a\xe2\x82"),
            [t(false, TEXT, b"a\xe2\x82"), t(true, CONT, b"")].concat(),
            [t(false, TEXT, b"a"), t(true, CONT, b"\xf0\x9d\x84")].concat(),
            [
                t(false, TEXT, b"\xf0"),
                t(false, CONT, b"\x9d"),
                t(true, CONT, b"\x84"),
            ]
            .concat(),
        ] {
            assert_fails(role, &wire, &ProtocolError::InvalidUtf8, 1007);
        }
        // Invalid bytes in a binary message are fine.
        let mut p = proto(role);
        let (msgs, res) = feed_all(&mut p, &t(true, BIN, INVALID_UTF8[0]));
        assert_eq!(
            (msgs, res),
            (vec![Message::binary(INVALID_UTF8[0])], Ok(()))
        );
    }
}

#[test]
fn invalid_utf8_fails_before_the_frame_is_complete() {
    // (frames before, header declaring 1000 bytes, payload start, index of the first bad byte)
    type Case = (
        Vec<(bool, u8, &'static [u8])>,
        bool,
        u8,
        &'static [u8],
        usize,
    );
    let cases: [Case; 6] = [
        (vec![], true, TEXT, b"ab\xed\xa0\x80", 3),
        (vec![], false, TEXT, b"ab\xed\xa0\x80", 3),
        (vec![], true, TEXT, b"\xff", 0),
        (
            vec![(false, TEXT, b"hello")],
            true,
            CONT,
            b"\xed\xa0\x80",
            1,
        ),
        (vec![(false, TEXT, b"hello")], false, CONT, b"ok\xc0\xaf", 2),
        // The first fragment ends inside '€'; the second's first byte cannot continue it.
        (vec![(false, TEXT, b"a\xe2\x82")], true, CONT, b"A", 0),
    ];
    for role in ROLES {
        for (before, fin, opcode, start, bad_at) in &cases {
            let ctx = format!("{role:?} {before:?} {start:02x?}");
            let mut p = proto(role);
            for (fin, op, payload) in before {
                p.receive_data(&to(role, *fin, *op, payload));
            }
            p.receive_data(&header(*fin, 0, *opcode, mask_for(role), 1000));
            assert_eq!(p.next_message(), Ok(None), "{ctx}");
            // The payload trickles in byte by byte: the error comes with the bad byte.
            let body = match mask_for(role) {
                Some(key) => xor_at(start, key, 0),
                None => start.to_vec(),
            };
            for (i, b) in body.iter().enumerate() {
                p.receive_data(&[*b]);
                let res = p.next_message();
                if i < *bad_at {
                    assert_eq!(res, Ok(None), "{ctx} byte {i}");
                } else {
                    assert_eq!(res, Err(ProtocolError::InvalidUtf8), "{ctx} byte {i}");
                    break;
                }
            }
            assert_eq!(p.close_code().as_u16(), 1007);
            assert_single_close(role, &drain(&mut p), 1007);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Close
// ---------------------------------------------------------------------------------------------

#[test]
fn received_close_frames_are_validated_and_echoed() {
    let mut valid: Vec<u16> = (1000..=1003).chain(1007..=1014).collect();
    valid.extend([3000, 3999, 4000, 4999]);
    for role in ROLES {
        // (payload, the frame delivered, the echo's payload)
        let mut ok: Vec<(Vec<u8>, Option<CloseFrame>, Vec<u8>)> = vec![
            (vec![], None, vec![]),
            (
                close_payload(1000, b"bye"),
                Some(CloseFrame::new(1000, "bye")),
                vec![0x03, 0xe8],
            ),
            (
                close_payload(1001, "κόσμε".as_bytes()),
                Some(CloseFrame::new(1001, "κόσμε")),
                vec![0x03, 0xe9],
            ),
        ];
        for &code in &valid {
            ok.push((
                close_payload(code, b""),
                Some(CloseFrame::new(code, "")),
                code.to_be_bytes().to_vec(),
            ));
        }
        for (payload, delivered, echo) in ok {
            let ctx = format!("{role:?} {payload:02x?}");
            let mut p = proto(role);
            let (msgs, res) = feed(&mut p, &to(role, true, CLOSE, &payload), 1, 0);
            assert_eq!(res, Ok(()), "{ctx}");
            assert_eq!(msgs, [Message::Close(delivered.clone())], "{ctx}");
            assert_eq!(
                parse(&drain(&mut p)),
                [Raw::new(role, CLOSE, &echo)],
                "{ctx}"
            );
            assert_eq!(p.close_received(), Some(&delivered), "{ctx}");
            let code = delivered.as_ref().map_or(1005, |f| f.code.as_u16());
            assert_eq!(p.close_code().as_u16(), code, "{ctx}");
            assert_eq!(p.state(), State::Closed, "{ctx}");
            assert!(p.should_close_transport(), "{ctx}");
            assert!(p.failure().is_none(), "{ctx}");
            assert!(
                matches!(p.send(Message::text("late")), Err(SendError::Closed)),
                "{ctx}"
            );
            // Whatever follows the close is ignored, garbage included.
            for junk in [
                to(role, true, TEXT, b"after"),
                to(role, true, PING, b""),
                vec![0xff; 20],
            ] {
                p.receive_data(&junk);
                assert_eq!(p.next_message(), Ok(None), "{ctx}");
            }
            assert!(p.write_buffer().is_empty(), "{ctx}");
            assert!(p.failure().is_none(), "{ctx}");
        }

        let mut bad: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
            (vec![0x03], ProtocolError::InvalidClosePayload, 1002),
            (
                close_payload(1000, b"\xff"),
                ProtocolError::InvalidUtf8,
                1007,
            ),
            (
                close_payload(1000, b"ok\xe2\x82"),
                ProtocolError::InvalidUtf8,
                1007,
            ),
            (
                close_payload(1000, b"\xed\xa0\x80"),
                ProtocolError::InvalidUtf8,
                1007,
            ),
        ];
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            bad.push((
                close_payload(code, b""),
                ProtocolError::InvalidCloseCode(code),
                1002,
            ));
            bad.push((
                close_payload(code, b"why"),
                ProtocolError::InvalidCloseCode(code),
                1002,
            ));
        }
        for (payload, err, code) in bad {
            assert_fails(role, &to(role, true, CLOSE, &payload), &err, code);
        }
    }
}

#[test]
fn close_handshake_state_transitions() {
    for initiator_role in ROLES {
        let mut initiator = proto(initiator_role);
        let mut responder = proto(peer(initiator_role));
        for p in [&initiator, &responder] {
            assert_eq!(p.state(), State::Open);
            assert!(!p.should_close_transport() && !p.close_sent());
            assert_eq!(p.close_code().as_u16(), 1006);
        }
        initiator
            .send(Message::Close(Some(CloseFrame::new(1000, "done"))))
            .unwrap();
        assert_eq!(initiator.state(), State::Closing);
        assert!(initiator.close_sent() && !initiator.should_close_transport());
        assert!(matches!(
            initiator.send(Message::text("x")),
            Err(SendError::AlreadyClosing)
        ));
        assert!(matches!(
            initiator.send(Message::Ping(Bytes::new())),
            Err(SendError::AlreadyClosing)
        ));
        assert!(matches!(
            initiator.send(Message::Close(None)),
            Err(SendError::AlreadyClosing)
        ));
        let close = drain(&mut initiator);
        assert_eq!(
            parse(&close),
            [Raw::new(initiator_role, CLOSE, b"\x03\xe8done")]
        );

        // The responder still sends a message before it reads the close.
        responder.send(Message::text("late")).unwrap();
        let (msgs, res) = feed(&mut responder, &close, 1, 0);
        assert_eq!(res, Ok(()));
        assert_eq!(msgs, [Message::Close(Some(CloseFrame::new(1000, "done")))]);
        assert_eq!(responder.state(), State::Closed);
        assert!(responder.should_close_transport() && responder.close_sent());
        assert_eq!(responder.close_code().as_u16(), 1000);
        assert!(matches!(
            responder.send(Message::text("x")),
            Err(SendError::Closed)
        ));
        let reply = drain(&mut responder);
        assert_eq!(
            parse(&reply),
            [
                Raw::new(responder.role(), TEXT, b"late"),
                Raw::new(responder.role(), CLOSE, b"\x03\xe8")
            ]
        );

        // The initiator, closing, still receives data; then the echo completes the handshake.
        let (msgs, res) = feed(&mut initiator, &reply, 3, 0);
        assert_eq!(res, Ok(()));
        assert_eq!(
            msgs,
            [
                Message::text("late"),
                Message::Close(Some(CloseFrame::new(1000, "")))
            ]
        );
        assert_eq!(initiator.state(), State::Closed);
        assert!(initiator.should_close_transport());
        assert_eq!(initiator.close_code().as_u16(), 1000);
        assert!(
            drain(&mut initiator).is_empty(),
            "a second close frame was queued"
        );
        assert!(matches!(
            initiator.send(Message::text("x")),
            Err(SendError::Closed)
        ));
        assert_eq!(initiator.next_message(), Ok(None));
    }
}

#[test]
fn a_failure_after_sending_close_queues_no_second_close() {
    for role in ROLES {
        let mut p = proto(role);
        p.send(Message::Close(Some(CloseFrame::new(1001, ""))))
            .unwrap();
        let first = drain(&mut p);
        assert_single_close(role, &first, 1001);
        p.receive_data(&to(role, true, 0x3, b""));
        assert_eq!(p.next_message(), Err(ProtocolError::ReservedOpcode(3)));
        assert!(p.write_buffer().is_empty());
        assert_eq!(p.state(), State::Closed);
        assert!(p.should_close_transport());
        assert_eq!(p.close_code().as_u16(), 1002);
    }
}

#[test]
fn a_ping_received_while_closing_is_still_answered() {
    // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
    // response, unless it already received a Close frame." Having *sent* a close is not an
    // exception (§5.5.1 only forbids further *data* frames after a close).
    for role in ROLES {
        let mut p = proto(role);
        p.send(Message::Close(None)).unwrap();
        drain(&mut p);
        p.receive_data(&to(role, true, PING, b"still there?"));
        assert_eq!(
            p.next_message(),
            Ok(Some(Message::Ping(Bytes::from_static(b"still there?"))))
        );
        assert_eq!(
            parse(&drain(&mut p)),
            [Raw::new(role, PONG, b"still there?")],
            "{role:?}: no pong for a ping received in the Closing state"
        );
    }
}

#[test]
fn close_codes_reported_for_each_ending() {
    for role in ROLES {
        // EOF without any close: 1006, and the connection is over.
        let mut p = proto(role);
        p.receive_eof();
        assert!(p.is_eof());
        assert_eq!(p.state(), State::Closed);
        assert_eq!(p.close_code().as_u16(), 1006);

        // EOF after sending a close but before the reply: still 1006.
        let mut p = proto(role);
        p.send(Message::Close(Some(CloseFrame::new(1000, ""))))
            .unwrap();
        p.receive_eof();
        assert_eq!((p.state(), p.close_code().as_u16()), (State::Closed, 1006));

        // A close without code: 1005; with a code: that code, even after EOF.
        for (payload, code) in [(vec![], 1005), (close_payload(4321, b"x"), 4321)] {
            let mut p = proto(role);
            feed_all(&mut p, &to(role, true, CLOSE, &payload))
                .1
                .unwrap();
            p.receive_eof();
            assert_eq!(p.close_code().as_u16(), code);
        }

        // A failure: its code.
        for (wire, code) in [
            (to(role, true, 0xb, b""), 1002),
            (to(role, true, TEXT, b"\xff"), 1007),
        ] {
            let mut p = proto(role);
            assert!(feed_all(&mut p, &wire).1.is_err());
            assert_eq!(p.close_code().as_u16(), code);
        }
    }
}

/// What a connection reports, in one tuple: state, close sent, close received, should close
/// the transport, close code.
type Report = (State, bool, bool, bool, u16);

fn report(p: &Protocol) -> Report {
    (
        p.state(),
        p.close_sent(),
        p.close_received().is_some(),
        p.should_close_transport(),
        p.close_code().as_u16(),
    )
}

#[test]
fn every_phase_reports_consistently() {
    // Each path through the close handshake (RFC 6455 §7), and what is reported after it.
    type Step = fn(&mut Protocol, Role);
    let send_close: Step = |p, _| p.send(Message::Close(None)).unwrap();
    let recv_close: Step = |p, role| {
        feed_all(p, &to(role, true, CLOSE, &close_payload(4000, b"")))
            .1
            .unwrap();
    };
    let recv_garbage: Step = |p, role| assert!(feed_all(p, &to(role, true, 0x3, b"")).1.is_err());
    let fail: Step = |p, _| p.fail(CloseCode::INTERNAL_ERROR, "gave up");
    let eof: Step = |p, _| p.receive_eof();
    let cases: [(&str, &[Step], Report); 9] = [
        ("open", &[], (State::Open, false, false, false, 1006)),
        (
            "close sent",
            &[send_close],
            (State::Closing, true, false, false, 1006),
        ),
        (
            "close received",
            &[recv_close],
            (State::Closed, true, true, true, 4000),
        ),
        (
            "handshake",
            &[send_close, recv_close],
            (State::Closed, true, true, true, 4000),
        ),
        (
            "peer failed",
            &[recv_garbage],
            (State::Closed, true, false, true, 1002),
        ),
        (
            "failed here",
            &[fail],
            (State::Closed, true, false, true, 1006),
        ),
        (
            "closing, failed",
            &[send_close, fail],
            (State::Closed, true, false, true, 1006),
        ),
        ("eof", &[eof], (State::Closed, false, false, true, 1006)),
        (
            "closed, eof",
            &[recv_close, eof],
            (State::Closed, true, true, true, 4000),
        ),
    ];
    for role in ROLES {
        for (name, steps, want) in &cases {
            let mut p = proto(role);
            for step in *steps {
                step(&mut p, role);
            }
            assert_eq!(report(&p), *want, "{role:?} {name}");
            // What can still be sent follows from the same phase.
            let sent = p.send(Message::text("x"));
            let expected = match want.0 {
                State::Open => Ok(()),
                State::Closing => Err(SendError::AlreadyClosing),
                State::Closed => Err(SendError::Closed),
            };
            assert_eq!(sent, expected, "{role:?} {name}");
        }
    }
}

#[test]
fn fail_queues_one_close_frame_and_reads_nothing_more() {
    for role in ROLES {
        let mut p = proto(role);
        p.fail(CloseCode::INTERNAL_ERROR, "keepalive ping timeout");
        assert_eq!(
            parse(&drain(&mut p)),
            [Raw::new(
                role,
                CLOSE,
                &close_payload(1011, b"keepalive ping timeout")
            )]
        );
        assert!(p.failure().is_none(), "not the peer's fault");
        // RFC 6455 §7.1.7: nothing more is received, not even a close.
        p.receive_data(&to(role, true, CLOSE, &close_payload(1000, b"")));
        assert_eq!(p.next_message(), Ok(None));
        assert!(p.close_received().is_none());
        // A second failure changes nothing.
        p.fail(CloseCode::POLICY_VIOLATION, "");
        assert!(drain(&mut p).is_empty());
        assert_eq!(p.close_code().as_u16(), 1006);

        // After our close: no second close frame.
        let mut p = proto(role);
        p.send(Message::Close(None)).unwrap();
        drain(&mut p);
        p.fail(CloseCode::INTERNAL_ERROR, "");
        assert!(drain(&mut p).is_empty());
        assert!(p.should_close_transport());

        // After the close handshake: nothing changes, the peer's code is still reported.
        let mut p = proto(role);
        feed_all(&mut p, &to(role, true, CLOSE, &close_payload(4000, b"")))
            .1
            .unwrap();
        drain(&mut p);
        p.fail(CloseCode::INTERNAL_ERROR, "");
        assert!(drain(&mut p).is_empty());
        assert_eq!(p.close_code().as_u16(), 4000);

        // A code that may not be sent (§7.4.1): an empty close frame; a long reason is cut to
        // fit the control frame.
        let mut p = proto(role);
        p.fail(CloseCode::ABNORMAL_CLOSURE, "x");
        assert_eq!(parse(&drain(&mut p)), [Raw::new(role, CLOSE, b"")]);
        let mut p = proto(role);
        p.fail(CloseCode::INTERNAL_ERROR, &"é".repeat(100));
        let frames = parse(&drain(&mut p));
        assert!(frames.len() == 1 && frames[0].payload.len() <= 125);
        assert!(std::str::from_utf8(&frames[0].payload[2..]).is_ok());
    }
}

#[test]
fn the_server_closes_the_transport_first() {
    // RFC 6455 §7.1.1: the server closes TCP first; a client waits for it, unless the
    // transport already ended.
    let mut server = proto(Role::Server);
    server.fail(CloseCode::INTERNAL_ERROR, "");
    assert_eq!(server.close_order(), CloseOrder::CloseNow);
    let mut client = proto(Role::Client);
    client.fail(CloseCode::INTERNAL_ERROR, "");
    assert_eq!(client.close_order(), CloseOrder::AwaitPeer);
    client.receive_eof();
    assert_eq!(client.close_order(), CloseOrder::CloseNow);
}

// ---------------------------------------------------------------------------------------------
// 8. Limits
// ---------------------------------------------------------------------------------------------

#[test]
fn a_huge_declared_frame_fails_before_anything_is_allocated() {
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&(1u64 << 40).to_be_bytes());
    head.extend_from_slice(&KEY);
    assert_eq!(head.len(), 14);
    let err = ProtocolError::FrameTooLarge {
        size: 1 << 40,
        limit: 16 << 20,
    };

    let mut d = Decoder::new(Role::Server, Limits::default(), 4096);
    d.extend(&head);
    assert_eq!(d.decode(), Err(err.clone()));
    assert!(d.buffer_mut().capacity() < 64 * 1024);
    assert!(d.prepare_read().capacity() < 64 * 1024);

    let mut p = proto(Role::Server);
    p.read_buffer().extend_from_slice(&head);
    assert_eq!(p.next_message(), Err(err.clone()));
    assert_eq!(p.close_code().as_u16(), 1009);
    assert_single_close(Role::Server, &drain(&mut p), 1009);
    assert!(p.read_buffer().capacity() < 64 * 1024);

    for role in ROLES {
        let head = header(true, 0, TEXT, mask_for(role), 1 << 40);
        assert_fails(role, &head, &err, 1009);
    }
}

#[test]
fn a_large_frame_reserves_a_bounded_lookahead_then_grows_with_what_arrives() {
    let limit = 16 << 20;
    let mut d = Decoder::new(Role::Client, Limits::default(), 4096);
    d.extend(&header(true, 0, BIN, None, limit));
    assert_eq!(d.decode(), Ok(None));
    // A header alone reserves at most the lookahead, not the declared 16 MiB.
    let lookahead = crate::proto::decoder::FRAME_LOOKAHEAD;
    let cap = d.prepare_read().capacity();
    assert!((lookahead..lookahead + 8192).contains(&cap), "{cap}");
    d.extend(&[0; 5000]);
    assert_eq!(d.decode(), Ok(None));
    assert_eq!(d.buffered(), 5000);
    assert!(d.prepare_read().capacity() < lookahead + 8192);
    // Past the lookahead the buffer grows by at most what already arrived (doubling).
    let mut buffered = 5000;
    while buffered < 1 << 20 {
        let room = d.prepare_read().capacity() - d.buffered();
        let chunk = vec![0; room];
        d.extend(&chunk);
        buffered += room;
        assert_eq!(d.decode(), Ok(None));
        let cap = d.prepare_read().capacity();
        assert!(
            cap <= (2 * buffered).max(lookahead + 8192) + 8192,
            "{cap} with {buffered} buffered"
        );
    }
}

#[test]
fn a_frame_up_to_the_lookahead_gets_room_for_all_of_it_at_once() {
    for size in [8 * 1024, 64 * 1024 - 100, 64 * 1024] {
        let payload = vec![7u8; size];
        let wire = frame(true, 0, BIN, None, &payload);
        let mut d = Decoder::new(Role::Client, Limits::default(), 4096);
        // The first read brings the header and a little of the payload...
        d.extend(&wire[..1000]);
        assert_eq!(d.decode(), Ok(None));
        // ...then the rest of the frame fits in the room made for the next read: one read
        // (no regrowing and copying) when the transport has it all.
        let buf = d.prepare_read();
        let room = buf.capacity() - buf.len();
        assert!(room >= wire.len() - 1000, "{size}: {room} bytes of room");
        buf.extend_from_slice(&wire[1000..]);
        let message = d.decode().unwrap().unwrap();
        assert_eq!(message.into_payload().len(), size);
    }
}

#[test]
fn the_read_size_grows_while_reads_fill_it_and_steps_back_down() {
    let mut d = Decoder::new(Role::Client, Limits::default(), 4096);
    let small = frame(true, 0, BIN, None, &[1; 100]);
    assert_eq!(d.next_read_size(), 4096);
    // Reads that fill their room: the room doubles up to the maximum.
    let stream = small.repeat(40_000);
    let mut fed = 0;
    for _ in 0..10 {
        let buf = d.prepare_read();
        let room = buf.capacity() - buf.len();
        buf.extend_from_slice(&stream[fed..fed + room]);
        fed += room;
        d.note_read(room);
        while let Ok(Some(_)) = d.decode() {}
        // Only the part of a frame cut by the read is left (its header already taken).
        assert!(d.buffered() <= fed % small.len());
    }
    assert_eq!(d.next_read_size(), crate::proto::decoder::MAX_READ);
    // Small reads: it steps back down to the configured size.
    let tail = stream[fed..fed + (small.len() - fed % small.len())].to_vec();
    d.prepare_read().extend_from_slice(&tail);
    d.note_read(tail.len());
    assert!(matches!(d.decode(), Ok(Some(_))));
    for _ in 0..200 {
        d.prepare_read().extend_from_slice(&small);
        d.note_read(small.len());
        assert!(matches!(d.decode(), Ok(Some(_))));
    }
    assert_eq!(d.next_read_size(), 4096);
    // And the grown buffer is let go once drained.
    assert!(d.prepare_read().capacity() < 4 * 4096, "{}", d.capacity());
}

#[test]
fn a_huge_frame_does_not_leave_its_allocation_pinned() {
    let payload = vec![7u8; 4 << 20];
    let wire = frame(true, 0, BIN, None, &payload);
    let mut d = Decoder::new(Role::Client, Limits::default(), 4096);
    let mut fed = 0;
    while fed < wire.len() {
        let buf = d.prepare_read();
        let n = (buf.capacity() - buf.len()).min(wire.len() - fed);
        buf.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        d.note_read(n);
    }
    let message = d.decode().unwrap().unwrap();
    assert_eq!(message.into_payload().len(), payload.len());
    assert_eq!(d.capacity(), 0);
}

#[test]
fn frame_size_limit_boundary() {
    for role in ROLES {
        for op in [TEXT, BIN] {
            let payload = text_of_len(1000).into_bytes();
            let mut p = proto_limited(role, 1000, 1 << 20);
            let (msgs, res) = feed(&mut p, &to(role, true, op, &payload), 300, 0);
            assert_eq!(res, Ok(()));
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].clone().into_payload(), payload);

            let err = ProtocolError::FrameTooLarge {
                size: 1001,
                limit: 1000,
            };
            for wire in [
                header(true, 0, op, mask_for(role), 1001),
                [
                    to(role, false, op, b"ab"),
                    header(true, 0, CONT, mask_for(role), 1001),
                ]
                .concat(),
            ] {
                let mut p = proto_limited(role, 1000, 1 << 20);
                let (msgs, res) = feed_all(&mut p, &wire);
                assert_eq!((msgs, res), (vec![], Err(err.clone())));
                assert_eq!(p.close_code().as_u16(), 1009);
                assert_single_close(role, &drain(&mut p), 1009);
            }
        }
    }
}

#[test]
fn message_size_limit_counts_every_fragment_and_fails_on_the_header() {
    for role in ROLES {
        let m = mask_for(role);
        for op in [TEXT, BIN] {
            let chunk = text_of_len(1000).into_bytes();
            // Exactly at the limit: accepted.
            let mut p = proto_limited(role, 1000, 2500);
            let wire = [
                to(role, false, op, &chunk),
                to(role, false, CONT, &chunk),
                to(role, true, CONT, &chunk[..500]),
            ]
            .concat();
            let (msgs, res) = feed(&mut p, &wire, 777, 0);
            assert_eq!(res, Ok(()));
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].clone().into_payload().len(), 2500);

            // One more fragment header crossing it: fails before its payload.
            let mut p = proto_limited(role, 1000, 2500);
            let wire = [
                to(role, false, op, &chunk),
                to(role, false, CONT, &chunk),
                header(true, 0, CONT, m, 501),
            ]
            .concat();
            let (msgs, res) = feed_all(&mut p, &wire);
            let err = ProtocolError::MessageTooLarge {
                size: 2501,
                limit: 2500,
            };
            assert_eq!((msgs, res), (vec![], Err(err)));
            assert_eq!(p.close_code().as_u16(), 1009);
            assert_single_close(role, &drain(&mut p), 1009);

            // A single frame over the message limit but within the frame limit.
            let mut p = proto_limited(role, 1000, 500);
            let (_, res) = feed_all(&mut p, &header(true, 0, op, m, 600));
            let err = ProtocolError::MessageTooLarge {
                size: 600,
                limit: 500,
            };
            assert_eq!(res, Err(err));
            assert_eq!(p.close_code().as_u16(), 1009);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Zero copy
// ---------------------------------------------------------------------------------------------

#[test]
fn a_single_frame_message_is_a_slice_of_the_read_buffer() {
    for role in ROLES {
        for (op, len) in [(BIN, 5000), (TEXT, 5000), (BIN, 10)] {
            let payload = text_of_len(len).into_bytes();
            let wire = to(role, true, op, &payload);
            let header_len = wire.len() - len;
            let mut p = proto(role);
            let buf = p.read_buffer();
            buf.extend_from_slice(&wire);
            let start = buf.as_ptr() as usize;
            let msg = p.next_message().unwrap().unwrap();
            let got = msg.into_payload();
            assert_eq!(got, payload);
            assert_eq!(
                got.as_ptr() as usize,
                start + header_len,
                "{role:?} op {op} len {len}: payload was copied out of the read buffer"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 10. No panic on arbitrary input
// ---------------------------------------------------------------------------------------------

/// Random bytes, or a few frames that are plausible enough to get past the header checks.
fn fuzz_input(rng: &mut Rng, role: Role) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.next() & 1 == 0 {
        let len = rng.below(65);
        out.extend((0..len).map(|_| rng.next() as u8));
        return out;
    }
    for _ in 0..1 + rng.below(4) {
        let opcode = match rng.below(8) {
            0 => CONT,
            1 | 2 => TEXT,
            3 => BIN,
            4 => CLOSE,
            5 => PING,
            6 => PONG,
            _ => rng.below(16) as u8,
        };
        let fin = rng.below(4) != 0;
        let rsv = if rng.below(10) == 0 {
            (rng.next() as u8) & 0x70
        } else {
            0
        };
        let mask = if rng.below(10) == 0 {
            mask_for(peer(role))
        } else {
            mask_for(role)
        };
        let mask = mask.map(|_| [rng.next() as u8, 0x55, rng.next() as u8, 0xaa]);
        let len = rng.below(24);
        let payload: Vec<u8> = match rng.below(3) {
            0 => (0..len).map(|_| rng.next() as u8).collect(),
            1 => SAMPLE.as_bytes()[..len.min(17)].to_vec(),
            _ => close_payload(
                1000 + rng.below(20) as u16,
                &SAMPLE.as_bytes()[..len.min(17)],
            ),
        };
        out.extend(frame(fin, rsv, opcode, mask, &payload));
        if rng.below(8) == 0 {
            out.truncate(out.len() - rng.below(out.len()));
        }
    }
    out
}

#[test]
fn arbitrary_input_never_panics() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut errors, mut messages, mut closes) = (0, 0, 0);
    for _ in 0..20_000 {
        let role = ROLES[rng.below(2)];
        let limits = match rng.below(3) {
            0 => Limits::default(),
            1 => Limits {
                max_frame_size: 16,
                max_message_size: 40,
            },
            _ => Limits {
                max_frame_size: usize::MAX,
                max_message_size: usize::MAX,
            },
        };
        let mut p = Protocol::new(role, limits, 64);
        let input = fuzz_input(&mut rng, role);
        let mut out = Vec::new();
        let mut rest = &input[..];
        let mut result = Ok(());
        while !rest.is_empty() && result.is_ok() {
            let (chunk, tail) = rest.split_at((1 + rng.below(16)).min(rest.len()));
            rest = tail;
            if rng.below(2) == 0 {
                p.read_buffer().extend_from_slice(chunk);
            } else {
                p.receive_data(chunk);
            }
            let mut msgs = Vec::new();
            result = pull(&mut p, &mut msgs);
            messages += msgs.len();
            closes += msgs
                .iter()
                .filter(|m| matches!(m, Message::Close(_)))
                .count();
            out.extend(drain_with(p.write_buffer(), 1 + rng.below(40)));
        }
        if let Err(err) = &result {
            errors += 1;
            assert_eq!(p.failure(), Some(err));
            assert_eq!(p.state(), State::Closed);
            assert!(p.should_close_transport());
            assert_eq!(p.next_message().as_ref(), Err(err));
            assert_eq!(p.close_code(), err.close_code());
        }
        if rng.below(4) == 0 {
            p.receive_eof();
            assert_eq!(p.state(), State::Closed);
        }
        // Whatever was written is well-formed, masked iff client, with at most one close, last.
        let frames = parse(&out);
        for (i, f) in frames.iter().enumerate() {
            assert!(
                f.fin && f.rsv == 0 && f.masked == (role == Role::Client),
                "{f:?}"
            );
            assert!(matches!(f.opcode, PONG | CLOSE), "{f:?}");
            assert!(
                f.opcode != CLOSE || i == frames.len() - 1,
                "close not last: {frames:?}"
            );
        }
        if let Err(err) = &result {
            let last = frames.last().unwrap();
            assert_eq!(last.opcode, CLOSE);
            assert_eq!(last.payload[..2], err.close_code().as_u16().to_be_bytes());
        }
    }
    // The fuzz must reach deep into the decoder, not just fail on the first byte.
    assert!(
        errors > 5_000 && messages > 2_000 && closes > 50,
        "{errors} {messages} {closes}"
    );
}
