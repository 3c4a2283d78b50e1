//! The direct path of a handler's replies. While a connection's task runs a handler (on its own
//! thread, synchronously, inside its poll), a small text or binary message that handler
//! writes to *its own* connection is encoded at once into the connection's write buffer: no
//! outbound queue, no lock, no second pass over the messages, no copy. A request-response
//! server's every reply takes this path (callgrind, issue 17: the queue's push, its lock and
//! the pass that feeds it cost about 200 instructions per echoed message).
//!
//! The window reaches the write buffer through a pointer in a thread-local: this module's one
//! `unsafe` block. Measured reason (issue 17, callgrind, 64 connections, instructions per
//! echoed message at 16 B / 1 KiB): encoding into a frame buffer of the thread and handing
//! it over when the window closed cost 1995 / 2242; lending the write buffer's tail to the
//! thread (moved out and back) 2070 / 2316; the pointer 1934 / 2180.
//!
//! Why it is sound:
//! - The window borrows the `WebSocket` mutably for its whole life ([`Window`]'s lifetime):
//!   nothing else can reach the write buffer while the pointer is set, and the pointer is
//!   cleared before the borrow ends, by [`Window::close`] or by the drop guard when a panic
//!   unwinds past it. The window is a scope ([`with_window`]), not a value a caller holds, so
//!   no `mem::forget` can skip that; and it is `!Send`, so it cannot be closed on another
//!   thread than the one whose thread-locals it set. No stale address is ever left behind.
//! - The window is open only on the thread running the connection's task, only while that
//!   task runs handlers. On that thread, in that window, only that handler's code runs, so a
//!   write to the connection from this thread then is the handler's own, and the pointer is
//!   used by one call at a time (a write does not call user code while it holds the buffer).
//! - Order: the window takes direct writes only when nothing older waits in the shared queue.
//!   Once a write in the window cannot go direct (a close, a ping, a large payload, the write
//!   buffer's room used up), it is queued, and queueing inside the window switches it to
//!   [`Mode::Queueing`] ([`queueing`]): every later write goes through the queue too, behind
//!   the direct ones.
//! - Bounds: a direct write is held to the queue's byte bound like a queued one, counting the
//!   window's direct writes (the thread's [`TAKEN`]) with what is queued; the handler sees
//!   them in `queued_bytes()`. They leave the account when the window closes: they are in the
//!   write buffer then, as fed items are. The write buffer never grows past
//!   `write_buffer_size` through the window.
//!
//! Only a server connection without an extension takes direct writes: its frames need none
//! of the connection's state (no mask, no compression context). The window checks once, when
//! it opens, that the connection may send a data message (RFC 6455 §5.5.1: none after our
//! close frame; the check the queued path makes in `Protocol::send`): the connection's state
//! cannot change while its handler runs (only its task changes it, and a close the handler
//! asks for is queued, which sends the window's later writes through the queue too). Handlers
//! do run after the peer's close or a protocol error queued our close frame, before the
//! transport ends (a message that waited for its handler, an async handler finishing while
//! the close reply waits for a peer that does not read): their replies are refused there,
//! like queued ones (test: `event_direct_in_memory.rs`, issue 29).
#![deny(unsafe_code)]

use super::{Conn, Shared};
use crate::proto::{Message, OpCode, Utf8Bytes, WriteBuffer};
use crate::stream::WebSocket;
use bytes::Bytes;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncRead, AsyncWrite};

/// What writes inside the window do, kept in the low bits of [`WINDOW`] (a [`Shared`] is
/// 64-byte aligned, so its address leaves them free).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Mode {
    /// Encoded into the write buffer ([`OUT`]).
    Direct = 1,
    /// Onto the shared queue, without waking the task: it feeds the queue when the window
    /// closes.
    Queueing = 2,
}

const MODE_BITS: usize = 3;

thread_local! {
    /// The address of the [`Shared`] of the connection whose handler runs on this thread now,
    /// plus its [`Mode`]; 0 when none.
    static WINDOW: Cell<usize> = const { Cell::new(0) };
    /// The length the write buffer may grow to (`write_buffer_size`).
    static LIMIT: Cell<usize> = const { Cell::new(0) };
    /// Payload bytes the window's direct writes count against the queue's byte bound.
    static TAKEN: Cell<usize> = const { Cell::new(0) };
    /// The write buffer of the connection whose window is open in [`Mode::Direct`].
    static OUT: Cell<Option<NonNull<WriteBuffer>>> = const { Cell::new(None) };
}

