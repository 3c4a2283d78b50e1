//! Unit tests of the client handshake ([`super`]): URL parsing, the request, response
//! validation and extension confirmation.
#![forbid(unsafe_code)]

use super::*;
use crate::handshake::testing::head_of;

use crate::handshake::server::{self, ServerOptions};
use crate::handshake::testing::TestFactory;
use http::HeaderValue;

#[test]
fn parse_targets() {
    let ok = |secure, host: &str, port, pq: &str, host_header: &str| {
        let target = Target {
            secure,
            host: host.into(),
            port,
            path_and_query: pq.into(),
        };
        (target, host_header.to_owned())
    };
    let cases = [
        (
            "ws://example.com",
            ok(false, "example.com", 80, "/", "example.com"),
        ),
        (
            "wss://example.com",
            ok(true, "example.com", 443, "/", "example.com"),
        ),
        (
            "WSS://Example.com/",
            ok(true, "Example.com", 443, "/", "Example.com"),
        ),
        (
            "ws://example.com:80/a",
            ok(false, "example.com", 80, "/a", "example.com"),
        ),
        (
            "ws://example.com:443/",
            ok(false, "example.com", 443, "/", "example.com:443"),
        ),
        (
            "wss://example.com:80",
            ok(true, "example.com", 80, "/", "example.com:80"),
        ),
        (
            "ws://127.0.0.1:9001/runCase?case=1&agent=wsx",
            ok(
                false,
                "127.0.0.1",
                9001,
                "/runCase?case=1&agent=wsx",
                "127.0.0.1:9001",
            ),
        ),
        (
            "ws://[::1]:9001/x",
            ok(false, "::1", 9001, "/x", "[::1]:9001"),
        ),
        (
            "wss://[2001:db8::1]",
            ok(true, "2001:db8::1", 443, "/", "[2001:db8::1]"),
        ),
        ("ws://h?q=1", ok(false, "h", 80, "/?q=1", "h")),
        (
            "ws://h/caf\u{e9}?x=%20",
            ok(false, "h", 80, "/caf%C3%A9?x=%20", "h"),
        ),
    ];
    for (url, (want, host_header)) in cases {
        let target = Target::parse(url).expect(url);
        assert_eq!(target, want, "{url}");
        assert_eq!(target.host_header(), host_header, "{url}");
    }
}

#[test]
fn reject_bad_urls() {
    for url in [
        "http://example.com/",
        "https://example.com/",
        "ftp://example.com/",
        "example.com/chat",
        "/chat",
        "",
        "ws://",
        "ws:///chat",
        "ws://:80/",
        "ws://example.com/#frag",
        "ws://example.com#",
        "ws://user:pass@example.com/",
        "ws://example.com:/",
        "ws://example.com:0/",
        "ws://example.com:65536/",
        "ws://example.com:+80/",
        "ws://[::1/",
        "ws://exa mple.com/",
    ] {
        let result = Target::parse(url);
        assert!(
            matches!(result, Err(HandshakeError::InvalidUrl(_))),
            "{url:?}: {result:?}"
        );
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        subprotocols: vec!["chat".into(), "superchat".into()],
        extensions: vec![Arc::new(TestFactory)],
        ..ClientOptions::default()
    }
}

fn target() -> Target {
    Target::parse("ws://server.example.com:8080/chat?room=1").expect("valid URL")
}

