//! [`Socket`]: one namespace of a manager's connection (socket.io-client's `Socket`):
//! handlers, emits (buffered while disconnected), acknowledgements, and its state.
//! [`Socket::manager`] is in `manager.rs`, which knows sockets (this file does not know
//! managers).

use super::ack::{self, AckFuture, AckSender};
use super::error::{AckError, ClientError, ConnectError, EmitError};
use super::options::ClientOptions;
use super::reason::DisconnectReason;
use super::shared::{Command, Link};
use super::socket_core::{Core, Outgoing, Status, lock};
use crate::packet::socket::RESERVED_EVENTS;
use crate::{Args, FromArgs};
use serde::Serialize;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// One namespace on a [`Manager`](super::Manager)'s connection; cheap to clone (clones are the
/// same socket).
///
/// Register handlers before [`Self::connect`] so that nothing the server sends on connection
/// is missed. Handlers run on the manager's task, started in arrival order: each runs to its
/// first `.await` before the next event is handled (as in Node, where a listener runs to its
/// first `await`); one that waits (for an ack, a database) does not hold the next event.
///
/// A connected socket keeps its connection (and the task) alive until [`Self::disconnect`]
/// or [`Manager::close`](super::Manager::close), even when every handle is dropped, as in the
/// official client.
#[derive(Clone)]
pub struct Socket {
    pub(crate) core: Arc<Core>,
    pub(crate) link: Arc<Link>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("namespace", &self.core.namespace)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Socket {
    /// The namespace (`/`, `/admin`...).
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.core.namespace
    }

    fn options(&self) -> &ClientOptions {
        &self.link.shared.ctx.options
    }

    /// The core and the link, for a handler to rebuild this socket (weakly: the core holds
    /// its handlers).
    fn parts(&self) -> (Weak<Core>, Arc<Link>) {
        (Arc::downgrade(&self.core), self.link.clone())
    }

    /// The id the server gave this socket, while connected.
    #[must_use]
    pub fn id(&self) -> Option<String> {
        lock(&self.core.state).id.clone()
    }

    /// Whether the socket is connected to its namespace.
    #[must_use]
    pub fn connected(&self) -> bool {
        lock(&self.core.state).connected
    }

    /// Whether the server restored this socket's session on its last connection (connection
    /// state recovery): same id, rooms, and the packets missed meanwhile delivered.
    #[must_use]
    pub fn recovered(&self) -> bool {
        lock(&self.core.state).recovered
    }

    /// Whether the socket is connected or trying to be (socket.io-client's `active`).
    #[must_use]
    pub fn active(&self) -> bool {
        lock(&self.core.state).active
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
        let mut status = self.core.status.subscribe();
        let baseline = status.borrow_and_update().0;
        if self.connected() {
            return Ok(());
        }
        self.command(Command::Connect(self.core.clone()))
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
        tokio::time::timeout(self.options().timeout, wait)
            .await
            .map_err(|_| {
                ConnectError::Client(ClientError::Timeout("connecting to the namespace"))
            })?
    }

    /// Disconnects from the namespace (a DISCONNECT packet when connected); the manager
    /// closes its connection once no socket uses it. No reconnection follows.
    pub fn disconnect(&self) {
        let _ = self.command(Command::Disconnect(self.core.clone()));
    }

    fn command(&self, command: Command) -> Result<(), EmitError> {
        self.link.command(command)
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
        let (core, link) = self.parts();
        let f: super::socket_core::EventFn = Arc::new(move |args: Args, id| {
            let Some(core) = core.upgrade() else {
                return Box::pin(std::future::ready(()));
            };
            match args.parse::<T>() {
                Ok(args) => {
                    let ack = AckSender::new(core.clone(), link.clone(), id);
                    let socket = Socket {
                        core,
                        link: link.clone(),
                    };
                    Box::pin(handler(socket, args, ack))
                }
                Err(err) => {
                    tracing::debug!("wsx-sio client: arguments of {name:?} do not fit: {err}");
                    Box::pin(std::future::ready(()))
                }
            }
        });
        lock(&self.core.handlers).events.insert(event, f);
    }

    /// Removes event `event`'s handler.
    pub fn off(&self, event: &str) {
        lock(&self.core.handlers).events.remove(event);
    }

    /// Adds a handler called for every event, before the event's own handler, with the
    /// event's name (socket.io-client's `onAny`).
    pub fn on_any<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, String, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (core, link) = self.parts();
        let f: super::socket_core::AnyFn = Arc::new(move |event, args| match core.upgrade() {
            Some(core) => Box::pin(handler(
                Socket {
                    core,
                    link: link.clone(),
                },
                event,
                args,
            )),
            None => Box::pin(std::future::ready(())),
        });
        lock(&self.core.handlers).any.push(f);
    }

    /// Called on every connection to the namespace (the first and each reconnection).
    pub fn on_connect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (core, link) = self.parts();
        lock(&self.core.handlers).connect = Some(Arc::new(move || match core.upgrade() {
            Some(core) => Box::pin(handler(Socket {
                core,
                link: link.clone(),
            })),
            None => Box::pin(std::future::ready(())),
        }));
    }

    /// Called when the socket disconnects, with the reason.
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (core, link) = self.parts();
        lock(&self.core.handlers).disconnect = Some(Arc::new(move |reason| match core.upgrade() {
            Some(core) => Box::pin(handler(
                Socket {
                    core,
                    link: link.clone(),
                },
                reason,
            )),
            None => Box::pin(std::future::ready(())),
        }));
    }

    /// Called when a connection attempt fails: the server refused the namespace, or the
    /// connection could not be opened (socket.io-client's `connect_error`).
    pub fn on_connect_error<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, ConnectError) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (core, link) = self.parts();
        lock(&self.core.handlers).connect_error = Some(Arc::new(move |err| match core.upgrade() {
            Some(core) => Box::pin(handler(
                Socket {
                    core,
                    link: link.clone(),
                },
                err,
            )),
            None => Box::pin(std::future::ready(())),
        }));
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
            Ok(args) => self.emit_args_with_ack(event, args, self.options().ack_timeout),
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
        let (id, rx) = lock(&self.core.acks).register();
        if let Err(err) = self.emit_packet(event, args, Some(id), false) {
            lock(&self.core.acks).forget(id);
            return AckFuture::new(std::future::ready(Err(err.into())));
        }
        let socket = self.clone();
        AckFuture::new(async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    lock(&socket.core.acks).forget(id);
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
            core: self.core.clone(),
            packet: Outgoing::Event {
                name: event.to_owned(),
                args,
                ack,
            },
            volatile,
        })
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
