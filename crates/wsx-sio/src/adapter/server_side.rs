//! Server-side events: messages between the servers of a cluster, not to clients (Node's
//! `io.serverSideEmit(event, ...args)` and `io.on(event, handler)`). They travel through the
//! adapter (the in-memory one has no other server to reach); a namespace's handlers are called
//! for the events other servers send, with a [`ServerAck`] that answers
//! `serverSideEmitWithAck` (one value per server, as in Node's Redis adapter). The adapter
//! that received the event makes the `ServerAck`; the namespace stores the handlers.

use serde::Serialize;
use serde_json::Value;

/// Answers a server-side event sent with an acknowledgement (a no-op otherwise). Only the
/// first answer counts.
pub struct ServerAck(Option<Box<dyn FnOnce(Value) + Send>>);

impl std::fmt::Debug for ServerAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAck")
            .field("requested", &self.requested())
            .finish()
    }
}

impl ServerAck {
    /// An acknowledgement that answers through `answer`.
    pub fn new(answer: impl FnOnce(Value) + Send + 'static) -> Self {
        Self(Some(Box::new(answer)))
    }

    /// No acknowledgement was asked for.
    #[must_use]
    pub fn none() -> Self {
        Self(None)
    }

    /// Whether the sending server asked for an acknowledgement.
    #[must_use]
    pub fn requested(&self) -> bool {
        self.0.is_some()
    }

    /// Answers with one value.
    ///
    /// # Errors
    /// `value` is not JSON.
    pub fn send(self, value: &impl Serialize) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(value)?;
        if let Some(answer) = self.0 {
            answer(value);
        }
        Ok(())
    }
}
