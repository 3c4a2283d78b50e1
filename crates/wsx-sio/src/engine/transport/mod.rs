//! What an Engine.IO session needs from a transport: frames in, frames out, a close.
//!
//! Over WebSocket ([`websocket::WsTransport`]) a frame is a WebSocket message. Over HTTP
//! long-polling ([`polling::PollingTransport`]) `recv` yields the packets of each `POST` body
//! one by one, and `feed`/`flush` queue packets for the next `GET`; a polling transport
//! upgrades itself to a WebSocket in place. The session and everything above it do not know
//! which one they run on.

pub mod polling;
pub mod websocket;

use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wsx::Utf8Bytes;

/// One Engine.IO packet as a transport carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text packet: its type digit and payload.
    Text(Utf8Bytes),
    /// A binary message packet.
    Binary(Bytes),
}

impl Frame {
    /// The size of the frame's payload in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a frame given to [`Transport::feed_wire`] goes out on a WebSocket (long-polling
/// ignores it, as Node's `compress` flag does not reach its HTTP compression).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// Uncompressed (RSV1 clear) even on a connection that negotiated permessage-deflate:
    /// Node's `compress(false)` (RFC 7692 §6 lets each message choose).
    Uncompressed,
    /// As these bytes: the frame's complete WebSocket frame, encoded once for every
    /// connection of the transport's [`Transport::shared_encoding`] (a broadcast deflated once
    /// without context, `server_no_context_takeover`, or left plain under the threshold).
    Encoded(Bytes),
}

/// Why a transport failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The WebSocket connection failed (I/O, protocol error, message over `maxPayload`...).
    #[error(transparent)]
    WebSocket(#[from] wsx::Error),
    /// The HTTP long-polling session failed (overlapping requests, a malformed or too large
    /// payload, a client that stopped fetching).
    #[error(transparent)]
    Polling(#[from] polling::PollingError),
}

impl TransportError {
    /// Whether the peer just went away (end of stream without a close frame, connection
    /// reset): the Node server reports that as "transport close", not as an error.
    #[must_use]
    pub fn is_peer_gone(&self) -> bool {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
        matches!(self, Self::WebSocket(wsx::Error::Io(e))
            if matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe))
            || matches!(self, Self::WebSocket(wsx::Error::ConnectionClosed))
    }

    /// Whether the peer sent a message over the size limit (`maxPayload`).
    #[must_use]
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::WebSocket(wsx::Error::Protocol(p))
            if p.close_code() == wsx::CloseCode::MESSAGE_TOO_BIG)
            || matches!(self, Self::Polling(polling::PollingError::TooLarge))
    }
}

/// A bidirectional carrier of Engine.IO frames.
pub trait Transport: Send + 'static {
    /// The transports this one can upgrade to, for the open packet's `upgrades`
    /// (engine.io-protocol v4, "Handshake"): none for a WebSocket.
    fn upgrades(&self) -> &'static [&'static str] {
        &[]
    }

    /// The session's heartbeat: a ping went out and its pong is due by `deadline` (`None`:
    /// the pong came). Polling uses it to refuse the requests of a session that is already
    /// dead by the clock, before the session's own timer ran; WebSocket ignores it.
    fn pong_deadline(&mut self, deadline: Option<std::time::Instant>) {
        let _ = deadline;
    }

    /// The bytes this transport keeps for its peer once [`Self::flush`] returned, when it
    /// keeps any: long-polling's queue for the client's next `GET` (a WebSocket's `flush`
    /// returns once its bytes are written: it keeps none). Whoever bounds a client's
    /// outbound memory counts them with what it queued itself (`Config::max_pending_bytes`).
    fn held(&self) -> Option<Arc<Held>> {
        None
    }

    /// What writes broadcasts straight to this transport's socket while the connection's
    /// task is parked idle ([`wsx::DirectWriter`]: a WebSocket over plain TCP); `None`, the
    /// default, for the others.
    fn direct_writer(&mut self) -> Option<wsx::DirectWriter> {
        None
    }

    /// Which WebSocket frames encoded elsewhere this transport takes as they are
    /// ([`wsx::WebSocket::shared_encoding`]): `None`, the default, when frames go only through
    /// [`Self::feed`] (long-polling, or a WebSocket without an extension, whose broadcasts
    /// take the plain path).
    fn shared_encoding(&self) -> Option<wsx::proto::SharedEncoding> {
        None
    }

    /// Queues a frame as `wire` says (see [`Wire`]); the default, for transports that are
    /// not a WebSocket, queues it as [`Self::feed`] does.
    fn feed_wire(
        &mut self,
        frame: Frame,
        wire: Wire,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = wire;
        self.feed(frame)
    }

    /// The next frame from the peer; `None` once the transport closed cleanly. Must be
    /// cancel-safe: a future dropped before it completes loses no frame.
    fn recv(&mut self) -> impl Future<Output = Option<Result<Frame, TransportError>>> + Send;

    /// Queues a frame (it goes out with the next [`Self::flush`], or earlier when the
    /// transport's buffer is full).
    fn feed(&mut self, frame: Frame) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Writes out everything queued.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Closes the transport, telling the peer why when the transport can. Bounded in time.
    fn close(&mut self, cause: CloseCause<'_>) -> impl Future<Output = ()> + Send;
}

/// Why the server closes a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause<'a> {
    /// A normal end (WebSocket close code 1000): the server closes on purpose, and what is
    /// queued still goes out.
    Normal,
    /// The peer left or stopped answering (WebSocket close code 1000): nothing waits for it.
    PeerGone,
    /// The peer broke the protocol (1008, policy violation, with the reason).
    PeerError(&'a str),
    /// The server failed (1011, internal error, with the reason).
    ServerError(&'a str),
    /// The peer does not take what is sent to it fast enough (a slow consumer, past
    /// `Config::max_pending_bytes`): what is queued is dropped, and the peer is told (1013,
    /// try again later, over WebSocket; the close packet `1` as the answer to its next `GET`
    /// over long-polling).
    Overflow,
}

/// See [`Transport::held`]: a byte count the transport updates and other tasks read.
#[derive(Debug, Default)]
pub struct Held(AtomicUsize);

impl Held {
    /// The bytes held now.
    #[must_use]
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }

    pub(crate) fn sub(&self, n: usize) {
        // Never below zero, whatever the order of updates.
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(n))
            });
    }

    pub(crate) fn clear(&self) {
        self.0.store(0, Ordering::Release);
    }
}
