//! The server layer, the top of the crate: [`Server`] and its [`Config`], the accept path
//! (HTTP upgrade over wsx's sans-I/O handshake, hyper for everything else), one task per
//! connection (`connection.rs`) that feeds the namespace layer, and the graceful
//! [`Server::shutdown`]. The namespace layer's types (`Socket`, `Namespace`, acknowledgements)
//! are re-exported here too, where they always were.

mod config;
pub(crate) mod connection;
mod cors;
mod deflate;
mod engine_only;
pub mod forward;
mod hyper;
pub(crate) mod instrument;
mod prefixed;
mod scheduler;
mod state;

pub use crate::adapter::ServerAck;
pub use crate::args::{Args, FromArgs};
pub use crate::error::ConnectError;
pub use crate::namespace::{AckFuture, AckSender, DisconnectReason, Handshake, Namespace, Socket};
pub use config::Config;
pub use cors::{AllowOrigin, Cors};
pub use deflate::DeflateOptions;
pub use engine_only::EngineMessage;
pub use forward::{Directory, ForwardOptions, Forwarding};

use crate::adapter::{Adapter, Host, MemoryAdapter};
use crate::engine::handshake::check_request;
use crate::engine::transport::websocket::WsTransport;
use crate::namespace::NsInner;
use crate::namespace::dynamic::{Matcher, Parent};
use crate::sid::Sid;
use bytes::BytesMut;
use state::ServerInner;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, Weak};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, ToSocketAddrs};
use wsx::handshake::server as ws_handshake;
use wsx::{Role, WebSocket};

impl ServerInner {
    /// Starts a session's task: Socket.IO, or the Engine.IO-only handler.
    pub(crate) fn spawn_session<T: crate::engine::transport::Transport>(
        self: &Arc<Self>,
        sid: Sid,
        transport: T,
        handshake: crate::namespace::StoredHandshake,
    ) -> tokio::task::JoinHandle<()> {
        match &self.engine_only {
            Some(handler) => tokio::spawn(engine_only::run(
                sid,
                transport,
                self.config.engine.clone(),
                handler.clone(),
            )),
            None => tokio::spawn(connection::start(self.clone(), sid, transport, handshake)),
        }
    }
}

