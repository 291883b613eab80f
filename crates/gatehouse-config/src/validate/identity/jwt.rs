//! Checks for `authentication.jwt`: issuer and audiences, the algorithm list, exactly one key
//! source that fits the algorithms, the consumer claim and forwarded claims.

use std::collections::HashMap;
use std::time::Duration;

use http::HeaderName;
use serde_saphyr::{Location, Spanned};

use crate::file::{self, SecretValue, SpannedList, StringMap};
use crate::model::{JwtKeys, JwtProvider, Secret};
use crate::validate::fields::{
    check_name, check_unique_names, duration, existing_file, header_name, positive_duration,
};
use crate::validate::report::{line_of, Problem, Report};
use crate::validate::routes::MANAGED_HEADERS;
use crate::validate::suggest::{closest, quoted_list};
use crate::validate::FileBase;

use super::values::{claim_name, endpoint_url, env_value};

/// HMAC algorithms and the minimum secret length of each in bytes: RFC 7518, section 3.2,
/// requires a key at least as long as the hash output.
const HMAC_ALGORITHMS: [(&str, usize); 3] = [("HS256", 32), ("HS384", 48), ("HS512", 64)];

const PUBLIC_KEY_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Headers that the gateway sets on forwarded requests itself, so no claim may be forwarded
/// in them.
const GATEWAY_HEADERS: [&str; 7] = [
    "x-consumer-id",
    "x-consumer-plan",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "host",
];

/// The key sources of a provider, exactly one of which must be present.
const KEY_SOURCES: &str = "`jwks_url`, `keys` or `secrets`";

#[derive(Clone, Copy, PartialEq, Eq)]
enum AlgorithmKind {
    Hmac,
    PublicKey,
}

/// A valid `algorithms` list, all of one kind.
struct Algorithms {
    names: Vec<String>,
    kind: AlgorithmKind,
    /// For HMAC, the strongest algorithm listed and the secret length in bytes it needs.
    strongest_hmac: Option<(&'static str, usize)>,
}

/// Checks every JWT provider. Providers with a problem are left out of the result.
pub(crate) fn jwt_providers(
    section: Option<&SpannedList<file::JwtProvider>>,
    base: &FileBase,
    report: &mut Report,
) -> Vec<JwtProvider> {
    let Some(items) = section.map(|list| &list.value) else {
        return Vec::new();
    };
    let names = items.iter().enumerate().map(|(index, item)| {
        let path = format!("authentication.jwt[{index}].name");
        (&item.value.name, path)
    });
    check_unique_names(report, "JWT provider", names);
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let path = format!("authentication.jwt[{index}]");
            jwt_provider(item, &path, base, report)
        })
        .collect()
}

fn jwt_provider(
    item: &Spanned<file::JwtProvider>,
    path: &str,
    base: &FileBase,
    report: &mut Report,
) -> Option<JwtProvider> {
    let file = &item.value;
    let key_path = |key: &str| format!("{path}.{key}");
    check_name(report, &file.name, &key_path("name"), "JWT provider");
    if file.issuer.value.is_empty() {
        let help = "write the `iss` value that the provider puts in its tokens, such as https://idp.example.com/";
        report.error(&file.issuer, &key_path("issuer"), "issuer is empty", help);
    }
    let audiences = audiences(item, path, report);
    let algorithms = algorithms(item, path, report);
    let keys = keys(item, path, algorithms.as_ref(), base, report);
    let consumer_claim = consumer_claim(file, path, report);
    let leeway = duration(report, file.leeway.as_ref(), &key_path("leeway"));
    let forward_claims = forward_claims(
        file.forward_claims.as_ref(),
        &key_path("forward_claims"),
        report,
    );
    Some(JwtProvider {
        name: file.name.value.clone(),
        issuer: file.issuer.value.clone(),
        audiences,
        keys: keys?,
        algorithms: algorithms?.names,
        consumer_claim,
        require_consumer: file
            .require_consumer
            .as_ref()
            .is_some_and(|flag| flag.value),
        leeway: leeway.unwrap_or(Duration::from_secs(30)),
        require_exp: file.require_exp.as_ref().is_none_or(|flag| flag.value),
        forward_claims,
    })
}

