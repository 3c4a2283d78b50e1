//! Table tests of the msgpack parser. The hex vectors were printed by npm
//! `socket.io-msgpack-parser` 3.0.2 (notepack.io 2.2.0) under Node 20:
//! `console.log(Buffer.from(new Encoder().encode(packet)[0]).toString("hex"))`, with `packet`
//! the object shown beside each vector.

use super::*;
use serde_json::json;

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn event(ns: &str, name: &str, args: Vec<Value>, ack: Option<u64>, bin: usize) -> Packet {
    Packet::new(
        ns,
        Body::Event {
            name: name.into(),
            args,
            ack,
            attachments: (bin > 0).then_some(bin),
        },
    )
}

fn ack(ns: &str, id: u64, args: Vec<Value>, bin: usize) -> Packet {
    Packet::new(
        ns,
        Body::Ack {
            id,
            args,
            attachments: (bin > 0).then_some(bin),
        },
    )
}

fn ph(n: usize) -> Value {
    placeholder(n)
}

fn bins(list: &[&[u8]]) -> Vec<Bytes> {
    list.iter().map(|b| Bytes::copy_from_slice(b)).collect()
}

/// Packets as the Node server builds them (keys `type`, `data`, `id`, `nsp`): our encoder
/// writes exactly the npm parser's bytes, and reads them back.
#[test]
fn encodes_what_the_npm_parser_encodes() {
    let long = format!(
        "83a47479706502a46461746193a173d928{}da012c{}a36e7370a12f",
        "78".repeat(40),
        "79".repeat(300)
    );
    let cases: Vec<(&str, Packet, Vec<Bytes>)> = vec![
        (
            // {type: 0, data: {sid: "abc"}, nsp: "/"}
            "83a47479706500a46461746181a3736964a3616263a36e7370a12f",
            Packet::new("/", Body::Connect(Some(json!({"sid": "abc"})))),
            vec![],
        ),
        (
            // {type: 4, data: {message: "Invalid namespace"}, nsp: "/nope"}
            "83a47479706504a46461746181a76d657373616765b1496e76616c6964206e616d657370616365
             a36e7370a52f6e6f7065",
            Packet::new(
                "/nope",
                Body::ConnectError(json!({"message": "Invalid namespace"})),
            ),
            vec![],
        ),
        (
            // {type: 1, nsp: "/admin"}
            "82a47479706501a36e7370a62f61646d696e",
            Packet::new("/admin", Body::Disconnect),
            vec![],
        ),
        (
            // {type: 2, data: ["hello", 1, -1, -200, 300, 70000, 5000000000, 1.5, "é😀",
            //  null, true, false, {a: [1]}], nsp: "/"}
            "83a47479706502a4646174619da568656c6c6f01ffd1ff38cd012cce00011170cf000000012a05f200
             cb3ff8000000000000a6c3a9f09f9880c0c3c281a1619101a36e7370a12f",
            event(
                "/",
                "hello",
                vec![
                    json!(1),
                    json!(-1),
                    json!(-200),
                    json!(300),
                    json!(70000),
                    json!(5_000_000_000_u64),
                    json!(1.5),
                    json!("é😀"),
                    json!(null),
                    json!(true),
                    json!(false),
                    json!({"a": [1]}),
                ],
                None,
                0,
            ),
            vec![],
        ),
        (
            // {type: 2, data: ["q"], id: 7, nsp: "/admin"}
            "84a47479706502a46461746191a171a2696407a36e7370a62f61646d696e",
            event("/admin", "q", vec![], Some(7), 0),
            vec![],
        ),
        (
            // {type: 2, data: ["bin", Buffer.from([1, 2, 3]), {deep: [Buffer.alloc(0)]}],
            //  nsp: "/"}
            "83a47479706502a46461746193a362696ec40301020381a46465657091c400a36e7370a12f",
            event("/", "bin", vec![ph(0), json!({"deep": [ph(1)]})], None, 2),
            bins(&[&[1, 2, 3], &[]]),
        ),
        (
            // {type: 3, data: ["ok", Buffer.from([255])], id: 300, nsp: "/"}
            "84a47479706503a46461746192a26f6bc401ffa26964cd012ca36e7370a12f",
            ack("/", 300, vec![json!("ok"), ph(0)], 1),
            bins(&[&[255]]),
        ),
        (
            // {type: 2, data: ["s", "x".repeat(40), "y".repeat(300)], nsp: "/"}: str 8, str 16
            &long,
            event(
                "/",
                "s",
                vec![json!("x".repeat(40)), json!("y".repeat(300))],
                None,
                0,
            ),
            vec![],
        ),
    ];
    for (vector, packet, attachments) in cases {
        let bytes = hex(vector);
        assert_eq!(encode(&packet, &attachments), bytes, "encode {packet:?}");
        let got = decode(&bytes, 16).unwrap_or_else(|e| panic!("{vector}: {e}"));
        assert_eq!(got, (packet, attachments), "{vector}");
    }
}

