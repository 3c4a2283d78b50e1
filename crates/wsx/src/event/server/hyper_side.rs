//! The hyper side of [`Server`]: upgrades of requests a hyper or axum server received
//! (HTTP/1.1 and RFC 8441 extended CONNECT), and HTTP/2 connections that ALPN chose on
//! [`Server::serve_tls`].
#![forbid(unsafe_code)]

use super::{Server, spawn_conn, start_conn};
use crate::event::limit::{forwarded_client, refusal_error};
use crate::sync::read;
use std::net::SocketAddr;

impl Server {
    /// Upgrades a request that arrived on a hyper (or axum) server into a connection of this
    /// server: the same `on_connection` and handlers, config, limits, compression and
    /// registry (`connections`, `broadcast`, `shutdown`) as connections it accepts itself.
    /// HTTP/1.1 upgrades and HTTP/2 extended CONNECT (RFC 8441) are both accepted (see
    /// [`crate::upgrade`]). Returns the response to give hyper: `101`/`200`, an error status
    /// for a bad request (as [`Self::listen`] answers it), or `503` while shutting down.
    /// `remote_addr` is what [`crate::Conn::remote_addr`] reports (hyper's request does not carry
    /// it; axum's `ConnectInfo` does).
    pub fn upgrade<B>(
        &self,
        mut req: http::Request<B>,
        remote_addr: Option<SocketAddr>,
    ) -> http::Response<crate::upgrade::Body> {
        if *self.inner.shutdown.borrow() {
            let mut response = http::Response::new(crate::upgrade::Body::from("shutting down\n"));
            *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            return response;
        }
        if let Err(err) = self.inner.config.validate() {
            tracing::error!("refusing a WebSocket upgrade: {err}");
            let mut response = http::Response::new(crate::upgrade::Body::default());
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            return response;
        }
        let slot = match (&self.inner.admission, remote_addr) {
            (Some(admission), Some(peer)) => {
                let client = if admission.trusts(peer.ip()) {
                    forwarded_client(req.headers(), admission.trusted()).unwrap_or(peer.ip())
                } else {
                    peer.ip()
                };
                match admission.admit_socket(client) {
                    Ok(slot) => Some(slot),
                    Err(refusal) => {
                        let error = refusal_error(refusal, admission.retry_after_secs());
                        let refused = crate::upgrade::Refused::new(error, req.version());
                        return refused_upgrade(refused, remote_addr);
                    }
                }
            }
            _ => None,
        };
        let options = read(&self.inner.options).clone();
        let ws_config = self.inner.config.websocket_config();
        match crate::upgrade::upgrade(&mut req, &options, ws_config) {
            Err(refused) => refused_upgrade(refused, remote_addr),
            Ok((response, pending)) => {
                let inner = self.inner.clone();
                tokio::spawn(async move {
                    let timeout = inner.config.handshake_timeout;
                    let upgraded = tokio::time::timeout(
                        timeout,
                        std::future::IntoFuture::into_future(pending),
                    )
                    .await;
                    match upgraded {
                        Ok(Ok((ws, request))) => {
                            let (conn, running, registered) =
                                start_conn(&inner, ws, request, remote_addr, None);
                            spawn_conn(&inner, conn, running, registered, slot);
                        }
                        Ok(Err(e)) => tracing::debug!(peer = ?remote_addr, "upgrade failed: {e}"),
                        Err(_) => tracing::debug!(peer = ?remote_addr, "upgrade timed out"),
                    }
                });
                response
            }
        }
    }
}

/// A refused upgrade through hyper: logged, counted, answered.
fn refused_upgrade(
    refused: crate::upgrade::Refused,
    peer: Option<SocketAddr>,
) -> http::Response<crate::upgrade::Body> {
    tracing::debug!(?peer, "handshake refused: {}", refused.error);
    crate::event::metrics::handshake(Some(refused.error.status().as_str()));
    refused.into_response()
}
