//! The task behind a [`Conn`]: it reads frames, runs the handlers, the keep-alive and the idle
//! timer, and writes what was queued (batched, with a write timeout), owning the `WebSocket`
//! whole: no lock between reading and writing, and no second task to wake. This file is the
//! connection's life (`on_open`, the read loop of `reader.rs`, the drain, `on_close`).
#![forbid(unsafe_code)]

use super::Conn;
use super::dispatch::Dispatch;
use super::handlers::{Panicked, guarded};
use super::reader::{End, Reader, read_loop};
use crate::event::config::Config;
use crate::proto::CloseCode;
use crate::stream::WebSocket;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;

/// A connection that is set up but not yet running: what other tasks write meanwhile is
/// queued, and goes out once the future of [`Running::drive`] runs it. The `WebSocket` is
/// boxed so that the future moves a pointer, not the connection.
pub(crate) struct Running<S> {
    ws: Box<WebSocket<S>>,
}

/// Makes `ws` a connection to be run by [`Running::drive`].
pub(crate) fn start<S>(ws: WebSocket<S>) -> Running<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Running { ws: Box::new(ws) }
}

impl<S> Running<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Fires `on_open` and returns the future that runs the connection to its end on the
    /// current task: it reads and dispatches, then fires `on_close` exactly once, after
    /// `on_end` (the server's bookkeeping). A handler's panic is caught and fails the
    /// connection (1011); every path ends there, with the socket released.
    pub(crate) fn drive<F: FnOnce()>(self, conn: Conn, config: &Config, on_end: F) -> Drive<S, F> {
        let metrics = crate::event::metrics::get();
        metrics.connections_total.increment(1);
        metrics.connections_active.increment(1.0);
        let span = tracing::debug_span!("wsx.conn", id = conn.id(), peer = ?conn.remote_addr());
        // Kept only when a subscriber wants it: a span is 40 bytes, and with them the task of
        // an idle connection took 768 bytes instead of 640 (tokio rounds a task to 128).
        let span = (!span.is_disabled()).then(|| Box::new(span));
        let mut dispatch = Dispatch::default();
        {
            let _entered = span.as_deref().map(tracing::Span::enter);
            if let Err(panicked) = fire_open(&conn) {
                dispatch.fail(&conn, panicked);
            }
        }
        let reader = Reader::new(config, self.ws.takes_encoded_frames());
        Drive {
            sleep: reader.timer(),
            conn,
            phase: Phase::Open(self.ws),
            reader,
            dispatch,
            close_timeout: config.close_timeout,
            on_end: Some(on_end),
            span,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a connection's life ([`Running::drive`]). Written by hand rather than
    /// as nested async functions, so that a poll goes straight to the read loop's turn: the
    /// resumes of four nested state machines and the loop's state reached through a closure's
    /// captures cost about 50 instructions per echoed message (issue 17, callgrind).
    pub(crate) struct Drive<S, F> {
        conn: Conn,
        phase: Phase<S>,
        reader: Reader,
        dispatch: Dispatch,
        // The keep-alive and idle timer.
        #[pin]
        sleep: Sleep,
        close_timeout: Duration,
        on_end: Option<F>,
        // The connection's span, when a subscriber wants it.
        span: Option<Box<tracing::Span>>,
    }
    impl<S, F> PinnedDrop for Drive<S, F> {
        // Dropped before it ended (a runtime shutting down): the socket goes with it, so no
        // broadcast may write to its descriptor any more (`wire.rs`).
        fn drop(this: Pin<&mut Self>) {
            this.conn.wire_off();
        }
    }
}

/// Where a connection's life is.
enum Phase<S> {
    /// Reading, running the handlers, writing.
    Open(Box<WebSocket<S>>),
    /// The connection ended normally (the socket is released): what was received before it
    /// ended runs to its end, within `close_timeout`.
    Draining(Pin<Box<dyn Future<Output = ()> + Send>>, End),
    /// `on_close` has fired.
    Done,
}

impl<S, F> Future for Drive<S, F>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(),
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let _entered = this.span.as_deref().map(tracing::Span::enter);
        let conn = &*this.conn;
        loop {
            match this.phase {
                Phase::Open(ws) => {
                    let end = std::task::ready!(read_loop(
                        conn,
                        ws,
                        this.reader,
                        this.dispatch,
                        this.sleep.as_mut(),
                        cx
                    ));
                    // The socket is released first.
                    *this.phase = Phase::Done;
                    conn.shared.ended.store(true, Ordering::Release);
                    conn.shared.signal.unregister();
                    // Wake anyone waiting for room: the connection is gone.
                    conn.shared.room.notify_waiters();
                    if let Some(on_end) = this.on_end.take() {
                        on_end();
                    }
                    if end.drain {
                        let mut dispatch = std::mem::take(this.dispatch);
                        let (conn, limit) = (conn.clone(), *this.close_timeout);
                        let drain = async move { dispatch.drain(&conn, limit).await };
                        *this.phase = Phase::Draining(Box::pin(drain), end);
                        continue;
                    }
                    finish(conn, &end);
                    return Poll::Ready(());
                }
                Phase::Draining(drain, _) => {
                    std::task::ready!(drain.as_mut().poll(cx));
                    if let Phase::Draining(_, end) = std::mem::replace(this.phase, Phase::Done) {
                        finish(conn, &end);
                    }
                    return Poll::Ready(());
                }
                Phase::Done => return Poll::Ready(()),
            }
        }
    }
}

/// The end of a connection's life, after its read loop (and the drain): `on_close`, then the
/// handlers and the state are let go.
fn finish(conn: &Conn, end: &End) {
    fire_close(conn, end.code, &end.reason);
    // Handlers often hold their own `Conn`: drop them (and the state) so nothing keeps the
    // connection's memory alive, then tell `closed()` waiters.
    let handlers = conn.handlers_mut().take_all();
    drop(handlers);
    conn.clear_state();
    conn.shared.room.notify_waiters();
    crate::event::metrics::get()
        .connections_active
        .decrement(1.0);
}

/// A guarded call of `on_open`.
fn fire_open(conn: &Conn) -> Result<(), Panicked> {
    let handler = {
        let mut h = conn.handlers_mut();
        h.opened = true;
        h.open.take()
    };
    match handler {
        Some(f) => guarded(|| f(conn)),
        None => Ok(()),
    }
}

fn fire_close(conn: &Conn, code: CloseCode, reason: &str) {
    let handler = {
        let mut h = conn.handlers_mut();
        if h.closed.is_some() {
            return;
        }
        h.closed = Some(Box::new((code, reason.to_owned())));
        h.close.take()
    };
    if let Some(f) = handler
        && let Err(p) = guarded(|| f(conn, code, reason))
    {
        tracing::error!(conn = conn.id(), "on_close handler panicked: {}", p.0);
    }
}

#[cfg(test)]
mod tests {
    use super::Drive;
    use crate::event::conn::Shared;
    use std::mem::size_of;

    /// What an idle connection of the event API owns is mostly these two (issue 25: the idle
    /// memory per connection). tokio rounds a task up to 128 bytes, with about 136 of its own
    /// around the future: past 504 bytes the connection's task takes 768 instead of 640. The
    /// shared state is aligned to 64 bytes behind the `Arc`'s 64: past 512 it takes 640.
    #[test]
    fn an_idle_connection_stays_small() {
        type Task = Drive<tokio::net::TcpStream, Box<dyn FnOnce() + Send>>;
        assert!(size_of::<Task>() <= 504, "{}", size_of::<Task>());
        assert!(size_of::<Shared>() <= 512, "{}", size_of::<Shared>());
    }
}
