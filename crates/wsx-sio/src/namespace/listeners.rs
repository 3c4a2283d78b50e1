//! Catch-all listeners of a [`Socket`]: Node's `onAny`/`prependAny`/`offAny` on the events the
//! client sends, and `onAnyOutgoing`/`prependAnyOutgoing`/`offAnyOutgoing` on those sent to it.
//! Each listener gets a [`ListenerId`] to remove it by (Rust closures have no identity to
//! compare, as Node compares functions).

use super::handler::{self, ListenerId};
use super::socket::Socket;
use crate::args::Args;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Socket {
    /// Removes the handler of `event` ([`Self::on`], [`Self::on_with_ack`]): the event is
    /// then ignored, as Node's `socket.off(event)` / `removeAllListeners(event)` leave it
    /// (the catch-all listeners still see it). Returns whether there was one.
    pub fn off(&self, event: &str) -> bool {
        self.handlers().remove(event)
    }

    /// Adds a handler called for every event the client sends (before the event's own
    /// handler), with its name (Node's `onAny`). Returns its id, for [`Self::off_any`].
    pub fn on_any<F, Fut>(&self, handler: F) -> ListenerId
    where
        F: Fn(Socket, String, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.add_any(handler, false)
    }

    /// Like [`Self::on_any`], called before the handlers added so far (Node's `prependAny`).
    pub fn prepend_any<F, Fut>(&self, handler: F) -> ListenerId
    where
        F: Fn(Socket, String, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.add_any(handler, true)
    }

    fn add_any<F, Fut>(&self, handler: F, prepend: bool) -> ListenerId
    where
        F: Fn(Socket, String, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: handler::AnyFn =
            Arc::new(move |s, name, args| Box::pin(handler(s, name, args)));
        self.handlers().any.add(handler, prepend)
    }

    /// Removes the [`Self::on_any`] handler `id` (Node's `offAny(listener)`); returns
    /// whether it was there. Events already started still run it.
    pub fn off_any(&self, id: ListenerId) -> bool {
        self.handlers().any.remove(Some(id))
    }

    /// Removes every [`Self::on_any`] handler (Node's `offAny()`).
    pub fn off_any_all(&self) {
        self.handlers().any.remove(None);
    }

    /// Adds a listener called for every event sent to this client (Node's
    /// `onAnyOutgoing`): its own emits ([`Self::emit`], [`Self::emit_with_ack`], with flags)
    /// and the broadcasts of this server that reach it (not acknowledgements, as in Node).
    /// Called synchronously as the event is sent, with its name and arguments (a volatile
    /// event that is dropped included, as in Node; with connection state recovery on, without
    /// the offset). A broadcast another server of a cluster started reaches the socket without
    /// calling it. Returns its id, for [`Self::off_any_outgoing`].
    pub fn on_any_outgoing<F>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Socket, &str, &Args) + Send + Sync + 'static,
    {
        self.add_outgoing(Arc::new(listener), false)
    }

    /// Like [`Self::on_any_outgoing`], called before the listeners added so far (Node's
    /// `prependAnyOutgoing`).
    pub fn prepend_any_outgoing<F>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Socket, &str, &Args) + Send + Sync + 'static,
    {
        self.add_outgoing(Arc::new(listener), true)
    }

    /// Removes the outgoing listener `id` (Node's `offAnyOutgoing(listener)`); returns
    /// whether it was there.
    pub fn off_any_outgoing(&self, id: ListenerId) -> bool {
        self.remove_outgoing(Some(id))
    }

    /// Removes every outgoing listener (Node's `offAnyOutgoing()`).
    pub fn off_any_outgoing_all(&self) {
        self.remove_outgoing(None);
    }

    fn add_outgoing(&self, listener: handler::OutgoingFn, prepend: bool) -> ListenerId {
        let mut handlers = self.handlers();
        let id = handlers.outgoing.add(listener, prepend);
        self.set_outgoing(true);
        id
    }

    fn remove_outgoing(&self, id: Option<ListenerId>) -> bool {
        let mut handlers = self.handlers();
        let removed = handlers.outgoing.remove(id);
        self.set_outgoing(!handlers.outgoing.is_empty());
        removed
    }

    /// Records whether the socket has outgoing listeners, here and in its namespace's count
    /// (a broadcast takes its slower, listening path only when some socket has one). Called
    /// under the handlers' lock.
    pub(super) fn set_outgoing(&self, has: bool) {
        let had = self.outgoing_flag().swap(has, Ordering::AcqRel);
        let count = &self.hub().0.outgoing_sockets;
        match (had, has) {
            (false, true) => {
                count.fetch_add(1, Ordering::AcqRel);
            }
            (true, false) => {
                count.fetch_sub(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }

    /// Calls the outgoing listeners, if any, with an event sent to this client.
    pub(crate) fn notify_outgoing(&self, event: &str, args: &Args) {
        if !self.outgoing_flag().load(Ordering::Acquire) {
            return;
        }
        let listeners = self.handlers().outgoing.to_vec();
        for listener in listeners {
            listener(self, event, args);
        }
    }
}
