//! [`Server`]: accepts connections (plain TCP or TLS), runs the handshake under a timeout, and
//! hands every new [`Conn`] to the `on_connection` handler (`listener.rs`); upgrades requests a
//! hyper or axum server received (`hyper_side.rs`). One task per connection reads, runs its
//! handlers and writes; there is no global lock on the message path (the connection registry
//! is touched only when a connection starts or ends).
#![forbid(unsafe_code)]

#[cfg(feature = "hyper")]
mod hyper_side;
mod listener;

use crate::error::Error;
use crate::event::config::Config;
use crate::event::conn::run::{Running, start};
use crate::event::conn::{
    Conn, FrameChoice, Headers, Info, IntoPayload, MessageType, PANIC_REASON, PreparedMessage,
    RawSocket, ReaderSignal, guarded,
};
use crate::event::events::Envelope;
use crate::event::limit::Admission;
use crate::handshake::ServerOptions;
use crate::handshake_io::server::accept_with;
use crate::proto::{CloseCode, ExtensionFactory, SharedEncoding};
use crate::stream::WebSocket;
use crate::sync::{lock as locked, read, write};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, ToSocketAddrs};
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
            // The event API's default is the same-origin check, not the handshake layer's
            // "accept all" (see `Config::check_origin`).
            check_origin: Some(
                config
                    .check_origin
                    .clone()
                    .unwrap_or_else(crate::origin::same_origin),
            ),
            extensions: config.server_extensions(),
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

    /// Listens on `addr` over plain TCP (`ws://`) and serves until [`Self::shutdown`]. `addr`
    /// is anything tokio resolves (`ToSocketAddrs`, as `wsx_sio::Server::listen` takes): a
    /// `&str` or `String` such as `"127.0.0.1:8080"` or `"[::1]:0"`, a `SocketAddr`, a
    /// `(host, port)` pair; the first resolved address that binds is used.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration, [`Error::Io`] when the address cannot
    /// be bound.
    pub async fn listen(&self, addr: impl ToSocketAddrs) -> Result<(), Error> {
        self.inner.config.validate()?;
        self.serve(bind(addr).await?).await
    }

    /// Listens on `addr` over TLS (`wss://`) and serves until [`Self::shutdown`].
    ///
    /// # Errors
    /// As [`Self::listen`].
    pub async fn listen_tls(
        &self,
        addr: impl ToSocketAddrs,
        tls: impl Into<Arc<rustls::ServerConfig>>,
    ) -> Result<(), Error> {
        self.inner.config.validate()?;
        self.serve_tls(bind(addr).await?, tls).await
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
    /// (see [`PreparedMessage`]; compressed once too with
    /// [`crate::Config::deflate_shared_broadcasts`]). A connection that is idle gets it
    /// straight on its socket, from this thread; others queue it for their task. Returns how
    /// many connections it was queued on; connections whose queue is full or that are closing
    /// are skipped.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] for a kind other than text or binary, or text that is not
    /// UTF-8.
    pub fn broadcast(&self, kind: MessageType, data: impl IntoPayload) -> Result<usize, Error> {
        Ok(self.send_prepared(&PreparedMessage::new(kind, data)?, None))
    }

    /// Sends a message prepared once ([`PreparedMessage`]) to every open connection: the
    /// plain frame, or for connections that compress without context takeover
    /// ([`crate::Config::deflate_shared_broadcasts`]) the message deflated once per distinct
    /// level and window; [`PreparedMessage::compress`] turns compression off for this message.
    /// The same message can be sent again, or to other servers, without being encoded again.
    /// Returns how many connections it was queued on; connections whose queue is full or that
    /// are closing are skipped.
    ///
    /// ```
    /// # fn run(server: &wsx::Server) -> Result<(), wsx::Error> {
    /// use wsx::{MessageType, PreparedMessage};
    /// let news = PreparedMessage::new(MessageType::Text, r#"{"event":"tick"}"#)?;
    /// server.broadcast_prepared(&news);
    /// // Already compressed data: no point compressing it again.
    /// let image = PreparedMessage::new(MessageType::Binary, vec![0u8; 1024])?.compress(false);
    /// server.broadcast_prepared(&image);
    /// # Ok(())
    /// # }
    /// ```
    pub fn broadcast_prepared(&self, prepared: &PreparedMessage) -> usize {
        self.send_prepared(prepared, None)
    }

    /// As [`Self::broadcast_prepared`], to every open connection but `except`.
    pub fn broadcast_prepared_except(&self, prepared: &PreparedMessage, except: &Conn) -> usize {
        self.send_prepared(prepared, Some(except))
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
    ///
    /// It walks the registry under its lock rather than over a copy (`connections()`): the
    /// copy's clone and drop of every `Conn` (two atomic updates) and its allocation cost about
    /// 45 instructions per recipient (callgrind, issue 25). Nothing under the lock takes it
    /// again: a write only queues and wakes the connection's task (or appends to the write
    /// buffer of the handler's own connection). The metrics are updated once per broadcast,
    /// and the frame is chosen once per encoding the connections negotiated ([`FrameChoice`]).
    fn send_prepared(&self, prepared: &PreparedMessage, except: Option<&Conn>) -> usize {
        let (mut reached, mut frames) = (0, 0);
        let mut choice = FrameChoice::new(prepared);
        for conn in locked(&self.inner.conns).values() {
            if except == Some(conn) {
                continue;
            }
            if let Ok(frame) = conn.write_chosen_uncounted(prepared, &mut choice) {
                reached += 1;
                frames += usize::from(frame);
            }
        }
        crate::event::conn::count_prepared(&prepared.message, frames);
        reached
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
        let (conn, running, registered) =
            start_handshaken(&self.inner, remote_addr, None, handshake.await)?;
        // On the caller's task: the connection ends when this future does.
        running
            .drive(conn, &self.inner.config, move || drop(registered))
            .await;
        Ok(())
    }
}

/// A finished server handshake: the connection and the request, or why it was refused.
type Handshaken<S> = Result<(WebSocket<S>, http::Request<()>), Error>;

/// Starts the connection a handshake under `handshake_timeout` opened, or counts why none was
/// opened (the handshake metric: the refusal's status, "error" or "timeout") and returns it.
/// One place for the accept path and [`Server::serve_connection`]. `socket`: the descriptor of
/// a plain TCP stream, which broadcasts may write to directly.
fn start_handshaken<S>(
    inner: &Arc<Inner>,
    remote_addr: Option<SocketAddr>,
    socket: Option<RawSocket>,
    outcome: Result<Handshaken<S>, tokio::time::error::Elapsed>,
) -> Result<(Conn, Running<S>, Registered), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match outcome {
        Ok(Ok((ws, request))) => Ok(start_conn(inner, ws, request, remote_addr, socket)),
        Ok(Err(err)) => {
            match &err {
                Error::Handshake(e) => crate::event::metrics::handshake(Some(e.status().as_str())),
                _ => crate::event::metrics::handshake(Some("error")),
            }
            Err(err)
        }
        Err(_) => {
            crate::event::metrics::handshake(Some("timeout"));
            Err(Error::Timeout("opening handshake"))
        }
    }
}

