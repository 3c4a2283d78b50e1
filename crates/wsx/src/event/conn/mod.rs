//! [`Conn`]: the handle of one connection in the event API — handlers, writes, close.
//!
//! A connection runs as one tokio task: it decodes frames, calls the handlers, runs the
//! keep-alive and idle timers, and writes what was queued, coalescing everything queued into
//! one write. Handlers run on that task, one at a time and in order; they should not block. An
//! async handler's future also runs on it, to completion before the next message is handed
//! over, while the task keeps answering pings, writing and watching the timers. Writes never
//! block the caller: they go onto the connection's outbound queue, bounded by
//! `Config::max_pending_bytes` in payload bytes; a write from a handler is encoded right after
//! the handler returns, a write from another task wakes the connection's task.
//!
//! A handler that panics is caught where it is called: the connection is failed with 1011
//! (what was queued before still goes out first), `on_error` and `on_close` run, and the
//! task and the socket are released. Other connections never notice.
#![deny(unsafe_code)]

mod dispatch;
mod handlers;
mod headers;
mod payload;
mod pull;
mod queue;
mod reader;
pub(crate) mod run;
mod signal;
mod state;
mod window;
mod wire;

pub(crate) use crate::stream::raw_socket::tcp_socket as socket_of;
pub(crate) use dispatch::PANIC_REASON;
pub use handlers::MessageType;
pub(crate) use handlers::guarded;
use handlers::{HandlerFuture, Handlers, OnEvent, OnMessage};
pub(crate) use headers::Headers;
pub(crate) use payload::FrameChoice;
pub use payload::{IntoPayload, PreparedMessage};
pub use pull::Messages;
pub(crate) use queue::Outbound;
use queue::{Queue, RoomWaiter};
pub(crate) use signal::ReaderSignal;
use state::StateMap;
pub(crate) use wire::RawSocket;
use wire::Wire;

use crate::error::Error;
use crate::event::events::Envelope;
use crate::proto::frame::check_control_payload;
use crate::proto::{CloseCode, CloseFrame, Message, SharedEncoding, Utf8Bytes};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::Notify;

/// What a connection knows about itself.
#[derive(Debug)]
pub(crate) struct Info {
    pub id: u64,
    pub remote_addr: Option<SocketAddr>,
    pub subprotocol: Option<Box<str>>,
    /// Server: the request's headers (packed until asked for); client: the response's.
    pub headers: Headers,
    /// Server: the request URI; client: the URL's path and query.
    pub uri: http::Uri,
    /// The HTTP version the WebSocket was opened over: HTTP/1.1 (an upgrade) or HTTP/2 (an
    /// extended CONNECT stream, RFC 8441).
    pub version: http::Version,
    /// Which frames encoded once for many connections this connection takes: `None`, a server
    /// without an extension, every one; else what its extension (e.g. permessage-deflate)
    /// allows (a client: none).
    pub encoding: Option<SharedEncoding>,
}

/// Laid out by hand: what every message touches (the queue account, the task's flags, the
/// closed flags, then the queue and the handlers' lock) comes first, in the first two cache
/// lines; the connection's description, read rarely, comes last.
#[repr(C, align(64))]
pub(crate) struct Shared {
    /// Payload bytes in the outbound queue.
    queued: AtomicUsize,
    /// The bound on `queued` (`Config::max_pending_bytes`).
    max_pending: usize,
    /// Direct writes of broadcasts to the socket of an idle connection (`wire.rs`).
    wire: Wire,
    /// Tasks in [`Conn::send`] waiting for room: the connection's task signals `room` only
    /// when there are any (a signal per written message costs a lock).
    room_waiters: AtomicUsize,
    /// Wakes the connection's task for what is not input: a handler was registered (it may
    /// have messages waiting for one), another task queued a write, or the connection must be
    /// dropped now (forced shutdown).
    pub signal: ReaderSignal,
    /// `close` was called: no more writes are accepted.
    closing: AtomicBool,
    /// The connection is over.
    pub ended: AtomicBool,
    /// The outbound queue.
    queue: Mutex<Queue>,
    handlers: RwLock<Handlers>,
    /// Bumped on every write access to `handlers`: the task keeps the message handler it
    /// routes to while this stays the same (see `dispatch::Routes`).
    pub handlers_version: std::sync::atomic::AtomicU64,
    /// Signalled when bytes left the queue for the socket.
    pub room: Notify,
    /// What the connection knows about itself (id, address, handshake).
    pub info: Info,
    /// The application's typed per-connection state ([`Conn::set_state`]); emptied when the
    /// connection ends, after `on_close`.
    state: Mutex<StateMap>,
}

