//! The two tasks behind a [`Conn`]: the reader (frames in, handlers, keep-alive, idle timer)
//! and the writer (outbound queue to the socket, batched, with a write timeout).

use super::handlers::MessageType;
use super::{Conn, Outbound};
use crate::config::Config;
use crate::error::Error;
use crate::events::parse_event;
use crate::proto::{CloseCode, Message};
use crate::stream::{WebSocket, WsReader, WsWriter};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// At most this many queued messages are encoded into one batch before a flush.
const BATCH: usize = 256;

/// Runs a connection to its end: spawns the writer, runs the reader on the current task, and
/// fires `on_close` exactly once. Returns when the connection is over.
pub(crate) async fn run<S>(
    conn: Conn,
    ws: WebSocket<S>,
    rx: mpsc::UnboundedReceiver<Outbound>,
    config: &Config,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer) = ws.split();
    let writer_task = tokio::spawn(write_loop(conn.clone(), writer, rx, config.write_timeout));
    fire_open(&conn);
    let (code, reason) = read_loop(&conn, reader, config).await;
    conn.shared.ended.store(true, Ordering::Release);
    writer_task.abort();
    // Wake anyone waiting for room: the connection is gone.
    conn.shared.room.notify_waiters();
    fire_close(&conn, code, &reason);
}

