//! The accept path of [`Server::serve`]: admission before any byte is read, TLS (and ALPN
//! `h2` to HTTP/2), the opening handshake under `handshake_timeout`, refusals answered with
//! their status.
#![forbid(unsafe_code)]

use super::{Handshaken, Inner, Registered, Server, spawn_conn, start_handshaken};
use crate::error::Error;
use crate::event::conn::run::Running;
use crate::event::conn::{Conn, RawSocket, socket_of};
use crate::event::limit::{Admission, Refusal, Slot, forwarded_client, refusal_error};
use crate::handshake_io::server::accept_with;
use crate::stream::WebSocket;
use crate::sync::{lock as locked, read};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

impl Server {
    pub(super) async fn serve_listener(
        &self,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Result<(), Error> {
        self.inner.config.validate()?;
        *locked(&self.inner.local_addr) = listener.local_addr().ok();
        let mut stop = self.inner.shutdown.subscribe();
        while !*stop.borrow_and_update() {
            tokio::select! {
                _ = stop.changed() => break,
                incoming = listener.accept() => match incoming {
                    Ok((tcp, peer)) => {
                        // Admission first: a refused connection costs no handshake buffer.
                        let slot = match &self.inner.admission {
                            None => None,
                            Some(admission) => match admission.admit_socket(peer.ip()) {
                                Ok(slot) => Some(slot),
                                Err(refusal) => {
                                    refuse(&self.inner, tcp, refusal, admission.retry_after_secs());
                                    continue;
                                }
                            },
                        };
                        let inner = self.inner.clone();
                        let tls = tls.clone();
                        tokio::spawn(handle(inner, tcp, peer, tls, slot));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        Ok(())
    }
}

/// One accepted TCP connection: TLS (if any) and the WebSocket handshake under
/// `handshake_timeout`, then the connection is started on a task of its own.
async fn handle(
    inner: Arc<Inner>,
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    slot: Option<Slot>,
) {
    let _ = tcp.set_nodelay(true);
    let timeout = inner.config.handshake_timeout;
    let mut options = read(&inner.options).clone();
    // Behind a trusted proxy the client's address is in the request: its per-IP limits are
    // checked once the head is read. The slot is held for the connection's life either way.
    let slot = Arc::new(Mutex::new(slot));
    if let Some(admission) = &inner.admission
        && admission.trusts(peer.ip())
    {
        options.admit = Some(admit_forwarded(admission.clone(), slot.clone()));
    }
    let ws_config = inner.config.websocket_config();
    // This task ends with the handshakes: the connection runs on a task of its own
    // (`spawn_conn`), which holds the slot. A TLS connection's handshakes are a boxed future of
    // their own, so a plain connection's handshake task does not carry the size of a TLS one.
    match tls {
        None => {
            let socket = socket_of(&tcp);
            let handshake = tokio::time::timeout(timeout, accept_with(tcp, &options, ws_config));
            if let Some((conn, running, registered)) =
                started(&inner, peer, socket, handshake.await)
            {
                spawn_conn(&inner, conn, running, registered, slot);
            }
        }
        Some(acceptor) => {
            Box::pin(handle_tls(
                inner, tcp, peer, acceptor, options, ws_config, slot,
            ))
            .await;
        }
    }
}

/// The rest of [`handle`] for a TLS connection: the TLS handshake, then HTTP/2 (ALPN `h2`,
/// RFC 8441) or the WebSocket handshake, under `handshake_timeout`; then the connection is
/// started on its own task, holding `slot`.
async fn handle_tls(
    inner: Arc<Inner>,
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    options: crate::handshake::ServerOptions,
    ws_config: crate::stream::WebSocketConfig,
    slot: Arc<Mutex<Option<Slot>>>,
) {
    let timeout = inner.config.handshake_timeout;
    #[cfg(feature = "hyper")]
    let server = Server {
        inner: inner.clone(),
    };
    // An HTTP/2 connection is served inside the boxed handshake future (`None` once it ended),
    // so that its state is not part of every TLS connection's.
    let handshake = Box::pin(async move {
        let negotiated = tokio::time::timeout(timeout, async {
            let stream = crate::tls::accept(&acceptor, tcp, peer).await?;
            #[cfg(feature = "hyper")]
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                return Ok(Negotiated::Http2(stream));
            }
            accept_with(stream, &options, ws_config)
                .await
                .map(Negotiated::WebSocket)
        })
        .await;
        match negotiated {
            Ok(Ok(Negotiated::WebSocket(done))) => Some(Ok(Ok(done))),
            // Its WebSockets are extended CONNECT streams, each a connection of this server.
            #[cfg(feature = "hyper")]
            Ok(Ok(Negotiated::Http2(h2))) => {
                serve_h2(server, h2, peer).await;
                None
            }
            Ok(Err(e)) => Some(Ok(Err(e))),
            Err(elapsed) => Some(Err(elapsed)),
        }
    });
    let started = match handshake.await {
        Some(outcome) => started(&inner, peer, None, outcome),
        None => return,
    };
    if let Some((conn, running, registered)) = started {
        spawn_conn(&inner, conn, running, registered, slot);
    }
}

/// What a TLS connection turned out to carry once its handshakes were done. Lives only
/// between the (boxed) handshake and its consumer: boxing the larger variant would cost an
/// allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
enum Negotiated<S> {
    /// An HTTP/1.1 WebSocket upgrade, accepted.
    WebSocket((WebSocket<S>, http::Request<()>)),
    /// ALPN chose HTTP/2 (RFC 8441: WebSockets are extended CONNECT streams on it).
    #[cfg(feature = "hyper")]
    Http2(S),
}

/// The outcome of a handshake under `handshake_timeout`: a started connection, or nothing
/// (counted and logged) when it was refused or timed out.
fn started<S>(
    inner: &Arc<Inner>,
    peer: SocketAddr,
    socket: Option<RawSocket>,
    outcome: Result<Handshaken<S>, tokio::time::error::Elapsed>,
) -> Option<(Conn, Running<S>, Registered)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    start_handshaken(inner, Some(peer), socket, outcome)
        .map_err(|err| tracing::debug!(%peer, "handshake not completed: {err}"))
        .ok()
}

/// The handshake check for a connection from a trusted proxy: the per-IP limits of the
/// client named in `Forwarded` / `X-Forwarded-For` (the proxy's own address when none is).
fn admit_forwarded(
    admission: Arc<Admission>,
    slot: Arc<Mutex<Option<Slot>>>,
) -> crate::handshake::server::Admit {
    Arc::new(move |request: &http::Request<()>| {
        let mut slot = locked(&slot);
        let Some(slot) = slot.as_mut() else {
            return Ok(());
        };
        let Some(client) = forwarded_client(request.headers(), admission.trusted()) else {
            return Ok(());
        };
        admission
            .admit_client(slot, client)
            .map_err(|refusal| refusal_error(refusal, admission.retry_after_secs()))
    })
}

/// Most refusals written at once; past it a refused socket is closed without an answer.
const MAX_REFUSING: usize = 1024;

/// Answers a connection refused at admission with 503 or 429 and `Retry-After`, then lets it
/// go: a small task writes the answer and reads (and drops) what the client sent, for at most
/// a second, so that closing does not reset the connection before the client read it.
fn refuse(inner: &Arc<Inner>, tcp: TcpStream, refusal: Refusal, retry_after: u64) {
    let err = refusal_error(refusal, retry_after);
    crate::event::metrics::handshake(Some(err.status().as_str()));
    if inner.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
        inner.refusing.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        let mut tcp = tcp;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let response = crate::handshake::server::error_response(&err);
            tcp.write_all(&response).await?;
            tcp.shutdown().await?;
            let mut sink = [0u8; 512];
            while tcp.read(&mut sink).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
        inner.refusing.fetch_sub(1, Ordering::AcqRel);
    });
}

#[cfg(feature = "hyper")]
/// Serves an HTTP/2 connection (TLS, ALPN `h2`) on hyper: every extended CONNECT for
/// `websocket` becomes a connection of `server` (RFC 8441); anything else gets `426` (a
/// WebSocket server, not a web server).
async fn serve_h2<S>(server: Server, stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let response = if crate::upgrade::is_upgrade_request(&req) {
            server.upgrade(req, Some(peer))
        } else {
            let mut response =
                http::Response::new(crate::upgrade::Body::from("a WebSocket endpoint\n"));
            *response.status_mut() = http::StatusCode::UPGRADE_REQUIRED;
            response
        };
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let mut builder =
        hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.enable_connect_protocol();
    if let Err(e) = builder
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%peer, "HTTP/2 connection ended: {e}");
    }
}
