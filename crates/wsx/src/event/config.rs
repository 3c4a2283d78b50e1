//! [`Config`]: every setting of the event API, with defaults for a server on the public
//! internet.
#![forbid(unsafe_code)]

use crate::error::{ConfigError, Error};
use crate::event::limit::RateLimits;
use crate::handshake::OriginCheck;
use crate::proto::Limits;
use crate::proto::deflate::{DeflateConfig, PerMessageDeflate};
use crate::stream::WebSocketConfig;
use std::sync::Arc;
use std::time::Duration;

/// Settings for a [`crate::Server`] or a [`crate::Client`].
///
/// Every field is public; start from [`Config::default`] and change what you need. A
/// [`Duration::ZERO`] turns a timer off. Values are checked by [`Config::validate`] when the
/// server starts listening or the client connects.
///
/// `Config` holds the driver's settings too: [`Config::websocket_config`] is the one place
/// that turns it into the [`WebSocketConfig`] each connection runs with. Their defaults differ
/// on purpose where the two serve different users, and are the same value from one source
/// where they do not (`close_timeout`):
///
/// | setting | `Config` (a server on the public internet) | `WebSocketConfig` (the driver alone) |
/// |---|---|---|
/// | frame / message limit | 1 MiB / 1 MiB: a hostile peer cannot make us buffer much | 16 MiB / 64 MiB: tools and test suites (Autobahn) |
/// | read buffer, first | 4 KiB: memory per idle connection | 8 KiB |
/// | write batch | 64 KiB | 128 KiB: one connection, throughput first |
/// | write timeout | 10 s: a peer that stops reading is dropped | none: the caller decides |
#[derive(Clone)]
pub struct Config {
    /// Largest incoming message, in bytes; a larger one closes the connection with 1009.
    /// Default 1 MiB: large enough for chat, JSON APIs and small files, small enough that a
    /// hostile client cannot make the server buffer much.
    pub max_message_size: usize,
    /// Largest incoming frame, in bytes (1009 past it). Default 1 MiB.
    pub max_frame_size: usize,
    /// Room made in a connection's read buffer before each read, at first. Default 4 KiB; the
    /// room doubles while reads fill it (up to 128 KiB: many pipelined frames per system
    /// call) and steps back down when they come small, a large frame reserves room for its
    /// rest (at most 64 KiB ahead of its bytes), and a grown buffer is let go once drained.
    /// An idle connection holds no read buffer at all.
    pub read_buffer_size: usize,
    /// Encoded bytes gathered before a write system call (the batch for coalesced writes).
    /// Default 64 KiB.
    pub write_buffer_size: usize,
    /// Bound of a connection's outbound queue, in payload bytes: writes past it fail with
    /// [`Error::QueueFull`] instead of buffering without bound. Default 1 MiB.
    pub max_pending_bytes: usize,
    /// Time allowed for the opening handshake (TCP accept to 101, including TLS). Default 10 s:
    /// a client that sends its request a byte at a time is cut off.
    pub handshake_timeout: Duration,
    /// A ping is sent this often. Default 30 s, below the idle timeouts of common proxies and
    /// load balancers (60 s). Zero: no pings.
    pub ping_interval: Duration,
    /// After a ping, the peer must send something (a pong or any frame) within this time or
    /// it is considered dead: the connection is dropped and `on_close` reports 1006.
    /// Default 20 s.
    pub pong_timeout: Duration,
    /// A connection on which no data message arrives for this long is closed with 1001.
    /// Default zero (off): keep-alive already finds dead peers, and many applications keep
    /// quiet connections on purpose.
    pub idle_timeout: Duration,
    /// When the socket takes no byte of what is queued for this long, the peer stopped
    /// reading: the connection is dropped (1006). A slow reader that keeps taking bytes is
    /// not cut. Default 10 s.
    pub write_timeout: Duration,
    /// Time allowed for the close handshake once a close frame is sent. Default 5 s.
    pub close_timeout: Duration,
    /// Decides whether a request's `Origin` is accepted (server only); a refused request gets
    /// `403 Forbidden`, counted in `wsx_handshakes_total{result="failed",status="403"}`.
    /// `None`, the default, is [`crate::origin::same_origin`] (as gorilla/websocket's nil
    /// `CheckOrigin`): a browser page of another host or port is refused (it would otherwise
    /// talk to the server with its user's cookies: cross-site WebSocket hijacking), clients
    /// that send no `Origin` (not browsers) pass. `Some(`[`crate::origin::allow`]`([..]))`
    /// accepts a list of origins besides, `Some(`[`crate::origin::any`]`())` every origin, or
    /// any `Fn(&http::Request<()>) -> bool` of yours decides.
    pub check_origin: Option<OriginCheck>,
    /// Subprotocols: on a server, those it supports in order of preference; on a client, those
    /// it offers.
    pub subprotocols: Vec<String>,
    /// Largest HTTP request or response head accepted in the handshake (431 past it).
    /// Default 16 KiB.
    pub max_handshake_size: usize,
    /// permessage-deflate (RFC 7692): `Some` makes a server accept it and a client offer it,
    /// with these parameters (threshold, window bits, context takeover, level). Default `None`
    /// (off): compression cuts the bandwidth of chatty JSON several times over, but with
    /// context takeover it costs about 56 KB of memory per connection once it has compressed
    /// and inflated (the inflater and the last 8 KiB sent; the compressor is shared by a
    /// thread's connections by default, 428 KB each when dedicated; see
    /// [`crate::proto::deflate`]) against about 3 KiB for an idle connection without it.
    /// Turn it on where bandwidth matters more than memory.
    pub compression: Option<DeflateConfig>,
    /// Server, with `compression` on: compress a broadcast once for all its compressed
    /// recipients instead of once per recipient. The server then answers permessage-deflate
    /// with `server_no_context_takeover` (which RFC 7692 §7.1.1.1 lets a server always do):
    /// every message it sends is compressed from an empty window, so a broadcast's compressed
    /// frame is the same for every connection with the same window and is shared like a plain
    /// one ([`crate::PreparedMessage`]). Costs: a worse ratio (on the `deflate` bench's JSON
    /// corpus 0.86 of the plain size instead of 0.29 with takeover) on everything the server
    /// sends, for a broadcast at about the cost of an uncompressed one; and no history kept
    /// per connection. The README's broadcast table gives the numbers. Default false.
    pub deflate_shared_broadcasts: bool,
    /// Rate limits and connection caps (server): per-connection message and byte rates,
    /// a global connection cap, per-IP connection and handshake limits. Default: none. See
    /// [`crate::limit`].
    pub rate_limits: RateLimits,
    /// Client: open WebSockets as HTTP/2 extended CONNECT streams (RFC 8441; feature
    /// `hyper`), several to one origin sharing one HTTP/2 connection. `ws://` uses HTTP/2
    /// with prior knowledge; `wss://` offers `h2` by ALPN and falls back to an HTTP/1.1
    /// upgrade when the server picks `http/1.1`. Default false.
    pub http2: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_buffer_size: 4 * 1024,
            write_buffer_size: 64 * 1024,
            max_pending_bytes: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(20),
            idle_timeout: Duration::ZERO,
            write_timeout: Duration::from_secs(10),
            close_timeout: WebSocketConfig::default().close_timeout,
            check_origin: None,
            subprotocols: Vec::new(),
            max_handshake_size: 16 * 1024,
            compression: None,
            deflate_shared_broadcasts: false,
            rate_limits: RateLimits::default(),
            http2: false,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("max_message_size", &self.max_message_size)
            .field("max_frame_size", &self.max_frame_size)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("max_pending_bytes", &self.max_pending_bytes)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("check_origin", &self.check_origin.is_some())
            .field("subprotocols", &self.subprotocols)
            .field("max_handshake_size", &self.max_handshake_size)
            .field("compression", &self.compression)
            .field("deflate_shared_broadcasts", &self.deflate_shared_broadcasts)
            .field("rate_limits", &self.rate_limits)
            .field("http2", &self.http2)
            .finish()
    }
}