/// A Socket.IO server. Cheap to clone (a shared handle).
///
/// The namespace `/` always exists; [`Self::on_connection`] and [`Self::use_middleware`] are
/// shortcuts for it.
#[derive(Clone)]
pub struct Server(Arc<ServerInner>);

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Server {
    /// A server with the in-memory adapter.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self::with_adapter(config, |_| Box::new(MemoryAdapter::new()))
    }

    /// A server whose namespaces get their adapter from `factory` (called with the
    /// namespace's name).
    pub fn with_adapter<F>(config: Config, factory: F) -> Self
    where
        F: Fn(&str) -> Box<dyn Adapter> + Send + Sync + 'static,
    {
        let server = Self(Arc::new(ServerInner::new(config, Arc::new(factory), None)));
        let _ = server.of("/");
        server
    }

    /// An Engine.IO server without Socket.IO: every message a client sends goes to
    /// `handler`, and what it returns is sent back to that client (`Some(message)` to echo).
    /// Namespaces and handlers of Socket.IO are not used.
    pub fn engine_only<F>(config: Config, handler: F) -> Self
    where
        F: Fn(EngineMessage) -> Option<EngineMessage> + Send + Sync + 'static,
    {
        Self(Arc::new(ServerInner::new(
            config,
            Arc::new(|_| Box::new(MemoryAdapter::new())),
            Some(Arc::new(handler)),
        )))
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The namespace `name` (a leading `/` is added if missing), created on first use (or
    /// the child a dynamic namespace created under that name). Clients that CONNECT to a
    /// namespace that was never created, and that no dynamic namespace ([`Self::of_matching`],
    /// [`Self::of_fn`]) accepts, get CONNECT_ERROR `{"message":"Invalid namespace"}`.
    pub fn of(&self, name: &str) -> Namespace {
        let name = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        Namespace::new(self.0.namespace_or_create(&name, None))
    }

    /// A parent namespace for every name `pattern` matches, as Node's
    /// `io.of(/^\/tenant-\d+$/)`: the first client to CONNECT to such a name (one that was
    /// not created with [`Self::of`]) creates it as a child namespace, whose middlewares and
    /// connection handlers are this parent's (then the child's own, if any were added with
    /// [`Self::of`] since). A child is an ordinary namespace: its own rooms, sockets and
    /// adapter; [`Socket::namespace`] and [`Socket::hub`] are the child's. The pattern is
    /// matched against the whole name, leading `/` included, anywhere unless anchored (`^`,
    /// `$`). Parents are tried in the order they were made. The parent itself is not a
    /// namespace clients can connect to; what its [`Hub`](crate::Hub) does (`emit`, `to`,
    /// `fetch_sockets`, `sockets_join`, ..) is done to every child, as in Node. A child
    /// stays once created.
    pub fn of_matching(&self, pattern: regex::Regex) -> Namespace {
        self.parent(Matcher::Pattern(pattern))
    }

    /// A parent namespace for every name `accepts` answers `true` for, given the name (with
    /// its `/`) and the CONNECT's auth payload (`{}` when none), as Node's
    /// `io.of((name, auth, next) => next(null, ok))`; the rule is awaited on the
    /// connection's task, before the client's next packets. Otherwise as
    /// [`Self::of_matching`].
    pub fn of_fn<F, Fut>(&self, accepts: F) -> Namespace
    where
        F: Fn(String, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.parent(Matcher::Function(Arc::new(move |name, auth| {
            Box::pin(accepts(name, auth))
        })))
    }

    fn parent(&self, matcher: Matcher) -> Namespace {
        // Named as Node names them; never in the map of namespaces, so never connected to.
        let parent = Parent::new(format!("/_{}", self.0.parents.len()), self.0.config.parser);
        let ns = parent.ns.clone();
        let host: Weak<dyn Host> = Arc::downgrade(&ns) as Weak<NsInner>;
        ns.adapter.attach(host);
        self.0.parents.push(matcher, parent);
        Namespace::new(ns)
    }

    /// [`Namespace::on_connection`] of `/`.
    pub fn on_connection<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.of("/").on_connection(handler);
    }

    /// [`Namespace::use_middleware`] of `/`.
    pub fn use_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.of("/").use_middleware(middleware);
    }

    /// Shuts the server down gracefully, as Node's `io.close()`: no new session starts;
    /// every socket of every connection gets its DISCONNECT packet, then its connection is
    /// closed (a WebSocket with a close frame; a long-polling session answers its pending or
    /// next `GET` with what was queued and the close packet, and ends); disconnect handlers
    /// run with [`DisconnectReason::ServerShuttingDown`]. Once every connection ended, the
    /// accept loops ([`Self::serve`], [`Self::listen`]) return (they keep accepting until
    /// then: a polling client may fetch its DISCONNECT over a new TCP connection; new
    /// sessions are refused), and every namespace's adapter is closed ([`Adapter::close`]: the
    /// Redis adapter unsubscribes); then this returns. A connection may take as long as its handlers still due (at most 30 s)
    /// or, on long-polling, as a client takes to fetch (at most `pingInterval +
    /// pingTimeout`): wrap the call in a timeout to bound it. Engine.IO-only servers
    /// ([`Self::engine_only`]) stop accepting only. Calling it again waits for the same end.
    pub async fn shutdown(&self) {
        for conn in self.0.begin_shutdown() {
            conn.shut_down();
        }
        self.0.drained().await;
        self.0.stop.send_replace(true);
        let namespaces: Vec<Arc<NsInner>> = self
            .0
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for ns in namespaces {
            if let Err(err) = ns.adapter.close().await {
                tracing::warn!(namespace = ns.name, %err, "adapter did not close cleanly");
            }
        }
        if let Some(forwarding) = &self.0.config.forwarding {
            forwarding.withdraw().await;
        }
    }

    /// Binds `addr` and serves until [`Self::shutdown`].
    ///
    /// # Errors
    /// Binding failed.
    pub async fn listen(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.serve(listener).await
    }

    /// Serves connections from `listener`, one task per connection, until [`Self::shutdown`]
    /// (then it returns `Ok(())` and drops the listener).
    ///
    /// # Errors
    /// None so far: accept errors (such as running out of file descriptors) are logged and
    /// retried after a short pause.
    pub async fn serve(&self, listener: TcpListener) -> io::Result<()> {
        let mut stop = self.0.stop.subscribe();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.wait_for(|stop| *stop) => return Ok(()),
            };
            match accepted {
                Ok((tcp, remote)) => {
                    let _ = tcp.set_nodelay(true);
                    let server = self.clone();
                    tokio::spawn(async move { server.serve_connection(tcp, Some(remote)).await });
                }
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Serves one connection on a transport that has not sent its HTTP request yet. The
    /// first request's head is read and checked here: a WebSocket opening of a new session
    /// takes the fast path (wsx's sans-I/O handshake, then the session on a task of its own,
    /// [`Self::serve_websocket`]; this returns once the handshake is done, so its state is
    /// not kept for the session's life). Every other request (long-polling, the upgrade of a
    /// polling session, a refusal) is served by hyper's HTTP/1.1 server on this connection,
    /// from its first byte ([`Self::handle_hyper`]), keep-alive included.
    pub async fn serve_connection<S>(&self, mut stream: S, remote: Option<SocketAddr>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let config = &self.0.config;
        let read = tokio::time::timeout(
            config.handshake_timeout,
            read_head(&mut stream, &config.ws_handshake),
        )
        .await;
        let (request, buf, head_len) = match read {
            Ok(Ok(Some(parsed))) => parsed,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(refusal)) => {
                reject(&mut stream, &refusal).await;
                return;
            }
        };
        if check_request(&request, &config.path).is_ok() {
            self.upgrade(stream, request, &buf[head_len..], remote)
                .await;
            return;
        }
        self.serve_http(prefixed::Prefixed::new(buf.freeze(), stream), remote)
            .await;
    }

    /// Serves a connection with hyper's HTTP/1.1 server, every request through
    /// [`Self::handle_hyper`].
    async fn serve_http<S>(&self, stream: S, remote: Option<SocketAddr>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let server = self.clone();
        let service = ::hyper::service::service_fn(move |req| {
            let server = server.clone();
            async move { Ok::<_, std::convert::Infallible>(server.handle_hyper(req, remote).await) }
        });
        let mut builder = ::hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.0.config.handshake_timeout)
            // Request heads are small; this bounds what a client can make hyper buffer.
            .max_buf_size(64 * 1024);
        let io = hyper_util::rt::TokioIo::new(stream);
        if let Err(err) = builder.serve_connection(io, service).with_upgrades().await {
            tracing::debug!(%err, "HTTP connection ended with an error");
        }
    }

    /// Whether a request is for this server's endpoint (its path is [`Config::path`]): to
    /// route requests between this server and other handlers on one port.
    #[must_use]
    pub fn handles(&self, request: &http::Request<()>) -> bool {
        !matches!(
            check_request(request, &self.0.config.path),
            Err(crate::engine::handshake::RequestError::NotFound)
        )
    }

    /// Answers a request whose head the caller has already read and parsed (with
    /// [`wsx::handshake::server::parse_request`]; `read_ahead` holds the bytes read after the
    /// head): checks it as an Engine.IO request (HTTP 400 with the JSON error body when it is
    /// not one), upgrades it with wsx's sans-I/O handshake, and starts the session on a task of
    /// its own. This is how the server shares a port with other routes; see the
    /// `sio_mount` example.
    pub async fn upgrade<S>(
        &self,
        mut stream: S,
        request: http::Request<()>,
        read_ahead: &[u8],
        remote: Option<SocketAddr>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let config = &self.0.config;
        if let Err(err) = check_request(&request, &config.path) {
            tracing::debug!(%err, uri = %request.uri(), "Engine.IO request refused");
            reject(&mut stream, &err.response()).await;
            return;
        }
        let accepted = match ws_handshake::accept(&request, &config.ws_handshake) {
            Ok(accepted) => accepted,
            Err(err) => {
                reject(&mut stream, &ws_handshake::error_response(&err)).await;
                return;
            }
        };
        let mut response = Vec::with_capacity(256);
        ws_handshake::write_response(&accepted.response, &mut response);
        if stream.write_all(&response).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        let ws = WebSocket::from_raw(
            stream,
            Role::Server,
            config.websocket(),
            read_ahead,
            accepted.extension,
            accepted.subprotocol,
        );
        self.serve_websocket(ws, request, remote);
    }

    /// Starts an Engine.IO session, on a task of its own, on a WebSocket connection accepted
    /// elsewhere (to mount the server beside other routes: check the request with
    /// [`crate::engine::handshake::check_request`], accept it, hand it over). Build the
    /// WebSocket with [`Config::websocket`] so that `maxPayload` is enforced. The handle
    /// completes when the session ended.
    pub fn serve_websocket<S>(
        &self,
        ws: WebSocket<S>,
        request: http::Request<()>,
        remote: Option<SocketAddr>,
    ) -> tokio::task::JoinHandle<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_transport(WsTransport::new(ws), request, remote)
    }

    /// Starts a session on an accepted transport, on a task of its own.
    fn serve_transport<T: crate::engine::transport::Transport>(
        &self,
        transport: T,
        request: http::Request<()>,
        remote: Option<SocketAddr>,
    ) -> tokio::task::JoinHandle<()> {
        let handshake = crate::namespace::StoredHandshake::from_request(request, remote);
        self.0.spawn_session(self.0.new_sid(), transport, handshake)
    }
}

/// A request, the buffer it was read into, and the length of its head.
type Head = (http::Request<()>, BytesMut, usize);

/// Reads a request head: `Ok(None)` when the peer went away first, `Err(response)` (the HTTP
/// refusal to send) for a malformed one.
async fn read_head<S>(
    stream: &mut S,
    opts: &ws_handshake::ServerOptions,
) -> Result<Option<Head>, Vec<u8>>
where
    S: AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        match ws_handshake::parse_request(&buf, opts) {
            Ok(Some((request, len))) => return Ok(Some((request, buf, len))),
            Ok(None) => {}
            Err(err) => return Err(ws_handshake::error_response(&err)),
        }
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(1024);
        }
        if matches!(stream.read_buf(&mut buf).await, Ok(0) | Err(_)) {
            return Ok(None);
        }
    }
}

/// Writes a refusal and closes.
async fn reject<S: AsyncWrite + Unpin>(stream: &mut S, response: &[u8]) {
    if stream.write_all(response).await.is_ok() {
        let _ = stream.flush().await;
        let _ = stream.shutdown().await;
    }
}
