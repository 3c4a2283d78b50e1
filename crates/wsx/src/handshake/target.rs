//! [`Target`]: a `ws://` or `wss://` URL parsed into what a client connects to (RFC 6455 §3):
//! TLS or not, host, port, and the request target.
#![forbid(unsafe_code)]

use crate::proto::error::HandshakeError;
use http::Uri;

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
