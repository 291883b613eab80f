//! Authentication and authorization of the admit phase.
//!
//! A route's `auth.methods` are tried in order and the first that accepts the request's
//! credential wins. A request without any credential gets 401 without an error code, a
//! rejected credential 401 `invalid_token` (RFC 6750 section 3.1), an unreachable
//! introspection endpoint 503. Authorization then checks the consumer's plan, the consumer
//! tags, the scopes and the claims, and fails with 403.

pub mod api_key;
pub mod credentials;
pub mod forward;
pub mod introspection;
pub mod jwt;
pub mod keys;

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_config::model::{AuthMethod, Config, RouteAuth};
use http::{HeaderMap, HeaderName};
use serde_json::Value;

use crate::error::ProxyError;
use crate::telemetry::metrics::Metrics;
use credentials::{Credential, Location};
use introspection::IntrospectionRuntime;
use jwt::{Claims, JwtRuntime};

/// The caller of a request, as the method that accepted its credential identified it.
pub struct Identity {
    /// Index into `Config::consumers`.
    pub consumer: Option<usize>,
    pub method: &'static str,
    /// Token claims (JWT) or the introspection response; `None` for API keys.
    pub claims: Option<Arc<Claims>>,
    /// Location of the accepted credential, for removal before forwarding.
    pub location: Location,
    /// Provider index of a JWT identity, for the claims it forwards as headers.
    pub jwt_provider: Option<usize>,
}

/// The authentication state of one snapshot.
pub struct AuthRuntime {
    keys: api_key::KeyTable,
    consumers_by_id: HashMap<String, usize>,
    pub jwt: Vec<Arc<JwtRuntime>>,
    pub introspection: Vec<Arc<IntrospectionRuntime>>,
    /// Headers the gateway sets from an identity; client copies are always removed.
    pub identity_headers: Vec<HeaderName>,
}

pub static X_CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
pub static X_CONSUMER_PLAN: HeaderName = HeaderName::from_static("x-consumer-plan");

impl AuthRuntime {
    /// Builds the runtime, reusing providers of `previous` whose settings did not change, so
    /// that a reload keeps fetched keys and cached verifications.
    pub fn build(
        config: &Config,
        previous: Option<&AuthRuntime>,
        metrics: &Metrics,
    ) -> Result<Self, jwt::ProviderError> {
        let mut jwt = Vec::new();
        for model in &config.authentication.jwt {
            let reused = previous
                .and_then(|previous| previous.jwt.iter().find(|old| old.model == *model).cloned());
            let provider = match reused {
                Some(provider) => provider,
                None => {
                    let provider = JwtRuntime::new(model, metrics)?;
                    provider.start();
                    provider
                }
            };
            jwt.push(provider);
        }
        let introspection = config
            .authentication
            .introspection
            .iter()
            .map(|model| {
                let reused = previous.and_then(|previous| {
                    previous
                        .introspection
                        .iter()
                        .find(|old| old.model == *model)
                        .cloned()
                });
                reused.unwrap_or_else(|| IntrospectionRuntime::new(model))
            })
            .collect();
        let mut identity_headers = vec![X_CONSUMER_ID.clone(), X_CONSUMER_PLAN.clone()];
        for provider in &config.authentication.jwt {
            identity_headers.extend(
                provider
                    .forward_claims
                    .iter()
                    .map(|(_, header)| header.clone()),
            );
        }
        let consumers_by_id = config
            .consumers
            .iter()
            .enumerate()
            .map(|(index, consumer)| (consumer.id.clone(), index))
            .collect();
        Ok(AuthRuntime {
            keys: api_key::KeyTable::new(&config.consumers),
            consumers_by_id,
            jwt,
            introspection,
            identity_headers,
        })
    }

