//! Cross-origin resource sharing for the polling requests, as the Node server does it with
//! its `cors` option (the npm `cors` middleware): the allowed origins (any, or a list), and
//! whether credentials (cookies) may be sent.
//!
//! WebSocket openings are not subject to CORS: a browser lets any page open a WebSocket to
//! any host, with that host's cookies (cross-site WebSocket hijacking, RFC 6455 §10.2). So
//! unless [`crate::Config::ws_handshake`] sets its own `check_origin`, the WebSocket transport
//! follows the same rule as the polling one ([`websocket_origins`]): without `cors`, only the
//! server's own origin (and clients that send no `Origin`: Node, Python, Rust, mobile apps);
//! with `cors`, the origins it allows. A refused handshake gets `403 Forbidden`.

use http::{HeaderMap, HeaderValue, Method, header};
use wsx::handshake::OriginCheck;

/// The origins whose pages may open a WebSocket, following the polling transport's `cors`:
/// none (same origin only, [`wsx::origin::same_origin`]), any, or the listed ones (and the
/// same origin). A request without `Origin` passes in every case: it is not from a page.
pub(crate) fn websocket_origins(cors: Option<&Cors>) -> OriginCheck {
    match cors.map(|cors| &cors.origin) {
        None => wsx::origin::same_origin(),
        Some(AllowOrigin::Any) => wsx::origin::any(),
        Some(AllowOrigin::List(list)) => wsx::origin::allow(list),
    }
}

/// Which origins may call the server from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowOrigin {
    /// Any origin (`Access-Control-Allow-Origin: *`, or the request's origin when
    /// credentials are allowed, since browsers refuse `*` with credentials).
    Any,
    /// These origins exactly (`https://example.com`), answered with the request's origin.
    List(Vec<String>),
}

/// The CORS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// The allowed origins.
    pub origin: AllowOrigin,
    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub credentials: bool,
}

impl Cors {
    /// Any origin, no credentials.
    #[must_use]
    pub fn any() -> Self {
        Self {
            origin: AllowOrigin::Any,
            credentials: false,
        }
    }

    /// These origins, no credentials.
    #[must_use]
    pub fn origins<I: IntoIterator<Item = S>, S: Into<String>>(origins: I) -> Self {
        Self {
            origin: AllowOrigin::List(origins.into_iter().map(Into::into).collect()),
            credentials: false,
        }
    }

    /// Allows credentials too.
    #[must_use]
    pub fn with_credentials(mut self) -> Self {
        self.credentials = true;
        self
    }

    /// Adds the CORS headers for a request with these headers to a response's headers. A
    /// request from an origin not allowed gets none, and the browser refuses the answer.
    pub fn apply(&self, request: &HeaderMap, preflight: bool, out: &mut HeaderMap) {
        let origin = request.get(header::ORIGIN);
        let allow = match (&self.origin, origin) {
            (AllowOrigin::Any, Some(origin)) if self.credentials => Some(origin.clone()),
            (AllowOrigin::Any, _) => Some(HeaderValue::from_static("*")),
            (AllowOrigin::List(list), Some(origin)) => list
                .iter()
                .any(|allowed| allowed.as_bytes() == origin.as_bytes())
                .then(|| origin.clone()),
            (AllowOrigin::List(_), None) => None,
        };
        if !matches!(self.origin, AllowOrigin::Any) || self.credentials {
            out.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        let Some(allow) = allow else { return };
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if preflight {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET,HEAD,POST,OPTIONS"),
            );
            // The headers the browser asks for are allowed (the `cors` middleware's default).
            if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
                out.append(
                    header::VARY,
                    HeaderValue::from_static("Access-Control-Request-Headers"),
                );
            }
        }
    }

    /// Whether a request is a preflight (`OPTIONS` asking for a method).
    #[must_use]
    pub fn is_preflight(method: &Method, request: &HeaderMap) -> bool {
        method == Method::OPTIONS && request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(origin) = origin {
            h.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).expect("value"),
            );
        }
        h
    }

    #[test]
    fn origins_and_credentials() {
        let mut out = HeaderMap::new();
        Cors::any().apply(&headers(Some("http://a.test")), false, &mut out);
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!out.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));

        let cors = Cors::origins(["http://a.test"]).with_credentials();
        let mut out = HeaderMap::new();
        cors.apply(&headers(Some("http://a.test")), true, &mut out);
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://a.test");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert!(out.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
        assert_eq!(out[header::VARY], "Origin");

        let mut out = HeaderMap::new();
        cors.apply(&headers(Some("http://evil.test")), false, &mut out);
        assert!(!out.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

        let mut out = HeaderMap::new();
        Cors::any()
            .with_credentials()
            .apply(&headers(Some("http://b.test")), false, &mut out);
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://b.test");
    }
}
