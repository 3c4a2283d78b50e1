//! Tunnelling the WebSocket upgrade of a session to its owner (see the module docs of
//! `forward`): the upgrade request goes to the owner on a connection of its own; once the
//! owner answers `101`, the client gets the same answer and the bytes are copied both ways.
//! The owner does the probe, the upgrade and the heartbeat; this node only copies.

use super::proxy::{copy_end_to_end, refusal, set_forwarding_headers, text};
use super::{Forwarding, Unresolved, pool};
use crate::engine::handshake::RequestError;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use wsx::upgrade::Body;

type Response = http::Response<Body>;

/// Once one direction of a tunnel ended, how long the other may still take (a client that
/// vanished without closing would otherwise hold the tunnel forever).
const GRACE: Duration = Duration::from_secs(5);

impl Forwarding {
    /// Tunnels a WebSocket upgrade for a session of `owner`: the owner's `101` (or `200` for
    /// an HTTP/2 extended CONNECT) with the copy running on a task of its own, or the owner's
    /// refusal, or the error answer of the module docs.
    pub(crate) async fn tunnel<B>(&self, owner: &str, mut req: http::Request<B>) -> Response {
        let address = match self.resolve(owner).await {
            Ok(Some(address)) => address,
            Ok(None) => return refusal(RequestError::UnknownSid),
            Err(Unresolved(why)) => {
                tracing::warn!(owner, %why, "forwarding: owner lookup failed");
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("wsx-sio forwarding: cannot look up node {owner}: {why}\n"),
                );
            }
        };
        let h2 = req.version() >= http::Version::HTTP_2;
        let mut request = http::Request::new(Full::new(Bytes::new()));
        *request.method_mut() = Method::GET;
        *request.uri_mut() = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .parse()
            .unwrap_or_default();
        let headers = request.headers_mut();
        copy_end_to_end(req.headers(), headers);
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if h2 {
            // RFC 8441 §5: an extended CONNECT has no key; the HTTP/1.1 upgrade needs one.
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            if let Ok(key) = HeaderValue::from_str(&random_key()) {
                headers.insert(header::SEC_WEBSOCKET_KEY, key);
            }
        }
        set_forwarding_headers(headers, req.uri(), &address, self.node());
        let client_side = hyper::upgrade::on(&mut req);
        let timeout = self.options().timeout;
        let exchange = async {
            let mut sender = pool::open(&address, true)
                .await
                .map_err(|e| (true, e.to_string()))?;
            sender
                .send_request(request)
                .await
                .map_err(|e| (false, e.to_string()))
        };
        let mut response = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(response)) => response,
            Ok(Err((true, err))) => {
                tracing::debug!(owner, address, %err, "forwarding: owner unreachable");
                return refusal(RequestError::UnknownSid);
            }
            Ok(Err((false, err))) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!("wsx-sio forwarding: node {owner} at {address} failed: {err}\n"),
                );
            }
            Err(_) => {
                tracing::warn!(
                    owner,
                    address,
                    "forwarding: owner did not answer the upgrade"
                );
                return text(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "wsx-sio forwarding: node {owner} at {address} did not answer within {} ms\n",
                        timeout.as_millis()
                    ),
                );
            }
        };
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // The owner refused (the session ended, a second upgrade...): its answer, as it is.
            let status = response.status();
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let body = tokio::time::timeout(timeout, response.into_body().collect()).await;
            let body = match body {
                Ok(Ok(collected)) => collected.to_bytes(),
                _ => Bytes::new(),
            };
            let mut answer = http::Response::new(Body::new(body));
            *answer.status_mut() = status;
            if let Some(content_type) = content_type {
                answer
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            return answer;
        }
        let owner_side = hyper::upgrade::on(&mut response);
        let mut answer = http::Response::new(Body::default());
        if h2 {
            // RFC 8441 §5: `200`, and only the negotiated extension and subprotocol.
            for name in [
                header::SEC_WEBSOCKET_EXTENSIONS,
                header::SEC_WEBSOCKET_PROTOCOL,
            ] {
                if let Some(value) = response.headers().get(&name) {
                    answer.headers_mut().insert(name, value.clone());
                }
            }
        } else {
            *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            *answer.headers_mut() = response.headers().clone();
        }
        tokio::spawn(async move {
            let (client, owner) = match tokio::join!(client_side, owner_side) {
                (Ok(client), Ok(owner)) => (client, owner),
                _ => return,
            };
            relay(TokioIo::new(client), TokioIo::new(owner)).await;
        });
        answer
    }
}

/// Copies bytes both ways; when one way ends (its reader closed), the other gets [`GRACE`].
async fn relay<C, O>(client: C, owner: O)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    O: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut owner_read, mut owner_write) = tokio::io::split(owner);
    let up = async {
        let _ = tokio::io::copy(&mut client_read, &mut owner_write).await;
        let _ = owner_write.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut owner_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::pin!(up, down);
    tokio::select! {
        () = &mut up => { let _ = tokio::time::timeout(GRACE, down).await; }
        () = &mut down => { let _ = tokio::time::timeout(GRACE, up).await; }
    }
}

/// A `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 §4.1).
fn random_key() -> String {
    let mut raw = [0u8; 16];
    if getrandom::fill(&mut raw).is_err() {
        // The key is a nonce against caches, not a secret.
        raw.copy_from_slice(&crate::sid::Sid::random().as_str().as_bytes()[..16]);
    }
    base64::engine::general_purpose::STANDARD.encode(raw)
}
