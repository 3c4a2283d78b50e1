//! Arbitrary bytes as a client's opening handshake: parsing and validation must never panic,
//! and every refusal must produce a well-formed HTTP error response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx::handshake::ServerOptions;
use wsx::handshake::server::{accept, error_response, parse_request, write_response};

fuzz_target!(|data: &[u8]| {
    let options = ServerOptions {
        max_head_size: 4096,
        max_headers: 32,
        ..ServerOptions::default()
    };
    match parse_request(data, &options) {
        Ok(Some((request, head_len))) => {
            assert!(head_len <= data.len());
            match accept(&request, &options) {
                Ok(accepted) => {
                    let mut out = Vec::new();
                    write_response(&accepted.response, &mut out);
                    assert!(out.starts_with(b"HTTP/1.1 101 "));
                }
                Err(err) => assert!(error_response(&err).starts_with(b"HTTP/1.1 4")),
            }
        }
        Ok(None) => {}
        Err(err) => assert!(error_response(&err).starts_with(b"HTTP/1.1 4")),
    }
});
