//! Value checks shared by the identity sections: secrets read from the environment, endpoint
//! URLs, claim names and query parameter names.

use serde_saphyr::Spanned;

use crate::file::SecretValue;
use crate::model::Secret;
use crate::validate::fields::last_key;
use crate::validate::report::{Problem, Report};
use crate::validate::upstreams::split_host_port;

/// Reads the environment variable named by `{ env: NAME }`. `path` is the key path of the
/// secret, without the trailing `.env`. Messages name the variable and never its value.
pub(crate) fn env_value(report: &mut Report, name: &Spanned<String>, path: &str) -> Option<String> {
    let path = format!("{path}.env");
    let variable = name.value.as_str();
    let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let starts_with_digit = variable.starts_with(|c: char| c.is_ascii_digit());
    if variable.is_empty() || starts_with_digit || !variable.chars().all(valid_char) {
        let message = format!("invalid environment variable name {variable:?}");
        let help = "use letters, digits and `_`, not starting with a digit, such as ACME_API_KEY";
        report.error(name, &path, message, help);
        return None;
    }
    let help = "set it in the environment that starts the gateway; a running gateway reloads \
                with the environment it was started with";
    let problem = match std::env::var(variable) {
        Ok(value) if value.is_empty() => format!("environment variable `{variable}` is empty"),
        Ok(value) => return Some(value),
        Err(std::env::VarError::NotPresent) => {
            format!("environment variable `{variable}` is not set")
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            format!("environment variable `{variable}` is not valid UTF-8")
        }
    };
    report.error(name, &path, problem, help);
    None
}

/// Returns a secret that may be written in the file or read from the environment, such as
/// an introspection client secret. An empty string is reported.
pub(crate) fn secret(
    report: &mut Report,
    value: &Spanned<SecretValue>,
    path: &str,
) -> Option<Secret> {
    match &value.value {
        SecretValue::Env(name) => env_value(report, name, path).map(Secret),
        SecretValue::Plain(text) if text.is_empty() => {
            let message = format!("{} is empty", last_key(path));
            let help =
                "write the secret, or `{ env: NAME }` to read it from an environment variable";
            report.error(value, path, message, help);
            None
        }
        SecretValue::Plain(text) => Some(Secret(text.clone())),
    }
}

/// Checks an `http://` or `https://` URL with a host, such as a JWKS or introspection
/// endpoint. Paths and queries are allowed; credentials and fragments are not.
pub(crate) fn endpoint_url(text: &str, key: &str) -> Result<(), Problem> {
    let invalid =
        |reason: &str, help: &str| Problem::new(format!("invalid {key} {text:?}: {reason}"), help);
    let example = "write a URL such as https://idp.example.com/.well-known/jwks.json";
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(invalid("missing `http://` or `https://`", example));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        let reason = format!("unsupported scheme `{scheme}`");
        return Err(invalid(&reason, "use http:// or https://"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        // The URL is left out of this message because the part before `@` may be a password.
        return Err(Problem::new(
            format!("{key} contains credentials (`user:password@`)"),
            "remove them from the URL; endpoints are called without credentials in the URL",
        ));
    }
    if let Some(fragment_start) = tail.find('#') {
        let reason = format!("fragment `{}` is not allowed", &tail[fragment_start..]);
        return Err(invalid(&reason, "remove the part from `#` on"));
    }
    split_host_port(authority).map_err(|(reason, help)| invalid(&reason, help))?;
    Ok(())
}

/// Checks a claim name or a field name of an introspection response: not empty, no spaces.
pub(crate) fn claim_name(text: &str, key: &str) -> Result<(), Problem> {
    if text.is_empty() {
        return Err(Problem::new(
            format!("{key} is empty"),
            "write a claim name such as `sub`",
        ));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(Problem::new(
            format!("invalid claim name {text:?} in {key}: it contains white space"),
            "write the claim name exactly as it appears in the token, such as `email`",
        ));
    }
    Ok(())
}

/// Checks a query parameter name: not empty and free of `&`, `=`, `#` and white space, which
/// cannot appear unencoded in a parameter name.
pub(crate) fn query_parameter(text: &str, key: &str) -> Result<(), Problem> {
    let help = "write a parameter name such as `api_key` or `access_token`";
    if text.is_empty() {
        return Err(Problem::new(format!("{key} is empty"), help));
    }
    let invalid = |c: char| matches!(c, '&' | '=' | '#' | '?') || c.is_whitespace();
    if let Some(character) = text.chars().find(|&c| invalid(c)) {
        let message = format!("invalid query parameter name {text:?}: it contains {character:?}");
        return Err(Problem::new(message, help));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_url_accepts_path_and_query() {
        assert!(endpoint_url("https://idp.example.com/jwks.json?v=1", "jwks_url").is_ok());
        assert!(endpoint_url("http://127.0.0.1:9100/.well-known/jwks.json", "jwks_url").is_ok());
        assert!(endpoint_url("http://[::1]:9100/", "jwks_url").is_ok());
    }

    #[test]
    fn endpoint_url_rejections() {
        let cases = [
            ("idp.example.com/jwks", "missing `http://`"),
            ("ftp://idp.example.com/jwks", "unsupported scheme"),
            ("https:///jwks", "missing host"),
            ("https://idp.example.com/jwks#keys", "fragment"),
            ("https://user:pw@idp.example.com/jwks", "credentials"),
        ];
        for (url, expected) in cases {
            let problem = endpoint_url(url, "jwks_url").expect_err(url);
            assert!(
                problem.message.contains(expected),
                "{url}: {}",
                problem.message
            );
            assert!(!problem.message.contains("pw@"), "{url}");
        }
    }

    #[test]
    fn query_parameter_rejects_separators() {
        assert!(query_parameter("api_key", "query").is_ok());
        assert!(query_parameter("", "query").is_err());
        assert!(query_parameter("a&b", "query").is_err());
        assert!(query_parameter("a b", "query").is_err());
    }
}
