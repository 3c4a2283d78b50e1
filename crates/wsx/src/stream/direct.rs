//! Direct writes: a [`DirectWriter`] lets other threads write whole frames, encoded once for
//! many connections, straight to the socket of a [`WebSocket`] whose owning task is parked with
//! nothing to write, with one `send(2)` each and no wake-up of that task. A layer above wsx
//! that queues its own messages per connection (wsx-sio's Socket.IO outbox) gets the idle
//! connection path of wsx's own `Server::broadcast` (`event/conn/wire.rs`) this way; uWebSockets
//! does the same (its `send` buffers only under backpressure).
//!
//! The rules that keep the connection's byte stream whole and in order, all enforced here:
//! - **Who writes.** The socket is written by the `WebSocket`'s owner, or by a writer while
//!   [`IDLE`] is set. The `WebSocket` clears `IDLE` first thing in every method that may write
//!   (`poll_next`, `feed`, the `Sink` methods; `WebSocket::direct_enter`) and sets it only when
//!   `poll_next` returns `Pending` with an empty write buffer while a data message may still be
//!   sent (`WebSocket::direct_park`). A writer marks its write [`DIRECT`]; an owner that finds
//!   `DIRECT` set waits for that one non-blocking `send` to return before it goes on.
//! - **Order.** While `IDLE` is set nothing of the connection's waits to be written, so a
//!   frame written directly overtakes nothing the `WebSocket` holds. A frame the socket takes in
//!   part leaves its rest with the `WebSocket` ([`REST`]): `IDLE` is off from then on, the
//!   owner's task is woken, and the rest is put first in its write buffer when it next touches
//!   the connection. Writers calling concurrently are not ordered among themselves: a caller
//!   that needs an order (its own queue, then direct writes only when that queue is empty)
//!   serializes its calls with its own lock, as wsx-sio's outbox does.
//! - **No data after the close frame** (RFC 6455 §5.5.1): `IDLE` is set only while the
//!   protocol may send a data message; once the owner queues a close frame it never is again.
//! - **Only where used.** The owner offers its socket only once a writer has tried it
//!   ([`ARMED`]; that first frame goes through the owner): connections no writer reaches pay
//!   one load per poll.
//! - **The descriptor.** The raw descriptor is used only under `DIRECT` with `IDLE` set; the
//!   `WebSocket` turns the writer off ([`OFF`], waiting for a write in flight) before its
//!   stream is dropped (its `direct` field is declared before the stream) or split, so a
//!   descriptor is never written after it was closed (and perhaps reused).
//!
//! Only a server's plain TCP stream (`tokio::net::TcpStream`) takes direct writes, on Linux and
//! Android (`MSG_NOSIGNAL`): a client masks every frame, TLS needs a record. Which frames a
//! connection with an extension takes is its [`SharedEncoding`], as for
//! [`crate::proto::Protocol::send_raw_frame`].
#![deny(unsafe_code)]

use super::WebSocket;
use super::raw_socket::{RawSocket, send, tcp_socket};
use crate::proto::{Role, SharedEncoding};
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Context;

/// The owner is parked with an empty write buffer: writers may write.
const IDLE: u8 = 1;
/// A writer is writing now.
const DIRECT: u8 = 2;
/// The rest of a frame the socket took in part waits for the owner.
const REST: u8 = 4;
/// A writer has tried this connection: its owner offers the socket when it parks.
const ARMED: u8 = 8;
/// The `WebSocket` is gone or split: no more direct writes.
const OFF: u8 = 16;

/// What a connection's writers and its `WebSocket` share.
#[derive(Debug)]
struct Direct {
    state: AtomicU8,
    socket: RawSocket,
    /// Which pre-encoded frames the connection takes (`None`: every unmasked frame).
    encoding: Option<SharedEncoding>,
    /// The rest of a frame the socket took in part ([`REST`]).
    rest: Mutex<Option<Bytes>>,
    /// The owner's task, registered when it parks: woken when a rest waits for it.
    waker: AtomicWaker,
}

