//! Feeds arbitrary bytes, in arbitrary chunks, to the sans-I/O core in either role and with
//! small or large limits: it must never panic, and what it writes must stay bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx::proto::{Limits, Protocol, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let role = if control & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let limits = if control & 2 == 0 {
        Limits {
            max_frame_size: 64,
            max_message_size: 100,
        }
    } else {
        Limits::default()
    };
    // The chunk size varies with the input, so splits land everywhere.
    let chunk = usize::from(control >> 2).max(1);
    let mut proto = Protocol::new(role, limits, 64);
    for (i, piece) in rest.chunks(chunk).enumerate() {
        if i % 2 == 0 {
            // As the async driver reads: straight into the read buffer, reporting the size.
            let buf = proto.read_buffer();
            buf.extend_from_slice(piece);
            proto.read_done(piece.len());
        } else {
            proto.receive_data(piece);
        }
        // A declared frame reserves a bounded lookahead; beyond it memory follows the input.
        assert!(proto.read_capacity() <= 2 * data.len() + 256 * 1024);
        loop {
            match proto.next_message() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let out = proto.write_buffer();
        // Pongs and close frames only: never more than the input could justify.
        assert!(out.len() <= 2 * data.len() + 256);
        let n = out.len();
        out.advance(n);
    }
    proto.receive_eof();
    let _ = proto.next_message();
    let _ = proto.close_code();
});