    /// Runs the route's methods in order and returns the first identity one accepts.
    pub async fn authenticate(
        &self,
        config: &Config,
        auth: &RouteAuth,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Identity, ProxyError> {
        let mut presented = false;
        let mut unavailable = None;
        for method in &auth.methods {
            let credential = match method {
                AuthMethod::ApiKey => {
                    credentials::api_key(&config.authentication.api_key, headers, query)
                }
                _ => credentials::token(auth, headers, query),
            };
            let Some(credential) = credential else {
                continue;
            };
            presented = true;
            match self.try_method(*method, credential).await {
                Ok(Some(identity)) => return Ok(identity),
                Ok(None) => {}
                Err(err) => unavailable = Some(err),
            }
        }
        let bearer = config.authentication.api_key.bearer
            || auth
                .methods
                .iter()
                .any(|method| *method != AuthMethod::ApiKey);
        match (unavailable, presented) {
            (Some(err), _) => Err(err),
            (None, invalid_token) => Err(ProxyError::Unauthorized {
                invalid_token,
                bearer,
            }),
        }
    }

    /// Returns `Ok(None)` when the method rejects the credential.
    async fn try_method(
        &self,
        method: AuthMethod,
        credential: Credential,
    ) -> Result<Option<Identity>, ProxyError> {
        match method {
            AuthMethod::ApiKey => Ok(self.keys.find(&credential.value).map(|consumer| Identity {
                consumer: Some(consumer),
                method: "api_key",
                claims: None,
                location: credential.location,
                jwt_provider: None,
            })),
            AuthMethod::Jwt(index) => {
                let provider = &self.jwt[index];
                let claims = match provider.verify(&credential.value).await {
                    Ok(claims) => claims,
                    Err(jwt::JwtError::KeysUnavailable) => {
                        let provider = provider.model.name.clone();
                        return Err(ProxyError::AuthUnavailable { provider });
                    }
                    Err(err) => {
                        tracing::debug!(provider = %provider.model.name, reason = %err, "token rejected");
                        return Ok(None);
                    }
                };
                let consumer =
                    self.consumer_from(&claims, provider.model.consumer_claim.as_deref());
                if provider.model.require_consumer && consumer.is_none() {
                    return Ok(None);
                }
                Ok(Some(Identity {
                    consumer,
                    method: "jwt",
                    claims: Some(claims),
                    location: credential.location,
                    jwt_provider: Some(index),
                }))
            }
            AuthMethod::Introspection(index) => {
                let provider = &self.introspection[index];
                let answer = provider.introspect(&credential.value).await.map_err(|err| {
                    tracing::warn!(provider = %err.provider, error = %err.reason, "token introspection failed");
                    ProxyError::AuthUnavailable { provider: err.provider }
                })?;
                if !answer.active {
                    tracing::debug!(provider = %provider.model.name, "token rejected: the introspection response marks it inactive");
                    return Ok(None);
                }
                let consumer =
                    self.consumer_from(&answer.claims, provider.model.consumer_claim.as_deref());
                if provider.model.require_consumer && consumer.is_none() {
                    return Ok(None);
                }
                let claims = Some(answer.claims.clone());
                Ok(Some(Identity {
                    consumer,
                    method: "introspection",
                    claims,
                    location: credential.location,
                    jwt_provider: None,
                }))
            }
        }
    }

    fn consumer_from(&self, claims: &Claims, claim: Option<&str>) -> Option<usize> {
        let id = claims.get(claim?)?.as_str()?;
        self.consumers_by_id.get(id).copied()
    }
}

/// Checks what the identity may do on this route: plan, consumer tags, scopes, claims.
pub fn authorize(
    config: &Config,
    auth: &RouteAuth,
    identity: &Identity,
    route: usize,
) -> Result<(), ProxyError> {
    let consumer = identity.consumer.map(|index| &config.consumers[index]);
    let plan = consumer
        .and_then(|consumer| consumer.plan)
        .map(|plan| &config.plans[plan]);
    if let Some(routes) = plan.and_then(|plan| plan.routes.as_ref()) {
        if !routes.contains(&route) {
            return Err(ProxyError::Forbidden {
                code: "route_not_in_plan",
                message: "the consumer's plan does not include this route",
            });
        }
    }
    if !auth.allow_tags.is_empty() {
        let tagged = consumer.is_some_and(|consumer| {
            consumer
                .tags
                .iter()
                .any(|tag| auth.allow_tags.contains(tag))
        });
        if !tagged {
            return Err(ProxyError::Forbidden {
                code: "consumer_not_allowed",
                message: "the consumer may not call this route",
            });
        }
    }
    let claims = identity.claims.as_deref();
    let granted = claims.map(granted_scopes).unwrap_or_default();
    let missing: Vec<&str> = auth
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|scope| !granted.contains(scope))
        .collect();
    if !missing.is_empty() {
        return Err(ProxyError::InsufficientScope {
            scope: auth.scopes.join(" "),
        });
    }
    let claims_hold = auth.claims.iter().all(|(name, expected)| {
        claims
            .and_then(|claims| claims.get(name))
            .is_some_and(|value| claim_matches(value, expected))
    });
    if !claims_hold {
        return Err(ProxyError::InsufficientScope {
            scope: auth.scopes.join(" "),
        });
    }
    Ok(())
}

/// Scopes from `scope` (space-separated) or `scp` (a list or a string).
fn granted_scopes(claims: &Claims) -> Vec<&str> {
    let mut scopes = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(text)) => scopes.extend(text.split_whitespace()),
            Some(Value::Array(items)) => scopes.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    scopes
}

/// Returns true when the claim equals `expected`, or is a list that contains it.
fn claim_matches(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(text) => text == expected,
        Value::Array(items) => items.iter().any(|item| claim_matches(item, expected)),
        Value::Bool(flag) => flag.to_string() == expected,
        Value::Number(number) => number.to_string() == expected,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_from_both_claims() {
        let claims: Claims = serde_json::from_str(r#"{"scope": "a b", "scp": ["c"]}"#).unwrap();
        assert_eq!(granted_scopes(&claims), ["a", "b", "c"]);
    }

    #[test]
    fn claim_matching_rules() {
        assert!(claim_matches(&Value::from("gold"), "gold"));
        assert!(claim_matches(
            &serde_json::json!(["silver", "gold"]),
            "gold"
        ));
        assert!(claim_matches(&serde_json::json!(3), "3"));
        assert!(!claim_matches(&Value::from("golden"), "gold"));
    }
}
