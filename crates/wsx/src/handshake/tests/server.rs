//! Unit tests of the server handshake ([`super`]): request parsing and validation, negotiation,
//! and the responses.
#![forbid(unsafe_code)]

use super::*;
use crate::handshake::testing::head_of;

use crate::handshake::testing::TestFactory;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The RFC 6455 §1.2 example request, with each line replaceable.
fn base_lines() -> Vec<String> {
    [
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Version: 13",
    ]
    .map(String::from)
    .to_vec()
}

fn to_bytes(lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\r\n");
    text.push_str("\r\n\r\n");
    text.into_bytes()
}

/// The base request with lines starting with `drop` removed and `add` appended.
fn request(drop: &[&str], add: &[&str]) -> Vec<u8> {
    let mut lines = base_lines();
    lines.retain(|line| !drop.iter().any(|d| line.starts_with(d)));
    lines.extend(add.iter().map(|line| (*line).to_owned()));
    to_bytes(&lines)
}

/// The base request with another request line.
fn with_request_line(line: &str) -> Vec<u8> {
    let mut lines = base_lines();
    lines[0] = line.to_owned();
    to_bytes(&lines)
}

/// parse + accept, as a server does.
fn handshake(bytes: &[u8], opts: &ServerOptions) -> Result<Accepted, HandshakeError> {
    let (request, _) = parse_request(bytes, opts)?.ok_or(HandshakeError::UnexpectedEof)?;
    accept(&request, opts)
}

fn header<'a>(response: &'a Response<()>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn accepts_rfc_example_and_reports_head_len() {
    let mut bytes = request(&[], &[]);
    let head = bytes.len();
    bytes.extend_from_slice(&[0x81, 0x85, 1, 2, 3, 4]); // the start of a frame
    let opts = ServerOptions::default();
    let (request, len) = parse_request(&bytes, &opts)
        .expect("valid")
        .expect("complete");
    assert_eq!(len, head);
    assert_eq!(request.uri().path(), "/chat");
    let accepted = accept(&request, &opts).expect("accepted");
    let response = &accepted.response;
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(header(response, "upgrade"), Some("websocket"));
    assert_eq!(header(response, "connection"), Some("Upgrade"));
    assert_eq!(
        header(response, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    assert!(response.headers().get("sec-websocket-extensions").is_none());
    assert!(accepted.subprotocol.is_none() && accepted.extension.is_none());

    let mut out = Vec::new();
    write_response(response, &mut out);
    assert_eq!(
        String::from_utf8(out).expect("ASCII"),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
}

#[test]
fn accepts_header_variants() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "Connection list",
            &["Connection"],
            &["Connection: keep-alive, Upgrade"],
        ),
        (
            "lower-case names, mixed-case tokens",
            &["Upgrade"],
            &["upgrade: WebSocket"],
        ),
        (
            "Connection split over lines",
            &["Connection"],
            &["Connection: keep-alive", "connection: upgrade"],
        ),
        ("Upgrade list", &["Upgrade"], &["Upgrade: h2c, websocket"]),
        ("no Origin and no hook", &["Origin"], &[]),
        (
            "key with whitespace around",
            &["Sec-WebSocket-Key"],
            &["Sec-WebSocket-Key: \t dGhlIHNhbXBsZSBub25jZQ== "],
        ),
    ];
    for (what, drop, add) in cases {
        let result = handshake(&request(drop, add), &ServerOptions::default());
        assert!(result.is_ok(), "{what}: {result:?}");
    }
}

