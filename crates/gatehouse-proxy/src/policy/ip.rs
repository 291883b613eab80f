//! IP allow and deny rules of a route. Deny wins; an empty allow list allows everyone.

use std::net::IpAddr;

use gatehouse_config::model::IpRules;

use crate::error::ProxyError;

/// Checks `client` against the route's rules.
pub fn check(rules: &IpRules, client: IpAddr) -> Result<(), ProxyError> {
    if rules.deny.iter().any(|network| network.contains(client)) {
        return Err(ProxyError::Forbidden {
            code: "ip_denied",
            message: "the client address is not allowed",
        });
    }
    if !rules.allow.is_empty() && !rules.allow.iter().any(|network| network.contains(client)) {
        return Err(ProxyError::Forbidden {
            code: "ip_denied",
            message: "the client address is not allowed",
        });
    }
    Ok(())
}
