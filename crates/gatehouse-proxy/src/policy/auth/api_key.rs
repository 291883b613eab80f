//! API key lookup: the presented key is hashed with SHA-256 and looked up in a table of the
//! consumers' key digests, so the cost does not grow with the number of consumers. The
//! digest found is compared again in constant time.

use std::collections::HashMap;

use gatehouse_config::model::Consumer;
use sha2::{Digest, Sha256};

/// Digests of every configured key, each naming its consumer.
#[derive(Default)]
pub struct KeyTable {
    keys: HashMap<[u8; 32], usize>,
}

impl KeyTable {
    pub fn new(consumers: &[Consumer]) -> Self {
        let mut keys = HashMap::new();
        for (index, consumer) in consumers.iter().enumerate() {
            for digest in &consumer.api_keys {
                keys.insert(*digest, index);
            }
        }
        KeyTable { keys }
    }

    /// Returns the consumer that owns `key`, if any.
    pub fn find(&self, key: &str) -> Option<usize> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let (stored, consumer) = self.keys.get_key_value(&digest)?;
        constant_time_eq(stored, &digest).then_some(*consumer)
    }
}

/// Compares two digests without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_owner_of_key() {
        let consumer = Consumer {
            id: "acme".into(),
            plan: None,
            api_keys: vec![Sha256::digest(b"secret-key").into()],
            tags: Vec::new(),
            rate_limits: None,
            quotas: None,
        };
        let table = KeyTable::new(&[consumer]);
        assert_eq!(table.find("secret-key"), Some(0));
        assert_eq!(table.find("secret-kez"), None);
    }
}
