//! The client's side of the opening handshake (RFC 6455 §4.1): parse the URL, build the request,
//! and check the server's response.
//!
//! A driver calls [`Target::parse`], connects to `host:port` (with TLS when `secure`), sends the
//! bytes [`ClientHandshake::new`] returns, reads until [`ClientHandshake::parse_response`] gives a
//! head, and calls [`ClientHandshake::validate`]. Bytes after the head are already frames.
#![forbid(unsafe_code)]

use super::Negotiated;
use super::accept::{accept_key, generate_key};
use super::header::{
    extension_headers, format_extensions, head_len, head_window, header_map, header_slots,
    is_token, parse_error, require_token, single_value, write_field,
};
/// The URL's parts have their own module, [`super::target`]; re-exported where they were.
pub use super::target::Target;
use crate::proto::error::HandshakeError;
use crate::proto::{Extension, ExtensionFactory};
use http::header::{self, HeaderMap, HeaderName};
use http::{Response, StatusCode, Version};
use std::fmt;
use std::sync::Arc;

/// The same handshake as an HTTP/2 extended CONNECT (RFC 8441).
mod extended;

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

// The unit tests live with the other handshake tests, in handshake/tests/.
#[cfg(test)]
#[path = "tests/client.rs"]
mod tests;
