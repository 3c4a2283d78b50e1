//! `WebSocket<S>`: the async driver of the [`Protocol`] over any tokio `AsyncRead + AsyncWrite`.
//!
//! It implements [`futures_core::Stream`] (incoming messages) and [`futures_sink::Sink`]
//! (outgoing messages). Why these traits rather than plain async methods: they compose with the
//! whole futures ecosystem (`StreamExt::next`, `SinkExt::send`/`feed`, `forward`, `select`), and
//! [`WebSocket::split`] gives a read half and a write half that two tasks can own. Plain async
//! helpers ([`WebSocket::next`], [`WebSocket::send`], [`WebSocket::close`]) are offered too.
//!
//! Both halves of a split connection may need the transport's write side: the reader to send
//! pongs and close replies, the writer for messages. A transport remembers only one waker per
//! direction, so the halves poll through a proxy waker that wakes both the reading and the
//! writing task (`split.rs`); an unsplit `WebSocket` is polled by one task and passes its
//! context straight through.
//!
//! The halves ([`WsReader`], [`WsWriter`]) are in `split.rs`.
//!
//! Writes are batched: [`Sink::start_send`] only encodes into the write buffer (small frames are
//! coalesced, large payloads are queued without a copy); bytes go out with vectored writes when
//! the buffer passes `write_buffer_size` or on flush. `feed` many messages, then `flush` once.
//!
//! Other threads may write frames encoded once for many connections straight to the socket of
//! a connection whose task is parked with nothing to write ([`WebSocket::direct_writer`],
//! `direct.rs`; the one `unsafe` call, `send(2)`, is in `raw_socket.rs`).
#![deny(unsafe_code)]

// The driver reports `wsx::Error`, the crate's one public error: it converts the core's own
// errors (`ProtocolError`, `SendError`) into it. The only import from outside `proto/`.
use crate::Error;
use crate::proto::{
    CloseCode, CloseFrame, Extension, Limits, Message, Protocol, Role, SharedEncoding, State,
};
use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use futures_util::task::AtomicWaker;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;

mod direct;
mod owner;
pub(crate) mod raw_socket;
mod split;

pub use direct::{DirectWrite, DirectWriter};
pub use split::{ReuniteError, WsReader, WsWriter};

/// Settings of one connection's driver. The event API makes it from its
/// [`crate::Config`] ([`crate::Config::websocket_config`]), whose defaults are stricter: the
/// table on [`crate::Config`] says which differ and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketConfig {
    /// Limits on incoming frames and messages.
    pub limits: Limits,
    /// Room made in the read buffer before each read, at first: while reads fill it the room
    /// doubles (up to 128 KiB, so pipelined frames come many per system call) and it steps
    /// back down when reads come small; a large frame reserves room for its rest (at most
    /// 64 KiB ahead of its bytes). A grown buffer is let go once drained and frames are small.
    pub read_buffer_size: usize,
    /// Encoded bytes buffered before a send waits for the transport to take them (the
    /// backpressure point, and the batch size for coalesced writes).
    pub write_buffer_size: usize,
    /// How long the close handshake may take: waiting for the peer's close frame after ours,
    /// flushing the last bytes, and (client) waiting for the server to close TCP.
    pub close_timeout: Duration,
    /// Fail writes when the transport has taken no byte for this long (the peer stopped
    /// reading); `None` waits forever.
    pub write_timeout: Option<Duration>,
}

impl Default for WebSocketConfig {
    /// 16 MiB frames and 64 MiB messages, reads from 8 KiB (adapting up to 128 KiB), 128 KiB
    /// write batches, 5 s close timeout, no write timeout.
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            read_buffer_size: 8 * 1024,
            write_buffer_size: 128 * 1024,
            close_timeout: Duration::from_secs(5),
            write_timeout: None,
        }
    }
}

/// The cause inside the `io::Error` of a write that failed because the transport took no
/// byte for `write_timeout`: it tells our stall timeout from an OS timeout (`ETIMEDOUT`).
#[derive(Debug)]
struct WriteStalled;

impl std::fmt::Display for WriteStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write timeout: the peer is not reading")
    }
}

impl std::error::Error for WriteStalled {}

