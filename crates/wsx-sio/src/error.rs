//! The crate's errors: of emits, of acknowledgements, of adapters, and a middleware's refusal.
//! Plain data, below every layer that returns them.

use serde_json::Value;

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
    Adapter(#[from] AdapterError),
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

/// Why an adapter operation failed (networked adapters; the in-memory one never fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The other servers could not be reached.
    #[error("adapter unavailable: {0}")]
    Unavailable(String),
    /// The arguments of a server-side event cannot be represented as JSON.
    #[error("arguments are not JSON: {0}")]
    NotJson(String),
    /// Not every server answered a request in time (Node's "timeout reached while waiting
    /// for ... response").
    #[error("timeout: {got} of {expected} servers answered")]
    Timeout {
        /// Answers received.
        got: usize,
        /// Answers expected (the other servers subscribed when the request went out).
        expected: usize,
    },
}

/// A refusal by a connect middleware: the client gets CONNECT_ERROR
/// `{"message": .., "data": ..}`. An error type (`Display` is the message), so a middleware
/// can turn its own errors into one with `?` (through a `From` impl or `map_err`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// The message (`err.message` on the client).
    pub message: String,
    /// Extra data (`err.data` on the client).
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data for the client.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The CONNECT_ERROR payload.
    pub(crate) fn payload(&self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("message".into(), Value::String(self.message.clone()));
        if let Some(data) = &self.data {
            map.insert("data".into(), data.clone());
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_payloads() {
        assert_eq!(
            ConnectError::new("Invalid namespace").payload(),
            serde_json::json!({"message": "Invalid namespace"})
        );
        assert_eq!(
            ConnectError::new("no")
                .with_data(serde_json::json!({"code": 7}))
                .payload(),
            serde_json::json!({"message": "no", "data": {"code": 7}})
        );
    }

    #[test]
    fn a_connect_error_is_an_error_whose_display_is_its_message() {
        fn refuse() -> Result<(), Box<dyn std::error::Error>> {
            Err(ConnectError::new("not allowed"))?
        }
        assert_eq!(
            refuse().map_err(|e| e.to_string()),
            Err("not allowed".to_owned())
        );
    }
}
