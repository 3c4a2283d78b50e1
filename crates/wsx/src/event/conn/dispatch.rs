//! Handing incoming messages to the connection's handlers, in arrival order: sync handlers
//! are called in place, an async handler's future runs before the next message is handed
//! over, messages with no handler yet wait for one, and a handler that panics fails the
//! connection (RFC 6455 §7.4.1: 1011, an unexpected condition) instead of the task.
#![forbid(unsafe_code)]

use super::Conn;
use super::handlers::{HandlerFuture, MessageType, OnEvent, OnMessage, Panicked, guarded};
use crate::error::Error;
use crate::event::events::parse_event;
use crate::proto::{CloseCode, Message};
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::CatchUnwind;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

/// The reason sent with the 1011 close frame when a handler panicked (the panic's own text
/// stays in the process: it goes to `on_error`, not to the peer).
pub(crate) const PANIC_REASON: &str = "handler panicked";

/// An async handler's future, with its panic caught.
type Running = CatchUnwind<AssertUnwindSafe<HandlerFuture>>;

/// Where a data message goes: its custom event's handler, or the message handler.
enum Route {
    Event(OnEvent, serde_json::Value),
    Message(OnMessage),
}

/// The message handler and whether custom events are registered, as of one version of the
/// connection's handler table: routing a message then takes no lock and clones nothing (the
/// read lock, and the clone and drop of the handler's `Arc`, cost about 50 instructions per
/// message, issue 17).
struct Routes {
    version: u64,
    message: Option<OnMessage>,
    events: bool,
}

/// The connection task's dispatch state.
#[derive(Default)]
pub(crate) struct Dispatch {
    /// The handler table as last read (`None`: read it on the next message).
    routes: Option<Routes>,
    /// Messages that arrived before a handler for them existed, or while an async handler
    /// was running, in arrival order.
    waiting: VecDeque<(MessageType, Bytes)>,
    /// Their payload bytes (reading pauses past `max_message_size`).
    pub waiting_bytes: usize,
    /// The async handler's future being run.
    running: Option<Running>,
    /// A handler panicked: the connection is being failed, nothing more is dispatched.
    pub failed: bool,
}

impl Dispatch {
    /// Whether messages wait.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Hands one incoming message (not a close frame: the read loop takes that) to its
    /// handler.
    ///
    /// The common case first, small enough to be inlined into the read loop: a text or binary
    /// message for a synchronous `on_message`, with nothing in the way (no message waiting,
    /// no async handler running, no custom events, the handler table as last read). Everything
    /// else takes [`Self::dispatch_any`] (issue 17: the general path cost about 40
    /// instructions more per message).
    #[inline]
    pub fn dispatch(&mut self, conn: &Conn, message: Message) {
        if self.running.is_none()
            && self.waiting.is_empty()
            && !self.failed
            && let Some(Routes {
                version,
                message: Some(OnMessage::Sync(f)),
                events: false,
            }) = &self.routes
            && *version == conn.shared.handlers_version.load(Ordering::Acquire)
        {
            let (kind, data) = match message {
                Message::Text(text) => (MessageType::Text, text.into_bytes()),
                Message::Binary(data) => (MessageType::Binary, data),
                other => return self.dispatch_any(conn, other),
            };
            if let Err(panicked) = guarded(|| f(conn, kind, data)) {
                self.fail(conn, panicked);
            }
            return;
        }
        self.dispatch_any(conn, message);
    }

    /// [`Self::dispatch`], for any message in any state.
    fn dispatch_any(&mut self, conn: &Conn, message: Message) {
        let result = match message {
            Message::Text(text) => self.deliver(conn, MessageType::Text, text.into_bytes()),
            Message::Binary(data) => self.deliver(conn, MessageType::Binary, data),
            Message::Ping(data) => self.control(conn, data, true),
            Message::Pong(data) => self.control(conn, data, false),
            Message::Close(_) => Ok(()),
        };
        if let Err(panicked) = result {
            self.fail(conn, panicked);
        }
    }

    fn control(&mut self, conn: &Conn, data: Bytes, ping: bool) -> Result<(), Panicked> {
        if self.failed {
            return Ok(());
        }
        let handler = {
            let h = conn.handlers();
            if ping { h.ping.clone() } else { h.pong.clone() }
        };
        match handler {
            Some(f) => guarded(|| f(conn, data)),
            None => Ok(()),
        }
    }

