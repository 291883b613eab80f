//! The in-memory store: counters in sharded maps, one mutex per shard.
//!
//! A request's limits are checked under the locks of all their shards, taken in shard order,
//! so that a request either consumes from every limit or from none. Counters are keyed by a
//! 64-bit SipHash of their id under a per-process random key, continued from a hash of the
//! id's prefix made once per limit, so a request allocates nothing to find them. A rate
//! limit entry is its key and its TAT (16 bytes), and the TAT is also its expiry. Quota entries keep their count, the end of their
//! window and their id, for the state file. Entries expire when their state equals a fresh
//! one (a rate limit fully refilled, a quota window over), and a sweep removes them, so
//! memory stays bounded by the keys active recently.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::checks::{self, Check};
use super::gcra::{self, Decision};
use super::{Decisions, Spec};

const SHARDS: usize = 64;

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

type Map<T> = HashMap<u64, T, BuildHasherDefault<PassThrough>>;

struct QuotaSlot {
    count: u64,
    window_end_us: u64,
    id: Box<str>,
}

#[derive(Default)]
struct Shard {
    /// The TAT of each rate limit counter.
    rates: Map<u64>,
    quotas: Map<QuotaSlot>,
}

impl Shard {
    /// Returns the stored value of a counter: a TAT or a count, 0 when absent or expired.
    fn stored(&self, key: u64, spec: &Spec, now: u64) -> u64 {
        match spec {
            Spec::Rate { .. } => self.rates.get(&key).copied().filter(|tat| *tat > now),
            Spec::Quota { .. } => self
                .quotas
                .get(&key)
                .filter(|slot| slot.window_end_us > now)
                .map(|slot| slot.count),
        }
        .unwrap_or(0)
    }

    /// Stores the value that `decision` computed for `check`.
    fn store(&mut self, key: u64, check: &Check<'_>, decision: &Decision) {
        match check.spec {
            Spec::Rate { .. } => {
                self.rates.insert(key, decision.next_value);
            }
            Spec::Quota { .. } => {
                let slot = self.quotas.entry(key).or_insert_with(|| QuotaSlot {
                    count: 0,
                    window_end_us: 0,
                    id: check.id().into_boxed_str(),
                });
                slot.count = decision.next_value;
                slot.window_end_us = decision.expires_us;
            }
        }
    }

    fn remove(&mut self, key: u64) {
        self.rates.remove(&key);
        self.quotas.remove(&key);
    }
}

