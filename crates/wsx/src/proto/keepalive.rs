//! Keep-alive, dead-peer and idle timers as a deterministic state machine: time is an input.
//!
//! The driver tells [`KeepAlive`] what arrived ([`KeepAlive::on_frame`], [`KeepAlive::on_data`],
//! [`KeepAlive::on_pong`]), asks when it next needs to be woken ([`KeepAlive::poll_timeout`]),
//! and when that moment comes calls [`KeepAlive::handle_timeout`] with the current time until it
//! has nothing more to say. The shape is quinn-proto's `handle_timeout(now)` /
//! `poll_timeout()`: no clock is read here, so the rules are tested with made-up instants in
//! microseconds, and a driver on a paused tokio clock behaves exactly like one on the wall
//! clock.
//!
//! The rules:
//! - RFC 6455 §5.5.2: a ping goes out every `ping_interval` (zero: never).
//! - The peer is dead when `pong_timeout` passes after a keep-alive ping with nothing at all
//!   heard from it since (a pong, a data frame, anything: a busy peer whose pong is queued behind
//!   a large message is alive). The deadline runs from the first unanswered ping: later pings
//!   do not push it back.
//! - The connection is idle when no *data* message arrives for `idle_timeout` (zero: never);
//!   control frames do not count, so a peer that only answers pings still goes idle.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

/// What a passed deadline calls for, in the order [`KeepAlive::handle_timeout`] reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// A keep-alive ping went unanswered for `pong_timeout` and nothing else came: fail the
    /// connection ([`super::Protocol::fail`]; the event API fails it with 1011, makes one
    /// attempt to write that close frame without waiting for the dead peer, and reports 1006,
    /// since no close frame was received).
    PeerDead,
    /// Send a keep-alive ping now (RFC 6455 §5.5.2; an empty payload is enough).
    SendPing,
    /// No data message for `idle_timeout`: close the connection (the event API sends 1001).
    Idle,
}

/// The keep-alive and idle timers of one connection. Zero durations switch a timer off.
#[derive(Debug, Clone)]
pub struct KeepAlive {
    ping_interval: Duration,
    pong_timeout: Duration,
    idle_timeout: Duration,
    next_ping: Option<Instant>,
    /// When the last keep-alive ping went out, until its pong (the round-trip time).
    ping_sent: Option<Instant>,
    /// When the outstanding ping must have been answered (by any frame).
    pong_deadline: Option<Instant>,
    idle_deadline: Option<Instant>,
    /// Something arrived since the outstanding ping went out.
    heard: bool,
}

impl KeepAlive {
    /// Timers for a connection opened at `now`.
    #[must_use]
    pub fn new(
        now: Instant,
        ping_interval: Duration,
        pong_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        let after = |d: Duration| (!d.is_zero()).then(|| now + d);
        Self {
            ping_interval,
            pong_timeout,
            idle_timeout,
            next_ping: after(ping_interval),
            ping_sent: None,
            pong_deadline: None,
            idle_deadline: after(idle_timeout),
            heard: false,
        }
    }

    /// The next moment [`Self::handle_timeout`] must be called, or `None` when every timer is
    /// off (or has fired for good).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_ping, self.pong_deadline, self.idle_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Any frame arrived (data or control, a close included): the peer is alive.
    #[inline]
    pub fn on_frame(&mut self) {
        self.heard = true;
    }

    /// A data message arrived: the peer is alive and the connection is not idle. `now` is
    /// asked for only when an idle timeout is set (reading the clock per message costs more
    /// than the rest of this).
    #[inline]
    pub fn on_data(&mut self, now: impl FnOnce() -> Instant) {
        self.heard = true;
        if let Some(deadline) = self.idle_deadline.as_mut() {
            *deadline = now() + self.idle_timeout;
        }
    }

    /// A pong arrived at `now`: the round-trip time of the last keep-alive ping, if one was
    /// waiting for it (a pong the application's own ping asked for is counted once at most).
    pub fn on_pong(&mut self, now: Instant) -> Option<Duration> {
        self.heard = true;
        self.ping_sent
            .take()
            .map(|sent| now.saturating_duration_since(sent))
    }

    /// Advances the timers to `now` and returns the first thing that is due, if any. Call it
    /// again until it returns `None`: a ping and an idle close can fall due together. After
    /// [`Timeout::PeerDead`] the connection is over and the timers say nothing more.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Timeout> {
        if let Some(deadline) = self.pong_deadline
            && now >= deadline
        {
            if !self.heard {
                self.next_ping = None;
                self.pong_deadline = None;
                self.idle_deadline = None;
                return Some(Timeout::PeerDead);
            }
            self.pong_deadline = None;
        }
        if let Some(at) = self.next_ping
            && now >= at
        {
            self.ping_sent = Some(now);
            if self.pong_deadline.is_none() {
                self.heard = false;
                self.pong_deadline = Some(now + self.pong_timeout);
            }
            self.next_ping = Some(now + self.ping_interval);
            return Some(Timeout::SendPing);
        }
        if let Some(at) = self.idle_deadline
            && now >= at
        {
            self.idle_deadline = None;
            return Some(Timeout::Idle);
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{KeepAlive, Timeout};
    use std::time::{Duration, Instant};

    const MS: Duration = Duration::from_millis(1);

    /// Everything due at `now`, in order.
    fn due(k: &mut KeepAlive, now: Instant) -> Vec<Timeout> {
        std::iter::from_fn(|| k.handle_timeout(now)).collect()
    }

    #[test]
    fn all_timers_off_never_wake() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(t0, Duration::ZERO, Duration::ZERO, Duration::ZERO);
        assert_eq!(k.poll_timeout(), None);
        assert_eq!(due(&mut k, t0 + 1_000_000 * MS), []);
    }

