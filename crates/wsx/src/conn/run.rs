//! The task behind a [`Conn`]: it reads frames, runs the handlers, the keep-alive and the idle
//! timer, and writes what was queued (batched, with a write timeout), owning the `WebSocket`
//! whole: no lock between reading and writing, and no second task to wake.
#![forbid(unsafe_code)]

use super::direct::Window;
use super::dispatch::{Dispatch, PANIC_REASON, fire_error};
use super::handlers::{Panicked, guarded};
use super::{Conn, ReaderSignal};
use crate::config::Config;
use crate::error::Error;
use crate::limit::{ConnLimiter, OnRateExceeded};
use crate::proto::{CloseCode, KeepAlive, Message, Timeout};
use crate::stream::WebSocket;
use bytes::Bytes;
use futures_core::Stream;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// A connection that is set up but not yet running: what other tasks write meanwhile is
/// queued, and goes out once [`Running::drive`] runs it. The `WebSocket` is boxed so that the
/// futures that carry it down to the read loop move a pointer, not the connection.
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
    /// Runs the connection to its end on the current task: fires `on_open`, reads and
    /// dispatches, then fires `on_close` exactly once, after `on_end` (the server's
    /// bookkeeping). A handler's panic is caught and fails the connection (1011); every path
    /// ends here, with the socket released.
    pub(crate) async fn drive(self, conn: Conn, config: &Config, on_end: impl FnOnce()) {
        let metrics = crate::metrics::get();
        metrics.connections_total.increment(1);
        metrics.connections_active.increment(1.0);
        let span = tracing::debug_span!("wsx.conn", id = conn.id(), peer = ?conn.remote_addr());
        tracing::Instrument::instrument(self.run(&conn, config, on_end), span).await;
        metrics.connections_active.decrement(1.0);
    }

    async fn run(self, conn: &Conn, config: &Config, on_end: impl FnOnce()) {
        let conn = conn.clone();
        let mut dispatch = Dispatch::default();
        if let Err(panicked) = fire_open(&conn) {
            dispatch.fail(&conn, panicked);
        }
        let end = read_loop(&conn, self.ws, config, &mut dispatch).await;
        conn.shared.ended.store(true, Ordering::Release);
        conn.shared.signal.unregister();
        // Wake anyone waiting for room: the connection is gone.
        conn.shared.room.notify_waiters();
        on_end();
        if end.drain {
            dispatch.drain(&conn, config.close_timeout).await;
        }
        fire_close(&conn, end.code, &end.reason);
        // Handlers often hold their own `Conn`: drop them (and the state) so nothing keeps the
        // connection's memory alive, then tell `closed()` waiters.
        let handlers = conn.handlers_mut().take_all();
        drop(handlers);
        conn.clear_state();
        conn.shared.room.notify_waiters();
    }
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
        h.closed = Some((code, reason.to_owned()));
        h.close.take()
    };
    if let Some(f) = handler
        && let Err(p) = guarded(|| f(conn, code, reason))
    {
        tracing::error!(conn = conn.id(), "on_close handler panicked: {}", p.0);
    }
}

/// The keep-alive timers of a connection opened now, on tokio's clock (paused in tests).
fn keepalive(config: &Config) -> KeepAlive {
    KeepAlive::new(
        now(),
        config.ping_interval,
        config.pong_timeout,
        config.idle_timeout,
    )
}

/// tokio's "now" as the core's `Instant`: the wall clock, or the paused test clock.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// When the read loop's timer must fire next.
fn wake_at(timers: &KeepAlive) -> Instant {
    timers
        .poll_timeout()
        .map_or_else(far_future, Instant::from_std)
}

/// What ends the read loop early.
enum Stop {
    Dead,
}

