//! The direct path of a handler's replies. While a connection's task runs a handler (on its own
//! thread, synchronously, inside its poll), a small text or binary message that handler
//! writes to *its own* connection is encoded at once into a frame buffer of the thread, and
//! the task copies the frames into the connection's write buffer when the handler returns: no
//! outbound queue, no lock, no second pass over the messages. A request-response server's
//! every reply takes this path (callgrind, issue 17: the queue's push, its lock and the pass
//! that feeds it cost about 200 instructions per echoed message). Lending the write buffer's
//! own tail to the thread instead, to save the copy, cost more in moves than the copy of a
//! small frame (16 B: 2070 against 1984 instructions per message; 1 KiB: 2316 against 2345).
//!
//! Why it is sound:
//! - The window is open only on the thread running the connection's task, only while that
//!   task runs handlers. On that thread, in that window, only that handler's code runs, so a
//!   write to the connection from this thread then is the handler's own.
//! - Order: the window takes direct writes only when nothing older waits in the shared queue.
//!   Once a write in the window cannot go direct (a close, a ping, a large payload, the write
//!   buffer's room used up), it is queued, and queueing inside the window switches it to
//!   [`Mode::Queueing`] ([`queueing`]): every later write goes through the queue too, behind
//!   the direct ones.
//! - Bounds: a direct write takes its room in the queue's byte account like a queued one (so
//!   `max_pending_bytes` and `queued_bytes()` mean what they meant), released when the window
//!   closes, and the frames of a window never pass the room the write buffer had when it
//!   opened.
//! - A drop guard closes the window on every path, so no stale address is ever left behind.
//!
//! Only a server connection without an extension takes direct writes: its frames need none
//! of the connection's state (no mask, no compression context).
#![forbid(unsafe_code)]

use super::{Conn, Shared};
use crate::proto::{Message, OpCode, Utf8Bytes, WriteBuffer, put_small_server_frame};
use crate::stream::WebSocket;
use bytes::{Bytes, BytesMut};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// What writes inside the window do, kept in the low bits of [`WINDOW`] (a [`Shared`] is
/// 64-byte aligned, so its address leaves them free).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Mode {
    /// Encoded into [`FRAMES`].
    Direct = 1,
    /// Onto the shared queue, without waking the task: it feeds the queue when the window
    /// closes.
    Queueing = 2,
}

const MODE_BITS: usize = 3;

/// A frame buffer grown past this by a burst is let go when its window closes.
const FRAMES_KEEP: usize = 64 * 1024;

