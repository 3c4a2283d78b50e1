//! [`Server`]: accepts connections (plain TCP or TLS), runs the handshake under a timeout, and
//! hands every new [`Conn`] to the `on_connection` handler. One task per connection reads, one
//! writes; there is no global lock on the message path (the connection registry is touched
//! only when a connection starts or ends).
#![forbid(unsafe_code)]

use crate::config::Config;
use crate::conn::run::{Running, start};
use crate::conn::{
    Conn, Info, IntoPayload, MessageType, PANIC_REASON, PreparedMessage, ReaderSignal, guarded,
};
use crate::error::Error;
use crate::events::Envelope;
use crate::handshake::ServerOptions;
use crate::handshake_io::server::accept_with;
use crate::limit::{Admission, Refusal, Slot, forwarded_client};
use crate::proto::{CloseCode, ExtensionFactory};
use crate::stream::WebSocket;
use crate::sync::{lock as locked, read, write};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

type ConnectionHandler = Arc<dyn Fn(Conn) + Send + Sync>;

struct Inner {
    config: Config,
    /// The connection caps and per-IP limits, when any is configured.
    admission: Option<Arc<Admission>>,
    /// Refusals being written (bounded: past the bound a refused socket is just closed).
    refusing: AtomicUsize,
    options: RwLock<ServerOptions>,
    on_connection: RwLock<Option<ConnectionHandler>>,
    conns: Mutex<HashMap<u64, Conn>>,
    conns_changed: Notify,
    shutdown: watch::Sender<bool>,
    local_addr: Mutex<Option<SocketAddr>>,
}

/// A WebSocket server. Cheap to clone: clones share the same handlers and connections, so one
/// can `listen` on a task while another calls `shutdown`.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr())
            .field("connections", &self.connection_count())
            .finish_non_exhaustive()
    }
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Registered {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        locked(&self.inner.conns).remove(&self.id);
        self.inner.conns_changed.notify_waiters();
    }
}

