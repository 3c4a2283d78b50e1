//! What a manager's handles and its task share: the connection's context, the manager's
//! event callbacks, what it reports (transport, session id), the sockets handed out, and the
//! [`Link`] handles send their [`Command`]s through.

use super::engine::Context;
use super::error::{ClientError, EmitError};
use super::socket_core::{Core, Outgoing};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::mpsc::UnboundedSender;

/// What sockets and the manager ask of the task.
pub(crate) enum Command {
    Connect(Arc<Core>),
    Disconnect(Arc<Core>),
    Emit {
        core: Arc<Core>,
        packet: Outgoing,
        volatile: bool,
    },
    Close,
}

type Hook<F> = Vec<Arc<F>>;

/// The manager's event callbacks.
#[derive(Default)]
pub(crate) struct Hooks {
    pub reconnect_attempt: Hook<dyn Fn(u32) + Send + Sync>,
    pub reconnect: Hook<dyn Fn(u32) + Send + Sync>,
    pub reconnect_error: Hook<dyn Fn(&ClientError) + Send + Sync>,
    pub reconnect_failed: Hook<dyn Fn() + Send + Sync>,
    pub ping: Hook<dyn Fn() + Send + Sync>,
}

/// Shared by the handles and the task (which holds no command sender, so that it ends once
/// every handle is gone).
pub(crate) struct Shared {
    pub ctx: Arc<Context>,
    pub hooks: Mutex<Hooks>,
    pub transport: Mutex<Option<&'static str>>,
    pub engine_id: Mutex<Option<String>>,
    /// The sockets handed out, by namespace (weak: the task holds the active ones).
    pub sockets: Mutex<HashMap<String, Weak<Core>>>,
}

impl Shared {
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx: Arc::new(ctx),
            hooks: Mutex::default(),
            transport: Mutex::default(),
            engine_id: Mutex::default(),
            sockets: Mutex::default(),
        }
    }
}

/// What every handle (manager, socket, ack sender) holds: the shared part and the way to the
/// task.
pub(crate) struct Link {
    pub shared: Arc<Shared>,
    pub commands: UnboundedSender<Command>,
}

impl Link {
    /// Sends a command to the task.
    pub fn command(&self, command: Command) -> Result<(), EmitError> {
        self.commands.send(command).map_err(|_| EmitError::Closed)
    }
}
