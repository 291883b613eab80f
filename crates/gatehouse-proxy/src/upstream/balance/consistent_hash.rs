//! Consistent hashing on a ring of virtual nodes (160 per unit of weight), so that adding or
//! removing a target moves only the keys next to its points.

/// Points on the ring, sorted by hash, each naming its target.
pub struct HashRing {
    points: Vec<(u64, usize)>,
}

const POINTS_PER_WEIGHT: u32 = 160;

impl HashRing {
    pub fn new(weights: &[u32]) -> Self {
        let mut points = Vec::new();
        for (target, weight) in weights.iter().enumerate() {
            for replica in 0..weight * POINTS_PER_WEIGHT {
                let label = format!("{target}-{replica}");
                points.push((hash(label.as_bytes()), target));
            }
        }
        points.sort_unstable();
        HashRing { points }
    }

    /// Returns the first eligible target clockwise from the key's hash.
    pub fn pick(&self, key: &[u8], eligible: impl Fn(usize) -> bool) -> usize {
        let start = self.points.partition_point(|(point, _)| *point < hash(key));
        (0..self.points.len())
            .map(|offset| self.points[(start + offset) % self.points.len()].1)
            .find(|target| eligible(*target))
            .unwrap_or(0)
    }
}

/// FNV-1a followed by the splitmix64 finalizer, which spreads short keys over the ring.
fn hash(bytes: &[u8]) -> u64 {
    let mut value: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        value ^= u64::from(*byte);
        value = value.wrapping_mul(0x0000_0100_0000_01b3);
    }
    value ^= value >> 30;
    value = value.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value ^= value >> 27;
    value = value.wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_target() {
        let ring = HashRing::new(&[1, 1, 1]);
        let first = ring.pick(b"user-42", |_| true);
        assert!((0..10).all(|_| ring.pick(b"user-42", |_| true) == first));
    }

    #[test]
    fn removal_moves_only_its_keys() {
        let ring = HashRing::new(&[1, 1, 1]);
        let mut moved = 0;
        for key in 0..1000 {
            let key = format!("key-{key}");
            let before = ring.pick(key.as_bytes(), |_| true);
            let after = ring.pick(key.as_bytes(), |target| target != 2);
            if before != 2 {
                assert_eq!(before, after, "a key of a remaining target moved");
            } else {
                moved += 1;
            }
        }
        assert!(
            moved > 200 && moved < 470,
            "target 2 held {moved} of 1000 keys"
        );
    }
}
