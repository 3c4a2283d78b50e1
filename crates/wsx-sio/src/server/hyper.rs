//! Mounting the server on a hyper (or axum) route: the Engine.IO request is checked (HTTP 400
//! with the protocol's JSON error body when it is not one), then upgraded with `wsx`'s hyper
//! integration, and the session runs on a task of its own. `wsx serve` mounts the Socket.IO
//! demo at `/socket.io/` this way.

use super::Server;
use crate::engine::handshake::{RequestError, check_request};
use bytes::Bytes;
use std::net::SocketAddr;

impl Server {
    /// Answers a request for this server's endpoint that arrived on a hyper server: `101`
    /// and a session on a task of its own, `400` with `{"code":N,"message":"..."}` for a bad
    /// Engine.IO request, `404` for another path, or the WebSocket handshake's own refusal.
    pub fn upgrade_hyper<B>(
        &self,
        mut req: http::Request<B>,
        remote: Option<SocketAddr>,
    ) -> http::Response<wsx::upgrade::Body> {
        let head = wsx::upgrade::request_head(&req);
        let config = &self.0.config;
        if let Err(err) = check_request(&head, &config.path) {
            tracing::debug!(%err, uri = %head.uri(), "Engine.IO request refused");
            return refusal(err);
        }
        match wsx::upgrade::upgrade(&mut req, &config.ws_handshake, config.websocket()) {
            Err(refused) => refused.into_response(),
            Ok((response, pending)) => {
                let server = self.clone();
                tokio::spawn(async move {
                    if let Ok((ws, request)) = pending.await {
                        // The session runs on its own task; this one is done.
                        drop(server.serve_websocket(ws, request, remote));
                    }
                });
                response
            }
        }
    }
}

/// The Engine.IO refusal as an `http::Response`.
fn refusal(err: RequestError) -> http::Response<wsx::upgrade::Body> {
    let (status, content_type, body) = err.refusal();
    let mut response = http::Response::new(wsx::upgrade::Body::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}
