//! A connection's outbound queue: every socket of the connection, every broadcast and every
//! task pushes encoded frames here, and the connection's task writes them out in order.
//!
//! A mutex-guarded `VecDeque` rather than a channel: an idle connection's queue owns no
//! memory (the connection takes the whole queue on each wake-up), and a packet's frames (its
//! text and its attachments) are pushed together, so packets never interleave. The queue is
//! bounded in bytes, in the spirit of uWebSockets' DROPPED: a peer that does not read cannot
//! make the server buffer without limit.

use super::reason::DisconnectReason;
use super::socket::Socket;
use crate::engine::transport::Frame;
use crate::error::EmitError;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// What the connection's task takes from the queue.
#[derive(Debug)]
pub(crate) enum Item {
    /// A frame to write.
    Frame(Frame),
    /// A socket of this connection was disconnected from another task: run its disconnect
    /// handlers, in order with the other work of the connection.
    Disconnected(Socket, DisconnectReason),
    /// Close the connection.
    Close(DisconnectReason),
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Item>,
    bytes: usize,
    closed: bool,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    limit: usize,
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update under the lock is complete: a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues the frames of one packet, all or none.
    pub(crate) fn push(&self, frames: impl IntoIterator<Item = Frame>) -> Result<(), EmitError> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(EmitError::Disconnected);
            }
            if state.bytes > self.limit {
                return Err(EmitError::QueueFull {
                    queued: state.bytes,
                    limit: self.limit,
                });
            }
            for frame in frames {
                state.bytes += frame.len();
                state.queue.push_back(Item::Frame(frame));
            }
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Queues the frames of a volatile packet (Node's `volatile` flag) only if nothing is
    /// waiting to be written: a client whose queue is not empty is slow (or being written
    /// to), and a volatile packet is worth sending only at once. Returns whether it was
    /// queued.
    pub(crate) fn push_volatile(&self, frames: impl IntoIterator<Item = Frame>) -> bool {
        {
            let mut state = self.lock();
            if state.closed || !state.queue.is_empty() {
                return false;
            }
            for frame in frames {
                state.bytes += frame.len();
                state.queue.push_back(Item::Frame(frame));
            }
        }
        self.notify.notify_one();
        true
    }

    /// Queues a control item (ignored once closed).
    pub(crate) fn control(&self, item: Item) {
        {
            let mut state = self.lock();
            if state.closed {
                return;
            }
            state.queue.push_back(item);
        }
        self.notify.notify_one();
    }

    /// Takes everything queued.
    pub(crate) fn take(&self) -> VecDeque<Item> {
        let mut state = self.lock();
        state.bytes = 0;
        std::mem::take(&mut state.queue)
    }

    /// Refuses further frames; returns what was queued.
    pub(crate) fn close(&self) -> VecDeque<Item> {
        let mut state = self.lock();
        state.closed = true;
        state.bytes = 0;
        std::mem::take(&mut state.queue)
    }

    /// Whether [`Self::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Waits until something was queued (a wake-up that came while nobody waited is kept).
    pub(crate) async fn notified(&self) {
        self.notify.notified().await;
    }
}
