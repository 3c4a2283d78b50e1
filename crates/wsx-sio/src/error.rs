//! The errors of the server API.

/// Why an emit did not go out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The socket is disconnected (or its connection closed).
    #[error("socket disconnected")]
    Disconnected,
    /// The connection's outbound queue is over its bound: the client reads slower than the
    /// server writes. The packet was dropped.
    #[error("outbound queue full: {queued} bytes queued, limit {limit}")]
    QueueFull {
        /// Bytes waiting.
        queued: usize,
        /// The bound.
        limit: usize,
    },
    /// The arguments cannot be represented as JSON.
    #[error("arguments are not JSON: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A networked adapter could not pass a broadcast on to the other servers; this server's
    /// sockets got it all the same.
    #[error(transparent)]
    Adapter(#[from] crate::adapter::AdapterError),
}

/// Why an acknowledgement did not arrive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No acknowledgement within the timeout.
    #[error("acknowledgement timed out")]
    Timeout,
    /// The socket disconnected before acknowledging.
    #[error("socket disconnected before acknowledging")]
    Disconnected,
    /// The event could not be sent.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The acknowledgement's arguments do not convert to the type asked for.
    #[error("acknowledgement arguments do not fit: {0}")]
    Parse(#[from] serde_json::Error),
}
