//! [`ReaderSignal`]: how other tasks wake a connection's reader task for what is not input.
#![forbid(unsafe_code)]

use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Waker;

/// Flags for the reader task plus its waker. Checking them costs an atomic load per turn of
/// the read loop, and waiting one waker registration; a `Notify` would take its lock on
/// every poll.
#[derive(Default)]
pub(crate) struct ReaderSignal {
    flags: AtomicU8,
    waker: AtomicWaker,
}

impl ReaderSignal {
    /// Drop the connection now.
    pub const TEARDOWN: u8 = 1;
    /// A handler was registered.
    pub const HANDLER_ADDED: u8 = 2;
    /// Another task queued something to send.
    pub const QUEUED: u8 = 4;

    /// Sets `flag` (it stays set until cleared) and wakes the reader.
    pub fn raise(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::AcqRel);
        self.waker.wake();
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

    /// Wakes `waker` at the next [`Self::raise`]; check [`Self::get`] after registering, a
    /// flag raised just before is not signalled again.
    pub fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }
}
