//! Handlers as the server stores them: type-erased closures that return boxed futures.
//!
//! The typed forms the API takes (`Fn(Socket, T) -> Fut` with `T: FromArgs`) are wrapped here
//! once, at registration; dispatch only calls through an `Arc<dyn Fn>`.

use super::ack::AckSender;
use super::reason::DisconnectReason;
use super::socket::Socket;
use crate::adapter::ServerAck;
use crate::args::{Args, FromArgs};
use crate::error::ConnectError;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// A boxed handler future.
pub(crate) type BoxFuture<T = ()> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An event's handler; called with the event's name (for its warnings: not captured, so that
/// a handler that captures nothing costs one 16-byte allocation per socket, not 32).
pub(crate) type EventFn = Arc<dyn Fn(Socket, &str, Args, AckSender) -> BoxFuture + Send + Sync>;
pub(crate) type AnyFn = Arc<dyn Fn(Socket, String, Args) -> BoxFuture + Send + Sync>;
/// An outgoing listener ([`Socket::on_any_outgoing`]): called synchronously, as Node's.
pub(crate) type OutgoingFn = Arc<dyn Fn(&Socket, &str, &Args) + Send + Sync>;
pub(crate) type DisconnectFn = Arc<dyn Fn(Socket, DisconnectReason) -> BoxFuture + Send + Sync>;
pub(crate) type ConnectionFn = Arc<dyn Fn(Socket) -> BoxFuture + Send + Sync>;
pub(crate) type MiddlewareFn =
    Arc<dyn Fn(Socket) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;
/// A stored server-side event handler ([`crate::Namespace::on_server_side`]).
pub(crate) type ServerSideFn = Arc<dyn Fn(Vec<Value>, ServerAck) -> BoxFuture + Send + Sync>;

/// The registered server-side handlers of a namespace, by event name.
pub(crate) type ServerSideHandlers = HashMap<String, ServerSideFn>;

/// Names a catch-all listener ([`Socket::on_any`], [`Socket::on_any_outgoing`]) so that it
/// can be removed ([`Socket::off_any`]): Rust closures have no identity to compare, as
/// Node's `offAny(listener)` compares functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Catch-all listeners in call order, each with its id.
pub(crate) struct Listeners<F>(Vec<(ListenerId, F)>);

impl<F> Default for Listeners<F> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<F: Clone> Listeners<F> {
    /// Adds a listener last (`prepend`: first).
    pub(crate) fn add(&mut self, listener: F, prepend: bool) -> ListenerId {
        let id = ListenerId::next();
        if prepend {
            self.0.insert(0, (id, listener));
        } else {
            self.0.push((id, listener));
        }
        id
    }

    /// Removes one listener (`Some`) or all (`None`); returns whether any was removed.
    pub(crate) fn remove(&mut self, id: Option<ListenerId>) -> bool {
        let before = self.0.len();
        match id {
            Some(id) => self.0.retain(|(i, _)| *i != id),
            None => self.0 = Vec::new(),
        }
        self.0.len() != before
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The listeners, in call order.
    pub(crate) fn to_vec(&self) -> Vec<F> {
        self.0.iter().map(|(_, f)| f.clone()).collect()
    }
}

/// The handlers registered on one socket. Few per socket: vectors, searched linearly, are
/// smaller than maps; grown one entry at a time (an idle client keeps no spare room); the
/// handler is told its event's name when called rather than keeping a copy, and a short
/// name is kept inline ([`EventName`]); the event handlers are shared with the sockets that
/// registered the same ones ([`Events`]).
#[derive(Default)]
pub(crate) struct Handlers {
    events: Events,
    pub(crate) any: Listeners<AnyFn>,
    pub(crate) outgoing: Listeners<OutgoingFn>,
    pub(crate) disconnect: Vec<DisconnectFn>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.events.names().map(EventName::as_str).collect();
        f.debug_struct("Handlers")
            .field("events", &names)
            .field("any", &self.any.len())
            .field("outgoing", &self.outgoing.len())
            .field("disconnect", &self.disconnect.len())
            .finish()
    }
}

impl Handlers {
    /// Sets the handler of `event`, replacing any earlier one. `stateless`: the handler holds
    /// nothing, so it is the same value for every socket ([`event_fn`] says).
    pub(crate) fn set(&mut self, event: String, handler: EventFn, stateless: bool) {
        let own = self.events.own();
        let i = match own
            .entries
            .iter()
            .position(|(n, _)| n.as_bytes() == event.as_bytes())
        {
            Some(i) => {
                own.entries[i].1 = handler;
                i
            }
            None => {
                own.entries.reserve_exact(1);
                own.entries.push((EventName::new(event), handler));
                own.entries.len() - 1
            }
        };
        if i < 64 {
            if stateless {
                own.stateless |= 1 << i;
            } else {
                own.stateless &= !(1 << i);
            }
        }
    }

    /// Removes the handler of `event`; returns whether there was one.
    pub(crate) fn remove(&mut self, event: &str) -> bool {
        if self.events.find(event.as_bytes()).is_none() {
            return false;
        }
        let own = self.events.own();
        if let Some(i) = own
            .entries
            .iter()
            .position(|(n, _)| n.as_bytes() == event.as_bytes())
        {
            own.entries.remove(i);
            // The flags of the entries after `i` move down one place.
            if i < 64 {
                let below = own.stateless & ((1 << i) - 1);
                let above = if i == 63 {
                    0
                } else {
                    (own.stateless >> (i + 1)) << i
                };
                own.stateless = below | above;
            }
        }
        true
    }

    pub(crate) fn get(&self, event: &str) -> Option<EventFn> {
        self.events.find(event.as_bytes()).cloned()
    }

    /// Shares the names and the stateless handlers with the sockets of the namespace that
    /// registered the same ones (`last`, the namespace's), or offers them to the next: called
    /// once the socket's connection handlers ran (they register most handlers). Changed
    /// later, the socket's handlers are its own again.
    pub(crate) fn share(&mut self, last: &LastEvents) {
        let Events::Own(own) = &self.events else {
            return;
        };
        if own.stateless == 0 {
            return;
        }
        let mut slot = last.0.lock().unwrap_or_else(PoisonError::into_inner);
        let table = match slot.as_ref().and_then(Weak::upgrade) {
            Some(table) if own.fits(&table) => table,
            _ => {
                let table: Arc<[SharedEntry]> = own
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, (name, f))| (name.clone(), own.is_stateless(i).then(|| f.clone())))
                    .collect();
                *slot = Some(Arc::downgrade(&table));
                table
            }
        };
        drop(slot);
        let mine = own
            .entries
            .iter()
            .enumerate()
            .filter(|&(i, _)| !own.is_stateless(i))
            .map(|(_, (_, f))| f.clone())
            .collect();
        // The socket's own list is let go here, the namespace's lock released.
        self.events = Events::Shared { table, mine };
    }
}

