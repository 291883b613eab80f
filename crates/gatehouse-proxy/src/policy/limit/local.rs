//! The in-memory store: counters in sharded maps, one mutex per shard.
//!
//! A request's limits are checked under the locks of all their shards, taken in shard order,
//! so that a request either consumes from every limit or from none. Counters are keyed by a
//! 64-bit SipHash of their id under a per-process random key, so a request allocates nothing
//! to find them. Only quota counters keep their id, for the state file. Entries expire when
//! their state equals a fresh one (a rate limit fully refilled, a quota window over), and a
//! sweep removes them, so memory stays bounded by the keys active recently.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::gcra::{self, Decision};
use super::{Check, Spec};

const SHARDS: usize = 64;

#[derive(Debug, Clone)]
struct Slot {
    value: u64,
    expires_us: u64,
    /// The counter id of a quota, kept for the state file.
    quota_id: Option<Box<str>>,
}

/// Hasher for keys that are already SipHash outputs.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type Shard = HashMap<u64, Slot, BuildHasherDefault<PassThrough>>;

pub struct LocalStore {
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

impl Default for LocalStore {
    fn default() -> Self {
        LocalStore {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }
}

impl LocalStore {
    fn key(&self, id: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(id.as_bytes());
        hasher.finish()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Checks every limit and, when all allow the request, consumes from each.
    pub fn check(&self, checks: &[Check], now: u64) -> Vec<Decision> {
        if let [check] = checks {
            return vec![self.check_one(check, now)];
        }
        let keys: Vec<u64> = checks.iter().map(|check| self.key(&check.id)).collect();
        let mut shards: Vec<usize> = keys.iter().map(|key| (*key as usize) % SHARDS).collect();
        shards.sort_unstable();
        shards.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, Shard>)> = shards
            .into_iter()
            .map(|shard| (shard, self.lock(shard)))
            .collect();
        let decisions: Vec<Decision> = checks
            .iter()
            .zip(&keys)
            .map(|(check, key)| {
                let stored = shard_map(&mut guards, *key)
                    .get(key)
                    .filter(|slot| slot.expires_us > now)
                    .map_or(0, |slot| slot.value);
                evaluate(&check.spec, stored, now)
            })
            .collect();
        if decisions.iter().all(|decision| decision.allowed) {
            for ((check, key), decision) in checks.iter().zip(&keys).zip(&decisions) {
                let map = shard_map(&mut guards, *key);
                match map.get_mut(key) {
                    Some(slot) => {
                        slot.value = decision.next_value;
                        slot.expires_us = decision.expires_us;
                    }
                    None => {
                        let quota_id = matches!(check.spec, Spec::Quota { .. })
                            .then(|| check.id.clone().into_boxed_str());
                        map.insert(
                            *key,
                            Slot {
                                value: decision.next_value,
                                expires_us: decision.expires_us,
                                quota_id,
                            },
                        );
                    }
                }
            }
        }
        decisions
    }

    /// `check` for the common case of a single limit: one lock, no bookkeeping.
    fn check_one(&self, check: &Check, now: u64) -> Decision {
        let key = self.key(&check.id);
        let mut map = self.lock((key as usize) % SHARDS);
        let slot = map.entry(key).or_insert_with(|| Slot {
            value: 0,
            expires_us: 0,
            quota_id: matches!(check.spec, Spec::Quota { .. })
                .then(|| check.id.clone().into_boxed_str()),
        });
        let stored = if slot.expires_us > now { slot.value } else { 0 };
        let decision = evaluate(&check.spec, stored, now);
        if decision.allowed {
            slot.value = decision.next_value;
            slot.expires_us = decision.expires_us;
        }
        decision
    }

    /// Returns the stored value of each check without consuming.
    pub fn peek(&self, checks: &[Check], now: u64) -> Vec<u64> {
        checks
            .iter()
            .map(|check| {
                let key = self.key(&check.id);
                let map = self.lock((key as usize) % SHARDS);
                map.get(&key)
                    .filter(|slot| slot.expires_us > now)
                    .map_or(0, |slot| slot.value)
            })
            .collect()
    }

