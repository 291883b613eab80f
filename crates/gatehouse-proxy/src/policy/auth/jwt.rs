//! JWT verification for one provider (RFC 7519, with the RFC 8725 rules): only the
//! provider's algorithms, keys of the matching family, `iss`, `aud`, `exp`, `nbf` and `iat`
//! with leeway. JWKS keys are fetched at start, refreshed on their cache lifetime and fetched
//! again for an unknown `kid` at most once per `min_refetch_interval`. When the endpoint is
//! down, the keys already fetched stay in use.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use gatehouse_config::model::{JwtKeys, JwtProvider};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, Validation};
use prometheus_client::metrics::counter::Counter;
use serde_json::{Map, Value};

use super::keys::{self, KeySet};
use crate::policy::http_client;
use crate::telemetry::metrics::{Metrics, ProviderResultLabels};
use crate::upstream::target::now_millis;

/// Verified claims of a token.
pub type Claims = Map<String, Value>;

/// A reason to reject a token. Every variant is a 401 `invalid_token` for the client.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not allowed for this provider")]
    Algorithm,
    #[error("no key of this provider matches the token")]
    NoKey,
    #[error("the token failed validation: {0}")]
    Invalid(String),
    #[error("the provider has no keys yet because its JWKS endpoint could not be fetched")]
    KeysUnavailable,
}

/// A provider set-up failure.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("JWT provider {provider:?}: {reason}")]
    Keys { provider: String, reason: String },
}

pub struct JwtRuntime {
    pub model: JwtProvider,
    allowed: Vec<Algorithm>,
    keys: ArcSwap<KeySet>,
    /// `now_millis` of the last JWKS fetch attempt, for the refetch limit.
    last_fetch: AtomicU64,
    fetching: tokio::sync::Mutex<()>,
    /// Verified tokens by their full text, which the cache compares on every hit, so no
    /// digest collision can stand in for a verified token.
    verified: moka::sync::Cache<TokenKey, Arc<Claims>>,
    fetch_success: Counter,
    fetch_failure: Counter,
}

/// A verified token as a cache key. It is hashed by the last bytes of its signature, which
/// alone vary enough to spread keys, and compared in full. Hashing a whole RS256 token cost
/// more than the rest of a cache hit, and only verified tokens become keys.
#[derive(Clone, PartialEq, Eq)]
struct TokenKey(Arc<str>);

impl std::hash::Hash for TokenKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let bytes = self.0.as_bytes();
        state.write(&bytes[bytes.len().saturating_sub(32)..]);
    }
}

