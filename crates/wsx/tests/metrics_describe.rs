//! `wsx::metrics::describe` makes a fresh server's first scrape list every wsx metric family,
//! with its `# HELP` and `# TYPE` and a zero value, before any connection: checked with the
//! Prometheus exporter `wsx serve` uses, rendering right after `describe`. (Its own test binary:
//! the recorder is global.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use metrics_exporter_prometheus::PrometheusBuilder;

/// The families of `wsx::metrics`' table with the type the exporter renders (a histogram is a
/// summary unless buckets are configured) and one series registered at zero.
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "wsx_connections_active",
        "gauge",
        "wsx_connections_active 0",
    ),
    (
        "wsx_connections_total",
        "counter",
        "wsx_connections_total 0",
    ),
    (
        "wsx_handshakes_total",
        "counter",
        "wsx_handshakes_total{result=\"ok\"} 0",
    ),
    (
        "wsx_messages_received_total",
        "counter",
        "wsx_messages_received_total{type=\"text\"} 0",
    ),
    (
        "wsx_bytes_received_total",
        "counter",
        "wsx_bytes_received_total{type=\"binary\"} 0",
    ),
    (
        "wsx_messages_sent_total",
        "counter",
        "wsx_messages_sent_total{type=\"binary\"} 0",
    ),
    (
        "wsx_bytes_sent_total",
        "counter",
        "wsx_bytes_sent_total{type=\"text\"} 0",
    ),
    (
        "wsx_close_codes_received_total",
        "counter",
        "wsx_close_codes_received_total{code=\"1000\"} 0",
    ),
    (
        "wsx_close_codes_sent_total",
        "counter",
        "wsx_close_codes_sent_total{code=\"1000\"} 0",
    ),
    (
        "wsx_ping_rtt_seconds",
        "summary",
        "wsx_ping_rtt_seconds_count 0",
    ),
    ("wsx_queue_full_total", "counter", "wsx_queue_full_total 0"),
    (
        "wsx_rate_limited_total",
        "counter",
        "wsx_rate_limited_total{limit=\"connections_per_ip\"} 0",
    ),
];

#[test]
fn describe_lists_every_family_at_zero_before_any_connection() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    let before = handle.render();
    assert!(
        !before.contains("wsx_"),
        "nothing is registered before describe: {before}"
    );
    wsx::metrics::describe();
    let scrape = handle.render();
    for (name, kind, zero) in FAMILIES {
        assert!(
            scrape.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{scrape}"
        );
        assert!(
            scrape.contains(&format!("# TYPE {name} {kind}\n")),
            "no TYPE {kind} for {name}:\n{scrape}"
        );
        assert!(
            scrape.lines().any(|line| line == *zero),
            "no `{zero}`:\n{scrape}"
        );
    }
    // Nothing is reset by a second call.
    metrics::counter!("wsx_connections_total").increment(2);
    wsx::metrics::describe();
    assert!(
        handle
            .render()
            .lines()
            .any(|l| l == "wsx_connections_total 2"),
        "describe changed a value"
    );
}