pub struct LocalStore {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for LocalStore {
    fn default() -> Self {
        LocalStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }
}

/// Returns the shard of a key. The shard takes middle bits of the key, because the maps use
/// its low bits for the bucket and its top bits for their control bytes.
fn shard_index(key: u64) -> usize {
    ((key >> 32) as usize) % SHARDS
}

impl LocalStore {
    /// Returns the key of a counter: the hash of its id, as `Check::id_hash` computes it.
    fn key(id: &str) -> u64 {
        let mut hasher = checks::id_hasher();
        hasher.write(id.as_bytes());
        hasher.finish()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Checks every limit and, when all allow the request, consumes from each.
    pub fn check(&self, checks: &[Check<'_>], now: u64) -> Decisions {
        if let [check] = checks {
            return std::iter::once(self.check_one(check, now)).collect();
        }
        let keys: Vec<u64> = checks.iter().map(|check| check.id_hash()).collect();
        let mut shards: Vec<usize> = keys.iter().map(|key| shard_index(*key)).collect();
        shards.sort_unstable();
        shards.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, Shard>)> = shards
            .into_iter()
            .map(|shard| (shard, self.lock(shard)))
            .collect();
        let stored: Vec<u64> = checks
            .iter()
            .zip(&keys)
            .map(|(check, key)| shard_of(&mut guards, *key).stored(*key, &check.spec, now))
            .collect();
        let decisions: Decisions = checks
            .iter()
            .zip(&stored)
            .map(|(check, stored)| evaluate(&check.spec, *stored, now))
            .collect();
        let all_allowed = decisions.iter().all(|decision| decision.allowed);
        for (((check, key), decision), stored) in
            checks.iter().zip(&keys).zip(&decisions).zip(stored)
        {
            if all_allowed || decision.lowers(stored) {
                shard_of(&mut guards, *key).store(*key, check, decision);
            }
        }
        decisions
    }

    /// `check` for the common case of a single limit: one lock, no bookkeeping.
    pub fn check_one(&self, check: &Check<'_>, now: u64) -> Decision {
        let key = check.id_hash();
        let mut shard = self.lock(shard_index(key));
        if let Spec::Rate {
            interval_us, burst, ..
        } = check.spec
        {
            // One lookup: the entry is read and, when the request passes, written.
            let tat = shard.rates.entry(key).or_insert(0);
            let stored = if *tat > now { *tat } else { 0 };
            let decision = gcra::rate(stored, now, interval_us, burst);
            if decision.allowed || decision.lowers(stored) {
                *tat = decision.next_value;
            }
            return decision;
        }
        let stored = shard.stored(key, &check.spec, now);
        let decision = evaluate(&check.spec, stored, now);
        if decision.allowed || decision.lowers(stored) {
            shard.store(key, check, &decision);
        }
        decision
    }

    /// Returns the stored value of each check without consuming.
    pub fn peek(&self, checks: &[Check<'_>], now: u64) -> Vec<u64> {
        checks
            .iter()
            .map(|check| {
                let key = check.id_hash();
                self.lock(shard_index(key)).stored(key, &check.spec, now)
            })
            .collect()
    }

    pub fn reset(&self, ids: &[String]) {
        for id in ids {
            let key = Self::key(id);
            self.lock(shard_index(key)).remove(key);
        }
    }

    /// Removes expired entries; returns how many entries remain.
    pub fn sweep(&self, now: u64) -> usize {
        (0..SHARDS)
            .map(|shard| {
                let mut shard = self.lock(shard);
                shard.rates.retain(|_, tat| *tat > now);
                shard.quotas.retain(|_, slot| slot.window_end_us > now);
                shard.rates.len() + shard.quotas.len()
            })
            .sum()
    }

    /// Writes the quota counters to `path` through a temporary file, so that a crash never
    /// leaves a half-written state.
    pub fn save(&self, path: &Path, now: u64) -> std::io::Result<usize> {
        let mut quotas = serde_json::Map::new();
        for shard in 0..SHARDS {
            let shard = self.lock(shard);
            for slot in shard
                .quotas
                .values()
                .filter(|slot| slot.window_end_us > now)
            {
                quotas.insert(
                    slot.id.to_string(),
                    serde_json::json!([slot.count, slot.window_end_us]),
                );
            }
        }
        let count = quotas.len();
        let text = serde_json::json!({"version": 1, "quotas": quotas}).to_string();
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path)?;
        Ok(count)
    }

    /// Restores quota counters from `path`. Returns how many were restored, or `None` when the
    /// file does not exist yet.
    pub fn load(&self, path: &Path, now: u64) -> std::io::Result<Option<usize>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let state: serde_json::Value =
            serde_json::from_str(&text).map_err(std::io::Error::other)?;
        let mut restored = 0;
        for (id, entry) in state["quotas"].as_object().into_iter().flatten() {
            let (Some(count), Some(window_end_us)) = (entry[0].as_u64(), entry[1].as_u64()) else {
                continue;
            };
            if window_end_us > now {
                let key = Self::key(id);
                let slot = QuotaSlot {
                    count,
                    window_end_us,
                    id: id.clone().into_boxed_str(),
                };
                self.lock(shard_index(key)).quotas.insert(key, slot);
                restored += 1;
            }
        }
        Ok(Some(restored))
    }
}

/// Returns the locked shard of `key` among `guards`.
fn shard_of<'a>(guards: &'a mut [(usize, MutexGuard<'_, Shard>)], key: u64) -> &'a mut Shard {
    let shard = shard_index(key);
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

    fn rate(prefix: &str) -> Check<'_> {
        let spec = Spec::Rate {
            interval_us: 1_000_000,
            burst: 1,
            limit: 1,
            per_us: 1_000_000,
        };
        Check::for_test(prefix, super::super::PolicyName::Route(0), spec)
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
