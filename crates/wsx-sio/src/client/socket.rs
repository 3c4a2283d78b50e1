//! [`Socket`]: one namespace of a [`Manager`]'s connection (socket.io-client's `Socket`):
//! handlers, emits (buffered while disconnected), acknowledgements, and its state.

use super::ack::{self, AckFuture, AckSender, AckTable};
use super::driver::{Command, Outgoing};
use super::error::{AckError, ClientError, ConnectError, EmitError};
use super::manager::Manager;
use crate::packet::socket::RESERVED_EVENTS;
use crate::{Args, FromArgs};
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Why a socket disconnected: socket.io-client's reasons, with their strings
/// ([`Self::as_str`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server disconnected the socket (`socket.disconnect()` on the server); no
    /// reconnection follows.
    IoServerDisconnect,
    /// [`Socket::disconnect`] or [`Manager::close`] was called.
    IoClientDisconnect,
    /// The server sent no ping within `pingInterval + pingTimeout`.
    PingTimeout,
    /// The connection was closed (by the server, or the network).
    TransportClose,
    /// The connection failed (its text says how).
    TransportError(String),
    /// The server sent something that is not a Socket.IO packet.
    ParseError,
}

impl DisconnectReason {
    /// The reason's string in socket.io-client (`"io server disconnect"`, ...).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::IoServerDisconnect => "io server disconnect",
            Self::IoClientDisconnect => "io client disconnect",
            Self::PingTimeout => "ping timeout",
            Self::TransportClose => "transport close",
            Self::TransportError(_) => "transport error",
            Self::ParseError => "parse error",
        }
    }

    /// Whether the manager reconnects after it (only the client's and the server's explicit
    /// disconnects are final).
    #[must_use]
    pub fn reconnects(&self) -> bool {
        !matches!(self, Self::IoServerDisconnect | Self::IoClientDisconnect)
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TransportError(why) => write!(f, "transport error: {why}"),
            other => f.write_str(other.as_str()),
        }
    }
}

pub(crate) type EventFn =
    Arc<dyn Fn(Socket, Args, AckSender) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type AnyFn = Arc<dyn Fn(Socket, String, Args) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type ConnectFn = Arc<dyn Fn(Socket) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type DisconnectFn =
    Arc<dyn Fn(Socket, DisconnectReason) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type ErrorFn = Arc<dyn Fn(Socket, ConnectError) -> BoxFuture<'static, ()> + Send + Sync>;

/// A socket's handlers.
#[derive(Default)]
pub(crate) struct Handlers {
    pub events: HashMap<String, EventFn>,
    pub any: Vec<AnyFn>,
    pub connect: Option<ConnectFn>,
    pub disconnect: Option<DisconnectFn>,
    pub connect_error: Option<ErrorFn>,
}

/// Where a socket is, for [`Socket::connect`]'s wait.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    Idle,
    Connected,
    Failed(ConnectError),
    Disconnected,
}

/// A socket's connection state (the manager task writes it).
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The id the server gave (while connected).
    pub id: Option<String>,
    pub connected: bool,
    /// `connect` was called and neither side disconnected it since: the manager connects
    /// it on every (re)connection.
    pub active: bool,
    pub recovered: bool,
    /// Connection state recovery: the server's private session id and the offset of the
    /// last event received (socket.io-client's `_pid`, `_lastOffset`).
    pub pid: Option<String>,
    pub offset: Option<String>,
    /// Emits made while disconnected (socket.io-client's `sendBuffer`).
    pub buffer: Vec<Outgoing>,
    /// Events that arrived before the CONNECT answer (socket.io-client's `receiveBuffer`):
    /// a recovering server sends the missed packets first.
    pub received: Vec<(String, crate::Args, Option<u64>)>,
}

pub(crate) struct Inner {
    namespace: String,
    manager: Manager,
    pub state: Mutex<State>,
    pub handlers: Mutex<Handlers>,
    pub acks: Mutex<AckTable>,
    /// A change counter and the latest status.
    pub status: watch::Sender<(u64, Status)>,
}

