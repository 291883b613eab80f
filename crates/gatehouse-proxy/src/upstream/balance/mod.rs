//! Load balancing: which target of an upstream gets the next request.
//!
//! One algorithm per file. Every balancer skips targets that passive health checks have
//! ejected, unless all of them are ejected, in which case all are candidates again.

mod consistent_hash;
mod least_requests;
mod random;
mod round_robin;

use gatehouse_config::model::{HashKey, LoadBalancing};

use super::target::TargetRuntime;
pub use consistent_hash::HashRing;
pub use round_robin::SmoothRoundRobin;

/// Request facts a balancer may key on.
pub struct BalanceInput<'a> {
    /// The consistent-hash key of the request, when the upstream uses one and it is present.
    pub hash_key: Option<&'a [u8]>,
}

/// The compiled balancer of one upstream.
pub enum Balancer {
    RoundRobin(SmoothRoundRobin),
    LeastRequests,
    Random,
    ConsistentHash { key: HashKey, ring: HashRing },
}

impl Balancer {
    pub fn new(algorithm: &LoadBalancing, weights: &[u32], workers: usize) -> Balancer {
        match algorithm {
            LoadBalancing::RoundRobin => {
                Balancer::RoundRobin(SmoothRoundRobin::new(weights, workers))
            }
            LoadBalancing::LeastRequests => Balancer::LeastRequests,
            LoadBalancing::Random => Balancer::Random,
            LoadBalancing::ConsistentHash(key) => Balancer::ConsistentHash {
                key: key.clone(),
                ring: HashRing::new(weights),
            },
        }
    }

    /// The hash key definition, for the handler to extract from the request.
    pub fn hash_key(&self) -> Option<&HashKey> {
        match self {
            Balancer::ConsistentHash { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Returns the index of the chosen target.
    pub fn pick(&self, targets: &[TargetRuntime], input: &BalanceInput<'_>) -> usize {
        if targets.len() == 1 {
            return 0;
        }
        let now = super::target::now_millis();
        let any_healthy = targets.iter().any(|target| target.is_healthy(now));
        let eligible = |index: usize| !any_healthy || targets[index].is_healthy(now);
        match self {
            Balancer::RoundRobin(state) => state.pick(eligible),
            Balancer::LeastRequests => least_requests::pick(targets, eligible),
            Balancer::Random => random::pick(targets, eligible),
            Balancer::ConsistentHash { ring, .. } => match input.hash_key {
                Some(key) => ring.pick(key, eligible),
                None => random::pick(targets, eligible),
            },
        }
    }
}