    /// Delivers a data message at once, unless older messages must go first (an async
    /// handler is running, or they wait for a handler registered meanwhile) or it has no
    /// handler yet: then it waits, without holding back messages bound for other handlers.
    #[inline]
    fn deliver(&mut self, conn: &Conn, kind: MessageType, data: Bytes) -> Result<(), Panicked> {
        if self.failed {
            return Ok(());
        }
        // A handler may have been registered (from another thread) since these began waiting:
        // they go first, so a new message never overtakes an older one bound for the same
        // handler.
        if !self.waiting.is_empty() && self.running.is_none() {
            self.deliver_waiting(conn)?;
        }
        if self.running.is_none() {
            let routes = self.routes(conn);
            if !(routes.events && kind == MessageType::Text) {
                // The common case: straight to the message handler, if there is one.
                match &routes.message {
                    Some(OnMessage::Sync(f)) => return guarded(|| f(conn, kind, data)),
                    Some(OnMessage::Async(f)) => {
                        let future = guarded(|| f(conn.clone(), kind, data))?;
                        self.running = Some(AssertUnwindSafe(future).catch_unwind());
                        return Ok(());
                    }
                    None => {}
                }
            } else if let Some(target) = route(conn, kind, &data) {
                return self.call(conn, target, kind, data);
            }
        }
        self.waiting_bytes += data.len();
        self.waiting.push_back((kind, data));
        Ok(())
    }

    /// The handler table as of now: the kept copy, read again when a handler was registered
    /// since.
    #[inline]
    fn routes(&mut self, conn: &Conn) -> &Routes {
        let version = conn.shared.handlers_version.load(Ordering::Acquire);
        if self.routes.as_ref().is_some_and(|r| r.version != version) {
            self.routes = None;
        }
        self.routes.get_or_insert_with(|| {
            let handlers = conn.handlers();
            Routes {
                version,
                message: handlers.message.clone(),
                events: !handlers.events.is_empty(),
            }
        })
    }

    /// Delivers, in arrival order, the waiting messages that now have a handler, until an
    /// async handler starts running; the others keep waiting.
    pub fn deliver_waiting(&mut self, conn: &Conn) -> Result<(), Panicked> {
        let mut i = 0;
        while i < self.waiting.len() && self.running.is_none() && !self.failed {
            let target = {
                let (kind, data) = &self.waiting[i];
                route(conn, *kind, data)
            };
            match (target, self.waiting.remove(i)) {
                (Some(target), Some((kind, data))) => {
                    self.waiting_bytes -= data.len();
                    self.call(conn, target, kind, data)?;
                }
                (None, Some(back)) => {
                    self.waiting.insert(i, back);
                    i += 1;
                }
                (_, None) => break,
            }
        }
        Ok(())
    }

    fn call(
        &mut self,
        conn: &Conn,
        target: Route,
        kind: MessageType,
        data: Bytes,
    ) -> Result<(), Panicked> {
        let future = match target {
            Route::Message(OnMessage::Sync(f)) => return guarded(|| f(conn, kind, data)),
            Route::Event(OnEvent::Sync(f), value) => return guarded(|| f(conn, value)),
            Route::Message(OnMessage::Async(f)) => guarded(|| f(conn.clone(), kind, data))?,
            Route::Event(OnEvent::Async(f), value) => guarded(|| f(conn.clone(), value))?,
        };
        self.running = Some(AssertUnwindSafe(future).catch_unwind());
        Ok(())
    }