/// A failed write as the caller sees it: our write-stall timeout is [`Error::Timeout`]; any
/// transport error, an OS `ETIMEDOUT` included, is [`Error::Io`].
fn write_error(e: io::Error) -> Error {
    if matches!(e.get_ref(), Some(inner) if inner.is::<WriteStalled>()) {
        Error::Timeout("write: the peer is not reading")
    } else {
        Error::Io(e)
    }
}

/// A WebSocket connection over the transport `S`, after the opening handshake.
pub struct WebSocket<S> {
    /// Direct writes to the socket, when turned on: declared before `stream`, so that the
    /// writers are off before the stream (its descriptor) is dropped (`direct.rs`).
    direct: Option<direct::DirectGuard>,
    stream: S,
    proto: Protocol,
    config: WebSocketConfig,
    subprotocol: Option<Box<str>>,
    /// Deadline of the closing phase, armed when it starts.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Armed while the transport takes no bytes (see `WebSocketConfig::write_timeout`).
    write_stall: Option<Pin<Box<Sleep>>>,
    shut_down: bool,
    /// The stream has ended: `None` from now on.
    finished: bool,
    /// Everything buffered was decoded: no message can come before more bytes are read.
    decoded: bool,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("proto", &self.proto)
            .field("subprotocol", &self.subprotocol)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a transport on which the opening handshake is already done. `read_ahead` holds
    /// bytes read past the handshake (the start of the frame stream).
    #[must_use]
    pub fn from_raw(
        stream: S,
        role: Role,
        config: WebSocketConfig,
        read_ahead: &[u8],
        extension: Option<Box<dyn Extension>>,
        subprotocol: Option<String>,
    ) -> Self {
        let mut proto = Protocol::new(role, config.limits, config.read_buffer_size);
        if let Some(ext) = extension {
            proto.set_extension(ext);
        }
        proto.receive_data(read_ahead);
        Self {
            direct: None,
            stream,
            proto,
            config,
            subprotocol: subprotocol.map(String::into_boxed_str),
            deadline: None,
            write_stall: None,
            shut_down: false,
            finished: false,
            decoded: false,
        }
    }

    /// The subprotocol agreed in the handshake.
    #[must_use]
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Whether an extension (e.g. permessage-deflate) was negotiated.
    #[must_use]
    pub fn has_extension(&self) -> bool {
        self.proto.has_extension()
    }

    /// The protocol state.
    #[must_use]
    pub fn state(&self) -> State {
        self.proto.state()
    }

    /// How the connection ended (meaningful once the stream returned `None`): the peer's close
    /// code, 1005 when its close frame had none, the code of a protocol error, or 1006 when the
    /// transport ended without a close frame.
    #[must_use]
    pub fn close_code(&self) -> CloseCode {
        self.proto.close_code()
    }

