//! Keyed state: one value of the user's state type per key, stored per key group.
//!
//! A keyed process function declares its per-key state as an ordinary Rust type
//! (`Default + Clone + Serialize + DeserializeOwned`); the operator hands it out as `&mut`,
//! creating it with `Default` on first use. Flink's state handles ([`ValueState`],
//! [`ListState`], [`MapState`]) are provided as field types for such a struct, for code ported
//! from Flink; they live inside the same per-key value, in the same per-key-group storage.
//!
//! Storage is one hash table per key group the subtask owns (see [`crate::keys`]), so that a
//! snapshot can be written, and later redistributed, key group by key group.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

use crate::element::Timestamp;

/// Flink's `ValueState`: one optional value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueState<T>(Option<T>);

impl<T> Default for ValueState<T> {
    fn default() -> Self {
        ValueState(None)
    }
}

impl<T> ValueState<T> {
    /// The value, if one was set.
    pub fn value(&self) -> Option<&T> {
        self.0.as_ref()
    }

    /// Sets the value.
    pub fn update(&mut self, value: T) {
        self.0 = Some(value);
    }

    /// Removes the value, returning it.
    pub fn take(&mut self) -> Option<T> {
        self.0.take()
    }

    /// Removes the value.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

/// Flink's `ListState`: a list of values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListState<T>(Vec<T>);

impl<T> Default for ListState<T> {
    fn default() -> Self {
        ListState(Vec::new())
    }
}

impl<T> ListState<T> {
    /// Appends a value.
    pub fn add(&mut self, value: T) {
        self.0.push(value);
    }

    /// Appends several values.
    pub fn add_all(&mut self, values: impl IntoIterator<Item = T>) {
        self.0.extend(values);
    }

    /// The values, in the order they were added.
    pub fn get(&self) -> &[T] {
        &self.0
    }

    /// Replaces the values.
    pub fn update(&mut self, values: Vec<T>) {
        self.0 = values;
    }

    /// Removes and returns all values.
    pub fn take(&mut self) -> Vec<T> {
        std::mem::take(&mut self.0)
    }

    /// Removes all values.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Flink's `MapState`: a map from user keys to values, per stream key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapState<K: Hash + Eq, V>(std::collections::HashMap<K, V>);

impl<K: Hash + Eq, V> Default for MapState<K, V> {
    fn default() -> Self {
        MapState(std::collections::HashMap::new())
    }
}

impl<K: Hash + Eq, V> MapState<K, V> {
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.0.get(key)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.0.get_mut(key)
    }

    /// Sets the value of `key`, returning the previous one.
    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        self.0.insert(key, value)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.0.remove(key)
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }

    /// All entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes all entries.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// How long keyed state lives without being touched (state TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateTtl {
    /// State of a key expires `ttl` ms of processing time after it was last written or read.
    ProcessingTime(Timestamp),
    /// State of a key expires once the watermark passes the timestamp of the last record that
    /// touched it by `ttl` ms.
    EventTime(Timestamp),
}

/// Whether keyed state expires, decided by type so that state without a TTL stores no
/// timestamp per key.
pub trait TtlPolicy: Copy + Send + 'static {
    /// What each key's entry stores for it: nothing, or when it was last touched.
    type Touch: Copy + Send + Serialize + serde::de::DeserializeOwned + 'static;
    /// The TTL, if any.
    fn config(&self) -> Option<StateTtl>;
    /// The touch record of time `at`.
    fn stamp(at: Timestamp) -> Self::Touch;
    /// When an entry was last touched.
    fn touched(touch: &Self::Touch) -> Timestamp;
    /// The later of two touches.
    fn latest(a: Self::Touch, b: Self::Touch) -> Self::Touch;
}

/// State never expires.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTtl;

impl TtlPolicy for NoTtl {
    type Touch = ();
    #[inline(always)]
    fn config(&self) -> Option<StateTtl> {
        None
    }
    #[inline(always)]
    fn stamp(_at: Timestamp) {}
    #[inline(always)]
    fn touched(_touch: &()) -> Timestamp {
        0
    }
    #[inline(always)]
    fn latest(_a: (), _b: ()) {}
}

impl TtlPolicy for StateTtl {
    type Touch = Timestamp;
    fn config(&self) -> Option<StateTtl> {
        Some(*self)
    }
    fn stamp(at: Timestamp) -> Timestamp {
        at
    }
    fn touched(touch: &Timestamp) -> Timestamp {
        *touch
    }
    fn latest(a: Timestamp, b: Timestamp) -> Timestamp {
        a.max(b)
    }
}

/// One key's entry: the key, its state and when it was last touched (for TTL).
pub(crate) struct Entry<K, S, T = Timestamp> {
    pub(crate) key: K,
    pub(crate) state: S,
    pub(crate) touched: T,
}