    /// Polls the running async handler: `Ready` once it finished (then the next waiting
    /// messages can go), with its panic if it panicked.
    pub fn poll_running(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Panicked>> {
        let Some(running) = self.running.as_mut() else {
            return Poll::Pending;
        };
        let result = std::task::ready!(Pin::new(running).poll(cx));
        self.running = None;
        Poll::Ready(result.map_err(|payload| Panicked::from_payload(&*payload)))
    }

    /// A handler panicked: fail the connection with 1011. The close frame is queued after
    /// whatever the handlers queued before, so that still goes out first; then `on_error`.
    pub fn fail(&mut self, conn: &Conn, panicked: Panicked) {
        tracing::error!(conn = conn.id(), "handler panicked: {}", panicked.0);
        self.failed = true;
        self.running = None;
        self.waiting.clear();
        self.waiting_bytes = 0;
        let _ = conn.close(CloseCode::INTERNAL_ERROR, PANIC_REASON);
        fire_error(conn, &Error::HandlerPanicked(panicked.0));
    }

    /// The connection ended normally: finish what was received before its end (the running
    /// async handler, then the waiting messages that have a handler), within `limit`, so a
    /// pull stream or an async handler sees every message that arrived.
    pub async fn drain(&mut self, conn: &Conn, limit: Duration) {
        let work = async {
            while !self.failed {
                if self.running.is_some()
                    && std::future::poll_fn(|cx| self.poll_running(cx))
                        .await
                        .is_err()
                {
                    return;
                }
                if self.waiting.is_empty() || self.deliver_waiting(conn).is_err() {
                    return;
                }
                if self.running.is_none() {
                    // What still waits has no handler.
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(limit, work).await;
    }
}

impl Dispatch {
    /// Whether an async handler is running (its future must be polled).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

fn route(conn: &Conn, kind: MessageType, data: &Bytes) -> Option<Route> {
    let handlers = conn.handlers();
    if kind == MessageType::Text && !handlers.events.is_empty() {
        // Text messages are valid UTF-8 (the core checked them).
        if let Ok(text) = std::str::from_utf8(data)
            && let Some((name, value)) = parse_event(text)
            && let Some(f) = handlers.events.get(&name)
        {
            return Some(Route::Event(f.clone(), value));
        }
    }
    handlers.message.clone().map(Route::Message)
}

/// Calls `on_error`; a panic in it is logged (the connection is already going down).
pub(crate) fn fire_error(conn: &Conn, err: &Error) {
    let handler = conn.handlers().error.clone();
    if let Some(f) = handler
        && let Err(p) = guarded(|| f(conn, err))
    {
        tracing::error!(conn = conn.id(), "on_error handler panicked: {}", p.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::conn::{Headers, Info};
    use std::sync::{Arc, Mutex};

    fn conn() -> Conn {
        let info = Info {
            id: 0,
            remote_addr: None,
            subprotocol: None,
            headers: Headers::eager(http::HeaderMap::new()),
            uri: http::Uri::default(),
            version: http::Version::HTTP_11,
            encoding: None,
        };
        Conn::new(info, 1024, None)
    }

    #[test]
    fn a_new_message_does_not_overtake_those_waiting_for_a_handler_registered_meanwhile() {
        let conn = conn();
        let mut d = Dispatch::default();
        // Two messages arrive before any handler exists: they wait.
        for text in ["a", "b"] {
            d.deliver(&conn, MessageType::Text, Bytes::from(text))
                .unwrap();
        }
        assert_eq!(d.waiting.len(), 2);
        // The handler is registered (on another thread, before the reader drained them)...
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        conn.on_message(move |_, _, data| record.lock().unwrap().push(data));
        // ...and the next message is dispatched first: it must still come after them.
        d.deliver(&conn, MessageType::Text, Bytes::from("c"))
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![Bytes::from("a"), Bytes::from("b"), Bytes::from("c")]
        );
        assert!(d.waiting.is_empty());
        assert_eq!(d.waiting_bytes, 0);
    }

    #[test]
    fn a_handler_replaced_between_messages_gets_the_next_one() {
        // The reader keeps the handler it routes to; registering another must still take
        // effect from the next message on.
        let conn = conn();
        let mut d = Dispatch::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for (i, name) in ["first", "second", "third"].into_iter().enumerate() {
            let record = seen.clone();
            conn.on_message(move |_, _, data| record.lock().unwrap().push((name, data)));
            d.deliver(&conn, MessageType::Binary, Bytes::from(vec![i as u8]))
                .unwrap();
            // A write access that changes nothing routed must not lose the handler either.
            drop(conn.handlers_mut());
            d.deliver(&conn, MessageType::Binary, Bytes::from(vec![10 + i as u8]))
                .unwrap();
        }
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                ("first", Bytes::from(vec![0])),
                ("first", Bytes::from(vec![10])),
                ("second", Bytes::from(vec![1])),
                ("second", Bytes::from(vec![11])),
                ("third", Bytes::from(vec![2])),
                ("third", Bytes::from(vec![12])),
            ]
        );
    }

    #[test]
    fn a_waiting_message_without_a_handler_keeps_its_place_behind_a_started_async_handler() {
        let conn = conn();
        let mut d = Dispatch::default();
        // "a" is an event nobody handles yet; "b" and "c" are events for an async handler.
        let event = |name: &str| Bytes::from(format!(r#"{{"event":"{name}","data":null}}"#));
        d.deliver(&conn, MessageType::Text, event("a")).unwrap();
        d.deliver(&conn, MessageType::Text, event("b")).unwrap();
        d.deliver(&conn, MessageType::Text, event("c")).unwrap();
        conn.on_async("b", |_, _| async {});
        conn.on_async("c", |_, _| async {});
        d.deliver_waiting(&conn).unwrap();
        // "b" started; "a" (no handler) and "c" (behind the running "b") wait, in order.
        assert!(d.is_running());
        let names: Vec<_> = d.waiting.iter().map(|(_, b)| b.clone()).collect();
        assert_eq!(names, vec![event("a"), event("c")]);
    }
}
