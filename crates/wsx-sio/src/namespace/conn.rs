//! What the sockets of one connection share: the Engine.IO session id, the outbound queue
//! the connection's task writes out, the handshake, and the sockets connected over it (one
//! per namespace, socket.io-protocol v5).

use super::handshake::StoredHandshake;
use super::outbox::{Item, Outbox};
use super::reason::DisconnectReason;
use super::socket::Socket;
use crate::frames::frames;
use crate::packet::Parser;
use crate::packet::socket::Body;
use crate::sid::Sid;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// What the sockets of a connection share.
#[derive(Debug)]
pub(crate) struct ConnShared {
    pub(crate) sid: Sid,
    pub(crate) outbox: Outbox,
    pub(crate) handshake: StoredHandshake,
    pub(crate) sockets: Mutex<Vec<Socket>>,
    pub(crate) ack_timeout: Duration,
    /// How packets are written and read on this connection (the server's parser).
    pub(crate) parser: Parser,
    /// Raised while a CONNECT has not answered yet: the connection starts no job behind it
    /// (`crate::server::scheduler`; [`super::jobs::connect_barrier`]).
    pub(crate) connecting: AtomicBool,
}

impl ConnShared {
    /// The connected socket of a namespace.
    pub(crate) fn socket(&self, namespace: &str) -> Option<Socket> {
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|s| s.namespace() == namespace)
            .cloned()
    }

    /// A CONNECT answered (or was refused): the jobs behind it may start.
    pub(crate) fn answered(&self) {
        self.connecting.store(false, Ordering::Relaxed);
    }

    /// Whether no socket is connected over this connection.
    pub(crate) fn has_no_socket(&self) -> bool {
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// The server shuts down: each socket's client gets DISCONNECT (so that it does not
    /// reconnect, as after Node's `io.close()`), then the connection's task closes it.
    pub(crate) fn shut_down(&self) {
        let sockets = self
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for socket in sockets {
            let _ = self.outbox.push(frames(
                self.parser,
                socket.namespace(),
                Body::Disconnect,
                &[],
            ));
        }
        self.outbox
            .control(Item::Close(DisconnectReason::ServerShuttingDown));
    }

    /// Takes every socket (the connection ends).
    pub(crate) fn take_sockets(&self) -> Vec<Socket> {
        std::mem::take(&mut *self.sockets.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
