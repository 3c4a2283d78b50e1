//! The server's heartbeat (engine.io-protocol v4, "Heartbeat"): the server sends a ping every
//! `pingInterval`, and the client must answer with a pong within `pingTimeout`, else the
//! session is closed with the reason "ping timeout".
//!
//! Sans-I/O: the driver asks [`Heartbeat::deadline`], sleeps until then, and calls
//! [`Heartbeat::on_timeout`]; it reports pongs with [`Heartbeat::on_pong`]. Tested on a virtual
//! clock.

use std::time::{Duration, Instant};

/// What the driver must do when the deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send a ping packet `2`.
    SendPing,
    /// The pong is late: close the session ("ping timeout").
    TimedOut,
    /// Nothing (the deadline moved).
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The next ping goes out at this instant.
    Ping(Instant),
    /// A ping went out; its pong is due by this instant.
    Pong(Instant),
}

/// The heartbeat state of one session.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    wait: Wait,
}

impl Heartbeat {
    /// A heartbeat whose first ping is due `interval` after `now` (not at once: the open packet
    /// told the client when to expect it).
    #[must_use]
    pub fn new(now: Instant, interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            wait: Wait::Ping(now + interval),
        }
    }

    /// When [`Self::on_timeout`] must be called next.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        match self.wait {
            Wait::Ping(at) | Wait::Pong(at) => at,
        }
    }

    /// When the pong of the ping that is out is due (`None` while no ping is out).
    #[must_use]
    pub fn pong_deadline(&self) -> Option<Instant> {
        match self.wait {
            Wait::Pong(at) => Some(at),
            Wait::Ping(_) => None,
        }
    }

    /// Whether a ping is out and its pong not yet received.
    #[must_use]
    pub fn awaiting_pong(&self) -> bool {
        matches!(self.wait, Wait::Pong(_))
    }

    /// Advances the clock to `now`.
    pub fn on_timeout(&mut self, now: Instant) -> Action {
        if now < self.deadline() {
            return Action::Nothing;
        }
        match self.wait {
            Wait::Ping(due) => {
                // The pong is due `timeout` after the ping was due, not after a late timer
                // sent it: the client was told when the session dies (pingInterval +
                // pingTimeout), and a busy server must not stretch that. A very late timer
                // still leaves the client half the timeout to answer.
                self.wait = Wait::Pong((due + self.timeout).max(now + self.timeout / 2));
                Action::SendPing
            }
            Wait::Pong(_) => Action::TimedOut,
        }
    }

    /// A pong arrived: the next ping is due `interval` from now. A pong nobody asked for
    /// changes nothing.
    pub fn on_pong(&mut self, now: Instant) {
        if self.awaiting_pong() {
            self.wait = Wait::Ping(now + self.interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_ping_after_the_interval_then_every_interval_after_a_pong() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, 25 * SEC, 20 * SEC);
        assert_eq!(hb.on_timeout(t0), Action::Nothing, "no ping at once");
        assert_eq!(hb.deadline(), t0 + 25 * SEC);
        assert_eq!(hb.on_timeout(t0 + 25 * SEC), Action::SendPing);
        assert_eq!(hb.deadline(), t0 + 45 * SEC);
        hb.on_pong(t0 + 26 * SEC);
        assert_eq!(hb.deadline(), t0 + 51 * SEC);
        assert_eq!(hb.on_timeout(t0 + 40 * SEC), Action::Nothing);
        assert_eq!(hb.on_timeout(t0 + 51 * SEC), Action::SendPing);
    }

    #[test]
    fn late_pong_times_out() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, 2 * SEC, 2 * SEC);
        assert_eq!(hb.on_timeout(t0 + 2 * SEC), Action::SendPing);
        assert_eq!(hb.on_timeout(t0 + 3 * SEC), Action::Nothing);
        assert_eq!(hb.on_timeout(t0 + 4 * SEC), Action::TimedOut);
    }

    #[test]
    fn a_late_timer_does_not_stretch_the_pong_deadline() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, 300 * MS, 200 * MS);
        assert_eq!(hb.on_timeout(t0 + 310 * MS), Action::SendPing);
        assert_eq!(hb.pong_deadline(), Some(t0 + 500 * MS));
        let mut hb = Heartbeat::new(t0, 300 * MS, 200 * MS);
        assert_eq!(hb.on_timeout(t0 + 450 * MS), Action::SendPing);
        assert_eq!(
            hb.pong_deadline(),
            Some(t0 + 550 * MS),
            "half the timeout at least"
        );
        hb.on_pong(t0 + 460 * MS);
        assert_eq!(hb.pong_deadline(), None);
    }

    #[test]
    fn unsolicited_pong_is_ignored() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(t0, 2 * SEC, 2 * SEC);
        hb.on_pong(t0 + SEC);
        assert_eq!(hb.deadline(), t0 + 2 * SEC);
    }
}
