//! The server's side of the opening handshake (RFC 6455 §4.2): parse the client's request head,
//! validate it, negotiate subprotocol and extension, and produce the `101 Switching Protocols`
//! response, or the HTTP error response that refuses the upgrade.
//!
//! A driver reads into a buffer and calls [`parse_request`] until it returns a head, then
//! [`accept`]; it writes either [`write_response`] of the accepted response or
//! [`error_response`] of the error, and in the second case closes the connection. Bytes after
//! the head are already WebSocket frames.
#![forbid(unsafe_code)]

use super::accept::accept_key;
use super::header::{
    extension_headers, format_extensions, head_len, head_window, header_map, header_slots,
    is_token, list_elements, parse_error, require_token, single_value, write_fields,
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
    /// A last check of a valid request, after the Origin check (the server's per-client
    /// limits behind a trusted proxy use it); its error is the answer.
    pub admit: Option<Admit>,
}

/// See [`ServerOptions::admit`].
pub type Admit = Arc<dyn Fn(&Request<()>) -> Result<(), HandshakeError> + Send + Sync>;

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_head_size: 16 * 1024,
            max_headers: 64,
            subprotocols: Vec::new(),
            check_origin: None,
            extensions: Vec::new(),
            admit: None,
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
            .field("admit", &self.admit.is_some())
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
    if let Some(admit) = &opts.admit {
        admit(request)?;
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
pub(crate) fn choose_subprotocol(headers: &http::HeaderMap, ours: &[String]) -> Option<String> {
    ours.iter()
        .filter(|ours| is_token(ours))
        .find(|ours| {
            list_elements(headers, &header::SEC_WEBSOCKET_PROTOCOL).any(|theirs| theirs == *ours)
        })
        .cloned()
}

/// RFC 6455 §9.1: hands each factory the client's offers of its extension, in the client's
/// order; the first factory to accept wins. Returns the response element and the extension.
pub(crate) fn negotiate_extension(
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

/// The response refusing a failed handshake, as an `http::Response` with its plain-text body
/// giving the reason: the status of [`HandshakeError::status`], `Connection: close`, and for
/// [`HandshakeError::UnsupportedVersion`] `Sec-WebSocket-Version: 13` (RFC 6455 §4.4), for
/// [`HandshakeError::MethodNotGet`] `Allow: GET` (RFC 9110 §15.5.6). [`error_response`] is
/// the same serialised; HTTP stacks such as hyper send this one.
#[must_use]
pub fn refusal(err: &HandshakeError) -> Response<String> {
    let body = format!("{err}\n");
    let mut response = Response::new(String::new());
    *response.status_mut() = err.status();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    match err {
        HandshakeError::UnsupportedVersion => {
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        HandshakeError::MethodNotGet(_) => {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
        }
        // RFC 9110 §10.2.3, for 503 and RFC 6585 §4's 429.
        HandshakeError::ServerBusy { retry_after }
        | HandshakeError::TooManyRequests { retry_after } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        _ => {}
    }
    *response.body_mut() = body;
    response
}

/// A complete HTTP response refusing a failed handshake ([`refusal`], serialised). Send it,
/// then close the connection.
#[must_use]
pub fn error_response(err: &HandshakeError) -> Vec<u8> {
    let response = refusal(err);
    let mut out = Vec::with_capacity(160 + response.body().len());
    write_status_line(&mut out, response.status());
    write_fields(&mut out, response.headers());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(response.body().as_bytes());
    out
}

fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

// The unit tests live with the other handshake tests, in handshake/tests/.
#[cfg(test)]
#[path = "tests/server.rs"]
mod tests;