impl Direct {
    /// Waits for a write in flight, then clears the `clear` bits (and `IDLE`), or sets
    /// `OFF`; returns the state it left.
    fn take(&self, off: bool) -> u8 {
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s & DIRECT != 0 {
                // One non-blocking `send` is in flight: it returns in microseconds.
                std::hint::spin_loop();
                std::thread::yield_now();
                continue;
            }
            let next = if off { OFF } else { s & !IDLE };
            if self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return s;
            }
        }
    }
}

/// Held by the [`WebSocket`] (declared before its stream): turns the writers off when it goes.
#[derive(Debug)]
pub(super) struct DirectGuard(Arc<Direct>);

impl Drop for DirectGuard {
    fn drop(&mut self) {
        self.0.take(true);
    }
}

/// What became of a frame offered to [`DirectWriter::try_write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum DirectWrite {
    /// The frame is on its way: written whole, or its rest held by the connection, to go out
    /// before anything else it writes.
    Written,
    /// Nothing of the frame was written (the connection's task is not parked idle, the socket
    /// is full, or the connection is closing or gone): send it through the connection's owner.
    NotWritten,
}

/// Writes frames encoded once for many connections straight to an idle connection's socket
/// (module docs of `stream/direct.rs`). Cheap to clone; made by [`WebSocket::direct_writer`].
#[derive(Debug, Clone)]
pub struct DirectWriter(Arc<Direct>);

impl DirectWriter {
    /// Which pre-encoded frames the connection takes: `None` for every unmasked server frame
    /// ([`crate::proto::encode_server_frame`]); with an extension, what it lets through
    /// ([`crate::proto::Protocol::shared_encoding`]). A frame it does not take is never
    /// written directly.
    #[must_use]
    pub fn shared_encoding(&self) -> Option<SharedEncoding> {
        self.0.encoding
    }

    /// Writes `frame`, one or more complete server frames back to back (FIN set on the last of
    /// a message), with one non-blocking `send` if the connection is idle; otherwise writes
    /// nothing and says so. The first call on a connection never writes: it asks its owner to
    /// offer the socket from then on.
    pub fn try_write(&self, frame: &Bytes) -> DirectWrite {
        let direct = &*self.0;
        let state = direct.state.load(Ordering::Relaxed);
        if state != ARMED | IDLE {
            if state & (ARMED | OFF) == 0 {
                direct.state.fetch_or(ARMED, Ordering::Relaxed);
            }
            return DirectWrite::NotWritten;
        }
        // Every connection with a writer takes uncompressed frames (no RSV bit).
        if frame.first().is_some_and(|b| b & 0x70 != 0) && !takes(direct.encoding, frame)
            || direct
                .state
                .compare_exchange(
                    ARMED | IDLE,
                    ARMED | IDLE | DIRECT,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return DirectWrite::NotWritten;
        }
        // An error takes nothing (full, or failed: the owner meets the error on its own write).
        #[allow(unsafe_code)]
        // SAFETY: `direct.socket` is the descriptor of the connection's open TCP stream: it is
        // used only with `IDLE` and `DIRECT` set, and the `WebSocket` turns its writers off
        // (waiting for a write in flight) before it drops or gives away the stream (module
        // docs).
        let written = unsafe { send(direct.socket, frame) }.unwrap_or_default();
        if written == frame.len() || written == 0 {
            direct.state.fetch_and(!DIRECT, Ordering::Release);
            return if written == 0 {
                DirectWrite::NotWritten
            } else {
                DirectWrite::Written
            };
        }
        *direct.rest.lock().unwrap_or_else(PoisonError::into_inner) = Some(frame.slice(written..));
        // One atomic step: an owner that sees the write over sees its rest too.
        let _ = direct
            .state
            .fetch_update(Ordering::Release, Ordering::Relaxed, |s| {
                Some(s & !(IDLE | DIRECT) | REST)
            });
        direct.waker.wake();
        DirectWrite::Written
    }
}