/// Checks `audiences`: at least one, none empty, because a token must name one of them.
fn audiences(item: &Spanned<file::JwtProvider>, path: &str, report: &mut Report) -> Vec<String> {
    let list_path = format!("{path}.audiences");
    let section = item.value.audiences.as_ref();
    let Some(list) = section.filter(|list| !list.value.is_empty()) else {
        let at = section.map_or(&item.referenced, |list| &list.referenced);
        let message = format!("JWT provider {:?} has no audiences", item.value.name.value);
        let help =
            "add `audiences:` with the `aud` values that the gateway accepts, such as [gatehouse]";
        report.push(at, &list_path, Problem::new(message, help));
        return Vec::new();
    };
    for (index, audience) in list.value.iter().enumerate() {
        if audience.value.is_empty() {
            let help = "write the `aud` value, or remove the entry";
            report.error(
                audience,
                &format!("{list_path}[{index}]"),
                "audience is empty",
                help,
            );
        }
    }
    list.value
        .iter()
        .map(|audience| audience.value.clone())
        .collect()
}

/// Checks `algorithms`: present, every name supported, and all HMAC or all public-key.
fn algorithms(
    item: &Spanned<file::JwtProvider>,
    path: &str,
    report: &mut Report,
) -> Option<Algorithms> {
    let list_path = format!("{path}.algorithms");
    let section = item.value.algorithms.as_ref();
    let Some(list) = section.filter(|list| !list.value.is_empty()) else {
        let at = section.map_or(&item.referenced, |list| &list.referenced);
        let message = format!(
            "JWT provider {:?} lists no algorithms",
            item.value.name.value
        );
        let help = "add `algorithms:` with the algorithms that the provider signs tokens with, such as [RS256]";
        report.push(at, &list_path, Problem::new(message, help));
        return None;
    };
    let mut kinds = Vec::new();
    for (index, name) in list.value.iter().enumerate() {
        match algorithm_kind(&name.value) {
            Ok(kind) => kinds.push((index, name, kind)),
            Err(problem) => {
                report.push(&name.referenced, &format!("{list_path}[{index}]"), problem)
            }
        }
    }
    let &(_, first, first_kind) = kinds.first()?;
    if let Some((index, other, _)) = kinds.iter().find(|(_, _, kind)| *kind != first_kind) {
        let message = format!(
            "algorithms mix HMAC and public-key algorithms: `{}` and `{}`",
            first.value, other.value
        );
        let help = "keep one kind per provider: HS256, HS384 or HS512 with `secrets`, or RS*, PS*, ES* and EdDSA with `jwks_url` or `keys`; define a second provider for the other kind";
        report.error(other, &format!("{list_path}[{index}]"), message, help);
        return None;
    }
    if kinds.len() < list.value.len() {
        return None;
    }
    let names: Vec<String> = list.value.iter().map(|name| name.value.clone()).collect();
    let strongest_hmac = HMAC_ALGORITHMS
        .into_iter()
        .filter(|(name, _)| names.iter().any(|listed| listed == name))
        .max_by_key(|(_, bytes)| *bytes);
    Some(Algorithms {
        names,
        kind: first_kind,
        strongest_hmac,
    })
}

fn algorithm_kind(name: &str) -> Result<AlgorithmKind, Problem> {
    if HMAC_ALGORITHMS.iter().any(|(hmac, _)| *hmac == name) {
        return Ok(AlgorithmKind::Hmac);
    }
    if PUBLIC_KEY_ALGORITHMS.contains(&name) {
        return Ok(AlgorithmKind::PublicKey);
    }
    if name.eq_ignore_ascii_case("none") {
        return Err(Problem::new(
            "algorithm `none` is not allowed: it accepts tokens without a signature",
            "list the algorithms that the provider signs tokens with, such as RS256",
        ));
    }
    let mut supported: Vec<&str> = HMAC_ALGORITHMS.iter().map(|(name, _)| *name).collect();
    supported.extend(PUBLIC_KEY_ALGORITHMS);
    // Only names of the same family (`HS`, `RS`, `ES`, ...) are suggested, because a close
    // name of another family, such as HS512 for ES512, needs different keys.
    let family = |algorithm: &str| algorithm.get(..2).map(str::to_ascii_uppercase);
    let same_family = supported
        .iter()
        .copied()
        .filter(|supported| family(supported) == family(name));
    let help = match closest(name, same_family) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("write one of {}", quoted_list(&supported)),
    };
    Err(Problem::new(
        format!("unsupported JWT algorithm {name:?}"),
        help,
    ))
}