    pub fn reset(&self, ids: &[String]) {
        for id in ids {
            let key = self.key(id);
            self.lock((key as usize) % SHARDS).remove(&key);
        }
    }

    /// Removes expired entries; returns how many entries remain.
    pub fn sweep(&self, now: u64) -> usize {
        (0..SHARDS)
            .map(|shard| {
                let mut map = self.lock(shard);
                map.retain(|_, slot| slot.expires_us > now);
                map.len()
            })
            .sum()
    }

    /// Writes the quota counters to `path` through a temporary file, so that a crash never
    /// leaves a half-written state.
    pub fn save(&self, path: &Path, now: u64) -> std::io::Result<usize> {
        let mut quotas = serde_json::Map::new();
        for shard in 0..SHARDS {
            let map = self.lock(shard);
            for slot in map.values().filter(|slot| slot.expires_us > now) {
                if let Some(id) = &slot.quota_id {
                    quotas.insert(
                        id.to_string(),
                        serde_json::json!([slot.value, slot.expires_us]),
                    );
                }
            }
        }
        let count = quotas.len();
        let text = serde_json::json!({"version": 1, "quotas": quotas}).to_string();
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path)?;
        Ok(count)
    }

    /// Restores quota counters from `path`; a missing file is an empty state.
    pub fn load(&self, path: &Path, now: u64) -> std::io::Result<usize> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(err) => return Err(err),
        };
        let state: serde_json::Value =
            serde_json::from_str(&text).map_err(std::io::Error::other)?;
        let mut restored = 0;
        for (id, entry) in state["quotas"].as_object().into_iter().flatten() {
            let (Some(value), Some(expires_us)) = (entry[0].as_u64(), entry[1].as_u64()) else {
                continue;
            };
            if expires_us > now {
                let key = self.key(id);
                let slot = Slot {
                    value,
                    expires_us,
                    quota_id: Some(id.clone().into_boxed_str()),
                };
                self.lock((key as usize) % SHARDS).insert(key, slot);
                restored += 1;
            }
        }
        Ok(restored)
    }
}

/// Returns the locked shard of `key` among `guards`.
fn shard_map<'a>(guards: &'a mut [(usize, MutexGuard<'_, Shard>)], key: u64) -> &'a mut Shard {
    let shard = (key as usize) % SHARDS;
    let position = guards
        .iter()
        .position(|(index, _)| *index == shard)
        .unwrap_or(0);
    &mut guards[position].1
}

/// Evaluates one limit against its stored value.
pub fn evaluate(spec: &Spec, stored: u64, now: u64) -> Decision {
    match *spec {
        Spec::Rate {
            interval_us, burst, ..
        } => gcra::rate(stored, now, interval_us, burst),
        Spec::Quota {
            limit,
            window_end_us,
            ..
        } => gcra::quota(stored, now, limit, window_end_us),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(id: &str) -> Check {
        Check {
            id: id.to_string(),
            policy: super::super::PolicyName::Route(0),
            spec: Spec::Rate {
                interval_us: 1_000_000,
                burst: 1,
                limit: 1,
                per_us: 1_000_000,
            },
        }
    }

    #[test]
    fn rejected_request_consumes_nothing() {
        let store = LocalStore::default();
        let (a, b) = (rate("a"), rate("b"));
        assert!(store
            .check(std::slice::from_ref(&a), 10)
            .iter()
            .all(|decision| decision.allowed));
        let both = store.check(&[b.clone(), a.clone()], 10);
        assert!(both[0].allowed, "b alone would pass");
        assert!(!both[1].allowed, "a is used up");
        assert!(
            store.check(std::slice::from_ref(&b), 10)[0].allowed,
            "b was consumed by a rejected request"
        );
    }

    #[test]
    fn sweep_removes_expired() {
        let store = LocalStore::default();
        store.check(&[rate("a")], 10);
        assert_eq!(store.sweep(10), 1);
        assert_eq!(store.sweep(2_000_000), 0);
    }
}
