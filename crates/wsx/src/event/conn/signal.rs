//! [`ReaderSignal`]: how other tasks wake a connection's task for what is not input.
#![forbid(unsafe_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Waker;

/// Flags for the connection's task plus its waker. Checking them costs an atomic load per turn
/// of the read loop; a `Notify` would take its lock on every poll.
///
/// The waker stays registered until the task registers another one, so the task registers
/// only when its waker changes, not after every wake-up. It sits behind a plain lock, taken by
/// a raise (another task's write, a handler registered, a teardown) and by a registration:
/// with `AtomicWaker`, whose `wake` takes the waker out and whose `register` leaves the slot
/// empty when a wake races it, a task that did not re-register after each wake-up lost the
/// next one (a stalled flush, found by `no_loss`), and re-registering after each wake-up
/// cost 40 instructions a message.
#[derive(Default)]
pub(crate) struct ReaderSignal {
    flags: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

impl ReaderSignal {
    /// Drop the connection now.
    pub const TEARDOWN: u8 = 1;
    /// A handler was registered.
    pub const HANDLER_ADDED: u8 = 2;
    /// Another task queued something to send.
    pub const QUEUED: u8 = 4;

    /// Sets `flag` (it stays set until cleared) and wakes the task. The flag is set before the
    /// waker is read under the lock, and a registration stores the waker under the lock before
    /// the task checks the flags: either the task sees the flag, or this sees its waker.
    pub fn raise(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::AcqRel);
        // Woken outside the lock: a waker is foreign code.
        let waker = crate::sync::lock(&self.waker).clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether [`Self::QUEUED`] is set.
    pub fn queued(&self) -> bool {
        self.get() & Self::QUEUED != 0
    }

    /// The flags set.
    pub fn get(&self) -> u8 {
        self.flags.load(Ordering::Acquire)
    }

    /// Clears every flag but [`Self::TEARDOWN`] (which stays) and returns those that were
    /// set.
    pub fn take(&self) -> u8 {
        self.flags.fetch_and(Self::TEARDOWN, Ordering::AcqRel)
    }

    /// Drops the registered waker (the task is ending: a handle kept by the application must
    /// not keep the task's allocation).
    pub fn unregister(&self) {
        let waker = crate::sync::lock(&self.waker).take();
        drop(waker);
    }

    /// Wakes `waker` at every [`Self::raise`] from now on; check [`Self::get`] after
    /// registering, a flag raised just before is not signalled again.
    pub fn register(&self, waker: &Waker) {
        let old = crate::sync::lock(&self.waker).replace(waker.clone());
        drop(old);
    }
}
