//! A connection's outbound queue: every socket of the connection, every broadcast and every
//! task pushes encoded frames here, and the connection's task writes them out in order.
//!
//! A mutex-guarded `VecDeque` rather than a channel: an idle connection's queue owns no
//! memory (the connection takes the whole queue on each wake-up), and a packet's frames (its
//! text and its attachments) are pushed together, so packets never interleave.
//!
//! The queue is bounded in bytes (`Config::max_pending_bytes`), and the bound counts every
//! byte sent to the client that it has not taken yet: the frames queued here, those the
//! connection's task is writing (they count until the write returned), and those the
//! transport keeps after a write (long-polling's queue for the next `GET`,
//! [`crate::engine::transport::Transport::held`]). A peer that does not read cannot make the
//! server buffer more than the bound and one packet. The policy past the bound (a slow
//! consumer):
//! - a volatile packet ([`Outbox::push_volatile`], Node's `socket.volatile.emit`) is dropped
//!   for this client, as Node drops it when the transport is not writable: it is only queued
//!   when nothing else waits for the client;
//! - any other packet is refused with [`EmitError::QueueFull`] and the connection is closed
//!   with [`DisconnectReason::SlowConsumer`] (counted in `wsx_sio_slow_consumers_total`): what
//!   was queued for it is let go at once, and a client is never left connected with a hole in
//!   what it was sent. (Node has no bound: its queue grows until the heartbeat gives up.)
//!
//! **Direct writes.** A broadcast ([`Outbox::push_shared`]) to a WebSocket client whose queue is
//! empty, with nothing being written, and whose task is parked (wsx's
//! [`wsx::DirectWriter`]: plain TCP, no TLS) does not queue: the broadcaster writes the
//! packet's WebSocket frames, encoded once per broadcast ([`Shared`]), straight to the socket
//! with one `send` (without this queue's lock: see below). Order holds: nothing older waits here (queue
//! empty, no bytes in flight) nor in the WebSocket (idle), and anything queued meanwhile makes
//! the next broadcasts queue behind it; a closed queue takes nothing, and the WebSocket offers
//! no socket once its close frame is queued. A frame the socket takes in part leaves its rest
//! with the WebSocket, which writes it before anything else (outside the byte bound, as the
//! bytes a write is taking). Why: the wake-up of the connection's task, its poll, the queue
//! and the write cost 3,661 user-space instructions per delivery; written directly (with the
//! memory adapter's `push_all` and the ids' cheap hash, `local.rs`) a delivery costs 237, where
//! wsx's own `Server::broadcast` costs 176 (`scripts/sio_fanout_instr.sh` and
//! `scripts/bench_fanout_instr.sh`, 1,000 clients, rounds 2 -> 22).
//!
//! **Without the lock.** A direct write does not take this queue's lock: the queue keeps an
//! atomic word, `quiet` (nothing queued, no bytes in flight, not closed), stored under the lock
//! by every change, and a broadcast whose load sees it set writes at once; anything else takes
//! the lock and queues. The lock cost about 60 user-space instructions per delivery (lock,
//! unlock, poison checks), as much as the write itself. Order still holds: a packet queued by a
//! call that returned before a broadcast's load cleared `quiet` first, so the broadcast queues
//! behind it; only calls that overlap in time can go out in either order, as they could under
//! the lock. Concurrent direct writers are kept apart by [`wsx::DirectWriter`] itself (one
//! `send` at a time; a writer that finds another writing queues here). With the broadcast's
//! list of receivers kept between broadcasts (`local.rs`), a delivery costs 176 user-space
//! instructions, where wsx's own `Server::broadcast` costs 168 in the same run (from 249;
//! same scripts and method as above), 59 of them in libc's `send`.
//!
//! **Compression.** For a client that negotiated permessage-deflate without server context
//! (`Config::per_message_deflate`), [`Shared`] deflates the packet once for all such receivers
//! (`deflated.rs`) and both paths use those bytes: the direct write sends them, the queue
//! carries them as [`Item::Wire`] for the WebSocket to write as they are. `compress(false)`
//! queues [`Wire::Uncompressed`] instead, and a direct write sends the plain frames.

use super::deflated::Deflated;
use super::reason::DisconnectReason;
use super::socket::Socket;
use crate::engine::traffic::Traffic;
use crate::engine::transport::{Frame, Held, Wire};
use crate::error::EmitError;
use bytes::Bytes;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use wsx::proto::SharedEncoding;
use wsx::{DirectWrite, DirectWriter};

