//! A peer that breaks RFC 6455 after a good handshake: for each kind of malformed frame a hand-
//! written client sends, the wsx server answers with one close frame carrying the right code
//! (RFC 6455 §7.4.1), closes TCP, and its stream reports the matching `ProtocolError` instead
//! of panicking. A few cases are checked from the client's side too.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{
    Ending, Frame, bind, close_payload, frame_header, masked_frame, parse_frames, raw_accept,
    raw_handshake, read_frame, read_until_closed, unmasked_frame, url, within,
};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use wsx::handshake::ServerOptions;
use wsx::{Error, Limits, Message, ProtocolError, WebSocketConfig};

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;

const RSV1: u8 = 0b100;
const RSV2: u8 = 0b010;
const RSV3: u8 = 0b001;

/// What the server's side of a failed connection looked like.
struct Failure {
    /// The close frame the client received (the only frame sent after the handshake).
    close: Frame,
    /// The error the server's stream reported.
    error: ProtocolError,
    /// Messages the server received before the error.
    before: Vec<Message>,
    /// From writing the bad bytes to the end of the connection.
    took: Duration,
}

/// Runs a wsx server with `limits`, sends `bytes` after a hand-made handshake, and checks what
/// every failure must look like: exactly one unmasked close frame with `code`, then a closed
/// connection; the server's stream yields `Err(Protocol(e))` with `e.close_code() == code`, then
/// `None`.
async fn server_fails_with(code: u16, limits: Limits, bytes: Vec<u8>) -> Failure {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let config = WebSocketConfig {
            limits,
            ..WebSocketConfig::default()
        };
        let (mut ws, _) = wsx::accept_with(tcp, &ServerOptions::default(), config)
            .await
            .unwrap();
        let mut before = Vec::new();
        for _ in 0..100 {
            match ws.next().await {
                Some(Ok(message)) => before.push(message),
                Some(Err(err)) => {
                    let after = ws.next().await;
                    assert!(after.is_none(), "the stream goes on after {err}: {after:?}");
                    return (before, Err(err), ws.close_code());
                }
                None => return (before, Ok(()), ws.close_code()),
            }
        }
        panic!("the server received too many messages");
    });

    let mut tcp = raw_handshake(addr).await;
    let started = Instant::now();
    tcp.write_all(&bytes).await.unwrap();
    let (received, ending) = read_until_closed(&mut tcp).await;
    let took = started.elapsed();

    let (before, result, close_code) = server.await.expect("the server panicked");
    let error = match result {
        Err(Error::Protocol(err)) => err,
        Err(other) => panic!("expected a protocol error, got {other:?}"),
        Ok(()) => panic!("the server's stream ended without an error"),
    };
    assert_eq!(
        error.close_code().as_u16(),
        code,
        "{error:?} has the wrong close code"
    );
    assert_eq!(close_code.as_u16(), code, "close_code() after {error:?}");

    let frames = parse_frames(&received);
    assert_eq!(frames.len(), 1, "expected only a close frame: {frames:?}");
    let close = frames.into_iter().next().unwrap();
    assert_eq!(received[0], 0x88, "not a final close frame: {close:?}");
    assert!(!close.masked, "a server frame must not be masked");
    assert_eq!(close.close_code(), Some(code), "{close:?}");
    assert!(
        std::str::from_utf8(&close.payload[2..]).is_ok(),
        "the reason must be UTF-8: {close:?}"
    );
    assert_eq!(
        ending,
        Ending::Eof,
        "the server must close TCP cleanly after failing with {error:?}"
    );
    Failure {
        close,
        error,
        before,
        took,
    }
}

async fn server_fails(code: u16, bytes: Vec<u8>) -> Failure {
    server_fails_with(code, Limits::default(), bytes).await
}

#[tokio::test]
async fn unmasked_client_frame_fails_with_1002() {
    within(async {
        let f = server_fails(1002, unmasked_frame(true, 0, OP_TEXT, b"hi")).await;
        assert_eq!(f.error, ProtocolError::UnmaskedFrame);
    })
    .await;
}

