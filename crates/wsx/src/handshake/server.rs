//! The server's side of the opening handshake (RFC 6455 §4.2): parse the client's request head,
//! validate it, negotiate subprotocol and extension, and produce the `101 Switching Protocols`
//! response, or the HTTP error response that refuses the upgrade.
//!
//! A driver reads into a buffer and calls [`parse_request`] until it returns a head, then
//! [`accept`]; it writes either [`write_response`] of the accepted response or
//! [`error_response`] of the error, and in the second case closes the connection. Bytes after
//! the head are already WebSocket frames.

use super::accept::accept_key;
use super::header::{
    extension_headers, format_extensions, head_len, head_window, header_map, header_slots,
    is_token, list_elements, parse_error, require_token, single_value, write_field, write_fields,
};
use crate::proto::error::HandshakeError;
use crate::proto::{Extension, ExtensionFactory, ExtensionOffer};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use std::fmt;
use std::sync::Arc;

/// A check of the request (typically of its `Origin` header, RFC 6455 §4.2.1 item 7 and
/// §10.2): `false` refuses the handshake with `403 Forbidden`.
pub type OriginCheck = Arc<dyn Fn(&Request<()>) -> bool + Send + Sync>;

/// How a server reads and answers opening handshakes.
#[derive(Clone)]
pub struct ServerOptions {
    /// The largest request head accepted, in bytes (default 16 KiB). A larger head is refused
    /// with `431 Request Header Fields Too Large`.
    pub max_head_size: usize,
    /// The most header fields accepted (default 64). More are refused with `431`.
    pub max_headers: usize,
    /// The subprotocols this server speaks, most preferred first. The first of them the client
    /// offered is chosen; when there is none, the response names no subprotocol (the client
    /// decides whether to go on).
    pub subprotocols: Vec<String>,
    /// Called with the request after every other check passed; `false` refuses it with `403`.
    /// Browsers always send `Origin`, so this is where cross-site WebSocket hijacking is
    /// stopped (RFC 6455 §10.2). `None` accepts every origin.
    pub check_origin: Option<OriginCheck>,
    /// The extensions this server supports, in order of preference; at most one is negotiated.
    pub extensions: Vec<Arc<dyn ExtensionFactory>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_head_size: 16 * 1024,
            max_headers: 64,
            subprotocols: Vec::new(),
            check_origin: None,
            extensions: Vec::new(),
        }
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extensions: Vec<&str> = self.extensions.iter().map(|e| e.name()).collect();
        f.debug_struct("ServerOptions")
            .field("max_head_size", &self.max_head_size)
            .field("max_headers", &self.max_headers)
            .field("subprotocols", &self.subprotocols)
            .field("check_origin", &self.check_origin.is_some())
            .field("extensions", &extensions)
            .finish()
    }
}

/// The server's side of a successful negotiation: the `101 Switching Protocols` response to
/// send with [`write_response`], and what was agreed.
pub type Accepted = super::Negotiated;

/// Parses an HTTP request head from the start of `buf`.
///
/// Returns `Ok(None)` when the head is not complete yet: read more and call again with the
/// whole buffer. `Ok(Some((request, head_len)))` gives the request (without body) and the length
/// of its head; `buf[head_len..]` is the start of the frame stream and belongs to the caller.
/// This only parses; [`accept`] checks that the request is a WebSocket handshake.
///
/// At most `opts.max_head_size` bytes are ever examined, so calling this on every read costs
/// bounded work.
///
/// # Errors
/// [`HandshakeError::MalformedHttp`] for bytes that are not an HTTP/1.x request,
/// [`HandshakeError::HeadTooLarge`] once `buf` holds more than `opts.max_head_size` bytes
/// without a complete head, [`HandshakeError::TooManyHeaders`] past `opts.max_headers` fields.
pub fn parse_request(
    buf: &[u8],
    opts: &ServerOptions,
) -> Result<Option<(Request<()>, usize)>, HandshakeError> {
    let window = head_window(buf, opts.max_head_size);
    let mut slots = header_slots(window, opts.max_headers);
    let mut parsed = httparse::Request::new(&mut slots);
    let status = parsed
        .parse(window)
        .map_err(|err| parse_error(err, opts.max_headers))?;
    let Some(len) = head_len(status, buf.len(), opts.max_head_size)? else {
        return Ok(None);
    };

    let incomplete = || HandshakeError::MalformedHttp("incomplete request line".into());
    let method = parsed.method.ok_or_else(incomplete)?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| HandshakeError::MalformedHttp("invalid method".into()))?;
    let uri = Uri::try_from(parsed.path.ok_or_else(incomplete)?)
        .map_err(|_| HandshakeError::MalformedHttp("invalid request target".into()))?;
    let version = match parsed.version.ok_or_else(incomplete)? {
        0 => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let headers = header_map(parsed.headers, opts.max_headers)?;

    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(Some((request, len)))
}