/// The frames of one packet sent to many clients (a broadcast), shared by its receivers, and
/// their WebSocket encoding for direct writes: made once, when the first receiver takes one;
/// deflated once too for the receivers that compress without context (`deflated.rs`).
pub(crate) struct Shared<'a> {
    frames: &'a [Frame],
    websocket: OnceCell<Bytes>,
    /// Whether receivers that negotiated compression get it compressed (Node's `compress`).
    compress: bool,
    /// The packet deflated for the first compressing receiver's setting.
    deflated: OnceCell<Option<Deflated>>,
}

impl<'a> Shared<'a> {
    pub(crate) fn new(frames: &'a [Frame]) -> Self {
        Self {
            frames,
            websocket: OnceCell::new(),
            compress: true,
            deflated: OnceCell::new(),
        }
    }

    /// Sets whether receivers that negotiated permessage-deflate get the packet compressed
    /// (default `true`; `false`: uncompressed on every connection, Node's `compress(false)`).
    pub(crate) fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// The packet deflated for receivers of `encoding`: computed once for the first setting
    /// asked (a server has one), each time for another; `None` when the compressor failed.
    fn deflated(&self, encoding: SharedEncoding) -> Option<Cow<'_, Deflated>> {
        match self
            .deflated
            .get_or_init(|| Deflated::new(self.frames, encoding))
        {
            Some(d) if d.encoding == encoding => Some(Cow::Borrowed(d)),
            Some(_) => Deflated::new(self.frames, encoding).map(Cow::Owned),
            None => None,
        }
    }

    /// What a direct write sends to a receiver of `encoding` (a connection's
    /// [`wsx::DirectWriter::shared_encoding`]): the plain frames, or the frames deflated once.
    fn direct_bytes(&self, encoding: Option<SharedEncoding>) -> Option<Cow<'_, Bytes>> {
        match encoding {
            Some(e @ SharedEncoding::Deflate { .. }) if self.compress => {
                Some(match self.deflated(e)? {
                    Cow::Borrowed(d) => Cow::Borrowed(&d.joined),
                    Cow::Owned(d) => Cow::Owned(d.joined),
                })
            }
            _ => Some(Cow::Borrowed(self.websocket())),
        }
    }

    /// Queues the packet's frames for a receiver whose transport takes `encoding`
    /// ([`crate::engine::transport::Transport::shared_encoding`]); returns their bytes.
    fn queue_into(&self, queue: &mut VecDeque<Item>, encoding: Option<SharedEncoding>) -> usize {
        let mut bytes = 0;
        let deflated = match encoding {
            Some(e @ SharedEncoding::Deflate { .. }) if self.compress => self.deflated(e),
            _ => None,
        };
        for (i, frame) in self.frames.iter().enumerate() {
            bytes += frame.len();
            let item = if !self.compress {
                Item::Wire(frame.clone(), Wire::Uncompressed)
            } else if let Some(d) = &deflated {
                Item::Wire(frame.clone(), Wire::Encoded(d.frames[i].clone()))
            } else {
                Item::Frame(frame.clone())
            };
            queue.push_back(item);
        }
        bytes
    }

    /// The frames, as the connection's task writes them.
    pub(crate) fn frames(&self) -> &'a [Frame] {
        self.frames
    }

    /// The packet as one run of complete, unmasked WebSocket frames (RFC 6455 §5.2), one
    /// message per Engine.IO packet (engine.io-protocol v4, WebSocket transport).
    fn websocket(&self) -> &Bytes {
        self.websocket.get_or_init(|| {
            let encode = |frame: &Frame| match frame {
                Frame::Text(text) => {
                    wsx::proto::encode_server_frame(wsx::proto::OpCode::Text, text.as_bytes())
                }
                Frame::Binary(data) => {
                    wsx::proto::encode_server_frame(wsx::proto::OpCode::Binary, data)
                }
            };
            match self.frames {
                [frame] => encode(frame),
                frames => frames
                    .iter()
                    .map(encode)
                    .fold(Vec::new(), |mut all, f| {
                        all.extend_from_slice(&f);
                        all
                    })
                    .into(),
            }
        })
    }
}

