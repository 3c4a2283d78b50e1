//! Rate limiting and connection caps ([`RateLimits`], set in [`crate::Config::rate_limits`]),
//! on `governor`'s GCRA token buckets.
//!
//! Two places enforce them:
//! - **admission**, before a connection costs anything: a global connection cap (`503`) and
//!   per-IP caps on open connections and on handshakes per second (`429`), each answered with
//!   `Retry-After`. They are checked as the TCP connection is accepted, on the socket's
//!   address, before any handshake buffer exists; when the socket's peer is one of
//!   `trusted_proxies`, the client's address is taken from `Forwarded` / `X-Forwarded-For`
//!   once the request head is read, and the per-IP caps apply then.
//! - **per connection**: message and byte rates of what the peer sends. Past them a message
//!   is either dropped (with an `on_error` event, [`crate::Error::RateLimited`]) or the
//!   connection is closed with 1008 (Policy Violation, RFC 6455 §7.4.1), as
//!   [`RateLimits::on_exceeded`] says.
//!
//! The buckets read tokio's clock (`TokioClock`), as the keep-alive timers do: the monotonic
//! clock in a server, and a paused test runtime's virtual clock in tests, so that a test of a
//! rate advances time instead of sleeping through it. A limiter is built only when a limit is
//! configured; without one, no clock is read per message.
#![forbid(unsafe_code)]

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A token-bucket rate: `per_second` on average, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The sustained rate, per second.
    pub per_second: u32,
    /// How many may come at once (the bucket's size); at least 1.
    pub burst: u32,
}

impl Rate {
    /// `n` per second, with bursts of `n`.
    #[must_use]
    pub const fn per_second(n: u32) -> Self {
        Self {
            per_second: n,
            burst: n,
        }
    }

    /// The same rate with bursts of up to `burst`.
    #[must_use]
    pub const fn with_burst(self, burst: u32) -> Self {
        Self { burst, ..self }
    }

    fn quota(self) -> Option<Quota> {
        let rate = NonZeroU32::new(self.per_second)?;
        let burst = NonZeroU32::new(self.burst.max(1))?;
        Some(Quota::per_second(rate).allow_burst(burst))
    }
}

/// What happens to a message past the per-connection rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnRateExceeded {
    /// Close the connection with 1008 (Policy Violation).
    #[default]
    Close,
    /// Drop the message and report [`crate::Error::RateLimited`] to `on_error`; the
    /// connection goes on.
    Drop,
}

/// Rate limits and connection caps of a server (`Config::rate_limits`); everything is off by
/// default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Messages a connection may send, per second. Every data message counts, one dropped
    /// for going past `bytes` too.
    pub messages: Option<Rate>,
    /// Payload bytes a connection may send, per second (a message larger than the burst is
    /// always over the limit).
    pub bytes: Option<Rate>,
    /// What happens past `messages` or `bytes`.
    pub on_exceeded: OnRateExceeded,
    /// Open connections (handshakes in progress included) of the whole server; past it a new
    /// one is answered `503 Service Unavailable`.
    pub max_connections: Option<usize>,
    /// Open connections from one client address; past it `429 Too Many Requests`.
    pub max_connections_per_ip: Option<usize>,
    /// Opening handshakes one client address may start, per second; past it `429`.
    pub handshakes_per_ip: Option<Rate>,
    /// The `Retry-After` sent with `503` and `429`.
    pub retry_after: Duration,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed: for a
    /// connection from one of them, the client address is the last one in those headers that
    /// is not itself a trusted proxy. For anyone else the headers are ignored (a client could
    /// write them).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            messages: None,
            bytes: None,
            on_exceeded: OnRateExceeded::Close,
            max_connections: None,
            max_connections_per_ip: None,
            handshakes_per_ip: None,
            retry_after: Duration::from_secs(1),
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimits {
    /// Whether any admission check is configured.
    pub(crate) fn admits(&self) -> bool {
        self.max_connections.is_some()
            || self.max_connections_per_ip.is_some()
            || self.handshakes_per_ip.is_some()
    }
}

/// `governor`'s clock, read from tokio's: `tokio::time::Instant::now()` is the monotonic
/// `std::time::Instant::now()` unless the runtime's clock is paused (tokio's `test-util`, in
/// tests), and then it is the virtual time that `tokio::time::advance` and auto-advance move.
/// `governor` implements its `Reference` for `std::time::Instant`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioClock;

impl governor::clock::Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        tokio::time::Instant::now().into_std()
    }
}

type Direct = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;
type Keyed =
    RateLimiter<IpAddr, DashMapStateStore<IpAddr>, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// A connection's bucket for `quota`, on tokio's clock.
fn direct(quota: Quota) -> Direct {
    RateLimiter::direct_with_clock(quota, TokioClock)
}

/// Which per-connection limit a message went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// `RateLimits::messages`.
    Messages,
    /// `RateLimits::bytes`.
    Bytes,
}