/// An event's name and its handler.
type Entry = (EventName, EventFn);

/// An entry of a table shared by sockets: the name, and the handler if it is stateless
/// (`None`: each socket has its own).
type SharedEntry = (EventName, Option<EventFn>);

/// A socket's event handlers: its own list while it registers them; then, once its
/// connection handlers ran ([`Handlers::share`]), a table of names and stateless handlers
/// shared with the sockets of its namespace that registered the same (the same names in the
/// same order, the same stateless handlers: [`stateless`] makes one value of each handler
/// that captures nothing), and its own stateful handlers beside it. Sockets nearly always
/// register the same handlers (in the connection handler), and their list was the largest
/// part of an idle client's memory after its task (the demo's 16 handlers, one of which
/// captures state: 656 bytes per client, `scripts/sio_bench.sh`).
enum Events {
    Own(Own),
    Shared {
        table: Arc<[SharedEntry]>,
        /// The handlers of the table's `None` entries, in order.
        mine: Box<[EventFn]>,
    },
}

/// A socket's own list of event handlers.
#[derive(Default)]
struct Own {
    entries: Vec<Entry>,
    /// Bit `i`: the handler of entry `i` is stateless (entries past 64 count as stateful).
    stateless: u64,
}

impl Own {
    fn is_stateless(&self, i: usize) -> bool {
        i < 64 && self.stateless & (1 << i) != 0
    }

    /// Whether `table` holds these names, in this order, with these stateless handlers.
    fn fits(&self, table: &[SharedEntry]) -> bool {
        table.len() == self.entries.len()
            && table
                .iter()
                .zip(&self.entries)
                .enumerate()
                .all(|(i, ((tn, tf), (n, f)))| {
                    tn.as_bytes() == n.as_bytes()
                        && match tf {
                            Some(tf) => self.is_stateless(i) && Arc::ptr_eq(tf, f),
                            None => !self.is_stateless(i),
                        }
                })
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::Own(Own::default())
    }
}

