//! An Engine.IO server without Socket.IO on top ([`super::Server::engine_only`]): every
//! message a client sends goes to one function, and what it returns goes back to that
//! client. The transports, the heartbeat, the upgrade and the limits are the same as below
//! Socket.IO; `examples/eio_echo.rs` (the server the official Engine.IO protocol suite runs
//! against) is built on it.

use crate::engine::transport::{CloseCause, Frame, Transport};
use crate::engine::{EngineConfig, Event, Session};
use crate::sid::Sid;
use bytes::Bytes;
use std::sync::Arc;
use wsx::Utf8Bytes;

/// An Engine.IO message packet: text (without its type digit `4`) or binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineMessage {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

/// What an Engine.IO-only server does with a message: the answer to send back, if any.
pub(crate) type EngineHandler = Arc<dyn Fn(EngineMessage) -> Option<EngineMessage> + Send + Sync>;

/// Runs one Engine.IO session until it ends.
pub(crate) async fn run<T: Transport>(
    sid: Sid,
    transport: T,
    config: EngineConfig,
    handler: EngineHandler,
) {
    let mut session = Session::new(sid, transport, &config);
    if session.open(&config).await.is_err() {
        return;
    }
    let cause = loop {
        let message = match session.recv().await {
            Event::Text(text) => EngineMessage::Text(text),
            Event::Binary(data) => EngineMessage::Binary(data),
            Event::Closed(reason) => {
                tracing::debug!(%sid, %reason, "Engine.IO session closed");
                break CloseCause::PeerGone;
            }
        };
        let frame = match handler(message) {
            None => continue,
            Some(EngineMessage::Text(text)) => Frame::Text(format!("4{text}").into()),
            Some(EngineMessage::Binary(data)) => Frame::Binary(data),
        };
        if session.send([frame]).await.is_err() {
            break CloseCause::PeerGone;
        }
    };
    session.close(cause).await;
}
