//! The limiter's clock: microseconds since the Unix epoch, read off a request's arrival
//! `Instant`. A wall-clock reading taken at start and every second after maps the monotonic
//! clock to Unix time, so a request reads no clock of its own and a step of the system clock
//! reaches the limiter within a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

pub struct Clock {
    base: Instant,
    /// Unix time in microseconds at `base`, by the latest wall-clock reading.
    base_unix_us: AtomicU64,
}

impl Clock {
    pub fn new() -> Self {
        let clock = Clock {
            base: Instant::now(),
            base_unix_us: AtomicU64::new(0),
        };
        clock.calibrate();
        clock
    }

    /// Maps the monotonic clock to Unix time again, from a fresh wall-clock reading.
    pub fn calibrate(&self) {
        let since_base = self.base.elapsed().as_micros() as u64;
        let base_unix_us = unix_now().saturating_sub(since_base);
        self.base_unix_us.store(base_unix_us, Ordering::Relaxed);
    }

    /// Returns the Unix time of `instant` in microseconds.
    pub fn unix_us(&self, instant: Instant) -> u64 {
        let since_base = instant.saturating_duration_since(self.base).as_micros() as u64;
        self.base_unix_us.load(Ordering::Relaxed) + since_base
    }

    /// Returns the Unix time now in microseconds.
    pub fn now(&self) -> u64 {
        self.unix_us(Instant::now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// Returns microseconds since the Unix epoch, read from the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() * 1_000_000 + u64::from(elapsed.subsec_micros()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clock_follows_wall_clock() {
        let clock = Clock::new();
        let difference = clock.now().abs_diff(unix_now());
        assert!(difference < 50_000, "{difference} µs apart");
    }

    #[test]
    fn later_instant_later_time() {
        let clock = Clock::new();
        let now = Instant::now();
        let later = now + Duration::from_millis(1500);
        assert_eq!(clock.unix_us(later) - clock.unix_us(now), 1_500_000);
    }
}
