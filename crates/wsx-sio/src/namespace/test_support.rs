//! What the namespace layer's unit tests share: a connected socket on a hub without a
//! transport, and the frames its connection was given.
#![cfg(test)]

use super::StoredHandshake;
use super::conn::ConnShared;
use super::hub::Hub;
use super::outbox::{Item, Outbox};
use super::socket::Socket;
use crate::engine::transport::Frame;
use crate::sid::Sid;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A socket connected to `hub`, and its connection (whose outbox holds what it was sent).
pub(crate) fn connected_socket(hub: &Hub) -> (Socket, Arc<ConnShared>) {
    let conn = Arc::new(ConnShared {
        sid: Sid::random(),
        outbox: Outbox::new(1 << 20, None, None),
        handshake: StoredHandshake::from_request(http::Request::new(()), None),
        sockets: Mutex::new(Vec::new()),
        ack_timeout: Duration::from_secs(1),
        parser: crate::packet::Parser::Json,
        connecting: std::sync::atomic::AtomicBool::new(false),
    });
    let socket = Socket::new(
        Sid::random(),
        hub.clone(),
        conn.clone(),
        serde_json::Value::Null,
    );
    socket.mark_connected();
    (socket, conn)
}

/// The frames queued for `conn` so far (taken, and counted as written).
pub(crate) fn frames(conn: &ConnShared) -> Vec<Frame> {
    let frames: Vec<Frame> = conn
        .outbox
        .take()
        .into_iter()
        .filter_map(|item| match item {
            Item::Frame(frame) | Item::Wire(frame, _) => Some(frame),
            _ => None,
        })
        .collect();
    conn.outbox.written(frames.iter().map(Frame::len).sum());
    frames
}

/// Where a frame's bytes live: equal for frames that share one allocation.
pub(crate) fn address(frame: &Frame) -> *const u8 {
    match frame {
        Frame::Text(t) => t.as_bytes().as_ptr(),
        Frame::Binary(b) => b.as_ptr(),
    }
}
