//! Least requests: the eligible target with the fewest requests in flight per unit of
//! weight. Ties go to a random one of the tied targets, so idle upstreams still spread load.

use std::sync::atomic::Ordering;

use crate::upstream::target::TargetRuntime;

pub fn pick(targets: &[TargetRuntime], eligible: impl Fn(usize) -> bool) -> usize {
    let start = fastrand::usize(..targets.len());
    let mut best: Option<usize> = None;
    for offset in 0..targets.len() {
        let index = (start + offset) % targets.len();
        if !eligible(index) {
            continue;
        }
        best = match best {
            Some(current) if !fewer(&targets[index], &targets[current]) => Some(current),
            _ => Some(index),
        };
    }
    best.unwrap_or(start)
}

/// Returns true when `a` has fewer requests in flight than `b`, relative to their weights.
pub(super) fn fewer(a: &TargetRuntime, b: &TargetRuntime) -> bool {
    let load_a = a.in_flight.load(Ordering::Relaxed) * u64::from(b.target.weight);
    let load_b = b.in_flight.load(Ordering::Relaxed) * u64::from(a.target.weight);
    load_a < load_b
}