/// How a connection whose peer stopped answering pings is failed (RFC 6455 §7.1.7): the close
/// frame attempted says 1011 with python-websockets' reason, while `on_close` reports 1006 (no
/// close frame was received, as python-websockets reports it too) with [`DEAD_PEER_REASON`].
const DEAD_PEER_CLOSE: (CloseCode, &str) = (CloseCode::INTERNAL_ERROR, "keepalive ping timeout");

/// The `on_close` reason for a peer that stopped answering pings.
const DEAD_PEER_REASON: &str = "no pong from peer";

/// How the read loop ended.
struct End {
    code: CloseCode,
    reason: String,
    /// It ended normally: what was received before should still reach its handlers.
    drain: bool,
}

/// What the read loop keeps between turns besides the connection and its dispatch state.
struct Reader {
    timers: KeepAlive,
    /// Per-connection rate limits, only when configured.
    limiter: Option<Box<ConnLimiter>>,
    /// The connection was closed for going past a rate: nothing more is dispatched.
    rate_closed: bool,
    /// How the connection ends, once known (a close frame, a protocol error, a panic).
    outcome: Option<(CloseCode, String)>,
    /// Queued items wait for room in the write buffer (or another task queued some).
    backlog: bool,
    /// The connection takes its handlers' replies directly (see `direct.rs`).
    direct: bool,
}

impl Reader {
    /// Hands a message to its handlers and encodes what they wrote: in order before anything
    /// read later, a close that fails the connection included. The next poll of the connection
    /// writes it out.
    #[inline]
    fn on_message<S>(
        &mut self,
        conn: &Conn,
        ws: &mut WebSocket<S>,
        dispatch: &mut Dispatch,
        message: Message,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let metrics = crate::metrics::get();
        if let Some(len) = data_len(&message) {
            self.timers.on_data(now);
            let kind = crate::metrics::Metrics::kind(matches!(message, Message::Binary(_)));
            metrics.messages_received[kind].increment(1);
            metrics.bytes_received[kind].increment(len as u64);
            if self.rate_closed {
                return;
            }
            if let Some(limiter) = &self.limiter
                && let Err(which) = limiter.admit(len)
            {
                crate::metrics::rate_limited(which.as_str());
                match limiter.action {
                    OnRateExceeded::Drop => fire_error(conn, &Error::RateLimited(which)),
                    OnRateExceeded::Close => {
                        self.rate_closed = true;
                        let _ = conn.close(CloseCode::POLICY_VIOLATION, "rate limit exceeded");
                    }
                }
                return;
            }
        } else if let Message::Pong(_) = &message {
            if let Some(rtt) = self.timers.on_pong(now()) {
                metrics.ping_rtt.record(rtt.as_secs_f64());
            }
        } else {
            self.timers.on_frame();
            if let Message::Close(frame) = &message {
                crate::metrics::close_received(frame.as_ref().map_or(1005, |f| f.code.into()));
            }
        }
        if let Some(done) = self.run_handlers(conn, ws, || dispatch.dispatch(conn, message))
            && !dispatch.failed
        {
            self.outcome = Some(done);
        }
    }

    /// Runs handlers (`run`) in a window that takes their replies directly (`direct.rs`), then
    /// encodes what they queued, behind the direct replies.
    #[inline]
    fn run_handlers<S, R>(
        &mut self,
        conn: &Conn,
        ws: &mut WebSocket<S>,
        run: impl FnOnce() -> R,
    ) -> R
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let window = Window::open(conn, ws, self.direct, self.backlog);
        let result = run();
        if window.close() || self.backlog {
            self.backlog = conn.feed_queued(ws);
        }
        result
    }

    /// How the connection ended, when it ends now.
    fn end(&mut self, drain: bool) -> End {
        let (code, reason) = self
            .outcome
            .take()
            .unwrap_or((CloseCode::ABNORMAL_CLOSURE, String::new()));
        End {
            code,
            reason,
            drain,
        }
    }
}