/// Registers a connection that finished its handshake and hands it to
/// `on_connection`; reading starts when the returned future is driven. Synchronous, so the
/// connection task's future does not carry the `WebSocket` and the request. `socket`: the
/// descriptor of `ws`'s plain TCP stream, which broadcasts may then write to directly when the
/// connection takes frames encoded once for many (no extension).
fn start_conn<S>(
    inner: &Arc<Inner>,
    ws: WebSocket<S>,
    request: http::Request<()>,
    peer: Option<SocketAddr>,
    socket: Option<RawSocket>,
) -> (Conn, Running<S>, Registered)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    crate::event::metrics::handshake(None);
    let (parts, ()) = request.into_parts();
    let info = Info {
        id: crate::id::next_id(),
        remote_addr: peer,
        subprotocol: ws.subprotocol().map(Box::from),
        headers: Headers::packed(parts.headers),
        uri: parts.uri,
        version: parts.version.max(http::Version::HTTP_11),
        encoding: ws.shared_encoding(),
    };
    let socket = socket.filter(|_| ws.shared_encoding() != Some(SharedEncoding::None));
    let conn = Conn::new(info, inner.config.max_pending_bytes, socket);
    locked(&inner.conns).insert(conn.id(), conn.clone());
    // Leaves the registry before `on_close` fires (or if a handler panics).
    let registered = Registered {
        inner: inner.clone(),
        id: conn.id(),
    };
    let running = start(ws);
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

/// Runs a started connection on a task of its own, holding `hold` (its admission slot) until
/// its socket is released. The task that accepted it (and ran its handshakes) ends: the
/// connection's task is its `Drive` alone, polled with no async function around it (issue 17:
/// the accept task's resume cost about 30 instructions per echoed message), and it does not
/// carry the handshakes' state.
fn spawn_conn<S, H>(inner: &Inner, conn: Conn, running: Running<S>, registered: Registered, hold: H)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Send + 'static,
{
    tokio::spawn(running.drive(conn, &inner.config, move || drop((registered, hold))));
}

/// Connections the kernel queues for `accept` while the server is busy. `TcpListener::bind`
/// asks for 128, and Linux drops the SYNs of a burst past it: each dropped client retries a
/// second later (a test firing 200 connects at once lost ~18 s that way). 1024 is what
/// tokio's own `TcpSocket` examples use; the kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listener on `addr` (the first of its resolved addresses that binds), with
/// [`LISTEN_BACKLOG`] and `SO_REUSEADDR` as `TcpListener::bind` sets it.
async fn bind(addr: impl ToSocketAddrs) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        };
        let bound = socket.and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(LISTEN_BACKLOG)
        });
        match bound {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}