/// What the connection's task takes from the queue.
#[derive(Debug)]
pub(crate) enum Item {
    /// A frame to write.
    Frame(Frame),
    /// A frame to write as [`Wire`] says on a WebSocket (uncompressed, or bytes encoded once
    /// for many connections).
    Wire(Frame, Wire),
    /// A socket of this connection was disconnected from another task: run its disconnect
    /// handlers, in order with the other work of the connection.
    Disconnected(Socket, DisconnectReason),
    /// Close the connection.
    Close(DisconnectReason),
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Item>,
    /// Bytes of frames queued or being written (until [`Outbox::written`]).
    bytes: usize,
    closed: bool,
    /// Closed because the client passed the bound.
    overflowed: bool,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// `state` has nothing queued, no bytes in flight and is not closed: stored under the
    /// lock after each change, loaded without it by direct writes (module docs).
    quiet: AtomicBool,
    notify: Notify,
    limit: usize,
    /// What the transport keeps after a write (long-polling), counted in the bound.
    held: Option<Arc<Held>>,
    /// Writes broadcasts straight to an idle WebSocket client's socket (module docs).
    direct: Option<DirectWriter>,
    /// Counts what `direct` writes for the admin UI (the connection's task counts the rest;
    /// `crate::engine::traffic`).
    traffic: Option<Arc<Traffic>>,
    /// Which frames encoded once the transport takes (its `shared_encoding`): how a broadcast
    /// is queued for it (`deflated.rs`).
    encoding: Option<SharedEncoding>,
}