/// Checks that exactly one key source is present and that it fits the algorithms, then
/// parses it.
fn keys(
    item: &Spanned<file::JwtProvider>,
    path: &str,
    algorithms: Option<&Algorithms>,
    base: &FileBase,
    report: &mut Report,
) -> Option<JwtKeys> {
    let file = &item.value;
    check_jwks_options(file, path, report);
    let sources = [
        (
            "jwks_url",
            file.jwks_url.as_ref().map(|url| &url.referenced),
        ),
        ("keys", file.keys.as_ref().map(|list| &list.referenced)),
        (
            "secrets",
            file.secrets.as_ref().map(|list| &list.referenced),
        ),
    ];
    let present: Vec<(&str, &Location)> = sources
        .into_iter()
        .filter_map(|(key, at)| at.map(|at| (key, at)))
        .collect();
    let (source, at) = match present.as_slice() {
        [] => {
            let message = format!(
                "JWT provider {:?} has no verification keys",
                file.name.value
            );
            let help = format!("set exactly one of {KEY_SOURCES}");
            report.push(&item.referenced, path, Problem::new(message, help));
            return None;
        }
        [single] => *single,
        [(first, _), (second, at), ..] => {
            let message = format!("`{first}` and `{second}` cannot be combined");
            let help = format!("keep exactly one of {KEY_SOURCES}");
            report.push(at, &format!("{path}.{second}"), Problem::new(message, help));
            return None;
        }
    };
    let source_path = format!("{path}.{source}");
    if let Some(problem) = algorithms.and_then(|algorithms| kind_mismatch(source, algorithms)) {
        report.push(at, &source_path, problem);
        return None;
    }
    match source {
        "jwks_url" => jwks(file, path, report),
        "keys" => key_files(file.keys.as_ref()?, &source_path, base, report),
        _ => {
            let strongest = algorithms.and_then(|algorithms| algorithms.strongest_hmac);
            hmac_secrets(file.secrets.as_ref()?, &source_path, strongest, report)
        }
    }
}

/// Returns the problem when HMAC algorithms meet public keys or public-key algorithms meet
/// shared secrets.
fn kind_mismatch(source: &str, algorithms: &Algorithms) -> Option<Problem> {
    let example = algorithms.names.first()?;
    match (source, algorithms.kind) {
        ("secrets", AlgorithmKind::PublicKey) => Some(Problem::new(
            format!("public-key algorithm `{example}` cannot be verified with `secrets`"),
            "use `jwks_url` or `keys` with RS*, PS*, ES* and EdDSA algorithms, or list HS256, HS384 or HS512 to verify with shared secrets",
        )),
        ("jwks_url" | "keys", AlgorithmKind::Hmac) => Some(Problem::new(
            format!("HMAC algorithm `{example}` cannot be verified with `{source}`"),
            "use `secrets: [{ env: NAME }]` with HS256, HS384 and HS512, or list the public-key algorithms that the provider signs with, such as RS256",
        )),
        _ => None,
    }
}

/// Reports JWKS settings on a provider that does not use `jwks_url`.
fn check_jwks_options(file: &file::JwtProvider, path: &str, report: &mut Report) {
    if file.jwks_url.is_some() {
        return;
    }
    let options = [
        ("jwks_refresh", &file.jwks_refresh),
        ("jwks_min_refetch_interval", &file.jwks_min_refetch_interval),
        ("jwks_timeout", &file.jwks_timeout),
    ];
    for (key, value) in options {
        if let Some(value) = value {
            let message = format!("{key} is only used with `jwks_url`");
            let help = "remove it, or load the keys from `jwks_url`";
            report.error(value, &format!("{path}.{key}"), message, help);
        }
    }
}

fn jwks(file: &file::JwtProvider, path: &str, report: &mut Report) -> Option<JwtKeys> {
    let url = file.jwks_url.as_ref()?;
    let url_valid = match endpoint_url(&url.value, "jwks_url") {
        Ok(()) => true,
        Err(problem) => {
            report.push(&url.referenced, &format!("{path}.jwks_url"), problem);
            false
        }
    };
    let mut timing = |value: &Option<Spanned<String>>, key: &str, default: u64| {
        positive_duration(report, value.as_ref(), &format!("{path}.{key}"))
            .unwrap_or(Duration::from_secs(default))
    };
    let refresh = timing(&file.jwks_refresh, "jwks_refresh", 300);
    let min_refetch_interval = timing(
        &file.jwks_min_refetch_interval,
        "jwks_min_refetch_interval",
        30,
    );
    let timeout = timing(&file.jwks_timeout, "jwks_timeout", 5);
    url_valid.then(|| JwtKeys::Jwks {
        url: url.value.clone(),
        refresh,
        min_refetch_interval,
        timeout,
    })
}

