//! Per-key timers of a keyed operator, for one time domain.
//!
//! A timer is a (timestamp, key) pair: registering it twice keeps one, deleting it removes it.
//! Timers fire in timestamp order (ties in registration order), and a timer that fires may
//! register more, which fire in the same pass if they are already due.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::hash::Hash;

use hashbrown::HashTable;

use crate::element::Timestamp;
use crate::state::hash_key;

/// A registered timer as the queue orders it: earliest first, then in registration order.
struct Queued<K> {
    timestamp: Timestamp,
    sequence: u64,
    key_group: u16,
    key: K,
}

impl<K> PartialEq for Queued<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.timestamp, self.sequence) == (other.timestamp, other.sequence)
    }
}
impl<K> Eq for Queued<K> {}
impl<K> PartialOrd for Queued<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Queued<K> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest timer.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.timestamp, other.sequence).cmp(&(self.timestamp, self.sequence))
    }
}

/// A due timer, handed to the operator to fire.
pub(crate) struct DueTimer<K> {
    pub(crate) timestamp: Timestamp,
    pub(crate) key_group: u16,
    pub(crate) key: K,
}

/// The timers of one domain (event or processing time) of one operator subtask.
pub(crate) struct TimerQueue<K> {
    queue: BinaryHeap<Queued<K>>,
    /// The live timers: a queued timer not in here was deleted and is skipped when popped.
    live: HashTable<(Timestamp, K)>,
    sequence: u64,
    /// Queued entries of deleted timers: when they outnumber the live ones, the queue is
    /// rebuilt without them, so deleting timers does not grow it without bound.
    deleted: usize,
}

fn timer_hash<K: Hash>(timestamp: Timestamp, key: &K) -> u64 {
    hash_key(&(timestamp, key))
}