/// Packets as socket.io-client 4 builds them, with the encoder's quirks: the `options` key,
/// `undefined` as `d4 00 00`, typed arrays as ext type 0, dates as `d7 00`.
#[test]
fn decodes_what_the_official_client_sends() {
    let cases: Vec<(&str, Packet, Vec<Bytes>)> = vec![
        (
            // {type: 0, data: undefined, nsp: "/"}: a CONNECT without auth
            "83a47479706500a464617461d40000a36e7370a12f",
            Packet::new("/", Body::Connect(None)),
            vec![],
        ),
        (
            // {type: 0, data: {token: "t"}, nsp: "/admin"}
            "83a47479706500a46461746181a5746f6b656ea174a36e7370a62f61646d696e",
            Packet::new("/admin", Body::Connect(Some(json!({"token": "t"})))),
            vec![],
        ),
        (
            // {type: 2, data: ["echo", "hi"], options: {compress: true}, nsp: "/"}
            "84a47479706502a46461746192a46563686fa26869a76f7074696f6e7381a8636f6d7072657373c3
             a36e7370a12f",
            event("/", "echo", vec![json!("hi")], None, 0),
            vec![],
        ),
        (
            // {type: 2, data: ["echo-ack", {n: 1}], options: {compress: true}, id: 0, nsp: "/"}
            "85a47479706502a46461746192a86563686f2d61636b81a16e01a76f7074696f6e7381a8636f6d70
             72657373c3a2696400a36e7370a12f",
            event("/", "echo-ack", vec![json!({"n": 1})], Some(0), 0),
            vec![],
        ),
        (
            // {type: 2, data: ["u", undefined, {k: undefined, j: 1}], options: .., nsp: "/"}:
            // JSON.stringify's reading: null in an array, absent in an object
            "84a47479706502a46461746193a175d4000082a16bd40000a16a01a76f7074696f6e7381a8636f6d
             7072657373c3a36e7370a12f",
            event("/", "u", vec![json!(null), json!({"j": 1})], None, 0),
            vec![],
        ),
        (
            // {type: 2, data: ["bin", new Uint8Array([9, 8, 7]), new ArrayBuffer(2),
            //  new Uint8Array([5])], options: .., nsp: "/"}: ext 8 of type 0, even one byte long
            "84a47479706502a46461746194a362696ec70300090807c702000000c7010005a76f7074696f6e73
             81a8636f6d7072657373c3a36e7370a12f",
            event("/", "bin", vec![ph(0), ph(1), ph(2)], None, 3),
            bins(&[&[9, 8, 7], &[0, 0], &[5]]),
        ),
        (
            // {type: 2, data: ["e", new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)),
            //  new Date(-62198755200000), new Date(8.64e15)], nsp: "/"}: Date.toJSON's text
            "83a47479706502a46461746194a165d7000000018df4dc5495d700ffffc76e394a7400d700001eb2
             08c2dc0000a36e7370a12f",
            event(
                "/",
                "e",
                vec![
                    json!("2024-02-29T12:34:56.789Z"),
                    json!("-000001-01-01T00:00:00.000Z"),
                    json!("+275760-09-13T00:00:00.000Z"),
                ],
                None,
                0,
            ),
            vec![],
        ),
        (
            // {type: 3, id: 5, data: ["answer", Buffer.from("hey")], nsp: "/"}
            "84a47479706503a2696405a46461746192a6616e73776572c403686579a36e7370a12f",
            ack("/", 5, vec![json!("answer"), ph(0)], 1),
            bins(&[b"hey"]),
        ),
        (
            // {type: 1, nsp: "/admin"}
            "82a47479706501a36e7370a62f61646d696e",
            Packet::new("/admin", Body::Disconnect),
            vec![],
        ),
    ];
    for (vector, packet, attachments) in cases {
        let bytes = hex(vector);
        let got = decode(&bytes, 16).unwrap_or_else(|e| panic!("{vector}: {e}"));
        assert_eq!(got, (packet.clone(), attachments.clone()), "{vector}");
        // What we decode we encode back to something that decodes the same.
        let again = encode(&packet, &attachments);
        assert_eq!(decode(&again, 16), Ok((packet, attachments)), "{vector}");
    }
}

