//! An Engine.IO session over one transport: the open packet, the heartbeat, `maxPayload`, and
//! the message packets handed up to Socket.IO.
//!
//! engine.io-protocol v4: the server opens with `0{"sid",..}`; it sends a ping `2` every
//! `pingInterval` and closes the session when the pong `3` is later than `pingTimeout`; a
//! client `1` closes the session; a message `4` (or a binary frame) goes up.

use super::heartbeat::{Action, Heartbeat};
use super::transport::{CloseCause, Frame, Transport, TransportError, Wire};
use super::{EngineConfig, handshake};
use crate::packet::engine::{self, EngineError, Packet};
use crate::sid::Sid;
use bytes::Bytes;
use futures_util::future::Either;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;
use tokio::time::Sleep;
use wsx::Utf8Bytes;

/// What a session hands up.
#[derive(Debug)]
pub enum Event {
    /// The payload of a text message packet (without its `4`): a Socket.IO packet.
    Text(Utf8Bytes),
    /// A binary message packet: a Socket.IO attachment.
    Binary(Bytes),
    /// The session ended.
    Closed(CloseReason),
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed the transport (a WebSocket close, end of stream, or a `1` packet).
    #[error("transport close")]
    TransportClose,
    /// The transport failed.
    #[error("transport error: {0}")]
    TransportError(TransportError),
    /// The client's pong came later than `pingTimeout`.
    #[error("ping timeout")]
    PingTimeout,
    /// The client sent something that is not an Engine.IO packet.
    #[error("parse error: {0}")]
    ParseError(#[from] EngineError),
    /// The client sent a message larger than `maxPayload`.
    #[error("message larger than maxPayload")]
    PayloadTooLarge,
}

impl From<TransportError> for CloseReason {
    fn from(err: TransportError) -> Self {
        if matches!(
            err,
            TransportError::Polling(super::transport::polling::PollingError::PingTimeout)
        ) {
            Self::PingTimeout
        } else if err.is_too_large() {
            Self::PayloadTooLarge
        } else if err.is_peer_gone() {
            Self::TransportClose
        } else {
            Self::TransportError(err)
        }
    }
}

/// One Engine.IO session.
#[derive(Debug)]
pub struct Session<T> {
    sid: Sid,
    transport: T,
    heartbeat: Heartbeat,
    timer: Pin<Box<Sleep>>,
    max_payload: usize,
}

impl<T: Transport> Session<T> {
    /// A session on `transport`; [`Self::open`] sends the open packet. The first ping is due
    /// `pingInterval` from now. (Not async, so that a connection's task can be built around
    /// the session without moving it again: a smaller task per idle client.)
    pub fn new(sid: Sid, transport: T, config: &EngineConfig) -> Self {
        let heartbeat = Heartbeat::new(Instant::now(), config.ping_interval, config.ping_timeout);
        let timer = Box::pin(tokio::time::sleep_until(heartbeat.deadline().into()));
        Self {
            sid,
            transport,
            heartbeat,
            timer,
            max_payload: config.max_payload,
        }
    }

    /// Sends the open packet `0{"sid",..}`.
    ///
    /// # Errors
    /// The transport failed.
    pub async fn open(&mut self, config: &EngineConfig) -> Result<(), TransportError> {
        let upgrades = self.transport.upgrades();
        let open = format!("0{}", handshake::open_json(self.sid, config, upgrades));
        self.send([Frame::Text(open.into())]).await
    }

    /// The session id.
    #[must_use]
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The next message, answering heartbeat packets meanwhile. Cancel-safe.
    pub async fn recv(&mut self) -> Event {
        loop {
            let deadline = tokio::time::Instant::from_std(self.heartbeat.deadline());
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            tokio::select! {
                frame = self.transport.recv() => match frame {
                    None => return Event::Closed(CloseReason::TransportClose),
                    Some(Err(err)) => return Event::Closed(err.into()),
                    Some(Ok(frame)) => {
                        if frame.len() > self.max_payload {
                            return Event::Closed(CloseReason::PayloadTooLarge);
                        }
                        if let Some(event) = self.on_frame(frame).await {
                            return event;
                        }
                    }
                },
                () = self.timer.as_mut() => match self.heartbeat.on_timeout(Instant::now()) {
                    Action::SendPing => {
                        // Boxed: a rare path, kept out of every idle connection's task.
                        self.transport.pong_deadline(self.heartbeat.pong_deadline());
                        if let Err(err) = Box::pin(self.send([Frame::Text("2".into())])).await {
                            return Event::Closed(err.into());
                        }
                    }
                    Action::TimedOut => return Event::Closed(CloseReason::PingTimeout),
                    Action::Nothing => {}
                },
            }
        }
    }