impl JwtRuntime {
    /// Builds the provider and loads file or secret keys. JWKS keys arrive with `start`.
    pub fn new(model: &JwtProvider, metrics: &Metrics) -> Result<Arc<Self>, ProviderError> {
        let key_error = |reason: String| ProviderError::Keys {
            provider: model.name.clone(),
            reason,
        };
        let allowed = model
            .algorithms
            .iter()
            .map(|name| {
                Algorithm::from_str(name)
                    .map_err(|_| key_error(format!("unsupported algorithm {name}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = static_keys(model, &allowed).map_err(key_error)?;
        // One statement per handle: a family's read guard must be gone before the next
        // `get_or_create` on the same family takes its write lock.
        let labels = |result: &str| ProviderResultLabels {
            provider: model.name.clone(),
            result: result.to_string(),
        };
        let fetch_success = metrics.jwks_fetches.get_or_create_owned(&labels("success"));
        let fetch_failure = metrics.jwks_fetches.get_or_create_owned(&labels("failure"));
        Ok(Arc::new(JwtRuntime {
            model: model.clone(),
            allowed,
            keys: ArcSwap::from_pointee(keys),
            last_fetch: AtomicU64::new(0),
            fetching: tokio::sync::Mutex::new(()),
            verified: moka::sync::Cache::builder()
                .max_capacity(20_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            fetch_success,
            fetch_failure,
        }))
    }

    /// Starts the JWKS refresh loop on the current runtime, if the provider uses JWKS. The
    /// loop ends when the provider is dropped after a reload.
    pub fn start(self: &Arc<Self>) {
        if !matches!(self.model.keys, JwtKeys::Jwks { .. })
            || tokio::runtime::Handle::try_current().is_err()
        {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(refresh_loop(weak));
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, JwtError> {
        let key = TokenKey(Arc::from(token));
        if let Some(claims) = self.verified.get(&key) {
            if !expired(&claims, self.model.leeway) {
                return Ok(claims);
            }
            self.verified.invalidate(&key);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if !self.allowed.contains(&header.alg) {
            return Err(JwtError::Algorithm);
        }
        if let Some(kid) = header.kid.as_deref() {
            if !self.keys.load().has_kid(kid) {
                self.refetch_for_unknown_kid().await;
            }
        }
        if self.keys.load().keys.is_empty() && matches!(self.model.keys, JwtKeys::Jwks { .. }) {
            return Err(JwtError::KeysUnavailable);
        }
        let claims = Arc::new(self.verify_with_keys(token, header.alg, header.kid.as_deref())?);
        self.verified.insert(key, claims.clone());
        Ok(claims)
    }

    fn verify_with_keys(
        &self,
        token: &str,
        algorithm: Algorithm,
        kid: Option<&str>,
    ) -> Result<Claims, JwtError> {
        let validation = self.validation(algorithm);
        let keys = self.keys.load();
        let mut last_error = JwtError::NoKey;
        for entry in keys.candidates(kid, algorithm) {
            match jsonwebtoken::decode::<Claims>(token, &entry.key, &validation) {
                Ok(data) => {
                    check_issued_at(&data.claims, self.model.leeway)?;
                    return Ok(data.claims);
                }
                Err(err) => last_error = JwtError::Invalid(err.to_string()),
            }
        }
        Err(last_error)
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.model.leeway.as_secs();
        validation.set_issuer(&[self.model.issuer.as_str()]);
        validation.set_audience(&self.model.audiences);
        let mut required = vec!["iss", "aud"];
        if self.model.require_exp {
            required.push("exp");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        validation
    }

    async fn refetch_for_unknown_kid(&self) {
        let JwtKeys::Jwks {
            min_refetch_interval,
            ..
        } = &self.model.keys
        else {
            return;
        };
        let interval = min_refetch_interval.as_millis() as u64;
        if now_millis().saturating_sub(self.last_fetch.load(Ordering::Relaxed)) < interval {
            return;
        }
        let _single = self.fetching.lock().await;
        if now_millis().saturating_sub(self.last_fetch.load(Ordering::Relaxed)) < interval {
            return;
        }
        let _ = self.fetch().await;
    }

    /// Fetches the JWKS once and swaps the keys in on success. Returns the cache lifetime the
    /// response allows, if any.
    async fn fetch(&self) -> Result<Option<Duration>, String> {
        let JwtKeys::Jwks { url, timeout, .. } = &self.model.keys else {
            return Ok(None);
        };
        self.last_fetch.store(now_millis(), Ordering::Relaxed);
        let request = http::Request::get(url.as_str())
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()));
        let result = match request {
            Ok(request) => http_client::send(request, *timeout)
                .await
                .map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        let fetched = result.and_then(|fetched| {
            if fetched.status.is_success() {
                Ok(fetched)
            } else {
                Err(format!("status {}", fetched.status))
            }
        });
        let outcome = fetched.and_then(|fetched| {
            let (keys, skipped) = keys::parse_jwks(&fetched.body)?;
            Ok((keys, skipped, max_age(&fetched.headers)))
        });
        match outcome {
            Ok((keys, skipped, max_age)) => {
                if self.fetch_failure.get() > 0 && self.keys.load().keys.is_empty() {
                    tracing::info!(provider = %self.model.name, keys = keys.keys.len(), "JWKS fetched after earlier failures");
                }
                tracing::debug!(provider = %self.model.name, keys = keys.keys.len(), skipped, "JWKS fetched");
                self.keys.store(Arc::new(keys));
                self.fetch_success.inc();
                Ok(max_age)
            }
            Err(reason) => {
                self.fetch_failure.inc();
                let keys = self.keys.load().keys.len();
                if keys == 0 {
                    tracing::warn!(provider = %self.model.name, url = %url, error = %reason, "JWKS fetch failed and no keys were fetched before; tokens of this provider get 503 until a fetch succeeds");
                } else {
                    tracing::warn!(provider = %self.model.name, url = %url, error = %reason, keys, "JWKS fetch failed; the keys fetched before stay in use");
                }
                Err(reason)
            }
        }
    }
}

async fn refresh_loop(provider: Weak<JwtRuntime>) {
    loop {
        let Some(runtime) = provider.upgrade() else {
            return;
        };
        let JwtKeys::Jwks {
            refresh,
            min_refetch_interval,
            ..
        } = runtime.model.keys.clone()
        else {
            return;
        };
        // A failed fetch is retried sooner than the refetch limit for unknown kids, at most
        // every 5 s, so that a provider without keys recovers quickly.
        let wait = match runtime.fetch().await {
            Ok(Some(max_age)) => {
                max_age.clamp(min_refetch_interval, refresh.max(min_refetch_interval))
            }
            Ok(None) => refresh,
            Err(_) => min_refetch_interval.min(Duration::from_secs(5)),
        };
        drop(runtime);
        tokio::time::sleep(wait).await;
    }
}

/// Reads `max-age` from `Cache-Control`.
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').find_map(|directive| {
        let seconds = directive.trim().strip_prefix("max-age=")?;
        seconds.parse::<u64>().ok().map(Duration::from_secs)
    })
}

fn static_keys(model: &JwtProvider, allowed: &[Algorithm]) -> Result<KeySet, String> {
    match &model.keys {
        JwtKeys::Jwks { .. } => Ok(KeySet::default()),
        JwtKeys::Secrets(secrets) => {
            let mut set = KeySet::default();
            for secret in secrets {
                let key = jsonwebtoken::DecodingKey::from_secret(secret.0.as_bytes())
                    .map_err(|err| format!("invalid HMAC secret: {err}"))?;
                let family = jsonwebtoken::AlgorithmFamily::Hmac;
                set.keys.push(keys::KeyEntry {
                    kid: None,
                    key,
                    family,
                    algorithm: None,
                });
            }
            Ok(set)
        }
        JwtKeys::Files(paths) => {
            let mut set = KeySet::default();
            for path in paths {
                let bytes = std::fs::read(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                if bytes.trim_ascii_start().starts_with(b"{") {
                    let text = wrap_single_jwk(&bytes);
                    let (parsed, _) = keys::parse_jwks(&text)
                        .map_err(|err| format!("{}: {err}", path.display()))?;
                    set.keys.extend(parsed.keys);
                } else {
                    set.keys.push(
                        keys::parse_pem(&bytes, allowed)
                            .map_err(|err| format!("{}: {err}", path.display()))?,
                    );
                }
            }
            Ok(set)
        }
    }
}

/// Accepts a file with either one JWK or a JWKS document.
fn wrap_single_jwk(bytes: &[u8]) -> Vec<u8> {
    let is_set = serde_json::from_slice::<Value>(bytes)
        .ok()
        .is_some_and(|value| value.get("keys").is_some());
    if is_set {
        bytes.to_vec()
    } else {
        [b"{\"keys\":[".as_slice(), bytes, b"]}"].concat()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

fn expired(claims: &Claims, leeway: Duration) -> bool {
    claims
        .get("exp")
        .and_then(Value::as_u64)
        .is_some_and(|exp| exp + leeway.as_secs() < unix_now())
}

/// Rejects tokens issued in the future beyond the leeway.
fn check_issued_at(claims: &Claims, leeway: Duration) -> Result<(), JwtError> {
    match claims.get("iat") {
        None => Ok(()),
        Some(value) => match value.as_u64() {
            Some(iat) if iat <= unix_now() + leeway.as_secs() => Ok(()),
            _ => Err(JwtError::Invalid(
                "iat is in the future or not a number".to_string(),
            )),
        },
    }
}
