//! A Socket.IO v5 client (feature `client`, on by default): the other half of the wire,
//! wire-compatible with Node's `socket.io` 4 server and wsx-sio's own, with the official
//! client's defaults (socket.io-client 4).
//!
//! ```no_run
//! use wsx_sio::client::{ClientOptions, io};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = io("http://127.0.0.1:3000", ClientOptions::default())?;
//! socket.on("chat", |_s, text: String| async move { println!("{text}") });
//! // Answers the server's `emitWithAck("question", ..)`.
//! socket.on_with_ack("question", |_s, q: String, ack| async move {
//!     let _ = ack.send(&format!("you asked {q}"));
//! });
//! socket.connect().await?;
//! socket.emit("chat", &"hello")?;
//! let n: u32 = socket.emit_with_ack_as("count", &()).await?;
//! println!("{n}");
//! socket.disconnect();
//! # Ok(())
//! # }
//! ```
//!
//! # Layers
//! Lowest first; each file imports only from those before it (no import circle:
//! `scripts/sio_layers.py --check`).
//! - `error.rs`, `options.rs`, `backoff.rs`, `reason.rs`: plain data and rules;
//! - `engine/`: Engine.IO v4 over HTTP long-polling (hyper's HTTP/1.1 client connection) or
//!   WebSocket (`wsx::Client`), the heartbeat and the upgrade; one task per connection
//!   (`wire.rs` is what its transports and its task pass each other);
//! - `socket_core.rs`: a socket's state, type-erased handlers and pending acks, shared by its
//!   handles and the manager's task; `shared.rs`: what a manager's handles and its task share,
//!   and the commands;
//! - `driver/`: the manager's task: Socket.IO packets on [`crate::packet`]'s codecs,
//!   namespaces multiplexed on one connection, handlers, acknowledgements, reconnection and
//!   connection state recovery;
//! - `ack.rs`, `socket.rs`, `manager.rs`: the handles the application holds ([`AckFuture`],
//!   [`AckSender`], [`Socket`], [`Manager`]).

mod ack;
mod backoff;
mod driver;
mod engine;
mod error;
mod manager;
mod options;
mod reason;
mod shared;
mod socket;
mod socket_core;

pub use crate::{Args, FromArgs};
pub use ack::{AckFuture, AckSender};
pub use error::{AckError, ClientError, ConnectError, EmitError};
pub use manager::{Manager, io};
pub use options::{ClientOptions, Parser, Transports};
pub use reason::DisconnectReason;
pub use socket::{Socket, Volatile};
