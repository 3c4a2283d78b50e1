//! Which origins may open a WebSocket: the checks a server's
//! [`ServerOptions::check_origin`](super::ServerOptions::check_origin) or
//! [`Config::check_origin`](crate::Config::check_origin) takes.
//!
//! A browser sends `Origin` with every WebSocket handshake and lets any page open one to any
//! host, with that host's cookies: without a check, a page on another site can talk to the
//! server as its logged-in user (cross-site WebSocket hijacking; RFC 6455 §10.2). So the event
//! API's [`crate::Server`] refuses a cross-origin handshake by default ([`same_origin`]), as
//! gorilla/websocket does when no `CheckOrigin` is set: an `Origin` whose host and port differ
//! from the request's `Host` gets `403 Forbidden`. A request without `Origin` is not from a
//! browser page (a CLI, a server, a mobile app): it passes, since whoever sends it could send
//! any `Origin` as well.
//!
//! ```
//! use wsx::{Config, origin};
//!
//! // Default (`check_origin: None`): same origin only, a page served by this host and port.
//! let same = Config::default();
//! // Pages of these origins too (scheme, host and port, as browsers send them).
//! let listed = Config {
//!     check_origin: Some(origin::allow(["https://app.example.com", "http://localhost:3000"])),
//!     ..Config::default()
//! };
//! // Any origin: for servers that authenticate otherwise than with cookies.
//! let any = Config { check_origin: Some(origin::any()), ..Config::default() };
//! ```
#![forbid(unsafe_code)]

use super::server::OriginCheck;
use http::Request;
use http::header::{HOST, ORIGIN};
use std::sync::Arc;

/// The default of [`crate::Config::check_origin`]: a request without `Origin` passes; an
/// `Origin` must name the host and port the request was sent to (its `Host` header, or the
/// `:authority` of an HTTP/2 request), compared without ASCII case and with the scheme's
/// default port implied (`https://a.example` is `a.example:443`). `Origin: null` (a sandboxed
/// page, a file) and a request with two `Origin`s are refused.
#[must_use]
pub fn same_origin() -> OriginCheck {
    Arc::new(is_same_origin)
}

/// Every origin: for servers whose clients authenticate otherwise than with cookies (a token
/// in the first message, say), or that serve public data only.
#[must_use]
pub fn any() -> OriginCheck {
    Arc::new(|_: &Request<()>| true)
}

/// The same origin ([`same_origin`]), and `origins`: `scheme://host[:port]` as a browser sends
/// them (`https://app.example.com`), compared without ASCII case and with the scheme's default
/// port implied. A request without `Origin` passes.
pub fn allow<I, S>(origins: I) -> OriginCheck
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let allowed: Vec<Origin> = origins
        .into_iter()
        .filter_map(|o| Origin::parse(o.as_ref()))
        .collect();
    Arc::new(move |request: &Request<()>| match origin_of(request) {
        Checked::Absent => true,
        Checked::Invalid => false,
        Checked::Origin(origin) => is_host(&origin, request) || allowed.contains(&origin),
    })
}

/// Whether `request` is same-origin, or carries no `Origin` ([`same_origin`]'s check).
#[must_use]
pub fn is_same_origin(request: &Request<()>) -> bool {
    match origin_of(request) {
        Checked::Absent => true,
        Checked::Invalid => false,
        Checked::Origin(origin) => is_host(&origin, request),
    }
}

/// A request's `Origin`.
enum Checked {
    Absent,
    /// Two of them (RFC 6454 §7: one origin, or `null`), `null`, or not an origin.
    Invalid,
    Origin(Origin),
}

fn origin_of(request: &Request<()>) -> Checked {
    let mut origins = request.headers().get_all(ORIGIN).iter();
    let Some(origin) = origins.next() else {
        return Checked::Absent;
    };
    if origins.next().is_some() {
        return Checked::Invalid;
    }
    match origin.to_str().ok().and_then(Origin::parse) {
        Some(origin) => Checked::Origin(origin),
        None => Checked::Invalid,
    }
}

/// Whether `origin` names the host and port `request` was sent to.
fn is_host(origin: &Origin, request: &Request<()>) -> bool {
    host_of(request).is_some_and(|host| origin.is_host(host))
}

/// The authority a request was sent to: `Host` (HTTP/1.1), or the URI's authority (HTTP/2's
/// `:authority`, or an absolute-form request target).
fn host_of(request: &Request<()>) -> Option<&str> {
    match request.headers().get(HOST) {
        Some(host) => host.to_str().ok(),
        None => request.uri().authority().map(http::uri::Authority::as_str),
    }
}

