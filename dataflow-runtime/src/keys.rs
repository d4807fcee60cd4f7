//! Key groups: the unit in which keyed state is stored and redistributed.
//!
//! `key_group = hash(key) % max_parallelism` and `subtask = key_group * parallelism /
//! max_parallelism` (Flink's scheme). The hash must be the same in every process and every
//! run, because it decides where state lives across restarts: we use `FxHasher` (fixed, no
//! random seed) followed by a murmur3 finalizer so that keys differing in few bits still
//! spread over all key groups.

use std::hash::{Hash, Hasher};

/// Default number of key groups, as in Flink.
pub const DEFAULT_MAX_PARALLELISM: usize = 128;

/// The largest supported `max_parallelism` (key groups travel as `u16`).
pub const MAX_MAX_PARALLELISM: usize = 1 << 15;

/// A stable 64-bit hash of a key: the same for equal keys in every process and every run.
pub fn stable_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    key.hash(&mut hasher);
    fmix64(hasher.finish())
}

/// murmur3's 64-bit finalizer: every input bit affects every output bit.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The key group of a key.
pub fn key_group<K: Hash + ?Sized>(key: &K, max_parallelism: usize) -> u16 {
    key_group_of_hash(stable_hash(key), max_parallelism)
}

/// The key group of a key whose [`stable_hash`] is already known.
#[inline]
pub fn key_group_of_hash(hash: u64, max_parallelism: usize) -> u16 {
    let m = max_parallelism as u64;
    // A power of two (the default, 128) takes a mask instead of a 64-bit division: the same
    // key group, a fraction of the cost on the per-record path.
    if m.is_power_of_two() {
        (hash & (m - 1)) as u16
    } else {
        (hash % m) as u16
    }
}

/// The subtask that owns a key group.
pub fn subtask_for_key_group(key_group: u16, parallelism: usize, max_parallelism: usize) -> usize {
    key_group as usize * parallelism / max_parallelism
}

/// The key groups a subtask owns: a contiguous range.
pub fn key_groups_of_subtask(
    subtask: usize,
    parallelism: usize,
    max_parallelism: usize,
) -> std::ops::Range<usize> {
    // The smallest g with g * p / m >= subtask is ceil(subtask * m / p).
    let start = (subtask * max_parallelism).div_ceil(parallelism);
    let end = ((subtask + 1) * max_parallelism).div_ceil(parallelism);
    start..end
}

/// What a key of a keyed stream must be: hashable and comparable (its state is found by
/// it), cloneable, and serializable, so that its state can be checkpointed and restored at
/// another parallelism (Flink likewise needs a serializer for every key type).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a key: keys must be `Hash + Eq + Clone + Send + Serialize + Deserialize`",
    note = "keyed state is checkpointed with its key: derive `serde::Serialize` and `serde::Deserialize` for `{Self}` (and `Hash`, `Eq`, `Clone`)"
)]
pub trait Key:
    Hash + Eq + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static
{
}

impl<T> Key for T where
    T: Hash + Eq + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_across_calls_and_spreads() {
        assert_eq!(stable_hash("flink"), stable_hash(&"flink".to_string()));
        let mut seen = vec![0usize; 128];
        for i in 0..12_800u64 {
            seen[key_group(&i, 128) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50 && n < 150), "{seen:?}");
    }

    /// Key groups (of 128) of `""`, `"a"`, `"flink"`, `"dataflow"` and of `0u64`, `1`, `42`,
    /// `u64::MAX`, as this version computes them.
    const PINNED_STRINGS: [u16; 4] = [12, 120, 87, 63];
    const PINNED_NUMBERS: [u16; 4] = [0, 72, 125, 59];

    /// Key groups decide where state lives across restarts and versions: a change of hash
    /// must be deliberate, so these values are fixed.
    #[test]
    fn hash_values_are_pinned() {
        let groups: Vec<u16> = ["", "a", "flink", "dataflow"]
            .iter()
            .map(|k| key_group(k, 128))
            .collect();
        let numbers: Vec<u16> = [0u64, 1, 42, u64::MAX]
            .iter()
            .map(|k| key_group(k, 128))
            .collect();
        assert_eq!(
            (groups, numbers),
            (PINNED_STRINGS.to_vec(), PINNED_NUMBERS.to_vec())
        );
    }

    #[test]
    fn key_group_ranges_partition_all_groups_consistently() {
        for p in 1..=10 {
            let mut next = 0;
            for s in 0..p {
                let range = key_groups_of_subtask(s, p, 128);
                assert_eq!(range.start, next);
                for g in range.clone() {
                    assert_eq!(subtask_for_key_group(g as u16, p, 128), s);
                }
                next = range.end;
            }
            assert_eq!(next, 128);
        }
    }
}
