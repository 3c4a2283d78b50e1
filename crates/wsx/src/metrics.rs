//! Metrics through the [`metrics`] facade: the application installs the recorder it wants
//! (Prometheus, StatsD...; `wsx serve` uses `metrics-exporter-prometheus`), and with none
//! installed every update is a no-op. Install the recorder before creating the first
//! [`crate::Server`] or [`crate::Client`]: the handles of the per-message metrics are
//! registered once, at that point.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `wsx_connections_active` | gauge | | open connections (event API) |
//! | `wsx_connections_total` | counter | | connections opened |
//! | `wsx_handshakes_total` | counter | `result` (`ok`, `failed`), `status` | server handshakes, failed ones by the HTTP status answered (`timeout` when none) |
//! | `wsx_messages_received_total` | counter | `type` (`text`, `binary`) | data messages received |
//! | `wsx_bytes_received_total` | counter | `type` | their payload bytes |
//! | `wsx_messages_sent_total` | counter | `type` | data messages queued for sending (broadcasts count once per connection) |
//! | `wsx_bytes_sent_total` | counter | `type` | their payload bytes |
//! | `wsx_close_codes_received_total` | counter | `code` | close frames received |
//! | `wsx_close_codes_sent_total` | counter | `code` | close frames sent by `close()`, timers and failures |
//! | `wsx_ping_rtt_seconds` | histogram | | keep-alive ping to its pong |
//! | `wsx_queue_full_total` | counter | | writes refused with `Error::QueueFull` |
//! | `wsx_rate_limited_total` | counter | `limit` (`messages`, `bytes`, `connections`, `connections_per_ip`) | messages or connections refused by a rate limit or cap |
#![forbid(unsafe_code)]

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use std::sync::OnceLock;

/// The per-message metrics' handles, registered once.
pub(crate) struct Metrics {
    pub connections_active: Gauge,
    pub connections_total: Counter,
    /// Indexed by [`Self::kind`].
    pub messages_received: [Counter; 2],
    pub bytes_received: [Counter; 2],
    pub messages_sent: [Counter; 2],
    pub bytes_sent: [Counter; 2],
    pub ping_rtt: Histogram,
    pub queue_full: Counter,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The handles, registered with the recorder installed at the first call.
pub(crate) fn get() -> &'static Metrics {
    METRICS.get_or_init(|| Metrics {
        connections_active: gauge!("wsx_connections_active"),
        connections_total: counter!("wsx_connections_total"),
        messages_received: [
            counter!("wsx_messages_received_total", "type" => "text"),
            counter!("wsx_messages_received_total", "type" => "binary"),
        ],
        bytes_received: [
            counter!("wsx_bytes_received_total", "type" => "text"),
            counter!("wsx_bytes_received_total", "type" => "binary"),
        ],
        messages_sent: [
            counter!("wsx_messages_sent_total", "type" => "text"),
            counter!("wsx_messages_sent_total", "type" => "binary"),
        ],
        bytes_sent: [
            counter!("wsx_bytes_sent_total", "type" => "text"),
            counter!("wsx_bytes_sent_total", "type" => "binary"),
        ],
        ping_rtt: histogram!("wsx_ping_rtt_seconds"),
        queue_full: counter!("wsx_queue_full_total"),
    })
}

impl Metrics {
    /// The index of a data message's kind in the per-kind arrays.
    pub fn kind(binary: bool) -> usize {
        usize::from(binary)
    }
}

/// A close frame went out (rare: labels built per call).
pub(crate) fn close_sent(code: u16) {
    counter!("wsx_close_codes_sent_total", "code" => code.to_string()).increment(1);
}

/// A close frame came in.
pub(crate) fn close_received(code: u16) {
    counter!("wsx_close_codes_received_total", "code" => code.to_string()).increment(1);
}

/// A server handshake ended: `status` is `None` for success.
pub(crate) fn handshake(status: Option<&str>) {
    match status {
        None => counter!("wsx_handshakes_total", "result" => "ok").increment(1),
        Some(status) => counter!(
            "wsx_handshakes_total",
            "result" => "failed",
            "status" => status.to_owned()
        )
        .increment(1),
    }
}

/// A message or a connection refused by a limit.
pub(crate) fn rate_limited(limit: &'static str) {
    counter!("wsx_rate_limited_total", "limit" => limit).increment(1);
}
