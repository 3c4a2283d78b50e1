//! The reconnection delays: exponential backoff with jitter, as socket.io-client's `Backoff`
//! (the `backo2` algorithm): attempt `n` (from 0) waits `min * 2^n`, moved by a random
//! deviation of up to `jitter` times itself (down or up, at random), capped at `max`.

use std::time::Duration;

/// Exponential backoff state: the attempt count and the parameters.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    jitter: f64,
    attempts: u32,
}

impl Backoff {
    /// Starts at `min`, never waits longer than `max`; `jitter` in `[0, 1]` (clamped).
    pub fn new(min: Duration, max: Duration, jitter: f64) -> Self {
        Self {
            min,
            max,
            jitter: if jitter.is_finite() {
                jitter.clamp(0.0, 1.0)
            } else {
                0.0
            },
            attempts: 0,
        }
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The next delay, with `random` in `[0, 1)` choosing the deviation and its sign.
    pub fn next_with(&mut self, random: f64) -> Duration {
        let base =
            self.min.as_secs_f64() * 2f64.powi(i32::try_from(self.attempts).unwrap_or(i32::MAX));
        self.attempts = self.attempts.saturating_add(1);
        let mut secs = base;
        if self.jitter > 0.0 {
            let deviation = random * self.jitter * base;
            // backo2: the tenths digit of the same random number picks the sign.
            secs = if ((random * 10.0) as u32) & 1 == 0 {
                base - deviation
            } else {
                base + deviation
            };
        }
        let max = self.max.as_secs_f64();
        if !secs.is_finite() || secs > max {
            return self.max;
        }
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The next delay, with a random deviation.
    pub fn next(&mut self) -> Duration {
        self.next_with(random_unit())
    }

    /// Back to the first delay (after a successful reconnection).
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// A random number in `[0, 1)` (53 random bits); 0.5 if the system has no randomness.
fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    let bits = if getrandom::fill(&mut bytes).is_ok() {
        u64::from_le_bytes(bytes) >> 11
    } else {
        1 << 52
    };
    #[allow(clippy::cast_precision_loss)] // 53 bits: exact in an f64.
    let value = bits as f64;
    value / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_without_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 0.0);
        let got: Vec<u128> = (0..6).map(|_| b.next_with(0.3).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert_eq!(b.next_with(0.9).as_millis(), 100);
    }

    #[test]
    fn jitter_moves_each_delay_by_up_to_its_fraction() {
        let mut b = Backoff::new(Duration::from_millis(1000), Duration::from_secs(60), 0.5);
        // 0.25: tenths digit 2 (even) -> down by 0.25 * 0.5 * 1000.
        assert_eq!(b.next_with(0.25).as_millis(), 875);
        // 0.35: tenths digit 3 (odd) -> up by 0.35 * 0.5 * 2000.
        assert_eq!(b.next_with(0.35).as_millis(), 2350);
        for _ in 0..100 {
            let mut b = Backoff::new(Duration::from_millis(1000), Duration::from_secs(5), 0.5);
            let first = b.next();
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(1500));
        }
        let mut huge = Backoff::new(Duration::from_secs(1), Duration::from_secs(5), 0.5);
        for _ in 0..2000 {
            assert!(huge.next() <= Duration::from_secs(5));
        }
    }
}
