//! The read loop of a connection's task: a turn reads and handles data messages (running the
//! handlers in their window, `window.rs`), feeds the outbound queue into the write buffer and
//! writes it out, until something rare ends it (a handler registered or finished, an error,
//! the end, the timer); the turn's end is handled, and the next turn starts.
#![forbid(unsafe_code)]

use super::dispatch::{Dispatch, PANIC_REASON, fire_error};
use super::handlers::Panicked;
use super::window::with_window;
use super::{Conn, ReaderSignal};
use crate::error::Error;
use crate::event::config::Config;
use crate::event::limit::{ConnLimiter, OnRateExceeded};
use crate::proto::{CloseCode, KeepAlive, Message, Timeout};
use crate::stream::WebSocket;
use bytes::Bytes;
use futures_core::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

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
pub(super) struct End {
    pub code: CloseCode,
    pub reason: String,
    /// It ended normally: what was received before should still reach its handlers.
    pub drain: bool,
}

/// What the read loop keeps between turns besides the connection and its dispatch state.
pub(super) struct Reader {
    timers: KeepAlive,
    /// Per-connection rate limits, only when configured.
    limiter: Option<Box<ConnLimiter>>,
    /// The connection was closed for going past a rate: nothing more is dispatched.
    rate_closed: bool,
    /// How the connection ends, once known (a close frame, a protocol error, a panic).
    /// Boxed: known only at the end, and inline it would take 24 more bytes of every
    /// connection's task.
    outcome: Option<Box<(CloseCode, String)>>,
    /// Queued items wait for room in the write buffer (or another task queued some).
    backlog: bool,
    /// The connection takes its handlers' replies directly (see `window.rs`).
    direct: bool,
    /// Reading is held while more than this waits for a handler.
    max_message_size: usize,
    /// The waker the timer was last polled with (`None`: poll it on the next turn).
    timer_waker: Option<Waker>,
    /// The waker registered with the signal (it stays registered, see `ReaderSignal`).
    signal_waker: Option<Waker>,
}

impl Reader {
    /// The read loop's state for a connection opened now with `config`; `direct`: it takes
    /// its handlers' replies directly (see `window.rs`).
    pub fn new(config: &Config, direct: bool) -> Self {
        Self {
            timers: keepalive(config),
            limiter: ConnLimiter::new(&config.rate_limits),
            rate_closed: false,
            outcome: None,
            backlog: false,
            direct,
            max_message_size: config.max_message_size,
            timer_waker: None,
            signal_waker: None,
        }
    }

    /// The keep-alive and idle timer, set to the first deadline.
    pub fn timer(&self) -> Sleep {
        tokio::time::sleep_until(wake_at(&self.timers))
    }

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
        let metrics = crate::event::metrics::get();
        if let Some(len) = data_len(&message) {
            self.timers.on_data(now);
            let kind = crate::event::metrics::Metrics::kind(matches!(message, Message::Binary(_)));
            metrics.messages_received[kind].increment(1);
            metrics.bytes_received[kind].increment(len as u64);
            if self.rate_closed {
                return;
            }
            if let Some(limiter) = &self.limiter
                && let Err(which) = limiter.admit(len)
            {
                crate::event::metrics::rate_limited(which.as_str());
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
            if let Message::Close(frame) = message {
                // The peer's close: no handler hears of it until `on_close`, which reports it
                // (unless a handler's panic failed the connection first).
                crate::event::metrics::close_received(
                    frame.as_ref().map_or(1005, |f| f.code.into()),
                );
                if !dispatch.failed {
                    self.outcome = Some(Box::new(match frame {
                        Some(f) => (f.code, f.reason),
                        None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
                    }));
                }
                return;
            }
        }
        self.run_handlers(conn, ws, || dispatch.dispatch(conn, message));
    }

    /// Runs handlers (`run`) in a window that takes their replies directly (`window.rs`), then
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
        let (result, queued) = with_window(conn, ws, self.direct, self.backlog, run);
        if queued || self.backlog {
            self.backlog = conn.feed_queued(ws);
        }
        result
    }

    /// How the connection ended, when it ends now.
    fn end(&mut self, drain: bool) -> End {
        let (code, reason) = self
            .outcome
            .take()
            .map_or((CloseCode::ABNORMAL_CLOSURE, String::new()), |outcome| {
                *outcome
            });
        End {
            code,
            reason,
            drain,
        }
    }
}

/// The read loop: polls turns and handles them until the connection ends. Data messages are
/// handled inside a turn, without leaving it: a turn ends only for what is rare (a handler
/// registered or finished, an error, the end, the timer).
#[inline]
pub(super) fn read_loop<S>(
    conn: &Conn,
    ws: &mut WebSocket<S>,
    reader: &mut Reader,
    dispatch: &mut Dispatch,
    mut sleep: Pin<&mut Sleep>,
    cx: &mut Context<'_>,
) -> Poll<End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Broadcasts may have written to the socket while the task was parked (`wire.rs`): take
    // it back; the rest of a frame the socket took in part goes first, into the empty buffer.
    if conn.wire_enter() {
        feed_rest(conn, ws, reader);
    }
    loop {
        let turn = std::task::ready!(reader.poll_turn(conn, ws, dispatch, sleep.as_mut(), cx));
        if let Some(end) = reader.on_turn(conn, ws, dispatch, sleep.as_mut(), turn) {
            return Poll::Ready(end);
        }
    }
}

