//! A whole server connection driven through the sans-I/O core from arbitrary bytes: the opening
//! handshake (request parsed and answered, permessage-deflate negotiated with parameters the
//! input chooses), then a program of steps over a client and a server `Protocol`: the client
//! sends valid (possibly compressed, masked) messages, raw bytes are injected as if from a broken
//! or hostile peer, the server sends, either side's output is delivered in input-chosen chunks,
//! the transport ends.
//!
//! Invariants checked after every step:
//! - nothing panics;
//! - the server's buffered memory is bounded by its configured limits, not by how much the peer
//!   sent: the read buffer by the frame limit, each message by the message limit, the write
//!   buffer by the pong backlog and what the server itself sent;
//! - every failure is answered on the wire with its close code (RFC 6455 §7.4.1: 1002, 1007,
//!   1009) and `close_code()` reports the same; nothing is received after it.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use wsx::handshake::server::{accept, error_response, parse_request, write_response};
use wsx::handshake::{ClientHandshake, ClientOptions, ServerOptions, Target};
use wsx::proto::{
    CloseCode, CloseFrame, DeflateConfig, KeepAlive, Limits, Message, PerMessageDeflate, Protocol,
    ProtocolError, Role, Timeout,
};

/// The server's limits: small, so the fuzzer reaches them.
const LIMITS: Limits = Limits {
    max_frame_size: 2048,
    max_message_size: 4096,
};
const READ_SIZE: usize = 512;
/// The most bytes one step hands the server.
const MAX_STEP: usize = 1024;

fn next(data: &mut &[u8]) -> u8 {
    let Some((&b, rest)) = data.split_first() else {
        return 0;
    };
    *data = rest;
    b
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = data.split_at(n.min(data.len()));
    *data = rest;
    head
}

fn deflate_config(byte: u8) -> DeflateConfig {
    DeflateConfig {
        enabled: byte & 1 != 0,
        server_no_context_takeover: byte & 2 != 0,
        client_no_context_takeover: byte & 4 != 0,
        server_max_window_bits: 8 + ((byte >> 3) & 7),
        client_max_window_bits: 15 - ((byte >> 5) & 7),
        threshold: usize::from(byte & 0x40) / 4,
        ..DeflateConfig::default()
    }
}

/// Hands `bytes` to the server and drains what it decodes, checking the invariants.
fn feed(
    server: &mut Protocol,
    bytes: &[u8],
    via_read_buffer: bool,
    sent: usize,
    closed_first: bool,
) {
    if via_read_buffer {
        // As the async driver reads: straight into the read buffer.
        server.read_buffer().extend_from_slice(bytes);
        server.read_done(bytes.len());
    } else {
        server.receive_data(bytes);
    }
    drain(server, sent, closed_first);
}

fn drain(server: &mut Protocol, sent: usize, closed_first: bool) {
    loop {
        match server.next_message() {
            Ok(Some(message)) => match &message {
                Message::Text(t) => assert!(t.len() <= LIMITS.max_message_size),
                Message::Binary(b) => assert!(b.len() <= LIMITS.max_message_size),
                Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
                Message::Close(_) => {}
            },
            Ok(None) => break,
            Err(err) => {
                check_failure(server, &err, closed_first);
                break;
            }
        }
    }
    // The read buffer holds at most one incomplete frame (bounded by max_frame_size) plus what
    // one step delivered, with the allocator's doubling on top: never a function of the total
    // the peer sent.
    let bound = 4 * (LIMITS.max_frame_size + 14 + MAX_STEP + READ_SIZE) + 64 * 1024;
    assert!(
        server.read_capacity() <= bound,
        "read buffer {} > {bound}",
        server.read_capacity()
    );
    // The write buffer: what the server sent itself plus a bounded backlog of pongs and one close.
    let out_bound = sent + 64 * 1024;
    assert!(
        server.write_buffer().len() <= out_bound,
        "write buffer {} > {out_bound}",
        server.write_buffer().len()
    );
}

/// `closed_first`: the server had started the close handshake itself (an idle close) before it
/// failed; its close frame, not the failure's, is the one on the wire (RFC 6455 §5.5.1: one
/// close frame per side).
fn check_failure(server: &Protocol, err: &ProtocolError, closed_first: bool) {
    let code = err.close_code();
    assert!(
        [
            CloseCode::PROTOCOL_ERROR,
            CloseCode::INVALID_PAYLOAD,
            CloseCode::MESSAGE_TOO_BIG
        ]
        .contains(&code),
        "{err:?} maps to {code:?}"
    );
    assert!(server.close_sent(), "a failure must queue a close frame");
    assert!(server.should_close_transport());
    if server.close_received().is_none() && !closed_first {
        assert_eq!(
            server.close_code(),
            code,
            "close_code() disagrees with {err:?}"
        );
    }
}