/// A serialized origin (RFC 6454 §6.2: `scheme "://" host [ ":" port ]`), its port explicit.
#[derive(PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses an origin as a browser sends it; `None` for `null` or anything else that is
    /// not `scheme://host[:port]` (a path, user info).
    fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
            return None;
        }
        let (host, port) = split_port(rest, default_port(&scheme))?;
        Some(Self { scheme, host, port })
    }

    /// Whether `host` (a `Host` header: `host[:port]`) names this origin's host and port.
    fn is_host(&self, host: &str) -> bool {
        split_port(host.trim(), default_port(&self.scheme))
            .is_some_and(|(name, port)| name == self.host && port == self.port)
    }
}

/// The default port of a scheme (0 for one without: then a port must be given to match).
fn default_port(scheme: &str) -> u16 {
    match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => 0,
    }
}

/// `host[:port]` (an IPv6 host in brackets) as a lowercase host and a port, `default` when
/// none is given.
fn split_port(authority: &str, default: u16) -> Option<(String, u16)> {
    let (host, port) = match authority.rfind(':') {
        // A colon inside an IPv6 literal's brackets is not a port separator.
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default,
    };
    Some((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::{allow, any, is_same_origin, same_origin};
    use http::Request;

    fn request(host: Option<&str>, origins: &[&str]) -> Request<()> {
        let mut builder = Request::get("/ws");
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        for origin in origins {
            builder = builder.header("origin", *origin);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn same_origin_compares_host_and_port_with_default_ports_implied() {
        let table: &[(&str, &[&str], bool)] = &[
            ("example.com", &[], true),
            ("example.com", &["https://example.com"], true),
            ("Example.COM", &["https://example.com"], true),
            ("example.com:443", &["https://example.com"], true),
            ("example.com", &["http://example.com:80"], true),
            ("127.0.0.1:8080", &["http://127.0.0.1:8080"], true),
            ("[::1]:8080", &["http://[::1]:8080"], true),
            ("[::1]", &["http://[::1]"], true),
            ("127.0.0.1:8080", &["http://127.0.0.1:8081"], false),
            ("example.com", &["http://example.com:8080"], false),
            ("example.com:80", &["https://example.com"], false),
            ("example.com", &["https://evil.example"], false),
            ("example.com", &["https://example.com.evil.example"], false),
            ("example.com", &["null"], false),
            ("example.com", &["example.com"], false),
            ("example.com", &["https://user@example.com"], false),
            ("example.com", &["https://example.com/path"], false),
            (
                "example.com",
                &["https://example.com", "https://example.com"],
                false,
            ),
        ];
        let check = same_origin();
        for (host, origins, expected) in table {
            let request = request(Some(host), origins);
            assert_eq!(
                is_same_origin(&request),
                *expected,
                "Host {host}, Origin {origins:?}"
            );
            assert_eq!(check(&request), *expected);
        }
        // No Host (and no authority): only a request without Origin passes.
        assert!(!is_same_origin(&request(None, &["https://example.com"])));
        assert!(is_same_origin(&request(None, &[])));
        // HTTP/2: the authority of the request's URI.
        let h2 = Request::connect("https://example.com/ws")
            .header("origin", "https://example.com")
            .body(())
            .unwrap();
        assert!(is_same_origin(&h2));
    }

    #[test]
    fn the_allowed_list_adds_origins_to_the_same_origin() {
        let listed = allow(["https://App.example.com", "http://localhost:3000/"]);
        let host = Some("api.example.com");
        assert!(listed(&request(host, &["https://app.example.com"])));
        assert!(listed(&request(host, &["https://app.example.com:443"])));
        assert!(listed(&request(host, &["http://localhost:3000"])));
        assert!(listed(&request(host, &["https://api.example.com"])));
        assert!(!listed(&request(host, &["http://app.example.com"])));
        assert!(!listed(&request(host, &["http://localhost:3001"])));
        assert!(!listed(&request(host, &["null"])));
        assert!(listed(&request(host, &[])));
    }

    #[test]
    fn any_accepts_every_origin() {
        let any = any();
        assert!(any(&request(Some("a.example"), &["https://b.example"])));
        assert!(any(&request(Some("a.example"), &["null"])));
        assert!(any(&request(None, &[])));
    }
}