#[test]
fn request_bytes() {
    let mut extra = HeaderMap::new();
    extra.insert(
        header::ORIGIN,
        HeaderValue::from_static("http://example.com"),
    );
    extra.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
    extra.append(header::COOKIE, HeaderValue::from_static("a=1"));
    extra.append(header::COOKIE, HeaderValue::from_static("b=2"));
    for own in [
        header::HOST,
        header::UPGRADE,
        header::SEC_WEBSOCKET_KEY,
        header::SEC_WEBSOCKET_PROTOCOL,
    ] {
        extra.insert(own, HeaderValue::from_static("evil"));
    }
    let mut opts = options();
    opts.subprotocols.push("bad name".into());
    opts.subprotocols.push("chat".into());

    let (handshake, bytes) = ClientHandshake::new(&target(), &extra, &opts);
    let text = String::from_utf8(bytes).expect("ASCII");
    let want = format!(
        "GET /chat?room=1 HTTP/1.1\r\n\
         Host: server.example.com:8080\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Extensions: x-test; level=1, x-test\r\n\
         Origin: http://example.com\r\n\
         Authorization: Bearer t\r\n\
         Cookie: a=1\r\n\
         Cookie: b=2\r\n\r\n",
        handshake.key()
    );
    assert_eq!(text, want);
    assert!(!text.contains("evil"));

    // Nothing optional without options.
    let (_, bytes) = ClientHandshake::new(&target(), &HeaderMap::new(), &ClientOptions::default());
    let text = String::from_utf8(bytes).expect("ASCII");
    assert!(!text.contains("Sec-WebSocket-Protocol") && !text.contains("Sec-WebSocket-Extensions"));
}

/// A response head to `handshake` with the standard fields, `drop`ped and `add`ed lines.
fn response(handshake: &ClientHandshake, status: &str, drop: &[&str], add: &[&str]) -> Vec<u8> {
    let accept = format!(
        "Sec-WebSocket-Accept: {}",
        accept_key(handshake.key().as_bytes())
    );
    let mut lines = vec![
        format!("HTTP/1.1 {status}"),
        "Upgrade: websocket".to_owned(),
        "Connection: Upgrade".to_owned(),
        accept,
    ];
    lines.retain(|line| !drop.iter().any(|d| line.starts_with(d)));
    lines.extend(add.iter().map(|line| (*line).to_owned()));
    let mut text = lines.join("\r\n");
    text.push_str("\r\n\r\n");
    text.into_bytes()
}