/// Reads what the server wrote as the client would, and checks that a failed server's last
/// frame is a close carrying the failure's code.
fn deliver_to_client(server: &mut Protocol, client: &mut Protocol, n: usize, closed_first: bool) {
    let out = server.write_buffer();
    let n = n.min(out.len());
    let chunk = out.chunk();
    let n = n.min(chunk.len());
    let bytes = chunk[..n].to_vec();
    out.advance(n);
    client.receive_data(&bytes);
    while let Ok(Some(message)) = client.next_message() {
        if let (Message::Close(frame), Some(err)) = (&message, server.failure())
            && server.close_received().is_none()
            && !closed_first
        {
            let got = frame.as_ref().map(|f| f.code);
            assert_eq!(
                got,
                Some(err.close_code()),
                "the wire disagrees with {err:?}"
            );
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let mode = next(&mut data);
    let server_deflate = Arc::new(PerMessageDeflate::new(deflate_config(next(&mut data))));
    let client_deflate = Arc::new(PerMessageDeflate::new(deflate_config(next(&mut data))));
    let server_options = ServerOptions {
        max_head_size: 4096,
        max_headers: 32,
        subprotocols: vec!["chat".into()],
        extensions: vec![server_deflate],
        ..ServerOptions::default()
    };
    let Ok(target) = Target::parse("ws://127.0.0.1:9001/chat") else {
        return;
    };
    let client_options = ClientOptions {
        subprotocols: vec!["chat".into()],
        extensions: vec![client_deflate],
        ..ClientOptions::default()
    };
    let (handshake, generated) =
        ClientHandshake::new(&target, &http::HeaderMap::new(), &client_options);

    // The request: our client's (the common case) or raw input bytes (a hostile one), then
    // whatever bytes follow it in the same read.
    let request: Vec<u8> = if mode & 1 == 0 {
        generated
    } else {
        let len = usize::from(next(&mut data)) * 8;
        take(&mut data, len).to_vec()
    };
    let (parsed, head_len) = match parse_request(&request, &server_options) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return,
        Err(err) => {
            assert!(error_response(&err).starts_with(b"HTTP/1.1 4"));
            return;
        }
    };
    assert!(head_len <= request.len());
    let negotiated = match accept(&parsed, &server_options) {
        Ok(negotiated) => negotiated,
        Err(err) => {
            assert!(error_response(&err).starts_with(b"HTTP/1.1 4"));
            return;
        }
    };
    let mut response = Vec::new();
    write_response(&negotiated.response, &mut response);
    assert!(response.starts_with(b"HTTP/1.1 101 "));

    let mut server = Protocol::new(Role::Server, LIMITS, READ_SIZE);
    if let Some(extension) = negotiated.extension {
        server.set_extension(extension);
    }
    let mut client = Protocol::new(Role::Client, Limits::default(), READ_SIZE);
    if mode & 1 == 0 {
        // Our client checks the response as it would over a socket; it must accept our answer.
        let (parsed_response, _) = handshake
            .parse_response(&response)
            .expect("our own 101 response parses")
            .expect("our own 101 response is complete");
        let confirmed = handshake
            .validate(&parsed_response)
            .expect("our client accepts our server's answer");
        if let Some(extension) = confirmed.extension {
            client.set_extension(extension);
        }
    }
    // Bytes after the head belong to the frame stream.
    let mut sent = 0usize;
    feed(&mut server, &request[head_len..], false, sent, false);

    // Time is an input (issue 18): the core's keep-alive timers run on a virtual clock the
    // program advances, with intervals from the input. Their invariants: a wake-up never asks
    // for a moment already past (no spinning driver), at most three things fall due at once,
    // the peer is declared dead only when nothing at all was heard since the ping that set the
    // deadline, and nothing is due after that.
    let t0 = std::time::Instant::now();
    let mut clock = std::time::Duration::ZERO;
    let ms = |b: u8| std::time::Duration::from_millis(u64::from(b) * 50);
    let mut keepalive = KeepAlive::new(
        t0,
        ms(next(&mut data)),
        ms(next(&mut data)),
        ms(next(&mut data)),
    );
    let mut heard_since_ping = false;
    let mut dead = false;
    let mut closed_first = false;
    let mut steps = 0;
    while !data.is_empty() && steps < 256 {
        steps += 1;
        let op = next(&mut data);
        let arg = next(&mut data);
        match op % 10 {
            // The client sends a data message; it is masked (and compressed if negotiated).
            0 | 1 => {
                let payload = take(&mut data, usize::from(arg) * 8);
                let message = if op % 10 == 0 {
                    Message::text(String::from_utf8_lossy(payload).into_owned())
                } else {
                    Message::binary(Bytes::copy_from_slice(payload))
                };
                let _ = client.send(message);
                keepalive.on_data(|| t0 + clock);
                heard_since_ping = true;
            }
            // A ping or pong from the client.
            2 => {
                let payload = Bytes::copy_from_slice(take(&mut data, usize::from(arg % 126)));
                let _ = client.send(if arg & 0x80 == 0 {
                    Message::Ping(payload)
                } else {
                    Message::Pong(payload)
                });
                if keepalive.on_pong(t0 + clock).is_none() {
                    keepalive.on_frame();
                }
                heard_since_ping = true;
            }
            // The client starts the close handshake with any code (invalid ones are refused).
            3 => {
                let code = u16::from_be_bytes([next(&mut data), next(&mut data)]);
                let _ = client.send(Message::Close(Some(CloseFrame::new(code, "bye"))));
            }
            // Raw bytes straight to the server: a hostile or broken peer.
            4 => {
                let bytes = take(&mut data, usize::from(arg) * 4).to_vec();
                feed(&mut server, &bytes, arg & 1 == 0, sent, closed_first);
            }
            // The server sends a message.
            5 => {
                let payload = take(&mut data, usize::from(arg)).to_vec();
                if server.send(Message::binary(payload.clone())).is_ok() {
                    sent += payload.len() + 14;
                }
                drain(&mut server, sent, closed_first);
            }
            // Deliver up to a chunk of the client's output to the server.
            6 => {
                let n = (usize::from(arg) * 8).clamp(1, MAX_STEP);
                let out = client.write_buffer();
                let chunk = out.chunk();
                let n = n.min(chunk.len());
                let bytes = chunk[..n].to_vec();
                out.advance(n);
                feed(&mut server, &bytes, arg & 1 == 0, sent, closed_first);
            }
            // Deliver the server's output to the client.
            7 => deliver_to_client(
                &mut server,
                &mut client,
                usize::from(arg) * 16 + 1,
                closed_first,
            ),
            // The transport ends.
            8 => {
                server.receive_eof();
                drain(&mut server, sent, closed_first);
                if server.failure().is_none() && server.close_received().is_none() {
                    assert_eq!(server.close_code(), CloseCode::ABNORMAL_CLOSURE);
                }
            }
            // Time passes: whatever the keep-alive timers say is due is done.
            _ => {
                clock += std::time::Duration::from_millis(u64::from(arg) * 100);
                let now = t0 + clock;
                let mut due = 0;
                while let Some(timeout) = keepalive.handle_timeout(now) {
                    due += 1;
                    assert!(due <= 3, "the timers keep firing at one instant");
                    assert!(!dead, "{timeout:?} after the peer was declared dead");
                    match timeout {
                        Timeout::SendPing => {
                            // Stricter than the timers (a ping sent while a deadline runs
                            // does not restart it): dead implies nothing heard since either.
                            heard_since_ping = false;
                            let _ = server.send(Message::Ping(Bytes::new()));
                            drain(&mut server, sent, closed_first);
                        }
                        Timeout::PeerDead => {
                            assert!(!heard_since_ping, "a peer that was heard declared dead");
                            dead = true;
                        }
                        Timeout::Idle => {
                            let idle = Message::Close(Some(CloseFrame::new(1001, "idle")));
                            if server.failure().is_none() && server.send(idle).is_ok() {
                                closed_first = true;
                            }
                            drain(&mut server, sent, closed_first);
                        }
                    }
                }
                if let Some(at) = keepalive.poll_timeout() {
                    assert!(
                        at > now,
                        "a wake-up in the past: {:?} <= {:?}",
                        at - t0,
                        clock
                    );
                }
                if dead {
                    assert_eq!(keepalive.poll_timeout(), None);
                }
            }
        }
        if let Some(err) = server.failure().cloned() {
            check_failure(&server, &err, closed_first);
            // RFC 6455 §7.1.7: nothing more is processed after failing the connection.
            assert!(!matches!(server.next_message(), Ok(Some(_))));
        }
    }
});
