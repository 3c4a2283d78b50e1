//! The jobs a connection runs for its sockets, one after the other in arrival order (see
//! `crate::server::connection`): an event's handlers, a socket's disconnect handlers. A job is
//! a handler run, caught if it panics.

use super::ack::AckSender;
use super::conn::ConnShared;
use super::reason::DisconnectReason;
use super::socket::Socket;
use crate::args::Args;
use futures_util::FutureExt as _;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

/// A job: a handler run, caught if it panics.
pub(crate) type Job = Pin<Box<dyn Future<Output = std::thread::Result<()>> + Send>>;

/// Makes a job of a future.
pub(crate) fn job(future: impl Future<Output = ()> + Send + 'static) -> Job {
    Box::pin(AssertUnwindSafe(future).catch_unwind())
}

/// Runs an event's handlers (the socket is looked up when the job starts, so handlers
/// registered by earlier jobs, such as a connection handler, are seen).
pub(crate) fn event_job(
    shared: Arc<ConnShared>,
    namespace: String,
    name: String,
    args: Args,
    ack: Option<u64>,
) -> Job {
    job(async move {
        let Some(socket) = shared.socket(&namespace) else {
            tracing::debug!(
                namespace,
                event = name,
                "event for a namespace not connected; ignored"
            );
            return;
        };
        let (any, handler) = socket.handlers_for(&name);
        for any in any {
            any(socket.clone(), name.clone(), args.clone()).await;
        }
        if let Some(handler) = handler {
            handler(socket.clone(), args, AckSender::new(socket, ack)).await;
        }
    })
}

/// Runs a socket's disconnect handlers.
pub(crate) fn disconnect_job(socket: Socket, reason: DisconnectReason) -> Job {
    job(run_disconnect_handlers(socket, reason))
}

/// The disconnect handlers of a socket, in the order they were added (each once).
pub(crate) async fn run_disconnect_handlers(socket: Socket, reason: DisconnectReason) {
    socket
        .hub()
        .0
        .notify(super::observe::NsEvent::Disconnected(&socket, reason));
    for handler in socket.take_disconnect_handlers() {
        handler(socket.clone(), reason).await;
    }
}
