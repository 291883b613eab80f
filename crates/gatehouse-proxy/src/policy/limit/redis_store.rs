//! The Redis store: every request's limits are checked and consumed in one round trip by a
//! Lua script, atomically, with Redis's clock for rate limits. Keys carry the hash tag of
//! the key prefix, so a request's keys share one slot and the script also runs on a Redis
//! Cluster. Keys expire when their state equals a fresh one.
//!
//! Each worker thread has its own multiplexed connection (commands from concurrent requests
//! are pipelined on it), created on first use and reconnected by the client library after
//! failures. Every call is bounded by the configured timeout.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::model::RedisSettings;
use tokio::sync::OnceCell;

use super::checks::Check;
use super::gcra::Decision;
use super::{Decisions, Spec};

/// Checks all limits, then consumes from all of them only when every one allows. Returns one
/// string of decimal numbers: whether all allowed, Redis's clock, then per key allowed,
/// remaining, reset and retry-after (microseconds). One string is cheaper for the client to
/// parse than an array of integers.
const CHECK_SCRIPT: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local results = {}
local writes = {}
local all_allowed = 1
for i, key in ipairs(KEYS) do
  local base = (i - 1) * 3
  local kind = ARGV[base + 1]
  local a = tonumber(ARGV[base + 2])
  local b = tonumber(ARGV[base + 3])
  local stored = tonumber(redis.call('GET', key) or '0')
  if kind == 'r' then
    local tolerance = a * (b - 1)
    local tat = math.max(stored, now)
    local ahead = tat - now
    if ahead > tolerance then
      all_allowed = 0
      results[i] = {0, 0, ahead, ahead - tolerance}
    else
      local next = tat + a
      local used = math.ceil((next - now) / a)
      results[i] = {1, math.max(b - used, 0), next - now, 0}
      writes[i] = {'set', next, math.ceil((next - now) / 1000)}
    end
  else
    local reset = math.max(b - now, 0)
    if stored >= a then
      all_allowed = 0
      results[i] = {0, 0, reset, reset}
    else
      results[i] = {1, a - stored - 1, reset, 0}
      writes[i] = {'incr', math.floor(b / 1000)}
    end
  end
end
if all_allowed == 1 then
  for i, key in ipairs(KEYS) do
    local write = writes[i]
    if write[1] == 'set' then
      redis.call('SET', key, string.format('%.0f', write[2]), 'PX', math.max(write[3], 1))
    else
      redis.call('INCR', key)
      redis.call('PEXPIREAT', key, string.format('%.0f', write[2]))
    end
  end
end
local flat = {all_allowed, string.format('%.0f', now)}
for i = 1, #KEYS do
  for j = 1, 4 do flat[#flat + 1] = string.format('%.0f', results[i][j]) end
end
return table.concat(flat, ' ')
"#;

/// A connection to a standalone server or a cluster.
#[derive(Clone)]
enum Connection {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("Redis call timed out after {0:?}")]
    Timeout(Duration),
    #[error("Redis call failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected Redis reply")]
    Reply,
}

pub struct RedisStore {
    settings: RedisSettings,
    script: redis::Script,
    /// One connection per worker slot, created on first use.
    connections: Box<[OnceCell<Connection>]>,
}

impl RedisStore {
    pub fn new(settings: &RedisSettings, workers: usize) -> Arc<Self> {
        let connections = (0..=workers).map(|_| OnceCell::new()).collect();
        Arc::new(RedisStore {
            settings: settings.clone(),
            script: redis::Script::new(CHECK_SCRIPT),
            connections,
        })
    }

    /// Returns the Redis key of a limit id: `{prefix}:id`, the braces being the hash tag.
    pub fn key(&self, id: &str) -> String {
        format!("{{{}}}:{id}", self.settings.key_prefix)
    }

    async fn connection(&self) -> Result<Connection, RedisError> {
        let slot = crate::listener::slot_index(self.connections.len());
        let connection = self.connections[slot]
            .get_or_try_init(|| async {
                if self.settings.urls.len() > 1 {
                    let client = redis::cluster::ClusterClient::new(self.settings.urls.clone())?;
                    Ok::<_, redis::RedisError>(Connection::Cluster(
                        client.get_async_connection().await?,
                    ))
                } else {
                    let url = self
                        .settings
                        .urls
                        .first()
                        .map(String::as_str)
                        .unwrap_or("redis://127.0.0.1:6379");
                    let client = redis::Client::open(url)?;
                    Ok(Connection::Single(
                        redis::aio::ConnectionManager::new(client).await?,
                    ))
                }
            })
            .await?;
        Ok(connection.clone())
    }