impl Config {
    /// Checks that the values make sense together.
    ///
    /// # Errors
    /// [`Error::Config`] with the [`ConfigError`] of the first bad field.
    pub fn validate(&self) -> Result<(), Error> {
        self.check().map_err(Error::Config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let positive = |field: &'static str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::NotPositive { field })
            }
        };
        let at_least = |field: &'static str, value: usize, min: usize| {
            if value >= min {
                Ok(())
            } else {
                Err(ConfigError::TooSmall { field, min })
            }
        };
        positive("max_message_size", self.max_message_size > 0)?;
        positive("max_frame_size", self.max_frame_size > 0)?;
        at_least("read_buffer_size", self.read_buffer_size, 64)?;
        positive("write_buffer_size", self.write_buffer_size > 0)?;
        positive("max_pending_bytes", self.max_pending_bytes > 0)?;
        positive("handshake_timeout", !self.handshake_timeout.is_zero())?;
        if !self.ping_interval.is_zero() && self.pong_timeout.is_zero() {
            return Err(ConfigError::PongTimeoutWithPings);
        }
        positive("write_timeout", !self.write_timeout.is_zero())?;
        positive("close_timeout", !self.close_timeout.is_zero())?;
        at_least("max_handshake_size", self.max_handshake_size, 256)?;
        if let Some(deflate) = &self.compression {
            for (field, bits) in [
                (
                    "compression.server_max_window_bits",
                    deflate.server_max_window_bits,
                ),
                (
                    "compression.client_max_window_bits",
                    deflate.client_max_window_bits,
                ),
            ] {
                if !(8..=15).contains(&bits) {
                    return Err(ConfigError::WindowBits { field, bits });
                }
            }
        }
        if let Some(p) = self
            .subprotocols
            .iter()
            .find(|p| !crate::handshake::is_token(p))
        {
            return Err(ConfigError::SubprotocolNotToken(p.clone()));
        }
        Ok(())
    }

    /// The extension factories this configuration asks for.
    pub(crate) fn extensions(&self) -> Vec<Arc<dyn crate::proto::ExtensionFactory>> {
        self.compression
            .iter()
            .map(|c| {
                Arc::new(PerMessageDeflate::new(c.clone()))
                    as Arc<dyn crate::proto::ExtensionFactory>
            })
            .collect()
    }

    /// The extensions a server negotiates: [`Self::extensions`], compressing without context
    /// takeover when broadcasts are compressed once ([`Self::deflate_shared_broadcasts`]).
    pub(crate) fn server_extensions(&self) -> Vec<Arc<dyn crate::proto::ExtensionFactory>> {
        self.compression
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.server_no_context_takeover |= self.deflate_shared_broadcasts;
                Arc::new(PerMessageDeflate::new(c)) as Arc<dyn crate::proto::ExtensionFactory>
            })
            .collect()
    }

    /// The driver settings for one connection: the one place a `Config` becomes a
    /// [`WebSocketConfig`] (use it to run [`crate::accept_with`] or [`crate::client_handshake`]
    /// with the event API's settings).
    #[must_use]
    pub fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig {
            limits: Limits {
                max_frame_size: self.max_frame_size,
                max_message_size: self.max_message_size,
            },
            read_buffer_size: self.read_buffer_size,
            write_buffer_size: self.write_buffer_size,
            close_timeout: self.close_timeout,
            write_timeout: Some(self.write_timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn bad_values_are_rejected() {
        type Change = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(&str, Change)> = vec![
            ("max_message_size", Box::new(|c| c.max_message_size = 0)),
            ("max_frame_size", Box::new(|c| c.max_frame_size = 0)),
            ("read_buffer_size", Box::new(|c| c.read_buffer_size = 1)),
            ("max_pending_bytes", Box::new(|c| c.max_pending_bytes = 0)),
            (
                "handshake_timeout",
                Box::new(|c| c.handshake_timeout = Duration::ZERO),
            ),
            (
                "pong_timeout",
                Box::new(|c| c.pong_timeout = Duration::ZERO),
            ),
            (
                "write_timeout",
                Box::new(|c| c.write_timeout = Duration::ZERO),
            ),
            (
                "close_timeout",
                Box::new(|c| c.close_timeout = Duration::ZERO),
            ),
            (
                "subprotocol",
                Box::new(|c| c.subprotocols = vec!["a b".into()]),
            ),
        ];
        for (field, change) in cases {
            let mut config = Config::default();
            change(&mut config);
            match config.validate() {
                Err(Error::Config(err)) => {
                    let msg = err.to_string();
                    assert!(msg.contains(field), "{field}: {msg}");
                    assert!(err.field().starts_with(field), "{field}: {err:?}");
                }
                other => panic!("{field}: expected a config error, got {other:?}"),
            }
        }
    }
}