/// Whether a connection whose shared encoding is `encoding` takes `frame` as it is (the
/// RSV bits of its first frame, as [`crate::proto::Protocol::send_raw_frame`] checks).
fn takes(encoding: Option<SharedEncoding>, frame: &[u8]) -> bool {
    let rsv = frame.first().map_or(0, |b| b & 0x70);
    match encoding {
        None | Some(SharedEncoding::Plain) => rsv == 0,
        Some(SharedEncoding::Deflate { .. }) => rsv & !0x40 == 0,
        Some(_) => false,
    }
}

impl<S: 'static> WebSocket<S> {
    /// A [`DirectWriter`] for this connection: `Some` for a server connection over a plain
    /// `tokio::net::TcpStream` on Linux or Android whose frames can be encoded elsewhere
    /// (no extension, or one with a [`SharedEncoding`]); `None` otherwise (a client, TLS, a
    /// hyper-upgraded stream, another platform). The connection must be driven by one task
    /// that reads it with `poll_next` (`next`) when idle: its parked reads are when writers
    /// may write. Splitting the connection turns its writers off.
    pub fn direct_writer(&mut self) -> Option<DirectWriter> {
        if let Some(guard) = &self.direct {
            return Some(DirectWriter(guard.0.clone()));
        }
        let encoding = self.proto.shared_encoding();
        if self.proto.role() != Role::Server || encoding == Some(SharedEncoding::None) {
            return None;
        }
        let socket = socket_of(&self.stream)?;
        let direct = Arc::new(Direct {
            state: AtomicU8::new(0),
            socket,
            encoding,
            rest: Mutex::new(None),
            waker: AtomicWaker::new(),
        });
        self.direct = Some(DirectGuard(direct.clone()));
        Some(DirectWriter(direct))
    }
}

impl<S> WebSocket<S> {
    /// Every method that may write, first: takes the socket back from writers (waiting for a
    /// write in flight) and puts the rest of a partly written frame first in the write buffer.
    #[inline]
    pub(super) fn direct_enter(&mut self) {
        if let Some(guard) = &self.direct
            && guard.0.state.load(Ordering::Acquire) & (IDLE | DIRECT | REST) != 0
        {
            self.direct_take_back();
        }
    }

    /// [`Self::direct_enter`] when writers may have written: out of line.
    #[cold]
    #[inline(never)]
    fn direct_take_back(&mut self) {
        let Some(guard) = &self.direct else { return };
        let direct = guard.0.clone();
        if direct.take(false) & REST != 0 {
            direct.state.fetch_and(!REST, Ordering::AcqRel);
            let rest = direct
                .rest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(rest) = rest {
                // It follows the start already written, whatever the connection's state.
                self.proto.write_buffer().put_bytes(rest);
            }
        }
    }

    /// `poll_next` returns `Pending` for input: with nothing to write and data still
    /// sendable, writers may write until the next method call.
    #[inline]
    pub(super) fn direct_park(&mut self, cx: &Context<'_>) {
        if let Some(guard) = &self.direct
            && guard.0.state.load(Ordering::Relaxed) == ARMED
            && !self.finished
            && self.proto.can_send()
            && self.proto.write_buffer().is_empty()
        {
            guard.0.waker.register(cx.waker());
            guard.0.state.store(ARMED | IDLE, Ordering::Release);
        }
    }

    /// Before a split: no more direct writes (the halves lock the connection instead).
    pub(super) fn direct_off(&mut self) {
        self.direct_enter();
        self.direct = None;
    }
}

/// The descriptor of a plain TCP stream.
fn socket_of<S: 'static>(stream: &S) -> Option<RawSocket> {
    (stream as &dyn std::any::Any)
        .downcast_ref::<tokio::net::TcpStream>()
        .and_then(tcp_socket)
}
