//! What each connection measured ([`ConnStats`]: its round trips, errors by kind) and the
//! run's results they are merged into ([`RunStats`]: one HDR histogram).

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// The kinds of error the summary counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The TCP connect failed or timed out.
    Connect,
    /// The opening handshake failed (refused, malformed, timed out).
    Handshake,
    /// A transport error during the load (reset, broken pipe...).
    Io,
    /// The server ended the connection during the load (close frame or end of stream).
    ServerClosed,
    /// The server broke RFC 6455 (masked frame, reserved bits, bad fragmentation).
    Protocol,
    /// The echo had the wrong opcode or length.
    WrongEcho,
    /// No echo arrived within the grace period after the end.
    Stuck,
    /// The closing handshake at the end did not complete.
    Close,
}

impl Kind {
    /// The name used in the summary and the JSON object.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Handshake => "handshake",
            Self::Io => "io",
            Self::ServerClosed => "server_closed",
            Self::Protocol => "protocol",
            Self::WrongEcho => "wrong_echo",
            Self::Stuck => "stuck",
            Self::Close => "close",
        }
    }
}

/// Errors counted by kind, with the first one's description.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    counts: BTreeMap<Kind, u64>,
    first: Option<String>,
}

impl Errors {
    /// Counts one error.
    pub fn add(&mut self, kind: Kind, detail: impl std::fmt::Display) {
        *self.counts.entry(kind).or_insert(0) += 1;
        if self.first.is_none() {
            self.first = Some(format!("{}: {detail}", kind.name()));
        }
    }

    /// Adds another set of counts (the first error stays ours if we have one).
    pub fn merge(&mut self, other: Errors) {
        for (kind, n) in other.counts {
            *self.counts.entry(kind).or_insert(0) += n;
        }
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// `(name, count)` in a fixed order.
    pub fn by_kind(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts.iter().map(|(k, n)| (k.name(), *n))
    }

    /// The first error, described.
    pub fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }
}

/// Nanoseconds: 1 ns to 60 s at 3 significant digits (0.1 % resolution).
const HIST_MAX_NS: u64 = 60_000_000_000;

/// A new, empty round-trip histogram.
pub fn new_histogram() -> Histogram<u64> {
    // Cannot fail: the bounds are constants within hdrhistogram's rules (low >= 1,
    // high >= 2 * low, 0..=5 significant digits).
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).unwrap_or_else(|_| unreachable!())
}

/// What one connection measured: its round trips inside the measured window, in
/// nanoseconds, and its errors; the run merges them into one histogram at the end
/// ([`RunStats::merge`]).
///
/// A list rather than an HDR histogram per connection: a histogram of 1 ns to 60 s at 3
/// digits is about 200 KB, 2 GB for 10,000 connections, allocated and zeroed as the load
/// starts (on one thread that took seconds in which no socket was read). The list costs 8
/// bytes per round trip, and nothing for a connection that measures none.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Round trips completed inside the measured window, in nanoseconds.
    pub round_trips: Vec<u64>,
    /// Errors met.
    pub errors: Errors,
}

impl ConnStats {
    /// Records one round trip that completed inside the measured window.
    pub fn record(&mut self, round_trip: Duration) {
        self.round_trips
            .push(u64::try_from(round_trip.as_nanos()).unwrap_or(u64::MAX));
    }
}

/// What the whole run measured: every connection's results merged.
#[derive(Debug)]
pub struct RunStats {
    /// Round trips completed inside the measured window, in nanoseconds.
    pub hist: Histogram<u64>,
    /// Messages echoed inside the measured window.
    pub messages: u64,
    /// Errors met.
    pub errors: Errors,
}

impl Default for RunStats {
    fn default() -> Self {
        Self {
            hist: new_histogram(),
            messages: 0,
            errors: Errors::default(),
        }
    }
}

impl RunStats {
    /// Records one round trip that completed inside the measured window.
    pub fn record_ns(&mut self, ns: u64) {
        self.messages += 1;
        self.hist.saturating_record(ns.clamp(1, HIST_MAX_NS));
    }

    /// Adds one connection's results.
    pub fn merge(&mut self, conn: ConnStats) {
        for ns in conn.round_trips {
            self.record_ns(ns);
        }
        self.errors.merge(conn.errors);
    }
}

/// Round-trip percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// From a histogram in nanoseconds (all zero when it is empty).
    pub fn of(hist: &Histogram<u64>) -> Self {
        if hist.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Self {
            p50: us(hist.value_at_quantile(0.50)),
            p90: us(hist.value_at_quantile(0.90)),
            p99: us(hist.value_at_quantile(0.99)),
            max: us(hist.max()),
            mean: hist.mean() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_stats_add_up() {
        let mut a = ConnStats::default();
        let mut b = ConnStats::default();
        for us in 1..=100u64 {
            a.record(Duration::from_micros(us));
        }
        b.record(Duration::from_secs(3600)); // clamped to the histogram's top
        b.errors.add(Kind::Stuck, "no echo");
        a.errors.add(Kind::Io, "reset");
        a.errors.add(Kind::Io, "reset again");
        let mut total = RunStats::default();
        total.merge(a);
        total.merge(b);
        let a = total;
        assert_eq!(a.messages, 101);
        assert_eq!(a.errors.total(), 3);
        assert_eq!(a.errors.first(), Some("io: reset"));
        let kinds: Vec<_> = a.errors.by_kind().collect();
        assert_eq!(kinds, vec![("io", 2), ("stuck", 1)]);
        let lat = Latency::of(&a.hist);
        assert!((lat.p50 - 51.0).abs() < 0.5, "p50 {}", lat.p50);
        assert!((lat.p90 - 91.0).abs() < 0.5, "p90 {}", lat.p90);
        assert!(lat.max >= 59_000_000.0, "max {}", lat.max);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        assert_eq!(Latency::of(&new_histogram()), Latency::default());
    }
}