impl Server {
    /// A server with `config` (checked when it starts listening).
    #[must_use]
    pub fn new(config: Config) -> Self {
        let options = ServerOptions {
            max_head_size: config.max_handshake_size,
            subprotocols: config.subprotocols.clone(),
            check_origin: config.check_origin.clone(),
            extensions: config.extensions(),
            ..ServerOptions::default()
        };
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                admission: config
                    .rate_limits
                    .admits()
                    .then(|| Admission::new(config.rate_limits.clone())),
                refusing: AtomicUsize::new(0),
                config,
                options: RwLock::new(options),
                on_connection: RwLock::new(None),
                conns: Mutex::new(HashMap::new()),
                conns_changed: Notify::new(),
                shutdown,
                local_addr: Mutex::new(None),
            }),
        }
    }

    /// Sets the handler called with every new connection, right after its handshake and
    /// before any of its messages are read: register the connection's handlers there.
    pub fn on_connection(&self, f: impl Fn(Conn) + Send + Sync + 'static) {
        *write(&self.inner.on_connection) = Some(Arc::new(f));
    }

    /// Adds an extension the server negotiates (e.g. permessage-deflate).
    pub fn add_extension(&self, factory: Arc<dyn ExtensionFactory>) {
        write(&self.inner.options).extensions.push(factory);
    }

    /// Listens on `addr` (e.g. `"127.0.0.1:8080"`, `"[::1]:0"`) over plain TCP (`ws://`) and
    /// serves until [`Self::shutdown`].
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration, [`Error::Io`] when the address cannot
    /// be bound.
    pub async fn listen(&self, addr: &str) -> Result<(), Error> {
        self.inner.config.validate()?;
        self.serve(TcpListener::bind(addr).await?).await
    }

    /// Listens on `addr` over TLS (`wss://`) and serves until [`Self::shutdown`].
    ///
    /// # Errors
    /// As [`Self::listen`].
    pub async fn listen_tls(
        &self,
        addr: &str,
        tls: impl Into<Arc<rustls::ServerConfig>>,
    ) -> Result<(), Error> {
        self.inner.config.validate()?;
        self.serve_tls(TcpListener::bind(addr).await?, tls).await
    }

    /// Serves `ws://` on a listener that is already bound.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration.
    pub async fn serve(&self, listener: TcpListener) -> Result<(), Error> {
        self.serve_listener(listener, None).await
    }

    /// Serves `wss://` on a listener that is already bound.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration.
    ///
    /// With the feature `hyper`, `h2` is offered by ALPN before the configuration's own
    /// protocols: a client that picks it (a browser) opens its WebSockets as HTTP/2 extended
    /// CONNECT streams (RFC 8441), several on one TCP connection, with the same handlers and
    /// limits; HTTP/1.1 upgrades keep working on the same port.
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        tls: impl Into<Arc<rustls::ServerConfig>>,
    ) -> Result<(), Error> {
        let tls: Arc<rustls::ServerConfig> = tls.into();
        #[cfg(feature = "hyper")]
        let tls = if tls.alpn_protocols.iter().any(|p| p == b"h2") {
            tls
        } else {
            let mut with_h2 = (*tls).clone();
            with_h2.alpn_protocols.insert(0, b"h2".to_vec());
            Arc::new(with_h2)
        };
        self.serve_listener(listener, Some(tokio_rustls::TlsAcceptor::from(tls)))
            .await
    }

    /// The address the server listens on, once it does.
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *locked(&self.inner.local_addr)
    }

    /// The open connections.
    #[must_use]
    pub fn connections(&self) -> Vec<Conn> {
        locked(&self.inner.conns).values().cloned().collect()
    }

    /// How many connections are open.
    #[must_use]
    pub fn connection_count(&self) -> usize {
        locked(&self.inner.conns).len()
    }

    /// Sends one message to every open connection, encoding its frame once and sharing it
    /// (see [`PreparedMessage`]). Returns how many connections it was queued on; connections
    /// whose queue is full or that are closing are skipped.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] for a kind other than text or binary, or text that is not
    /// UTF-8.
    pub fn broadcast(&self, kind: MessageType, data: impl IntoPayload) -> Result<usize, Error> {
        Ok(self.send_prepared(&PreparedMessage::new(kind, data)?, None))
    }

    /// As [`Self::broadcast`], to every open connection but `except` (typically the sender
    /// of the message being relayed).
    ///
    /// # Errors
    /// As [`Self::broadcast`].
    pub fn broadcast_except(
        &self,
        kind: MessageType,
        data: impl IntoPayload,
        except: &Conn,
    ) -> Result<usize, Error> {
        Ok(self.send_prepared(&PreparedMessage::new(kind, data)?, Some(except)))
    }

    /// Sends the custom event `event` with `data` (see [`crate::events`]) to every open
    /// connection, serialised and framed once. Returns how many connections it was queued
    /// on.
    ///
    /// # Errors
    /// [`Error::Json`] when `data` cannot be serialised.
    pub fn emit(&self, event: &str, data: impl serde::Serialize) -> Result<usize, Error> {
        Ok(self.send_prepared(&Self::prepare_event(event, data)?, None))
    }

    /// As [`Self::emit`], to every open connection but `except`.
    ///
    /// # Errors
    /// As [`Self::emit`].
    pub fn emit_except(
        &self,
        event: &str,
        data: impl serde::Serialize,
        except: &Conn,
    ) -> Result<usize, Error> {
        Ok(self.send_prepared(&Self::prepare_event(event, data)?, Some(except)))
    }

    fn prepare_event(event: &str, data: impl serde::Serialize) -> Result<PreparedMessage, Error> {
        let json = serde_json::to_vec(&Envelope { event, data })?;
        PreparedMessage::new(MessageType::Text, json)
    }

    /// Queues `prepared` on every open connection but `except`; counts where it went.
    fn send_prepared(&self, prepared: &PreparedMessage, except: Option<&Conn>) -> usize {
        self.connections()
            .iter()
            .filter(|c| except != Some(*c) && c.write_prepared(prepared).is_ok())
            .count()
    }

    /// Shuts down gracefully: stops accepting, sends every open connection a close frame with
    /// 1001 (Going Away), waits for their close handshakes up to `close_timeout`, then drops
    /// whatever is left (their `on_close` reports 1006) and returns.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        for conn in self.connections() {
            let _ = conn.close(CloseCode::GOING_AWAY, "server shutting down");
        }
        let deadline = tokio::time::Instant::now() + self.inner.config.close_timeout;
        if !self.wait_until_empty(deadline).await {
            for conn in self.connections() {
                conn.shared.signal.raise(ReaderSignal::TEARDOWN);
            }
            self.wait_until_empty(tokio::time::Instant::now() + Duration::from_secs(1))
                .await;
        }
    }

    /// Waits until no connection is left, or `deadline`; tells whether none is left.
    async fn wait_until_empty(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let changed = self.inner.conns_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.connection_count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.connection_count() == 0;
            }
        }
    }

    /// Serves one connection on a transport the application accepted itself: a Unix socket,
    /// a stream that came through another protocol, or an in-memory
    /// [`tokio::io::duplex`] pipe in tests (timers then run on tokio's clock, paused or
    /// not). The opening handshake is read under `handshake_timeout` and refused as
    /// [`Self::listen`] refuses it; the connection then joins this server (`on_connection`,
    /// handlers, `connections`, `broadcast`, `shutdown`). Returns when the connection has
    /// ended and its `on_close` has run. `remote_addr` is what [`Conn::remote_addr`]
    /// reports. The admission caps and per-IP limits apply to sockets [`Self::serve`]
    /// accepts; a transport handed over here was admitted by its caller.
    ///
    /// ```
    /// # async fn run() -> Result<(), wsx::Error> {
    /// let server = wsx::Server::new(wsx::Config::default());
    /// server.on_connection(|conn| conn.on_message(|c, kind, data| drop(c.write_message(kind, data))));
    /// let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    /// let serving = tokio::spawn({
    ///     let server = server.clone();
    ///     async move { server.serve_connection(server_io, None).await }
    /// });
    /// let conn = wsx::Client::default().connect_io(client_io, "ws://in-memory/").await?;
    /// conn.write_text("hello")?;
    /// # drop(serving);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid config; the handshake's error ([`Error::Handshake`],
    /// [`Error::Io`]) or [`Error::Timeout`] when no connection was opened.
    pub async fn serve_connection<S>(
        &self,
        io: S,
        remote_addr: Option<SocketAddr>,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.inner.config.validate()?;
        let options = read(&self.inner.options).clone();
        let ws_config = self.inner.config.websocket_config();
        let handshake = Box::pin(tokio::time::timeout(
            self.inner.config.handshake_timeout,
            accept_with(io, &options, ws_config),
        ));
        let (ws, request) = match handshake.await {
            Ok(Ok(done)) => done,
            Ok(Err(err)) => {
                if let Error::Handshake(e) = &err {
                    crate::metrics::handshake(Some(e.status().as_str()));
                }
                return Err(err);
            }
            Err(_) => {
                crate::metrics::handshake(Some("timeout"));
                return Err(Error::Timeout("opening handshake"));
            }
        };
        let (conn, running, registered) = start_conn(&self.inner, ws, request, remote_addr);
        serve_conn(self.inner.clone(), conn, running, registered).await;
        Ok(())
    }

    async fn serve_listener(
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
/// `handshake_timeout`, then the connection's life.
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
    let _slot = slot;
    let ws_config = inner.config.websocket_config();
    // The handshakes are boxed: their state (buffers, a TLS session being set up) is freed
    // once they finish instead of sizing the task for the whole life of the connection, and a
    // plain connection does not carry the size of a TLS one.
    // The handshake's result (the connection and the request) is consumed by `start_conn` in
    // a statement of its own, so it is not kept in this task's state while the connection runs.
    // The two arms differ only in the transport type (so that a plain connection's poll path
    // has no TLS branch in it); what they share is `started` and `serve_conn`.
    match tls {
        None => {
            let handshake = Box::pin(tokio::time::timeout(
                timeout,
                accept_with(tcp, &options, ws_config),
            ));
            let started = started(&inner, peer, handshake.await);
            if let Some((conn, running, registered)) = started {
                serve_conn(inner, conn, running, registered).await;
            }
        }
        Some(acceptor) => {
            let handshake = Box::pin(tokio::time::timeout(timeout, async {
                let stream = crate::tls::accept(&acceptor, tcp, peer).await?;
                #[cfg(feature = "hyper")]
                if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                    return Ok(Err(stream));
                }
                accept_with(stream, &options, ws_config).await.map(Ok)
            }));
            let handshake = async {
                match handshake.await {
                    Ok(Ok(Ok(done))) => Ok(Ok(done)),
                    Ok(Ok(Err(h2))) => {
                        // An HTTP/2 connection: its WebSockets are extended CONNECT streams.
                        #[cfg(feature = "hyper")]
                        serve_h2(
                            Server {
                                inner: inner.clone(),
                            },
                            h2,
                            peer,
                        )
                        .await;
                        #[cfg(not(feature = "hyper"))]
                        drop(h2);
                        Ok(Err(Error::ConnectionClosed))
                    }
                    Ok(Err(e)) => Ok(Err(e)),
                    Err(elapsed) => Err(elapsed),
                }
            };
            let started = match handshake.await {
                // The HTTP/2 connection was served to its end.
                Ok(Err(Error::ConnectionClosed)) => None,
                outcome => started(&inner, peer, outcome),
            };
            if let Some((conn, running, registered)) = started {
                Box::pin(serve_conn(inner, conn, running, registered)).await;
            }
        }
    }
}

