//! The manager's task: it owns the Engine.IO connection, turns the sockets' commands into
//! packets, dispatches the server's packets to the sockets' handlers, and reconnects, as
//! socket.io-client's `Manager` and `Socket` do together:
//!
//! - on every (re)connection each active socket sends CONNECT, with the server's `pid` and
//!   the last event's offset in the payload once the server gave a `pid` (connection state
//!   recovery, socket.io-client >= 4.6: `Object.assign({pid, offset}, auth)`); the answer's
//!   `pid` equal to the one sent means the session was recovered;
//! - emits made while disconnected wait in the socket's send buffer (volatile ones are
//!   dropped) and go out after the next CONNECT answer;
//! - a lost connection fails the acknowledgements of the events that went out, and is
//!   reopened after `min(delay * 2^n ± jitter, max)` ([`Backoff`]).
//!
//! Handlers are futures polled on this task: each new one is polled once at once, so it runs
//! to its first `.await` before the next packet is looked at (arrival order), and a panic in
//! one is caught and logged.
//!
//! This file: the loop, the sockets' commands, opening and reopening the connection, and
//! what goes out; `inbound.rs`: what comes in.

mod inbound;

use super::backoff::Backoff;
use super::engine::{self, Engine, EngineEvent, Outbound};
use super::error::{ClientError, ConnectError};
use super::options::Parser;
use super::reason::DisconnectReason;
use super::shared::{Command, Shared};
use super::socket_core::{Core, Outgoing, Status, lock};
use crate::packet::binary::Reassembly;
use crate::packet::msgpack;
use crate::packet::socket::{self as sio, Body, Packet};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// A binary packet waiting for its attachments.
type Partial = Reassembly<Packet>;

struct Driver {
    shared: Arc<Shared>,
    engine: Option<Engine>,
    opening: Option<BoxFuture<'static, Result<Engine, ClientError>>>,
    /// The open in progress (or scheduled) is a reconnection.
    reconnecting: bool,
    reconnect_at: Option<Instant>,
    backoff: Backoff,
    /// The active sockets (connected, or to connect on the next connection).
    sockets: HashMap<String, Arc<Core>>,
    partial: Option<Partial>,
    handlers: FuturesUnordered<BoxFuture<'static, ()>>,
}

enum Wake {
    Command(Option<Command>),
    Engine(Option<EngineEvent>),
    Opened(Result<Engine, ClientError>),
    Reconnect,
    Handler,
}

/// The task's loop; ends when every handle is gone and no socket is active.
pub(crate) async fn run(shared: Arc<Shared>, mut commands: UnboundedReceiver<Command>) {
    let options = &shared.ctx.options;
    let backoff = Backoff::new(
        options.reconnection_delay,
        options.reconnection_delay_max,
        options.randomization_factor,
    );
    let mut driver = Driver {
        shared: shared.clone(),
        engine: None,
        opening: None,
        reconnecting: false,
        reconnect_at: None,
        backoff,
        sockets: HashMap::new(),
        partial: None,
        handlers: FuturesUnordered::new(),
    };
    loop {
        let reconnect_at = driver.reconnect_at;
        let wake = tokio::select! {
            command = commands.recv() => Wake::Command(command),
            event = next_event(&mut driver.engine) => Wake::Engine(event),
            opened = poll_some(&mut driver.opening) => Wake::Opened(opened),
            () = sleep_until(reconnect_at), if reconnect_at.is_some() => Wake::Reconnect,
            Some(()) = driver.handlers.next(), if !driver.handlers.is_empty() => Wake::Handler,
        };
        match wake {
            Wake::Command(Some(command)) => driver.on_command(command),
            Wake::Command(None) => {
                // Every handle is gone (so no socket is active): let the handlers finish.
                driver.close_engine();
                while driver.handlers.next().await.is_some() {}
                return;
            }
            Wake::Engine(Some(event)) => driver.on_engine(event),
            Wake::Engine(None) => driver.on_closed(DisconnectReason::TransportClose),
            Wake::Opened(result) => {
                driver.opening = None;
                driver.on_opened(result);
            }
            Wake::Reconnect => driver.reconnect(),
            Wake::Handler => {}
        }
    }
}

/// Calls the manager's callbacks; a panic in one is caught and logged (it must not end the
/// manager's task).
pub(super) fn call_hooks<F: ?Sized>(hooks: &[Arc<F>], call: impl Fn(&F)) {
    for hook in hooks {
        if std::panic::catch_unwind(AssertUnwindSafe(|| call(hook))).is_err() {
            tracing::error!("wsx-sio client: a manager callback panicked");
        }
    }
}