impl Events {
    /// The handler of `event`.
    fn find(&self, event: &[u8]) -> Option<&EventFn> {
        match self {
            Self::Own(own) => own
                .entries
                .iter()
                .find(|(n, _)| n.as_bytes() == event)
                .map(|(_, f)| f),
            Self::Shared { table, mine } => {
                let mut mine = mine.iter();
                for (name, f) in table.iter() {
                    let f = match f {
                        Some(f) => Some(f),
                        None => mine.next(),
                    };
                    if name.as_bytes() == event {
                        return f;
                    }
                }
                None
            }
        }
    }

    fn names(&self) -> Box<dyn Iterator<Item = &EventName> + '_> {
        match self {
            Self::Own(own) => Box::new(own.entries.iter().map(|(n, _)| n)),
            Self::Shared { table, .. } => Box::new(table.iter().map(|(n, _)| n)),
        }
    }

    /// The socket's own list, made from the shared table first if need be.
    fn own(&mut self) -> &mut Own {
        if let Self::Shared { table, mine } = self {
            let mut mine = mine.iter();
            let mut own = Own::default();
            own.entries.reserve_exact(table.len());
            for (i, (name, f)) in table.iter().enumerate() {
                let f = match f {
                    Some(f) => {
                        if i < 64 {
                            own.stateless |= 1 << i;
                        }
                        f.clone()
                    }
                    // As many as the `None` entries: made so by `Handlers::share`.
                    None => match mine.next() {
                        Some(f) => f.clone(),
                        None => continue,
                    },
                };
                own.entries.push((name.clone(), f));
            }
            *self = Self::Own(own);
        }
        match self {
            Self::Own(own) => own,
            Self::Shared { .. } => unreachable!("made own above"),
        }
    }
}

/// The table of event handlers a socket of a namespace shared last ([`Handlers::share`]);
/// weak, so that it keeps no handler alive once its sockets are gone.
#[derive(Default)]
pub(crate) struct LastEvents(Mutex<Option<Weak<[SharedEntry]>>>);

impl std::fmt::Debug for LastEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LastEvents").finish_non_exhaustive()
    }
}

/// An event's name as a socket's handlers keep it: inline up to 22 bytes (most names), so
/// that a handler costs its socket no allocation for its name (14 handlers of the demo:
/// about 0.4 KiB per client).
#[derive(Clone)]
pub(crate) enum EventName {
    Inline(u8, [u8; 22]),
    Heap(Box<str>),
}