    /// The peer's close frame, once received.
    #[must_use]
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.proto.close_received().and_then(Option::as_ref)
    }

    /// The underlying transport.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Receives the next message; `None` once the connection is closed.
    ///
    /// Before it waits for input, it writes out what is buffered (messages fed with
    /// [`Self::feed`], pongs, close replies): a loop of `next` and `feed` needs no `flush`,
    /// and replies to messages that arrived together go out in one write.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Sends a message and flushes it.
    ///
    /// # Errors
    /// As [`Protocol::send`], or a transport error.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        futures_util::SinkExt::send(self, message).await
    }

    /// Queues a message without flushing (it goes out with the next flush, or once the write
    /// buffer is full).
    ///
    /// # Errors
    /// As [`Protocol::send`], or a transport error.
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        // What `SinkExt::feed` does through `poll_ready` and `start_send`, without its future
        // holding the message in an `Option` and the two trips through the `Sink` (a send per
        // echoed message, issue 17). A closed connection is reported by `Protocol::send`.
        if self.finished {
            return Err(Error::ConnectionClosed);
        }
        self.direct_enter();
        if self.write_buffer_full() {
            std::future::poll_fn(|cx| self.poll_write_out(cx))
                .await
                .map_err(write_error)?;
        }
        self.proto.send(message)?;
        Ok(())
    }

    /// Writes out everything queued.
    ///
    /// # Errors
    /// A transport error.
    pub async fn flush(&mut self) -> Result<(), Error> {
        futures_util::SinkExt::flush(self).await
    }

    /// Queues one or more complete server frames encoded elsewhere, as they are, without
    /// flushing: a frame encoded once for many connections (a broadcast's,
    /// [`crate::proto::encode_server_frame`], or deflated once without context,
    /// [`crate::proto::deflate::deflate_frame`]), or an uncompressed frame on a connection that
    /// compresses (RFC 7692 §6: each message chooses; Node's `compress(false)`). Which frames
    /// a connection takes is its [`Self::shared_encoding`].
    ///
    /// # Errors
    /// As [`crate::proto::Protocol::send_raw_frame`] (a client, or a frame whose RSV bits the
    /// connection's extension does not take), or a transport error.
    pub async fn feed_raw_frame(&mut self, frame: Bytes) -> Result<(), Error> {
        if self.finished {
            return Err(Error::ConnectionClosed);
        }
        self.direct_enter();
        if self.write_buffer_full() {
            std::future::poll_fn(|cx| self.poll_write_out(cx))
                .await
                .map_err(write_error)?;
        }
        self.proto.send_raw_frame(frame)?;
        Ok(())
    }

    /// Which frames encoded elsewhere this connection takes ([`Self::feed_raw_frame`],
    /// [`DirectWriter`]): `None` for a server without an extension (every unmasked frame);
    /// with an extension, what it lets through ([`crate::proto::Protocol::shared_encoding`]):
    /// [`SharedEncoding::Deflate`] for permessage-deflate with `server_no_context_takeover`,
    /// whose deflated frames are the same on every such connection.
    #[must_use]
    pub fn shared_encoding(&self) -> Option<SharedEncoding> {
        self.proto.shared_encoding()
    }

    /// Runs the close handshake: sends a close frame (unless one was sent), then reads until the
    /// peer's close arrives (messages received meanwhile are dropped) or `close_timeout` passes,
    /// then closes the transport. See [`Self::close_code`] for how it ended.
    ///
    /// # Errors
    /// A transport error other than the peer closing TCP.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        if !self.proto.close_sent() && !self.finished {
            if self.proto.state() == State::Closed {
                return Err(Error::ConnectionClosed);
            }
            // Queued behind what is pending, without waiting for the transport to take it (as
            // a `send` would): a peer that stopped reading must not hold the close past
            // `close_timeout`. The closing phase of the read below writes it out within that
            // deadline, then closes the transport either way. A close frame is at most 127
            // bytes (RFC 6455 §5.5), so the write buffer's bound is not at stake.
            self.direct_enter();
            self.proto.send(Message::Close(frame))?;
        }
        while let Some(item) = self.next().await {
            match item {
                // A peer that drops TCP instead of answering has closed too; `close_code()`
                // reports 1006 for it.
                Err(Error::Io(e)) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
                    return Err(Error::Io(e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Splits into a read half and a write half that can be used from two tasks.
    pub fn split(mut self) -> (WsReader<S>, WsWriter<S>) {
        self.direct_off();
        split::split(self)
    }

    /// Whether the write buffer holds `write_buffer_size` bytes or more: a send waits for the
    /// transport first.
    pub(crate) fn write_buffer_full(&mut self) -> bool {
        self.proto.write_buffer().len() >= self.config.write_buffer_size
    }

    /// Writes out the write buffer and flushes the transport.
    // Inlined into the read loop, which writes out before every read (a call's register
    // saves cost about 15 instructions per message, issue 17; a plain `#[inline]` left the
    // call in place).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let vectored = self.stream.is_write_vectored();
        loop {
            let out = self.proto.write_buffer();
            if out.is_empty() {
                break;
            }
            // One contiguous run goes out with a plain write (`send`): a shorter kernel path
            // than `writev`, which copies in the iovec and goes through the VFS layer.
            let written = if vectored && out.chunk().len() < out.len() {
                let mut slices = [IoSlice::new(&[]); 64];
                let count = out.io_slices(&mut slices);
                Pin::new(&mut self.stream).poll_write_vectored(cx, &slices[..count])
            } else {
                Pin::new(&mut self.stream).poll_write(cx, out.chunk())
            };
            let n = match written {
                Poll::Ready(result) => result?,
                Poll::Pending => return self.poll_write_stalled(cx),
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.made_progress();
            self.proto.write_buffer().advance(n);
        }
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        if flushed.is_pending() {
            return self.poll_write_stalled(cx);
        }
        self.made_progress();
        flushed
    }

    /// The transport took bytes: the write timeout counts from the last byte it took. (The
    /// stall timer is dropped only when there is one: this runs for every write.)
    fn made_progress(&mut self) {
        if self.write_stall.is_some() {
            self.write_stall = None;
        }
    }

    /// The transport takes no bytes: with a write timeout, fail once it has taken none for that
    /// long (a peer that stopped reading must not pin our memory).
    fn poll_write_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(timeout) = self.config.write_timeout else {
            return Poll::Pending;
        };
        let stall = self
            .write_stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stall.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, WriteStalled)));
        }
        Poll::Pending
    }

    /// Reads what the transport has. While the read buffer owns no memory (a new or idle
    /// connection), the read goes to a small stack buffer first, so that an idle connection
    /// holds no read buffer at all; once data flows it is read straight into the (kept)
    /// buffer, with no copy and no allocation per message.
    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.proto.read_capacity() == 0 {
            // Uninitialised: zeroing 512 bytes on every poll of an idle connection (each
            // broadcast it is woken for) cost about 50 instructions per delivery (callgrind,
            // issue 25); `ReadBuf` tracks what the read initialised.
            let mut stack = [std::mem::MaybeUninit::<u8>::uninit(); 512];
            let mut buf = tokio::io::ReadBuf::uninit(&mut stack);
            ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
            let n = buf.filled().len();
            self.proto.receive_data(buf.filled());
            return Poll::Ready(Ok(n));
        }
        let buf = self.proto.read_buffer();
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.stream),
            cx,
            buf
        ))?;
        self.proto.read_done(n);
        Poll::Ready(Ok(n))
    }

    /// Arms the closing deadline once, and tells whether it has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.config.close_timeout;
        let sleep = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        sleep.as_mut().poll(cx).is_ready()
    }

    /// The closing phase: flush, let a client wait for the server's TCP close, close the
    /// transport, then report how it ended.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let expired = self.poll_deadline(cx);
        if !expired {
            if self.poll_write_out(cx).is_pending() {
                return Poll::Pending;
            }
            // RFC 6455 §7.1.1: the server closes TCP first; a client waits for it, for a while.
            if self.proto.close_order() == crate::proto::CloseOrder::AwaitPeer && !self.shut_down {
                loop {
                    let buf = self.proto.read_buffer();
                    buf.clear();
                    match tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, buf) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0) | Err(_)) => break,
                        Poll::Ready(Ok(_)) => {}
                    }
                }
            }
        }
        if !self.shut_down {
            if expired {
                // Out of time: start the shutdown (TCP sends its FIN at once) without waiting.
                let _ = Pin::new(&mut self.stream).poll_shutdown(cx);
            } else if Pin::new(&mut self.stream).poll_shutdown(cx).is_pending() {
                return Poll::Pending;
            }
            self.shut_down = true;
        }
        self.finished = true;
        if let Some(err) = self.proto.failure() {
            return Poll::Ready(Some(Err(Error::Protocol(err.clone()))));
        }
        if self.proto.close_received().is_none() {
            if self.proto.is_eof() {
                return Poll::Ready(Some(Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed without a close frame",
                )))));
            }
            return Poll::Ready(Some(Err(Error::Timeout("close handshake"))));
        }
        Poll::Ready(None)
    }
}