    /// Handles one frame; returns what goes up, if anything.
    async fn on_frame(&mut self, frame: Frame) -> Option<Event> {
        let text = match frame {
            Frame::Binary(data) => return Some(Event::Binary(data)),
            Frame::Text(text) => text,
        };
        match engine::decode_text(&text) {
            Ok(Packet::Message(_)) => {
                // The type digit is one ASCII byte: the rest is still UTF-8.
                let payload = text.into_bytes().slice(1..);
                Some(match Utf8Bytes::try_from_bytes(payload) {
                    Ok(text) => Event::Text(text),
                    Err(_) => Event::Closed(CloseReason::ParseError(EngineError::Empty)),
                })
            }
            Ok(Packet::Pong(_)) => {
                self.heartbeat.on_pong(Instant::now());
                self.transport.pong_deadline(None);
                None
            }
            // v4 clients do not ping, but a probe ping (during an upgrade) is answered.
            Ok(Packet::Ping(payload)) => {
                let pong = Frame::Text(format!("3{payload}").into());
                Box::pin(self.send([pong]))
                    .await
                    .err()
                    .map(|err| Event::Closed(err.into()))
            }
            Ok(Packet::Close) => Some(Event::Closed(CloseReason::TransportClose)),
            Ok(Packet::Noop | Packet::Upgrade) => None,
            // Only the server opens; a client's open packet is a protocol error.
            Ok(Packet::Open(_) | Packet::Binary(_)) => Some(Event::Closed(
                CloseReason::ParseError(EngineError::UnexpectedPayload(engine::PacketType::Open)),
            )),
            Err(err) => Some(Event::Closed(err.into())),
        }
    }

    /// Sends frames and flushes.
    ///
    /// # Errors
    /// The transport failed.
    pub async fn send(
        &mut self,
        frames: impl IntoIterator<Item = Frame>,
    ) -> Result<(), TransportError> {
        for frame in frames {
            self.transport.feed(frame).await?;
        }
        self.transport.flush().await
    }

    /// Sends frames and flushes, like [`Self::send`], feeding those listed in `wires` (by
    /// their index in `frames`, ascending) as their [`Wire`] says ([`Transport::feed_wire`]).
    /// Without wires it is [`Self::send`]; with some, its future is boxed: a connection's
    /// task holds this future while it writes, and an idle client's memory is mostly that
    /// task (`server/connection.rs`, `the_connection_task_is_small`).
    ///
    /// # Errors
    /// The transport failed.
    pub fn send_wired(
        &mut self,
        frames: Vec<Frame>,
        wires: Vec<(usize, Wire)>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send + '_ {
        if wires.is_empty() {
            Either::Left(self.send(frames))
        } else {
            Either::Right(Box::pin(self.send_each_wired(frames, wires)))
        }
    }

    async fn send_each_wired(
        &mut self,
        frames: Vec<Frame>,
        wires: Vec<(usize, Wire)>,
    ) -> Result<(), TransportError> {
        let mut wires = wires.into_iter().peekable();
        for (i, frame) in frames.into_iter().enumerate() {
            match wires.next_if(|(at, _)| *at == i) {
                Some((_, wire)) => self.transport.feed_wire(frame, wire).await?,
                None => self.transport.feed(frame).await?,
            }
        }
        self.transport.flush().await
    }

    /// Closes the session: a `1` packet is not needed over WebSocket (the close frame says
    /// it); the transport is closed.
    pub async fn close(&mut self, cause: CloseCause<'_>) {
        self.transport.close(cause).await;
    }
}
