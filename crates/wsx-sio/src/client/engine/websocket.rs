//! The WebSocket transport on wsx's event-API client: every frame is one Engine.IO packet
//! (engine.io-protocol v4, "WebSocket"); what arrives is decoded on the connection's task and
//! handed to the engine task through its channel, or, on a connection that is WebSocket from
//! its start, the messages straight to the manager (see [`WebSocket::open`]).

use super::wire::{EngineEvent, Event, Inbound, Outbound, Packet, Tag};
use crate::client::error::ClientError;
use crate::client::options::ClientOptions;
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use wsx::MessageType;

/// The wsx client a manager opens its WebSockets with: the application's, or one made for
/// Engine.IO (no WebSocket pings: Engine.IO has its own heartbeat; large messages; the `tls`
/// option's configuration).
pub(crate) fn ws_client(options: &ClientOptions) -> wsx::Client {
    if let Some(client) = &options.websocket {
        return client.clone();
    }
    let config = wsx::Config {
        max_message_size: options.max_message_size,
        max_frame_size: options.max_message_size,
        // Bursts of emits queue here; the bound is the engine's, not a policy of ours.
        max_pending_bytes: 256 << 20,
        handshake_timeout: if options.timeout.is_zero() {
            Duration::from_secs(20)
        } else {
            options.timeout
        },
        ping_interval: Duration::ZERO,
        write_timeout: Duration::from_secs(30),
        ..wsx::Config::default()
    };
    let client = wsx::Client::new(config);
    // `wss://` trusts what `https://` polling trusts.
    match &options.tls {
        Some(tls) => client.with_tls_config(tls.clone()),
        None => client,
    }
}

/// An open WebSocket transport. Dropping it closes the connection (1000).
pub(crate) struct WebSocket {
    conn: wsx::Conn,
}

impl WebSocket {
    /// Opens `url` with `options.extra_headers`; frames go to `events` tagged `tag`, then
    /// [`Event::Closed`] when the connection ends.
    ///
    /// With `direct`, the Engine.IO messages (Socket.IO packets and attachments) go there
    /// instead, straight to the manager's task: one task and one channel fewer per packet,
    /// a third of the client's cost per delivery under a fan-out to thousands of clients
    /// (`sio_load fanout`). Only for a transport that is the connection's one from its open
    /// packet to its end (WebSocket only: no probe whose messages would have to wait for
    /// the upgrade); the order is kept: a message is sent from the connection's task before
    /// the `Closed` the engine task forwards after it.
    pub async fn open(
        client: &wsx::Client,
        url: &str,
        options: &ClientOptions,
        tag: Tag,
        events: UnboundedSender<(Tag, Event)>,
        direct: Option<UnboundedSender<EngineEvent>>,
    ) -> Result<Self, ClientError> {
        let conn = client
            .connect(url, options.extra_headers.clone())
            .await
            .map_err(|err| ClientError::Transport(format!("WebSocket {url}: {err}")))?;
        let closed = events.clone();
        conn.on_message(move |_conn, kind, data: Bytes| {
            let event = match kind {
                // Decoded from the frame in place: the packet's one copy is its own.
                MessageType::Text => match std::str::from_utf8(&data) {
                    Ok(text) => match Packet::decode(text) {
                        Ok(packet) => Event::Packet(packet),
                        Err(err) => Event::Error(ClientError::Protocol(err)),
                    },
                    Err(_) => Event::Error(ClientError::Protocol("text frame not UTF-8".into())),
                },
                MessageType::Binary => Event::Packet(Packet::Message(Inbound::Binary(data))),
                _ => return,
            };
            match (event, &direct) {
                (Event::Packet(Packet::Message(message)), Some(direct)) => {
                    let _ = direct.send(EngineEvent::Message(message));
                }
                (event, _) => {
                    let _ = events.send((tag, event));
                }
            }
        });
        conn.on_close(move |_conn, _code, _reason| {
            let _ = closed.send((tag, Event::Closed));
        });
        Ok(Self { conn })
    }

    /// Sends packets, waiting for room in the connection's queue.
    pub async fn send(&self, packets: Vec<Outbound>) -> Result<(), ClientError> {
        for packet in packets {
            let sent = match packet {
                Outbound::Text(text) => self.conn.send(MessageType::Text, text).await,
                Outbound::Binary(data) => self.conn.send(MessageType::Binary, data).await,
            };
            sent.map_err(|err| ClientError::Transport(format!("WebSocket write: {err}")))?;
        }
        Ok(())
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        let _ = self.conn.close(1000, "");
    }
}
