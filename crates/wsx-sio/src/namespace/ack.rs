//! Acknowledgements in both directions.
//!
//! Client to server: an event with an ack id hands its handler an [`AckSender`]; sending on it
//! writes the ACK (or BINARY_ACK) packet. Server to client: [`super::Socket::emit_with_ack`]
//! registers a waiter under a fresh id; the client's ACK resolves it, a timeout or a
//! disconnect fails it ([`crate::AckError`]).

use super::socket::Socket;
use crate::args::Args;
use crate::error::AckError;
use crate::error::EmitError;
use crate::packet::socket::Body;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// The acknowledgement of an emitted event, to await: the client's arguments, or why they did
/// not come. The event is already queued when this exists; it holds no borrow (spawn it, or
/// await it later).
#[must_use = "the acknowledgement is only received when awaited"]
pub struct AckFuture<T = Args>(Pin<Box<dyn Future<Output = Result<T, AckError>> + Send>>);

impl<T> AckFuture<T> {
    pub(crate) fn new(future: impl Future<Output = Result<T, AckError>> + Send + 'static) -> Self {
        Self(Box::pin(future))
    }

    /// The boxed future inside (for the adapter's [`crate::adapter::AckWait`], unboxed once).
    pub(crate) fn into_inner(self) -> Pin<Box<dyn Future<Output = Result<T, AckError>> + Send>> {
        self.0
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

/// Answers an event that asked for an acknowledgement. Dropping it unanswered sends nothing
/// (the client's own timeout, if it set one, fires).
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    id: Option<u64>,
}

impl AckSender {
    pub(crate) fn new(socket: Socket, id: Option<u64>) -> Self {
        Self { socket, id }
    }

    /// Whether the client asked for an acknowledgement (otherwise sending does nothing).
    #[must_use]
    pub fn requested(&self) -> bool {
        self.id.is_some()
    }

    /// Acknowledges with one JSON argument.
    ///
    /// # Errors
    /// See [`Self::send_args`]; also a value that is not JSON.
    pub fn send(self, value: &impl Serialize) -> Result<(), EmitError> {
        self.send_args(Args::one(value)?)
    }

    /// Acknowledges with any arguments, binary included.
    ///
    /// # Errors
    /// The socket is disconnected or its queue is full.
    pub fn send_args(self, args: Args) -> Result<(), EmitError> {
        let Some(id) = self.id else {
            return Ok(());
        };
        let attachments = args.has_binary().then_some(args.attachments.len());
        self.socket.send_packet(
            Body::Ack {
                id,
                args: args.values,
                attachments,
            },
            &args.attachments,
        )
    }
}

/// Where the ack ids of broadcasts with acknowledgements start: 2^52. A socket's own ids
/// count from 0 below it, a namespace's broadcasts from it up to 2^53 - 1 (both wrap), so
/// one broadcast id can be registered on every receiver without meeting a socket's own.
pub(crate) const BROADCAST_ACK_IDS: u64 = 1 << 52;

/// A socket's acknowledgements awaited from the client.
#[derive(Debug, Default)]
pub(crate) struct PendingAcks {
    next: u64,
    waiting: HashMap<u64, oneshot::Sender<Args>>,
}

impl PendingAcks {
    /// Registers a waiter under a fresh id.
    pub(crate) fn register(&mut self) -> (u64, oneshot::Receiver<Args>) {
        let id = self.next;
        // A socket's own ids stay below BROADCAST_ACK_IDS (and so below 2^53, what
        // JavaScript clients can echo exactly); the ids above are its namespace's broadcasts'.
        self.next = (self.next + 1) % BROADCAST_ACK_IDS;
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id, tx);
        (id, rx)
    }

    /// Registers a waiter under an id a broadcast chose (the same for every receiver, so
    /// that the packet is encoded once); `None` if that id is taken.
    pub(crate) fn register_at(&mut self, id: u64) -> Option<oneshot::Receiver<Args>> {
        if self.waiting.contains_key(&id) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id, tx);
        Some(rx)
    }

    /// Resolves the waiter of `id`, if any is still waiting.
    pub(crate) fn resolve(&mut self, id: u64, args: Args) {
        if let Some(tx) = self.waiting.remove(&id) {
            let _ = tx.send(args);
            if self.waiting.is_empty() {
                // As in `forget`: an idle socket whose acks all came holds no table either
                // (84 bytes per idle client of the demo, whose `server-ask` is answered).
                self.waiting = HashMap::new();
            }
        }
    }

    /// Forgets a waiter (timed out).
    pub(crate) fn forget(&mut self, id: u64) {
        self.waiting.remove(&id);
        if self.waiting.is_empty() {
            // Let an idle socket hold no table.
            self.waiting = HashMap::new();
        }
    }

    /// Fails every waiter (the socket disconnected).
    pub(crate) fn fail_all(&mut self) {
        self.waiting = HashMap::new();
    }
}