#[test]
fn validate_responses() {
    use HandshakeError as E;
    /// What, which handshake, status line, lines to drop, lines to add, outcome
    /// (subprotocol, whether an extension was negotiated).
    type Case<'a> = (
        &'a str,
        &'a ClientHandshake,
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
        Result<(Option<&'a str>, bool), HandshakeError>,
    );

    let (offering, _) = ClientHandshake::new(&target(), &HeaderMap::new(), &options());
    let (plain, _) = ClientHandshake::new(&target(), &HeaderMap::new(), &ClientOptions::default());
    let accept = "Sec-WebSocket-Accept";
    let cases: &[Case<'_>] = &[
        (
            "plain",
            &plain,
            "101 Switching Protocols",
            &[],
            &[],
            Ok((None, false)),
        ),
        (
            "no reason phrase",
            &plain,
            "101 ",
            &[],
            &[],
            Ok((None, false)),
        ),
        (
            "token lists",
            &plain,
            "101 Switching Protocols",
            &["Upgrade", "Connection"],
            &["upgrade: WebSocket", "Connection: keep-alive, upgrade"],
            Ok((None, false)),
        ),
        (
            "offers, none taken",
            &offering,
            "101 Switching Protocols",
            &[],
            &[],
            Ok((None, false)),
        ),
        (
            "subprotocol",
            &offering,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Protocol: superchat"],
            Ok((Some("superchat"), false)),
        ),
        (
            "extension",
            &offering,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Extensions: x-test; level=1"],
            Ok((None, true)),
        ),
        (
            "both",
            &offering,
            "101 Switching Protocols",
            &[],
            &[
                "Sec-WebSocket-Extensions: X-Test",
                "Sec-WebSocket-Protocol: chat",
            ],
            Ok((Some("chat"), true)),
        ),
        (
            "status 200",
            &plain,
            "200 OK",
            &[],
            &[],
            Err(E::UnexpectedStatus(StatusCode::OK)),
        ),
        (
            "status 403",
            &plain,
            "403 Forbidden",
            &[],
            &[],
            Err(E::UnexpectedStatus(StatusCode::FORBIDDEN)),
        ),
        (
            "no Upgrade",
            &plain,
            "101 Switching Protocols",
            &["Upgrade"],
            &[],
            Err(E::MissingHeader("Upgrade")),
        ),
        (
            "wrong Upgrade",
            &plain,
            "101 Switching Protocols",
            &["Upgrade"],
            &["Upgrade: h2c"],
            Err(E::InvalidHeader("Upgrade")),
        ),
        (
            "no Connection",
            &plain,
            "101 Switching Protocols",
            &["Connection"],
            &[],
            Err(E::MissingHeader("Connection")),
        ),
        (
            "no accept",
            &plain,
            "101 Switching Protocols",
            &[accept],
            &[],
            Err(E::MissingHeader("Sec-WebSocket-Accept")),
        ),
        (
            "wrong accept",
            &plain,
            "101 Switching Protocols",
            &[accept],
            &["Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
            Err(E::AcceptMismatch),
        ),
        (
            "two accepts",
            &plain,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Accept: x"],
            Err(E::DuplicateHeader("Sec-WebSocket-Accept")),
        ),
        (
            "unoffered subprotocol",
            &offering,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Protocol: mqtt"],
            Err(E::UnofferedSubprotocol("mqtt".into())),
        ),
        (
            "subprotocol list",
            &offering,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Protocol: chat, superchat"],
            Err(E::UnofferedSubprotocol("chat, superchat".into())),
        ),
        (
            "subprotocol, none offered",
            &plain,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Protocol: chat"],
            Err(E::UnofferedSubprotocol("chat".into())),
        ),
        (
            "unoffered extension",
            &offering,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Extensions: permessage-deflate"],
            Err(E::UnofferedExtension("permessage-deflate".into())),
        ),
        (
            "extension, none offered",
            &plain,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Extensions: x-test"],
            Err(E::UnofferedExtension("x-test".into())),
        ),
        (
            "extension refused by confirm",
            &offering,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Extensions: x-test; bogus"],
            Err(E::UnofferedExtension("x-test; bogus".into())),
        ),
        (
            "extension twice",
            &offering,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Extensions: x-test, x-test; level=1"],
            Err(E::UnofferedExtension("x-test; level=1".into())),
        ),
        (
            "malformed extensions",
            &offering,
            "101 Switching Protocols",
            &[],
            &["Sec-WebSocket-Extensions: x-test;"],
            Err(E::InvalidHeader("Sec-WebSocket-Extensions")),
        ),
    ];
    for (what, handshake, status, drop, add, want) in cases {
        let bytes = response(handshake, status, drop, add);
        let (parsed, len) = handshake.parse_response(&bytes).expect(what).expect(what);
        assert_eq!(len, bytes.len(), "{what}");
        let got = handshake
            .validate(&parsed)
            .map(|n| (n.subprotocol, n.extension.is_some()));
        let want = want.clone().map(|(p, e)| (p.map(str::to_owned), e));
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn validate_http_1_0() {
    let (handshake, _) =
        ClientHandshake::new(&target(), &HeaderMap::new(), &ClientOptions::default());
    let mut bytes = response(&handshake, "101 Switching Protocols", &[], &[]);
    bytes[7] = b'0'; // HTTP/1.1 -> HTTP/1.0
    let (parsed, _) = handshake
        .parse_response(&bytes)
        .expect("parses")
        .expect("complete");
    assert_eq!(
        handshake.validate(&parsed).err(),
        Some(HandshakeError::UnsupportedHttpVersion)
    );
}

#[test]
fn parse_response_limits() {
    let opts = ClientOptions {
        max_head_size: 64,
        max_headers: 2,
        ..ClientOptions::default()
    };
    let (handshake, _) = ClientHandshake::new(&target(), &HeaderMap::new(), &opts);
    let full = response(&handshake, "101 Switching Protocols", &[], &[]);
    assert_eq!(
        head_of(handshake.parse_response(b"HTTP/1.1 101 Swi")),
        Ok(None)
    );
    assert_eq!(head_of(handshake.parse_response(b"")), Ok(None));
    assert_eq!(
        head_of(
            handshake.parse_response(&[b"HTTP/1.1 101 S\r\nX: ".as_slice(), &[b'x'; 60]].concat())
        ),
        Err(HandshakeError::HeadTooLarge(64))
    );
    assert!(matches!(
        handshake.parse_response(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        Err(HandshakeError::MalformedHttp(_))
    ));
    assert!(matches!(
        handshake.parse_response(b"HTTP/1.1 000 Zero\r\n\r\n"),
        Err(HandshakeError::MalformedHttp(_))
    ));
    let too_many = b"HTTP/1.1 101 S\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
    assert_eq!(
        head_of(handshake.parse_response(too_many)),
        Err(HandshakeError::TooManyHeaders(2))
    );
    assert!(full.len() > 64);
    assert_eq!(
        head_of(handshake.parse_response(&full)),
        Err(HandshakeError::HeadTooLarge(64))
    );
}

#[test]
fn round_trip() {
    let server_opts = ServerOptions {
        subprotocols: vec!["superchat".into(), "chat".into()],
        extensions: vec![Arc::new(TestFactory)],
        ..ServerOptions::default()
    };
    let mut extra = HeaderMap::new();
    extra.insert(
        header::ORIGIN,
        HeaderValue::from_static("http://example.com"),
    );
    let (client, mut request) = ClientHandshake::new(&target(), &extra, &options());
    let request_head = request.len();
    request.extend_from_slice(b"\x81\x80frame");

    let (parsed, len) = server::parse_request(&request, &server_opts)
        .expect("valid request")
        .expect("complete");
    assert_eq!(len, request_head);
    assert_eq!(parsed.uri(), "/chat?room=1");
    assert_eq!(parsed.headers()["host"], "server.example.com:8080");
    let accepted = server::accept(&parsed, &server_opts).expect("accepted");
    assert_eq!(accepted.subprotocol.as_deref(), Some("superchat"));
    assert!(accepted.extension.is_some());

    let mut response = Vec::new();
    server::write_response(&accepted.response, &mut response);
    let response_head = response.len();
    response.extend_from_slice(b"\x81\x02hi");

    // Byte by byte, the client needs more until the head is complete.
    for cut in 0..response_head {
        assert_eq!(
            head_of(client.parse_response(&response[..cut])),
            Ok(None),
            "cut at {cut}"
        );
    }
    let (answer, len) = client
        .parse_response(&response)
        .expect("valid response")
        .expect("complete");
    assert_eq!(len, response_head);
    assert_eq!(&response[len..], b"\x81\x02hi");
    let negotiated = client.validate(&answer).expect("negotiated");
    assert_eq!(negotiated.subprotocol.as_deref(), Some("superchat"));
    assert_eq!(
        negotiated.response.headers()["sec-websocket-extensions"],
        "x-test; level=1"
    );
    assert_eq!(negotiated.extension.map(|e| e.rsv_bits()), Some(0x40));
}

#[test]
fn refusal_round_trip() {
    let (client, mut request) =
        ClientHandshake::new(&target(), &HeaderMap::new(), &ClientOptions::default());
    // Pretend to be an older client.
    let text = String::from_utf8(request.clone()).expect("ASCII");
    request = text
        .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8")
        .into_bytes();
    let opts = ServerOptions::default();
    let (parsed, _) = server::parse_request(&request, &opts)
        .expect("valid")
        .expect("complete");
    let err = server::accept(&parsed, &opts).expect_err("version 8");
    let response = server::error_response(&err);
    let (answer, len) = client
        .parse_response(&response)
        .expect("valid")
        .expect("complete");
    assert_eq!(answer.headers()["sec-websocket-version"], "13");
    let body = &response[len..];
    assert_eq!(
        answer.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert_eq!(
        client.validate(&answer).err(),
        Some(HandshakeError::UnexpectedStatus(
            StatusCode::UPGRADE_REQUIRED
        ))
    );
}