    #[test]
    fn pings_every_interval_while_the_peer_answers() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(t0, 100 * MS, 200 * MS, Duration::ZERO);
        assert_eq!(k.poll_timeout(), Some(t0 + 100 * MS));
        // Woken early: nothing to do.
        assert_eq!(due(&mut k, t0 + 99 * MS), []);
        for i in 1..=5u32 {
            let now = t0 + 100 * i * MS;
            assert_eq!(due(&mut k, now), [Timeout::SendPing], "ping {i}");
            assert_eq!(k.on_pong(now + 10 * MS), Some(10 * MS), "rtt of ping {i}");
        }
    }

    #[test]
    fn a_silent_peer_is_dead_pong_timeout_after_the_first_unanswered_ping() {
        // pong_timeout longer than ping_interval: a second ping goes out, the deadline stays.
        let t0 = Instant::now();
        let mut k = KeepAlive::new(t0, 200 * MS, 300 * MS, Duration::ZERO);
        assert_eq!(due(&mut k, t0 + 200 * MS), [Timeout::SendPing]);
        assert_eq!(k.poll_timeout(), Some(t0 + 400 * MS));
        assert_eq!(due(&mut k, t0 + 400 * MS), [Timeout::SendPing]);
        assert_eq!(
            k.poll_timeout(),
            Some(t0 + 500 * MS),
            "deadline of the first ping"
        );
        assert_eq!(due(&mut k, t0 + 500 * MS), [Timeout::PeerDead]);
        assert_eq!(k.poll_timeout(), None, "nothing after death");
        assert_eq!(due(&mut k, t0 + 10_000 * MS), []);
    }

    #[test]
    fn a_silent_peer_is_dead_when_pong_timeout_is_below_ping_interval() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(t0, 300 * MS, 200 * MS, Duration::ZERO);
        assert_eq!(due(&mut k, t0 + 300 * MS), [Timeout::SendPing]);
        assert_eq!(k.poll_timeout(), Some(t0 + 500 * MS));
        assert_eq!(due(&mut k, t0 + 500 * MS), [Timeout::PeerDead]);
    }

    #[test]
    fn any_frame_counts_as_an_answer() {
        // A busy peer's pong may be queued behind a large message: the message proves it alive.
        let t0 = Instant::now();
        let mut k = KeepAlive::new(t0, 100 * MS, 50 * MS, Duration::ZERO);
        assert_eq!(due(&mut k, t0 + 100 * MS), [Timeout::SendPing]);
        k.on_frame();
        assert_eq!(due(&mut k, t0 + 150 * MS), []);
        assert_eq!(due(&mut k, t0 + 200 * MS), [Timeout::SendPing]);
        k.on_data(|| unreachable!("no idle timeout: the clock is not read"));
        assert_eq!(due(&mut k, t0 + 250 * MS), []);
        // Then silence: dead at the next deadline.
        assert_eq!(due(&mut k, t0 + 300 * MS), [Timeout::SendPing]);
        assert_eq!(due(&mut k, t0 + 350 * MS), [Timeout::PeerDead]);
    }

    #[test]
    fn idle_counts_data_only_and_fires_once() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(t0, Duration::ZERO, Duration::ZERO, 100 * MS);
        assert_eq!(k.poll_timeout(), Some(t0 + 100 * MS));
        k.on_data(|| t0 + 60 * MS);
        assert_eq!(
            k.poll_timeout(),
            Some(t0 + 160 * MS),
            "data pushes the deadline"
        );
        k.on_frame();
        assert_eq!(
            k.on_pong(t0 + 70 * MS),
            None,
            "no keep-alive ping was waiting"
        );
        assert_eq!(
            k.poll_timeout(),
            Some(t0 + 160 * MS),
            "control frames do not"
        );
        assert_eq!(due(&mut k, t0 + 159 * MS), []);
        assert_eq!(due(&mut k, t0 + 160 * MS), [Timeout::Idle]);
        assert_eq!(k.poll_timeout(), None);
        assert_eq!(due(&mut k, t0 + 1_000 * MS), []);
    }

    #[test]
    fn a_ping_and_an_idle_close_due_together_are_both_reported() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(t0, 100 * MS, 100 * MS, 100 * MS);
        assert_eq!(
            due(&mut k, t0 + 100 * MS),
            [Timeout::SendPing, Timeout::Idle]
        );
    }

    #[test]
    fn a_late_wake_up_reports_what_is_due_once() {
        // The driver was starved for a long time: one ping, not one per missed interval.
        let t0 = Instant::now();
        let mut k = KeepAlive::new(t0, 100 * MS, 1_000 * MS, Duration::ZERO);
        assert_eq!(due(&mut k, t0 + 950 * MS), [Timeout::SendPing]);
        assert_eq!(k.poll_timeout(), Some(t0 + 1_050 * MS));
    }
}
