//! hyper 1 integration (feature `hyper`): upgrade a request that arrived on a hyper (or axum)
//! server into a wsx [`WebSocket`], or into a connection of a [`crate::Server`] with its
//! handlers, config and limits, so a service that already runs hyper needs no second
//! listener.
//!
//! Both ways of opening a WebSocket over HTTP are accepted on the same route:
//! - HTTP/1.1 `GET` with `Upgrade: websocket` (RFC 6455 §4): answered `101`;
//! - HTTP/2 extended `CONNECT` with `:protocol websocket` (RFC 8441), when the hyper server
//!   enables it (`http2().enable_connect_protocol()`): answered `200`, and the WebSocket runs
//!   on that stream, with its own flow control, beside the connection's other streams.
//!
//! The request is validated by the same handshake code as [`crate::accept`] (the same
//! statuses for the same faults: 400, 403, 405, 426), and the answer is built by it.
//!
//! ```no_run
//! use http_body_util::Full;
//! use bytes::Bytes;
//!
//! async fn route(mut req: http::Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
//!     let options = wsx::handshake::ServerOptions::default();
//!     match wsx::upgrade::upgrade(&mut req, &options, wsx::WebSocketConfig::default()) {
//!         Ok((response, pending)) => {
//!             tokio::spawn(async move {
//!                 let Ok((mut ws, _request)) = pending.await else { return };
//!                 while let Some(Ok(msg)) = ws.next().await {
//!                     if msg.is_data() && ws.send(msg).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             });
//!             response
//!         }
//!         Err(refused) => refused.into_response(),
//!     }
//! }
//! ```
#![forbid(unsafe_code)]

use crate::error::{Error, HandshakeError};
use crate::handshake::server::{self, ServerOptions};
use crate::handshake::{Accepted, extended_connect};
use crate::proto::{Extension, Role};
use crate::stream::{WebSocket, WebSocketConfig};
use bytes::Bytes;
use http_body_util::Full;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// The body of the responses this module builds.
pub type Body = Full<Bytes>;

/// The transport of an upgraded connection: hyper's upgraded I/O, as a tokio stream.
pub type Io = TokioIo<Upgraded>;

/// A WebSocket over an upgraded hyper connection.
pub type HyperWebSocket = WebSocket<Io>;

/// Whether `req` asks to open a WebSocket (HTTP/1.1 `Upgrade: websocket`, or HTTP/2 extended
/// CONNECT): a router can send it to [`upgrade`] and serve everything else itself.
#[must_use]
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    if req.method() == http::Method::CONNECT {
        return protocol(req).is_some();
    }
    req.headers()
        .get_all(http::header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("websocket"))
}

/// A request refused: why, and the response to send.
#[derive(Debug)]
pub struct Refused {
    /// Why the handshake was refused.
    pub error: HandshakeError,
    version: http::Version,
}

impl Refused {
    /// A refusal of a request of HTTP `version` (the answer's headers depend on it).
    pub(crate) fn new(error: HandshakeError, version: http::Version) -> Self {
        Self { error, version }
    }

    /// The error response: the status of [`HandshakeError::status`] with a short plain-text
    /// reason (and `Sec-WebSocket-Version: 13` for 426, `Allow` for 405).
    #[must_use]
    pub fn into_response(self) -> http::Response<Body> {
        let (mut parts, body) = server::refusal(&self.error).into_parts();
        if self.version >= http::Version::HTTP_2 {
            // Connection-specific fields are forbidden in HTTP/2 (RFC 9113 §8.2.2), and there a
            // WebSocket is opened with CONNECT (RFC 8441 §4), not GET.
            parts.headers.remove(http::header::CONNECTION);
            if matches!(self.error, HandshakeError::MethodNotGet(_)) {
                parts.headers.insert(
                    http::header::ALLOW,
                    http::HeaderValue::from_static("CONNECT"),
                );
            }
        }
        http::Response::from_parts(parts, Full::new(Bytes::from(body)))
    }
}

/// An accepted upgrade whose connection hyper has not handed over yet: await it (after the
/// response was returned to hyper) for the [`WebSocket`] and the request's head.
pub struct Pending {
    on_upgrade: OnUpgrade,
    request: http::Request<()>,
    extension: Option<Box<dyn Extension>>,
    subprotocol: Option<String>,
    config: WebSocketConfig,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("uri", self.request.uri())
            .field("subprotocol", &self.subprotocol)
            .finish_non_exhaustive()
    }
}

impl IntoFuture for Pending {
    type Output = Result<(HyperWebSocket, http::Request<()>), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let upgraded = self.on_upgrade.await.map_err(|e| {
                Error::Io(std::io::Error::other(format!(
                    "the HTTP upgrade failed: {e}"
                )))
            })?;
            let ws = WebSocket::from_raw(
                TokioIo::new(upgraded),
                Role::Server,
                self.config,
                &[],
                self.extension,
                self.subprotocol,
            );
            Ok((ws, self.request))
        })
    }
}

/// The `:protocol` of an HTTP/2 extended CONNECT, as hyper hands it over.
fn protocol<B>(req: &http::Request<B>) -> Option<&str> {
    req.extensions()
        .get::<hyper::ext::Protocol>()
        .map(hyper::ext::Protocol::as_str)
}

/// Validates `req` as a WebSocket opening (HTTP/1.1 upgrade or HTTP/2 extended CONNECT),
/// negotiates subprotocol and extension with `options`, and returns the response to give
/// hyper (`101` or `200`) and the [`Pending`] connection to await once hyper has sent it.
///
/// # Errors
/// [`Refused`] for a request that is not an acceptable opening handshake; send its
/// [`Refused::into_response`].
pub fn upgrade<B>(
    req: &mut http::Request<B>,
    options: &ServerOptions,
    config: WebSocketConfig,
) -> Result<(http::Response<Body>, Pending), Refused> {
    let head = request_head(req);
    let accepted: Result<Accepted, HandshakeError> = if req.version() >= http::Version::HTTP_2 {
        extended_connect::accept(&head, protocol(req), options)
    } else {
        server::accept(&head, options)
    };
    let accepted = accepted.map_err(|error| Refused {
        error,
        version: req.version(),
    })?;
    let on_upgrade = hyper::upgrade::on(req);
    let (parts, ()) = accepted.response.into_parts();
    let response = http::Response::from_parts(parts, Body::default());
    Ok((
        response,
        Pending {
            on_upgrade,
            request: head,
            extension: accepted.extension,
            subprotocol: accepted.subprotocol,
            config,
        },
    ))
}

/// The request's head (method, URI, version, headers), without its body: what the sans-I/O
/// handshake code and the application look at.
#[must_use]
pub fn request_head<B>(req: &http::Request<B>) -> http::Request<()> {
    let mut head = http::Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    head
}
