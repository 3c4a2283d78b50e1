//! wsx: a WebSocket library written from RFC 6455, from raw frames up to an event API.
//!
//! Add `wsx` and `tokio` (features `rt-multi-thread`, `macros`) to `Cargo.toml`; `wsx`
//! re-exports the [`http`] crate its handshake types come from.
//!
//! # The event API: [`Server`], [`Client`], [`Conn`], [`Config`]
//!
//! A chat server: every message goes to everyone else, under the nickname the connection set
//! with `/nick` (kept on the connection itself, see [`Conn::set_state`]).
//!
//! ```no_run
//! use wsx::{Config, Conn, MessageType, Server};
//!
//! #[derive(Clone)]
//! struct Nick(String);
//!
//! # async fn run() -> Result<(), wsx::Error> {
//! let server = Server::new(Config::default());
//! let hub = server.clone();
//! server.on_connection(move |conn: Conn| {
//!     let hub = hub.clone();
//!     conn.on_message(move |c: &Conn, kind, data| {
//!         let text = String::from_utf8_lossy(&data);
//!         if let Some(nick) = text.strip_prefix("/nick ") {
//!             c.set_state(Nick(nick.to_owned()));
//!         } else if kind == MessageType::Text {
//!             let from = c.state::<Nick>().map_or("anon".to_owned(), |n| n.0);
//!             // Queued for everyone else but those whose queue is full (they stopped
//!             // reading: skipped, not waited for); the count says how many it reached.
//!             let reached = hub.broadcast_except(MessageType::Text, format!("{from}: {text}"), c);
//!             println!("{from} reached {}", reached.unwrap_or(0));
//!         }
//!     });
//!     conn.on_close(|c, code, reason| println!("{} left: {code} {reason}", c.id()));
//! });
//! server.listen("127.0.0.1:8080").await?;
//! # Ok(())
//! # }
//! ```
//!
//! And a client that prefers a loop to callbacks ([`Conn::messages`]):
//!
//! ```no_run
//! # async fn run() -> Result<(), wsx::Error> {
//! let conn = wsx::Client::default().connect_url("ws://127.0.0.1:8080/").await?;
//! let mut messages = conn.messages();
//! conn.write_text("/nick ana")?;
//! conn.write_text("hello")?;
//! while let Some((_kind, data)) = messages.recv().await {
//!     println!("{}", String::from_utf8_lossy(&data));
//! }
//! let (code, reason) = conn.closed().await;
//! # Ok(())
//! # }
//! ```
//!
//! Handlers run on the connection's task, in arrival order; [`Conn::on_message_async`]
//! takes an async closure for work that awaits, still one message at a time. A handler that
//! panics fails its connection with 1011 and nothing else. Writes never block: they go onto a
//! bounded outbound queue ([`Config::max_pending_bytes`]), and a write to a full one fails with
//! [`Error::QueueFull`], the message not sent. Handle it: wait for room with [`Conn::send`]
//! (from an async handler or a task), drop the message on purpose, or close the client that
//! does not keep up:
//!
//! ```no_run
//! # use wsx::{CloseCode, Conn, Error, MessageType};
//! # fn reply(c: &Conn) {
//! if let Err(Error::QueueFull { queued, limit }) = c.write_text("reply") {
//!     let _ = c.close(CloseCode::TRY_AGAIN_LATER, &format!("{queued} of {limit} bytes queued"));
//! }
//! # }
//! # async fn wait(c: &Conn) -> Result<(), Error> {
//! c.send(MessageType::Text, "reply").await?; // waits while the queue is full
//! # Ok(())
//! # }
//! ```
//!
//! # The layers below
//!
//! Bottom up (arrows point down only: each layer uses the ones below it, never above):
//! - [`proto`]: the sans-I/O protocol core — frames, masking, UTF-8, close handshake, limits,
//!   the extension hook and permessage-deflate, and the core's errors ([`ProtocolError`],
//!   [`HandshakeError`]), and the keep-alive timers as a state machine that takes the time as
//!   an argument ([`proto::KeepAlive`]). No sockets, no clock; it imports nothing from the
//!   layers above.
//! - [`handshake`]: the opening handshakes, sans-I/O (request and response parsing and
//!   building, the URL [`handshake::Target`]).
//! - The async driver: [`WebSocket`] over any tokio `AsyncRead + AsyncWrite`, its halves
//!   [`WsReader`] and [`WsWriter`], [`accept`] and [`connect`] to get one, and [`tls`] for
//!   `wss://`. It reports the crate's one error type, [`Error`].
//! - The event API: [`Server`], [`Client`], [`Conn`] (handlers, the bounded outbound queue,
//!   keep-alive and idle timers driven from tokio's clock on each connection's task),
//!   [`Config`], custom [`events`]. It runs over TCP and TLS, hyper upgrades, or any
//!   transport the application hands it ([`Server::serve_connection`],
//!   [`Client::connect_io`]): on an in-memory pipe with tokio's clock paused, a timing test
//!   is exact and takes microseconds.
//!
//! ## Example: the driver alone, an echo server and a client
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
#![deny(missing_docs)]
// `unsafe` is denied in the whole crate and forbidden in every module file except seven, whose
// `unsafe` blocks each have a SAFETY comment and a measured reason under a scoped `allow`:
// `proto/message.rs` (`Utf8Bytes::as_str`, and `Utf8Bytes::from_validated`, the `unsafe fn`
// whose callers promise the UTF-8 that `as_str` relies on), `proto/decoder.rs` (its three calls
// of `from_validated`, each after the decoder's own validation), `proto/mask.rs` (the AVX2 copy
// of the masking loop), `event/conn/window.rs` (a handler's replies encoded into its
// connection's write buffer), `stream/raw_socket.rs` (`send`, the `unsafe fn` around
// `send(2)` whose callers promise an open descriptor), `event/conn/wire.rs` (its call for a
// broadcast to an idle connection's socket) and `stream/direct.rs` (its call for a
// `WebSocket`'s `DirectWriter`); and their ancestors (`proto/mod.rs`, `event/mod.rs`, `event/conn/mod.rs`,
// `stream/mod.rs`, this file): a `forbid` there would make those `allow`s impossible.
#![deny(unsafe_code)]
// clippy::pedantic, with these exceptions (and a few single-site `allow`s, each with its
// reason where it is):
#![warn(clippy::pedantic)]
// The wire format narrows lengths and bytes it has just checked; `try_from` adds a branch.
#![allow(clippy::cast_possible_truncation)]
// The event read loop's turn is one long poll function, tests are long tables: files stay short.
#![allow(clippy::too_many_lines)]
// permessage-deflate's parameters (RFC 7692 §7.1) are independent flags, so are its settings.
#![allow(clippy::struct_excessive_bools)]
// Unit tests build frames by hand from small known values, with RFC-style names and literals.
#![cfg_attr(
    test,
    allow(
        clippy::cast_sign_loss,
        clippy::similar_names,
        clippy::range_plus_one,
        clippy::decimal_bitwise_operands,
        clippy::doc_markdown,
        clippy::large_stack_arrays
    )
)]

pub mod error;
mod event;
pub mod handshake;
mod handshake_io;
mod id;
pub mod proto;
pub mod proxy;
mod stream;
mod sync;
pub mod tls;
#[cfg(feature = "hyper")]
pub mod upgrade;

pub use error::{ConfigError, Error, HandshakeError, ProtocolError, Result, TlsError};
pub use event::{Client, Config, Server};
pub use event::{Conn, IntoPayload, MessageType, Messages, PreparedMessage};
pub use event::{OnRateExceeded, Rate, RateLimits};
pub use event::{events, limit, metrics};
pub use handshake::origin;
pub use handshake_io::client::{client_handshake, connect, connect_with};
pub use handshake_io::server::{accept, accept_with};
/// The `http` crate wsx's handshake types come from (`HeaderMap`, `Request`, `Uri`...), so an
/// application needs no separate dependency on a matching version.
pub use http;
pub use proto::{CloseCode, CloseFrame, Limits, Message, Role, Utf8Bytes};
pub use stream::{
    DirectWrite, DirectWriter, ReuniteError, WebSocket, WebSocketConfig, WsReader, WsWriter,
};

/// The README's examples, compiled as doc tests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