impl<S> Stream for WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_with(cx, None)
    }
}

/// The wakers of a split connection's read half (see `split.rs`): the proxy waker, which wakes
/// both halves' tasks, and the slot in it for the reading task's waker.
pub(super) struct SplitWakers<'a> {
    pub proxy: &'a Waker,
    pub reader: &'a AtomicWaker,
}

/// The context to poll with what the write half of a split connection may wait on too
/// (writes, timers, the closing phase): the task's own for a whole connection; for a read half,
/// the proxy, with the reading task's waker registered in it first.
fn shared_context<'a>(split: Option<&'a SplitWakers<'_>>, cx: &'a Context<'_>) -> Context<'a> {
    match split {
        None => Context::from_waker(cx.waker()),
        Some(s) => {
            s.reader.register(cx.waker());
            Context::from_waker(s.proxy)
        }
    }
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// [`Stream::poll_next`], for the whole connection (`split: None`) or for its read half.
    ///
    /// A read half reads with its task's own waker: only that task reads, so the transport's
    /// read waker can be its own, and a wake-up for input goes straight to it. Writing, the
    /// timers and the closing phase go through the proxy, since the write half's task waits on
    /// those too; a write is tried first without registering the reading task in the proxy
    /// (the transport usually takes it all), and again after registering when it could not.
    /// Registering on every poll and waking through the proxy for every input cost about 125
    /// instructions per message in the event API (callgrind, issue 17).
    #[inline]
    pub(super) fn poll_next_with(
        &mut self,
        cx: &mut Context<'_>,
        split: Option<&SplitWakers<'_>>,
    ) -> Poll<Option<Result<Message, Error>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        self.direct_enter();
        loop {
            // One check while open (every poll of a live connection), the closing rules after.
            if self.proto.state() != State::Open {
                let mut shared = shared_context(split, cx);
                // Closed, or our close frame got no answer within the close timeout.
                if self.proto.should_close_transport() || self.poll_deadline(&mut shared) {
                    return self.poll_finish(&mut shared);
                }
            }
            if !self.decoded {
                match self.proto.next_message() {
                    Ok(Some(message)) => {
                        // Nothing left to decode: the next poll goes straight to writing
                        // and reading, without another decode attempt.
                        self.decoded = !self.proto.has_buffered_input();
                        return Poll::Ready(Some(Ok(message)));
                    }
                    Ok(None) => self.decoded = true,
                    // The close frame is queued; the loop flushes it and closes.
                    Err(_) => continue,
                }
            }
            // Everything buffered is decoded: before waiting for input, write out what is
            // pending (pongs, close replies, what the owner encoded: the event API's handlers'
            // replies) in one go.
            if !self.proto.write_buffer().is_empty() {
                let written = match split {
                    None => self.poll_write_out(cx),
                    Some(s) => match self.poll_write_out(&mut Context::from_waker(s.proxy)) {
                        Poll::Pending => self.poll_write_out(&mut shared_context(split, cx)),
                        done @ Poll::Ready(_) => done,
                    },
                };
                if let Poll::Ready(Err(e)) = written {
                    self.finished = true;
                    return Poll::Ready(Some(Err(write_error(e))));
                }
            }
            let Poll::Ready(read) = self.poll_read_some(cx) else {
                self.direct_park(cx);
                return Poll::Pending;
            };
            match read {
                Ok(0) => self.proto.receive_eof(),
                Ok(_) => self.decoded = false,
                Err(e) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(Error::Io(e))));
                }
            }
        }
    }
}