#[test]
fn other_values() {
    let cases: Vec<(&str, Value, usize)> = vec![
        // float 32, NaN and infinities (JSON.stringify: null)
        ("ca3fc00000", json!(1.5), 0),
        ("cb7ff8000000000000", json!(null), 0),
        ("ca7f800000", json!(null), 0),
        // int 8/16/32/64 and uint 8/16/64 at their edges
        ("d080", json!(-128), 0),
        ("d3 8000000000000000", json!(i64::MIN), 0),
        ("cf ffffffffffffffff", json!(u64::MAX), 0),
        ("cc ff", json!(255), 0),
        // fixext 1 of another type, fixext 2/4/16 and ext 16 of other types: [type, binary]
        ("d4 05 aa", json!([5, ph(0)]), 1),
        ("d5 ff 0102", json!([-1, ph(0)]), 1),
        ("d6 00 01020304", json!([0, ph(0)]), 1),
        (
            "d8 07 00000000000000000000000000000000",
            json!([7, ph(0)]),
            1,
        ),
        // fixext 8 of another type (a msgpack timestamp 64): not a Date
        ("d7 ff 0000000000000000", json!([-1, ph(0)]), 1),
        // ext 16 / ext 32 of type 0: binary
        ("c8 0001 00 aa", ph(0), 1),
        ("c9 00000001 00 aa", ph(0), 1),
        ("c8 0001 02 aa", json!([2, ph(0)]), 1),
        // bin 16 / bin 32, array 16, map 16 / 32, str 32
        ("c5 0001 aa", ph(0), 1),
        ("c6 00000000", ph(0), 1),
        ("dc 0001 c0", json!([null]), 0),
        ("de 0001 a161 01", json!({"a": 1}), 0),
        ("df 00000001 a161 01", json!({"a": 1}), 0),
        ("db 00000001 61", json!("a"), 0),
        // keys as JavaScript names them; a later key wins
        (
            "84 01 c3 c3 01 c0 02 ff 03",
            json!({"1": true, "true": 1, "null": 2, "-1": 3}),
            0,
        ),
        ("82 a161 01 a161 02", json!({"a": 2}), 0),
        ("82 a161 01 a161 d40000", json!({}), 0),
        // a date at the epoch, and one before it
        (
            "d7 00 0000000000000000",
            json!("1970-01-01T00:00:00.000Z"),
            0,
        ),
        (
            "d7 00 ffffffffffffffff",
            json!("1969-12-31T23:59:59.999Z"),
            0,
        ),
        // an invalid date (past 8.64e15 ms): JSON.stringify writes null
        ("d7 00 001eb208c2dc0001", json!(null), 0),
    ];
    for (value_hex, want, count) in cases {
        let bytes = hex(&format!(
            "83 a474797065 02 a464617461 92 a178 {value_hex} a36e7370 a12f"
        ));
        let (packet, attachments) =
            decode(&bytes, 16).unwrap_or_else(|e| panic!("{value_hex}: {e}"));
        assert_eq!(
            packet.body,
            Body::Event {
                name: "x".into(),
                args: vec![want],
                ack: None,
                attachments: (count > 0).then_some(count),
            },
            "{value_hex}"
        );
        assert_eq!(attachments.len(), count, "{value_hex}");
    }
}

#[test]
fn binaries_share_the_input_buffer() {
    let input = Bytes::from(hex(
        "84a47479706503a2696405a46461746192a6616e73776572c403686579a36e7370a12f",
    ));
    let (_, attachments) = decode_bytes(&input, 1).expect("decode");
    assert_eq!(attachments, bins(&[b"hey"]));
    let inside = input.as_ptr_range();
    assert!(inside.contains(&attachments[0].as_ptr()));
}

