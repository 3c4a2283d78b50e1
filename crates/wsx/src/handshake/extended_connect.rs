//! The server's side of RFC 8441: a WebSocket opened as an HTTP/2 stream by an extended
//! CONNECT request, sans-I/O. The HTTP/2 layer (hyper's `h2`) carries the request; this module
//! validates it and builds the `200` answer.
//!
//! What differs from RFC 6455 §4 (RFC 8441 §4-5): the method is `CONNECT` with the
//! `:protocol` pseudo-header `websocket`; there is no `Upgrade`, `Connection`,
//! `Sec-WebSocket-Key` or `Sec-WebSocket-Accept` (the stream itself is the tunnel); success is
//! `200`, not `101`. `Sec-WebSocket-Version`, `Origin`, `Sec-WebSocket-Protocol` and
//! `Sec-WebSocket-Extensions` keep their RFC 6455 meaning, and are checked and negotiated by
//! the same code as over HTTP/1.1.
#![forbid(unsafe_code)]

use super::server::{Accepted, ServerOptions, choose_subprotocol, negotiate_extension};
use crate::error::HandshakeError;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

/// Validates an extended CONNECT request whose `:protocol` pseudo-header is `protocol` (hyper
/// hands it over as the request extension `hyper::ext::Protocol`), and negotiates the
/// subprotocol and the extension as over HTTP/1.1. Returns the `200` response and what was
/// agreed.
///
/// # Errors
/// [`HandshakeError::MethodNotGet`] (405) for a method other than `CONNECT`,
/// [`HandshakeError::NotWebSocketProtocol`] (400), [`HandshakeError::UnsupportedVersion`]
/// (426), [`HandshakeError::OriginRefused`] (403).
pub fn accept(
    request: &Request<()>,
    protocol: Option<&str>,
    opts: &ServerOptions,
) -> Result<Accepted, HandshakeError> {
    // RFC 8441 §4: "a CONNECT request with a :protocol pseudo-header".
    if request.method() != Method::CONNECT {
        return Err(HandshakeError::MethodNotGet(request.method().to_string()));
    }
    // §4: the :protocol value for WebSockets is "websocket" (the Upgrade token's registry).
    if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
        return Err(HandshakeError::NotWebSocketProtocol(
            protocol.map(str::to_owned),
        ));
    }
    let headers = request.headers();
    // §5: Sec-WebSocket-Version as in RFC 6455 §4.1 item 9 (§4.4: 426 otherwise).
    let versions: Vec<_> = headers
        .get_all(header::SEC_WEBSOCKET_VERSION)
        .iter()
        .collect();
    if versions.len() != 1 || versions[0].as_bytes() != b"13" {
        return Err(HandshakeError::UnsupportedVersion);
    }
    if let Some(check) = &opts.check_origin
        && !check(request)
    {
        return Err(HandshakeError::OriginRefused);
    }
    // §5: a 2xx answer opens the tunnel; no Sec-WebSocket-Accept.
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::OK;
    let subprotocol = choose_subprotocol(headers, &opts.subprotocols);
    if let Some(value) = subprotocol
        .as_deref()
        .and_then(|p| HeaderValue::from_str(p).ok())
    {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    let extension = negotiate_extension(headers, &opts.extensions).map(|(value, extension)| {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
        extension
    });
    Ok(Accepted {
        response,
        subprotocol,
        extension,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::testing::TestFactory;
    use std::sync::Arc;

    fn connect(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder()
            .method(Method::CONNECT)
            .uri("https://example.com/chat")
            .version(http::Version::HTTP_2);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap_or_default()
    }

    /// A request, its `:protocol`, and the status or error expected.
    type Case = (
        Request<()>,
        Option<&'static str>,
        Result<StatusCode, HandshakeError>,
    );

    #[test]
    fn table() {
        type E = HandshakeError;
        let v13 = [("sec-websocket-version", "13")];
        let cases: Vec<Case> = vec![
            (connect(&v13), Some("websocket"), Ok(StatusCode::OK)),
            (connect(&v13), Some("WebSocket"), Ok(StatusCode::OK)),
            (connect(&v13), None, Err(E::NotWebSocketProtocol(None))),
            (
                connect(&v13),
                Some("webtransport"),
                Err(E::NotWebSocketProtocol(Some("webtransport".into()))),
            ),
            (connect(&[]), Some("websocket"), Err(E::UnsupportedVersion)),
            (
                connect(&[("sec-websocket-version", "8")]),
                Some("websocket"),
                Err(E::UnsupportedVersion),
            ),
            (
                Request::builder().uri("/chat").body(()).unwrap_or_default(),
                Some("websocket"),
                Err(E::MethodNotGet("GET".into())),
            ),
        ];
        for (request, protocol, expected) in cases {
            let got =
                accept(&request, protocol, &ServerOptions::default()).map(|a| a.response.status());
            assert_eq!(got, expected, "{request:?} {protocol:?}");
        }
    }

    #[test]
    fn negotiates_subprotocol_and_extension_and_sends_no_accept_key() {
        let opts = ServerOptions {
            subprotocols: vec!["chat".into()],
            extensions: vec![Arc::new(TestFactory)],
            check_origin: Some(Arc::new(|r: &Request<()>| {
                r.headers().get("origin").is_some_and(|o| o == "https://ok")
            })),
            ..ServerOptions::default()
        };
        let request = connect(&[
            ("sec-websocket-version", "13"),
            ("sec-websocket-protocol", "other, chat"),
            ("sec-websocket-extensions", "x-test"),
            ("origin", "https://ok"),
        ]);
        let accepted = accept(&request, Some("websocket"), &opts).unwrap_or_else(|e| panic!("{e}"));
        let headers = accepted.response.headers();
        assert_eq!(accepted.subprotocol.as_deref(), Some("chat"));
        assert_eq!(
            headers
                .get("sec-websocket-protocol")
                .map(http::HeaderValue::as_bytes),
            Some(&b"chat"[..])
        );
        assert!(accepted.extension.is_some());
        assert!(headers.get("sec-websocket-accept").is_none());
        assert!(headers.get("upgrade").is_none());
        let refused = connect(&[("sec-websocket-version", "13"), ("origin", "https://evil")]);
        assert!(matches!(
            accept(&refused, Some("websocket"), &opts),
            Err(HandshakeError::OriginRefused)
        ));
    }
}