impl EventName {
    fn new(name: String) -> Self {
        let mut bytes = [0; 22];
        match bytes.get_mut(..name.len()) {
            Some(inline) => {
                inline.copy_from_slice(name.as_bytes());
                // At most 22: fits.
                Self::Inline(name.len() as u8, bytes)
            }
            None => Self::Heap(name.into_boxed_str()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Self::Heap(name) => name.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        // Inline bytes are a whole `String`'s: valid UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// A handler whose type holds nothing (a closure that captures nothing, or a function: the
/// common case) is the same value for every socket that registers it: one `Arc` per type
/// serves them all, rather than one allocation per socket and handler (about 0.7 KiB per
/// client of the demo, which registers 14). `K` names the type (with what the wrapping
/// adds); `size` is the size of the handler's type: a handler that holds state gets its own.
pub(crate) fn stateless<K: 'static, H>(size: usize, make: impl FnOnce() -> H) -> H
where
    H: Clone + Send + Sync + 'static,
{
    use std::any::{Any, TypeId};
    use std::sync::{LazyLock, PoisonError, RwLock};
    type Cache = RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>;
    static CACHE: LazyLock<Cache> = LazyLock::new(Cache::default);
    if size != 0 {
        return make();
    }
    let key = TypeId::of::<K>();
    let cached = CACHE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .and_then(|h| h.downcast_ref::<H>().cloned());
    if let Some(handler) = cached {
        return handler;
    }
    let handler = make();
    CACHE
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_insert_with(|| Box::new(handler.clone()));
    handler
}

/// Wraps a typed event handler. Arguments that do not convert skip the handler; the event is
/// reported at warn level (a client and a server that disagree on an event's shape is a bug
/// to see, not a debug detail), and when the client asked for an acknowledgement it gets one
/// argument, `{"error": "<why>"}`, at once: it must not wait for its timeout to learn that
/// nothing will answer.
///
/// Returns it with whether it is stateless (it captures nothing: the same value for every
/// socket, which sockets may share, `Events`).
pub(crate) fn event_fn<T, F, Fut>(handler: F) -> (EventFn, bool)
where
    T: FromArgs + Send + 'static,
    F: Fn(Socket, T, AckSender) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let size = std::mem::size_of::<F>();
    let handler = stateless::<(T, F), EventFn>(size, || {
        Arc::new(
            move |socket, event: &str, args, ack| match T::from_args(args) {
                Ok(value) => Box::pin(handler(socket, value, ack)),
                Err(err) => {
                    tracing::warn!(
                        event = %event,
                        socket = %socket.id(),
                        namespace = socket.namespace(),
                        %err,
                        "arguments do not fit the handler; skipped"
                    );
                    if ack.requested() {
                        let why = format!("arguments of \"{event}\" do not fit its handler: {err}");
                        let _ = ack.send(&serde_json::json!({ "error": why }));
                    }
                    Box::pin(std::future::ready(()))
                }
            },
        )
    });
    (handler, size == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that captures nothing: the same value each time (`stateless`).
    fn plain() -> (EventFn, bool) {
        event_fn(|_: Socket, _: Args, _: AckSender| async {})
    }

    /// Another handler that captures nothing.
    fn other() -> (EventFn, bool) {
        event_fn(|_: Socket, _: Value, _: AckSender| async {})
    }

    /// A handler that holds state: one value per call.
    fn stateful(n: u64) -> (EventFn, bool) {
        event_fn(move |_: Socket, _: Args, _: AckSender| async move {
            let _ = n;
        })
    }

    fn handlers(list: Vec<(&str, (EventFn, bool))>, last: &LastEvents) -> Handlers {
        let mut handlers = Handlers::default();
        for (name, (f, stateless)) in list {
            handlers.set(name.into(), f, stateless);
        }
        handlers.share(last);
        handlers
    }

    fn table(handlers: &Handlers) -> Option<&Arc<[SharedEntry]>> {
        match &handlers.events {
            Events::Shared { table, .. } => Some(table),
            Events::Own(_) => None,
        }
    }

    fn same_fn(a: Option<EventFn>, b: &EventFn) -> bool {
        a.is_some_and(|a| Arc::ptr_eq(&a, b))
    }

    #[test]
    fn sockets_with_the_same_handlers_share_them_until_one_changes() {
        let last = LastEvents::default();
        let (one, two) = (stateful(1), stateful(2));
        let (f_one, f_two) = (one.0.clone(), two.0.clone());
        let first = handlers(vec![("a", plain()), ("s", one), ("b", other())], &last);
        let mut second = handlers(vec![("a", plain()), ("s", two), ("b", other())], &last);
        let shared = table(&first).expect("shared");
        assert!(Arc::ptr_eq(shared, table(&second).expect("shared")));
        // Each socket keeps its own stateful handler; the stateless ones are the same.
        assert!(same_fn(first.get("s"), &f_one) && same_fn(second.get("s"), &f_two));
        assert!(same_fn(first.get("b"), &other().0) && second.get("zz").is_none());

        // Other names: a table of their own, offered next.
        let third = handlers(vec![("a", plain()), ("c", other())], &last);
        assert!(!Arc::ptr_eq(shared, table(&third).expect("shared")));

        // A change after sharing is the socket's own; its flags follow its entries.
        second.set("c".into(), plain().0, true);
        assert!(table(&second).is_none());
        assert!(second.get("c").is_some() && first.get("c").is_none());
        assert!(second.remove("a") && first.get("a").is_some());
        assert!(!second.remove("a"));
        assert!(same_fn(second.get("s"), &f_two));
        let again = handlers(
            vec![("s", stateful(3)), ("b", other()), ("c", plain())],
            &last,
        );
        second.share(&last);
        assert!(Arc::ptr_eq(
            table(&again).expect("shared"),
            table(&second).expect("shared")
        ));
        assert!(same_fn(second.get("s"), &f_two) && same_fn(second.get("c"), &plain().0));
    }
}
