//! The two tasks behind a [`Conn`]: the reader (frames in, handlers, keep-alive, idle timer)
//! and the writer (outbound queue to the socket, batched, with a write timeout).
#![forbid(unsafe_code)]

use super::dispatch::{Dispatch, PANIC_REASON, fire_error};
use super::handlers::{Panicked, guarded};
use super::{Conn, Outbound, ReaderSignal};
use crate::config::Config;
use crate::error::Error;
use crate::limit::{ConnLimiter, OnRateExceeded};
use crate::proto::{CloseCode, KeepAlive, Message, Timeout};
use crate::stream::{WebSocket, WsReader, WsWriter};
use bytes::Bytes;
use futures_core::Stream;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// A connection that is set up but not yet reading: the writer task runs, the reader half
/// waits for [`Running::drive`].
pub(crate) struct Running<S> {
    reader: WsReader<S>,
    writer_task: tokio::task::JoinHandle<()>,
}

/// Splits the connection and spawns its writer task. Synchronous on purpose: the
/// `WebSocket` moves into the shared halves here, so the long-lived reader future holds only
/// pointers, not a copy of the connection per nesting level.
pub(crate) fn start<S>(conn: &Conn, ws: WebSocket<S>) -> Running<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer) = ws.split();
    let writer_task = tokio::spawn(write_loop(conn.clone(), writer));
    Running {
        reader,
        writer_task,
    }
}

impl<S> Running<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Runs the connection to its end on the current task: fires `on_open`, reads and
    /// dispatches, then fires `on_close` exactly once, after `on_end` (the server's
    /// bookkeeping). A handler's panic is caught and fails the connection (1011); every path
    /// ends here, with both tasks and the socket released.
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
        let end = read_loop(&conn, self.reader, config, &mut dispatch).await;
        conn.shared.ended.store(true, Ordering::Release);
        self.writer_task.abort();
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

