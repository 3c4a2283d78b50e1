//! The WebSocket transport: one Engine.IO packet per WebSocket message, over wsx's driver.

use super::{CloseCause, Frame, Transport, TransportError, Wire};
use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite};
use wsx::proto::{OpCode, SharedEncoding, encode_server_frame};
use wsx::{CloseCode, CloseFrame, Message, WebSocket};

/// An Engine.IO transport over a [`WebSocket`].
#[derive(Debug)]
pub struct WsTransport<S> {
    ws: WebSocket<S>,
}

impl<S> WsTransport<S> {
    /// Wraps an accepted WebSocket connection.
    pub fn new(ws: WebSocket<S>) -> Self {
        Self { ws }
    }
}

impl<S> Transport for WsTransport<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn direct_writer(&mut self) -> Option<wsx::DirectWriter> {
        // Broadcasts are encoded once, plain or deflated without context: a connection that
        // compresses with context takeover (permessage-deflate set up through
        // `Config::ws_handshake`) compresses each message itself, through its queue.
        match self.ws.shared_encoding() {
            None | Some(SharedEncoding::Deflate { .. }) => self.ws.direct_writer(),
            Some(_) => None,
        }
    }

    fn shared_encoding(&self) -> Option<SharedEncoding> {
        self.ws.shared_encoding()
    }

    fn feed_wire(
        &mut self,
        frame: Frame,
        wire: Wire,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let raw = match (wire, self.ws.shared_encoding()) {
            // Only a connection whose extension takes frames encoded elsewhere; any other
            // one (an extension of the application's) encodes every message itself.
            (Wire::Encoded(bytes), Some(SharedEncoding::Deflate { .. })) => Some(bytes),
            (Wire::Uncompressed, Some(SharedEncoding::Plain | SharedEncoding::Deflate { .. })) => {
                Some(match &frame {
                    Frame::Text(text) => encode_server_frame(OpCode::Text, text.as_bytes()),
                    Frame::Binary(data) => encode_server_frame(OpCode::Binary, data),
                })
            }
            _ => None,
        };
        async move {
            match raw {
                Some(bytes) => Ok(self.ws.feed_raw_frame(bytes).await?),
                None => self.feed(frame).await,
            }
        }
    }

    async fn recv(&mut self) -> Option<Result<Frame, TransportError>> {
        loop {
            // `WebSocket::next` keeps its state in the connection: dropping it loses nothing.
            match self.ws.next().await? {
                Ok(Message::Text(text)) => return Some(Ok(Frame::Text(text))),
                Ok(Message::Binary(data)) => return Some(Ok(Frame::Binary(data))),
                // WebSocket pings are answered by wsx; a close frame ends the stream next.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => {}
                Err(err) => return Some(Err(err.into())),
            }
        }
    }

    fn feed(&mut self, frame: Frame) -> impl Future<Output = Result<(), TransportError>> + Send {
        let message = match frame {
            Frame::Text(text) => Message::Text(text),
            Frame::Binary(data) => Message::Binary(data),
        };
        async move { Ok(self.ws.feed(message).await?) }
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        Ok(self.ws.flush().await?)
    }

    fn close(&mut self, cause: CloseCause<'_>) -> impl Future<Output = ()> + Send {
        let (code, reason) = match cause {
            CloseCause::Normal | CloseCause::PeerGone => (CloseCode::NORMAL_CLOSURE, ""),
            CloseCause::PeerError(reason) => (CloseCode::POLICY_VIOLATION, reason),
            // As wsx's own advice for a peer that reads too slowly (its README).
            CloseCause::Overflow => (CloseCode::TRY_AGAIN_LATER, "slow consumer"),
            CloseCause::ServerError(reason) => (CloseCode::INTERNAL_ERROR, reason),
        };
        // RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let frame = CloseFrame::new(code, &reason[..end]);
        // wsx bounds the close handshake with its `close_timeout`.
        async move {
            let _ = self.ws.close(Some(frame)).await;
        }
    }
}

impl<S> WsTransport<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Writes out `queue` from its front and flushes. Cancel-safe: a frame leaves the queue
    /// only once the WebSocket took it, so a dropped call loses and repeats nothing (what the
    /// polling transport needs for the packets it hands over at an upgrade).
    ///
    /// # Errors
    /// The WebSocket failed.
    pub async fn drain(
        &mut self,
        queue: &mut std::collections::VecDeque<Frame>,
    ) -> Result<(), TransportError> {
        use futures_util::Sink;
        use std::pin::Pin;
        while !queue.is_empty() {
            std::future::poll_fn(|cx| Pin::new(&mut self.ws).poll_ready(cx)).await?;
            if let Some(frame) = queue.pop_front() {
                let message = match frame {
                    Frame::Text(text) => Message::Text(text),
                    Frame::Binary(data) => Message::Binary(data),
                };
                Pin::new(&mut self.ws).start_send(message)?;
            }
        }
        std::future::poll_fn(|cx| Pin::new(&mut self.ws).poll_flush(cx)).await?;
        Ok(())
    }
}
