//! A socket's core, shared by its handles and the manager's task: its state (id, connected,
//! recovery fields, the send and receive buffers), its handlers (type-erased: the manager's
//! task calls them without knowing the `Socket` handle, which they rebuild), its pending
//! acknowledgements, and the status [`Socket::connect`](super::Socket::connect) waits on.

use super::error::{AckError, ConnectError};
use super::reason::DisconnectReason;
use crate::Args;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::{oneshot, watch};

/// An event handler: the arguments and the ack id the server asked for.
pub(crate) type EventFn =
    std::sync::Arc<dyn Fn(Args, Option<u64>) -> BoxFuture<'static, ()> + Send + Sync>;
/// An `on_any` handler: the event's name and arguments.
pub(crate) type AnyFn =
    std::sync::Arc<dyn Fn(String, Args) -> BoxFuture<'static, ()> + Send + Sync>;
/// An `on_connect` handler.
pub(crate) type ConnectFn = std::sync::Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;
/// An `on_disconnect` handler.
pub(crate) type DisconnectFn =
    std::sync::Arc<dyn Fn(DisconnectReason) -> BoxFuture<'static, ()> + Send + Sync>;
/// An `on_connect_error` handler.
pub(crate) type ErrorFn =
    std::sync::Arc<dyn Fn(ConnectError) -> BoxFuture<'static, ()> + Send + Sync>;

/// A socket's handlers.
#[derive(Default)]
pub(crate) struct Handlers {
    pub events: HashMap<String, EventFn>,
    pub any: Vec<AnyFn>,
    pub connect: Option<ConnectFn>,
    pub disconnect: Option<DisconnectFn>,
    pub connect_error: Option<ErrorFn>,
}

/// Where a socket is, for `Socket::connect`'s wait.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    Idle,
    Connected,
    Failed(ConnectError),
    Disconnected,
}

/// A packet a socket sends.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Event {
        name: String,
        args: Args,
        ack: Option<u64>,
    },
    Ack {
        id: u64,
        args: Args,
    },
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
    pub received: Vec<(String, Args, Option<u64>)>,
}

/// A socket's core.
pub(crate) struct Core {
    pub namespace: String,
    pub state: Mutex<State>,
    pub handlers: Mutex<Handlers>,
    pub acks: Mutex<AckTable>,
    /// A change counter and the latest status.
    pub status: watch::Sender<(u64, Status)>,
}

impl Core {
    pub fn new(namespace: String) -> Self {
        Self {
            namespace,
            state: Mutex::default(),
            handlers: Mutex::default(),
            acks: Mutex::default(),
            status: watch::Sender::new((0, Status::Idle)),
        }
    }

    /// Sets the status `Socket::connect` waits on.
    pub fn set_status(&self, status: Status) {
        self.status.send_modify(|(seq, now)| {
            *seq += 1;
            *now = status;
        });
    }
}

/// Locks, through a poisoned lock (a panicking handler must not wedge the client).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
