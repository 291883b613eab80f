//! Verification keys of a JWT provider: parsed from a JWKS document, from PEM or JWK files,
//! or from HMAC secrets. Every key carries its algorithm family, and a key is only ever
//! used with algorithms of its own family, so an RSA public key can never serve as an
//! HMAC secret.

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// One usable key.
#[derive(Clone)]
pub struct KeyEntry {
    pub kid: Option<String>,
    pub key: DecodingKey,
    pub family: AlgorithmFamily,
    /// The `alg` the key is restricted to, when its JWK names one.
    pub algorithm: Option<String>,
}

/// The keys of one provider at one moment.
#[derive(Clone, Default)]
pub struct KeySet {
    pub keys: Vec<KeyEntry>,
}

impl KeySet {
    /// Returns the keys that may verify a token with this `kid` and algorithm.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        algorithm: Algorithm,
    ) -> impl Iterator<Item = &'a KeyEntry> + 'a {
        self.keys.iter().filter(move |entry| {
            // A key without an id (a PEM file, an HMAC secret) may verify a token with any kid.
            let kid_matches = match (kid, entry.kid.as_deref()) {
                (Some(kid), Some(own)) => own == kid,
                _ => true,
            };
            let algorithm_matches = entry
                .algorithm
                .as_deref()
                .is_none_or(|name| name == algorithm_name(algorithm));
            kid_matches && entry.family == algorithm.family() && algorithm_matches
        })
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys
            .iter()
            .any(|entry| entry.kid.as_deref() == Some(kid))
    }
}

/// Returns the RFC 7518 name of an algorithm.
pub fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

/// Parses a JWKS document, skipping encryption keys, symmetric keys and keys it cannot use.
/// Returns the keys and how many were skipped.
pub fn parse_jwks(text: &[u8]) -> Result<(KeySet, usize), String> {
    let set: JwkSet =
        serde_json::from_slice(text).map_err(|err| format!("invalid JWKS document: {err}"))?;
    let mut keys = Vec::new();
    let mut skipped = 0;
    for jwk in &set.keys {
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
            AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
            AlgorithmParameters::OctetKeyPair(_) => AlgorithmFamily::Ed,
            _ => {
                skipped += 1;
                continue;
            }
        };
        let for_encryption = matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            skipped += 1;
            continue;
        };
        if for_encryption {
            skipped += 1;
            continue;
        }
        let algorithm = jwk
            .common
            .key_algorithm
            .map(|algorithm| format!("{algorithm:?}"));
        keys.push(KeyEntry {
            kid: jwk.common.key_id.clone(),
            key,
            family,
            algorithm,
        });
    }
    Ok((KeySet { keys }, skipped))
}

/// A `DecodingKey` constructor for one PEM key type.
type PemParser = fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>;

/// Parses a PEM public key for the families of `algorithms`, trying RSA, EC and Ed25519.
pub fn parse_pem(pem: &[u8], algorithms: &[Algorithm]) -> Result<KeyEntry, String> {
    let families: Vec<AlgorithmFamily> = algorithms
        .iter()
        .map(|algorithm| algorithm.family())
        .collect();
    let attempts: [(AlgorithmFamily, PemParser); 3] = [
        (AlgorithmFamily::Rsa, DecodingKey::from_rsa_pem),
        (AlgorithmFamily::Ec, DecodingKey::from_ec_pem),
        (AlgorithmFamily::Ed, DecodingKey::from_ed_pem),
    ];
    for (family, parse) in attempts {
        if families.contains(&family) {
            if let Ok(key) = parse(pem) {
                return Ok(KeyEntry {
                    kid: None,
                    key,
                    family,
                    algorithm: None,
                });
            }
        }
    }
    Err("not a PEM public key for the provider's algorithms".to_string())
}