fn key_files(
    list: &SpannedList<String>,
    path: &str,
    base: &FileBase,
    report: &mut Report,
) -> Option<JwtKeys> {
    if list.value.is_empty() {
        let help = "list PEM public keys or JWK/JWKS JSON files, or remove `keys`";
        report.error(list, path, "the keys list is empty", help);
        return None;
    }
    let files = list.value.iter().enumerate();
    let files =
        files.map(|(index, file)| existing_file(report, base, file, &format!("{path}[{index}]")));
    Some(JwtKeys::Files(files.collect()))
}

/// Reads HMAC secrets, which must come from the environment. `strongest` is the strongest
/// HMAC algorithm listed and the secret length it needs, when the algorithm list is valid.
fn hmac_secrets(
    list: &SpannedList<SecretValue>,
    path: &str,
    strongest: Option<(&str, usize)>,
    report: &mut Report,
) -> Option<JwtKeys> {
    if list.value.is_empty() {
        let help =
            "add `- { env: NAME }` entries that name environment variables holding the secrets";
        report.error(list, path, "the secrets list is empty", help);
        return None;
    }
    let mut secrets = Vec::new();
    for (index, item) in list.value.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let name = match &item.value {
            SecretValue::Env(name) => name,
            SecretValue::Plain(_) => {
                let help = "move the secret to an environment variable and write `{ env: NAME }` in its place";
                report.error(item, &item_path, "HMAC secret is written in the file", help);
                continue;
            }
        };
        let Some(secret) = env_value(report, name, &item_path) else {
            continue;
        };
        if let Some((algorithm, needed)) = strongest.filter(|(_, needed)| secret.len() < *needed) {
            let message = format!(
                "HMAC secret from environment variable `{}` is {} bytes, but {algorithm} needs at least {needed}",
                name.value,
                secret.len()
            );
            let help = format!(
                "use a random secret of at least {needed} bytes; a shorter key weakens {algorithm}"
            );
            report.error(name, &format!("{item_path}.env"), message, help);
            continue;
        }
        secrets.push(Secret(secret));
    }
    (secrets.len() == list.value.len()).then_some(JwtKeys::Secrets(secrets))
}

fn consumer_claim(file: &file::JwtProvider, path: &str, report: &mut Report) -> Option<String> {
    if let (None, Some(flag)) = (&file.consumer_claim, &file.require_consumer) {
        if flag.value {
            let help = "set `consumer_claim` to the claim that names the consumer, such as `sub`, or remove require_consumer";
            let path = format!("{path}.require_consumer");
            report.error(flag, &path, "require_consumer needs a consumer_claim", help);
        }
    }
    let claim = file.consumer_claim.as_ref()?;
    match claim_name(&claim.value, "consumer_claim") {
        Ok(()) => Some(claim.value.clone()),
        Err(problem) => {
            report.push(
                &claim.referenced,
                &format!("{path}.consumer_claim"),
                problem,
            );
            None
        }
    }
}

/// Checks `forward_claims`: claim names, header names that the gateway does not set itself,
/// and one claim per header.
fn forward_claims(
    map: Option<&Spanned<StringMap>>,
    path: &str,
    report: &mut Report,
) -> Vec<(String, HeaderName)> {
    let entries = map.map_or(&[][..], |map| map.value.0.as_slice());
    let mut first_claims: HashMap<HeaderName, (&str, u64)> = HashMap::new();
    let mut forwarded = Vec::new();
    for (claim, header) in entries {
        let entry_path = format!("{path}.{}", claim.value);
        if let Err(problem) = claim_name(&claim.value, "forward_claims") {
            report.push(&claim.referenced, &entry_path, problem);
            continue;
        }
        let name = match header_name(&header.value) {
            Ok(name) => name,
            Err(problem) => {
                report.push(&header.referenced, &entry_path, problem);
                continue;
            }
        };
        let forwarding = name.as_str().starts_with("x-forwarded-") || name.as_str() == "forwarded";
        if forwarding
            || GATEWAY_HEADERS.contains(&name.as_str())
            || MANAGED_HEADERS.contains(&name.as_str())
        {
            let message =
                format!("header `{name}` is set by the gateway and cannot receive a claim");
            let help = "choose another header, such as `x-user-email`; the gateway sets `x-consumer-id` and `x-consumer-plan` from the identified consumer";
            report.error(header, &entry_path, message, help);
            continue;
        }
        if let Some((first_claim, line)) = first_claims.get(&name) {
            let message =
                format!("header `{name}` already receives claim `{first_claim}` at line {line}");
            report.error(
                header,
                &entry_path,
                message,
                "send each claim to its own header",
            );
            continue;
        }
        first_claims.insert(name.clone(), (claim.value.as_str(), line_of(header)));
        forwarded.push((claim.value.clone(), name));
    }
    forwarded
}
