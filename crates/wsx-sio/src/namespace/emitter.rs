//! [`SocketEmitter`]: an emit to one socket with Node's flags, `socket.volatile.emit(..)`,
//! `socket.compress(false).emit(..)`, `socket.timeout(ms).emitWithAck(..)`.

use super::ack::AckFuture;
use super::flags::EmitFlags;
use super::socket::Socket;
use crate::args::Args;
use crate::error::EmitError;
use serde::Serialize;
use std::time::Duration;

/// An emit to one socket with flags; made by [`Socket::volatile`], [`Socket::compress`] or
/// [`Socket::timeout`], and chained: `socket.volatile().compress(false).emit("tick", &n)`.
#[derive(Debug, Clone)]
#[must_use = "nothing is sent until an emit method is called"]
pub struct SocketEmitter {
    socket: Socket,
    flags: EmitFlags,
    timeout: Option<Duration>,
}

impl SocketEmitter {
    pub(crate) fn new(socket: Socket) -> Self {
        Self {
            socket,
            flags: EmitFlags::default(),
            timeout: None,
        }
    }

    /// Drops the event when the client cannot take it at once ([`EmitFlags::volatile`]):
    /// something sent to it is not taken yet (queued, being written, or waiting for its next
    /// poll), or it is not connected. A dropped event is not an error (`Ok`, as Node's
    /// `volatile` is silent; `wsx_sio_volatile_dropped_total` counts it); awaited with an
    /// acknowledgement, it times out.
    pub fn volatile(mut self) -> Self {
        self.flags.volatile = true;
        self
    }

    /// Sets whether the event may be compressed ([`EmitFlags::compress`]): `false` sends it
    /// uncompressed on a WebSocket that negotiated permessage-deflate
    /// (`Config::per_message_deflate`).
    pub fn compress(mut self, compress: bool) -> Self {
        self.flags.compress = compress;
        self
    }

    /// How long [`Self::emit_with_ack`] waits (instead of `Config::ack_timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The flags set so far.
    #[must_use]
    pub fn flags(&self) -> EmitFlags {
        self.flags
    }

    /// Emits `event` with one argument.
    ///
    /// # Errors
    /// See [`Socket::emit`] (a volatile event dropped is not an error).
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), EmitError> {
        self.emit_args(event, Args::one(data)?)
    }

    /// Emits `event` with any arguments, binary included.
    ///
    /// # Errors
    /// See [`Socket::emit_args`] (a volatile event dropped is not an error).
    pub fn emit_args(&self, event: &str, args: Args) -> Result<(), EmitError> {
        self.socket.emit_flagged(event, args, self.flags)
    }

    /// Emits `event` with one argument and waits for the acknowledgement, at most the
    /// [`Self::timeout`] given, else `Config::ack_timeout`.
    pub fn emit_with_ack(&self, event: &str, data: &impl Serialize) -> AckFuture {
        match Args::one(data) {
            Ok(args) => self.emit_args_with_ack(event, args),
            Err(err) => AckFuture::new(std::future::ready(Err(EmitError::from(err).into()))),
        }
    }

    /// Emits with any arguments and waits for the acknowledgement (see
    /// [`Self::emit_with_ack`]).
    pub fn emit_args_with_ack(&self, event: &str, args: Args) -> AckFuture {
        let timeout = self.timeout.unwrap_or_else(|| self.socket.ack_timeout());
        self.socket
            .emit_args_with_ack_flagged(event, args, timeout, self.flags)
    }
}

impl Socket {
    /// Emits a `message` event (Node's `socket.send(...args)` / `socket.write(...args)`),
    /// which the client's `socket.on("message")` gets.
    ///
    /// # Errors
    /// See [`Socket::emit_args`].
    pub fn send(&self, args: Args) -> Result<(), EmitError> {
        self.emit_args("message", args)
    }
}