#[test]
fn rejections_with_status() {
    use HandshakeError as E;

    let refuse_all: OriginCheck = Arc::new(|_| false);
    let only_example: OriginCheck = Arc::new(|request| {
        request
            .headers()
            .get("origin")
            .is_some_and(|o| o == "http://example.com")
    });
    let strict = ServerOptions {
        check_origin: Some(refuse_all),
        ..ServerOptions::default()
    };
    let checked = ServerOptions {
        check_origin: Some(only_example),
        ..ServerOptions::default()
    };
    let few_headers = ServerOptions {
        max_headers: 3,
        ..ServerOptions::default()
    };
    let small = ServerOptions {
        max_head_size: 64,
        ..ServerOptions::default()
    };
    let default = ServerOptions::default();
    let key16 = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

    let cases: Vec<(&str, Vec<u8>, &ServerOptions, HandshakeError, u16)> = vec![
        (
            "no Host",
            request(&["Host"], &[]),
            &default,
            E::MissingHeader("Host"),
            400,
        ),
        (
            "two Hosts",
            request(&[], &["Host: b"]),
            &default,
            E::DuplicateHeader("Host"),
            400,
        ),
        (
            "two keys",
            request(&[], &[key16]),
            &default,
            E::DuplicateHeader("Sec-WebSocket-Key"),
            400,
        ),
        (
            "no key",
            request(&["Sec-WebSocket-Key"], &[]),
            &default,
            E::MissingHeader("Sec-WebSocket-Key"),
            400,
        ),
        (
            "key of 4 bytes",
            request(&["Sec-WebSocket-Key"], &["Sec-WebSocket-Key: dGVzdA=="]),
            &default,
            E::InvalidHeader("Sec-WebSocket-Key"),
            400,
        ),
        (
            "key not base64",
            request(
                &["Sec-WebSocket-Key"],
                &["Sec-WebSocket-Key: not base64 at all!!"],
            ),
            &default,
            E::InvalidHeader("Sec-WebSocket-Key"),
            400,
        ),
        (
            "TLS hello",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            &default,
            E::MalformedHttp(String::new()),
            400,
        ),
        (
            "not HTTP",
            b"hello\r\n\r\n".to_vec(),
            &default,
            E::MalformedHttp(String::new()),
            400,
        ),
        (
            "bad header line",
            request(&[], &["no colon here"]),
            &default,
            E::MalformedHttp(String::new()),
            400,
        ),
        (
            "POST",
            with_request_line("POST /chat HTTP/1.1"),
            &default,
            E::MethodNotGet("POST".into()),
            405,
        ),
        (
            "lower-case get",
            with_request_line("get /chat HTTP/1.1"),
            &default,
            E::MethodNotGet("get".into()),
            405,
        ),
        (
            "HTTP/1.0",
            with_request_line("GET /chat HTTP/1.0"),
            &default,
            E::UnsupportedHttpVersion,
            400,
        ),
        (
            "HTTP/2.0",
            with_request_line("GET /chat HTTP/2.0"),
            &default,
            E::MalformedHttp(String::new()),
            400,
        ),
        (
            "no Upgrade",
            request(&["Upgrade"], &[]),
            &default,
            E::MissingHeader("Upgrade"),
            400,
        ),
        (
            "Upgrade without websocket",
            request(&["Upgrade"], &["Upgrade: h2c"]),
            &default,
            E::InvalidHeader("Upgrade"),
            400,
        ),
        (
            "no Connection",
            request(&["Connection"], &[]),
            &default,
            E::MissingHeader("Connection"),
            400,
        ),
        (
            "Connection without upgrade",
            request(&["Connection"], &["Connection: keep-alive"]),
            &default,
            E::InvalidHeader("Connection"),
            400,
        ),
        (
            "version 12",
            request(&["Sec-WebSocket-Version"], &["Sec-WebSocket-Version: 12"]),
            &default,
            E::UnsupportedVersion,
            426,
        ),
        (
            "no version",
            request(&["Sec-WebSocket-Version"], &[]),
            &default,
            E::UnsupportedVersion,
            426,
        ),
        (
            "two versions",
            request(&[], &["Sec-WebSocket-Version: 13"]),
            &default,
            E::UnsupportedVersion,
            426,
        ),
        (
            "origin refused",
            request(&[], &[]),
            &strict,
            E::OriginRefused,
            403,
        ),
        (
            "other origin",
            request(&["Origin"], &["Origin: http://evil.example"]),
            &checked,
            E::OriginRefused,
            403,
        ),
        (
            "no origin",
            request(&["Origin"], &[]),
            &checked,
            E::OriginRefused,
            403,
        ),
        (
            "too many headers",
            request(&[], &[]),
            &few_headers,
            E::TooManyHeaders(3),
            431,
        ),
        (
            "head too large",
            request(&[], &[]),
            &small,
            E::HeadTooLarge(64),
            431,
        ),
        (
            "head too large, incomplete",
            vec![b'a'; 65],
            &small,
            E::HeadTooLarge(64),
            431,
        ),
    ];
    for (what, bytes, opts, want, status) in cases {
        let err = handshake(&bytes, opts).expect_err(what);
        if matches!(want, E::MalformedHttp(_)) {
            // The reason text comes from httparse; only the kind matters.
            assert!(matches!(err, E::MalformedHttp(_)), "{what}: {err:?}");
        } else {
            assert_eq!(err, want, "{what}");
        }
        assert_eq!(err.status().as_u16(), status, "{what}");
    }
    // The same origin check lets the right origin in.
    assert!(handshake(&request(&[], &[]), &checked).is_ok());
}

#[test]
fn partial_requests_need_more() {
    let bytes = request(&[], &[]);
    let opts = ServerOptions::default();
    for cut in [0, 1, 3, 20, bytes.len() - 2, bytes.len() - 1] {
        assert_eq!(
            head_of(parse_request(&bytes[..cut], &opts)),
            Ok(None),
            "cut at {cut}"
        );
    }
    // A head that fits exactly is fine; one byte less room is not.
    let exact = ServerOptions {
        max_head_size: bytes.len(),
        ..ServerOptions::default()
    };
    assert!(matches!(parse_request(&bytes, &exact), Ok(Some((_, n))) if n == bytes.len()));
    let short = ServerOptions {
        max_head_size: bytes.len() - 1,
        ..ServerOptions::default()
    };
    assert_eq!(
        head_of(parse_request(&bytes, &short)),
        Err(HandshakeError::HeadTooLarge(bytes.len() - 1))
    );
}