impl Reader {
    /// Runs the connection until something rare happens: reads and handles data messages,
    /// writes out what waits.
    #[inline]
    fn poll_turn<S>(
        &mut self,
        conn: &Conn,
        ws: &mut WebSocket<S>,
        dispatch: &mut Dispatch,
        mut sleep: Pin<&mut Sleep>,
        cx: &mut Context<'_>,
    ) -> Poll<Turn>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let signal = &conn.shared.signal;
        loop {
            // A handler's panic failed the connection (on any path: a message, a handler
            // registered for waiting ones, an async handler, on_open): it ends with 1011.
            if dispatch.failed
                && self
                    .outcome
                    .as_ref()
                    .is_none_or(|outcome| outcome.0 != CloseCode::INTERNAL_ERROR)
            {
                self.outcome = Some(Box::new((CloseCode::INTERNAL_ERROR, PANIC_REASON.into())));
            }
            let flags = signal.get();
            if flags != 0 {
                let taken = signal.take();
                if taken & ReaderSignal::TEARDOWN != 0 {
                    return Poll::Ready(Turn::Teardown);
                }
                self.backlog |= taken & ReaderSignal::QUEUED != 0;
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
            let can_read = dispatch.waiting_bytes <= self.max_message_size;
            if (self.backlog || !can_read)
                && let Poll::Ready(Err(err)) =
                    poll_outbound(conn, ws, &mut self.backlog, !can_read, cx)
            {
                return Poll::Ready(Turn::WriteFailed(err));
            }
            if can_read && let Poll::Ready(item) = Pin::new(&mut *ws).poll_next(cx) {
                match item {
                    Some(Ok(message)) => {
                        self.on_message(conn, ws, dispatch, message);
                        continue;
                    }
                    Some(Err(err)) => return Poll::Ready(Turn::Failed(err)),
                    None => return Poll::Ready(Turn::Eof),
                }
            }
            // The timer holds the waker it was polled with: poll it again only when it fired
            // or the waker changed (a poll per turn costs more than the rest of the turn).
            let armed = self
                .timer_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()) && !sleep.is_elapsed());
            if !armed {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Turn::Timer);
                }
                self.timer_waker = Some(cx.waker().clone());
            }
            // Waiting: a flag raised before the registration is seen by the check after it. A
            // registration stands until another waker is registered (see `ReaderSignal`), so
            // the same waker is not registered again (that cost 40 instructions a message).
            if !self
                .signal_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                signal.register(cx.waker());
                self.signal_waker = Some(cx.waker().clone());
            }
            if signal.get() == 0 {
                // Parked: with nothing left to write, broadcasts may write to the socket.
                conn.wire_idle(|| !self.backlog && ws.write_idle());
                return Poll::Pending;
            }
        }
    }

    /// Handles what ended a turn; returns how the connection ended, when it ends.
    fn on_turn<S>(
        &mut self,
        conn: &Conn,
        ws: &mut WebSocket<S>,
        dispatch: &mut Dispatch,
        sleep: Pin<&mut Sleep>,
        turn: Turn,
    ) -> Option<End>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match turn {
            Turn::Teardown => return Some(self.end(false)),
            Turn::WriteFailed(err) => {
                // The peer stopped reading (write timeout) or the socket failed: the
                // connection is dropped now, as on teardown.
                fire_error(conn, &err);
                return Some(self.end(false));
            }
            Turn::Eof => return Some(self.end(!dispatch.failed)),
            Turn::HandlerAdded | Turn::HandlerDone(Ok(())) => {
                self.run_handlers(conn, ws, || {
                    if let Err(panicked) = dispatch.deliver_waiting(conn) {
                        dispatch.fail(conn, panicked);
                    }
                });
            }
            // Its close frame is queued from outside a handler's window: `QUEUED` is raised.
            Turn::HandlerDone(Err(panicked)) => dispatch.fail(conn, panicked),
            Turn::Failed(err) => {
                self.timers.on_frame();
                // Once a handler's panic failed the connection, what follows (the peer gone
                // before answering the close, say) is its consequence: reported once.
                if dispatch.failed {
                    return None;
                }
                if let Error::Protocol(p) = &err {
                    // The peer was sent the code and short reason of `ProtocolError`'s wire
                    // table; the application is told the full text (its `Display`).
                    self.outcome = Some(Box::new((p.close_code(), p.to_string())));
                }
                fire_error(conn, &err);
            }
            Turn::Timer => {
                if let Err(Stop::Dead) = on_timer(conn, &mut self.timers) {
                    // The core fails the connection and one write of its close frame is
                    // tried; the dead peer is not waited for: the connection ends now.
                    let (code, reason) = DEAD_PEER_CLOSE;
                    return Some(End {
                        code: ws.fail_now(code, reason),
                        reason: DEAD_PEER_REASON.into(),
                        drain: !dispatch.failed,
                    });
                }
                // A ping or an idle close was queued from outside a handler's window:
                // `QUEUED` is raised, so the next turn feeds it.
                sleep.reset(wake_at(&self.timers));
                self.timer_waker = None;
            }
        }
        None
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

/// The rest of a frame a broadcast wrote in part heads the queue: it goes into the write
/// buffer, empty then, before anything else can.
#[cold]
#[inline(never)]
fn feed_rest<S>(conn: &Conn, ws: &mut WebSocket<S>, reader: &mut Reader)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    reader.backlog = conn.feed_queued(ws);
}

/// The payload length of a data message; `None` for control frames.
fn data_len(message: &Message) -> Option<usize> {
    match message {
        Message::Text(t) => Some(t.len()),
        Message::Binary(b) => Some(b.len()),
        _ => None,
    }
}

/// What ended a turn of the read loop, in the order it is checked: teardown first, then
/// handlers registered for waiting messages, then a finished async handler, then a failed
/// write of what was queued, then input, then the timers.
enum Turn {
    Teardown,
    WriteFailed(Error),
    HandlerAdded,
    HandlerDone(Result<(), Panicked>),
    /// The connection failed (a protocol error, the socket).
    Failed(Error),
    /// The connection is closed.
    Eof,
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