#[test]
fn malformed() {
    // Each packet is `83 a474797065 TYPE a464617461 DATA a36e7370 NSP` unless spelled out.
    let packet =
        |kind: &str, data: &str| format!("83 a474797065 {kind} a464617461 {data} a36e7370 a12f");
    let deep = format!(
        "83 a474797065 02 a464617461 92 a161 {} c0 a36e7370 a12f",
        "91".repeat(MAX_DEPTH)
    );
    let cases: Vec<(String, MsgPackError)> = vec![
        (String::new(), MsgPackError::Truncated),
        ("93 00 01 02".into(), MsgPackError::NotAMap),
        ("a3616263".into(), MsgPackError::NotAMap),
        ("c0".into(), MsgPackError::NotAMap),
        ("83 a474797065".into(), MsgPackError::Truncated),
        ("df ffffffff".into(), MsgPackError::Truncated),
        (packet("02", "dd ffffffff"), MsgPackError::Truncated),
        (packet("02", "92 a161 c6 ffffffff"), MsgPackError::Truncated),
        (
            packet("02", "92 a161 c1"),
            MsgPackError::InvalidMarker(0xc1),
        ),
        (packet("02", "92 a161 a2 ff fe"), MsgPackError::InvalidUtf8),
        (
            packet("02", "92 a161 81 cb3ff8000000000000 01"),
            MsgPackError::InvalidKey,
        ),
        (
            packet("02", "92 a161 81 c401aa 01"),
            MsgPackError::InvalidKey,
        ),
        (packet("02", "92 a161 81 90 01"), MsgPackError::InvalidKey),
        (
            format!("{} 00", packet("02", "91 a161")),
            MsgPackError::TrailingBytes(1),
        ),
        (deep, MsgPackError::TooDeep),
        (
            packet("02", "92 a161 82 ac5f706c616365686f6c646572 c3 a36e756d 00"),
            MsgPackError::PlaceholderMap,
        ),
        (
            packet("02", "93 a161 c400 c400"),
            MsgPackError::TooManyBinaries { max: 1 },
        ),
        // type: 0..4 only (no binary types), an integer
        (packet("05", "91 a161"), MsgPackError::InvalidType),
        (packet("ff", "91 a161"), MsgPackError::InvalidType),
        (packet("a132", "91 a161"), MsgPackError::InvalidType),
        (
            packet("cb4000000000000001", "91 a161"),
            MsgPackError::InvalidType,
        ),
        (
            "82 a464617461 91a161 a36e7370 a12f".into(),
            MsgPackError::InvalidType,
        ),
        // nsp: a string, and required
        (
            "82 a474797065 02 a464617461 91a161".into(),
            MsgPackError::InvalidNamespace,
        ),
        (
            "83 a474797065 02 a464617461 91a161 a36e7370 c0".into(),
            MsgPackError::InvalidNamespace,
        ),
        // data by type
        (
            packet("00", "91 a161"),
            MsgPackError::InvalidPayload(PacketType::Connect),
        ),
        (
            packet("00", "c0"),
            MsgPackError::InvalidPayload(PacketType::Connect),
        ),
        (
            packet("00", "81 a161 c400"),
            MsgPackError::InvalidPayload(PacketType::Connect),
        ),
        (
            packet("01", "c0"),
            MsgPackError::InvalidPayload(PacketType::Disconnect),
        ),
        (
            packet("04", "91 a161"),
            MsgPackError::InvalidPayload(PacketType::ConnectError),
        ),
        (
            packet("02", "80"),
            MsgPackError::InvalidPayload(PacketType::Event),
        ),
        (
            packet("02", "90"),
            MsgPackError::InvalidPayload(PacketType::Event),
        ),
        (
            packet("02", "91 01"),
            MsgPackError::InvalidPayload(PacketType::Event),
        ),
        (
            packet("02", "91 aa646973636f6e6e656374"),
            MsgPackError::InvalidPayload(PacketType::Event),
        ),
        (
            packet("02", "d40000"),
            MsgPackError::InvalidPayload(PacketType::Event),
        ),
        (packet("03", "90"), MsgPackError::MissingAckId),
        (
            "84 a474797065 03 a464617461 80 a26964 01 a36e7370 a12f".into(),
            MsgPackError::InvalidPayload(PacketType::Ack),
        ),
        // id: an integer in 0..=2^53-1
        (
            "84 a474797065 02 a464617461 91a161 a26964 ff a36e7370 a12f".into(),
            MsgPackError::InvalidId,
        ),
        (
            "84 a474797065 02 a464617461 91a161 a26964 cf0020000000000000 a36e7370 a12f".into(),
            MsgPackError::InvalidId,
        ),
        (
            "84 a474797065 02 a464617461 91a161 a26964 c0 a36e7370 a12f".into(),
            MsgPackError::InvalidId,
        ),
        (
            "84 a474797065 02 a464617461 91a161 a26964 cb3ff8000000000000 a36e7370 a12f".into(),
            MsgPackError::InvalidId,
        ),
    ];
    for (input, want) in cases {
        assert_eq!(decode(&hex(&input), 1).map(|_| ()), Err(want), "{input}");
    }
    // The largest id the clients can produce, written as a float 64 (an integer to JavaScript),
    // and a type written as 2.0.
    let bytes = hex(
        "84 a474797065 cb4000000000000000 a464617461 91a161 a26964 cf001fffffffffffff
         a36e7370 a12f",
    );
    let (packet, _) = decode(&bytes, 0).expect("decode");
    assert_eq!(packet, event("/", "a", vec![], Some(MAX_ACK_ID), 0));
}

