//! Forwarding a long-polling `GET` or `POST` to the owner of its session (see the module docs
//! of `forward`): the request goes out on a pooled connection, the owner's answer comes back.

use super::pool::{self, Sender};
use super::{FORWARDED_HEADER, Forwarding, Unresolved};
use crate::engine::handshake::RequestError;
use crate::server::config::Config;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use wsx::upgrade::Body;

type Response = http::Response<Body>;

/// Why an exchange with the owner failed.
enum Failure {
    /// No connection could be made: the owner is gone.
    Unreachable(String),
    /// The connection broke before the whole answer came.
    Broken(String),
}

impl Forwarding {
    /// Forwards a polling request for a session of `owner` and returns the owner's answer, or
    /// the error answer of the module docs.
    pub(crate) async fn forward<B>(
        &self,
        owner: &str,
        req: http::Request<B>,
        config: &Config,
    ) -> Response
    where
        B: hyper::body::Body + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
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
        let (parts, body) = req.into_parts();
        let body = if parts.method == Method::POST {
            // Read as the owner would read it: at most `maxPayload`, within `body_timeout`.
            let read = http_body_util::Limited::new(body, config.engine.max_payload).collect();
            match tokio::time::timeout(config.body_timeout, read).await {
                Ok(Ok(collected)) => collected.to_bytes(),
                Ok(Err(err)) => {
                    if err
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        return text(StatusCode::PAYLOAD_TOO_LARGE, String::new());
                    }
                    return refusal(RequestError::BadRequest);
                }
                Err(_) => return text(StatusCode::REQUEST_TIMEOUT, String::new()),
            }
        } else {
            Bytes::new()
        };
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.path_and_query().map_or_else(
            || "/".parse().unwrap_or_default(),
            |pq| pq.as_str().parse().unwrap_or_default(),
        );
        copy_end_to_end(&parts.headers, request.headers_mut());
        set_forwarding_headers(request.headers_mut(), &parts.uri, &address, self.node());
        let options = self.options();
        // The owner holds a `GET` until it has packets, at most until its next ping.
        let deadline = if parts.method == Method::GET {
            options.timeout + config.engine.ping_interval
        } else {
            options.timeout
        };
        match tokio::time::timeout(deadline, self.exchange(&address, request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(Failure::Unreachable(err))) => {
                // The owner is gone: its sessions are too. The client opens a new one.
                tracing::debug!(owner, address, %err, "forwarding: owner unreachable");
                refusal(RequestError::UnknownSid)
            }
            Ok(Err(Failure::Broken(err))) => {
                tracing::debug!(owner, address, %err, "forwarding: owner broke the connection");
                text(
                    StatusCode::BAD_GATEWAY,
                    format!("wsx-sio forwarding: node {owner} at {address} failed: {err}\n"),
                )
            }
            Err(_) => {
                tracing::warn!(owner, address, "forwarding: owner did not answer in time");
                text(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "wsx-sio forwarding: node {owner} at {address} did not answer within {} ms\n",
                        deadline.as_millis()
                    ),
                )
            }
        }
    }

    /// Sends `request` to `address` (on an idle connection, else a new one) and reads the
    /// whole answer.
    async fn exchange(
        &self,
        address: &str,
        mut request: http::Request<Full<Bytes>>,
    ) -> Result<Response, Failure> {
        if let Some(mut sender) = self.0.pool.take(address)
            && sender.ready().await.is_ok()
        {
            match sender.try_send_request(request).await {
                Ok(response) => return self.finish(address, sender, response).await,
                // The owner closed the idle connection just as it was taken: the request
                // was not sent, so it goes on a new connection.
                Err(mut err) => match err.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(Failure::Broken(err.into_error().to_string())),
                },
            }
        }
        let mut sender = pool::open(address, false)
            .await
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Failure::Broken(e.to_string()))?;
        self.finish(address, sender, response).await
    }

    /// Reads the owner's answer and gives the connection back to the pool.
    async fn finish(
        &self,
        address: &str,
        sender: Sender,
        response: http::Response<hyper::body::Incoming>,
    ) -> Result<Response, Failure> {
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| Failure::Broken(e.to_string()))?
            .to_bytes();
        self.0.pool.put(address, sender);
        let mut response = http::Response::new(Body::new(body));
        *response.status_mut() = parts.status;
        if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type.clone());
        }
        Ok(response)
    }
}

/// Copies the end-to-end headers of a request (RFC 9110 §7.6.1: the connection's own fields
/// stay on their hop; the length is the new body's). `Host` is kept: the owner checks a
/// page's `Origin` against it, and it names the balancer the client spoke to, not the owner.
pub(super) fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let listed: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in from {
        let hop = matches!(
            name.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "te"
                | "trailer"
                | "upgrade"
                | "content-length"
                | FORWARDED_HEADER
        ) || listed.iter().any(|l| l == name.as_str());
        if !hop {
            to.append(name.clone(), value.clone());
        }
    }
}

/// The forwarding mark, and `Host` when the request had none (HTTP/2 carries it in the URI's
/// authority; else the owner's address).
pub(super) fn set_forwarding_headers(
    headers: &mut HeaderMap,
    uri: &http::Uri,
    address: &str,
    node: &str,
) {
    if !headers.contains_key(header::HOST) {
        let host = uri
            .authority()
            .map_or(address, http::uri::Authority::as_str);
        if let Ok(host) = HeaderValue::from_str(host) {
            headers.insert(header::HOST, host);
        }
    }
    if let Ok(node) = HeaderValue::from_str(node) {
        headers.insert(FORWARDED_HEADER, node);
    }
}

/// A plain-text answer.
pub(super) fn text(status: StatusCode, body: String) -> Response {
    let mut response = http::Response::new(Body::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The Engine.IO refusal.
pub(super) fn refusal(err: RequestError) -> Response {
    let (status, content_type, body) = err.refusal();
    let mut response = http::Response::new(Body::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
