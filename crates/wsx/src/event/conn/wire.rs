//! The direct path of a broadcast: a frame encoded once for many connections is written
//! straight to the socket of every connection that is idle (nothing queued, nothing in its
//! write buffer, its task not running), by the broadcasting thread, with one `send` each; only
//! what the socket does not take waits in the queue for the connection's task. uWebSockets
//! does the same (its `send` buffers only under backpressure).
//!
//! Why: a queued frame costs a wake-up of the connection's task per recipient, the task's
//! poll, the queue's feed and the write. Measured on `examples/fanout` (1,000 clients, 64-byte
//! frames, `scripts/bench_fanout_instr.sh`): 1,330 user-space instructions per delivery queued,
//! 176 written directly; system calls per delivery 1.063 and 1.041 (`sendto` 1.003 both ways:
//! the current-thread runtime wakes a task without one, but its extra `epoll_wait` went).
//!
//! The rules that keep every connection's byte stream whole and its order intact:
//! - **Who writes.** A connection's socket is written by its task, or by a broadcaster holding
//!   the connection's queue lock while [`IDLE`] is set. The task clears `IDLE` first thing
//!   whenever it is polled ([`Conn::wire_enter`]) and sets it again only when it returns
//!   `Pending` with an empty write buffer ([`Conn::wire_idle`]), so the two never write at
//!   once: a broadcaster marks its write [`DIRECT`] (under the lock), and a task that finds
//!   `DIRECT` set waits for the lock before it writes anything.
//! - **Order.** A broadcaster writes directly only when the queue is empty (under its lock) and
//!   `IDLE` says the write buffer is empty: nothing older waits anywhere, so the frame
//!   overtakes nothing. A frame the socket takes in part leaves its rest at the head of the
//!   queue and raises [`REST`]: `IDLE` is off from then on (later broadcasts queue behind the
//!   rest), and the task, which finds its write buffer empty when it is next polled, encodes
//!   the rest first, before anything else can reach the buffer.
//! - **The close frame stays last.** `IDLE` is set only while the connection may send a data
//!   message (RFC 6455 §5.5.1: none after our close frame; `Protocol::can_send`, the check of
//!   issue 29) and `close` was not called; a close queued by another task makes the queue
//!   non-empty, and everything after it queues behind it (and is refused there).
//! - **Only where broadcasts go.** A connection's task offers its socket only once a
//!   broadcast has reached it ([`ARMED`]; that first broadcast queues): a request-response
//!   server's connections pay one load per poll for all this.
//! - **The descriptor.** The raw descriptor is used only under the queue lock with `IDLE`
//!   set; `IDLE` is cleared (under the lock when a write is in flight) before the task can
//!   drop its socket: at every poll, and when the task's future is dropped unpolled
//!   ([`Conn::wire_off`]). So a descriptor is never written after it was closed (and perhaps
//!   reused by another connection).
//!
//! Only plain TCP server connections without an extension take this path (the frame needs no
//! mask, no compression context, no TLS record); TLS and hyper-upgraded connections queue as
//! before. Linux and Android only (`MSG_NOSIGNAL`); elsewhere every broadcast queues.
#![deny(unsafe_code)]

use super::{Conn, Outbound, ReaderSignal};
pub(crate) use crate::stream::raw_socket::RawSocket;
use crate::stream::raw_socket::send;
use bytes::Bytes;
use std::sync::atomic::{AtomicU8, Ordering};

/// The connection's task is parked with an empty write buffer and may be written for.
const IDLE: u8 = 1;
/// A broadcaster is writing to the socket now (it holds the queue lock).
const DIRECT: u8 = 2;
/// The rest of a frame the socket took in part waits at the head of the queue.
const REST: u8 = 4;
/// A broadcast has reached this connection: from now on its task offers the socket when it
/// parks. Connections no broadcast reaches (a request-response server's) skip that
/// bookkeeping: it cost about 40 instructions per echoed message (callgrind,
/// `scripts/bench_instr.sh`, 16 B x 64 connections).
const ARMED: u8 = 8;

/// A connection's state for direct writes, in its [`super::Shared`].
pub(crate) struct Wire {
    state: AtomicU8,
    /// The socket, when broadcasts may write to it.
    socket: Option<RawSocket>,
}

impl Wire {
    pub(crate) fn new(socket: Option<RawSocket>) -> Self {
        Self {
            state: AtomicU8::new(0),
            socket,
        }
    }
}