/// Binaries of a key the server ignores, or of a `data` a later one replaces, are not kept.
#[test]
fn only_the_kept_data_holds_binaries() {
    let bytes = hex(
        "85 a474797065 02 a464617461 92a161c400 a76f7074696f6e73 c40101
         a464617461 93a161c401aac401bb a36e7370 a12f",
    );
    let (packet, attachments) = decode(&bytes, 2).expect("decode");
    assert_eq!(packet, event("/", "a", vec![ph(0), ph(1)], None, 2));
    assert_eq!(attachments, bins(&[&[0xaa], &[0xbb]]));
}

/// A map key given twice keeps the last value, as in JavaScript; binaries of the value it
/// replaced (or that `undefined` removed) are dropped and the rest renumbered in order.
/// Regression: the fuzzer found attachments that no placeholder referred to, which changed
/// numbering when encoded again.
#[test]
fn a_replaced_map_value_drops_its_binaries() {
    let cases: Vec<(&str, Value, Vec<Bytes>)> = vec![
        (
            "83 a161 c401aa a162 c401bb a161 c401cc",
            json!({"a": ph(0), "b": ph(1)}),
            bins(&[&[0xcc], &[0xbb]]),
        ),
        ("82 a161 92 c401aa c401bb a161 d40000", json!({}), vec![]),
        (
            "83 a161 c401aa a161 01 a162 c401bb",
            json!({"a": 1, "b": ph(0)}),
            bins(&[&[0xbb]]),
        ),
    ];
    for (map_hex, want, want_bins) in cases {
        let bytes = hex(&format!(
            "83 a474797065 02 a464617461 93 a178 {map_hex} c403010203 a36e7370 a12f"
        ));
        let (packet, attachments) = decode(&bytes, 16).unwrap_or_else(|e| panic!("{map_hex}: {e}"));
        let mut all = want_bins.clone();
        all.push(Bytes::from_static(&[1, 2, 3]));
        let last = ph(all.len() - 1);
        assert_eq!(
            packet,
            event("/", "x", vec![want, last], None, all.len()),
            "{map_hex}"
        );
        assert_eq!(attachments, all, "{map_hex}");
        let again = encode(&packet, &attachments);
        assert_eq!(decode(&again, 16), Ok((packet, attachments)), "{map_hex}");
    }
}

/// A placeholder without an attachment is written as the map it is (which the decoder
/// refuses); binary event and ack types go out as EVENT and ACK.
#[test]
fn encoding_edges() {
    let packet = event("/", "x", vec![ph(1)], None, 1);
    let bytes = encode(&packet, &bins(&[b"a"]));
    assert_eq!(decode(&bytes, 4), Err(MsgPackError::PlaceholderMap));
    assert_eq!(bytes[..7], hex("83 a474797065 02")[..]);
    let bytes = encode(&ack("/a", 1, vec![ph(0)], 1), &bins(&[b""]));
    assert_eq!(bytes[..7], hex("84 a474797065 03")[..]);
    // A float that holds an integer stays a float; a CONNECT without auth has no `data`.
    let bytes = encode(&event("/", "f", vec![json!(2.0)], None, 0), &[]);
    assert!(bytes.windows(9).any(|w| w == hex("cb4000000000000000")));
    assert_eq!(
        encode(&Packet::new("/", Body::Connect(None)), &[]),
        hex("82 a474797065 00 a36e7370 a12f")
    );
}
