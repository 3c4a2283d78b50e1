//! The outbound queue of a connection: what handlers and other tasks write waits here, bounded
//! by `Config::max_pending_bytes` in payload bytes, until the writer task (or the reader task,
//! right after its handlers ran) feeds it to the socket. Order is kept: items are fed in the
//! order they were queued, by one task at a time.
#![forbid(unsafe_code)]

use super::Conn;
use crate::error::Error;
use crate::proto::Message;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A command for the writer task.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A message, with the payload bytes it holds in the queue's account.
    Message(Message, usize),
    /// A frame encoded once for many connections (broadcast), with its queue account.
    Frame(Bytes, usize),
}

/// The outbound queue and who is feeding it to the socket.
#[derive(Default)]
pub(crate) struct Queue {
    items: VecDeque<Outbound>,
    /// The writer task holds a taken batch it has not finished feeding: the reader must not
    /// feed newer items before it (order).
    writer_busy: bool,
}

/// The reader task is running handlers and will feed what they queue: no need to wake the
/// writer. An atomic beside the queue's lock rather than under it, so that starting a dispatch
/// takes no lock: it is set without the lock (before the handlers run, on the reader's own
/// task) and cleared under the lock in [`Conn::feed_queued`]; [`Conn::push`] reads it under the
/// lock, so a push that sees it set is followed by the reader's feed, which takes its item.
#[derive(Default)]
pub(crate) struct ReaderDispatching(AtomicBool);

impl Conn {
    pub(super) fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        crate::sync::lock(&self.shared.queue)
    }

    /// Puts an item on the outbound queue and wakes the writer (unless the reader task is
    /// dispatching and will feed it itself); gives it back once the connection is over.
    pub(super) fn push(&self, item: Outbound) -> Result<(), Outbound> {
        if self.is_closed() {
            return Err(item);
        }
        let mut queue = self.queue();
        queue.items.push_back(item);
        let reader_feeds = self.shared.reader_dispatching.0.load(Ordering::Acquire);
        drop(queue);
        if !reader_feeds {
            self.shared.wake_writer.notify_one();
        }
        Ok(())
    }

    /// Writer task: moves everything queued into `into` (reused between batches) and marks the
    /// writer busy until [`Self::writer_done`] when there was anything.
    pub(crate) fn take_queued(&self, into: &mut VecDeque<Outbound>) {
        let mut queue = self.queue();
        std::mem::swap(&mut queue.items, into);
        queue.writer_busy = !into.is_empty();
        // Let a burst's large buffer go once the queue is quiet again.
        if queue.items.capacity() > 64 && queue.items.is_empty() {
            queue.items.shrink_to(8);
        }
    }

    /// Writer task: the taken batch is fed.
    pub(crate) fn writer_done(&self) {
        self.queue().writer_busy = false;
    }

    /// Reader task: handlers are about to run; what they queue is left for the reader to feed
    /// ([`Self::feed_queued`] ends this) instead of waking the writer.
    pub(crate) fn start_dispatching(&self) {
        self.shared
            .reader_dispatching
            .0
            .store(true, Ordering::Release);
    }

    /// Reader task, after its handlers ran: ends dispatching and feeds queued items through
    /// `feed` in order, under the queue lock (so the writer cannot feed newer ones first),
    /// unless the writer is mid-batch. `feed` gives an item back when the write buffer is
    /// full; the writer is then woken to wait for room.
    pub(crate) fn feed_queued(&self, mut feed: impl FnMut(Outbound) -> Result<(), Outbound>) {
        let mut queue = self.queue();
        self.shared
            .reader_dispatching
            .0
            .store(false, Ordering::Release);
        if queue.writer_busy {
            return;
        }
        while let Some(item) = queue.items.pop_front() {
            if let Err(back) = feed(item) {
                queue.items.push_front(back);
                drop(queue);
                self.shared.wake_writer.notify_one();
                return;
            }
        }
    }

    /// Takes `len` bytes of room in the queue (a message larger than the whole bound still goes
    /// when the queue is empty, so a large message can always be sent eventually).
    pub(super) fn reserve(&self, len: usize) -> Result<(), Error> {
        let limit = self.shared.max_pending;
        self.shared
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                (q == 0 || q + len <= limit).then_some(q + len)
            })
            .map(|_| ())
            .map_err(|queued| {
                crate::metrics::get().queue_full.increment(1);
                Error::QueueFull { queued, limit }
            })
    }

    /// Queues a control message from the connection's own machinery (keep-alive pings),
    /// outside the byte bound.
    pub(crate) fn enqueue_internal(&self, message: Message) {
        let _ = self.push(Outbound::Message(message, 0));
    }

    /// The writer took `len` bytes out of the queue.
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