impl<K: Hash + Eq + Clone> TimerQueue<K> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            queue: BinaryHeap::new(),
            live: HashTable::new(),
            sequence: 0,
            deleted: 0,
        }
    }

    /// Registers a timer; a second registration of the same (timestamp, key) is a no-op.
    pub(crate) fn register(&mut self, timestamp: Timestamp, key_group: u16, key: &K) {
        let hash = timer_hash(timestamp, key);
        // One probe finds the timer or the slot for it.
        match self.live.entry(
            hash,
            |(t, k)| *t == timestamp && k == key,
            |(t, k)| timer_hash(*t, k),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => return,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert((timestamp, key.clone()));
            }
        }
        self.sequence += 1;
        self.queue.push(Queued {
            timestamp,
            sequence: self.sequence,
            key_group,
            key: key.clone(),
        });
    }

    /// Deletes a timer if it is registered.
    pub(crate) fn delete(&mut self, timestamp: Timestamp, key: &K) {
        let hash = timer_hash(timestamp, key);
        if let Ok(entry) = self
            .live
            .find_entry(hash, |(t, k)| *t == timestamp && k == key)
        {
            entry.remove();
            self.deleted += 1;
            if self.deleted > self.live.len() + 1024 {
                let live = &self.live;
                self.queue.retain(|q| {
                    live.find(timer_hash(q.timestamp, &q.key), |(t, k)| {
                        *t == q.timestamp && *k == q.key
                    })
                    .is_some()
                });
                self.deleted = 0;
            }
        }
    }

    /// The live timers in firing order, each once: `(timestamp, key group, key)` (for a
    /// snapshot; registering them in this order into an empty queue restores the order).
    pub(crate) fn live_in_order(&self) -> Vec<(Timestamp, u16, &K)> {
        let mut queued: Vec<&Queued<K>> = self.queue.iter().collect();
        queued.sort_unstable_by_key(|q| (q.timestamp, q.sequence));
        let mut seen: HashTable<(Timestamp, &K)> = HashTable::new();
        let mut live = Vec::with_capacity(self.live.len());
        for q in queued {
            let hash = timer_hash(q.timestamp, &q.key);
            let is_live = self
                .live
                .find(hash, |(t, k)| *t == q.timestamp && *k == q.key)
                .is_some();
            // A timer deleted and registered again is queued twice; it fires at the first.
            let first = seen
                .find(hash, |(t, k)| *t == q.timestamp && **k == q.key)
                .is_none();
            if is_live && first {
                seen.insert_unique(hash, (q.timestamp, &q.key), |(t, k)| timer_hash(*t, *k));
                live.push((q.timestamp, q.key_group, &q.key));
            }
        }
        live
    }

    /// The earliest timer's timestamp (possibly a deleted one: waking early is harmless).
    pub(crate) fn next_timestamp(&self) -> Option<Timestamp> {
        self.queue.peek().map(|q| q.timestamp)
    }

    /// The latest timestamp of a live timer.
    pub(crate) fn latest(&self) -> Option<Timestamp> {
        self.live.iter().map(|(t, _)| *t).max()
    }

    /// Removes and returns the earliest live timer at or before `time`.
    pub(crate) fn pop_due(&mut self, time: Timestamp) -> Option<DueTimer<K>> {
        while self.queue.peek().is_some_and(|q| q.timestamp <= time) {
            let Some(queued) = self.queue.pop() else {
                break;
            };
            let hash = timer_hash(queued.timestamp, &queued.key);
            if let Ok(entry) = self
                .live
                .find_entry(hash, |(t, k)| *t == queued.timestamp && *k == queued.key)
            {
                entry.remove();
                return Some(DueTimer {
                    timestamp: queued.timestamp,
                    key_group: queued.key_group,
                    key: queued.key,
                });
            }
        }
        None
    }

    /// Drops every timer.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.live.clear();
        self.deleted = 0;
    }

    /// How many entries the queue holds (live and deleted).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// How many timers are registered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire_all(
        queue: &mut TimerQueue<&'static str>,
        time: Timestamp,
    ) -> Vec<(Timestamp, &'static str)> {
        std::iter::from_fn(|| queue.pop_due(time).map(|t| (t.timestamp, t.key))).collect()
    }

    #[test]
    fn timers_fire_in_timestamp_order_once_per_key_and_timestamp() {
        let mut queue = TimerQueue::new();
        for (ts, key) in [
            (30, "a"),
            (10, "b"),
            (20, "a"),
            (10, "b"),
            (10, "a"),
            (30, "a"),
        ] {
            queue.register(ts, 0, &key);
        }
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.next_timestamp(), Some(10));
        assert_eq!(fire_all(&mut queue, 20), [(10, "b"), (10, "a"), (20, "a")]);
        assert_eq!(fire_all(&mut queue, 29), []);
        assert_eq!(fire_all(&mut queue, 30), [(30, "a")]);
    }

    #[test]
    fn deleted_timers_do_not_fire_and_can_be_registered_again() {
        let mut queue = TimerQueue::new();
        queue.register(5, 0, &"a");
        queue.register(6, 0, &"b");
        queue.delete(5, &"a");
        queue.delete(7, &"b");
        assert_eq!(fire_all(&mut queue, 10), [(6, "b")]);
        queue.register(8, 0, &"a");
        queue.delete(8, &"a");
        queue.register(8, 0, &"a");
        assert_eq!(fire_all(&mut queue, 10), [(8, "a")]);
        assert_eq!(queue.latest(), None);
    }

    #[test]
    fn deleting_timers_does_not_grow_the_queue_without_bound() {
        let mut queue = TimerQueue::new();
        // The "reset a timeout" pattern: each record moves its key's timer.
        for ts in 0..100_000 {
            queue.register(ts + 1_000_000, 0, &"a");
            if ts > 0 {
                queue.delete(ts - 1 + 1_000_000, &"a");
            }
        }
        assert_eq!(queue.len(), 1);
        assert!(queue.queued() < 3000, "{} queued", queue.queued());
        assert_eq!(fire_all(&mut queue, i64::MAX - 1), [(1_099_999, "a")]);
    }
}