/// The per-key state of one operator in one subtask: a hash table per owned key group.
pub(crate) struct KeyedStore<K, S, T = Timestamp> {
    groups: Vec<HashTable<Entry<K, S, T>>>,
    first_group: usize,
}

pub(crate) fn hash_key<K: Hash + ?Sized>(key: &K) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(key)
}

impl<K: Hash + Eq, S, T> KeyedStore<K, S, T> {
    pub(crate) fn new() -> Self {
        KeyedStore {
            groups: Vec::new(),
            first_group: 0,
        }
    }

    /// Prepares the tables of the key groups `owned`.
    pub(crate) fn open(&mut self, owned: std::ops::Range<usize>) {
        self.first_group = owned.start;
        self.groups = owned.map(|_| HashTable::new()).collect();
    }

    fn group(&mut self, key_group: u16) -> &mut HashTable<Entry<K, S, T>> {
        // A key group outside this subtask's range would be a routing bug: indexing fails
        // loudly.
        &mut self.groups[key_group as usize - self.first_group]
    }

    /// The entry of `key`, created from `make` if absent.
    #[inline]
    pub(crate) fn get_or_insert(
        &mut self,
        key_group: u16,
        key: &K,
        make: impl FnOnce() -> Entry<K, S, T>,
    ) -> &mut Entry<K, S, T> {
        let hash = hash_key(key);
        let group = self.group(key_group);
        // One probe finds the key or the slot to insert it into.
        match group.entry(hash, |e| e.key == *key, |e| hash_key(&e.key)) {
            hashbrown::hash_table::Entry::Occupied(entry) => entry.into_mut(),
            hashbrown::hash_table::Entry::Vacant(slot) => slot.insert(make()).into_mut(),
        }
    }

    /// Removes the entry of `key`.
    pub(crate) fn remove(&mut self, key_group: u16, key: &K) {
        let hash = hash_key(key);
        if let Ok(entry) = self.group(key_group).find_entry(hash, |e| e.key == *key) {
            entry.remove();
        }
    }

    /// Takes every entry out, key group by key group.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Entry<K, S, T>> + '_ {
        self.groups.iter_mut().flat_map(|group| group.drain())
    }

    /// Removes every entry for which `expired` says so.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Entry<K, S, T>) -> bool) {
        for group in &mut self.groups {
            group.retain(|e| keep(e));
        }
    }

    /// Visits every entry mutably; removes those for which `keep` returns false.
    pub(crate) fn retain_mut(&mut self, mut keep: impl FnMut(&mut Entry<K, S, T>) -> bool) {
        for group in &mut self.groups {
            group.retain(|e| keep(e));
        }
    }

    /// The owned key groups, each with its entries.
    pub(crate) fn key_groups(&self) -> impl Iterator<Item = (u16, &HashTable<Entry<K, S, T>>)> {
        let first = self.first_group;
        self.groups
            .iter()
            .enumerate()
            .map(move |(i, table)| ((first + i) as u16, table))
    }

    /// Whether this store owns `key_group`.
    pub(crate) fn owns(&self, key_group: u16) -> bool {
        (self.first_group..self.first_group + self.groups.len()).contains(&(key_group as usize))
    }

    /// How many keys have state.
    pub(crate) fn len(&self) -> usize {
        self.groups.iter().map(HashTable::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_handles_behave_like_flinks() {
        let mut value = ValueState::default();
        assert_eq!(value.value(), None);
        value.update(3);
        assert_eq!(value.value(), Some(&3));
        value.clear();
        assert_eq!(value.take(), None);

        let mut list = ListState::default();
        list.add(1);
        list.add_all([2, 3]);
        assert_eq!(list.get(), &[1, 2, 3]);
        assert_eq!(list.take(), vec![1, 2, 3]);
        assert!(list.is_empty());

        let mut map = MapState::default();
        assert_eq!(map.put("a", 1), None);
        assert_eq!(map.put("a", 2), Some(1));
        assert!(map.contains(&"a"));
        assert_eq!(map.remove(&"a"), Some(2));
        assert!(map.is_empty());
    }

    #[test]
    fn the_store_keeps_one_entry_per_key_in_its_key_group() {
        let mut store: KeyedStore<u64, u64> = KeyedStore::new();
        store.open(10..20);
        for key in 0..1000u64 {
            let group = 10 + (key % 10) as u16;
            let entry = store.get_or_insert(group, &key, || Entry {
                key,
                state: 0,
                touched: 0,
            });
            entry.state += key;
        }
        for key in 0..1000u64 {
            let group = 10 + (key % 10) as u16;
            let entry = store.get_or_insert(group, &key, || unreachable!("key {key} exists"));
            assert_eq!(entry.state, key);
        }
        store.remove(13, &3);
        assert_eq!(store.len(), 999);
        store.retain(|e| e.key % 2 == 0);
        assert_eq!(store.len(), 500);
    }
}