fn address(shared: &Arc<Shared>) -> usize {
    Arc::as_ptr(shared).addr()
}

/// Runs `run` (the handlers of `conn`) in a window on this thread that takes their replies
/// directly, and closes it after, whether `run` returns or unwinds; returns what `run` returned
/// and whether the handlers queued anything in the window (the task feeds the queue then).
///
/// Direct writes are taken when `direct` (the connection takes encoded frames), the
/// connection may send a data message now ([`WebSocket::direct_out`]: no close frame sent or
/// queued, the transport not ended), nothing older waits in the shared queue (`backlog`, or
/// another task's write just queued) and the write buffer has room.
///
/// The window is a scope, not a value the caller holds: nothing can leak it (`mem::forget`)
/// and leave [`OUT`] pointing at a buffer whose borrow ended.
#[inline]
pub(crate) fn with_window<S, R>(
    conn: &Conn,
    ws: &mut WebSocket<S>,
    direct: bool,
    backlog: bool,
    run: impl FnOnce() -> R,
) -> (R, bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let window = Window::open(conn, ws, direct, backlog);
    let result = run();
    (result, window.close())
}

/// The window in which a connection's task runs its handlers on this thread, while
/// [`with_window`] runs them: opened by [`Window::open`], closed by [`Window::close`] or when
/// dropped (a panic unwinding past it). It holds the connection's `WebSocket` borrowed for
/// `'a`, for the pointer in [`OUT`], and it is neither `Send` nor `Sync`: the thread-locals it
/// sets belong to the thread that opened it.
struct Window<'a> {
    /// This window set [`WINDOW`]. A window opened while another is open on this thread (a
    /// handler that drives another connection's future to completion in place) does not: the
    /// writes made inside it belong to the outer handler's call.
    opened: bool,
    /// The write buffer [`OUT`] points to.
    out: PhantomData<&'a mut WriteBuffer>,
    /// Not `Send`, not `Sync`.
    thread: PhantomData<*const ()>,
}

impl<'a> Window<'a> {
    /// Opens the window for `conn`'s handlers on this thread (see [`with_window`]).
    #[inline]
    fn open<S>(conn: &Conn, ws: &'a mut WebSocket<S>, direct: bool, backlog: bool) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if WINDOW.get() != 0 {
            return Self {
                opened: false,
                out: PhantomData,
                thread: PhantomData,
            };
        }
        let mut mode = Mode::Queueing;
        if direct
            && !backlog
            && !conn.shared.signal.queued()
            && let Some((out, limit)) = ws.direct_out()
            && out.len() < limit
        {
            LIMIT.set(limit);
            OUT.set(Some(NonNull::from(out)));
            mode = Mode::Direct;
        }
        WINDOW.set(address(&conn.shared) | mode as usize);
        Self {
            opened: true,
            out: PhantomData,
            thread: PhantomData,
        }
    }

    /// Closes the window, giving the `WebSocket` back, and tells whether the handlers queued
    /// anything in it.
    #[inline]
    fn close(self) -> bool {
        if !self.opened {
            return false;
        }
        std::mem::forget(self);
        let window = WINDOW.replace(0);
        OUT.set(None);
        // The direct writes leave the byte account. No writer waits for that room: only this
        // handler saw it taken, and a handler cannot wait inside its call.
        TAKEN.set(0);
        window & MODE_BITS == Mode::Queueing as usize
    }
}

impl Drop for Window<'_> {
    fn drop(&mut self) {
        // Unwinding past an open window (a handler's own panic is caught inside it, so this
        // is a panic of ours): close it, so that no pointer to the buffer outlives it.
        if self.opened {
            WINDOW.set(0);
            TAKEN.set(0);
            OUT.set(None);
        }
    }
}

/// What became of a write offered to the direct path.
pub(crate) enum Direct<T> {
    /// Its frame is in the write buffer.
    Written,
    /// The queue's byte bound refuses it (given back): this many bytes are queued, direct
    /// ones included.
    Full(usize, T),
    /// It cannot go direct: the caller queues it, and [`queueing`] sends the window's later
    /// writes through the queue too, to keep their order.
    Queue(T),
}