/// A handle to one WebSocket connection: cheap to clone, `Send + Sync`, usable from any task
/// or thread. All clones refer to the same connection.
///
/// **Who keeps a connection open.** A server connection lives until it closes, whatever
/// handles exist: the server owns it (close it with [`Conn::close`], or
/// [`crate::Server::shutdown`]). A client connection lives while its [`crate::Client`] or any
/// handle returned by [`crate::Client::connect`] (or cloned from one, or a [`Messages`]
/// stream) is alive; when all of them are dropped it closes with 1000. The handle a handler
/// is given (`&Conn`) and clones of it do not keep a client connection open.
#[derive(Clone)]
pub struct Conn {
    pub(crate) shared: Arc<Shared>,
    /// Set on the handles an application owns on a client connection; the last one dropped
    /// closes it. Never read: held for its `Drop`.
    _owner: Option<Arc<Owner>>,
}

/// Closes a client connection (1000) when the last handle that owns it is dropped.
pub(crate) struct Owner(Conn);

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.0.close(CloseCode::NORMAL_CLOSURE, "");
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.shared.info.id)
            .field("remote_addr", &self.shared.info.remote_addr)
            .field("queued", &self.queued_bytes())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Conn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
impl Eq for Conn {}

impl Conn {
    /// A connection described by `info`; `socket`: the descriptor of its plain TCP stream
    /// when broadcasts may write to it directly (`wire.rs`).
    pub(crate) fn new(info: Info, max_pending: usize, socket: Option<RawSocket>) -> Self {
        let shared = Shared {
            queued: AtomicUsize::new(0),
            max_pending,
            wire: Wire::new(socket),
            room_waiters: AtomicUsize::new(0),
            signal: ReaderSignal::default(),
            closing: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            queue: Mutex::new(Queue::default()),
            handlers: RwLock::new(Handlers::default()),
            handlers_version: std::sync::atomic::AtomicU64::new(0),
            room: Notify::new(),
            info,
            state: Mutex::new(StateMap::default()),
        };
        Self {
            shared: Arc::new(shared),
            _owner: None,
        }
    }

    /// A handle that owns the connection, and the owner token it shares with its clones
    /// (client connections: see [`Conn`]).
    pub(crate) fn owned(&self) -> (Self, Arc<Owner>) {
        let owner = Arc::new(Owner(Self {
            shared: self.shared.clone(),
            _owner: None,
        }));
        let handle = Self {
            shared: self.shared.clone(),
            _owner: Some(owner.clone()),
        };
        (handle, owner)
    }

