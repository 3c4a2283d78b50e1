//! How one connection runs its handlers: every job (an event's handlers, a CONNECT, a
//! disconnect) is started in arrival order on the connection's own task, and the jobs still
//! pending are polled together there (a `FuturesUnordered`), never on a task per event.
//!
//! As in Node, where a listener runs synchronously until its first `await` before the next
//! packet is handled:
//! - a job is started (polled once, in place) only after every job that arrived before it was
//!   started and ran to its first await (or to its end), so the emits a handler makes before
//!   its first await keep the order of the events that caused them;
//! - a handler that awaits (an acknowledgement from this very client, a database) does not
//!   hold the next events: they start at once, and their acks go out while it waits;
//! - a CONNECT holds the jobs behind it until it has answered (its middlewares may await):
//!   events of a socket never run before the socket exists; its connection handlers then
//!   run like any handler, and the events behind start at their first await (a handler
//!   registers its `socket.on` listeners before awaiting, as in Node);
//! - with [`crate::Config::sequential_handlers`], a job starts only once the one before it
//!   ended: strictly one at a time, the way this server ran handlers before.
//!
//! Starting a job in place (rather than pushing it into the set and letting the set poll it)
//! costs nothing for the common handler that never awaits: it ends in that first poll and
//! never enters the set (no allocation). One that awaits enters the set, which polls it
//! again once (a spurious wake-up: every future takes the waker of its latest poll). The set
//! exists only while a job is pending (`FuturesUnordered::new` allocates): an idle client
//! keeps none.
//!
//! A panic in a job is caught where the job is polled ([`crate::namespace::jobs::job`]); the
//! connection's task ends that connection only.

use crate::namespace::jobs::Job;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// A job and the bytes of the packet it holds (counted against `Config::max_buffered`).
struct Held {
    job: Job,
    bytes: usize,
}

impl Future for Held {
    type Output = (std::thread::Result<()>, usize);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let bytes = self.bytes;
        self.job.as_mut().poll(cx).map(|result| (result, bytes))
    }
}

/// The jobs waiting to start, in order: the next one inline, those behind it (packets that
/// arrive while a CONNECT answers, or while a sequential handler runs) in a queue that is let
/// go when it empties. A `VecDeque` alone keeps its room once emptied: 96 bytes for every
/// client that ever sent a packet, idle or not (`scripts/sio_bench.sh`'s idle clients).
#[derive(Default)]
struct Waiting {
    /// `None` only when `rest` is empty too.
    next: Option<Held>,
    rest: VecDeque<Held>,
}

impl Waiting {
    fn push_back(&mut self, held: Held) {
        if self.next.is_none() {
            self.next = Some(held);
        } else {
            self.rest.push_back(held);
        }
    }

    fn pop_front(&mut self) -> Option<Held> {
        let next = self.next.take();
        self.next = self.rest.pop_front();
        if self.rest.is_empty() && self.rest.capacity() > 0 {
            self.rest = VecDeque::new();
        }
        next
    }

    fn len(&self) -> usize {
        usize::from(self.next.is_some()) + self.rest.len()
    }

    fn is_empty(&self) -> bool {
        self.next.is_none()
    }
}

/// A handler panicked (the job is gone).
#[derive(Debug)]
pub(crate) struct Panicked;

/// The jobs of one connection: waiting to start, and started but pending.
#[derive(Default)]
pub(crate) struct Scheduler {
    waiting: Waiting,
    /// The started jobs still pending; `None` when there is none.
    running: Option<FuturesUnordered<Held>>,
    /// Bytes of the packets held by jobs (waiting and running).
    bytes: usize,
    /// One job at a time ([`crate::Config::sequential_handlers`]).
    sequential: bool,
}

impl Scheduler {
    pub(crate) fn new(sequential: bool) -> Self {
        Self {
            sequential,
            ..Self::default()
        }
    }

    /// Queues a job holding a packet of `bytes` bytes; it starts at the next
    /// [`Self::poll_next_done`].
    pub(crate) fn push(&mut self, job: Job, bytes: usize) {
        self.bytes += bytes;
        self.waiting.push_back(Held { job, bytes });
    }

    /// Jobs not ended (waiting or running).
    pub(crate) fn len(&self) -> usize {
        self.waiting.len() + self.running_len()
    }

    fn running_len(&self) -> usize {
        self.running.as_ref().map_or(0, FuturesUnordered::len)
    }

    /// Whether every job ended.
    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running_len() == 0
    }

    /// Bytes of the packets held by jobs not ended.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the next waiting job may start: a CONNECT that has not answered yet
    /// (`connecting`) holds every job behind it; in sequential mode, any running job does.
    fn may_start(&self, connecting: &AtomicBool) -> bool {
        let held =
            connecting.load(Ordering::Relaxed) || (self.sequential && self.running_len() > 0);
        !self.waiting.is_empty() && !held
    }

    /// Starts the jobs that may start, in order, and polls the running ones; ready when one
    /// ended (`Err` when it panicked), pending when none did. `connecting` is the flag a
    /// CONNECT job raises until it has answered ([`crate::namespace::jobs::connect_barrier`]).
    #[inline]
    pub(crate) fn poll_next_done(
        &mut self,
        cx: &mut Context<'_>,
        connecting: &AtomicBool,
    ) -> Poll<Result<(), Panicked>> {
        // Most wake-ups of the connection's task (a packet read, the outbox written) find no
        // job at all: they pay two checks, not the scheduling below.
        if self.waiting.is_empty() && self.running.is_none() {
            return Poll::Pending;
        }
        self.schedule(cx, connecting)
    }

    /// [`Self::poll_next_done`] with jobs waiting or running.
    fn schedule(
        &mut self,
        cx: &mut Context<'_>,
        connecting: &AtomicBool,
    ) -> Poll<Result<(), Panicked>> {
        loop {
            while self.may_start(connecting) {
                let Some(mut job) = self.waiting.pop_front() else {
                    break;
                };
                // Started in place: most handlers end here, without entering the set.
                match Pin::new(&mut job).poll(cx) {
                    Poll::Ready((result, bytes)) => return Poll::Ready(self.ended(result, bytes)),
                    Poll::Pending => self
                        .running
                        .get_or_insert_with(FuturesUnordered::new)
                        .push(job),
                }
            }
            let Some(running) = &mut self.running else {
                return Poll::Pending;
            };
            let polled = running.poll_next_unpin(cx);
            if running.is_empty() {
                self.running = None;
            }
            match polled {
                Poll::Ready(Some((result, bytes))) => {
                    return Poll::Ready(self.ended(result, bytes));
                }
                // A CONNECT may have answered in this poll: the jobs behind it start now.
                Poll::Ready(None) | Poll::Pending if self.may_start(connecting) => {}
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn ended(&mut self, result: std::thread::Result<()>, bytes: usize) -> Result<(), Panicked> {
        self.bytes -= bytes;
        result.map_err(|_| Panicked)
    }

    /// Runs every job to its end (the connection is closing), with the same ordering rules;
    /// a panic is logged and the other jobs go on.
    pub(crate) async fn drain(&mut self, connecting: &AtomicBool, sid: crate::sid::Sid) {
        std::future::poll_fn(|cx| {
            loop {
                if self.is_idle() {
                    return Poll::Ready(());
                }
                match self.poll_next_done(cx, connecting) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(Panicked)) => {
                        tracing::warn!(%sid, "a handler panicked while the connection closed");
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
    }
}
