//! The operations a dashboard sends, as Node's `registerFeatureHandlers` (Socket.IO v4
//! branch): `emit(nsp, filter, event, ...args)`, `join(nsp, room, filter)`,
//! `leave(nsp, room, filter)`, `_disconnect(nsp, close, filter)`. `filter` is a room name or a
//! socket id (a socket id is a room), or absent for every socket of the namespace. Each goes
//! through the namespace's adapter (`to(filter).emit`, `sockets_join`, `sockets_leave`,
//! `disconnect_sockets`), so it reaches the sockets on every server of a cluster.
//!
//! A namespace that does not exist is ignored (Node's `io.of(nsp)` would create it), and so
//! are malformed operations and `emit`s of the events Socket.IO reserves.

use crate::args::Args;
use crate::namespace::{BroadcastOperator, Hub, Socket};
use crate::rooms::{BroadcastOptions, Room};
use crate::server::instrument::WeakServer;
use serde_json::Value;

/// Events a server may not emit (Node's `RESERVED_EVENTS`).
const RESERVED: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Registers the operations on a dashboard's socket.
pub(super) fn register(socket: &Socket, server: WeakServer) {
    let on_emit = server.clone();
    socket.on("emit", move |_s: Socket, args: Args| {
        emit(&on_emit, args);
        std::future::ready(())
    });
    let on_join = server.clone();
    socket.on("join", move |_s: Socket, args: Args| {
        rooms(&on_join, &args, |s, room| s.sockets_join(room));
        std::future::ready(())
    });
    let on_leave = server.clone();
    socket.on("leave", move |_s: Socket, args: Args| {
        rooms(&on_leave, &args, |s, room| s.sockets_leave(room));
        std::future::ready(())
    });
    socket.on("_disconnect", move |_s: Socket, args: Args| {
        disconnect(&server, &args);
        std::future::ready(())
    });
}

/// The namespace named by the first argument, and the selection the `filter` at `index`
/// makes in it.
fn target(server: &WeakServer, args: &Args, index: usize) -> Option<(Hub, BroadcastOperator)> {
    let nsp = args.values.first()?.as_str()?;
    let hub = server.upgrade()?.existing_namespace(nsp)?;
    let selection = match args.values.get(index) {
        Some(Value::String(filter)) if !filter.is_empty() => hub.to(filter.clone()),
        // No filter: every socket (a `to` without rooms).
        _ => hub.select(BroadcastOptions::default()),
    };
    Some((hub, selection))
}

fn emit(server: &WeakServer, mut args: Args) {
    let Some((hub, selection)) = target(server, &args, 1) else {
        return;
    };
    let Some(Value::String(event)) = args.values.get(2).cloned() else {
        return;
    };
    if RESERVED.contains(&event.as_str()) {
        tracing::debug!(event, "admin UI: reserved event not emitted");
        return;
    }
    // What follows the event is its arguments; placeholders keep their attachments.
    args.values.drain(..3);
    if let Err(err) = selection.emit_args(&event, args) {
        tracing::debug!(namespace = hub.name(), event, %err, "admin UI: emit failed");
    }
}

fn rooms(server: &WeakServer, args: &Args, apply: fn(&BroadcastOperator, Room)) {
    let Some(Value::String(room)) = args.values.get(1) else {
        return;
    };
    if let Some((_, selection)) = target(server, args, 2) {
        apply(&selection, room.clone());
    }
}

fn disconnect(server: &WeakServer, args: &Args) {
    let close = args.values.get(1).and_then(Value::as_bool).unwrap_or(false);
    if let Some((_, selection)) = target(server, args, 2) {
        selection.disconnect_sockets(close);
    }
}