async fn next_event(engine: &mut Option<Engine>) -> Option<EngineEvent> {
    match engine {
        Some(engine) => engine.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn poll_some<F: Future + Unpin>(future: &mut Option<F>) -> F::Output {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    fn options(&self) -> &super::options::ClientOptions {
        &self.shared.ctx.options
    }

    /// Starts a handler: polled once now (to its first `.await`), then with the others; a
    /// panic in it is caught and logged.
    fn spawn(&mut self, start: impl FnOnce() -> BoxFuture<'static, ()>) {
        // A handler's closure runs its code up to the `async` block when called: a panic
        // there is caught too, not only in the future.
        let Ok(future) = std::panic::catch_unwind(AssertUnwindSafe(start)) else {
            tracing::error!("wsx-sio client: a handler panicked");
            return;
        };
        let mut guarded: BoxFuture<'static, ()> =
            Box::pin(AssertUnwindSafe(future).catch_unwind().map(|outcome| {
                if outcome.is_err() {
                    tracing::error!("wsx-sio client: a handler panicked");
                }
            }));
        // Most handlers finish in their first poll (a counter, a channel send): those never
        // enter the set. One that waits joins it, and the set polls it again with the task's
        // waker (a pushed future is polled on the set's next turn), so the no-op waker of
        // this first poll loses no wake-up.
        if guarded.as_mut().now_or_never().is_none() {
            self.handlers.push(guarded);
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Connect(socket) => self.connect(socket),
            Command::Disconnect(socket) => self.disconnect(&socket),
            Command::Emit {
                core: socket,
                packet,
                volatile,
            } => {
                let mut state = lock(&socket.state);
                if state.connected && self.engine.is_some() {
                    drop(state);
                    self.write(&socket, packet);
                } else if !volatile {
                    // Also when not connecting: kept for when `connect` is called, as the
                    // official client's send buffer.
                    state.buffer.push(packet);
                }
            }
            Command::Close => {
                let sockets: Vec<Arc<Core>> = self.sockets.values().cloned().collect();
                for socket in sockets {
                    self.disconnect(&socket);
                }
                self.close_engine();
            }
        }
    }

    fn connect(&mut self, socket: Arc<Core>) {
        {
            let mut state = lock(&socket.state);
            if state.active {
                return;
            }
            state.active = true;
        }
        self.sockets
            .insert(socket.namespace.clone(), socket.clone());
        if self.engine.is_some() {
            self.send_connect(&socket);
        } else if self.opening.is_none() && self.reconnect_at.is_none() {
            self.open(false);
        }
    }

    fn disconnect(&mut self, socket: &Arc<Core>) {
        self.sockets.remove(&socket.namespace);
        let was_connected = {
            let mut state = lock(&socket.state);
            let was = state.connected;
            state.active = false;
            state.connected = false;
            state.id = None;
            was
        };
        if was_connected {
            self.write_packet(
                Packet::new(socket.namespace.clone(), Body::Disconnect),
                Vec::new(),
            );
            lock(&socket.acks).fail_all();
            self.fire_disconnect(socket, DisconnectReason::IoClientDisconnect);
        }
        socket.set_status(Status::Disconnected);
        if self.sockets.is_empty() {
            self.close_engine();
        }
    }

    /// Closes the connection on purpose: no reconnection.
    fn close_engine(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.close();
        }
        self.opening = None;
        self.reconnect_at = None;
        self.reconnecting = false;
        self.partial = None;
        self.backoff.reset();
        *lock(&self.shared.transport) = None;
        *lock(&self.shared.engine_id) = None;
    }

    fn open(&mut self, reconnecting: bool) {
        self.reconnecting = reconnecting;
        let ctx = self.shared.ctx.clone();
        self.opening = Some(Box::pin(async move { engine::open(&ctx).await }));
    }

    fn on_opened(&mut self, result: Result<Engine, ClientError>) {
        match result {
            Ok(engine) => {
                *lock(&self.shared.transport) = Some(match self.options().transports {
                    super::options::Transports::WebSocket => "websocket",
                    _ => "polling",
                });
                *lock(&self.shared.engine_id) = Some(engine.sid.clone());
                self.engine = Some(engine);
                if self.reconnecting {
                    let attempts = self.backoff.attempts();
                    self.reconnecting = false;
                    self.backoff.reset();
                    let hooks = lock(&self.shared.hooks).reconnect.clone();
                    call_hooks(&hooks, |f| f(attempts));
                }
                let sockets: Vec<Arc<Core>> = self.sockets.values().cloned().collect();
                for socket in &sockets {
                    self.send_connect(socket);
                }
            }
            Err(err) => {
                // Every failed attempt is a `connect_error` for the sockets (socket.io-client:
                // the manager's `error` reaches each socket), and a `reconnect_error` for
                // the manager when it was a reconnection.
                let sockets: Vec<Arc<Core>> = self.sockets.values().cloned().collect();
                // Without reconnection this was the only try: the sockets are inactive by the
                // time `connect` returns the error.
                if !self.reconnecting && !self.options().reconnection {
                    for socket in &sockets {
                        lock(&socket.state).active = false;
                    }
                    self.sockets.clear();
                }
                for socket in &sockets {
                    self.fire_connect_error(socket, ConnectError::Client(err.clone()));
                }
                if self.reconnecting {
                    let hooks = lock(&self.shared.hooks).reconnect_error.clone();
                    call_hooks(&hooks, |f| f(&err));
                }
                self.schedule_reconnect();
            }
        }
    }

    fn schedule_reconnect(&mut self) {
        if !self.options().reconnection || self.sockets.is_empty() {
            self.reconnecting = false;
            return;
        }
        if let Some(max) = self.options().reconnection_attempts
            && self.backoff.attempts() >= max
        {
            self.backoff.reset();
            self.reconnecting = false;
            let hooks = lock(&self.shared.hooks).reconnect_failed.clone();
            call_hooks(&hooks, |f| f());
            return;
        }
        let delay = self.backoff.next();
        self.reconnecting = true;
        self.reconnect_at = Some(Instant::now() + delay);
    }

    fn reconnect(&mut self) {
        self.reconnect_at = None;
        let attempt = self.backoff.attempts();
        let hooks = lock(&self.shared.hooks).reconnect_attempt.clone();
        call_hooks(&hooks, |f| f(attempt));
        self.open(true);
    }

    /// CONNECT for `socket`'s namespace, with the auth payload and, once the server gave a
    /// `pid`, the recovery fields.
    fn send_connect(&mut self, socket: &Arc<Core>) {
        let auth = self.options().auth.clone();
        let payload = {
            let state = lock(&socket.state);
            match &state.pid {
                Some(pid) => {
                    let mut map = Map::new();
                    map.insert("pid".into(), Value::String(pid.clone()));
                    if let Some(offset) = &state.offset {
                        map.insert("offset".into(), Value::String(offset.clone()));
                    }
                    map.extend(auth.unwrap_or_default());
                    Some(Value::Object(map))
                }
                None => auth.map(Value::Object),
            }
        };
        self.write_packet(
            Packet::new(socket.namespace.clone(), Body::Connect(payload)),
            Vec::new(),
        );
    }

    fn write(&mut self, socket: &Arc<Core>, packet: Outgoing) {
        let (body, attachments) = match packet {
            Outgoing::Event { name, args, ack } => {
                if let Some(id) = ack {
                    lock(&socket.acks).mark_sent(id);
                }
                let count = args.attachments.len();
                (
                    Body::Event {
                        name,
                        args: args.values,
                        ack,
                        attachments: (count > 0).then_some(count),
                    },
                    args.attachments,
                )
            }
            Outgoing::Ack { id, args } => {
                let count = args.attachments.len();
                (
                    Body::Ack {
                        id,
                        args: args.values,
                        attachments: (count > 0).then_some(count),
                    },
                    args.attachments,
                )
            }
        };
        self.write_packet(Packet::new(socket.namespace.clone(), body), attachments);
    }

    fn write_packet(&mut self, packet: Packet, attachments: Vec<bytes::Bytes>) {
        let Some(engine) = &self.engine else {
            return;
        };
        let out = match self.shared.ctx.options.parser {
            Parser::Json => {
                let mut text = String::from("4");
                sio::encode_into(&packet, &mut text);
                let mut out = Vec::with_capacity(1 + attachments.len());
                out.push(Outbound::Text(text));
                out.extend(attachments.into_iter().map(Outbound::Binary));
                out
            }
            // One binary message, binary values in place.
            Parser::MsgPack => vec![Outbound::Binary(
                msgpack::encode(&packet, &attachments).into(),
            )],
        };
        engine.send(out);
    }
}
