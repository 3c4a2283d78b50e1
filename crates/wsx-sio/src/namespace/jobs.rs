//! The jobs a connection runs for its sockets, started in arrival order (see
//! `crate::server::scheduler`): an event's handlers, a CONNECT, a socket's disconnect
//! handlers. A job is a handler run, caught if it panics.

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
use std::sync::atomic::Ordering;

/// A job: a handler run, caught if it panics.
pub(crate) type Job = Pin<Box<dyn Future<Output = std::thread::Result<()>> + Send>>;

/// Makes a job of a future.
pub(crate) fn job(future: impl Future<Output = ()> + Send + 'static) -> Job {
    Box::pin(AssertUnwindSafe(future).catch_unwind())
}

/// Makes a job of a CONNECT: until it calls [`ConnShared::answered`] (before its connection
/// handlers) or ends, no job behind it starts, so that no event of a namespace runs before
/// its socket exists (its middlewares may await). Ending, a panic included, lowers the flag.
pub(crate) fn connect_barrier(
    shared: Arc<ConnShared>,
    connect: impl Future<Output = ()> + Send + 'static,
) -> Job {
    /// Lowers the flag when the job ends or is dropped.
    struct Answered(Arc<ConnShared>);
    impl Drop for Answered {
        fn drop(&mut self) {
            self.0.answered();
        }
    }
    job(async move {
        shared.connecting.store(true, Ordering::Relaxed);
        let _answered = Answered(shared);
        connect.await;
    })
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
            handler(socket.clone(), &name, args, AckSender::new(socket, ack)).await;
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