impl LimitKind {
    /// The name used in metrics and errors.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::Bytes => "bytes",
        }
    }
}

/// A connection's message and byte buckets (only built when a rate is configured).
pub(crate) struct ConnLimiter {
    messages: Option<Direct>,
    bytes: Option<(Direct, NonZeroU32)>,
    pub action: OnRateExceeded,
}

impl ConnLimiter {
    pub fn new(limits: &RateLimits) -> Option<Box<Self>> {
        let messages = limits.messages.and_then(Rate::quota).map(direct);
        let bytes = limits.bytes.and_then(|rate| {
            let burst = NonZeroU32::new(rate.burst.max(1))?;
            Some((direct(rate.quota()?), burst))
        });
        (messages.is_some() || bytes.is_some()).then(|| {
            Box::new(Self {
                messages,
                bytes,
                action: limits.on_exceeded,
            })
        })
    }

    /// Takes a message of `len` payload bytes from the buckets, or says which is empty.
    pub fn admit(&self, len: usize) -> Result<(), LimitKind> {
        if let Some(m) = &self.messages
            && m.check().is_err()
        {
            return Err(LimitKind::Messages);
        }
        if let Some((b, burst)) = &self.bytes {
            let n = u32::try_from(len).unwrap_or(u32::MAX);
            if let Some(n) = NonZeroU32::new(n) {
                if n > *burst {
                    return Err(LimitKind::Bytes);
                }
                if !matches!(b.check_n(n), Ok(Ok(()))) {
                    return Err(LimitKind::Bytes);
                }
            }
        }
        Ok(())
    }
}

/// Why admission refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The global cap: 503.
    Busy,
    /// A per-IP cap or rate: 429.
    TooMany,
}

/// The server's admission state: counts of open connections (total and per client address)
/// and the per-address handshake buckets.
pub(crate) struct Admission {
    limits: RateLimits,
    counts: Mutex<Counts>,
    handshakes: Option<Keyed>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A place taken by one connection; given back when dropped.
pub(crate) struct Slot {
    admission: Arc<Admission>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = counts.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }
}

impl Admission {
    pub fn new(limits: RateLimits) -> Arc<Self> {
        let handshakes = limits
            .handshakes_per_ip
            .and_then(Rate::quota)
            .map(|quota| RateLimiter::dashmap_with_clock(quota, TokioClock));
        Arc::new(Self {
            limits,
            counts: Mutex::new(Counts::default()),
            handshakes,
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `Retry-After` value, in whole seconds (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.limits.retry_after.as_secs().max(1)
    }

    /// The trusted proxies.
    pub fn trusted(&self) -> &[IpAddr] {
        &self.limits.trusted_proxies
    }

    /// Whether `peer` is a trusted proxy (its connections' client address comes from headers).
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.limits.trusted_proxies.contains(&peer)
    }

    /// At TCP accept: the global cap, then (unless `peer` is a trusted proxy, whose clients
    /// are checked by [`Self::admit_client`] once the request is read) the per-IP checks.
    pub fn admit_socket(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        let mut counts = self.counts();
        if self
            .limits
            .max_connections
            .is_some_and(|max| counts.total >= max)
        {
            return Err(Refusal::Busy);
        }
        counts.total += 1;
        let mut slot = Slot {
            admission: self.clone(),
            ip: None,
        };
        drop(counts);
        if !self.trusts(peer) {
            self.admit_client(&mut slot, peer)?;
        }
        Ok(slot)
    }

    /// The per-IP checks for the client at `ip`; on success the slot counts against `ip`.
    pub fn admit_client(&self, slot: &mut Slot, ip: IpAddr) -> Result<(), Refusal> {
        if let Some(limiter) = &self.handshakes
            && limiter.check_key(&ip).is_err()
        {
            return Err(Refusal::TooMany);
        }
        let mut counts = self.counts();
        let open = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if self
            .limits
            .max_connections_per_ip
            .is_some_and(|max| open >= max)
        {
            return Err(Refusal::TooMany);
        }
        if self.limits.max_connections_per_ip.is_some() {
            *counts.per_ip.entry(ip).or_insert(0) += 1;
            slot.ip = Some(ip);
        }
        drop(counts);
        if let Some(limiter) = &self.handshakes {
            // Let the keyed buckets of addresses gone quiet go now and then (bounded memory
            // under a flood of addresses).
            if limiter.len() > 4096 {
                limiter.retain_recent();
            }
        }
        Ok(())
    }
}

/// The client's address behind a trusted proxy: the right-most address in `Forwarded`
/// (RFC 7239 `for=`) or else `X-Forwarded-For` that is not itself a trusted proxy (entries
/// left of it could have been written by the client).
pub(crate) fn forwarded_client(headers: &http::HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let from_forwarded = headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(value.trim()))?
            })
        })
        .collect::<Vec<_>>();
    let list = if from_forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| parse_node(s.trim()))
            .collect()
    } else {
        from_forwarded
    };
    list.into_iter().rev().find(|ip| !trusted.contains(ip))
}