impl<S> Sink<Message> for WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.finished || this.proto.state() == State::Closed {
            return Poll::Ready(Err(Error::ConnectionClosed));
        }
        this.direct_enter();
        if this.write_buffer_full() {
            ready!(this.poll_write_out(cx)).map_err(write_error)?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let this = self.get_mut();
        this.direct_enter();
        this.proto.send(item)?;
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.direct_enter();
        ready!(this.poll_write_out(cx)).map_err(write_error)?;
        Poll::Ready(Ok(()))
    }

    /// Sends a close frame (1000) unless one was sent, and flushes. The read side completes the
    /// close handshake.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.direct_enter();
        if !this.proto.close_sent() && !this.finished {
            this.proto.send(Message::Close(Some(CloseFrame::new(
                CloseCode::NORMAL_CLOSURE,
                "",
            ))))?;
        }
        Pin::new(this).poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_write_stall_is_a_timeout() {
        let stalled = io::Error::new(io::ErrorKind::TimedOut, WriteStalled);
        assert!(matches!(write_error(stalled), Error::Timeout(_)));
        // A real TCP timeout (ETIMEDOUT) is an I/O error, not "the peer is not reading".
        let os = io::Error::from(io::ErrorKind::TimedOut);
        assert!(matches!(write_error(os), Error::Io(e) if e.kind() == io::ErrorKind::TimedOut));
    }
}
