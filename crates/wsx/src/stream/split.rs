//! The two halves of a split [`WebSocket`]: [`WsReader`] (a `Stream` that also answers pings
//! and completes the close handshake) and [`WsWriter`] (a `Sink`), sharing the connection
//! behind a lock that is held for one poll at a time.
//!
//! Both halves may write to the transport (the reader its pongs and close replies), and a
//! transport remembers one waker per direction: for writing, the timers and the closing phase
//! each half registers its task's waker here and polls with a proxy waker that wakes both
//! tasks, so neither can be left asleep by the other. Only the read half reads, so it reads
//! with its own task's waker (see `WebSocket::poll_next_with`). The proxy is kept once, beside
//! the connection, so a poll costs no clone.
#![forbid(unsafe_code)]

use super::WebSocket;
use crate::Error;
use crate::proto::{CloseCode, Message};
use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use futures_util::task::AtomicWaker;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use tokio::io::{AsyncRead, AsyncWrite};

/// The connection shared by the two halves. The lock is held only for the duration of one
/// poll (never across an await), so the halves never wait on each other for long; the proxy
/// waker makes sure neither misses a wake-up meant for the other.
type Halves<S> = Arc<Shared<S>>;

/// What the halves share: the connection, and the proxy (kept once, beside the connection,
/// so a poll borrows its waker without a clone).
struct Shared<S> {
    ws: std::sync::Mutex<WebSocket<S>>,
    proxy: Proxy,
}

/// Wakes both the task reading and the task writing.
#[derive(Default)]
struct WakeBoth {
    read: AtomicWaker,
    write: AtomicWaker,
}

impl Wake for WakeBoth {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.read.wake();
        self.write.wake();
    }
}

/// The tasks' wakers, and the proxy waker the halves poll with.
struct Proxy {
    wakers: Arc<WakeBoth>,
    waker: Waker,
}

impl Proxy {
    /// The context the write half polls with: the proxy, with the writing task's waker
    /// registered in it first.
    fn writing<'a>(&'a self, cx: &Context<'_>) -> Context<'a> {
        self.wakers.write.register(cx.waker());
        Context::from_waker(&self.waker)
    }
}

/// Splits `ws` into its two halves (see [`WebSocket::split`]).
pub(super) fn split<S>(ws: WebSocket<S>) -> (WsReader<S>, WsWriter<S>) {
    let wakers = Arc::new(WakeBoth::default());
    let waker = Waker::from(wakers.clone());
    let halves = Arc::new(Shared {
        ws: std::sync::Mutex::new(ws),
        proxy: Proxy { wakers, waker },
    });
    (WsReader(halves.clone()), WsWriter(halves))
}

fn lock<S>(halves: &Halves<S>) -> std::sync::MutexGuard<'_, WebSocket<S>> {
    // A poll that panicked leaves the connection in a consistent state (every step of the
    // core is a complete update), so a poisoned lock is still usable.
    crate::sync::lock(&halves.ws)
}

/// The read half of a split [`WebSocket`]: a [`Stream`] of messages. It also sends pongs and
/// the close reply, so keep polling it until it returns `None`.
pub struct WsReader<S>(Halves<S>);

/// The write half of a split [`WebSocket`]: a [`Sink`] of messages.
pub struct WsWriter<S>(Halves<S>);

/// [`WsReader::reunite`] was given halves of two different connections: here they are back.
pub struct ReuniteError<S> {
    /// The read half passed to `reunite`.
    pub reader: WsReader<S>,
    /// The write half passed to `reunite`.
    pub writer: WsWriter<S>,
}

impl<S> std::fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReuniteError").finish_non_exhaustive()
    }
}

impl<S> std::fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the halves come from different connections")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}

impl<S> std::fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsReader")
    }
}

impl<S> std::fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsWriter")
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReader<S> {
    /// Receives the next message; `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// How the connection ended (see [`WebSocket::close_code`]).
    #[must_use]
    pub fn close_code(&self) -> CloseCode {
        lock(&self.0).close_code()
    }

    /// Joins the halves again.
    ///
    /// # Errors
    /// The halves came from different connections: both are given back in the error.
    pub fn reunite(self, writer: WsWriter<S>) -> Result<WebSocket<S>, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.0, &writer.0) {
            return Err(ReuniteError {
                reader: self,
                writer,
            });
        }
        drop(writer);
        // The two halves are the only owners of the connection, and not `Clone`.
        let Ok(shared) = Arc::try_unwrap(self.0) else {
            unreachable!("a split connection is owned by its two halves only")
        };
        Ok(crate::sync::into_inner(shared.ws))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsReader<S> {
    type Item = Result<Message, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let wakers = super::SplitWakers {
            proxy: &self.0.proxy.waker,
            reader: &self.0.proxy.wakers.read,
        };
        lock(&self.0).poll_next_with(cx, Some(&wakers))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    /// Sends a message and flushes it.
    ///
    /// # Errors
    /// As [`WebSocket::send`].
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        futures_util::SinkExt::send(self, message).await
    }

    /// Queues a message without flushing.
    ///
    /// # Errors
    /// As [`WebSocket::feed`].
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        futures_util::SinkExt::feed(self, message).await
    }

    /// Queues a frame encoded once for many connections (see
    /// [`crate::proto::encode_server_frame`]); server connections without an extension only.
    ///
    /// # Errors
    /// As [`crate::proto::Protocol::send_raw_frame`], or a transport error.
    pub async fn feed_raw_frame(&mut self, frame: Bytes) -> Result<(), Error> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_ready(cx)).await?;
        Ok(lock(&self.0).proto.send_raw_frame(frame)?)
    }

    /// Writes out everything queued.
    ///
    /// # Errors
    /// A transport error.
    pub async fn flush(&mut self) -> Result<(), Error> {
        futures_util::SinkExt::flush(self).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsWriter<S> {
    type Error = Error;
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut *lock(&self.0)).poll_ready(&mut self.0.proxy.writing(cx))
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let closing = matches!(item, Message::Close(_));
        Pin::new(&mut *lock(&self.0)).start_send(item)?;
        if closing {
            // The reader arms the close deadline on its next poll: make sure there is one.
            self.0.proxy.wakers.read.wake();
        }
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut *lock(&self.0)).poll_flush(&mut self.0.proxy.writing(cx))
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut *lock(&self.0)).poll_close(&mut self.0.proxy.writing(cx))
    }
}