fn fire_open(conn: &Conn) {
    let handler = {
        let mut h = conn.handlers_mut();
        h.opened = true;
        h.open.take()
    };
    if let Some(f) = handler {
        f(conn);
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
    if let Some(f) = handler {
        f(conn, code, reason);
    }
}

fn fire_error(conn: &Conn, err: &Error) {
    let handler = conn.handlers().error.clone();
    if let Some(f) = handler {
        f(conn, err);
    }
}

/// Keep-alive and idle deadlines.
struct Timers {
    ping_interval: Duration,
    pong_timeout: Duration,
    idle_timeout: Duration,
    next_ping: Option<Instant>,
    /// When the outstanding ping must have been answered (by any frame).
    pong_deadline: Option<Instant>,
    idle_deadline: Option<Instant>,
    /// Something arrived since the last ping.
    heard: bool,
}

impl Timers {
    fn new(config: &Config) -> Self {
        let now = Instant::now();
        let after = |d: Duration| (!d.is_zero()).then(|| now + d);
        Self {
            ping_interval: config.ping_interval,
            pong_timeout: config.pong_timeout,
            idle_timeout: config.idle_timeout,
            next_ping: after(config.ping_interval),
            pong_deadline: None,
            idle_deadline: after(config.idle_timeout),
            heard: false,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.next_ping, self.pong_deadline, self.idle_deadline]
            .into_iter()
            .flatten()
            .min()
    }
}

/// What ends the read loop early.
enum Stop {
    Dead,
}

async fn read_loop<S>(conn: &Conn, mut reader: WsReader<S>, config: &Config) -> (CloseCode, String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut timers = Timers::new(config);
    // Messages that arrived before an `on_message` handler existed.
    let mut waiting: VecDeque<(MessageType, Bytes)> = VecDeque::new();
    let mut waiting_bytes = 0usize;
    let mut outcome: Option<(CloseCode, String)> = None;
    let sleep = tokio::time::sleep_until(timers.next_deadline().unwrap_or_else(far_future));
    tokio::pin!(sleep);
    loop {
        // Hold reading while too much waits for a handler (backpressure, nothing dropped).
        let can_read = waiting_bytes <= config.max_message_size;
        tokio::select! {
            biased;
            () = conn.shared.teardown.notified() => {
                return outcome.unwrap_or((CloseCode::ABNORMAL_CLOSURE, String::new()));
            }
            () = conn.shared.handler_added.notified(), if !waiting.is_empty() => {
                deliver_waiting(conn, &mut waiting, &mut waiting_bytes);
            }
            item = reader.next(), if can_read => {
                let Some(item) = item else {
                    return outcome.unwrap_or((CloseCode::ABNORMAL_CLOSURE, String::new()));
                };
                timers.heard = true;
                match item {
                    Ok(message) => {
                        if message.is_data() && let Some(t) = timers.idle_deadline.as_mut() {
                            *t = Instant::now() + timers.idle_timeout;
                        }
                        if let Some(done) = dispatch(conn, message, &mut waiting, &mut waiting_bytes) {
                            outcome = Some(done);
                        }
                    }
                    Err(err) => {
                        if let Error::Protocol(p) = &err {
                            outcome = Some((p.close_code(), p.to_string()));
                        }
                        fire_error(conn, &err);
                    }
                }
            }
            () = &mut sleep => {
                if let Err(Stop::Dead) = on_timer(conn, &mut timers) {
                    return (CloseCode::ABNORMAL_CLOSURE, "no pong from peer".into());
                }
                sleep.as_mut().reset(timers.next_deadline().unwrap_or_else(far_future));
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// A deadline passed: send a ping, detect a dead peer, or close an idle connection.
fn on_timer(conn: &Conn, timers: &mut Timers) -> Result<(), Stop> {
    let now = Instant::now();
    if let Some(deadline) = timers.pong_deadline
        && now >= deadline
    {
        if !timers.heard {
            // RFC 6455 §5.5.2 pings went unanswered and nothing else came: the peer is dead.
            return Err(Stop::Dead);
        }
        timers.pong_deadline = None;
    }
    if let Some(at) = timers.next_ping
        && now >= at
    {
        conn.enqueue_internal(Message::Ping(Bytes::new()));
        timers.heard = false;
        timers.pong_deadline = Some(now + timers.pong_timeout);
        timers.next_ping = Some(now + timers.ping_interval);
    }
    if let Some(at) = timers.idle_deadline
        && now >= at
    {
        timers.idle_deadline = None;
        let _ = conn.close(CloseCode::GOING_AWAY, "idle timeout");
    }
    Ok(())
}

/// Hands one incoming message to its handler. Returns the outcome when it is a close.
fn dispatch(
    conn: &Conn,
    message: Message,
    waiting: &mut VecDeque<(MessageType, Bytes)>,
    waiting_bytes: &mut usize,
) -> Option<(CloseCode, String)> {
    match message {
        Message::Text(text) => {
            let has_events = !conn.handlers().events.is_empty();
            if has_events && let Some((name, data)) = parse_event(&text) {
                let handler = conn.handlers().events.get(&name).cloned();
                if let Some(f) = handler {
                    f(conn, data);
                    return None;
                }
            }
            deliver(
                conn,
                MessageType::Text,
                text.into_bytes(),
                waiting,
                waiting_bytes,
            );
        }
        Message::Binary(data) => deliver(conn, MessageType::Binary, data, waiting, waiting_bytes),
        Message::Ping(data) => {
            let handler = conn.handlers().ping.clone();
            if let Some(f) = handler {
                f(conn, data);
            }
        }
        Message::Pong(data) => {
            let handler = conn.handlers().pong.clone();
            if let Some(f) = handler {
                f(conn, data);
            }
        }
        Message::Close(frame) => {
            return Some(match frame {
                Some(f) => (f.code, f.reason),
                None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
            });
        }
    }
    None
}

fn deliver(
    conn: &Conn,
    kind: MessageType,
    data: Bytes,
    waiting: &mut VecDeque<(MessageType, Bytes)>,
    waiting_bytes: &mut usize,
) {
    if waiting.is_empty() {
        let handler = conn.handlers().message.clone();
        if let Some(f) = handler {
            f(conn, kind, data);
            return;
        }
    }
    *waiting_bytes += data.len();
    waiting.push_back((kind, data));
    deliver_waiting(conn, waiting, waiting_bytes);
}

fn deliver_waiting(
    conn: &Conn,
    waiting: &mut VecDeque<(MessageType, Bytes)>,
    waiting_bytes: &mut usize,
) {
    let Some(f) = conn.handlers().message.clone() else {
        return;
    };
    while let Some((kind, data)) = waiting.pop_front() {
        *waiting_bytes -= data.len();
        f(conn, kind, data);
    }
}

/// Drains the outbound queue into the socket: everything already queued is encoded into one
/// batch and flushed with one (vectored) write; a flush that makes no progress within
/// `write_timeout` tears the connection down.
async fn write_loop<S>(
    conn: Conn,
    mut writer: WsWriter<S>,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    write_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(first) = rx.recv().await {
        let batch = async {
            let mut next = Some(first);
            let mut count = 0;
            while let Some(item) = next.take() {
                let result = match item {
                    Outbound::Message(message, len) => {
                        let r = writer.feed(message).await;
                        conn.release(len);
                        r
                    }
                    Outbound::Frame(frame, len) => {
                        let r = writer.feed_raw_frame(frame).await;
                        conn.release(len);
                        r
                    }
                };
                match result {
                    // Queued before the close, the peer closed first: nothing can be sent.
                    Err(Error::AlreadyClosing | Error::ConnectionClosed) => {}
                    Err(e) => return Err(e),
                    Ok(()) => {}
                }
                count += 1;
                if count < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            writer.flush().await
        };
        match tokio::time::timeout(write_timeout, batch).await {
            Ok(Ok(()) | Err(Error::ConnectionClosed | Error::AlreadyClosing)) => {}
            Ok(Err(err)) => {
                fire_error(&conn, &err);
                conn.shared.teardown.notify_one();
                return;
            }
            Err(_) => {
                fire_error(&conn, &Error::Timeout("write: the peer is not reading"));
                conn.shared.teardown.notify_one();
                return;
            }
        }
    }
}
