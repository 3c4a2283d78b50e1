//! wsx: a WebSocket library written from RFC 6455.
//!
//! Layers, bottom up (arrows point down only):
//! - [`proto`]: the sans-I/O protocol core — frames, masking, UTF-8, close handshake, limits,
//!   the extension hook. No sockets, no clock.
//! - [`handshake`]: the opening handshakes, sans-I/O.
//! - [`WebSocket`]: the async driver over any tokio `AsyncRead + AsyncWrite`, with [`accept`]
//!   and [`connect`] to get one.
//!
//! # Example: an echo server and a client
//!
//! ```no_run
//! use wsx::{Message, accept, connect};
//! use tokio::net::TcpListener;
//!
//! # async fn run() -> Result<(), wsx::Error> {
//! let listener = TcpListener::bind("127.0.0.1:9001").await?;
//! tokio::spawn(async move {
//!     while let Ok((tcp, _)) = listener.accept().await {
//!         tokio::spawn(async move {
//!             let Ok(mut ws) = accept(tcp).await else { return };
//!             while let Some(Ok(msg)) = ws.next().await {
//!                 if msg.is_data() && ws.send(msg).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//! });
//!
//! let (mut ws, _response) = connect("ws://127.0.0.1:9001/").await?;
//! ws.send(Message::text("hello")).await?;
//! if let Some(Ok(Message::Text(reply))) = ws.next().await {
//!     assert_eq!(reply.as_str(), "hello");
//! }
//! ws.close(None).await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod accept;
mod client;
mod config;
mod conn;
mod connect;
pub mod error;
pub mod events;
pub mod handshake;
pub mod proto;
mod server;
mod stream;
pub mod tls;

pub use accept::{accept, accept_with};
pub use client::Client;
pub use config::Config;
pub use conn::{Conn, IntoPayload, MessageType, Messages, PreparedMessage};
pub use connect::{client_handshake, connect, connect_with};
pub use error::{Error, HandshakeError, ProtocolError, Result, TlsError};
/// The `http` crate wsx's handshake types come from (`HeaderMap`, `Request`, `Uri`...), so an
/// application needs no separate dependency on a matching version.
pub use http;
pub use proto::{CloseCode, CloseFrame, Limits, Message, Role, Utf8Bytes};
pub use server::Server;
pub use stream::{WebSocket, WebSocketConfig, WsReader, WsWriter};

/// The README's examples, compiled as doc tests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
