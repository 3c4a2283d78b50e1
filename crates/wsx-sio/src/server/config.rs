//! Server settings.

use super::cors::Cors;
use crate::engine::EngineConfig;
use crate::packet::Parser;
use std::time::Duration;
use wsx::handshake::ServerOptions;
use wsx::{Limits, WebSocketConfig};

/// How a [`super::Server`] runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Engine.IO settings: `pingInterval`, `pingTimeout`, `maxPayload`.
    pub engine: EngineConfig,
    /// The endpoint path (default `/socket.io/`; a request may omit the trailing slash).
    pub path: String,
    /// How long a client may take to CONNECT to a namespace before the connection is closed
    /// (default 45 s, as the Node server's `connectTimeout`).
    pub connect_timeout: Duration,
    /// How long [`super::Socket::emit_with_ack`] waits (default 5 s). Node's `emitWithAck`
    /// without a timeout waits forever; `Duration::MAX` here does the same (a disconnect
    /// still ends the wait).
    pub ack_timeout: Duration,
    /// The most binary attachments one packet may announce (default 256); with the msgpack
    /// parser, the most binary values one packet may hold.
    pub max_attachments: usize,
    /// Bytes buffered per client inbound (default 16 MiB): the server stops reading from a
    /// client whose packets waiting for their handlers hold this much, and one packet's
    /// binary attachments may not exceed it in total. Outbound is [`Self::max_pending_bytes`].
    pub max_buffered: usize,
    /// Bytes sent to one client and not taken by it yet, past which it is a slow consumer
    /// (default 4 MiB): over WebSocket the bytes queued and being written, over long-polling
    /// also those waiting for the client's next `GET`. Past it a volatile packet is dropped
    /// for that client (as Node drops one when the transport is not writable) and any other
    /// packet closes the connection with [`crate::DisconnectReason::SlowConsumer`] (the emit
    /// fails with [`crate::EmitError::QueueFull`]; `wsx_sio_slow_consumers_total` counts it),
    /// so that a client that stops reading costs the server at most this and one packet,
    /// and a client that stays connected has missed nothing. Node has no such bound.
    pub max_pending_bytes: usize,
    /// Events of one client whose handlers have not ended (started and awaiting, or not
    /// started yet) before the server stops reading from that client (backpressure; default
    /// 1024).
    pub max_queued_events: usize,
    /// Whether a client's handlers run strictly one at a time (default `false`). By default
    /// they run as in Node: each handler is started in arrival order and runs until its
    /// first await, then the next one starts, and those awaiting are polled together on the
    /// connection's task; emits made before an await keep the order of the events, and a
    /// handler awaiting an acknowledgement from its own client does not hold the client's
    /// next events. With `true`, a handler starts only once the one before it ended: every
    /// emit keeps the order of the events, and a handler that awaits holds the client's next
    /// events (acknowledgements and heartbeats are still handled at once).
    pub sequential_handlers: bool,
    /// How long the HTTP upgrade request may take to arrive (default 10 s).
    pub handshake_timeout: Duration,
    /// The WebSocket handshake options (header limits, origin check). Without a
    /// `check_origin` of its own, a page's WebSocket is allowed from the origins that
    /// [`Self::cors`] allows, or from the server's own origin only without `cors`.
    pub ws_handshake: ServerOptions,
    /// permessage-deflate on the WebSocket transport (default `None`: off, as Node's
    /// `perMessageDeflate: false`). With [`super::DeflateOptions`] (threshold 1024 bytes by
    /// default, as Node's), a client's offer is accepted with `server_no_context_takeover`,
    /// and a broadcast is deflated once for all its receivers that compress; `compress(false)`
    /// on an emit or a broadcast sends it uncompressed. See the README's "Compression".
    pub per_message_deflate: Option<super::DeflateOptions>,
    /// Whether clients may use HTTP long-polling (default `true`). Without it a polling
    /// request is refused with "Transport unknown", as the Node server with
    /// `transports: ["websocket"]`.
    pub polling: bool,
    /// How long a WebSocket upgrading a polling session may take to send its probe and the
    /// upgrade packet (default 10 s, as the Node server's `upgradeTimeout`).
    pub upgrade_timeout: Duration,
    /// The most packets one long-polling answer holds (default 16): python-socketio's client
    /// (python-engineio) refuses a payload of more than 16 packets and drops the connection;
    /// the rest goes with the next `GET`.
    pub max_poll_packets: usize,
    /// How long a polling request's body may take to arrive (default 10 s).
    pub body_timeout: Duration,
    /// Connection state recovery (default off, as the Node server): a client that reconnects
    /// within the window gets its socket id, rooms and missed packets back. With it on, every
    /// event sent without an acknowledgement carries an offset as its last argument, which
    /// client handlers see (as with the Node server).
    pub recovery: Option<crate::recovery::Recovery>,
    /// Cross-origin rules for the polling requests (default none: no CORS headers, as the
    /// Node server without its `cors` option), and the origins whose pages may open a
    /// WebSocket (unless [`Self::ws_handshake`] has its own check): with none, a page of
    /// another origin is refused with 403, where Node's server lets it open the WebSocket.
    pub cors: Option<Cors>,
    /// Bytes of encoded frames buffered before a write waits for the socket (default
    /// 64 KiB).
    pub write_buffer_size: usize,
    /// The read buffer's starting size (default 256 bytes). wsx doubles it while reads fill it
    /// and makes room for large frames, and lets a grown buffer go once traffic is small
    /// again; an idle Socket.IO client (a 7-byte pong frame per heartbeat) keeps just this
    /// much. (1 KiB before: 0.75 KiB more per idle client.)
    pub read_buffer_size: usize,
    /// How Socket.IO packets are written and read (default [`Parser::Json`]; Node's `parser`
    /// option). Clients must use the same one: with [`Parser::MsgPack`], the JS client's
    /// `parser: require("socket.io-msgpack-parser")`.
    pub parser: Parser,
    /// Forwarding to the node that owns a session, for clusters behind a balancer without
    /// sticky sessions (default none: one node, or sticky sessions; see
    /// [`super::forward`]). With it, session ids start with this node's tag, and a request
    /// for a session of another node is forwarded there instead of refused.
    pub forwarding: Option<super::forward::Forwarding>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            path: "/socket.io/".into(),
            connect_timeout: Duration::from_secs(45),
            ack_timeout: Duration::from_secs(5),
            max_attachments: crate::packet::socket::DEFAULT_MAX_ATTACHMENTS,
            max_buffered: 16 << 20,
            max_pending_bytes: 4 << 20,
            max_queued_events: 1024,
            sequential_handlers: false,
            handshake_timeout: Duration::from_secs(10),
            ws_handshake: ServerOptions::default(),
            per_message_deflate: None,
            polling: true,
            upgrade_timeout: Duration::from_secs(10),
            max_poll_packets: 16,
            body_timeout: Duration::from_secs(10),
            cors: None,
            recovery: None,
            write_buffer_size: 64 * 1024,
            read_buffer_size: 256,
            parser: Parser::Json,
            forwarding: None,
        }
    }
}