thread_local! {
    /// The address of the [`Shared`] of the connection whose handler runs on this thread now,
    /// plus its [`Mode`]; 0 when none.
    static WINDOW: Cell<usize> = const { Cell::new(0) };
    /// Bytes the window's frames may still take (the write buffer's room when it opened).
    static ROOM: Cell<usize> = const { Cell::new(0) };
    /// Payload bytes the window's direct writes took in the queue's byte account.
    static TAKEN: Cell<usize> = const { Cell::new(0) };
    /// The frames the window's direct writes encoded, in order.
    static FRAMES: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

fn address(shared: &Arc<Shared>) -> usize {
    Arc::as_ptr(shared).addr()
}

/// The window in which a connection's task runs its handlers on this thread: opened by
/// [`Window::open`], closed by [`Window::close`] or when dropped (a panic unwinding past it).
pub(crate) struct Window {
    /// This window set [`WINDOW`]. A window opened while another is open on this thread (a
    /// handler that drives another connection's future to completion in place) does not: the
    /// writes made inside it belong to the outer handler's call.
    opened: bool,
    /// It opened taking direct writes: there may be frames to copy when it closes.
    direct: bool,
}

impl Window {
    /// Opens the window for `conn`'s handlers on this thread. Direct writes are taken when
    /// `direct` (the connection takes encoded frames), nothing older waits in the shared
    /// queue (`backlog`, or another task's write just queued) and the write buffer has room.
    #[inline]
    pub fn open<S>(conn: &Conn, ws: &mut WebSocket<S>, direct: bool, backlog: bool) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if WINDOW.get() != 0 {
            return Self {
                opened: false,
                direct: false,
            };
        }
        let room = if direct && !backlog && !conn.shared.signal.queued() {
            ws.write_buffer_room()
        } else {
            0
        };
        let mode = if room > 0 {
            ROOM.set(room);
            Mode::Direct
        } else {
            Mode::Queueing
        };
        WINDOW.set(address(&conn.shared) | mode as usize);
        Self {
            opened: true,
            direct: mode == Mode::Direct,
        }
    }

    /// Closes the window: copies the frames of its direct writes into `ws`'s write buffer,
    /// and tells whether the handlers queued anything in it (the task feeds the queue then).
    #[inline]
    pub fn close<S>(self, conn: &Conn, ws: &mut WebSocket<S>) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if !self.opened {
            return false;
        }
        let direct = self.direct;
        std::mem::forget(self);
        let window = WINDOW.replace(0);
        if direct {
            FRAMES.with_borrow_mut(|frames| {
                if !frames.is_empty() {
                    ws.encode_frames(frames);
                }
                if frames.capacity() > FRAMES_KEEP {
                    *frames = BytesMut::new();
                }
            });
            let taken = TAKEN.replace(0);
            if taken > 0 {
                conn.release(taken);
            }
        }
        window & MODE_BITS == Mode::Queueing as usize
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // Unwinding past an open window: close it and forget its frames (the connection's
        // task is going away with its connection).
        if self.opened {
            WINDOW.set(0);
            TAKEN.set(0);
            FRAMES.with_borrow_mut(BytesMut::clear);
        }
    }
}

/// Encodes a text or binary `message` (whose `len` payload bytes are already taken in the
/// queue's byte account) for `conn`'s handler running on this thread, if its window takes
/// direct writes; gives it back if not. The caller queues it then, and [`queueing`] sends the
/// window's later writes through the queue too, to keep their order. (Taken apart by value:
/// the payload is then dropped as `Bytes`, without a call to the message's generic drop.)
#[inline]
pub(crate) fn try_write(conn: &Conn, message: Message, len: usize) -> Result<(), Message> {
    let (opcode, payload) = match message {
        Message::Text(text) => (OpCode::Text, text.into_bytes()),
        Message::Binary(data) => (OpCode::Binary, data),
        other => return Err(other),
    };
    // The largest frame of a copied payload: a 4-byte header (the 16-bit length form).
    if write_direct(conn, len, len + 4, |frames| {
        put_small_server_frame(frames, opcode, &payload)
    }) {
        return Ok(());
    }
    Err(match opcode {
        // It was text, so it is UTF-8.
        OpCode::Text => Message::Text(Utf8Bytes::from_validated(payload)),
        _ => Message::Binary(payload),
    })
}

/// As [`try_write`], for a frame encoded once for many connections: copied when small.
#[inline]
pub(crate) fn try_write_frame(conn: &Conn, frame: &Bytes, len: usize) -> bool {
    write_direct(conn, len, frame.len(), |frames| {
        WriteBuffer::copies(frame.len()).then(|| {
            frames.extend_from_slice(frame);
            frame.len()
        })
    })
}

/// Appends a frame with `encode` (its length, or `None` for a payload too large to copy) when
/// `conn`'s window on this thread takes direct writes and has `need` bytes of room; `len`
/// payload bytes are then the window's to release.
#[inline]
fn write_direct(
    conn: &Conn,
    len: usize,
    need: usize,
    encode: impl FnOnce(&mut BytesMut) -> Option<usize>,
) -> bool {
    if WINDOW.get() != address(&conn.shared) | Mode::Direct as usize {
        return false;
    }
    let room = ROOM.get();
    if need > room {
        return false;
    }
    let Some(n) = FRAMES.with_borrow_mut(encode) else {
        return false;
    };
    ROOM.set(room - n);
    TAKEN.set(TAKEN.get() + len);
    true
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