#[tokio::test]
async fn reserved_data_opcode_fails_with_1002() {
    within(async {
        let f = server_fails(1002, masked_frame(true, 0, 0x3, b"hi")).await;
        assert_eq!(f.error, ProtocolError::ReservedOpcode(0x3));
    })
    .await;
}

#[tokio::test]
async fn reserved_control_opcode_fails_with_1002() {
    within(async {
        let f = server_fails(1002, masked_frame(true, 0, 0xb, b"")).await;
        assert_eq!(f.error, ProtocolError::ReservedOpcode(0xb));
    })
    .await;
}

#[tokio::test]
async fn rsv_bits_without_an_extension_fail_with_1002() {
    within(async {
        for rsv in [RSV1, RSV2, RSV3] {
            let f = server_fails(1002, masked_frame(true, rsv, OP_TEXT, b"hi")).await;
            assert_eq!(f.error, ProtocolError::ReservedBits, "rsv {rsv:03b}");
        }
    })
    .await;
}

#[tokio::test]
async fn ping_with_126_bytes_fails_with_1002() {
    within(async {
        let f = server_fails(1002, masked_frame(true, 0, OP_PING, &[b'p'; 126])).await;
        assert_eq!(f.error, ProtocolError::ControlFrameTooLarge(126));
    })
    .await;
}

#[tokio::test]
async fn fragmented_ping_fails_with_1002() {
    within(async {
        let f = server_fails(1002, masked_frame(false, 0, OP_PING, b"half")).await;
        assert_eq!(f.error, ProtocolError::FragmentedControlFrame);
    })
    .await;
}

#[tokio::test]
async fn continuation_without_a_message_to_continue_fails_with_1002() {
    within(async {
        let f = server_fails(1002, masked_frame(true, 0, OP_CONT, b"orphan")).await;
        assert_eq!(f.error, ProtocolError::UnexpectedContinuation);
    })
    .await;
}

