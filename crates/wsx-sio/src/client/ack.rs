//! Acknowledgements both ways: what an `emit_with_ack` returns ([`AckFuture`]; the pending
//! ones are the socket core's `AckTable`) and the answer to a server's `emitWithAck`
//! ([`AckSender`]).

use super::error::{AckError, EmitError};
use super::shared::{Command, Link};
use super::socket_core::{Core, Outgoing};
use crate::{Args, FromArgs};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The acknowledgement of an [`emit_with_ack`](super::Socket::emit_with_ack): its arguments as `T`
/// (raw [`Args`] by default), or why there is none.
#[must_use = "the acknowledgement is only waited for when awaited"]
pub struct AckFuture<T = Args>(Pin<Box<dyn Future<Output = Result<T, AckError>> + Send>>);

impl<T> AckFuture<T> {
    pub(crate) fn new(future: impl Future<Output = Result<T, AckError>> + Send + 'static) -> Self {
        Self(Box::pin(future))
    }
}

impl<T> Future for AckFuture<T> {
    type Output = Result<T, AckError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<T> std::fmt::Debug for AckFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AckFuture")
    }
}

/// Answers a server's acknowledgement request (its `emitWithAck`). Sending consumes it: an
/// event is acknowledged at most once. Dropped unsent, the server gets no answer (its own
/// timeout decides).
pub struct AckSender {
    core: Arc<Core>,
    link: Arc<Link>,
    id: Option<u64>,
}

impl std::fmt::Debug for AckSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckSender")
            .field("namespace", &self.core.namespace)
            .field("id", &self.id)
            .finish()
    }
}

impl AckSender {
    pub(crate) fn new(core: Arc<Core>, link: Arc<Link>, id: Option<u64>) -> Self {
        Self { core, link, id }
    }

    /// Whether the server asked for an acknowledgement.
    #[must_use]
    pub fn requested(&self) -> bool {
        self.id.is_some()
    }

    /// Acknowledges with one argument.
    ///
    /// # Errors
    /// [`EmitError::Serialize`] when `data` is not representable as JSON,
    /// [`EmitError::Closed`] when the client is gone.
    pub fn send(self, data: &impl Serialize) -> Result<(), EmitError> {
        self.send_args(Args::one(data)?)
    }

    /// Acknowledges with any arguments, binary included (a no-op when none was asked for).
    ///
    /// # Errors
    /// [`EmitError::Closed`] when the client is gone.
    pub fn send_args(self, args: Args) -> Result<(), EmitError> {
        match self.id {
            // Dropped, not buffered, while disconnected: the server forgot the request.
            Some(id) => self.link.command(Command::Emit {
                core: self.core,
                packet: Outgoing::Ack { id, args },
                volatile: true,
            }),
            None => Ok(()),
        }
    }
}

/// Parses an acknowledgement into `T`.
pub(crate) fn parse<T: FromArgs>(args: Args) -> Result<T, AckError> {
    args.parse::<T>().map_err(AckError::Parse)
}
