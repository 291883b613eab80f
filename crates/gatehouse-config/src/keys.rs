//! SHA-256 digests of API keys and their text form `sha256:<64 hex digits>`.
//!
//! The configuration stores only digests, so a leaked file or `GET /admin/config` output does
//! not reveal a key. The gateway hashes each presented key and looks the digest up.

use sha2::{Digest, Sha256};

/// Prefix of a key digest written as text.
pub const KEY_HASH_PREFIX: &str = "sha256:";

/// Hex digits of the digest that `short_key_hash` keeps.
const SHORT_HASH_DIGITS: usize = 6;

/// A `sha256:` key digest that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyHashError {
    #[error("the value does not start with `sha256:`")]
    MissingPrefix,
    #[error("expected 64 hexadecimal digits after `sha256:`, found {found} characters")]
    WrongLength { found: usize },
    #[error("invalid hexadecimal digit {character:?} at position {position} after `sha256:`")]
    InvalidDigit { character: char, position: usize },
}

/// Computes the SHA-256 digest of an API key's UTF-8 bytes.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Formats a digest as `sha256:` followed by 64 lower-case hex digits.
pub fn format_key_hash(hash: &[u8; 32]) -> String {
    let mut text = String::with_capacity(KEY_HASH_PREFIX.len() + 64);
    text.push_str(KEY_HASH_PREFIX);
    text.push_str(&hex(hash));
    text
}

/// Formats the first 6 hex digits of a digest, as `sha256:9f86d0…`, for output that must
/// not list whole digests.
pub fn short_key_hash(hash: &[u8; 32]) -> String {
    let digits = hex(hash);
    format!("{KEY_HASH_PREFIX}{}…", &digits[..SHORT_HASH_DIGITS])
}

/// Parses `sha256:` followed by 64 hex digits in either case.
pub fn parse_key_hash(text: &str) -> Result<[u8; 32], KeyHashError> {
    let digits = text
        .strip_prefix(KEY_HASH_PREFIX)
        .ok_or(KeyHashError::MissingPrefix)?;
    let found = digits.chars().count();
    if let Some((position, character)) = digits
        .chars()
        .enumerate()
        .find(|(_, character)| !character.is_ascii_hexdigit())
    {
        return Err(KeyHashError::InvalidDigit {
            character,
            position: position + 1,
        });
    }
    if found != 64 {
        return Err(KeyHashError::WrongLength { found });
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(digits.as_bytes().chunks(2)) {
        *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
    }
    Ok(hash)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Returns the value of an ASCII hex digit; the caller has checked that it is one.
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_HASH: &str =
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn hash_of_test() {
        assert_eq!(format_key_hash(&hash_api_key("test")), TEST_HASH);
    }

    #[test]
    fn parse_round_trip() {
        let hash = hash_api_key("test");
        assert_eq!(parse_key_hash(TEST_HASH), Ok(hash));
        assert_eq!(
            parse_key_hash(&TEST_HASH.to_uppercase().replace("SHA256", "sha256")),
            Ok(hash)
        );
    }

    #[test]
    fn short_hash_keeps_prefix() {
        assert_eq!(short_key_hash(&hash_api_key("test")), "sha256:9f86d0…");
    }

    #[test]
    fn parse_errors() {
        assert_eq!(parse_key_hash("9f86"), Err(KeyHashError::MissingPrefix));
        assert_eq!(
            parse_key_hash("sha256:9f86"),
            Err(KeyHashError::WrongLength { found: 4 })
        );
        assert_eq!(
            parse_key_hash("sha256:9g"),
            Err(KeyHashError::InvalidDigit {
                character: 'g',
                position: 2
            })
        );
    }
}