    pub(crate) fn handlers(&self) -> RwLockReadGuard<'_, Handlers> {
        // A handler that panicked while registering cannot leave the table half-written
        // (every write is a single field store), so a poisoned lock is still usable.
        crate::sync::read(&self.shared.handlers)
    }

    pub(crate) fn handlers_mut(&self) -> RwLockWriteGuard<'_, Handlers> {
        let guard = crate::sync::write(&self.shared.handlers);
        // Under the write lock: a reader that sees the new version and then takes the read
        // lock reads what this writer wrote.
        self.shared.handlers_version.fetch_add(1, Ordering::AcqRel);
        guard
    }

    /// A process-unique id of this connection.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.shared.info.id
    }

    /// The peer's address.
    #[must_use]
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.shared.info.remote_addr
    }

    /// The subprotocol agreed in the handshake.
    #[must_use]
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared.info.subprotocol.as_deref()
    }

    /// On a server, the headers of the client's handshake request (cookies, auth, user agent);
    /// on a client, the headers of the server's 101 response. A server connection keeps them
    /// packed and builds the map on the first call (it then stays, about 0.8 KiB).
    #[must_use]
    pub fn headers(&self) -> &http::HeaderMap {
        self.shared.info.headers.get()
    }

    /// On a server, the request URI (path and query); on a client, the URL's path and query.
    #[must_use]
    pub fn uri(&self) -> &http::Uri {
        &self.shared.info.uri
    }

    /// The HTTP version the WebSocket was opened over: `HTTP_11` for an upgrade, `HTTP_2` for
    /// an extended CONNECT stream (RFC 8441) that shares its TCP connection with others.
    #[must_use]
    pub fn http_version(&self) -> http::Version {
        self.shared.info.version
    }

    /// Whether the connection has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.ended.load(Ordering::Acquire)
    }

    /// Payload bytes waiting in the outbound queue.
    #[must_use]
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire) + window::taken(self)
    }

    // ---- handlers -------------------------------------------------------------------------

    /// Called once when the connection is open. Registered after that, it is called at once.
    pub fn on_open(&self, f: impl Fn(&Conn) + Send + Sync + 'static) {
        let mut h = self.handlers_mut();
        if h.opened {
            drop(h);
            f(self);
        } else {
            h.open = Some(Arc::new(f));
        }
    }

    /// Called for every text and binary message, in order. Messages that arrived before any
    /// handler for them was registered are kept (up to `max_message_size` bytes of them; past
    /// that the connection stops reading until a handler comes) and delivered to it when it
    /// is registered.
    ///
    /// Handlers run on the connection's task, one at a time: keep them short and never
    /// block in them (use [`Self::on_message_async`] for work that awaits). Registering it
    /// replaces an earlier `on_message`, `on_message_async` or [`Self::messages`].
    pub fn on_message(&self, f: impl Fn(&Conn, MessageType, Bytes) + Send + Sync + 'static) {
        self.set_message_handler(OnMessage::Sync(Arc::new(f)));
    }

    /// An async `on_message`: for every text and binary message, `f` is called and its future
    /// runs to completion before the next message is handed over, so messages are handled
    /// one at a time in arrival order, as with `on_message`. Meanwhile the connection keeps
    /// answering pings and watching its timers, and other connections are not held up;
    /// messages arriving meanwhile wait (up to `max_message_size` bytes of them, then reading
    /// pauses: backpressure, nothing dropped).
    ///
    /// Use it when handling a message awaits (a database, another service, [`Self::send`]);
    /// use `on_message` for work that is quick and synchronous (it costs no allocation).
    /// Registering it replaces an earlier `on_message`, `on_message_async` or
    /// [`Self::messages`].
    pub fn on_message_async<F, Fut>(&self, f: F)
    where
        F: Fn(Conn, MessageType, Bytes) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.set_message_handler(OnMessage::Async(Arc::new(move |conn, kind, data| {
            Box::pin(f(conn, kind, data)) as HandlerFuture
        })));
    }

    fn set_message_handler(&self, handler: OnMessage) {
        let mut h = self.handlers_mut();
        if h.closed.is_some() {
            // Over: nobody would call it, and it may hold this connection.
            return;
        }
        h.message = Some(handler);
        drop(h);
        self.shared.signal.raise(ReaderSignal::HANDLER_ADDED);
    }

    /// Waits until the connection has ended and returns how: the close code and reason that
    /// `on_close` gets (it has run by the time this returns).
    pub async fn closed(&self) -> (CloseCode, String) {
        loop {
            // `room` is signalled once more after `on_close` ran.
            let ended = self.shared.room.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            {
                let h = self.handlers();
                if h.finished
                    && let Some(outcome) = h.closed.as_deref()
                {
                    return outcome.clone();
                }
            }
            ended.await;
        }
    }

    /// Called exactly once when the connection ends, with the close code and reason: the
    /// peer's close frame, 1005 when it had no code, the code of a protocol error we failed the
    /// connection with, or 1006 when it ended without a close frame (dead peer, dropped TCP).
    /// Registered after the end, it is called at once.
    pub fn on_close(&self, f: impl Fn(&Conn, CloseCode, &str) + Send + Sync + 'static) {
        let mut h = self.handlers_mut();
        if let Some((code, reason)) = h.closed.as_deref().cloned() {
            drop(h);
            f(self, code, &reason);
        } else {
            h.close = Some(Arc::new(f));
        }
    }

    /// Called when something goes wrong on the connection (a protocol violation by the peer,
    /// an I/O error, a write timeout); `on_close` follows.
    pub fn on_error(&self, f: impl Fn(&Conn, &Error) + Send + Sync + 'static) {
        let mut h = self.handlers_mut();
        if h.closed.is_none() {
            h.error = Some(Arc::new(f));
        }
    }

    /// Called for every ping from the peer (it has already been answered with a pong).
    pub fn on_ping(&self, f: impl Fn(&Conn, Bytes) + Send + Sync + 'static) {
        let mut h = self.handlers_mut();
        if h.closed.is_none() {
            h.ping = Some(Arc::new(f));
        }
    }

    /// Called for every pong from the peer.
    pub fn on_pong(&self, f: impl Fn(&Conn, Bytes) + Send + Sync + 'static) {
        let mut h = self.handlers_mut();
        if h.closed.is_none() {
            h.pong = Some(Arc::new(f));
        }
    }

    /// Handles the custom event `event`: a text message `{"event": event, "data": VALUE}` calls
    /// `f` with `VALUE` instead of going to `on_message`. See [`crate::events`].
    pub fn on(&self, event: &str, f: impl Fn(&Conn, serde_json::Value) + Send + Sync + 'static) {
        self.set_event_handler(event, OnEvent::Sync(Arc::new(f)));
    }

    /// An async [`Self::on`]: the future runs to completion before the connection's next
    /// message is handled (see [`Self::on_message_async`]).
    pub fn on_async<F, Fut>(&self, event: &str, f: F)
    where
        F: Fn(Conn, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.set_event_handler(
            event,
            OnEvent::Async(Arc::new(move |conn, value| {
                Box::pin(f(conn, value)) as HandlerFuture
            })),
        );
    }

    fn set_event_handler(&self, event: &str, handler: OnEvent) {
        let mut h = self.handlers_mut();
        if h.closed.is_some() {
            return;
        }
        h.events.insert(event.to_owned(), handler);
        drop(h);
        self.shared.signal.raise(ReaderSignal::HANDLER_ADDED);
    }

    // ---- writes ---------------------------------------------------------------------------

    /// Queues a text message.
    ///
    /// # Errors
    /// [`Error::QueueFull`] when the outbound queue is full, [`Error::ConnectionClosed`] once
    /// the connection ended or `close` was called.
    pub fn write_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.enqueue(Message::Text(text.into()))
    }

    /// Queues a binary message.
    ///
    /// # Errors
    /// As [`Self::write_text`].
    pub fn write_binary(&self, data: impl IntoPayload) -> Result<(), Error> {
        self.enqueue(Message::Binary(data.into_payload()))
    }

    /// Queues a message of any kind; the bytes an `on_message` handler got can be passed back
    /// unchanged. Text must be UTF-8; a close payload is a 2-byte code and a reason (or empty);
    /// ping and pong payloads are at most 125 bytes.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] for a payload its kind does not allow, and as
    /// [`Self::write_text`].
    pub fn write_message(&self, kind: MessageType, data: impl IntoPayload) -> Result<(), Error> {
        self.enqueue(Self::message(kind, data.into_payload())?)
    }

    /// Queues a message, waiting for room in the outbound queue instead of failing when it is
    /// full.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] when the connection ends while waiting, and
    /// [`Error::InvalidMessage`] as in [`Self::write_message`].
    pub async fn send(&self, kind: MessageType, data: impl IntoPayload) -> Result<(), Error> {
        let mut message = Self::message(kind, data.into_payload())?;
        // Counted as waiting from before the first try: a release that does not see us
        // waiting happened before our try, which then sees its room (all SeqCst).
        self.shared.room_waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = RoomWaiter(&self.shared.room_waiters);
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_enqueue(message) {
                Ok(()) => return Ok(()),
                Err((Error::QueueFull { .. }, back)) => message = back,
                Err((err, _)) => return Err(err),
            }
            room.await;
            if self.is_closed() {
                return Err(Error::ConnectionClosed);
            }
        }
    }

    /// Sends a ping; the pong arrives at `on_pong`.
    ///
    /// # Errors
    /// A payload over 125 bytes, and as [`Self::write_text`].
    pub fn ping(&self, data: impl IntoPayload) -> Result<(), Error> {
        self.write_message(MessageType::Ping, data)
    }

    /// Starts the close handshake with `code` and `reason` (cut to fit 123 bytes). Messages
    /// queued before are sent first; writes after it fail. `on_close` fires when the peer has
    /// answered, or after `close_timeout`.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] for a code that may not be sent (1004-1006, 1015, outside
    /// 1000-4999), [`Error::ConnectionClosed`] when already closing or closed.
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame::new(code, reason);
        frame.code.check_sendable()?;
        if self.is_closed() || self.shared.closing.swap(true, Ordering::AcqRel) {
            return Err(Error::ConnectionClosed);
        }
        crate::event::metrics::close_sent(frame.code.into());
        self.push(Outbound::Message(Message::Close(Some(frame)), 0))
            .map_err(|_| Error::ConnectionClosed)
    }

    /// Sends a custom event: the text message `{"event": event, "data": data}`.
    ///
    /// # Errors
    /// [`Error::Json`] when `data` cannot be serialised, and as [`Self::write_text`].
    pub fn emit(&self, event: &str, data: impl serde::Serialize) -> Result<(), Error> {
        let json = serde_json::to_string(&Envelope { event, data })?;
        self.enqueue(Message::Text(Utf8Bytes::from(json)))
    }

    #[inline]
    pub(crate) fn message(kind: MessageType, data: Bytes) -> Result<Message, Error> {
        Ok(match kind {
            MessageType::Text => Message::Text(
                Utf8Bytes::try_from_bytes(data)
                    .map_err(|_| Error::InvalidMessage("text is not valid UTF-8"))?,
            ),
            MessageType::Binary => Message::Binary(data),
            MessageType::Ping => {
                check_control_payload(data.len())?;
                Message::Ping(data)
            }
            MessageType::Pong => {
                check_control_payload(data.len())?;
                Message::Pong(data)
            }
            MessageType::Close => Message::Close(
                CloseFrame::parse(&data)
                    .map_err(|_| Error::InvalidMessage("invalid close payload"))?,
            ),
        })
    }

    #[inline]
    fn enqueue(&self, message: Message) -> Result<(), Error> {
        self.try_enqueue(message).map_err(|(err, _)| err)
    }

    /// Queues `message` if the queue has room; gives it back otherwise.
    #[inline]
    fn try_enqueue(&self, message: Message) -> Result<(), (Error, Message)> {
        if let Message::Close(frame) = message {
            let (code, reason) = frame.map_or((CloseCode::NORMAL_CLOSURE, String::new()), |f| {
                (f.code, f.reason)
            });
            return self
                .close(code, &reason)
                .map_err(|e| (e, Message::Close(None)));
        }
        if self.is_closed() || self.shared.closing.load(Ordering::Acquire) {
            return Err((Error::ConnectionClosed, message));
        }
        let (len, binary) = match &message {
            Message::Text(t) => (t.len(), false),
            Message::Binary(b) => (b.len(), true),
            Message::Ping(b) | Message::Pong(b) => (b.len(), false),
            Message::Close(_) => (0, false),
        };
        // A handler's reply to its own connection goes straight into the write buffer.
        let message = match window::try_write(self, message, len) {
            window::Direct::Written => {
                count_sent(binary, len);
                return Ok(());
            }
            window::Direct::Full(queued, message) => {
                return Err((self.queue_full(queued), message));
            }
            window::Direct::Queue(message) => message,
        };
        if let Err(err) = self.reserve(len) {
            return Err((err, message));
        }
        if let Message::Text(_) | Message::Binary(_) = &message {
            count_sent(binary, len);
        }
        self.push(Outbound::Message(message, len)).map_err(|back| {
            self.release(len);
            let Outbound::Message(message, _) = back else {
                return (Error::ConnectionClosed, Message::Close(None));
            };
            (Error::ConnectionClosed, message)
        })
    }

    /// Queues a message prepared once for many connections: the shared frame (plain, or
    /// deflated once for every connection compressing without context takeover with the same
    /// settings) when the connection takes it, else the message itself (an extension such as
    /// permessage-deflate with context takeover compresses each connection's copy). See
    /// [`PreparedMessage`].
    ///
    /// # Errors
    /// As [`Self::write_text`].
    pub fn write_prepared(&self, prepared: &PreparedMessage) -> Result<(), Error> {
        if self.write_prepared_uncounted(prepared)? {
            count_prepared(&prepared.message, 1);
        }
        Ok(())
    }

    /// [`Self::write_prepared`] leaving the metrics of the shared frame to the caller: a
    /// broadcast counts its deliveries once ([`count_prepared`]), not with two counter updates
    /// per recipient. `Ok(true)`: the shared frame was written or queued and is not counted
    /// yet; `Ok(false)`: the message went its own way (a connection with an extension encodes
    /// it itself) and was counted there.
    #[inline]
    pub(crate) fn write_prepared_uncounted(
        &self,
        prepared: &PreparedMessage,
    ) -> Result<bool, Error> {
        let frame = match self.shared.info.encoding {
            None => std::borrow::Cow::Borrowed(&prepared.frame),
            Some(encoding) => match prepared.frame_for(encoding) {
                Some(frame) => frame,
                None => return self.enqueue(prepared.message.clone()).map(|()| false),
            },
        };
        self.write_shared_frame(&frame)
    }

    /// [`Self::write_prepared_uncounted`] for a broadcast, which chose the frame once per
    /// encoding (`frames`) rather than once per connection.
    #[inline]
    pub(crate) fn write_chosen_uncounted(
        &self,
        prepared: &PreparedMessage,
        frames: &mut FrameChoice<'_>,
    ) -> Result<bool, Error> {
        match frames.frame(self.shared.info.encoding) {
            Some(frame) => self.write_shared_frame(frame),
            None => self.enqueue(prepared.message.clone()).map(|()| false),
        }
    }

    /// Writes or queues a frame encoded once for many connections that this connection
    /// takes; `Ok(true)`, not counted yet (see [`Self::write_prepared_uncounted`]).
    #[inline]
    fn write_shared_frame(&self, frame: &Bytes) -> Result<bool, Error> {
        if self.is_closed() || self.shared.closing.load(Ordering::Acquire) {
            return Err(Error::ConnectionClosed);
        }
        let len = frame.len();
        match window::try_write_frame(self, frame, len) {
            window::Direct::Written => return Ok(true),
            window::Direct::Full(queued, ()) => return Err(self.queue_full(queued)),
            window::Direct::Queue(()) => {}
        }
        // An idle connection's socket takes it at once (`wire.rs`).
        if let wire::Sent::Written = self.try_send_socket(frame) {
            return Ok(true);
        }
        self.reserve(len)?;
        self.push(Outbound::Frame(frame.clone(), len))
            .map(|()| true)
            .map_err(|_| {
                self.release(len);
                Error::ConnectionClosed
            })
    }
}

/// Counts a message prepared for many connections, sent to `n` of them.
pub(crate) fn count_prepared(message: &Message, n: usize) {
    if n == 0 {
        return;
    }
    let metrics = crate::event::metrics::get();
    let (binary, len) = match message {
        Message::Text(t) => (false, t.len()),
        Message::Binary(b) => (true, b.len()),
        _ => return,
    };
    let kind = crate::event::metrics::Metrics::kind(binary);
    metrics.messages_sent[kind].increment(n as u64);
    metrics.bytes_sent[kind].increment((len * n) as u64);
}

/// Counts a data message queued for sending.
#[inline]
fn count_sent(binary: bool, len: usize) {
    let metrics = crate::event::metrics::get();
    let kind = crate::event::metrics::Metrics::kind(binary);
    metrics.messages_sent[kind].increment(1);
    metrics.bytes_sent[kind].increment(len as u64);
}
