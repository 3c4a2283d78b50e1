//! Acknowledgements both ways: the client's pending `emit_with_ack`s ([`AckTable`],
//! [`AckFuture`]) and the answer to a server's `emitWithAck` ([`AckSender`]).

use super::error::{AckError, EmitError};
use super::socket::Socket;
use crate::{Args, FromArgs};
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// The acknowledgement of an [`emit_with_ack`](Socket::emit_with_ack): its arguments as `T`
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

struct Pending {
    reply: oneshot::Sender<Result<Args, AckError>>,
    /// The event went out on a connection (not only into the send buffer).
    sent: bool,
}

/// A socket's pending acknowledgements by id.
#[derive(Default)]
pub(crate) struct AckTable {
    next: u64,
    pending: HashMap<u64, Pending>,
}

impl AckTable {
    /// A new id and the receiver of its answer.
    pub fn register(&mut self) -> (u64, oneshot::Receiver<Result<Args, AckError>>) {
        let id = self.next;
        // socket.io-client counts from 0 upward; wrap well below 2^53 (the largest id a
        // server parses).
        self.next = (self.next + 1) % crate::packet::socket::MAX_ACK_ID;
        let (reply, rx) = oneshot::channel();
        self.pending.insert(id, Pending { reply, sent: false });
        (id, rx)
    }

    /// The event with ack `id` went out on a connection.
    pub fn mark_sent(&mut self, id: u64) {
        if let Some(pending) = self.pending.get_mut(&id) {
            pending.sent = true;
        }
    }

    /// Resolves ack `id` (an answer for an unknown or timed-out id is ignored, as
    /// socket.io-client does).
    pub fn resolve(&mut self, id: u64, args: Args) {
        if let Some(pending) = self.pending.remove(&id) {
            let _ = pending.reply.send(Ok(args));
        }
    }

    /// Forgets ack `id` (it timed out).
    pub fn forget(&mut self, id: u64) {
        self.pending.remove(&id);
    }

    /// The connection is lost: the acks of events that went out fail (socket.io-client's
    /// `_clearAcks`); those still in the send buffer wait for the next connection.
    pub fn fail_sent(&mut self) {
        let sent: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.sent)
            .map(|(id, _)| *id)
            .collect();
        for id in sent {
            if let Some(pending) = self.pending.remove(&id) {
                let _ = pending.reply.send(Err(AckError::Disconnected));
            }
        }
    }

    /// The socket is disconnected for good: every ack fails.
    pub fn fail_all(&mut self) {
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(AckError::Disconnected));
        }
    }
}

/// Answers a server's acknowledgement request (its `emitWithAck`). Sending consumes it: an
/// event is acknowledged at most once. Dropped unsent, the server gets no answer (its own
/// timeout decides).
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    id: Option<u64>,
}

impl AckSender {
    pub(crate) fn new(socket: Socket, id: Option<u64>) -> Self {
        Self { socket, id }
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
            Some(id) => self.socket.send_ack(id, args),
            None => Ok(()),
        }
    }
}

/// Parses an acknowledgement into `T`.
pub(crate) fn parse<T: FromArgs>(args: Args) -> Result<T, AckError> {
    args.parse::<T>().map_err(AckError::Parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acks_fail_on_disconnect_only_once_sent() {
        let mut table = AckTable::default();
        let (sent, sent_rx) = table.register();
        let (buffered, mut buffered_rx) = table.register();
        assert_eq!((sent, buffered), (0, 1));
        table.mark_sent(sent);
        table.fail_sent();
        assert!(matches!(sent_rx.await, Ok(Err(AckError::Disconnected))));
        assert!(buffered_rx.try_recv().is_err(), "a buffered ack is kept");
        table.resolve(buffered, Args::new().arg(1));
        assert_eq!(
            buffered_rx.await.ok().and_then(Result::ok),
            Some(Args::new().arg(1))
        );
        // Unknown ids are ignored.
        table.resolve(99, Args::new());
    }
}