impl Config {
    /// Sets [`Self::parser`]: `Config::default().parser(Parser::MsgPack)`.
    #[must_use]
    pub fn parser(mut self, parser: Parser) -> Self {
        self.parser = parser;
        self
    }

    /// Sets [`Self::per_message_deflate`]:
    /// `Config::default().per_message_deflate(DeflateOptions::default())`.
    #[must_use]
    pub fn per_message_deflate(mut self, options: super::DeflateOptions) -> Self {
        self.per_message_deflate = Some(options);
        self
    }

    /// Sets [`Self::sequential_handlers`].
    #[must_use]
    pub fn sequential_handlers(mut self, sequential: bool) -> Self {
        self.sequential_handlers = sequential;
        self
    }

    /// The WebSocket driver settings: messages and frames are limited to `maxPayload`, so a
    /// larger message fails the connection (close code 1009) before it is buffered; a client
    /// that takes no byte for `pingInterval + pingTimeout` is dropped (the heartbeat cannot
    /// notice it while the connection waits to write).
    #[must_use]
    pub fn websocket(&self) -> WebSocketConfig {
        let max = self.engine.max_payload;
        WebSocketConfig {
            limits: Limits {
                max_frame_size: max,
                max_message_size: max,
            },
            write_buffer_size: self.write_buffer_size,
            read_buffer_size: self.read_buffer_size,
            write_timeout: Some(self.engine.ping_interval + self.engine.ping_timeout),
            ..WebSocketConfig::default()
        }
    }
}
