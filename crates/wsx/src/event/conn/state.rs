//! Typed per-connection state: what an application keeps about one connection (a nickname,
//! a user id, a session), stored on the [`Conn`] itself, so it needs no global map keyed by
//! connection id and no clean-up in `on_close`. Like `http::Extensions`, one value per type.
#![forbid(unsafe_code)]

use super::Conn;
use std::any::{Any, TypeId};
use std::collections::HashMap;

/// The values, one per type. Boxed and created on first use: a connection that keeps no
/// state pays one word for it.
pub(crate) type StateMap = Option<Box<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>;

impl Conn {
    fn state_map(&self) -> std::sync::MutexGuard<'_, StateMap> {
        // Every critical section is one map operation or the caller's closure over one value;
        // a panic there leaves the map itself consistent.
        crate::sync::lock(&self.shared.state)
    }

    /// Stores `value` as this connection's state of type `T`, replacing (and returning) the
    /// one stored before. The state is dropped when the connection ends, right after
    /// `on_close` (which can still read it).
    ///
    /// ```
    /// # fn handler(conn: &wsx::Conn) {
    /// struct Nick(String);
    /// conn.set_state(Nick("ana".into()));
    /// let name = conn.with_state(|nick: &mut Nick| nick.0.clone());
    /// # }
    /// ```
    pub fn set_state<T: Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.state_map()
            .get_or_insert_with(Box::default)
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast::<T>().ok().map(|b| *b))
    }

    /// A copy of this connection's state of type `T`, if any (wrap it in an `Arc` to share
    /// rather than copy).
    #[must_use]
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.state_map()
            .as_ref()?
            .get(&TypeId::of::<T>())?
            .downcast_ref::<T>()
            .cloned()
    }

    /// Runs `f` on this connection's state of type `T` (to read or change it in place);
    /// `None` when there is none. `f` runs under the connection's state lock: keep it short
    /// and do not touch this connection's state from inside it.
    pub fn with_state<T: Send + Sync + 'static, R>(
        &self,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<R> {
        let mut map = self.state_map();
        let value = map
            .as_mut()?
            .get_mut(&TypeId::of::<T>())?
            .downcast_mut::<T>()?;
        Some(f(value))
    }

    /// Removes and returns this connection's state of type `T`.
    // Not `must_use`: taking the state only to drop it is a use.
    #[allow(clippy::must_use_candidate)]
    pub fn take_state<T: Send + Sync + 'static>(&self) -> Option<T> {
        self.state_map()
            .as_mut()?
            .remove(&TypeId::of::<T>())?
            .downcast::<T>()
            .ok()
            .map(|b| *b)
    }

    /// Drops every state value (the connection ended). Taken out of the lock first: a value's
    /// `Drop` may touch this connection.
    pub(crate) fn clear_state(&self) {
        let map = self.state_map().take();
        drop(map);
    }
}
