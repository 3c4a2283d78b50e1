//! The client's side of the opening handshake (RFC 6455 §4.1): parse the URL, build the request,
//! and check the server's response.
//!
//! A driver calls [`Target::parse`], connects to `host:port` (with TLS when `secure`), sends the
//! bytes [`ClientHandshake::new`] returns, reads until [`ClientHandshake::parse_response`] gives a
//! head, and calls [`ClientHandshake::validate`]. Bytes after the head are already frames.

use super::Negotiated;
use super::accept::{accept_key, generate_key};
use super::header::{
    extension_headers, format_extensions, head_len, head_window, header_map, header_slots,
    is_token, parse_error, require_token, single_value, write_field,
};
use crate::proto::error::HandshakeError;
use crate::proto::{Extension, ExtensionFactory};
use http::header::{self, HeaderMap, HeaderName};
use http::{Response, StatusCode, Uri, Version};
use std::fmt;
use std::sync::Arc;

/// A parsed `ws://` or `wss://` URL (RFC 6455 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `true` for `wss://`: the connection runs over TLS.
    pub secure: bool,
    /// The host to connect to, as written in the URL; an IPv6 literal is given without its
    /// brackets (`::1`), ready for name resolution or a TLS server name.
    pub host: String,
    /// The port, 80 or 443 by default (RFC 6455 §3).
    pub port: u16,
    /// The request target: the path (`/` if the URL has none) and the query, percent-encoded.
    pub path_and_query: String,
}

impl Target {
    /// Parses a `ws://` or `wss://` URL.
    ///
    /// # Errors
    /// [`HandshakeError::InvalidUrl`] for a URL that does not parse, another scheme, a missing
    /// host, user information (`user@host`), a fragment (RFC 6455 §3 forbids them), or an invalid
    /// or zero port.
    pub fn parse(url: &str) -> Result<Self, HandshakeError> {
        let invalid = |reason: &str| HandshakeError::InvalidUrl(reason.to_owned());
        // RFC 6455 §3: fragment identifiers MUST NOT be used (`http::Uri` would drop them).
        if url.contains('#') {
            return Err(invalid("a fragment is not allowed"));
        }
        let uri = Uri::try_from(url).map_err(|err| invalid(&err.to_string()))?;
        let secure = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("ws") => false,
            Some(scheme) if scheme.eq_ignore_ascii_case("wss") => true,
            Some(scheme) => return Err(invalid(&format!("scheme {scheme:?} is not ws or wss"))),
            None => return Err(invalid("missing scheme ws:// or wss://")),
        };
        let authority = uri.authority().map_or("", |a| a.as_str());
        if authority.contains('@') {
            return Err(invalid("user information is not allowed"));
        }
        let host = uri.host().unwrap_or_default();
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        let default_port = if secure { 443 } else { 80 };
        // Without user information the authority is `host [":" port]`.
        let port = match authority.strip_prefix(host) {
            Some("") => default_port,
            Some(rest) => rest
                .strip_prefix(':')
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<u16>().ok())
                .filter(|port| *port != 0)
                .ok_or_else(|| invalid("invalid port"))?,
            None => return Err(invalid("invalid authority")),
        };
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
        Ok(Self {
            secure,
            host: host.to_owned(),
            port,
            path_and_query: request_target(path_and_query),
        })
    }

    /// The `Host` header value (RFC 9110 §7.2): the host, in brackets if it is an IPv6
    /// literal, followed by `:port` only when the port is not the scheme's default.
    #[must_use]
    pub fn host_header(&self) -> String {
        let mut value = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port != if self.secure { 443 } else { 80 } {
            value.push(':');
            value.push_str(&self.port.to_string());
        }
        value
    }
}

