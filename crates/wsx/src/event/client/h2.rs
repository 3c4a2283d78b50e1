//! The client's RFC 8441 path (feature `hyper`, [`crate::Config::http2`]): WebSockets as
//! HTTP/2 extended CONNECT streams, on hyper's HTTP/2 client. One HTTP/2 connection per origin
//! is kept and shared by every WebSocket to it (each stream has its own flow control); a
//! closed one is replaced on the next connect. Connects to different origins never wait for
//! each other ([`Pool`]).
#![forbid(unsafe_code)]

use crate::error::{Error, HandshakeError, TlsError};
use crate::handshake::{ClientHandshake, ClientOptions, Target};
use crate::handshake_io::client::client_handshake;
use crate::proto::Role;
use crate::stream::{WebSocket, WebSocketConfig};
use crate::sync::lock;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// An origin: secure, host, port.
type Origin = (bool, String, u16);

/// The open HTTP/2 connections of a client, by origin, and the connects in progress.
///
/// The map's lock is a plain mutex held only to look up or change an entry, never across an
/// await: a connect to an origin that hangs (a peer that takes TCP and never answers TLS or
/// HTTP/2) holds no lock, so connects to other origins go on (issue 29: one async lock over the
/// whole map, held across TCP and TLS connects, made every origin wait for the slowest). The
/// first connect to an origin marks it [`Slot::Connecting`]; connects to that origin meanwhile
/// wait for it to end (without a lock) and then share its connection, or try their own when it
/// failed.
#[derive(Default)]
pub(crate) struct Pool {
    slots: Mutex<HashMap<Origin, Slot>>,
    /// Tells a connect in progress apart from a later one to the same origin.
    next_id: AtomicU64,
}

