//! wsx-sio: a Socket.IO v5 server (Engine.IO v4, WebSocket transport) on wsx.
#![warn(missing_docs)]

pub mod packet;