/// What became of a frame offered to the socket.
pub(crate) enum Sent {
    /// On the wire, or its rest queued behind nothing.
    Written,
    /// Not tried (the connection is not idle, something is queued): queue it.
    Queue,
}

impl Conn {
    /// A broadcaster: writes `frame` (encoded for many connections) straight to the socket if
    /// the connection is idle and nothing is queued (module docs).
    #[inline]
    pub(crate) fn try_send_socket(&self, frame: &Bytes) -> Sent {
        let wire = &self.shared.wire;
        let Some(socket) = wire.socket else {
            return Sent::Queue;
        };
        let state = wire.state.load(Ordering::Relaxed);
        if state != ARMED | IDLE {
            if state & ARMED == 0 {
                wire.state.fetch_or(ARMED, Ordering::Relaxed);
            }
            return Sent::Queue;
        }
        let mut queue = self.queue();
        if !queue.is_empty()
            || wire
                .state
                .compare_exchange(
                    ARMED | IDLE,
                    ARMED | IDLE | DIRECT,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return Sent::Queue;
        }
        // An error takes nothing (full, or failed: the task meets the error on its own write).
        #[allow(unsafe_code)]
        // SAFETY: `socket` is the descriptor of the connection's open TCP stream: it is used
        // only under the queue lock with `IDLE` set, and the task clears `IDLE` (waiting for
        // the lock when a write is in flight) before it can drop the stream (module docs).
        let written = unsafe { send(socket, frame) }.unwrap_or_default();
        if written == frame.len() {
            wire.state.fetch_and(!DIRECT, Ordering::Release);
            return Sent::Written;
        }
        // The rest goes first when the task runs; outside the byte bound, like a frame fed
        // into the write buffer (it is on its way already).
        let rest = frame.slice(written..);
        let len = rest.len();
        self.shared.queued.fetch_add(len, Ordering::SeqCst);
        queue.push_back(if written > 0 {
            Outbound::Rest(rest, len)
        } else {
            Outbound::Frame(rest, len)
        });
        // One atomic step: a task that sees the write over sees its rest too.
        let flag = if written > 0 { REST } else { 0 };
        let _ = wire
            .state
            .fetch_update(Ordering::Release, Ordering::Relaxed, |s| {
                Some(s & !(IDLE | DIRECT) | flag)
            });
        drop(queue);
        self.shared.signal.raise(ReaderSignal::QUEUED);
        Sent::Written
    }

    /// The task, whenever it is polled: takes the socket back from broadcasters before it
    /// touches the write buffer. Returns whether the rest of a partly written frame heads the
    /// queue (the task must encode it before anything else).
    #[inline]
    pub(crate) fn wire_enter(&self) -> bool {
        // Without `IDLE` no broadcaster writes, nor can start to (only the task sets it; a
        // write in flight holds it; a partial write clears it and raises `REST` at once).
        if self.shared.wire.state.load(Ordering::Acquire) & (IDLE | DIRECT | REST) == 0 {
            return false;
        }
        self.wire_take_back()
    }

    /// [`Self::wire_enter`] when broadcasts may have written: out of line, so that the read
    /// loop of a connection no broadcast reaches stays as it was.
    #[cold]
    #[inline(never)]
    fn wire_take_back(&self) -> bool {
        let wire = &self.shared.wire;
        let mut prev = wire.state.fetch_and(!IDLE, Ordering::Acquire);
        if prev & DIRECT != 0 {
            // A broadcaster is writing: it holds the queue lock until it is done.
            drop(self.queue());
            prev = wire.state.load(Ordering::Acquire);
        }
        if prev & REST != 0 {
            wire.state.fetch_and(!REST, Ordering::AcqRel);
            return true;
        }
        false
    }

    /// The task, returning `Pending`: when a broadcast has reached the connection and `idle`
    /// says its write buffer is empty (and it may still send data), broadcasts may write to
    /// the socket until the task is polled again.
    #[inline]
    pub(crate) fn wire_idle(&self, idle: impl FnOnce() -> bool) {
        let wire = &self.shared.wire;
        if wire.state.load(Ordering::Relaxed) == ARMED
            && !self.shared.closing.load(Ordering::Acquire)
            && idle()
        {
            wire.state.store(ARMED | IDLE, Ordering::Release);
        }
    }

    /// The task's future is dropped (its socket with it): no broadcaster may write to the
    /// descriptor from now on.
    pub(crate) fn wire_off(&self) {
        let wire = &self.shared.wire;
        if wire.socket.is_some() && wire.state.swap(ARMED, Ordering::AcqRel) & DIRECT != 0 {
            drop(self.queue());
        }
    }
}