/// Validates a parsed request as a WebSocket opening handshake (RFC 6455 §4.2.1), negotiates
/// subprotocol and extension, and returns the `101` response to send.
///
/// A malformed `Sec-WebSocket-Extensions` header does not fail the handshake: every extension
/// is declined instead, which the client is free to accept or not.
///
/// # Errors
/// The first rule the request breaks, checked in this order: method `GET`
/// ([`HandshakeError::MethodNotGet`]); HTTP/1.1 or later
/// ([`HandshakeError::UnsupportedHttpVersion`]); exactly one `Host`; `Upgrade` containing
/// `websocket` and `Connection` containing `upgrade` ([`HandshakeError::MissingHeader`],
/// [`HandshakeError::DuplicateHeader`], [`HandshakeError::InvalidHeader`]);
/// `Sec-WebSocket-Version: 13` ([`HandshakeError::UnsupportedVersion`]); exactly one
/// `Sec-WebSocket-Key` of 16 base64-encoded bytes; the origin check
/// ([`HandshakeError::OriginRefused`]). Answer it with [`error_response`].
pub fn accept(request: &Request<()>, opts: &ServerOptions) -> Result<Accepted, HandshakeError> {
    // RFC 6455 §4.2.1 item 1: an HTTP/1.1 or higher GET request.
    if request.method() != Method::GET {
        return Err(HandshakeError::MethodNotGet(request.method().to_string()));
    }
    if request.version() < Version::HTTP_11 {
        return Err(HandshakeError::UnsupportedHttpVersion);
    }
    let headers = request.headers();
    // Item 2: a Host header field. RFC 9112 §3.2 also requires that there is only one.
    if single_value(headers, &header::HOST, "Host")?.is_none() {
        return Err(HandshakeError::MissingHeader("Host"));
    }
    // Item 3: an Upgrade header field containing "websocket" (case-insensitive).
    require_token(headers, &header::UPGRADE, "Upgrade", "websocket")?;
    // Item 4: a Connection header field containing "Upgrade" (case-insensitive).
    require_token(headers, &header::CONNECTION, "Connection", "upgrade")?;
    // Item 6: Sec-WebSocket-Version must be 13; §4.4: anything else (including none) is
    // answered with 426 and the versions we speak, so a client can retry.
    if !matches!(
        single_value(
            headers,
            &header::SEC_WEBSOCKET_VERSION,
            "Sec-WebSocket-Version"
        ),
        Ok(Some("13"))
    ) {
        return Err(HandshakeError::UnsupportedVersion);
    }
    // Item 5: Sec-WebSocket-Key, a base64-encoded 16-byte nonce. §11.3.1: it MUST NOT appear
    // more than once.
    let key = single_value(headers, &header::SEC_WEBSOCKET_KEY, "Sec-WebSocket-Key")?
        .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Key"))?;
    if STANDARD.decode(key).map(|nonce| nonce.len()) != Ok(16) {
        return Err(HandshakeError::InvalidHeader("Sec-WebSocket-Key"));
    }
    // Item 7: the Origin, if the application wants to check it (§10.2).
    if let Some(check) = &opts.check_origin
        && !check(request)
    {
        return Err(HandshakeError::OriginRefused);
    }

    // §4.2.2 step 5: the 101 response.
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let response_headers = response.headers_mut();
    response_headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response_headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::try_from(accept_key(key.as_bytes()))
        .map_err(|_| HandshakeError::InvalidHeader("Sec-WebSocket-Key"))?;
    response_headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);

    let subprotocol = choose_subprotocol(headers, &opts.subprotocols);
    if let Some(value) = subprotocol
        .as_deref()
        .and_then(|p| HeaderValue::from_str(p).ok())
    {
        response_headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    let extension = match negotiate_extension(headers, &opts.extensions) {
        Some((value, extension)) => {
            response_headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
            Some(extension)
        }
        None => None,
    };

    Ok(Accepted {
        response,
        subprotocol,
        extension,
    })
}

