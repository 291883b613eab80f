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

/// The maximum wait between attempts to reconnect to Redis.
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// Checks all limits, then consumes from all of them only when every one allows. A rejected
/// rate limit whose TAT was stored under a longer period gets the capped TAT written.
///
/// Returns one string of decimal numbers: whether all allowed, Redis's clock, then per key
/// allowed, remaining, reset and retry-after (microseconds). One string is cheaper for the
/// client to parse than an array of integers.
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
    local tat = math.min(math.max(stored, now), now + a * b)
    local ahead = tat - now
    if ahead > tolerance then
      all_allowed = 0
      results[i] = {0, 0, ahead, ahead - tolerance}
      if tat < stored then
        -- Stored under a longer period: keep the cap, or it moves on with the clock.
        redis.call('SET', key, string.format('%.0f', tat), 'PX', math.max(math.ceil(ahead / 1000), 1))
      end
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
    #[error("Redis call timed out after {0:?} (server slow or unreachable)")]
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
        let mut key = self.key_start(id.len());
        key.push_str(id);
        key
    }

    /// Returns the Redis key of a check's counter, built without an intermediate id.
    fn check_key(&self, check: &Check<'_>) -> String {
        let mut key = self.key_start(check.id_len());
        check.push_id(&mut key);
        key
    }

    /// Starts a key with the namespace, in braces so that a cluster puts every key of the
    /// gateway in one hash slot and one script can reach them all.
    fn key_start(&self, id_len: usize) -> String {
        let prefix = &self.settings.key_prefix;
        let mut key = String::with_capacity(prefix.len() + 3 + id_len);
        key.push('{');
        key.push_str(prefix);
        key.push_str("}:");
        key
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
                    // Every call is already bounded by `with_timeout`, so the crate's own
                    // response timer would only add a second timer per call. The crate
                    // stops reconnecting after six growing delays (about 6 s), and then
                    // only a failing request starts a new attempt. So attempts go on, at
                    // most half a second apart, for as long as Redis is down.
                    let config = redis::aio::ConnectionManagerConfig::new()
                        .set_response_timeout(None)
                        .set_max_delay(RECONNECT_MAX_DELAY)
                        .set_number_of_retries(usize::MAX);
                    Ok(Connection::Single(
                        redis::aio::ConnectionManager::new_with_config(client, config).await?,
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
                invocation.key(self.check_key(check));
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
            let reply: Vec<u8> = match &mut connection {
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
                command.arg(self.check_key(check));
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

fn parse_reply(reply: &[u8], count: usize) -> Result<(Decisions, u64), RedisError> {
    let mut numbers = Numbers { rest: reply };
    let _all_allowed = numbers.next()?;
    let now = numbers.next()?;
    let mut decisions = Decisions::new();
    for _ in 0..count {
        decisions.push(Decision {
            allowed: numbers.next()? == 1,
            remaining: numbers.next()?,
            reset_us: numbers.next()?,
            retry_after_us: numbers.next()?,
            next_value: 0,
            expires_us: 0,
        });
    }
    if !numbers.rest.is_empty() {
        return Err(RedisError::Reply);
    }
    Ok((decisions, now))
}

/// A reader of space-separated decimal numbers.
struct Numbers<'a> {
    rest: &'a [u8],
}

impl Numbers<'_> {
    /// Reads the next number and the space after it. Lua may print a negative zero, and every
    /// field is a count or a duration, so a negative number reads as zero.
    fn next(&mut self) -> Result<u64, RedisError> {
        let negative = self.rest.first() == Some(&b'-');
        let start = usize::from(negative);
        let digits = self.rest[start..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        // Nineteen decimal digits always fit in a u64.
        if digits == 0 || digits > 19 {
            return Err(RedisError::Reply);
        }
        let end = start + digits;
        let value = self.rest[start..end]
            .iter()
            .fold(0u64, |value, byte| value * 10 + u64::from(byte - b'0'));
        self.rest = match &self.rest[end..] {
            [b' ', rest @ ..] if !rest.is_empty() => rest,
            [] => &[],
            _ => return Err(RedisError::Reply),
        };
        Ok(if negative { 0 } else { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_parses_into_decisions() {
        let (decisions, now) = parse_reply(b"1 1700000000000000 1 4 900 0 0 -0 5 5", 2).unwrap();
        assert_eq!(now, 1_700_000_000_000_000);
        assert!(decisions[0].allowed);
        assert_eq!(decisions[0].remaining, 4);
        assert_eq!(decisions[0].reset_us, 900);
        assert!(!decisions[1].allowed);
        assert_eq!(decisions[1].remaining, 0);
        assert_eq!(decisions[1].retry_after_us, 5);
    }

    #[test]
    fn short_or_garbled_reply_is_an_error() {
        assert!(parse_reply(b"1 1700000000000000 1 4 900", 1).is_err());
        assert!(parse_reply(b"1 now 1 4 900 0", 1).is_err());
        assert!(parse_reply(b"", 1).is_err());
        assert!(parse_reply(b"1 2 1 4 900 0 7", 1).is_err());
        assert!(parse_reply(b"1 2 1 4 900 0 ", 1).is_err());
        assert!(parse_reply(b"1 2 1 4 99999999999999999999 0", 1).is_err());
    }
}