/// A finished server handshake: the connection and the request, or why it was refused.
type Handshaken<S> = Result<(WebSocket<S>, http::Request<()>), Error>;

/// The outcome of a handshake under `handshake_timeout`: a started connection, or nothing
/// (logged) when it was refused or timed out.
fn started<S>(
    inner: &Arc<Inner>,
    peer: SocketAddr,
    outcome: Result<Handshaken<S>, tokio::time::error::Elapsed>,
) -> Option<(Conn, Running<S>, Registered)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match outcome {
        Ok(Ok((ws, request))) => Some(start_conn(inner, ws, request, Some(peer))),
        Ok(Err(err)) => {
            tracing::debug!(%peer, "handshake refused: {err}");
            match &err {
                Error::Handshake(e) => crate::metrics::handshake(Some(e.status().as_str())),
                _ => crate::metrics::handshake(Some("error")),
            }
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "handshake timed out");
            crate::metrics::handshake(Some("timeout"));
            None
        }
    }
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

/// The handshake error an admission refusal is answered with (503 or 429, `Retry-After`),
/// counted in `wsx_rate_limited_total`.
fn refusal_error(refusal: Refusal, retry_after: u64) -> crate::HandshakeError {
    crate::metrics::rate_limited(match refusal {
        Refusal::Busy => "connections",
        Refusal::TooMany => "connections_per_ip",
    });
    match refusal {
        Refusal::Busy => crate::HandshakeError::ServerBusy { retry_after },
        Refusal::TooMany => crate::HandshakeError::TooManyRequests { retry_after },
    }
}

