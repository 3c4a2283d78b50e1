//! The event API, the top layer of the crate: [`Server`] (its accept loop, `listener.rs`, and
//! its hyper side, `hyper.rs`), [`Client`] (and its HTTP/2 path, `client/h2.rs`), [`Conn`] (the
//! handle, handlers, the outbound queue and each connection's task, `conn/`), [`Config`],
//! custom [`events`], rate [`limit`]s and [`metrics`]. It drives connections of the async driver
//! below it ([`crate::WebSocket`], `stream/`), which drives the sans-I/O core (`proto/`,
//! `handshake/`); nothing below imports from here.
//!
//! The folders follow the README's architecture diagram: `event/` (this layer), `stream/` and
//! `handshake_io/` (the async driver), `proto/` and `handshake/` (the protocol core).
// Not `forbid`: `conn/window.rs` holds one `unsafe` block under a scoped `allow`.
#![deny(unsafe_code)]

mod client;
mod config;
pub(crate) mod conn;
pub mod events;
pub mod limit;
pub mod metrics;
mod server;

pub use client::Client;
pub use config::Config;
pub use conn::{Conn, IntoPayload, MessageType, Messages, PreparedMessage};
pub use limit::{OnRateExceeded, Rate, RateLimits};
pub use server::Server;
