//! The server's HTTP endpoint on hyper 1: Engine.IO long-polling (`GET` polls, `POST`s
//! packets), WebSocket openings (new sessions, and upgrades of polling sessions), CORS, and
//! the refusals with the protocol's JSON error body. Mount it on a hyper (or axum) route with
//! [`Server::handle_hyper`]; the plain listener ([`Server::serve`]) sends every request that
//! is not a plain WebSocket opening here too. `wsx serve` mounts the Socket.IO demo at
//! `/socket.io/` this way.

use super::Server;
use super::cors::Cors;
use crate::engine::handshake::{EngineRequest, RequestError, TransportKind, parse_request};
use crate::engine::transport::polling::{PollLimits, PollShared, Refusal};
use crate::engine::transport::websocket::WsTransport;
use crate::engine::transport::{CloseCause, Transport as _};
use crate::namespace::StoredHandshake;
use crate::sid::Sid;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use std::net::SocketAddr;
use std::sync::Arc;
use wsx::upgrade::Body;

type Response = http::Response<Body>;

impl Server {
    /// Answers a request for this server's endpoint that arrived on a hyper server: polling
    /// (`GET`/`POST`), a WebSocket opening (`101` or HTTP/2 `200`, the session on a task of its
    /// own), a CORS preflight, `400` with `{"code":N,"message":"..."}` for a bad Engine.IO
    /// request, `404` for another path. Waits as long as a long poll waits (at most about
    /// `pingInterval`, when the next ping goes out).
    pub async fn handle_hyper<B>(
        &self,
        req: http::Request<B>,
        remote: Option<SocketAddr>,
    ) -> Response
    where
        B: hyper::body::Body + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // What CORS reads of the request, kept while it is answered (a `GET` waits for
        // packets: an idle polling client holds this), not a copy of every header.
        let cors = self.0.config.cors.as_ref().map(|cors| {
            let mut kept = http::HeaderMap::new();
            for name in [
                http::header::ORIGIN,
                http::header::ACCESS_CONTROL_REQUEST_HEADERS,
            ] {
                if let Some(value) = req.headers().get(&name) {
                    kept.insert(name, value.clone());
                }
            }
            let preflight = Cors::is_preflight(req.method(), req.headers());
            (cors, kept, preflight)
        });
        let mut response = self.answer(req, remote).await;
        if let Some((cors, kept, preflight)) = cors {
            cors.apply(&kept, preflight, response.headers_mut());
        }
        response
    }

    /// Answers a WebSocket opening (a new session, or the upgrade of a polling session)
    /// that arrived on a hyper server, synchronously: for routers whose handlers cannot
    /// await. Polling requests get "Transport unknown"; use [`Self::handle_hyper`] for them.
    pub fn upgrade_hyper<B>(
        &self,
        mut req: http::Request<B>,
        remote: Option<SocketAddr>,
    ) -> Response {
        let head = wsx::upgrade::request_head(&req);
        match parse_request(&head, &self.0.config.path) {
            Ok(EngineRequest {
                transport: TransportKind::WebSocket,
                sid,
            }) => self.open_websocket(&mut req, sid, remote),
            Ok(_) => refusal(RequestError::UnknownTransport),
            Err(err) => {
                tracing::debug!(%err, uri = %head.uri(), "Engine.IO request refused");
                refusal(err)
            }
        }
    }

    async fn answer<B>(&self, mut req: http::Request<B>, remote: Option<SocketAddr>) -> Response
    where
        B: hyper::body::Body + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.0.config;
        let head = wsx::upgrade::request_head(&req);
        if config.cors.is_some() && req.method() == Method::OPTIONS {
            // A preflight (or any OPTIONS) of the endpoint: CORS headers, no body.
            return match parse_request(&head, &config.path) {
                Err(RequestError::NotFound) => refusal(RequestError::NotFound),
                _ => status(StatusCode::NO_CONTENT),
            };
        }
        let request = match parse_request(&head, &config.path) {
            Ok(request) => request,
            Err(err) => {
                tracing::debug!(%err, uri = %head.uri(), "Engine.IO request refused");
                return refusal(err);
            }
        };
        match request {
            EngineRequest {
                transport: TransportKind::WebSocket,
                sid: Some(sid),
            } if self.0.polling.get(&sid).is_none() => {
                // Another node's session (forwarding on): its upgrade is tunnelled there.
                if let Some((forwarding, owner)) = self.owner_elsewhere(&sid, req.headers()) {
                    // Boxed, as the forward below: a large future that every request's
                    // (a waiting `GET`'s too) would be as large as otherwise.
                    return Box::pin(forwarding.tunnel(&owner, req)).await;
                }
                refusal(RequestError::UnknownSid)
            }
            EngineRequest {
                transport: TransportKind::WebSocket,
                sid,
            } => self.open_websocket(&mut req, sid, remote),
            EngineRequest {
                transport: TransportKind::Polling,
                ..
            } if !config.polling => refusal(RequestError::UnknownTransport),
            EngineRequest {
                transport: TransportKind::Polling,
                sid: None,
            } => self.open_polling(head, remote).await,
            EngineRequest {
                transport: TransportKind::Polling,
                sid: Some(sid),
            } => {
                let Some(session) = self.0.polling.get(&sid) else {
                    // Another node's session (forwarding on): served there.
                    if let Some((forwarding, owner)) = self.owner_elsewhere(&sid, req.headers()) {
                        return Box::pin(forwarding.forward(&owner, req, config)).await;
                    }
                    return refusal(RequestError::UnknownSid);
                };
                match *req.method() {
                    Method::GET => {
                        // A `GET` may wait long (an idle client's): its request's headers,
                        // twice (`req`, `head`), are not kept meanwhile.
                        drop((head, req));
                        poll(&session).await
                    }
                    Method::POST => self.post(&session, req.into_body()).await,
                    // The Node server answers other methods on a session with 500; a client
                    // error is what it is.
                    _ => refusal(RequestError::BadRequest),
                }
            }
        }
    }

    /// With forwarding on, the node that owns `sid` when it is not this one (and the request
    /// was not forwarded already).
    fn owner_elsewhere(
        &self,
        sid: &Sid,
        headers: &http::HeaderMap,
    ) -> Option<(&super::Forwarding, String)> {
        let forwarding = self.0.config.forwarding.as_ref()?;
        let owner = forwarding.owner_elsewhere(sid, headers)?;
        Some((forwarding, owner))
    }

    /// A WebSocket opening: a new session, or with `sid` the upgrade of a polling session.
    fn open_websocket<B>(
        &self,
        req: &mut http::Request<B>,
        sid: Option<Sid>,
        remote: Option<SocketAddr>,
    ) -> Response {
        let config = &self.0.config;
        // What the WebSocket is for: a new session, the upgrade of `session`, or nothing (a
        // second upgrade of one session: accepted, then closed, as the Node server does).
        let mut session = None;
        let mut refused_upgrade = false;
        if let Some(sid) = sid {
            let Some(polling) = self.0.polling.get(&sid) else {
                return refusal(RequestError::UnknownSid);
            };
            match polling.begin_upgrade() {
                Ok(()) => session = Some(polling),
                Err(Refusal::UnknownSid) => return refusal(RequestError::UnknownSid),
                Err(Refusal::BadRequest) => refused_upgrade = true,
            }
        }
        match wsx::upgrade::upgrade(req, &config.ws_handshake, config.websocket()) {
            Err(refused) => {
                if let Some(session) = session {
                    session.abort_upgrade();
                }
                refused.into_response()
            }
            Ok((response, pending)) => {
                let server = self.clone();
                let timeout = config.upgrade_timeout;
                tokio::spawn(async move {
                    let Ok((ws, request)) = pending.await else {
                        if let Some(session) = session {
                            session.abort_upgrade();
                        }
                        return;
                    };
                    let mut ws = WsTransport::new(ws);
                    if refused_upgrade {
                        tracing::debug!("a second upgrade of one session; closed");
                        ws.close(CloseCause::PeerError("session already upgraded"))
                            .await;
                    } else if let Some(session) = session {
                        crate::engine::upgrade::probe(&session, ws, timeout).await;
                    } else {
                        // The session runs on its own task; this one is done.
                        drop(server.serve_transport(ws, request, remote));
                    }
                });
                response
            }
        }
    }

    /// The first `GET` of a polling session: opens it, answers with the open packet.
    async fn open_polling(&self, head: http::Request<()>, remote: Option<SocketAddr>) -> Response {
        let config = &self.0.config;
        let sid = self.0.new_sid();
        let engine = &config.engine;
        let limits = PollLimits {
            queue_limit: config.max_pending_bytes,
            stall_timeout: engine.ping_interval + engine.ping_timeout,
            max_poll_packets: config.max_poll_packets,
        };
        let (session, transport) = self.0.polling.open(sid, limits);
        let handshake = StoredHandshake::from_request(head, remote);
        drop(self.0.spawn_session(sid, transport, handshake));
        poll(&session).await
    }

    /// A `POST`: the body (at most `maxPayload` bytes, else 413) goes to the session.
    async fn post<B>(&self, session: &PollShared, body: B) -> Response
    where
        B: hyper::body::Body + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.0.config;
        let _slot = match session.begin_post() {
            Ok(slot) => slot,
            Err(refused) => return refusal(refused.into()),
        };
        let limit = config.engine.max_payload;
        if body.size_hint().lower() > limit as u64 {
            session.too_large();
            return status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let read = http_body_util::Limited::new(body, limit).collect();
        let bytes = match tokio::time::timeout(config.body_timeout, read).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(err)) => {
                if err
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    session.too_large();
                    return status(StatusCode::PAYLOAD_TOO_LARGE);
                }
                tracing::debug!(%err, "polling POST body failed");
                return refusal(RequestError::BadRequest);
            }
            Err(_) => {
                tracing::debug!("polling POST body too slow");
                return status(StatusCode::REQUEST_TIMEOUT);
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            // A payload is text (binary packets are base64): this is a malformed one.
            session.malformed();
            return refusal(RequestError::BadRequest);
        };
        match session.push(text).await {
            Ok(()) => {
                let mut response = http::Response::new(Body::new(Bytes::from_static(b"ok")));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                response
            }
            Err(refused) => refusal(refused.into()),
        }
    }
}

/// A `GET`: the queued packets as one payload.
async fn poll(session: &Arc<PollShared>) -> Response {
    match session.poll().await {
        Ok(payload) => {
            let mut response = http::Response::new(Body::new(Bytes::from(payload)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=UTF-8"),
            );
            response
        }
        Err(refused) => refusal(refused.into()),
    }
}

impl From<Refusal> for RequestError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::UnknownSid => Self::UnknownSid,
            Refusal::BadRequest => Self::BadRequest,
        }
    }
}

fn status(status: StatusCode) -> Response {
    let mut response = http::Response::new(Body::default());
    *response.status_mut() = status;
    response
}

/// The Engine.IO refusal as an `http::Response`.
fn refusal(err: RequestError) -> Response {
    let (status, content_type, body) = err.refusal();
    let mut response = http::Response::new(Body::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
