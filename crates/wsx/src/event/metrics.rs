//! Metrics through the [`metrics`] facade: the application installs the recorder it wants
//! (Prometheus, StatsD...; `wsx serve` uses `metrics-exporter-prometheus`), and with none
//! installed every update is a no-op. Install the recorder before creating the first
//! [`crate::Server`] or [`crate::Client`]: the handles of the per-message metrics are
//! registered once, at that point. Then call [`describe`]: it gives every metric its help text
//! and unit and registers the families at zero, so the first scrape of a fresh server lists them
//! all (a Prometheus exporter renders only what was registered: without it, `/metrics` stays
//! empty until the first connection).
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

use metrics::{
    Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};
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

/// Describes every metric of the table above to the installed recorder (its `# HELP` text and
/// unit) and registers each family at zero: the unlabelled ones, the per-`type` ones for both
/// types, `wsx_handshakes_total{result="ok"}`, `wsx_close_codes_*{code="1000"}` and
/// `wsx_rate_limited_total` for every limit. Call it once, after installing the recorder and
/// before serving; it changes no value (calling it later, or twice, is harmless).
///
/// ```no_run
/// // e.g. with metrics-exporter-prometheus:
/// // let handle = PrometheusBuilder::new().install_recorder()?;
/// wsx::metrics::describe();
/// // handle.render() now lists every wsx family, at zero.
/// ```
pub fn describe() {
    describe_gauge!("wsx_connections_active", "Open connections (event API).");
    describe_counter!("wsx_connections_total", "Connections opened.");
    describe_counter!(
        "wsx_handshakes_total",
        "Server handshakes by result (ok, failed); failed ones by the HTTP status answered \
         (timeout when none)."
    );
    describe_counter!(
        "wsx_messages_received_total",
        "Data messages received, by type (text, binary)."
    );
    describe_counter!(
        "wsx_bytes_received_total",
        Unit::Bytes,
        "Payload bytes of the data messages received, by type."
    );
    describe_counter!(
        "wsx_messages_sent_total",
        "Data messages queued for sending, by type (a broadcast counts once per connection)."
    );
    describe_counter!(
        "wsx_bytes_sent_total",
        Unit::Bytes,
        "Payload bytes of the data messages queued for sending, by type."
    );
    describe_counter!(
        "wsx_close_codes_received_total",
        "Close frames received, by close code."
    );
    describe_counter!(
        "wsx_close_codes_sent_total",
        "Close frames sent by close(), timers and failures, by close code."
    );
    describe_histogram!(
        "wsx_ping_rtt_seconds",
        Unit::Seconds,
        "Keep-alive ping to its pong."
    );
    describe_counter!(
        "wsx_queue_full_total",
        "Writes refused with Error::QueueFull."
    );
    describe_counter!(
        "wsx_rate_limited_total",
        "Messages or connections refused by a rate limit or cap, by limit."
    );
    // Registered at zero (an increment of 0 registers a series without changing it).
    let _ = get();
    counter!("wsx_handshakes_total", "result" => "ok").increment(0);
    counter!("wsx_close_codes_received_total", "code" => "1000").increment(0);
    counter!("wsx_close_codes_sent_total", "code" => "1000").increment(0);
    for limit in ["messages", "bytes", "connections", "connections_per_ip"] {
        counter!("wsx_rate_limited_total", "limit" => limit).increment(0);
    }
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
