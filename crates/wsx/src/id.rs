//! Connection ids: one process-wide counter below both [`crate::Server`] and
//! [`crate::Client`], so a server's and a client's connections never share an id.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

/// The next id to hand out.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A connection id unique in the process.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}