#[tokio::test]
async fn new_message_inside_a_fragmented_one_fails_with_1002() {
    within(async {
        let mut bytes = masked_frame(false, 0, OP_TEXT, b"first half");
        bytes.extend(masked_frame(true, 0, OP_BINARY, b"intruder"));
        let f = server_fails(1002, bytes).await;
        assert_eq!(f.error, ProtocolError::ExpectedContinuation);
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_text_fails_with_1007() {
    within(async {
        // A byte that never appears in UTF-8, an overlong encoding, a surrogate, and a
        // sequence cut short at the end of the message.
        for payload in [
            &b"abc\xff"[..],
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"euro \xe2\x82",
        ] {
            let f = server_fails(1007, masked_frame(true, 0, OP_TEXT, payload)).await;
            assert_eq!(f.error, ProtocolError::InvalidUtf8, "{payload:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_in_a_middle_fragment_fails_with_1007_before_the_message_ends() {
    within(async {
        // The final fragment is never sent: the server must not wait for it.
        let mut bytes = masked_frame(false, 0, OP_TEXT, b"hello ");
        bytes.extend(masked_frame(false, 0, OP_CONT, b"w\xffrld"));
        let f = server_fails(1007, bytes).await;
        assert_eq!(f.error, ProtocolError::InvalidUtf8);
        assert!(f.before.is_empty(), "{:?}", f.before);
    })
    .await;
}

#[tokio::test]
async fn utf8_split_across_fragments_is_accepted() {
    within(async {
        // The control case for the fail-fast check: "€" (e2 82 ac) cut between fragments,
        // followed by a bad frame so the connection still ends with a known error.
        let mut bytes = masked_frame(false, 0, OP_TEXT, b"price: \xe2");
        bytes.extend(masked_frame(false, 0, OP_CONT, b"\x82"));
        bytes.extend(masked_frame(true, 0, OP_CONT, b"\xac 5"));
        bytes.extend(masked_frame(false, 0, OP_PING, b""));
        let f = server_fails(1002, bytes).await;
        assert_eq!(f.before, [Message::text("price: \u{20ac} 5")]);
        assert_eq!(f.error, ProtocolError::FragmentedControlFrame);
    })
    .await;
}

#[tokio::test]
async fn header_declaring_a_huge_frame_fails_with_1009_before_any_payload() {
    within(async {
        let limits = Limits {
            max_frame_size: 1024,
            max_message_size: 4096,
        };
        // A 14-byte header declaring 2^40 bytes, and no payload at all.
        let header = frame_header(true, 0, OP_BINARY, 1 << 40, Some(common::MASK));
        assert_eq!(header.len(), 14);
        let f = server_fails_with(1009, limits, header).await;
        assert_eq!(
            f.error,
            ProtocolError::FrameTooLarge {
                size: 1 << 40,
                limit: 1024
            }
        );
        assert!(
            f.took < Duration::from_secs(2),
            "the answer took {:?}",
            f.took
        );
    })
    .await;
}

#[tokio::test]
async fn length_with_the_most_significant_bit_set_fails_with_1002() {
    within(async {
        let header = frame_header(true, 0, OP_BINARY, (1 << 63) | 5, Some(common::MASK));
        let f = server_fails(1002, header).await;
        assert_eq!(f.error, ProtocolError::InvalidLength);
    })
    .await;
}

#[tokio::test]
async fn message_over_the_limit_across_fragments_fails_with_1009() {
    within(async {
        let limits = Limits {
            max_frame_size: 1000,
            max_message_size: 1500,
        };
        // Each frame is within max_frame_size; together they pass max_message_size.
        let mut bytes = masked_frame(false, 0, OP_BINARY, &[1; 1000]);
        bytes.extend(masked_frame(true, 0, OP_CONT, &[2; 1000]));
        let f = server_fails_with(1009, limits, bytes).await;
        assert!(
            matches!(f.error, ProtocolError::MessageTooLarge { limit: 1500, .. }),
            "{:?}",
            f.error
        );
    })
    .await;
}

#[tokio::test]
async fn single_frame_over_the_message_limit_fails_with_1009() {
    within(async {
        let limits = Limits {
            max_frame_size: 4096,
            max_message_size: 100,
        };
        let f = server_fails_with(1009, limits, masked_frame(true, 0, OP_TEXT, &[b'x'; 101])).await;
        assert!(
            matches!(f.error, ProtocolError::MessageTooLarge { limit: 100, .. }),
            "{:?}",
            f.error
        );
    })
    .await;
}

#[tokio::test]
async fn close_with_a_one_byte_payload_fails_with_1002() {
    within(async {
        let f = server_fails(1002, masked_frame(true, 0, OP_CLOSE, &[0x03])).await;
        assert_eq!(f.error, ProtocolError::InvalidClosePayload);
    })
    .await;
}

#[tokio::test]
async fn close_with_a_code_not_allowed_on_the_wire_fails_with_1002() {
    within(async {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let f = server_fails(
                1002,
                masked_frame(true, 0, OP_CLOSE, &close_payload(code, b"")),
            )
            .await;
            assert_eq!(
                f.error,
                ProtocolError::InvalidCloseCode(code),
                "code {code}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn close_with_an_invalid_utf8_reason_fails_with_1007() {
    within(async {
        let payload = close_payload(1000, b"bye \xff");
        let f = server_fails(1007, masked_frame(true, 0, OP_CLOSE, &payload)).await;
        assert_eq!(f.error, ProtocolError::InvalidUtf8);
    })
    .await;
}

#[tokio::test]
async fn messages_before_the_bad_frame_are_delivered_first() {
    within(async {
        let mut bytes = masked_frame(true, 0, OP_TEXT, b"fine");
        bytes.extend(masked_frame(true, 0, OP_BINARY, b"also fine"));
        bytes.extend(masked_frame(true, RSV1, OP_BINARY, b"not fine"));
        let f = server_fails(1002, bytes).await;
        assert_eq!(
            f.before,
            [Message::text("fine"), Message::binary(&b"also fine"[..])]
        );
        assert!(f.close.payload.len() <= 125);
    })
    .await;
}

/// A hand-written server sends `bytes` to a wsx client; the client must answer with one masked
/// close frame carrying `code`, and its stream must report the matching protocol error.
async fn client_fails(code: u16, bytes: Vec<u8>) -> ProtocolError {
    let (listener, addr) = bind().await;
    let peer = tokio::spawn(async move {
        let mut tcp = raw_accept(&listener).await;
        tcp.write_all(&bytes).await.unwrap();
        let mut buf = Vec::new();
        let close = read_frame(&mut tcp, &mut buf).await;
        // The server closes TCP first (RFC 6455 §7.1.1), which releases the waiting client.
        drop(tcp);
        close
    });
    let config = WebSocketConfig {
        close_timeout: Duration::from_secs(10),
        ..WebSocketConfig::default()
    };
    let (mut ws, _) = wsx::connect_with(
        &url(addr),
        &http::HeaderMap::new(),
        &wsx::handshake::ClientOptions::default(),
        config,
    )
    .await
    .unwrap();
    let error = match ws.next().await {
        Some(Err(Error::Protocol(err))) => err,
        other => panic!("expected a protocol error, got {other:?}"),
    };
    assert!(ws.next().await.is_none());
    assert_eq!(error.close_code().as_u16(), code, "{error:?}");
    assert_eq!(ws.close_code().as_u16(), code);

    let close = peer.await.unwrap().expect("the client sent no close frame");
    assert_eq!(close.opcode, OP_CLOSE, "{close:?}");
    assert!(close.masked, "a client frame must be masked");
    assert_eq!(close.close_code(), Some(code), "{close:?}");
    error
}

#[tokio::test]
async fn masked_server_frame_fails_the_client_with_1002() {
    within(async {
        let error = client_fails(1002, masked_frame(true, 0, OP_TEXT, b"hi")).await;
        assert_eq!(error, ProtocolError::MaskedFrame);
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_from_the_server_fails_the_client_with_1007() {
    within(async {
        let error = client_fails(1007, unmasked_frame(true, 0, OP_TEXT, b"\xfe")).await;
        assert_eq!(error, ProtocolError::InvalidUtf8);
    })
    .await;
}

#[tokio::test]
async fn ping_between_fragments_is_answered_and_the_message_completes() {
    within(async {
        // RFC 6455 §5.4: control frames may be injected in the middle of a fragmented message.
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsx::accept(tcp).await.unwrap();
            let mut received = Vec::new();
            for _ in 0..2 {
                received.push(ws.next().await.unwrap().unwrap());
            }
            ws.close(None).await.unwrap();
            received
        });
        let mut tcp = raw_handshake(addr).await;
        let mut bytes = masked_frame(false, 0, OP_TEXT, b"frag");
        bytes.extend(masked_frame(true, 0, OP_PING, b"mid"));
        bytes.extend(masked_frame(true, 0, OP_CONT, b"mented"));
        tcp.write_all(&bytes).await.unwrap();

        let mut buf = Vec::new();
        let pong = read_frame(&mut tcp, &mut buf).await.unwrap();
        assert_eq!((pong.opcode, pong.payload.as_slice()), (0xa, &b"mid"[..]));
        let close = read_frame(&mut tcp, &mut buf).await.unwrap();
        assert_eq!(close.opcode, OP_CLOSE, "{close:?}");
        tcp.write_all(&masked_frame(true, 0, OP_CLOSE, &[]))
            .await
            .unwrap();
        assert_eq!(
            server.await.unwrap(),
            [
                Message::Ping(bytes::Bytes::from_static(b"mid")),
                Message::text("fragmented")
            ]
        );
    })
    .await;
}
