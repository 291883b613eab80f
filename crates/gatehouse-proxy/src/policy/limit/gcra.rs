//! The arithmetic of rate limits (GCRA) and calendar quotas, shared by the local and the
//! Redis store. Times are microseconds since the Unix epoch.
//!
//! A rate limit of `limit` per `per` with `burst` has an emission interval
//! `per / limit`. It lets a request through while its theoretical arrival time (TAT) is at
//! most `(burst - 1)` intervals ahead of now. So `burst` requests pass at once, and at most
//! `burst + limit` pass in any window of length `per`.

/// The decision of one limit about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still allowed after this one (0 when rejected).
    pub remaining: u64,
    /// Microseconds until the limit is fully available again (rate) or the window ends (quota).
    pub reset_us: u64,
    /// Microseconds until a rejected request could pass.
    pub retry_after_us: u64,
    /// The stored value to write when every limit allows the request. A rejected rate limit
    /// whose stored TAT is past the cap of its current settings gives the capped TAT, which
    /// the store writes back even though the request is rejected (see `lowers`).
    pub next_value: u64,
    /// Absolute expiry of the stored value, in microseconds since the epoch.
    pub expires_us: u64,
}

/// Evaluates a rate limit against its stored TAT (0 when absent).
pub fn rate(stored_tat: u64, now: u64, interval_us: u64, burst: u64) -> Decision {
    let tolerance = interval_us.saturating_mul(burst.saturating_sub(1));
    let tat = stored_tat.max(now).min(max_tat(now, interval_us, burst));
    let ahead = tat - now;
    if ahead > tolerance {
        return Decision {
            allowed: false,
            remaining: 0,
            reset_us: ahead,
            retry_after_us: ahead - tolerance,
            next_value: tat,
            expires_us: tat,
        };
    }
    let next = tat + interval_us;
    let used = (next - now).div_ceil(interval_us.max(1));
    Decision {
        allowed: true,
        remaining: burst.saturating_sub(used),
        reset_us: next - now,
        retry_after_us: 0,
        next_value: next,
        expires_us: next,
    }
}

impl Decision {
    /// Returns true when a rejected request's decision lowers the stored value: a TAT
    /// stored under a longer period, capped to the current settings. The cap moves with
    /// the clock, so unless it is written once, the client waits out the old period.
    pub fn lowers(&self, stored: u64) -> bool {
        !self.allowed && self.next_value < stored
    }
}

/// Evaluates a quota against its stored count in the window that ends at `window_end_us`.
pub fn quota(count: u64, now: u64, limit: u64, window_end_us: u64) -> Decision {
    let reset_us = window_end_us.saturating_sub(now);
    if count >= limit {
        return Decision {
            allowed: false,
            remaining: 0,
            reset_us,
            retry_after_us: reset_us,
            next_value: count,
            expires_us: window_end_us,
        };
    }
    Decision {
        allowed: true,
        remaining: limit - count - 1,
        reset_us,
        retry_after_us: 0,
        next_value: count + 1,
        expires_us: window_end_us,
    }
}

/// Returns the latest TAT the limit can reach, `burst` intervals ahead of now. A TAT stored
/// under an earlier configuration is capped to it, so clients never wait for an old period.
pub fn max_tat(now: u64, interval_us: u64, burst: u64) -> u64 {
    now.saturating_add(interval_us.saturating_mul(burst))
}

/// Returns the requests that the stored TAT represents and the microseconds until the limit
/// is fully available again, for usage reports.
pub fn rate_usage(stored_tat: u64, now: u64, interval_us: u64, burst: u64) -> (u64, u64) {
    let ahead = stored_tat
        .min(max_tat(now, interval_us, burst))
        .saturating_sub(now);
    (ahead.div_ceil(interval_us.max(1)), ahead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_passes_then_one_per_interval() {
        let (interval, burst) = (100, 3);
        let mut tat = 0;
        let mut passed = 0;
        for _ in 0..5 {
            let decision = rate(tat, 1_000, interval, burst);
            if decision.allowed {
                tat = decision.next_value;
                passed += 1;
            }
        }
        assert_eq!(passed, 3);
        let later = rate(tat, 1_100, interval, burst);
        assert!(later.allowed);
        assert_eq!(later.remaining, 0);
    }

    #[test]
    fn any_window_admits_at_most_limit_plus_burst() {
        let (limit, per_us, burst) = (10u64, 1_000_000u64, 10u64);
        let interval = per_us / limit;
        let mut tat = 0;
        let mut admitted = Vec::new();
        for step in 0..4_000u64 {
            let now = 5_000_000 + step * 1_000;
            let decision = rate(tat, now, interval, burst);
            if decision.allowed {
                tat = decision.next_value;
                admitted.push(now);
            }
        }
        for (index, start) in admitted.iter().enumerate() {
            let in_window = admitted[index..]
                .iter()
                .take_while(|time| **time < start + per_us)
                .count() as u64;
            assert!(in_window <= limit + burst, "{in_window} in one window");
        }
    }

    #[test]
    fn tat_from_longer_period_is_capped() {
        // A TAT an hour ahead, stored while the limit was 2 per hour, met by 2 per 10 s.
        let (now, hour_interval) = (1_000_000_000, 1_800_000_000);
        let stored = now + 2 * hour_interval;
        let decision = rate(stored, now, 5_000_000, 2);
        assert!(!decision.allowed);
        assert_eq!(decision.retry_after_us, 5_000_000);
        assert_eq!(decision.reset_us, 10_000_000);
        assert!(decision.lowers(stored));
        let retried = rate(decision.next_value, now + 5_000_000, 5_000_000, 2);
        assert!(retried.allowed);
        assert_eq!(rate_usage(stored, now, 5_000_000, 2), (2, 10_000_000));
    }

    #[test]
    fn quota_counts_to_limit() {
        let first = quota(0, 10, 2, 100);
        assert!(first.allowed);
        assert_eq!(first.remaining, 1);
        let third = quota(2, 10, 2, 100);
        assert!(!third.allowed);
        assert_eq!(third.retry_after_us, 90);
    }
}