/// The origin-form request target: a leading `/` (a URL like `ws://host?q` has an empty path),
/// and non-ASCII bytes percent-encoded since a request line is ASCII (RFC 9112 §3).
fn request_target(path_and_query: &str) -> String {
    let mut target = String::with_capacity(path_and_query.len() + 1);
    if !path_and_query.starts_with('/') {
        target.push('/');
    }
    for b in path_and_query.bytes() {
        if b.is_ascii() {
            target.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            target.push('%');
            target.push(char::from(HEX[usize::from(b >> 4)]));
            target.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
    target
}

/// How a client makes and checks opening handshakes.
#[derive(Clone)]
pub struct ClientOptions {
    /// The subprotocols to offer, most preferred first (`Sec-WebSocket-Protocol`). Names that
    /// are not HTTP tokens (RFC 6455 §4.1) are left out of the request.
    pub subprotocols: Vec<String>,
    /// The extensions to offer (`Sec-WebSocket-Extensions`), in order of preference.
    pub extensions: Vec<Arc<dyn ExtensionFactory>>,
    /// The largest response head accepted, in bytes (default 16 KiB).
    pub max_head_size: usize,
    /// The most header fields accepted in the response (default 64).
    pub max_headers: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            subprotocols: Vec::new(),
            extensions: Vec::new(),
            max_head_size: 16 * 1024,
            max_headers: 64,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extensions: Vec<&str> = self.extensions.iter().map(|e| e.name()).collect();
        f.debug_struct("ClientOptions")
            .field("subprotocols", &self.subprotocols)
            .field("extensions", &extensions)
            .field("max_head_size", &self.max_head_size)
            .field("max_headers", &self.max_headers)
            .finish()
    }
}

/// Header fields the handshake writes itself; extra headers with these names are dropped.
const OWN_HEADERS: [HeaderName; 7] = [
    header::HOST,
    header::UPGRADE,
    header::CONNECTION,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_PROTOCOL,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

/// One client handshake in progress: what was sent, to check the response against it.
pub struct ClientHandshake {
    key: String,
    subprotocols: Vec<String>,
    /// The factories that made an offer.
    factories: Vec<Arc<dyn ExtensionFactory>>,
    max_head_size: usize,
    max_headers: usize,
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extensions: Vec<&str> = self.factories.iter().map(|e| e.name()).collect();
        f.debug_struct("ClientHandshake")
            .field("key", &self.key)
            .field("subprotocols", &self.subprotocols)
            .field("extensions", &extensions)
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake to `target`: returns its state and the request bytes to send.
    ///
    /// The request is `GET <path> HTTP/1.1` with `Host`, `Upgrade: websocket`,
    /// `Connection: Upgrade`, a fresh `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`,
    /// `Sec-WebSocket-Protocol` from `opts.subprotocols` and `Sec-WebSocket-Extensions` from the
    /// factories' offers (RFC 6455 §4.1), then `headers` (e.g. `Origin`, `Authorization`,
    /// `Cookie`) verbatim.
    ///
    /// Extra headers cannot override the handshake: `Host`, `Upgrade`, `Connection`,
    /// `Sec-WebSocket-Key`, `Sec-WebSocket-Version`, `Sec-WebSocket-Protocol` and
    /// `Sec-WebSocket-Extensions` in `headers` are skipped. Subprotocol names that are not
    /// tokens, and a factory whose offers contain non-token names or values, are left out
    /// (logged with `tracing`) rather than failing.
    #[must_use]
    pub fn new(target: &Target, headers: &HeaderMap, opts: &ClientOptions) -> (Self, Vec<u8>) {
        let key = generate_key();
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(target.path_and_query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        write_field(&mut out, &header::HOST, target.host_header().as_bytes());
        write_field(&mut out, &header::UPGRADE, b"websocket");
        write_field(&mut out, &header::CONNECTION, b"Upgrade");
        write_field(&mut out, &header::SEC_WEBSOCKET_KEY, key.as_bytes());
        write_field(&mut out, &header::SEC_WEBSOCKET_VERSION, b"13");

        // RFC 6455 §4.1 item 10: subprotocols are unique tokens.
        let mut subprotocols: Vec<String> = Vec::new();
        for protocol in &opts.subprotocols {
            if !is_token(protocol) {
                tracing::warn!(protocol, "subprotocol name is not a token; not offered");
            } else if !subprotocols.contains(protocol) {
                subprotocols.push(protocol.clone());
            }
        }
        if !subprotocols.is_empty() {
            let list = subprotocols.join(", ");
            write_field(&mut out, &header::SEC_WEBSOCKET_PROTOCOL, list.as_bytes());
        }

        // RFC 6455 §4.1 item 11 and §9.1.
        let mut factories = Vec::new();
        let mut offers = Vec::new();
        for factory in &opts.extensions {
            let offer = factory.offer();
            if offer.is_empty() {
                continue;
            }
            match format_extensions(&offer) {
                Ok(text) => {
                    offers.push(text);
                    factories.push(Arc::clone(factory));
                }
                Err(_) => {
                    tracing::warn!(
                        extension = factory.name(),
                        "invalid extension offer; not offered"
                    );
                }
            }
        }
        if !offers.is_empty() {
            let list = offers.join(", ");
            write_field(&mut out, &header::SEC_WEBSOCKET_EXTENSIONS, list.as_bytes());
        }

        for (name, value) in headers {
            if OWN_HEADERS.contains(name) {
                tracing::debug!(header = %name, "extra header would override the handshake; skipped");
                continue;
            }
            write_field(&mut out, name, value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");

        let handshake = Self {
            key,
            subprotocols,
            factories,
            max_head_size: opts.max_head_size,
            max_headers: opts.max_headers,
        };
        (handshake, out)
    }

    /// The `Sec-WebSocket-Key` sent.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Parses a response head from the start of `buf`, like [`super::server::parse_request`]:
    /// `Ok(None)` means read more; `Ok(Some((response, head_len)))` gives the response and the
    /// length of its head, after which the frame stream (or, for a refusal, the body) starts.
    ///
    /// # Errors
    /// [`HandshakeError::MalformedHttp`], [`HandshakeError::HeadTooLarge`] or
    /// [`HandshakeError::TooManyHeaders`] per the options given to [`Self::new`].
    pub fn parse_response(
        &self,
        buf: &[u8],
    ) -> Result<Option<(Response<()>, usize)>, HandshakeError> {
        let window = head_window(buf, self.max_head_size);
        let mut slots = header_slots(window, self.max_headers);
        let mut parsed = httparse::Response::new(&mut slots);
        let status = parsed
            .parse(window)
            .map_err(|err| parse_error(err, self.max_headers))?;
        let Some(len) = head_len(status, buf.len(), self.max_head_size)? else {
            return Ok(None);
        };

        let incomplete = || HandshakeError::MalformedHttp("incomplete status line".into());
        let version = match parsed.version.ok_or_else(incomplete)? {
            0 => Version::HTTP_10,
            _ => Version::HTTP_11,
        };
        let status = StatusCode::from_u16(parsed.code.ok_or_else(incomplete)?)
            .map_err(|_| HandshakeError::MalformedHttp("invalid status code".into()))?;
        let headers = header_map(parsed.headers, self.max_headers)?;

        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.version_mut() = version;
        *response.headers_mut() = headers;
        Ok(Some((response, len)))
    }

    /// Checks the server's response (RFC 6455 §4.1, "the client MUST validate the server's
    /// response") and returns what was negotiated.
    ///
    /// Only one extension can be in use at a time, so a response naming several is refused.
    ///
    /// # Errors
    /// In this order: status other than 101 ([`HandshakeError::UnexpectedStatus`]); a version
    /// older than HTTP/1.1; `Upgrade` without `websocket` or `Connection` without `upgrade`;
    /// a missing, repeated or wrong `Sec-WebSocket-Accept` ([`HandshakeError::AcceptMismatch`]);
    /// a subprotocol that was not offered ([`HandshakeError::UnofferedSubprotocol`]); an
    /// unparsable `Sec-WebSocket-Extensions`, or an extension that was not offered
    /// ([`HandshakeError::UnofferedExtension`]); or the error of the factory's
    /// [`ExtensionFactory::confirm`] when it refuses the server's parameters.
    pub fn validate(&self, response: &Response<()>) -> Result<Negotiated, HandshakeError> {
        // §4.1 item 1: anything but 101 means the handshake did not complete.
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(HandshakeError::UnexpectedStatus(response.status()));
        }
        if response.version() < Version::HTTP_11 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        let headers = response.headers();
        // Items 2 and 3: Upgrade: websocket, Connection: Upgrade (case-insensitive).
        require_token(headers, &header::UPGRADE, "Upgrade", "websocket")?;
        require_token(headers, &header::CONNECTION, "Connection", "upgrade")?;
        // Item 4: Sec-WebSocket-Accept is derived from our key.
        let accept = single_value(
            headers,
            &header::SEC_WEBSOCKET_ACCEPT,
            "Sec-WebSocket-Accept",
        )?
        .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Accept"))?;
        if accept != accept_key(self.key.as_bytes()) {
            return Err(HandshakeError::AcceptMismatch);
        }
        let subprotocol = self.check_subprotocol(headers)?;
        let extension = self.check_extensions(headers)?;
        Ok(Negotiated {
            response: response.clone(),
            subprotocol,
            extension,
        })
    }

    /// §4.1 item 6: a subprotocol in the response must be one the client offered (so there can
    /// be none when nothing was offered).
    fn check_subprotocol(&self, headers: &HeaderMap) -> Result<Option<String>, HandshakeError> {
        let label = "Sec-WebSocket-Protocol";
        let Some(chosen) = single_value(headers, &header::SEC_WEBSOCKET_PROTOCOL, label)? else {
            return Ok(None);
        };
        if self.subprotocols.iter().any(|offered| offered == chosen) {
            Ok(Some(chosen.to_owned()))
        } else {
            Err(HandshakeError::UnofferedSubprotocol(chosen.to_owned()))
        }
    }

    /// §4.1 item 5 and §9.1: every extension in the response must have been offered, and its
    /// factory must accept the server's parameters.
    fn check_extensions(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Box<dyn Extension>>, HandshakeError> {
        if !headers.contains_key(header::SEC_WEBSOCKET_EXTENSIONS) {
            return Ok(None);
        }
        let mut extension = None;
        for element in extension_headers(headers)? {
            let factory = self
                .factories
                .iter()
                .find(|factory| element.name.eq_ignore_ascii_case(factory.name()));
            let (Some(factory), None) = (factory, &extension) else {
                // Not offered, or a second extension (one at a time is supported).
                return Err(HandshakeError::UnofferedExtension(element.to_string()));
            };
            extension = Some(factory.confirm(&element)?);
        }
        Ok(extension)
    }
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
        let (_, bytes) =
            ClientHandshake::new(&target(), &HeaderMap::new(), &ClientOptions::default());
        let text = String::from_utf8(bytes).expect("ASCII");
        assert!(
            !text.contains("Sec-WebSocket-Protocol") && !text.contains("Sec-WebSocket-Extensions")
        );
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
        let (plain, _) =
            ClientHandshake::new(&target(), &HeaderMap::new(), &ClientOptions::default());
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
                handshake
                    .parse_response(&[b"HTTP/1.1 101 S\r\nX: ".as_slice(), &[b'x'; 60]].concat())
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
}
