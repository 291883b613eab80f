//! Identity headers towards the upstream. Client copies of identity headers are always
//! removed. An authenticated request gets `x-consumer-id`, `x-consumer-plan` and the
//! provider's forwarded claims, and loses its credential unless the route keeps it.

use std::borrow::Cow;

use gatehouse_config::model::{AuthMethod, Config, Route};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::credentials::{self, Location};
use super::{AuthRuntime, Identity, X_CONSUMER_ID, X_CONSUMER_PLAN};

/// Returns the query string to forward: the client's, byte for byte, minus the parameters
/// that may carry credentials on this route (unless the route keeps credentials).
pub fn forwarded_query<'a>(
    query: Option<&'a str>,
    route: &Route,
    config: &Config,
) -> Option<Cow<'a, str>> {
    let query = query?;
    let Some(auth) = route.auth.as_ref().filter(|auth| !auth.keep_credential) else {
        return Some(Cow::Borrowed(query));
    };
    let mut names = auth.token_query.clone();
    if let (true, Some(name)) = (
        auth.methods.contains(&AuthMethod::ApiKey),
        &config.authentication.api_key.query,
    ) {
        names.push(name.clone());
    }
    if names.is_empty() {
        return Some(Cow::Borrowed(query));
    }
    credentials::remove_query_params(query, &names).map(Cow::Owned)
}

/// Removes client-sent identity headers and sets the identity's headers.
pub fn apply_identity_headers(
    headers: &mut HeaderMap,
    auth: &AuthRuntime,
    config: &Config,
    route: &Route,
    identity: Option<&Identity>,
) {
    for name in &auth.identity_headers {
        headers.remove(name);
    }
    let Some(identity) = identity else { return };
    if let Some(consumer) = identity.consumer.map(|index| &config.consumers[index]) {
        if let Ok(value) = HeaderValue::from_str(&consumer.id) {
            headers.insert(X_CONSUMER_ID.clone(), value);
        }
        let plan = consumer.plan.map(|plan| config.plans[plan].name.as_str());
        if let Some(Ok(value)) = plan.map(HeaderValue::from_str) {
            headers.insert(X_CONSUMER_PLAN.clone(), value);
        }
    }
    if let (Some(provider), Some(claims)) = (identity.jwt_provider, &identity.claims) {
        for (claim, header) in &config.authentication.jwt[provider].forward_claims {
            let text = match claims.get(claim) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => continue,
                Some(other) => other.to_string(),
            };
            if let Ok(value) = HeaderValue::from_str(&text) {
                headers.insert(header.clone(), value);
            }
        }
    }
    let keep = route.auth.as_ref().is_some_and(|auth| auth.keep_credential);
    if let (false, Location::Header(name)) = (keep, &identity.location) {
        headers.remove(name);
    }
}