impl Outbox {
    /// A queue bounded at `limit` bytes, counting `held` too; broadcasts go through `direct`
    /// when the client is idle.
    pub(crate) fn new(limit: usize, held: Option<Arc<Held>>, direct: Option<DirectWriter>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            quiet: AtomicBool::new(true),
            notify: Notify::new(),
            limit,
            held,
            direct,
            traffic: None,
            encoding: None,
        }
    }

    /// Queues broadcasts for a transport that takes frames encoded once as `encoding` says
    /// (`Transport::shared_encoding`): deflated once for all when it compresses without context.
    pub(crate) fn encoding(mut self, encoding: Option<SharedEncoding>) -> Self {
        self.encoding = encoding;
        self
    }

    /// Counts the broadcasts written straight to the socket in `traffic`.
    pub(crate) fn counting(mut self, traffic: Arc<Traffic>) -> Self {
        self.traffic = Some(traffic);
        self
    }

    /// Writes `shared` straight to the socket if the client is idle and nothing waits for it
    /// (module docs), without this queue's lock. Returns whether it did.
    // Inlined into the broadcast's loop: a call of its own cost about 15 instructions per
    // delivery (callgrind, `scripts/sio_fanout_instr.sh`).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn try_direct(&self, shared: &Shared<'_>) -> bool {
        let Some(direct) = &self.direct else {
            return false;
        };
        // Acquire: pairs with the store of a push that queued (a packet queued before is seen).
        if !self.quiet.load(Ordering::Acquire) {
            return false;
        }
        let written = match self.encoding {
            // A connection without an extension, the common case, inline: the plain frames
            // (the choice of bytes below cost about 20 instructions per delivery here).
            None => direct.try_write(shared.websocket()) == DirectWrite::Written,
            Some(encoding) => Self::try_direct_encoded(direct, shared, encoding),
        };
        if written && let Some(traffic) = &self.traffic {
            traffic.written(shared.frames());
        }
        written
    }

    /// [`Self::try_direct`] for a connection that takes frames encoded once (deflated without
    /// context, or plain under `compress(false)`).
    #[inline(never)]
    fn try_direct_encoded(
        direct: &DirectWriter,
        shared: &Shared<'_>,
        encoding: SharedEncoding,
    ) -> bool {
        shared
            .direct_bytes(Some(encoding))
            .is_some_and(|bytes| direct.try_write(&bytes) == DirectWrite::Written)
    }

    /// Stores whether `state` (this queue's, locked) is quiet, after a change.
    #[inline]
    fn settle(&self, state: &State) {
        self.quiet.store(
            state.queue.is_empty() && state.bytes == 0 && !state.closed,
            Ordering::Release,
        );
    }

    /// Sends the frames of a broadcast: written straight to the socket when the client is
    /// idle, else queued as by [`Self::push`].
    pub(crate) fn push_shared(&self, shared: &Shared<'_>) -> Result<(), EmitError> {
        if self.try_direct(shared) {
            return Ok(());
        }
        if shared.compress && self.encoding.is_none() {
            return self.push(shared.frames().iter().cloned());
        }
        self.push_wired(shared)
    }

    /// [`Self::push`] for a broadcast not queued as plain frames: deflated once, or
    /// `compress(false)` (`Shared::queue_into`).
    fn push_wired(&self, shared: &Shared<'_>) -> Result<(), EmitError> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(EmitError::Disconnected);
            }
            let pending = self.pending(&state);
            if pending > self.limit {
                return Err(self.overflow(&mut state, pending));
            }
            state.bytes += shared.queue_into(&mut state.queue, self.encoding);
            self.settle(&state);
        }
        self.notify.notify_one();
        Ok(())
    }

    /// The bytes sent to the client and not taken by it yet.
    fn pending(&self, state: &State) -> usize {
        state.bytes + self.held.as_ref().map_or(0, |held| held.get())
    }

    /// The client passed the bound: it is closed as a slow consumer, and what was queued for
    /// it is let go now (control items still run).
    #[cold]
    fn overflow(&self, state: &mut State, pending: usize) -> EmitError {
        tracing::debug!(
            pending,
            limit = self.limit,
            "slow consumer: connection closed"
        );
        crate::metrics::slow_consumer();
        state.closed = true;
        state.overflowed = true;
        state.bytes = 0;
        state
            .queue
            .retain(|item| !matches!(item, Item::Frame(_) | Item::Wire(..)));
        state
            .queue
            .push_back(Item::Close(DisconnectReason::SlowConsumer));
        self.settle(state);
        self.notify.notify_one();
        EmitError::QueueFull {
            queued: pending,
            limit: self.limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update under the lock is complete: a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues the frames of one packet, all or none. Past the bound the client is closed as
    /// a slow consumer (see the module docs).
    pub(crate) fn push(&self, frames: impl IntoIterator<Item = Frame>) -> Result<(), EmitError> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(EmitError::Disconnected);
            }
            let pending = self.pending(&state);
            if pending > self.limit {
                return Err(self.overflow(&mut state, pending));
            }
            for frame in frames {
                state.bytes += frame.len();
                state.queue.push_back(Item::Frame(frame));
            }
            self.settle(&state);
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Queues the frames of a volatile packet (Node's `volatile` flag) only if nothing is
    /// waiting to be written or being written: a client with bytes pending is slow (or being
    /// written to), and a volatile packet is worth sending only at once; a dropped one is
    /// counted (`wsx_sio_volatile_dropped_total`). Returns whether it was queued (`false`
    /// too once the client is gone).
    pub(crate) fn push_volatile(&self, frames: impl IntoIterator<Item = Frame>) -> bool {
        self.volatile(frames)
    }

    /// [`Self::push_volatile`] for a broadcast: written straight to the socket when the
    /// client is idle (module docs).
    pub(crate) fn push_volatile_shared(&self, shared: &Shared<'_>) -> bool {
        if self.try_direct(shared) {
            return true;
        }
        if shared.compress && self.encoding.is_none() {
            return self.push_volatile(shared.frames().iter().cloned());
        }
        self.volatile_wired(shared)
    }

    /// [`Self::push_volatile_shared`] for a packet not queued as plain frames.
    fn volatile_wired(&self, shared: &Shared<'_>) -> bool {
        {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            if self.pending(&state) > 0 {
                drop(state);
                crate::metrics::volatile_dropped();
                return false;
            }
            state.bytes += shared.queue_into(&mut state.queue, self.encoding);
            self.settle(&state);
        }
        self.notify.notify_one();
        true
    }

    fn volatile(&self, frames: impl IntoIterator<Item = Frame>) -> bool {
        {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            if self.pending(&state) > 0 {
                drop(state);
                crate::metrics::volatile_dropped();
                return false;
            }
            for frame in frames {
                state.bytes += frame.len();
                state.queue.push_back(Item::Frame(frame));
            }
            self.settle(&state);
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
            self.settle(&state);
        }
        self.notify.notify_one();
    }

    /// Takes everything queued. The frames' bytes still count against the bound until
    /// [`Self::written`] says they left.
    pub(crate) fn take(&self) -> VecDeque<Item> {
        let mut state = self.lock();
        let items = std::mem::take(&mut state.queue);
        self.settle(&state);
        items
    }

    /// `bytes` of taken frames were handed to the transport (written out, or kept by it and
    /// counted as [`Held`]).
    pub(crate) fn written(&self, bytes: usize) {
        let mut state = self.lock();
        state.bytes = state.bytes.saturating_sub(bytes);
        self.settle(&state);
    }

    /// Refuses further frames; returns what was queued.
    pub(crate) fn close(&self) -> VecDeque<Item> {
        let mut state = self.lock();
        state.closed = true;
        state.bytes = 0;
        self.settle(&state);
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

    /// Waits until the client passed the bound. It takes the wake-ups of [`Self::notified`]
    /// meanwhile: whoever waits on this takes the queue again after.
    pub(crate) async fn overflowed(&self) {
        loop {
            if self.lock().overflowed {
                return;
            }
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Frame {
        Frame::Text("x".repeat(len).into())
    }

    fn frames(items: VecDeque<Item>) -> usize {
        items
            .iter()
            .filter(|item| matches!(item, Item::Frame(_)))
            .count()
    }

    #[test]
    fn the_bound_counts_frames_until_written_and_closes_a_slow_consumer() {
        let outbox = Outbox::new(100, None, None);
        outbox.push([frame(60)]).expect("under the bound");
        outbox
            .push([frame(60)])
            .expect("at 60 bytes, one more packet fits");
        // Taken but not written: still counted.
        assert_eq!(frames(outbox.take()), 2);
        let err = outbox.push([frame(1)]).expect_err("over the bound");
        assert!(
            matches!(
                err,
                EmitError::QueueFull {
                    queued: 120,
                    limit: 100
                }
            ),
            "{err:?}"
        );
        // Closed: later packets are refused, and the connection is told why.
        assert!(matches!(
            outbox.push([frame(1)]),
            Err(EmitError::Disconnected)
        ));
        let items = outbox.take();
        assert!(matches!(
            items.back(),
            Some(Item::Close(DisconnectReason::SlowConsumer))
        ));
    }

    #[test]
    fn written_bytes_leave_the_bound() {
        let outbox = Outbox::new(100, None, None);
        for _ in 0..10 {
            outbox.push([frame(60)]).expect("written before the next");
            drop(outbox.take());
            outbox.written(60);
        }
    }

    #[test]
    fn what_the_transport_holds_counts() {
        let held = Arc::new(Held::default());
        let outbox = Outbox::new(100, Some(held.clone()), None);
        held.add(150);
        assert!(matches!(
            outbox.push([frame(1)]),
            Err(EmitError::QueueFull { queued: 150, .. })
        ));
    }

    #[test]
    fn a_broadcast_is_deflated_once_for_every_receiver_of_its_setting() {
        let deflate = SharedEncoding::Deflate {
            level: 1,
            window_bits: 15,
            threshold: 64,
        };
        let frames = [frame(2000)];
        let shared = Shared::new(&frames);
        let first = shared.direct_bytes(Some(deflate)).expect("deflated");
        let second = shared.direct_bytes(Some(deflate)).expect("deflated");
        assert!(matches!(
            (&first, &second),
            (Cow::Borrowed(_), Cow::Borrowed(_))
        ));
        assert_eq!(
            first.as_ptr(),
            second.as_ptr(),
            "the same bytes, not a copy"
        );
        assert_eq!(first[0], 0xc1, "FIN, RSV1, text");
        // Queued for a busy receiver: those bytes again.
        let mut queue = VecDeque::new();
        assert_eq!(shared.queue_into(&mut queue, Some(deflate)), 2000);
        match queue.pop_front() {
            Some(Item::Wire(_, Wire::Encoded(bytes))) => assert_eq!(bytes.as_ptr(), first.as_ptr()),
            other => panic!("{other:?}"),
        }
        // `compress(false)`: the plain frame for everyone.
        let plain = Shared::new(&frames).compress(false);
        assert_eq!(plain.direct_bytes(Some(deflate)).expect("plain")[0], 0x81);
        plain.queue_into(&mut queue, Some(deflate));
        assert!(matches!(
            queue.pop_front(),
            Some(Item::Wire(_, Wire::Uncompressed))
        ));
    }

    #[test]
    fn volatile_packets_go_only_to_a_client_with_nothing_waiting() {
        let held = Arc::new(Held::default());
        let outbox = Outbox::new(100, Some(held.clone()), None);
        assert!(outbox.push_volatile([frame(10)]));
        assert!(!outbox.push_volatile([frame(10)]), "dropped");
        drop(outbox.take());
        outbox.written(10);
        held.add(10);
        assert!(!outbox.push_volatile([frame(10)]), "dropped");
        held.sub(10);
        assert!(outbox.push_volatile([frame(10)]));
        // Never a reason to close the client.
        assert!(!outbox.is_closed());
    }
}
