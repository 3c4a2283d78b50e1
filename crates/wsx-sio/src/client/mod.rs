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
//! - `engine/`: Engine.IO v4 over HTTP long-polling (hyper's HTTP/1.1 client connection) or
//!   WebSocket (`wsx::Client`), the heartbeat and the upgrade; one task per connection;
//! - the manager's task (`driver.rs`): Socket.IO packets on [`crate::packet`]'s codecs,
//!   namespaces multiplexed on one connection, handlers, acknowledgements, reconnection and
//!   connection state recovery;
//! - [`Manager`] and [`Socket`]: the handles the application holds.

mod ack;
mod backoff;
mod driver;
mod engine;
mod error;
mod manager;
mod options;
mod socket;

pub use crate::{Args, FromArgs};
pub use ack::{AckFuture, AckSender};
pub use error::{AckError, ClientError, ConnectError, EmitError};
pub use manager::{Manager, io};
pub use options::{ClientOptions, Transports};
pub use socket::{DisconnectReason, Socket, Volatile};
