//! Random with two choices: two targets drawn at random in proportion to their weights, and
//! the one with fewer requests in flight wins. This keeps random's lack of coordination
//! while avoiding its worst pile-ups.

use crate::upstream::target::TargetRuntime;

pub fn pick(targets: &[TargetRuntime], eligible: impl Fn(usize) -> bool) -> usize {
    let first = weighted_draw(targets, &eligible);
    let second = weighted_draw(targets, &eligible);
    if super::least_requests::fewer(&targets[second], &targets[first]) {
        second
    } else {
        first
    }
}

fn weighted_draw(targets: &[TargetRuntime], eligible: &impl Fn(usize) -> bool) -> usize {
    let total: u64 = (0..targets.len())
        .filter(|index| eligible(*index))
        .map(|index| u64::from(targets[index].target.weight))
        .sum();
    if total == 0 {
        return fastrand::usize(..targets.len());
    }
    let mut point = fastrand::u64(..total);
    for (index, target) in targets.iter().enumerate() {
        if !eligible(index) {
            continue;
        }
        let weight = u64::from(target.target.weight);
        if point < weight {
            return index;
        }
        point -= weight;
    }
    0
}