async fn read_loop<S>(
    conn: &Conn,
    mut ws: Box<WebSocket<S>>,
    config: &Config,
    dispatch: &mut Dispatch,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut reader = Reader {
        timers: keepalive(config),
        limiter: ConnLimiter::new(&config.rate_limits),
        rate_closed: false,
        outcome: None,
        backlog: false,
        direct: ws.takes_encoded_frames(),
    };
    let sleep = tokio::time::sleep_until(wake_at(&reader.timers));
    tokio::pin!(sleep);
    // The waker the timer was last polled with (`None`: poll it on the next turn).
    let mut timer_waker: Option<Waker> = None;
    // The waker registered with the signal (it stays registered, see `ReaderSignal`).
    let mut signal_waker: Option<Waker> = None;
    let signal = &conn.shared.signal;
    loop {
        // Data messages are handled inside the turn, without leaving it: a turn ends only for
        // what is rare (a handler registered or finished, an error, the end, the timer).
        let turn = std::future::poll_fn(|cx| {
            loop {
                // A handler's panic failed the connection (on any path: a message, a handler
                // registered for waiting ones, an async handler, on_open): it ends with 1011.
                if dispatch.failed
                    && reader
                        .outcome
                        .as_ref()
                        .is_none_or(|(code, _)| *code != CloseCode::INTERNAL_ERROR)
                {
                    reader.outcome = Some((CloseCode::INTERNAL_ERROR, PANIC_REASON.into()));
                }
                let flags = signal.get();
                if flags != 0 {
                    let taken = signal.take();
                    if taken & ReaderSignal::TEARDOWN != 0 {
                        return Poll::Ready(Turn::Teardown);
                    }
                    reader.backlog |= taken & ReaderSignal::QUEUED != 0;
                    if taken & ReaderSignal::HANDLER_ADDED != 0 && dispatch.has_waiting() {
                        return Poll::Ready(Turn::HandlerAdded);
                    }
                }
                if dispatch.is_running()
                    && let Poll::Ready(result) = dispatch.poll_running(cx)
                {
                    return Poll::Ready(Turn::HandlerDone(result));
                }
                // Hold reading while too much waits for a handler (backpressure, nothing
                // dropped); while it is held, `poll_next` does not write out either: this does.
                let can_read = dispatch.waiting_bytes <= config.max_message_size;
                if (reader.backlog || !can_read)
                    && let Poll::Ready(Err(err)) =
                        poll_outbound(conn, &mut ws, &mut reader.backlog, !can_read, cx)
                {
                    return Poll::Ready(Turn::WriteFailed(err));
                }
                if can_read && let Poll::Ready(item) = Pin::new(&mut *ws).poll_next(cx) {
                    match item {
                        Some(Ok(message)) => {
                            reader.on_message(conn, &mut ws, dispatch, message);
                            continue;
                        }
                        other => return Poll::Ready(Turn::Item(other)),
                    }
                }
                // The timer holds the waker it was polled with: poll it again only when it
                // fired or the waker changed (a poll per turn costs more than the rest of the
                // turn).
                let armed = timer_waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()) && !sleep.is_elapsed());
                if !armed {
                    if sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Turn::Timer);
                    }
                    timer_waker = Some(cx.waker().clone());
                }
                // Waiting: a flag raised before the registration is seen by the check after
                // it. A registration stands until another waker is registered (see
                // `ReaderSignal`), so the same waker is not registered again (that cost 40
                // instructions a message).
                if !signal_waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    signal.register(cx.waker());
                    signal_waker = Some(cx.waker().clone());
                }
                if signal.get() == 0 {
                    return Poll::Pending;
                }
            }
        })
        .await;
        match turn {
            Turn::Teardown => return reader.end(false),
            Turn::WriteFailed(err) => {
                // The peer stopped reading (write timeout) or the socket failed: the
                // connection is dropped now, as on teardown.
                fire_error(conn, &err);
                return reader.end(false);
            }
            Turn::Item(None) => return reader.end(!dispatch.failed),
            Turn::HandlerAdded | Turn::HandlerDone(Ok(())) => {
                reader.run_handlers(conn, &mut ws, || {
                    if let Err(panicked) = dispatch.deliver_waiting(conn) {
                        dispatch.fail(conn, panicked);
                    }
                });
            }
            // Its close frame is queued from outside a handler's window: `QUEUED` is raised.
            Turn::HandlerDone(Err(panicked)) => dispatch.fail(conn, panicked),
            Turn::Item(Some(Ok(message))) => reader.on_message(conn, &mut ws, dispatch, message),
            Turn::Item(Some(Err(err))) => {
                reader.timers.on_frame();
                // Once a handler's panic failed the connection, what follows (the peer gone
                // before answering the close, say) is its consequence: reported once.
                if dispatch.failed {
                    continue;
                }
                if let Error::Protocol(p) = &err {
                    // The peer was sent the code and short reason of `ProtocolError`'s wire
                    // table; the application is told the full text (its `Display`).
                    reader.outcome = Some((p.close_code(), p.to_string()));
                }
                fire_error(conn, &err);
            }
            Turn::Timer => {
                if let Err(Stop::Dead) = on_timer(conn, &mut reader.timers) {
                    // The core fails the connection and one write of its close frame is
                    // tried; the dead peer is not waited for: the connection ends now.
                    let (code, reason) = DEAD_PEER_CLOSE;
                    return End {
                        code: ws.fail_now(code, reason),
                        reason: DEAD_PEER_REASON.into(),
                        drain: !dispatch.failed,
                    };
                }
                // A ping or an idle close was queued from outside a handler's window:
                // `QUEUED` is raised, so the next turn feeds it.
                sleep.as_mut().reset(wake_at(&reader.timers));
                timer_waker = None;
            }
        }
    }
}

