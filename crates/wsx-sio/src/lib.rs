//! wsx-sio: a Socket.IO v5 server (Engine.IO v4: HTTP long-polling, WebSocket, and the upgrade
//! between them) on wsx, wire-compatible with the official clients (npm `socket.io-client`,
//! `python-socketio`) with their default options; connection state recovery as Node's.
//!
//! # Example: a chat with rooms and acknowledgements
//!
//! ```no_run
//! use wsx_sio::{Args, Config, Server, Socket};
//!
//! #[derive(serde::Deserialize, serde::Serialize)]
//! struct Chat { room: String, text: String }
//!
//! # async fn run() -> std::io::Result<()> {
//! let io = Server::new(Config::default());
//! io.on_connection(|socket: Socket| async move {
//!     socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
//!         s.join(room);
//!         let _ = ack.send(&true);
//!     });
//!     socket.on("chat", |s: Socket, msg: Chat| async move {
//!         let _ = s.to(msg.room.clone()).emit("chat", &msg);
//!     });
//!     socket.on("echo", |s: Socket, args: Args| async move {
//!         let _ = s.emit_args("echo", args); // binary included
//!     });
//! });
//! io.listen("127.0.0.1:3000").await
//! # }
//! ```
//!
//! # Layers
//!
//! - [`packet`]: the pure codecs (Engine.IO packets and payloads, Socket.IO packets, binary
//!   placeholders); no I/O, fuzzed.
//! - [`engine`]: Engine.IO sessions (open packet, heartbeat, `maxPayload`) over a
//!   [`engine::transport::Transport`] (WebSocket on wsx's driver, or HTTP long-polling that
//!   upgrades to WebSocket in place); the HTTP side runs on hyper 1.
//! - [`Server`], [`Namespace`], [`Socket`]: Socket.IO (namespaces, handlers in arrival order,
//!   acknowledgements, middlewares) — one task per connection.
//! - [`Hub`] over an [`adapter::Adapter`]: rooms and broadcasts, encoded once; in memory, or
//!   across servers through Redis (feature `redis`, wire-compatible with Node's
//!   `@socket.io/redis-adapter`).
//! - [`recovery`]: connection state recovery behind a [`RecoveryStore`].
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod adapter;
#[cfg(feature = "client")]
pub mod client;
pub mod engine;
mod error;
pub mod hub;
pub mod metrics;
pub mod packet;
pub mod recovery;
pub mod server;
mod sid;

pub use adapter::{
    Adapter, AdapterError, BroadcastOptions, MemoryAdapter, RemoteSocket, Room, SocketInfo,
};
pub use engine::EngineConfig;
pub use error::{AckError, EmitError};
pub use hub::{BroadcastOperator, Hub};
pub use recovery::{MemoryStore, Recovery, RecoveryStore};
pub use server::{
    AckFuture, AckSender, AllowOrigin, Args, Config, ConnectError, Cors, DisconnectReason,
    EngineMessage, FromArgs, Handshake, Namespace, Server, ServerAck, Socket,
};
pub use sid::Sid;

/// The README's example, compiled as a doc test so that it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
