//! Rooms and the selection of sockets an operation addresses: plain data, shared by the
//! adapters (which resolve a selection to sockets), the hub (which builds one) and the
//! recovery store (which keeps one with each packet).

/// A room name. A socket's id is also a room, holding just that socket.
pub type Room = String;

/// Which sockets an operation addresses: those in any of `rooms` (every socket when empty),
/// minus those in any of `except`. A socket id is also a room holding just that socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// The rooms addressed; empty means the whole namespace.
    pub rooms: Vec<Room>,
    /// The rooms left out.
    pub except: Vec<Room>,
    /// This server's sockets only (Socket.IO's `io.local`): nothing is sent to other servers.
    pub local: bool,
    /// How the event is delivered (`volatile`, `compress`): Node's `opts.flags`, which cross
    /// servers with the broadcast (the Redis adapters' wire format carries them) and are
    /// honoured by every server for its own sockets.
    pub flags: EmitFlags,
}

/// How an emit is delivered (Node's `socket.volatile`, `socket.compress(bool)`, on sockets
/// and broadcasts alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmitFlags {
    /// Dropped for a receiver that cannot take it at once: something sent to it is not
    /// taken yet (queued, being written, or waiting for its next poll; `outbox.rs`) or it is
    /// not connected; Node's `volatile` (dropped when the transport is not writable), for
    /// data that is stale soon anyway (positions, ticks). A volatile event is not kept for
    /// connection state recovery either, as in Node.
    pub volatile: bool,
    /// Whether the message may be compressed (default `true`; Node's `compress(bool)`). On a
    /// WebSocket that negotiated permessage-deflate (`Config::per_message_deflate`), `true`
    /// compresses a packet of at least the threshold's length (a broadcast deflated once for
    /// all its receivers) and `false` sends it uncompressed (RSV1 clear); long-polling ignores
    /// it. Passed to the other servers of a cluster, which apply it to their own sockets.
    pub compress: bool,
}

impl Default for EmitFlags {
    fn default() -> Self {
        Self {
            volatile: false,
            compress: true,
        }
    }
}

impl EmitFlags {
    /// Whether these are the flags of a plain emit.
    pub(crate) fn is_plain(self) -> bool {
        self == Self::default()
    }
}