/// An address as `Forwarded` and `X-Forwarded-For` write it: `1.2.3.4`, `1.2.3.4:80`,
/// `"[2001:db8::1]:80"`, `2001:db8::1`.
fn parse_node(value: &str) -> Option<IpAddr> {
    let value = value.trim_matches('"');
    if let Ok(ip) = value.parse() {
        return Some(ip);
    }
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    value.rsplit_once(':')?.0.parse().ok()
}

/// The handshake error an admission refusal is answered with (503 or 429, `Retry-After`),
/// counted in `wsx_rate_limited_total`.
pub(crate) fn refusal_error(refusal: Refusal, retry_after: u64) -> crate::HandshakeError {
    crate::event::metrics::rate_limited(match refusal {
        Refusal::Busy => "connections",
        Refusal::TooMany => "connections_per_ip",
    });
    match refusal {
        Refusal::Busy => crate::HandshakeError::ServerBusy { retry_after },
        Refusal::TooMany => crate::HandshakeError::TooManyRequests { retry_after },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_client_takes_the_rightmost_untrusted_address() {
        // Request headers, and the client address expected.
        type Case = (
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let trusted = [proxy];
        let cases: &[Case] = &[
            (&[("x-forwarded-for", "1.1.1.1, 2.2.2.2")], Some("2.2.2.2")),
            (&[("x-forwarded-for", "1.1.1.1, 10.0.0.1")], Some("1.1.1.1")),
            (
                &[(
                    "forwarded",
                    "for=1.1.1.1;proto=https, for=\"[2001:db8::1]:4711\"",
                )],
                Some("2001:db8::1"),
            ),
            (
                &[("forwarded", "for=3.3.3.3"), ("x-forwarded-for", "4.4.4.4")],
                Some("3.3.3.3"),
            ),
            (&[("x-forwarded-for", "nonsense")], None),
            (&[], None),
        ];
        for (headers, expected) in cases {
            let mut map = http::HeaderMap::new();
            for (name, value) in *headers {
                map.append(
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_static(value),
                );
            }
            let expected = expected.and_then(|e| e.parse::<IpAddr>().ok());
            assert_eq!(forwarded_client(&map, &trusted), expected, "{headers:?}");
        }
    }

    #[test]
    fn per_connection_buckets() {
        let limits = RateLimits {
            messages: Some(Rate::per_second(1).with_burst(3)),
            bytes: Some(Rate::per_second(10).with_burst(100)),
            ..RateLimits::default()
        };
        let Some(limiter) = ConnLimiter::new(&limits) else {
            panic!("a limiter is configured");
        };
        assert_eq!(limiter.admit(10), Ok(()));
        assert_eq!(limiter.admit(500), Err(LimitKind::Bytes));
        // The refused message still counted against the message rate (burst 3).
        assert_eq!(limiter.admit(10), Ok(()));
        assert_eq!(limiter.admit(10), Err(LimitKind::Messages));
        assert!(ConnLimiter::new(&RateLimits::default()).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_refill_on_tokio_clock() {
        // Paused: only `advance` moves the clock the buckets read.
        let limits = RateLimits {
            messages: Some(Rate::per_second(2).with_burst(1)),
            handshakes_per_ip: Some(Rate::per_second(1).with_burst(1)),
            ..RateLimits::default()
        };
        let Some(limiter) = ConnLimiter::new(&limits) else {
            panic!("a limiter is configured");
        };
        let admission = Admission::new(limits);
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(limiter.admit(1), Ok(()));
        assert!(admission.admit_socket(ip).is_ok());
        tokio::time::advance(Duration::from_millis(499)).await;
        assert_eq!(limiter.admit(1), Err(LimitKind::Messages));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.admit(1), Ok(()));
        assert_eq!(admission.admit_socket(ip).err(), Some(Refusal::TooMany));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(admission.admit_socket(ip).is_ok());
    }

    #[test]
    fn admission_caps_and_gives_places_back() {
        let admission = Admission::new(RateLimits {
            max_connections: Some(3),
            max_connections_per_ip: Some(2),
            ..RateLimits::default()
        });
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let s1 = admission.admit_socket(a);
        let s2 = admission.admit_socket(a);
        assert!(s1.is_ok() && s2.is_ok());
        assert_eq!(admission.admit_socket(a).err(), Some(Refusal::TooMany));
        let s3 = admission.admit_socket(b);
        assert!(s3.is_ok());
        assert_eq!(admission.admit_socket(b).err(), Some(Refusal::Busy));
        drop(s1);
        assert!(admission.admit_socket(a).is_ok(), "a place was given back");
    }
}
