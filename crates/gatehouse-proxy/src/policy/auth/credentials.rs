//! Finding credentials in a request: the API key header, `Authorization: Bearer`, and the
//! query parameters a route or the API key settings allow.

use gatehouse_config::model::{ApiKeySettings, RouteAuth};
use http::{header, HeaderMap, HeaderName};

/// Location of a credential in the request, so that it can be removed before forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Header(HeaderName),
    Query(String),
}

/// A credential and where it came from.
#[derive(Debug, Clone)]
pub struct Credential {
    pub value: String,
    pub location: Location,
}

/// Returns the bearer token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<Credential> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return None;
    }
    Some(Credential {
        value: token.to_string(),
        location: Location::Header(header::AUTHORIZATION),
    })
}

/// Returns the API key from the configured header, then from a bearer token when allowed,
/// then from the configured query parameter.
pub fn api_key(
    settings: &ApiKeySettings,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<Credential> {
    if let Some(value) = headers
        .get(&settings.header)
        .and_then(|value| value.to_str().ok())
    {
        return Some(Credential {
            value: value.trim().to_string(),
            location: Location::Header(settings.header.clone()),
        });
    }
    if settings.bearer {
        if let Some(token) = bearer(headers) {
            return Some(token);
        }
    }
    let name = settings.query.as_deref()?;
    query_value(query, name).map(|value| Credential {
        value,
        location: Location::Query(name.to_string()),
    })
}

/// Returns a token from `Authorization: Bearer`, or from the route's token query parameters.
pub fn token(auth: &RouteAuth, headers: &HeaderMap, query: Option<&str>) -> Option<Credential> {
    if let Some(token) = bearer(headers) {
        return Some(token);
    }
    auth.token_query.iter().find_map(|name| {
        query_value(query, name).map(|value| Credential {
            value,
            location: Location::Query(name.clone()),
        })
    })
}

/// Returns the decoded value of the first `name=value` pair in a raw query string.
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (crate::handler::decode_query_component(key) == name)
            .then(|| crate::handler::decode_query_component(value))
    })
}

/// Returns the query string without the parameters named in `names`, byte for byte
/// otherwise; `None` when nothing is left.
pub fn remove_query_params(query: &str, names: &[String]) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !names
                .iter()
                .any(|name| crate::handler::decode_query_component(key) == *name)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn bearer_scheme_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bEaReR abc.def"),
        );
        assert_eq!(bearer(&headers).unwrap().value, "abc.def");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9v"),
        );
        assert!(bearer(&headers).is_none());
    }

    #[test]
    fn query_params_removed_exactly() {
        let names = vec!["access_token".to_string()];
        assert_eq!(
            remove_query_params("a=1&access_token=x&b=%20", &names).as_deref(),
            Some("a=1&b=%20")
        );
        assert_eq!(remove_query_params("access_token=x", &names), None);
    }
}
