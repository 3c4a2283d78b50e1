//! The outbound queue of a connection: what handlers and other tasks write waits here, bounded
//! by `Config::max_pending_bytes` in payload bytes, until the connection's task encodes it into
//! the socket's write buffer (right after its handlers ran, or when another task's write woke
//! it). Order is kept: one task takes items out, in the order they were queued.
#![forbid(unsafe_code)]

use super::window;
use super::{Conn, ReaderSignal};
use crate::error::Error;
use crate::proto::Message;
use crate::stream::WebSocket;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncRead, AsyncWrite};

/// An item of the outbound queue.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A message, with the payload bytes it holds in the queue's account.
    Message(Message, usize),
    /// A frame encoded once for many connections (broadcast), with its queue account.
    Frame(Bytes, usize),
    /// The rest of a frame whose start a broadcast wrote straight to the socket (`wire.rs`):
    /// it goes out next whatever it holds, with its queue account.
    Rest(Bytes, usize),
}

/// The queued items. A plain locked deque rather than a channel: it owns no memory until
/// something is queued (a channel preallocates a block per connection), and it is emptied
/// many items at a time.
pub(crate) type Queue = VecDeque<Outbound>;

impl Conn {
    pub(super) fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        crate::sync::lock(&self.shared.queue)
    }

    /// Puts an item on the outbound queue and wakes the connection's task (unless it is the
    /// task's own handler queueing: the task feeds the queue when the handler returns); gives
    /// it back once the connection is over.
    #[inline]
    pub(super) fn push(&self, item: Outbound) -> Result<(), Outbound> {
        if self.is_closed() {
            return Err(item);
        }
        self.queue().push_back(item);
        // After the push: the task that takes the flag then finds the item.
        if window::queueing(self) {
            self.shared.signal.raise(ReaderSignal::QUEUED);
        }
        Ok(())
    }

    /// The connection's task: encodes queued items into `ws`'s write buffer, in order, until it
    /// is full. Returns whether items are left (the buffer must be written out before they can
    /// go).
    pub(crate) fn feed_queued<S>(&self, ws: &mut WebSocket<S>) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut queue = self.queue();
        while let Some(item) = queue.pop_front() {
            if ws.write_buffer_full() {
                queue.push_front(item);
                return true;
            }
            let len = match item {
                Outbound::Message(message, len) => {
                    ws.encode(message);
                    len
                }
                Outbound::Frame(frame, len) => {
                    ws.encode_frame(frame);
                    len
                }
                Outbound::Rest(rest, len) => {
                    ws.encode_rest(rest);
                    len
                }
            };
            self.release(len);
        }
        // Let a burst's large buffer go once the queue is quiet again.
        if queue.capacity() > 64 {
            queue.shrink_to(8);
        }
        false
    }

    /// Takes `len` bytes of room in the queue, if they [`fit`](Self::fits).
    #[inline]
    pub(super) fn reserve(&self, len: usize) -> Result<(), Error> {
        // What this thread's handler wrote directly counts too (see `window.rs`).
        let direct = window::taken(self);
        self.shared
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                self.fits(q + direct, len).then_some(q + len)
            })
            .map(|_| ())
            .map_err(|queued| self.queue_full(queued + direct))
    }

    /// Whether `len` more payload bytes fit the queue's byte bound with `queued` bytes queued.
    /// A message larger than the whole bound still goes when nothing is queued, so a large
    /// message can always be sent eventually.
    #[inline]
    pub(super) fn fits(&self, queued: usize, len: usize) -> bool {
        queued == 0 || queued + len <= self.shared.max_pending
    }

    /// A write refused by the byte bound, with `queued` bytes queued.
    #[cold]
    pub(super) fn queue_full(&self, queued: usize) -> Error {
        crate::event::metrics::get().queue_full.increment(1);
        Error::QueueFull {
            queued,
            limit: self.shared.max_pending,
        }
    }

    /// Queues a control message from the connection's own machinery (keep-alive pings),
    /// outside the byte bound.
    pub(crate) fn enqueue_internal(&self, message: Message) {
        let _ = self.push(Outbound::Message(message, 0));
    }

    /// `len` bytes left the queue for the write buffer.
    #[inline]
    pub(crate) fn release(&self, len: usize) {
        if len > 0 {
            self.shared.queued.fetch_sub(len, Ordering::SeqCst);
            if self.shared.room_waiters.load(Ordering::SeqCst) > 0 {
                self.shared.room.notify_waiters();
            }
        }
    }
}

/// Uncounts a task waiting in [`Conn::send`] however it leaves (done, error, dropped).
pub(super) struct RoomWaiter<'a>(pub(super) &'a AtomicUsize);

impl Drop for RoomWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
