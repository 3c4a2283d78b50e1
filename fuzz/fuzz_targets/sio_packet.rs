//! Feeds arbitrary input to wsx-sio's packet layer (Engine.IO frames and polling payloads,
//! Socket.IO packets in both parsers' forms, binary placeholders): it must never panic, and
//! whatever decodes must encode to text (JSON parser) or bytes (msgpack parser) that decode
//! to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_sio::packet::{binary, engine, msgpack, socket};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let _ = engine::decode_binary(rest);
    // The msgpack parser reads binary messages, whatever their bytes.
    let max_binaries = usize::from(control);
    if let Ok((packet, attachments)) = msgpack::decode(rest, max_binaries) {
        assert_eq!(packet.attachments(), attachments.len());
        let again = msgpack::encode(&packet, &attachments);
        assert_eq!(
            msgpack::decode(&again, max_binaries),
            Ok((packet, attachments))
        );
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(packet) = engine::decode_text(text) {
        let engine::Frame::Text(again) = engine::encode_frame(&packet) else {
            panic!("a text packet encoded as binary");
        };
        assert_eq!(engine::decode_text(&again), Ok(packet));
    }
    if let Ok(packets) = engine::decode_payload(text) {
        let again = engine::encode_payload(&packets);
        assert_eq!(engine::decode_payload(&again), Ok(packets));
    }
    let max_attachments = usize::from(control);
    if let Ok(packet) = socket::decode_with(text, max_attachments) {
        let encoded = socket::encode(&packet);
        assert_eq!(
            socket::decode_with(&encoded, max_attachments),
            Ok(packet.clone())
        );
        let count = packet.attachments();
        let args = match packet.body {
            socket::Body::Event { args, .. } | socket::Body::Ack { args, .. } => args,
            _ => return,
        };
        let attachments = vec![bytes::Bytes::new(); count];
        let checked = binary::check_placeholders(&args, count);
        let rebuilt = binary::reconstruct(args, &attachments);
        assert_eq!(checked.is_ok(), rebuilt.is_ok());
        if let Ok(tree) = rebuilt {
            let (json, back) = binary::deconstruct(tree);
            assert!(back.len() <= count.max(json.len() * 64));
        }
    }
});