/// Encodes queued items into the write buffer, writing it out whenever it is full, until no
/// item is left (`backlog` cleared) or the transport takes no more (`Pending`, the task
/// registered for its write readiness). With `write_out`, the buffer is written out at the
/// end too (else the next `poll_next` does it).
fn poll_outbound<S>(
    conn: &Conn,
    ws: &mut WebSocket<S>,
    backlog: &mut bool,
    write_out: bool,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        *backlog = conn.feed_queued(ws);
        if !*backlog && !write_out {
            return Poll::Ready(Ok(()));
        }
        std::task::ready!(ws.poll_write_buffered(cx))?;
        if !*backlog {
            return Poll::Ready(Ok(()));
        }
    }
}

/// The payload length of a data message; `None` for control frames.
fn data_len(message: &Message) -> Option<usize> {
    match message {
        Message::Text(t) => Some(t.len()),
        Message::Binary(b) => Some(b.len()),
        _ => None,
    }
}

/// What woke the read loop, in the order it is checked: teardown first, then handlers
/// registered for waiting messages, then a finished async handler, then a failed write of
/// what was queued, then input, then the timers.
enum Turn {
    Teardown,
    WriteFailed(Error),
    HandlerAdded,
    HandlerDone(Result<(), Panicked>),
    Item(Option<Result<Message, Error>>),
    Timer,
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Deadlines passed: send a ping, detect a dead peer, or close an idle connection.
fn on_timer(conn: &Conn, timers: &mut KeepAlive) -> Result<(), Stop> {
    let now = now();
    while let Some(due) = timers.handle_timeout(now) {
        match due {
            // RFC 6455 §5.5.2 pings went unanswered and nothing else came: the peer is dead.
            Timeout::PeerDead => return Err(Stop::Dead),
            Timeout::SendPing => conn.enqueue_internal(Message::Ping(Bytes::new())),
            Timeout::Idle => {
                let _ = conn.close(CloseCode::GOING_AWAY, "idle timeout");
            }
        }
    }
    Ok(())
}