/// RFC 6455 §4.2.2 step 5.5: one of the client's subprotocols (§4.1: tokens, possibly over
/// several header lines), here the first of the server's own preference list that the client
/// offered. Subprotocol names are compared exactly.
fn choose_subprotocol(headers: &http::HeaderMap, ours: &[String]) -> Option<String> {
    ours.iter()
        .filter(|ours| is_token(ours))
        .find(|ours| {
            list_elements(headers, &header::SEC_WEBSOCKET_PROTOCOL).any(|theirs| theirs == *ours)
        })
        .cloned()
}

/// RFC 6455 §9.1: hands each factory the client's offers of its extension, in the client's
/// order; the first factory to accept wins. Returns the response element and the extension.
fn negotiate_extension(
    headers: &http::HeaderMap,
    factories: &[Arc<dyn ExtensionFactory>],
) -> Option<(HeaderValue, Box<dyn Extension>)> {
    if factories.is_empty() || !headers.contains_key(header::SEC_WEBSOCKET_EXTENSIONS) {
        return None;
    }
    let offers = match extension_headers(headers) {
        Ok(offers) => offers,
        Err(err) => {
            tracing::debug!(%err, "declining all extensions");
            return None;
        }
    };
    for factory in factories {
        let name = factory.name();
        let mine: Vec<ExtensionOffer> = offers
            .iter()
            .filter(|offer| offer.name.eq_ignore_ascii_case(name))
            .cloned()
            .collect();
        if mine.is_empty() {
            continue;
        }
        let Some((answer, extension)) = factory.accept(&mine) else {
            continue;
        };
        let value = format_extensions(std::slice::from_ref(&answer))
            .ok()
            .and_then(|text| HeaderValue::try_from(text).ok());
        if let Some(value) = value {
            return Some((value, extension));
        }
        tracing::warn!(extension = name, "invalid extension response; declined");
    }
    None
}

/// Serialises a response head (status line, header fields, empty line) into `out`.
///
/// The handshake is HTTP/1.1, so the status line always says `HTTP/1.1` whatever the
/// response's version field holds.
pub fn write_response(response: &Response<()>, out: &mut Vec<u8>) {
    write_status_line(out, response.status());
    write_fields(out, response.headers());
    out.extend_from_slice(b"\r\n");
}

/// A complete HTTP response refusing a failed handshake: the status of [`HandshakeError::status`],
/// `Connection: close`, and a short plain-text body giving the reason. Send it, then close the
/// connection.
///
/// For [`HandshakeError::UnsupportedVersion`] it carries `Sec-WebSocket-Version: 13`
/// (RFC 6455 §4.4), for [`HandshakeError::MethodNotGet`] `Allow: GET` (RFC 9110 §15.5.6).
#[must_use]
pub fn error_response(err: &HandshakeError) -> Vec<u8> {
    let body = format!("{err}\n");
    let mut out = Vec::with_capacity(160 + body.len());
    write_status_line(&mut out, err.status());
    write_field(&mut out, &header::CONNECTION, b"close");
    write_field(
        &mut out,
        &header::CONTENT_TYPE,
        b"text/plain; charset=utf-8",
    );
    write_field(
        &mut out,
        &header::CONTENT_LENGTH,
        body.len().to_string().as_bytes(),
    );
    match err {
        HandshakeError::UnsupportedVersion => {
            write_field(&mut out, &header::SEC_WEBSOCKET_VERSION, b"13");
        }
        HandshakeError::MethodNotGet(_) => write_field(&mut out, &header::ALLOW, b"GET"),
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drops the parsed head so results can be compared.
    fn head_of<T>(
        result: Result<Option<(T, usize)>, HandshakeError>,
    ) -> Result<Option<usize>, HandshakeError> {
        result.map(|head| head.map(|(_, len)| len))
    }
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
}