#[test]
fn huge_limits_do_not_allocate_or_panic() {
    let opts = ServerOptions {
        max_headers: usize::MAX,
        max_head_size: usize::MAX,
        ..ServerOptions::default()
    };
    assert!(handshake(&request(&[], &[]), &opts).is_ok());
}

#[test]
fn error_responses() {
    let text = |err: &HandshakeError| String::from_utf8(error_response(err)).expect("ASCII");

    let version = text(&HandshakeError::UnsupportedVersion);
    assert!(
        version.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{version}"
    );
    assert!(
        version.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{version}"
    );

    let method = text(&HandshakeError::MethodNotGet("POST".into()));
    assert!(
        method.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{method}"
    );
    assert!(method.contains("\r\nAllow: GET\r\n"), "{method}");

    let host = text(&HandshakeError::MissingHeader("Host"));
    let body = "missing header Host\n";
    assert_eq!(
        host,
        format!(
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    );
    assert!(!host.contains("Sec-WebSocket-Version"));

    let origin = text(&HandshakeError::OriginRefused);
    assert!(origin.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{origin}");
    let large = text(&HandshakeError::HeadTooLarge(10));
    assert!(
        large.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{large}"
    );
}

#[test]
fn subprotocol_follows_server_preference() {
    let opts = ServerOptions {
        subprotocols: vec!["graphql-ws".into(), "chat".into(), "superchat".into()],
        ..ServerOptions::default()
    };
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["Sec-WebSocket-Protocol: superchat, chat"], Some("chat")),
        (
            &[
                "Sec-WebSocket-Protocol: superchat",
                "Sec-WebSocket-Protocol: graphql-ws",
            ],
            Some("graphql-ws"),
        ),
        (&["Sec-WebSocket-Protocol: superchat"], Some("superchat")),
        (&["Sec-WebSocket-Protocol: mqtt, Chat"], None), // names compare exactly
        (&["Sec-WebSocket-Protocol: ,"], None),
        (&[], None),
    ];
    for (add, want) in cases {
        let accepted = handshake(&request(&[], add), &opts).expect("accepted");
        assert_eq!(accepted.subprotocol.as_deref(), *want, "{add:?}");
        assert_eq!(
            header(&accepted.response, "sec-websocket-protocol"),
            *want,
            "{add:?}"
        );
    }
}

#[test]
fn extension_hook() {
    let opts = ServerOptions {
        extensions: vec![Arc::new(TestFactory)],
        ..ServerOptions::default()
    };
    let cases: &[(&str, &[&str], Option<&str>)] = &[
        (
            "accepted",
            &["Sec-WebSocket-Extensions: x-test; a=1"],
            Some("x-test; a=1"),
        ),
        (
            "first acceptable offer",
            &["Sec-WebSocket-Extensions: x-test; reject, X-Test; b=\"2\""],
            Some("X-Test; b=2"),
        ),
        (
            "offers over several lines",
            &[
                "Sec-WebSocket-Extensions: other",
                "Sec-WebSocket-Extensions: x-test",
            ],
            Some("x-test"),
        ),
        (
            "declined by the factory",
            &["Sec-WebSocket-Extensions: x-test; reject"],
            None,
        ),
        (
            "not offered",
            &["Sec-WebSocket-Extensions: permessage-deflate"],
            None,
        ),
        (
            "malformed header declines all",
            &["Sec-WebSocket-Extensions: x-test; a=\"b c\""],
            None,
        ),
        (
            "malformed other line declines all",
            &[
                "Sec-WebSocket-Extensions: x-test",
                "Sec-WebSocket-Extensions: ;",
            ],
            None,
        ),
        ("no header", &[], None),
    ];
    for (what, add, want) in cases {
        let accepted = handshake(&request(&[], add), &opts).expect(what);
        assert_eq!(
            header(&accepted.response, "sec-websocket-extensions"),
            *want,
            "{what}"
        );
        assert_eq!(accepted.extension.is_some(), want.is_some(), "{what}");
    }
    // Without factories, offers are ignored.
    let plain = handshake(
        &request(&[], &["Sec-WebSocket-Extensions: x-test"]),
        &ServerOptions::default(),
    )
    .expect("accepted");
    assert!(plain.extension.is_none());
    assert_eq!(
        plain
            .response
            .headers()
            .get("sec-websocket-accept")
            .map(HeaderValue::as_bytes),
        Some(accept_key(KEY.as_bytes()).as_bytes())
    );
}