/// One namespace on a [`Manager`]'s connection; cheap to clone (clones are the same socket).
///
/// Register handlers before [`Self::connect`] so that nothing the server sends on connection
/// is missed. Handlers run on the manager's task, started in arrival order: each runs to its
/// first `.await` before the next event is handled (as in Node, where a listener runs to its
/// first `await`); one that waits (for an ack, a database) does not hold the next event.
///
/// A connected socket keeps its connection (and the task) alive until [`Self::disconnect`]
/// or [`Manager::close`], even when every handle is dropped, as in the official client.
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<Inner>);

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("namespace", &self.0.namespace)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Socket {
    pub(crate) fn new(namespace: String, manager: Manager) -> Self {
        Self(Arc::new(Inner {
            namespace,
            manager,
            state: Mutex::default(),
            handlers: Mutex::default(),
            acks: Mutex::default(),
            status: watch::Sender::new((0, Status::Idle)),
        }))
    }

    /// The namespace (`/`, `/admin`...).
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.0.namespace
    }

    /// The manager whose connection this socket uses.
    #[must_use]
    pub fn manager(&self) -> &Manager {
        &self.0.manager
    }

    /// The id the server gave this socket, while connected.
    #[must_use]
    pub fn id(&self) -> Option<String> {
        lock(&self.0.state).id.clone()
    }

    /// Whether the socket is connected to its namespace.
    #[must_use]
    pub fn connected(&self) -> bool {
        lock(&self.0.state).connected
    }

    /// Whether the server restored this socket's session on its last connection (connection
    /// state recovery): same id, rooms, and the packets missed meanwhile delivered.
    #[must_use]
    pub fn recovered(&self) -> bool {
        lock(&self.0.state).recovered
    }

    /// Whether the socket is connected or trying to be (socket.io-client's `active`).
    #[must_use]
    pub fn active(&self) -> bool {
        lock(&self.0.state).active
    }

    /// Connects to the namespace, opening the manager's connection if needed, and waits for
    /// the server's answer (at most the `timeout` option).
    ///
    /// With reconnection on, a failure here is the first attempt's: the manager keeps trying
    /// in the background, as the official client does, until [`Self::disconnect`].
    ///
    /// # Errors
    /// [`ConnectError::Refused`] (the server's CONNECT_ERROR), [`ConnectError::Client`] for
    /// a connection that could not be opened, or a timeout.
    pub async fn connect(&self) -> Result<(), ConnectError> {
        let mut status = self.0.status.subscribe();
        let baseline = status.borrow_and_update().0;
        if self.connected() {
            return Ok(());
        }
        self.command(Command::Connect(self.clone()))
            .map_err(|_| ConnectError::Client(ClientError::Closed))?;
        let wait = async {
            loop {
                if status.changed().await.is_err() {
                    return Err(ConnectError::Client(ClientError::Closed));
                }
                let (seq, now) = status.borrow_and_update().clone();
                if seq <= baseline {
                    continue;
                }
                match now {
                    Status::Connected => return Ok(()),
                    Status::Failed(err) => return Err(err),
                    Status::Disconnected => return Err(ConnectError::Disconnected),
                    Status::Idle => {}
                }
            }
        };
        tokio::time::timeout(self.0.manager.options().timeout, wait)
            .await
            .map_err(|_| {
                ConnectError::Client(ClientError::Timeout("connecting to the namespace"))
            })?
    }

    /// Disconnects from the namespace (a DISCONNECT packet when connected); the manager
    /// closes its connection once no socket uses it. No reconnection follows.
    pub fn disconnect(&self) {
        let _ = self.command(Command::Disconnect(self.clone()));
    }

    fn command(&self, command: Command) -> Result<(), EmitError> {
        self.0.manager.command(command)
    }

    // ---- handlers -------------------------------------------------------------------------

    /// Handles event `event`; its arguments arrive as `T` ([`Args`] for them raw, binary
    /// included; any serde type otherwise, see [`FromArgs`]). Arguments that do not convert
    /// are dropped with a debug log. Replaces an earlier handler of the event.
    pub fn on<T, F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        T: FromArgs + Send + 'static,
        F: Fn(Socket, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_with_ack(event, move |socket, args, _ack| handler(socket, args));
    }

    /// Like [`Self::on`], with the [`AckSender`] that answers the server's acknowledgement
    /// request (its `emitWithAck`; a no-op when it asked for none).
    pub fn on_with_ack<T, F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        T: FromArgs + Send + 'static,
        F: Fn(Socket, T, AckSender) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let event = event.into();
        let name = event.clone();
        let f: EventFn = Arc::new(move |socket, args: Args, ack| match args.parse::<T>() {
            Ok(args) => Box::pin(handler(socket, args, ack)),
            Err(err) => {
                tracing::debug!("wsx-sio client: arguments of {name:?} do not fit: {err}");
                Box::pin(std::future::ready(()))
            }
        });
        lock(&self.0.handlers).events.insert(event, f);
    }

    /// Removes event `event`'s handler.
    pub fn off(&self, event: &str) {
        lock(&self.0.handlers).events.remove(event);
    }

    /// Adds a handler called for every event, before the event's own handler, with the
    /// event's name (socket.io-client's `onAny`).
    pub fn on_any<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, String, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f: AnyFn = Arc::new(move |socket, event, args| Box::pin(handler(socket, event, args)));
        lock(&self.0.handlers).any.push(f);
    }

    /// Called on every connection to the namespace (the first and each reconnection).
    pub fn on_connect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.0.handlers).connect = Some(Arc::new(move |s| Box::pin(handler(s))));
    }

    /// Called when the socket disconnects, with the reason.
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.0.handlers).disconnect = Some(Arc::new(move |s, r| Box::pin(handler(s, r))));
    }

    /// Called when a connection attempt fails: the server refused the namespace, or the
    /// connection could not be opened (socket.io-client's `connect_error`).
    pub fn on_connect_error<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, ConnectError) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.0.handlers).connect_error = Some(Arc::new(move |s, e| Box::pin(handler(s, e))));
    }

    // ---- emits ----------------------------------------------------------------------------

    /// Emits `event` with one argument (serde; a tuple or a `Vec` is one array argument: use
    /// [`Self::emit_args`] for several). While disconnected the packet waits in the send
    /// buffer and goes out on the next connection.
    ///
    /// # Errors
    /// [`EmitError`]: not JSON, a reserved name, or the client closed.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), EmitError> {
        self.emit_args(event, Args::one(data)?)
    }

    /// Emits `event` with any arguments, binary at any depth included.
    ///
    /// # Errors
    /// As [`Self::emit`].
    pub fn emit_args(&self, event: &str, args: Args) -> Result<(), EmitError> {
        self.emit_packet(event, args, None, false)
    }

    /// Emits `event` with one argument and waits for the server's acknowledgement, at most
    /// the `ack_timeout` option.
    pub fn emit_with_ack(&self, event: &str, data: &impl Serialize) -> AckFuture {
        match Args::one(data) {
            Ok(args) => self.emit_args_with_ack(event, args, self.0.manager.options().ack_timeout),
            Err(err) => AckFuture::new(std::future::ready(Err(EmitError::from(err).into()))),
        }
    }

    /// [`Self::emit_with_ack`] with the acknowledgement converted to `T`.
    pub fn emit_with_ack_as<T: FromArgs + Send + 'static>(
        &self,
        event: &str,
        data: &impl Serialize,
    ) -> AckFuture<T> {
        let waiting = self.emit_with_ack(event, data);
        AckFuture::new(async move { ack::parse(waiting.await?) })
    }

    /// Emits with any arguments and waits for the acknowledgement at most `timeout`. The
    /// packet is queued (or buffered) before this returns. A timed-out acknowledgement that
    /// arrives later is ignored.
    pub fn emit_args_with_ack(&self, event: &str, args: Args, timeout: Duration) -> AckFuture {
        let (id, rx) = lock(&self.0.acks).register();
        if let Err(err) = self.emit_packet(event, args, Some(id), false) {
            lock(&self.0.acks).forget(id);
            return AckFuture::new(std::future::ready(Err(err.into())));
        }
        let socket = self.clone();
        AckFuture::new(async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    lock(&socket.0.acks).forget(id);
                    Err(AckError::Timeout)
                }
            }
        })
    }

    /// Emits that are dropped, instead of buffered, while the socket is disconnected
    /// (socket.io-client's `socket.volatile.emit`).
    #[must_use]
    pub fn volatile(&self) -> Volatile<'_> {
        Volatile(self)
    }

    fn emit_packet(
        &self,
        event: &str,
        args: Args,
        ack: Option<u64>,
        volatile: bool,
    ) -> Result<(), EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::Reserved(event.to_owned()));
        }
        self.command(Command::Emit {
            socket: self.clone(),
            packet: Outgoing::Event {
                name: event.to_owned(),
                args,
                ack,
            },
            volatile,
        })
    }

    pub(crate) fn send_ack(&self, id: u64, args: Args) -> Result<(), EmitError> {
        self.command(Command::Emit {
            socket: self.clone(),
            packet: Outgoing::Ack { id, args },
            volatile: true,
        })
    }

    /// Sets the status [`Self::connect`] waits on.
    pub(crate) fn set_status(&self, status: Status) {
        self.0.status.send_modify(|(seq, now)| {
            *seq += 1;
            *now = status;
        });
    }
}

/// [`Socket::volatile`]'s emits.
#[derive(Debug, Clone, Copy)]
pub struct Volatile<'a>(&'a Socket);

impl Volatile<'_> {
    /// Emits one argument, or nothing while disconnected.
    ///
    /// # Errors
    /// As [`Socket::emit`].
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), EmitError> {
        self.emit_args(event, Args::one(data)?)
    }

    /// Emits any arguments, or nothing while disconnected.
    ///
    /// # Errors
    /// As [`Socket::emit`].
    pub fn emit_args(&self, event: &str, args: Args) -> Result<(), EmitError> {
        self.0.emit_packet(event, args, None, true)
    }
}
