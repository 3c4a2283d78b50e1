//! The pull API: [`Messages`], a connection's incoming messages as a stream, for code that
//! prefers a loop to callbacks (as with tokio-tungstenite or axum).
#![forbid(unsafe_code)]

use super::{Conn, MessageType};
use bytes::Bytes;
use futures_core::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Messages handed over to a [`Messages`] stream that it has not yielded yet. Past this the
/// connection's reader waits (and so reading pauses: backpressure).
const BUFFERED: usize = 32;

/// A connection's text and binary messages, in arrival order: from [`Conn::messages`].
/// [`Self::recv`] returns `None` once the connection has ended and every message received
/// before was yielded; [`Conn::closed`] then tells how it ended. It is also a
/// [`Stream`] of `(MessageType, Bytes)`.
///
/// On a client connection the stream owns the connection like a `Conn` handle does (see
/// [`Conn`]).
#[derive(Debug)]
pub struct Messages {
    rx: mpsc::Receiver<(MessageType, Bytes)>,
    conn: Conn,
}

impl Messages {
    /// The next message, or `None` when the connection has ended.
    pub async fn recv(&mut self) -> Option<(MessageType, Bytes)> {
        self.rx.recv().await
    }

    /// The connection the messages come from.
    #[must_use]
    pub fn conn(&self) -> &Conn {
        &self.conn
    }
}

impl Stream for Messages {
    type Item = (MessageType, Bytes);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

impl Conn {
    /// Takes this connection's text and binary messages as a stream instead of a handler:
    /// replaces `on_message` (and an earlier `messages`) for this connection. Messages that
    /// arrived before, waiting for a handler, come first. Custom events with an `on` handler
    /// still go to it.
    ///
    /// ```no_run
    /// # async fn run(conn: wsx::Conn) {
    /// let mut messages = conn.messages();
    /// while let Some((kind, data)) = messages.recv().await {
    ///     // Waits for room in the outbound queue instead of failing with `QueueFull`.
    ///     if conn.send(kind, data).await.is_err() {
    ///         break; // closed
    ///     }
    /// }
    /// let (code, reason) = conn.closed().await;
    /// # }
    /// ```
    #[must_use]
    pub fn messages(&self) -> Messages {
        let (tx, rx) = mpsc::channel(BUFFERED);
        self.on_message_async(move |_, kind, data| {
            let tx = tx.clone();
            async move {
                // A dropped stream: the message has nobody to go to.
                let _ = tx.send((kind, data)).await;
            }
        });
        Messages {
            rx,
            conn: self.clone(),
        }
    }
}