/// An origin's entry in the [`Pool`].
enum Slot {
    /// An open HTTP/2 connection (replaced once closed).
    Open(SendRequest<Empty<Bytes>>),
    /// A connect in progress: its id, and a channel that closes when it ends.
    Connecting(u64, watch::Receiver<()>),
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

/// What a connect to an origin does, from the pool's view.
enum Claim {
    /// Use this open connection.
    Open(SendRequest<Empty<Bytes>>),
    /// Wait for the connect in progress to end, then look again.
    Wait(watch::Receiver<()>),
    /// Connect: this caller marked the origin as connecting.
    Connect(Connecting),
}

impl Pool {
    /// Looks `origin` up, marking it as connecting when no connection is open or in progress.
    fn claim(self: &Arc<Self>, origin: &Origin) -> Claim {
        let mut slots = lock(&self.slots);
        match slots.get(origin) {
            Some(Slot::Open(sender)) if !sender.is_closed() => {
                return Claim::Open(sender.clone());
            }
            Some(Slot::Connecting(_, done)) => return Claim::Wait(done.clone()),
            _ => {}
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (done, waiting) = watch::channel(());
        slots.insert(origin.clone(), Slot::Connecting(id, waiting));
        Claim::Connect(Connecting {
            pool: self.clone(),
            origin: origin.clone(),
            id,
            _done: done,
        })
    }
}

/// A connect in progress to an origin. Dropped (with or without an open connection put in its
/// place by [`Connecting::open`]), it lets the waiting connects go: they look again.
struct Connecting {
    pool: Arc<Pool>,
    origin: Origin,
    id: u64,
    /// Closes the waiters' channel when dropped.
    _done: watch::Sender<()>,
}

impl Connecting {
    /// The connect succeeded: the origin's connection is `sender` from now on.
    fn open(self, sender: SendRequest<Empty<Bytes>>) {
        let mut slots = lock(&self.pool.slots);
        slots.insert(self.origin.clone(), Slot::Open(sender));
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        // A failed or abandoned connect (an error, a timeout that dropped its future, ALPN
        // chose HTTP/1.1) leaves no mark; a successful one left its connection (`open`).
        let mut slots = lock(&self.pool.slots);
        if matches!(slots.get(&self.origin), Some(Slot::Connecting(id, _)) if *id == self.id) {
            slots.remove(&self.origin);
        }
    }
}

/// How the connection to an origin came out.
enum Transport {
    H2(SendRequest<Empty<Bytes>>, Option<std::net::SocketAddr>),
    /// The TLS server chose HTTP/1.1 by ALPN: the upgrade runs on this stream.
    /// (Boxed: a TLS stream is large, and this is the rare case.)
    Http11(
        Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
        Option<std::net::SocketAddr>,
    ),
}

fn h2_error(e: &hyper::Error) -> Error {
    Error::Io(std::io::Error::other(format!("HTTP/2: {e}")))
}

/// A WebSocket opened by [`open`], for the client to start.
pub(super) enum Opened {
    /// An extended CONNECT stream of the origin's HTTP/2 connection. (Both boxed: a
    /// `WebSocket` is large, and this is a connect, not a message.)
    H2(Box<Upgraded>, http::Response<()>, Option<SocketAddr>),
    /// The TLS server chose HTTP/1.1 by ALPN: an HTTP/1.1 upgrade on that stream.
    Http11(Box<Tls>, http::Response<()>, Option<SocketAddr>),
}

/// A WebSocket over an HTTP/2 stream.
pub(super) type Upgraded = WebSocket<TokioIo<hyper::upgrade::Upgraded>>;

/// A WebSocket over TLS, upgraded over HTTP/1.1.
pub(super) type Tls = WebSocket<tokio_rustls::client::TlsStream<TcpStream>>;

/// Opens a WebSocket to `target` over HTTP/2 (or HTTP/1.1 when ALPN says so): on the
/// origin's connection in `pool`, or on a new one over `tcp` (a connect not started yet:
/// awaited only when a connection must be made) with `tls` for `wss://` (the default client
/// configuration when `None`).
pub(super) async fn open(
    pool: &Arc<Pool>,
    tls: Option<&Arc<rustls::ClientConfig>>,
    tcp: impl Future<Output = Result<TcpStream, Error>>,
    target: &Target,
    headers: &http::HeaderMap,
    options: &ClientOptions,
    ws_config: WebSocketConfig,
) -> Result<Opened, Error> {
    let (mut sender, remote) = match transport(pool, tls, tcp, target).await? {
        Transport::H2(sender, remote) => (sender, remote),
        Transport::Http11(stream, remote) => {
            let (ws, response) =
                client_handshake(*stream, target, headers, options, ws_config).await?;
            return Ok(Opened::Http11(Box::new(ws), response, remote));
        }
    };
    let (handshake, request) = ClientHandshake::extended_connect(target, headers, options);
    let (mut parts, ()) = request.into_parts();
    // RFC 8441 §4: the :protocol pseudo-header, as hyper carries it.
    parts
        .extensions
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let request = http::Request::from_parts(parts, Empty::<Bytes>::new());
    sender.ready().await.map_err(|e| h2_error(&e))?;
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| h2_error(&e))?;
    let mut head = http::Response::new(());
    *head.status_mut() = response.status();
    *head.version_mut() = response.version();
    *head.headers_mut() = response.headers().clone();
    let negotiated = handshake.validate_extended_connect(&head)?;
    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(|e| h2_error(&e))?;
    let ws = WebSocket::from_raw(
        TokioIo::new(upgraded),
        Role::Client,
        ws_config,
        &[],
        negotiated.extension,
        negotiated.subprotocol,
    );
    Ok(Opened::H2(Box::new(ws), negotiated.response, remote))
}

/// The HTTP/2 connection to `target`'s origin: the open one, the one a connect in progress
/// makes, or a new one over `tcp`.
async fn transport(
    pool: &Arc<Pool>,
    tls: Option<&Arc<rustls::ClientConfig>>,
    tcp: impl Future<Output = Result<TcpStream, Error>>,
    target: &Target,
) -> Result<Transport, Error> {
    let origin = (target.secure, target.host.clone(), target.port);
    let connecting = loop {
        match pool.claim(&origin) {
            // The peer address is the connection's; it is not kept per origin.
            Claim::Open(sender) => return Ok(Transport::H2(sender, None)),
            Claim::Wait(mut done) => {
                // Ends (with an error: the sender is gone) when that connect ends.
                let _ = done.changed().await;
            }
            Claim::Connect(connecting) => break connecting,
        }
    };
    let tcp = tcp.await?;
    let remote = tcp.peer_addr().ok();
    let sender = if target.secure {
        let mut tls = match tls {
            Some(tls) => (**tls).clone(),
            None => (*crate::tls::default_client_config()?).clone(),
        };
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| TlsError::InvalidServerName(target.host.clone()))?;
        let addr = format!("{}:{}", target.host, target.port);
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(name, tcp)
            .await
            .map_err(|e| TlsError::from_handshake(addr, e))?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Ok(Transport::Http11(Box::new(stream), remote));
        }
        handshake(TokioIo::new(stream)).await?
    } else {
        // ws:// over HTTP/2 is prior knowledge (RFC 9113 §3.3): there is no upgrade to it.
        handshake(TokioIo::new(tcp)).await?
    };
    connecting.open(sender.clone());
    Ok(Transport::H2(sender, remote))
}

/// The HTTP/2 client handshake; the connection is driven by its own task.
async fn handshake<I>(io: I) -> Result<SendRequest<Empty<Bytes>>, Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(io)
        .await
        .map_err(|e| {
            Error::Handshake(HandshakeError::MalformedHttp(format!(
                "HTTP/2 connection failed: {e}"
            )))
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("HTTP/2 connection ended: {e}");
        }
    });
    Ok(sender)
}
