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
}
