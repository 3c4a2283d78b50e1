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
//! Lowest first; each imports only from those before it (`scripts/sio_layers.py --check`
//! holds the crate to it):
//!
//! - [`packet`]: the pure codecs (Engine.IO packets and payloads, Socket.IO packets, binary
//!   placeholders); no I/O, fuzzed.
//! - [`engine`]: Engine.IO sessions (open packet, heartbeat, `maxPayload`) over a
//!   [`engine::transport::Transport`] (WebSocket on wsx's driver, or HTTP long-polling that
//!   upgrades to WebSocket in place); the HTTP side runs on hyper 1.
//! - plain data: [`Room`] and [`BroadcastOptions`], [`Args`], the frame encoders, the
//!   [`recovery`] store (connection state recovery behind a [`RecoveryStore`]), the errors.
//! - [`adapter`]: rooms and broadcasts behind the [`Adapter`] trait, encoded once; in memory,
//!   or across servers through Redis (feature `redis`, wire-compatible with Node's
//!   `@socket.io/redis-adapter`). An adapter reaches the namespace's sockets through the small
//!   [`adapter::Host`] trait only.
//! - the namespace: [`Namespace`], [`Hub`] (rooms and broadcasts), [`Socket`] (handlers in
//!   arrival order, acknowledgements, middlewares).
//! - [`server`]: [`Server`], the accept path, one task per connection, hyper mounting,
//!   [`Config`].
//! - [`admin`] (feature `admin`, on by default): the admin UI's protocol (npm
//!   `@socket.io/admin-ui`) on top of a [`Server`], through hooks of the namespace layer.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod adapter;
#[cfg(feature = "admin")]
pub mod admin;
mod args;
#[cfg(feature = "client")]
pub mod client;
pub mod engine;
mod error;
mod frames;
pub mod metrics;
mod namespace;
pub mod packet;
pub mod recovery;
mod rooms;
pub mod server;
mod sid;

pub use adapter::{Adapter, MemoryAdapter, ServerAck, SocketInfo};
pub use args::{Args, FromArgs};
pub use engine::EngineConfig;
pub use error::{AckError, AdapterError, ConnectError, EmitError};
/// `Hub`, `BroadcastOperator`, `WeakHub`, `LocalSockets`: a namespace's rooms and broadcasts.
pub use namespace::hub;
pub use namespace::{
    AckFuture, AckSender, BroadcastAcks, BroadcastOperator, DisconnectReason, EmitFlags, Handshake,
    Hub, ListenerId, Namespace, RemoteSocket, Socket, SocketEmitter,
};
pub use packet::Parser;
pub use recovery::{MemoryStore, Recovery, RecoveryStore};
/// The pattern type of [`Server::of_matching`] (the `regex` crate's), re-exported so that an
/// application needs no dependency of its own to make one.
pub use regex::Regex;
pub use rooms::{BroadcastOptions, Room};
pub use server::{AllowOrigin, Config, Cors, DeflateOptions, EngineMessage, Server};
pub use sid::Sid;

/// The README's example, compiled as a doc test so that it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