/// Encodes queued items from the reader task while the write buffer has room. Inlined: it
/// runs after every message, and as a call it cost a frame of its own plus the closure's.
#[inline]
fn feed_from_reader<S>(conn: &Conn, reader: &WsReader<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.feed_queued(|item| {
        let (sent, len) = match item {
            Outbound::Message(message, len) => (
                reader
                    .try_send(message)
                    .map_err(|back| Outbound::Message(back, len)),
                len,
            ),
            Outbound::Frame(frame, len) => (
                reader
                    .try_send_frame(frame)
                    .map_err(|back| Outbound::Frame(back, len)),
                len,
            ),
        };
        if sent.is_ok() {
            conn.release(len);
        }
        sent
    });
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

async fn read_loop<S>(
    conn: &Conn,
    mut reader: WsReader<S>,
    config: &Config,
    dispatch: &mut Dispatch,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut timers = keepalive(config);
    let metrics = crate::metrics::get();
    // Per-connection rate limits, only when configured.
    let limiter = ConnLimiter::new(&config.rate_limits);
    // The connection was closed for going past a rate: nothing more is dispatched.
    let mut rate_closed = false;
    let mut outcome: Option<(CloseCode, String)> = None;
    let sleep = tokio::time::sleep_until(wake_at(&timers));
    tokio::pin!(sleep);
    // The waker the timer was last polled with (`None`: poll it on the next turn).
    let mut timer_waker: Option<Waker> = None;
    // The waker registered with the signal, while that registration stands (see below).
    let mut signal_waker: Option<Waker> = None;
    let signal = &conn.shared.signal;
    loop {
        // A handler's panic failed the connection (on any path: a message, a handler
        // registered for waiting ones, an async handler, on_open): it ends with 1011.
        if dispatch.failed
            && outcome
                .as_ref()
                .is_none_or(|(code, _)| *code != CloseCode::INTERNAL_ERROR)
        {
            outcome = Some((CloseCode::INTERNAL_ERROR, PANIC_REASON.into()));
        }
        // Hold reading while too much waits for a handler (backpressure, nothing dropped).
        let can_read = dispatch.waiting_bytes <= config.max_message_size;
        let turn = std::future::poll_fn(|cx| {
            if let Some(turn) = signalled(signal, &mut signal_waker, dispatch.has_waiting()) {
                return Poll::Ready(turn);
            }
            if dispatch.is_running()
                && let Poll::Ready(result) = dispatch.poll_running(cx)
            {
                return Poll::Ready(Turn::HandlerDone(result));
            }
            if can_read && let Poll::Ready(item) = Pin::new(&mut reader).poll_next(cx) {
                return Poll::Ready(Turn::Item(item));
            }
            // The timer holds the waker it was polled with: poll it again only when it fired
            // or the waker changed (a poll per turn costs more than the rest of the turn).
            let armed = timer_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()) && !sleep.is_elapsed());
            if !armed {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Turn::Timer);
                }
                timer_waker = Some(cx.waker().clone());
            }
            // Waiting: a flag raised before the registration is seen by the check after it.
            // A registration stands until a raise takes it, and every raise sets a flag, which
            // `signalled` sees (and then forgets the registration): while none was seen, the
            // same waker need not be registered again (that cost 40 instructions a message).
            if !signal_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                signal.register(cx.waker());
                signal_waker = Some(cx.waker().clone());
            }
            signalled(signal, &mut signal_waker, dispatch.has_waiting())
                .map_or(Poll::Pending, Poll::Ready)
        })
        .await;
        match turn {
            Turn::Teardown => {
                let (code, reason) =
                    outcome.unwrap_or((CloseCode::ABNORMAL_CLOSURE, String::new()));
                return End {
                    code,
                    reason,
                    drain: false,
                };
            }
            Turn::Item(None) => {
                let (code, reason) =
                    outcome.unwrap_or((CloseCode::ABNORMAL_CLOSURE, String::new()));
                return End {
                    code,
                    reason,
                    drain: !dispatch.failed,
                };
            }
            Turn::HandlerAdded | Turn::HandlerDone(Ok(())) => {
                conn.start_dispatching();
                if let Err(panicked) = dispatch.deliver_waiting(conn) {
                    dispatch.fail(conn, panicked);
                }
                feed_from_reader(conn, &reader);
            }
            Turn::HandlerDone(Err(panicked)) => dispatch.fail(conn, panicked),
            Turn::Item(Some(Ok(message))) => {
                if let Some(len) = data_len(&message) {
                    timers.on_data(now);
                    let kind = crate::metrics::Metrics::kind(matches!(message, Message::Binary(_)));
                    metrics.messages_received[kind].increment(1);
                    metrics.bytes_received[kind].increment(len as u64);
                    if rate_closed {
                        continue;
                    }
                    if let Some(limiter) = &limiter
                        && let Err(which) = limiter.admit(len)
                    {
                        crate::metrics::rate_limited(which.as_str());
                        match limiter.action {
                            OnRateExceeded::Drop => fire_error(conn, &Error::RateLimited(which)),
                            OnRateExceeded::Close => {
                                rate_closed = true;
                                let _ =
                                    conn.close(CloseCode::POLICY_VIOLATION, "rate limit exceeded");
                            }
                        }
                        continue;
                    }
                } else if let Message::Pong(_) = &message {
                    if let Some(rtt) = timers.on_pong(now()) {
                        metrics.ping_rtt.record(rtt.as_secs_f64());
                    }
                } else {
                    timers.on_frame();
                    if let Message::Close(frame) = &message {
                        crate::metrics::close_received(
                            frame.as_ref().map_or(1005, |f| f.code.into()),
                        );
                    }
                }
                conn.start_dispatching();
                if let Some(done) = dispatch.dispatch(conn, message)
                    && !dispatch.failed
                {
                    outcome = Some(done);
                }
                // What the handlers wrote goes into the write buffer now, from this task (this
                // also ends dispatching): in order before anything read later (a close that
                // fails the connection included), and without waking the writer task.
                feed_from_reader(conn, &reader);
            }
            Turn::Item(Some(Err(err))) => {
                timers.on_frame();
                // Once a handler's panic failed the connection, what follows (the peer gone
                // before answering the close, say) is its consequence: reported once.
                if dispatch.failed {
                    continue;
                }
                if let Error::Protocol(p) = &err {
                    // The peer was sent the code and short reason of `ProtocolError`'s wire
                    // table; the application is told the full text (its `Display`).
                    outcome = Some((p.close_code(), p.to_string()));
                }
                fire_error(conn, &err);
            }
            Turn::Timer => {
                if let Err(Stop::Dead) = on_timer(conn, &mut timers) {
                    // The core fails the connection and one write of its close frame is
                    // tried; the dead peer is not waited for: the connection ends now.
                    let (code, reason) = DEAD_PEER_CLOSE;
                    return End {
                        code: reader.fail(code, reason),
                        reason: DEAD_PEER_REASON.into(),
                        drain: !dispatch.failed,
                    };
                }
                sleep.as_mut().reset(wake_at(&timers));
                timer_waker = None;
            }
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
/// registered for waiting messages, then a finished async handler, then input, then the
/// timers.
enum Turn {
    Teardown,
    HandlerAdded,
    HandlerDone(Result<(), Panicked>),
    Item(Option<Result<Message, Error>>),
    Timer,
}

/// The turn the reader's flags call for, if any. A handler registered while no message waits
/// needs no turn: messages that arrive later are routed to it as they come.
///
/// A raised flag means a raise took the registered waker: `registered` is cleared so that the
/// next wait registers again.
fn signalled(signal: &ReaderSignal, registered: &mut Option<Waker>, waiting: bool) -> Option<Turn> {
    let flags = signal.get();
    if flags == 0 {
        return None;
    }
    *registered = None;
    if flags & ReaderSignal::TEARDOWN != 0 {
        return Some(Turn::Teardown);
    }
    if flags & ReaderSignal::HANDLER_ADDED != 0 {
        signal.clear(ReaderSignal::HANDLER_ADDED);
        if waiting {
            return Some(Turn::HandlerAdded);
        }
    }
    None
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

/// Drains the outbound queue into the socket: everything queued is taken at once, encoded into
/// the write buffer and flushed with as few (vectored) writes as the socket allows. The socket
/// layer fails a write when the peer takes no byte for `write_timeout`; that tears the
/// connection down.
async fn write_loop<S>(conn: Conn, mut writer: WsWriter<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut batch: VecDeque<Outbound> = VecDeque::new();
    loop {
        conn.writer_done();
        conn.take_queued(&mut batch);
        if batch.is_empty() {
            // `notify_one` keeps a permit: a push between the take and this wait is not lost.
            conn.shared.wake_writer.notified().await;
            continue;
        }
        let mut result = Ok(());
        while let Some(item) = batch.pop_front() {
            let (fed, len) = match item {
                Outbound::Message(message, len) => (writer.feed(message).await, len),
                Outbound::Frame(frame, len) => (writer.feed_raw_frame(frame).await, len),
            };
            conn.release(len);
            match fed {
                // Queued before the close, the peer closed first: nothing can be sent.
                Ok(()) | Err(Error::AlreadyClosing | Error::ConnectionClosed) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = writer.flush().await;
        }
        match result {
            Ok(()) | Err(Error::ConnectionClosed | Error::AlreadyClosing) => {}
            Err(err) => {
                fire_error(&conn, &err);
                conn.shared.signal.raise(ReaderSignal::TEARDOWN);
                return;
            }
        }
    }
}