/// Most refusals written at once; past it a refused socket is closed without an answer.
const MAX_REFUSING: usize = 1024;

/// Answers a connection refused at admission with 503 or 429 and `Retry-After`, then lets it
/// go: a small task writes the answer and reads (and drops) what the client sent, for at most
/// a second, so that closing does not reset the connection before the client read it.
fn refuse(inner: &Arc<Inner>, tcp: TcpStream, refusal: Refusal, retry_after: u64) {
    let err = refusal_error(refusal, retry_after);
    crate::metrics::handshake(Some(err.status().as_str()));
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

/// Registers a connection that finished its handshake, starts its writer and hands it to
/// `on_connection`; reading starts when the returned future is driven. Synchronous, so the
/// connection task's future does not carry the `WebSocket` and the request.
fn start_conn<S>(
    inner: &Arc<Inner>,
    ws: WebSocket<S>,
    request: http::Request<()>,
    peer: Option<SocketAddr>,
) -> (Conn, Running<S>, Registered)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    crate::metrics::handshake(None);
    let (parts, ()) = request.into_parts();
    let info = Info {
        id: crate::id::next_id(),
        remote_addr: peer,
        subprotocol: ws.subprotocol().map(str::to_owned),
        headers: parts.headers,
        uri: parts.uri,
        version: parts.version.max(http::Version::HTTP_11),
        extension: ws.has_extension(),
    };
    let conn = Conn::new(info, inner.config.max_pending_bytes);
    locked(&inner.conns).insert(conn.id(), conn.clone());
    // Leaves the registry before `on_close` fires (or if a handler panics).
    let registered = Registered {
        inner: inner.clone(),
        id: conn.id(),
    };
    let running = start(&conn, ws);
    let handler = read(&inner.on_connection).clone();
    if let Some(f) = handler
        && let Err(panicked) = guarded(|| f(conn.clone()))
    {
        // Costs this connection only: it is failed with 1011 like a handler panic.
        tracing::error!(
            conn = conn.id(),
            "on_connection handler panicked: {}",
            panicked.0
        );
        let _ = conn.close(CloseCode::INTERNAL_ERROR, PANIC_REASON);
    }
    if *inner.shutdown.borrow() {
        // Shutdown began while this handshake ran: it gets its 1001 too.
        let _ = conn.close(CloseCode::GOING_AWAY, "server shutting down");
    }
    (conn, running, registered)
}

