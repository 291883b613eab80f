//! Smooth weighted round robin, as popularized by nginx: each pick adds every target's
//! weight to its current value, takes the largest and subtracts the total from it, which
//! spreads a 5:1:1 weighting as a,a,b,a,c,a,a instead of a,a,a,a,a,b,c.
//!
//! Each worker thread keeps its own state, so picks take no shared lock.

use std::sync::Mutex;

pub struct SmoothRoundRobin {
    weights: Vec<i64>,
    /// Current values, one vector per worker slot.
    current: Box<[Mutex<Vec<i64>>]>,
}

impl SmoothRoundRobin {
    pub fn new(weights: &[u32], workers: usize) -> Self {
        let weights: Vec<i64> = weights.iter().map(|weight| i64::from(*weight)).collect();
        let current = (0..=workers)
            .map(|_| Mutex::new(vec![0; weights.len()]))
            .collect();
        SmoothRoundRobin { weights, current }
    }

    pub fn pick(&self, eligible: impl Fn(usize) -> bool) -> usize {
        let slot = crate::listener::slot_index(self.current.len());
        let mut current = self.current[slot]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut total = 0;
        let mut best: Option<usize> = None;
        for (index, weight) in self.weights.iter().enumerate() {
            if !eligible(index) {
                continue;
            }
            current[index] += weight;
            total += weight;
            if best.is_none_or(|best| current[index] > current[best]) {
                best = Some(index);
            }
        }
        let best = best.unwrap_or(0);
        current[best] -= total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_order_for_weights() {
        let balancer = SmoothRoundRobin::new(&[5, 1, 1], 1);
        let picks: Vec<usize> = (0..7).map(|_| balancer.pick(|_| true)).collect();
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn skips_ineligible_targets() {
        let balancer = SmoothRoundRobin::new(&[1, 1, 1], 1);
        let picks: Vec<usize> = (0..4).map(|_| balancer.pick(|index| index != 1)).collect();
        assert!(!picks.contains(&1));
    }
}