    async fn with_timeout<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        tokio::time::timeout(self.settings.timeout, call)
            .await
            .map_err(|_| RedisError::Timeout(self.settings.timeout))?
    }

    /// Checks and consumes in one script call; returns the decisions and Redis's clock.
    pub async fn check(&self, checks: &[Check<'_>]) -> Result<(Decisions, u64), RedisError> {
        self.with_timeout(async {
            let mut connection = self.connection().await?;
            let mut invocation = self.script.prepare_invoke();
            for check in checks {
                invocation.key(self.key(&check.id()));
                let (kind, first, second) = match check.spec {
                    Spec::Rate {
                        interval_us, burst, ..
                    } => ("r", interval_us, burst),
                    Spec::Quota {
                        limit,
                        window_end_us,
                        ..
                    } => ("q", limit, window_end_us),
                };
                invocation.arg(kind).arg(first).arg(second);
            }
            let reply: String = match &mut connection {
                Connection::Single(connection) => invocation.invoke_async(connection).await?,
                Connection::Cluster(connection) => invocation.invoke_async(connection).await?,
            };
            parse_reply(&reply, checks.len())
        })
        .await
    }

    /// Reads the stored values without consuming.
    pub async fn peek(&self, checks: &[Check<'_>]) -> Result<Vec<u64>, RedisError> {
        self.with_timeout(async {
            let mut connection = self.connection().await?;
            let mut command = redis::cmd("MGET");
            for check in checks {
                command.arg(self.key(&check.id()));
            }
            let values: Vec<Option<String>> = match &mut connection {
                Connection::Single(connection) => command.query_async(connection).await?,
                Connection::Cluster(connection) => command.query_async(connection).await?,
            };
            Ok(values
                .into_iter()
                .map(|value| value.and_then(|text| text.parse().ok()).unwrap_or(0))
                .collect())
        })
        .await
    }

    pub async fn reset(&self, ids: &[String]) -> Result<(), RedisError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.with_timeout(async {
            let mut connection = self.connection().await?;
            let mut command = redis::cmd("DEL");
            for id in ids {
                command.arg(self.key(id));
            }
            let _: i64 = match &mut connection {
                Connection::Single(connection) => command.query_async(connection).await?,
                Connection::Cluster(connection) => command.query_async(connection).await?,
            };
            Ok(())
        })
        .await
    }
}

fn parse_reply(reply: &str, count: usize) -> Result<(Decisions, u64), RedisError> {
    // Lua may print a negative zero. Every field is a count or a duration, so negative values
    // clamp to zero.
    let mut numbers = reply.split(' ').map(|number| number.parse::<i64>());
    let mut next = || {
        let number = numbers
            .next()
            .and_then(Result::ok)
            .ok_or(RedisError::Reply)?;
        Ok::<u64, RedisError>(number.max(0) as u64)
    };
    let _all_allowed = next()?;
    let now = next()?;
    let decisions = (0..count)
        .map(|_| {
            Ok(Decision {
                allowed: next()? == 1,
                remaining: next()?,
                reset_us: next()?,
                retry_after_us: next()?,
                next_value: 0,
                expires_us: 0,
            })
        })
        .collect::<Result<Decisions, RedisError>>()?;
    Ok((decisions, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_parses_into_decisions() {
        let (decisions, now) = parse_reply("1 1700000000000000 1 4 900 0 0 -0 5 5", 2).unwrap();
        assert_eq!(now, 1_700_000_000_000_000);
        assert!(decisions[0].allowed);
        assert_eq!((decisions[0].remaining, decisions[0].reset_us), (4, 900));
        assert!(!decisions[1].allowed);
        assert_eq!(decisions[1].remaining, 0);
        assert_eq!(decisions[1].retry_after_us, 5);
    }

    #[test]
    fn short_or_garbled_reply_is_an_error() {
        assert!(parse_reply("1 1700000000000000 1 4 900", 1).is_err());
        assert!(parse_reply("1 now 1 4 900 0", 1).is_err());
        assert!(parse_reply("", 1).is_err());
    }
}
