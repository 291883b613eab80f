//! OAuth 2.0 token introspection (RFC 7662): the gateway posts the token to the provider's
//! endpoint with HTTP Basic client authentication and trusts the `active` member of the response.
//! Responses are cached by a SHA-256 digest of the token until the token's `exp` or `cache_ttl`, whichever
//! comes first. A failed call is never a pass and never cached.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use gatehouse_config::model::IntrospectionProvider;
use http::{header, HeaderValue};
use http_body_util::Full;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::jwt::Claims;
use crate::policy::http_client;

/// The endpoint's response about one token.
pub struct Introspected {
    pub active: bool,
    pub claims: Arc<Claims>,
    /// Time this response may be reused.
    ttl: Duration,
}

/// The endpoint could not be reached or returned no usable response.
#[derive(Debug, thiserror::Error)]
#[error("introspection endpoint of {provider:?} failed: {reason}")]
pub struct IntrospectionError {
    pub provider: String,
    pub reason: String,
}

struct AnswerLifetime;

impl moka::Expiry<[u8; 32], Arc<Introspected>> for AnswerLifetime {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Introspected>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub struct IntrospectionRuntime {
    pub model: IntrospectionProvider,
    authorization: HeaderValue,
    cache: moka::sync::Cache<[u8; 32], Arc<Introspected>>,
}

impl IntrospectionRuntime {
    pub fn new(model: &IntrospectionProvider) -> Arc<Self> {
        let credentials = format!(
            "{}:{}",
            form_encode(&model.client_id),
            form_encode(&model.client_secret.0)
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut authorization = HeaderValue::from_str(&format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        authorization.set_sensitive(true);
        let cache = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .expire_after(AnswerLifetime)
            .build();
        Arc::new(IntrospectionRuntime {
            model: model.clone(),
            authorization,
            cache,
        })
    }

    /// Returns the endpoint's response for `token`, from the cache when possible.
    pub async fn introspect(&self, token: &str) -> Result<Arc<Introspected>, IntrospectionError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cache.get(&digest) {
            return Ok(answer);
        }
        let answer = Arc::new(self.ask(token).await?);
        if !answer.ttl.is_zero() {
            self.cache.insert(digest, answer.clone());
        }
        Ok(answer)
    }

    async fn ask(&self, token: &str) -> Result<Introspected, IntrospectionError> {
        let failure = |reason: String| IntrospectionError {
            provider: self.model.name.clone(),
            reason,
        };
        let form = format!("token={}&token_type_hint=access_token", form_encode(token));
        let request = http::Request::post(self.model.url.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, self.authorization.clone())
            .body(Full::new(Bytes::from(form)))
            .map_err(|err| failure(err.to_string()))?;
        let fetched = http_client::send(request, self.model.timeout)
            .await
            .map_err(|err| failure(err.to_string()))?;
        if !fetched.status.is_success() {
            return Err(failure(format!("status {}", fetched.status)));
        }
        let claims: Claims = serde_json::from_slice(&fetched.body)
            .map_err(|err| failure(format!("invalid JSON: {err}")))?;
        let Some(active) = claims.get("active").and_then(Value::as_bool) else {
            return Err(failure(
                "the answer has no boolean `active` member".to_string(),
            ));
        };
        let ttl = self.lifetime(&claims);
        Ok(Introspected {
            active,
            claims: Arc::new(claims),
            ttl,
        })
    }

    /// Returns `cache_ttl`, shortened to the token's remaining lifetime when it has `exp`.
    fn lifetime(&self, claims: &Claims) -> Duration {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        match claims.get("exp").and_then(Value::as_u64) {
            Some(exp) => self
                .model
                .cache_ttl
                .min(Duration::from_secs(exp.saturating_sub(now))),
            None => self.model.cache_ttl,
        }
    }
}

/// Percent-encodes a value for `application/x-www-form-urlencoded` (RFC 6749 appendix B
/// applies the same rule to client credentials in Basic authentication).
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'*') {
            out.push(byte as char);
        } else if byte == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
