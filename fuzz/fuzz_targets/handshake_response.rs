//! Arbitrary bytes as a server's handshake response, and as a `Sec-WebSocket-Extensions`
//! header: parsing and validation must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx::handshake::{ClientHandshake, ClientOptions, Target, parse_extensions};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_extensions(text);
        let _ = Target::parse(text);
    }
    let Ok(target) = Target::parse("ws://127.0.0.1:9001/chat") else {
        return;
    };
    let options = ClientOptions {
        subprotocols: vec!["chat".into()],
        ..ClientOptions::default()
    };
    let (handshake, _request) = ClientHandshake::new(&target, &http::HeaderMap::new(), &options);
    if let Ok(Some((response, head_len))) = handshake.parse_response(data) {
        assert!(head_len <= data.len());
        let _ = handshake.validate(&response);
    }
});
