//! The in-memory store: counters in sharded maps, one mutex per shard.
//!
//! A request's limits are checked under the locks of all their shards, taken in shard order,
//! so that a request either consumes from every limit or from none. Entries expire when their
//! state equals a fresh one (a rate limit fully refilled, a quota window over), and a sweep
//! removes them, so memory stays bounded by the keys active recently. Quota counters can be
//! saved to and restored from a state file.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::gcra::{self, Decision};
use super::{Check, Spec};

const SHARDS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Slot {
    value: u64,
    expires_us: u64,
}

pub struct LocalStore {
    shards: Box<[Mutex<HashMap<String, Slot>>]>,
}

impl Default for LocalStore {
    fn default() -> Self {
        LocalStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

fn shard_of(key: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() as usize) % SHARDS
}

impl LocalStore {
    fn lock_all(&self, checks: &[Check]) -> Vec<(usize, MutexGuard<'_, HashMap<String, Slot>>)> {
        let mut indexes: Vec<usize> = checks.iter().map(|check| shard_of(&check.id)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
            .into_iter()
            .map(|index| {
                (
                    index,
                    self.shards[index]
                        .lock()
                        .unwrap_or_else(|poison| poison.into_inner()),
                )
            })
            .collect()
    }

    /// Checks every limit and, when all allow the request, consumes from each.
    pub fn check(&self, checks: &[Check], now: u64) -> Vec<Decision> {
        let mut guards = self.lock_all(checks);
        let decisions: Vec<Decision> = checks
            .iter()
            .map(|check| {
                let shard = shard_of(&check.id);
                let map = &guards
                    .iter()
                    .find(|(index, _)| *index == shard)
                    .expect("locked")
                    .1;
                let stored = map
                    .get(&check.id)
                    .filter(|slot| slot.expires_us > now)
                    .map_or(0, |slot| slot.value);
                evaluate(&check.spec, stored, now)
            })
            .collect();
        if decisions.iter().all(|decision| decision.allowed) {
            for (check, decision) in checks.iter().zip(&decisions) {
                let shard = shard_of(&check.id);
                let map = &mut guards
                    .iter_mut()
                    .find(|(index, _)| *index == shard)
                    .expect("locked")
                    .1;
                let slot = Slot {
                    value: decision.next_value,
                    expires_us: decision.expires_us,
                };
                match map.get_mut(&check.id) {
                    Some(existing) => *existing = slot,
                    None => {
                        map.insert(check.id.clone(), slot);
                    }
                }
            }
        }
        decisions
    }

    /// Returns the stored value of each check without consuming.
    pub fn peek(&self, checks: &[Check], now: u64) -> Vec<u64> {
        checks
            .iter()
            .map(|check| {
                let map = self.shards[shard_of(&check.id)]
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                map.get(&check.id)
                    .filter(|slot| slot.expires_us > now)
                    .map_or(0, |slot| slot.value)
            })
            .collect()
    }

    pub fn reset(&self, ids: &[String]) {
        for id in ids {
            self.shards[shard_of(id)]
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .remove(id);
        }
    }

    /// Removes expired entries; returns how many entries remain.
    pub fn sweep(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut map = shard.lock().unwrap_or_else(|poison| poison.into_inner());
                map.retain(|_, slot| slot.expires_us > now);
                map.len()
            })
            .sum()
    }

    /// Writes the quota counters (keys starting with `q:`) to `path` through a temporary
    /// file, so that a crash never leaves a half-written state.
    pub fn save(&self, path: &Path, now: u64) -> std::io::Result<usize> {
        let mut quotas = serde_json::Map::new();
        for shard in self.shards.iter() {
            let map = shard.lock().unwrap_or_else(|poison| poison.into_inner());
            for (key, slot) in map
                .iter()
                .filter(|(key, slot)| key.starts_with("q:") && slot.expires_us > now)
            {
                quotas.insert(
                    key.clone(),
                    serde_json::json!([slot.value, slot.expires_us]),
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
        for (key, entry) in state["quotas"].as_object().into_iter().flatten() {
            let (Some(value), Some(expires_us)) = (entry[0].as_u64(), entry[1].as_u64()) else {
                continue;
            };
            if expires_us > now {
                let mut map = self.shards[shard_of(key)]
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                map.insert(key.clone(), Slot { value, expires_us });
                restored += 1;
            }
        }
        Ok(restored)
    }
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