/// Encodes a text or binary `message` of `len` payload bytes for `conn`'s handler running on
/// this thread, if its window takes direct writes (taken apart by value: a written payload is
/// then dropped as `Bytes`, without a call to the message's generic drop; a `Message` kept
/// whole across the write cost about 20 instructions per message, callgrind, issue 29).
#[inline]
pub(crate) fn try_write(conn: &Conn, message: Message, len: usize) -> Direct<Message> {
    // Text stays `Utf8Bytes`: no unchecked conversion back is needed when it is given back.
    let payload: Result<Utf8Bytes, Bytes> = match message {
        Message::Text(text) => Ok(text),
        Message::Binary(data) => Err(data),
        other => return Direct::Queue(other),
    };
    let (opcode, bytes) = match &payload {
        Ok(text) => (OpCode::Text, text.as_bytes()),
        Err(data) => (OpCode::Binary, data),
    };
    // The largest frame of a copied payload: a 4-byte header (the 16-bit length form).
    let written = if WriteBuffer::copies(len) {
        write_direct(conn, len, len + 4, |out| {
            out.put_small_unmasked_frame(0x80 | opcode as u8, bytes);
        })
    } else {
        Direct::Queue(())
    };
    let back = || match payload {
        Ok(text) => Message::Text(text),
        Err(data) => Message::Binary(data),
    };
    match written {
        Direct::Written => Direct::Written,
        Direct::Full(queued, ()) => Direct::Full(queued, back()),
        Direct::Queue(()) => Direct::Queue(back()),
    }
}

/// As [`try_write`], for a frame encoded once for many connections: copied when small.
#[inline]
pub(crate) fn try_write_frame(conn: &Conn, frame: &Bytes, len: usize) -> Direct<()> {
    if !WriteBuffer::copies(frame.len()) {
        return Direct::Queue(());
    }
    write_direct(conn, len, frame.len(), |out| out.put_slice(frame))
}

/// Appends a frame of `need` bytes at most with `encode`, when `conn`'s window on this thread
/// takes direct writes, the queue's byte bound has room for `len` more payload bytes and the
/// write buffer for `need`.
///
/// The direct writes of a window are counted here, in the thread's [`TAKEN`], not in the
/// shared atomic account (their reserve and release cost about 20 instructions per message):
/// a handler's own writes see them (here, in [`Conn::reserve`] and in `queued_bytes()`), and
/// the window's end, which puts them on the wire's side of the bound, forgets them.
#[inline]
fn write_direct(
    conn: &Conn,
    len: usize,
    need: usize,
    encode: impl FnOnce(&mut WriteBuffer),
) -> Direct<()> {
    if WINDOW.get() != address(&conn.shared) | Mode::Direct as usize {
        return Direct::Queue(());
    }
    let taken = TAKEN.get();
    let queued = conn.shared.queued.load(Ordering::Acquire) + taken;
    if !conn.fits(queued, len) {
        return Direct::Full(queued, ());
    }
    let Some(mut out) = OUT.get() else {
        return Direct::Queue(());
    };
    #[allow(unsafe_code)]
    // SAFETY: `OUT` is set only while a `Window` holds the `WebSocket` borrowed, on this
    // thread, and cleared before that borrow ends; nothing else holds a reference to the
    // buffer meanwhile, and this reference does not outlive this call (module docs).
    let out = unsafe { out.as_mut() };
    if out.len() + need > LIMIT.get() {
        return Direct::Queue(());
    }
    encode(out);
    TAKEN.set(taken + len);
    Direct::Written
}

/// Payload bytes `conn`'s handler running on this thread wrote directly in its window.
#[inline]
pub(crate) fn taken(conn: &Conn) -> usize {
    if WINDOW.get() & !MODE_BITS == address(&conn.shared) {
        TAKEN.get()
    } else {
        0
    }
}

/// An item is about to be queued for `conn`. Inside its handler's window, the window's later
/// writes queue too, and the task need not be woken; returns whether it must be (the write
/// comes from elsewhere).
#[inline]
pub(crate) fn queueing(conn: &Conn) -> bool {
    let me = address(&conn.shared);
    let window = WINDOW.get();
    if window & !MODE_BITS != me {
        return true;
    }
    if window & MODE_BITS != Mode::Queueing as usize {
        WINDOW.set(me | Mode::Queueing as usize);
    }
    false
}
