//! What a task that owns a whole [`WebSocket`] and reads it with `poll_next` may also do to it
//! between polls, without waiting: encode a message (or a frame encoded elsewhere) into the
//! write buffer, lend the write buffer out, write it out, fail the connection. The event API's
//! connection task drives its connection this way: one task reads, runs the handlers and
//! writes, so the connection needs no lock and no second task (issue 17: the split halves'
//! lock, proxy waker and writer task cost about 300 instructions per echoed message).
#![forbid(unsafe_code)]

use super::{WebSocket, write_error};
use crate::Error;
use crate::proto::{CloseCode, Message};
use bytes::Bytes;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The write buffer, for frames appended in place by the event API's direct path, and
    /// the length it may grow to; `None` when the connection may not send a data message now
    /// (its close frame is sent or queued, or the transport ended: RFC 6455 §5.5.1), the same
    /// check [`crate::proto::Protocol::send`] makes for a queued message.
    #[inline]
    pub(crate) fn direct_out(&mut self) -> Option<(&mut crate::proto::WriteBuffer, usize)> {
        if !self.proto.can_send() {
            return None;
        }
        Some((self.proto.write_buffer(), self.config.write_buffer_size))
    }

    /// Whether nothing waits to be written and a data message could be sent now (see
    /// [`Self::direct_out`]): the event API lets broadcasts write such a connection's socket
    /// directly while its task is parked.
    #[inline]
    pub(crate) fn write_idle(&mut self) -> bool {
        self.proto.can_send() && self.proto.write_buffer().is_empty()
    }

    /// Whether this connection takes server frames encoded elsewhere
    /// ([`Self::direct_out`]; [`crate::proto::Protocol::takes_raw_frames`]).
    pub(crate) fn takes_encoded_frames(&self) -> bool {
        self.proto.takes_raw_frames()
    }

    /// Encodes `message` into the write buffer; the next `poll_next` (or
    /// [`Self::poll_write_buffered`]) writes it out. A message the connection can no longer
    /// send (closing, closed) is dropped, as [`WebSocket::feed`] would refuse it.
    #[inline]
    pub(crate) fn encode(&mut self, message: Message) {
        let _ = self.proto.send(message);
    }

    /// As [`Self::encode`], for a frame encoded once for many connections (see
    /// [`crate::proto::encode_server_frame`]).
    pub(crate) fn encode_frame(&mut self, frame: Bytes) {
        let _ = self.proto.send_raw_frame(frame);
    }

    /// Appends the rest of a frame whose start went to the transport by another way (the
    /// event API's direct broadcast writes): it must follow that start whatever the
    /// connection's state, so it is not checked.
    pub(crate) fn encode_rest(&mut self, rest: Bytes) {
        self.proto.write_buffer().put_bytes(rest);
    }

    /// Writes out the write buffer: `Ready(Ok)` once the transport took all of it, `Pending`
    /// with the task registered for the transport's write readiness (and the write timeout
    /// armed), or the write error.
    pub(crate) fn poll_write_buffered(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_write_out(cx).map_err(write_error)
    }

    /// Fails the connection from this side ([`crate::proto::Protocol::fail`]) and makes one
    /// attempt, without waiting, to write out the close frame that queues: the caller gives up
    /// on a peer that does not respond, so nothing waits for it. Returns the close code to
    /// report ([`WebSocket::close_code`]).
    pub(crate) fn fail_now(&mut self, code: CloseCode, reason: &str) -> CloseCode {
        self.proto.fail(code, reason);
        let _ = self.poll_write_out(&mut Context::from_waker(Waker::noop()));
        self.close_code()
    }
}
