//! Engine.IO v4 sessions: the handshake checks, the open packet, the heartbeat, `maxPayload`,
//! over a [`transport::Transport`] (WebSocket, or HTTP long-polling that upgrades to WebSocket).

pub mod handshake;
pub mod heartbeat;
pub mod session;
pub(crate) mod traffic;
pub mod transport;
pub mod upgrade;

pub use session::{CloseReason, Event, Session};

use std::time::Duration;

/// Engine.IO settings, announced to the client in the open packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// How often the server pings (default 25 s).
    pub ping_interval: Duration,
    /// How long a pong may take before the session is closed (default 20 s).
    pub ping_timeout: Duration,
    /// The largest message accepted, in bytes (default 1,000,000, as the Node server's
    /// `maxHttpBufferSize`); a larger one closes the session.
    pub max_payload: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
        }
    }
}