/// Drives a started connection to its end.
async fn serve_conn<S>(inner: Arc<Inner>, conn: Conn, running: Running<S>, registered: Registered)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    running
        .drive(conn, &inner.config, move || drop(registered))
        .await;
}

#[cfg(feature = "hyper")]
impl Server {
    /// Upgrades a request that arrived on a hyper (or axum) server into a connection of this
    /// server: the same `on_connection` and handlers, config, limits, compression and
    /// registry (`connections`, `broadcast`, `shutdown`) as connections it accepts itself.
    /// HTTP/1.1 upgrades and HTTP/2 extended CONNECT (RFC 8441) are both accepted (see
    /// [`crate::upgrade`]). Returns the response to give hyper: `101`/`200`, an error status
    /// for a bad request (as [`Self::listen`] answers it), or `503` while shutting down.
    /// `remote_addr` is what [`Conn::remote_addr`] reports (hyper's request does not carry
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
                    let _slot = slot;
                    let timeout = inner.config.handshake_timeout;
                    let upgraded = tokio::time::timeout(
                        timeout,
                        std::future::IntoFuture::into_future(pending),
                    )
                    .await;
                    match upgraded {
                        Ok(Ok((ws, request))) => {
                            let (conn, running, registered) =
                                start_conn(&inner, ws, request, remote_addr);
                            serve_conn(inner, conn, running, registered).await;
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
#[cfg(feature = "hyper")]
fn refused_upgrade(
    refused: crate::upgrade::Refused,
    peer: Option<SocketAddr>,
) -> http::Response<crate::upgrade::Body> {
    tracing::debug!(?peer, "handshake refused: {}", refused.error);
    crate::metrics::handshake(Some(refused.error.status().as_str()));
    refused.into_response()
}

/// Serves an HTTP/2 connection (TLS, ALPN `h2`) on hyper: every extended CONNECT for
/// `websocket` becomes a connection of `server` (RFC 8441); anything else gets `426` (a
/// WebSocket server, not a web server).
#[cfg(feature = "hyper")]
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
