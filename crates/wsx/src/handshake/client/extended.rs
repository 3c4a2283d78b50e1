//! The client's side of RFC 8441: the opening handshake as an HTTP/2 extended CONNECT
//! request, sans-I/O. The HTTP/2 layer carries it (with the `:protocol` pseudo-header
//! `websocket`, which the caller sets the way its HTTP/2 library wants it); the answer is a
//! `200` instead of a `101`, with no `Sec-WebSocket-Accept`, and the subprotocol and the
//! extension are checked exactly as over HTTP/1.1.
#![forbid(unsafe_code)]

use super::{ClientHandshake, ClientOptions, Negotiated, Target};
use crate::error::HandshakeError;
use crate::handshake::header::format_extensions;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, Version};

impl ClientHandshake {
    /// The extended CONNECT request for `target` (RFC 8441 §4-5): method `CONNECT`, the
    /// target as an absolute URI (`https` for `wss://`, `http` for `ws://`), HTTP/2,
    /// `Sec-WebSocket-Version: 13`, the subprotocols and extensions of `opts`, and `headers`
    /// (those the handshake sets itself are skipped). The caller adds `:protocol websocket`.
    #[must_use]
    pub fn extended_connect(
        target: &Target,
        headers: &HeaderMap,
        opts: &ClientOptions,
    ) -> (Self, Request<()>) {
        // The offers are chosen exactly as for HTTP/1.1 (tokens, de-duplicated, valid
        // extension offers only); the HTTP/1.1 bytes are not used.
        let (handshake, _) = Self::new(target, headers, opts);
        let scheme = if target.secure { "https" } else { "http" };
        let uri = format!(
            "{scheme}://{}{}",
            target.host_header(),
            target.path_and_query
        );
        let mut request = Request::new(());
        *request.method_mut() = Method::CONNECT;
        *request.version_mut() = Version::HTTP_2;
        *request.uri_mut() = uri.parse().unwrap_or_default();
        let fields = request.headers_mut();
        fields.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        if !handshake.subprotocols.is_empty()
            && let Ok(value) = HeaderValue::try_from(handshake.subprotocols.join(", "))
        {
            fields.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        let offers: Vec<String> = handshake
            .factories
            .iter()
            .filter_map(|f| format_extensions(&f.offer()).ok())
            .collect();
        if !offers.is_empty()
            && let Ok(value) = HeaderValue::try_from(offers.join(", "))
        {
            fields.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
        }
        for (name, value) in headers {
            // Connection-specific fields are forbidden in HTTP/2 (RFC 9113 §8.2.2); Host is
            // the :authority.
            if super::OWN_HEADERS.contains(name)
                || name == header::TRANSFER_ENCODING
                || name == "keep-alive"
            {
                continue;
            }
            fields.append(name.clone(), value.clone());
        }
        (handshake, request)
    }

    /// Checks the answer to [`Self::extended_connect`]: a `2xx` (RFC 8441 §5), a
    /// subprotocol that was offered, an extension answer the factories accept.
    ///
    /// # Errors
    /// [`HandshakeError::UnexpectedStatus`], [`HandshakeError::UnofferedSubprotocol`],
    /// [`HandshakeError::UnofferedExtension`].
    pub fn validate_extended_connect(
        &self,
        response: &Response<()>,
    ) -> Result<Negotiated, HandshakeError> {
        if !response.status().is_success() {
            return Err(HandshakeError::UnexpectedStatus(response.status()));
        }
        let headers = response.headers();
        let subprotocol = self.check_subprotocol(headers)?;
        let extension = self.check_extensions(headers)?;
        Ok(Negotiated {
            response: response.clone(),
            subprotocol,
            extension,
        })
    }
}
