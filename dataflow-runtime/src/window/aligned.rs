//! The operator of aligned time windows (tumbling and sliding) with their default trigger.
//!
//! State is laid out by time, not by key: a *pane* is a slice of `gcd(size, slide)` of time
//! with one hash table of `(key, accumulator)`, and a window is the panes it spans. A record
//! costs one probe into its pane's table (which holds only the keys of that slice of time,
//! so it stays small and hot); a window fires by walking its panes' tables in order, with no
//! timer per key and window.
//!
//! Sliding windows share work between overlapping windows with the two-stacks scheme of
//! sliding-window aggregation: panes that time has sealed move into a *back* aggregate (one
//! table merging them), and when the oldest panes must leave it, the back panes are turned
//! into a *front* of suffix aggregates (front entry `i` merges panes `i..` up to the
//! boundary). A window's result per key is then one front entry merged with the back
//! aggregate: about four merges per key and window, whatever size/slide is, where merging
//! every pane of every window would cost size/slide. A record that lands in a pane already
//! sealed (later than the watermark, but still inside a window that has not fired) marks the
//! aggregates stale; the next window rebuilds them from the panes.

use std::collections::VecDeque;
use std::marker::PhantomData;

use hashbrown::HashTable;

use super::{late_data, AggregateFunction, EventTimeWindows, Finish, Window};
use crate::element::{Keyed, Timestamp, MAX_WATERMARK, MIN_WATERMARK};
use crate::job::TaskContext;
use crate::operator::{Emit, Operator, OperatorMetrics, OperatorScope, SideRecord};
use crate::state::hash_key;
use crate::time::{processing_time_now, TimeDomain};

/// Aligned time windows (tumbling and sliding) with their default trigger, computed by
/// `aggregate` and finished by `finish`: what `window(w)` with a time assigner makes of a
/// window function. [`WindowAggregate::operator`] turns it into the operator.
pub struct WindowAggregate<G, V, Fin> {
    pub(super) windows: EventTimeWindows,
    pub(super) aggregate: G,
    pub(super) finish: Fin,
    pub(super) _value: PhantomData<fn(V)>,
}

impl<G: Clone, V, Fin: Clone> Clone for WindowAggregate<G, V, Fin> {
    fn clone(&self) -> Self {
        WindowAggregate {
            windows: self.windows,
            aggregate: self.aggregate.clone(),
            finish: self.finish.clone(),
            _value: PhantomData,
        }
    }
}

/// A table of accumulators by key.
type Table<K, A> = HashTable<(K, A)>;

/// One slice of time: its keys' accumulators.
struct Pane<K, A> {
    start: Timestamp,
    /// The `end` of the first and of the last window holding the pane.
    first_end: Timestamp,
    last_end: Timestamp,
    table: Table<K, A>,
}

/// The operator of aligned windows: see the module documentation.
pub struct AlignedWindows<K, V, G: AggregateFunction<V>, Fin> {
    operator: usize,
    spec: WindowAggregate<G, V, Fin>,
    /// The panes' width, `gcd(size, slide)` (computed once: it is needed per record).
    pane_width: Timestamp,
    /// The panes still part of a window that has not fired, by start, ascending.
    panes: VecDeque<Pane<K, G::Acc>>,
    /// Emptied tables, kept for new panes (their memory is reused).
    spare: Vec<Table<K, G::Acc>>,
    /// The `end` of the next window to fire (windows before it have fired).
    next_end: Timestamp,
    /// Sliding windows: panes starting before this are in the front or back aggregate.
    sealed_until: Timestamp,
    /// Sliding windows: the suffix aggregates, by their first pane's start, ascending; each
    /// merges the panes from its start up to `boundary`.
    front: VecDeque<(Timestamp, Table<K, G::Acc>)>,
    /// Sliding windows: the panes in `[boundary, sealed_until)` merged.
    back: Table<K, G::Acc>,
    boundary: Timestamp,
    /// A sealed pane changed: the aggregates must be rebuilt before they are used.
    stale: bool,
    /// The event-time watermark (event-time windows) or the clock reading windows last
    /// fired at (processing-time windows).
    watermark: Timestamp,
    emitted: u64,
    /// The key groups this subtask owns, and how many there are (for snapshots).
    owned: std::ops::Range<usize>,
    max_parallelism: usize,
}

impl<K, V, G, Fin> Clone for AlignedWindows<K, V, G, Fin>
where
    G: AggregateFunction<V>,
    Fin: Clone,
{
    /// Clones the definition; state is never shared between subtasks.
    fn clone(&self) -> Self {
        self.spec.clone().operator(self.operator)
    }
}

/// Adds `acc` into `table` under `key` (merging with what is there).
fn merge_into<K: std::hash::Hash + Eq + Clone, V, G: AggregateFunction<V>>(
    aggregate: &mut G,
    table: &mut Table<K, G::Acc>,
    key: &K,
    acc: &G::Acc,
) {
    let hash = hash_key(key);
    match table.entry(hash, |(k, _)| k == key, |(k, _)| hash_key(k)) {
        hashbrown::hash_table::Entry::Occupied(mut entry) => {
            aggregate.merge(&mut entry.get_mut().1, acc);
        }
        hashbrown::hash_table::Entry::Vacant(slot) => {
            slot.insert((key.clone(), acc.clone()));
        }
    }
}

impl<G, V, Fin> WindowAggregate<G, V, Fin>
where
    G: AggregateFunction<V>,
{
    /// The operator computing these windows, as operator number `operator` of the job.
    pub fn operator<K>(self, operator: usize) -> AlignedWindows<K, V, G, Fin> {
        AlignedWindows {
            operator,
            pane_width: self.windows.pane(),
            spec: self,
            panes: VecDeque::new(),
            spare: Vec::new(),
            next_end: Timestamp::MIN,
            sealed_until: Timestamp::MIN,
            front: VecDeque::new(),
            back: HashTable::new(),
            boundary: Timestamp::MIN,
            stale: false,
            watermark: MIN_WATERMARK,
            emitted: 0,
            owned: 0..0,
            max_parallelism: 1,
        }
    }
}

impl<K, V, G, Fin> AlignedWindows<K, V, G, Fin>
where
    K: std::hash::Hash + Eq + Clone + Send + 'static,
    V: Send + 'static,
    G: AggregateFunction<V>,
    Fin: Finish<K, G::Out>,
{
    fn tumbling(&self) -> bool {
        self.spec.windows.size == self.spec.windows.slide
    }

    /// The index of the pane holding `ts`, created if needed.
    #[inline]
    fn pane_of(&mut self, ts: Timestamp) -> usize {
        let w = self.spec.windows;
        let width = self.pane_width;
        // Records come mostly in order: the newest pane first.
        if let Some(newest) = self.panes.back() {
            if ts >= newest.start && ts - newest.start < width {
                return self.panes.len() - 1;
            }
        }
        let start = w.pane_start(ts, width);
        let at = self.panes.partition_point(|p| p.start < start);
        if self.panes.get(at).is_some_and(|p| p.start == start) {
            return at;
        }
        let (first_end, last_end) = if w.size == w.slide {
            (start + w.size, start + w.size)
        } else {
            (w.first_end(start), w.last_end(start))
        };
        let table = self.spare.pop().unwrap_or_default();
        self.panes.insert(
            at,
            Pane {
                start,
                first_end,
                last_end,
                table,
            },
        );
        at
    }

    /// The `end` of the next window to fire, if any pane is left.
    fn next_window_end(&self) -> Option<Timestamp> {
        self.panes
            .front()
            .map(|first| first.first_end.max(self.next_end))
    }

    /// Fires every window whose `end - 1` is at most `time`, in order.
    fn fire_until<E: Emit<Fin::Out>>(&mut self, time: Timestamp, out: &mut E) {
        let scope = OperatorScope::enter(self.operator);
        while let Some(end) = self.next_window_end() {
            if end - 1 > time {
                break;
            }
            if self.tumbling() {
                self.fire_tumbling(end, out);
            } else {
                self.fire_sliding(end, out);
            }
            self.next_end = end + self.spec.windows.slide;
            self.evict(self.next_end - self.spec.windows.size);
        }
        // Every window ending by `time` is done, fired or not: a record arriving later
        // counts only in windows ending after it (as in Flink, a window past the watermark
        // is late even if it never had records).
        if time != Timestamp::MAX {
            let w = self.spec.windows;
            let first_open = w
                .last_start(time.saturating_add(1).saturating_sub(w.size))
                .saturating_add(w.size)
                .saturating_add(w.slide);
            self.next_end = self.next_end.max(first_open);
        }
        scope.exit();
    }

    /// Emits the result of `key`'s accumulator for the window ending at `end`.
    fn emit<E: Emit<Fin::Out>>(
        spec: &mut WindowAggregate<G, V, Fin>,
        emitted: &mut u64,
        key: &K,
        acc: &G::Acc,
        end: Timestamp,
        out: &mut E,
    ) {
        let window = Window {
            start: end - spec.windows.size,
            end,
        };
        let result = spec.aggregate.result(acc);
        spec.finish.finish(key, window, result, |output| {
            *emitted += 1;
            out.emit(output, Some(end - 1));
        });
    }

    /// Tumbling: the window is its one pane, the first.
    fn fire_tumbling<E: Emit<Fin::Out>>(&mut self, end: Timestamp, out: &mut E) {
        let Some(pane) = self.panes.front_mut() else {
            return;
        };
        if pane.start != end - self.spec.windows.size {
            return;
        }
        let mut table = std::mem::take(&mut pane.table);
        for (key, acc) in table.iter() {
            Self::emit(&mut self.spec, &mut self.emitted, key, acc, end, out);
        }
        table.clear();
        self.spare.push(table);
    }

    /// Sliding: one front suffix merged with the back aggregate, per key.
    fn fire_sliding<E: Emit<Fin::Out>>(&mut self, end: Timestamp, out: &mut E) {
        let start = end - self.spec.windows.size;
        // Seal the panes this window reaches into the back aggregate.
        for pane in self.panes.iter() {
            if pane.start >= end {
                break;
            }
            if pane.start >= self.sealed_until {
                for (key, acc) in pane.table.iter() {
                    merge_into(&mut self.spec.aggregate, &mut self.back, key, acc);
                }
            }
        }
        self.sealed_until = self.sealed_until.max(end);
        self.front.retain(|(first, _)| *first >= start);
        if self.stale {
            self.rebuild(start, end);
        } else if self.front.is_empty() && self.boundary < start {
            self.flip(start);
        }
        let front = self.front.front().map(|(_, table)| table);
        let aggregate = &mut self.spec.aggregate;
        let mut merged = Vec::new();
        if let Some(front) = front {
            for (key, acc) in front.iter() {
                let hash = hash_key(key);
                match self.back.find(hash, |(k, _)| k == key) {
                    Some((_, back)) => {
                        let mut total = acc.clone();
                        aggregate.merge(&mut total, back);
                        merged.push((key.clone(), total));
                    }
                    None => merged.push((key.clone(), acc.clone())),
                }
            }
        }
        for (key, acc) in self.back.iter() {
            let in_front =
                front.is_some_and(|front| front.find(hash_key(key), |(k, _)| k == key).is_some());
            if !in_front {
                merged.push((key.clone(), acc.clone()));
            }
        }
        for (key, acc) in &merged {
            Self::emit(&mut self.spec, &mut self.emitted, key, acc, end, out);
        }
    }

    /// Turns the back panes from `start` on into front suffix aggregates; the back
    /// aggregate starts empty at `sealed_until`.
    fn flip(&mut self, start: Timestamp) {
        let aggregate = &mut self.spec.aggregate;
        let mut suffix: Table<K, G::Acc> = HashTable::new();
        let mut front = VecDeque::new();
        for pane in self.panes.iter().rev() {
            if pane.start >= self.sealed_until {
                continue;
            }
            if pane.start < start {
                break;
            }
            for (key, acc) in pane.table.iter() {
                merge_into(aggregate, &mut suffix, key, acc);
            }
            front.push_front((pane.start, suffix.clone()));
        }
        self.front = front;
        self.back.clear();
        self.boundary = self.sealed_until;
    }

    /// Rebuilds the aggregates after a sealed pane changed: the back aggregate becomes the
    /// panes of the window `[start, end)`.
    fn rebuild(&mut self, start: Timestamp, end: Timestamp) {
        self.front.clear();
        self.back.clear();
        for pane in self.panes.iter() {
            if pane.start >= end {
                break;
            }
            if pane.start >= start {
                for (key, acc) in pane.table.iter() {
                    merge_into(&mut self.spec.aggregate, &mut self.back, key, acc);
                }
            }
        }
        self.boundary = start;
        self.sealed_until = end;
        self.stale = false;
    }

    /// Drops the panes starting before `start`: no window left needs them.
    fn evict(&mut self, start: Timestamp) {
        while self.panes.front().is_some_and(|p| p.start < start) {
            if let Some(mut pane) = self.panes.pop_front() {
                pane.table.clear();
                self.spare.push(pane.table);
            }
        }
        if self.panes.is_empty() {
            // Nothing left: the aggregates start over with the next pane.
            self.front.clear();
            self.back.clear();
            self.stale = false;
            self.sealed_until = Timestamp::MIN;
            self.boundary = Timestamp::MIN;
        }
    }
}

/// One key group's share of an aligned window operator's state: its keys' accumulators per
/// pane, and the end of the next window to fire (the same in every subtask at a checkpoint
/// barrier, which follows the same watermarks on every channel).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(
    serialize = "K: serde::Serialize, A: serde::Serialize",
    deserialize = "K: serde::de::DeserializeOwned, A: serde::de::DeserializeOwned"
))]
struct KeyGroupPanes<K, A> {
    next_end: Timestamp,
    panes: Vec<(Timestamp, Vec<(K, A)>)>,
}

impl<K, V, G, Fin> AlignedWindows<K, V, G, Fin>
where
    K: std::hash::Hash
        + Eq
        + Clone
        + Send
        + serde::Serialize
        + serde::de::DeserializeOwned
        + 'static,
    V: Send + 'static,
    G: AggregateFunction<V>,
    Fin: Finish<K, G::Out>,
{
    /// The windows' state, one encoded blob per key group that holds any (open the operator
    /// first). The sliding windows' shared aggregates are not stored: they are rebuilt from
    /// the panes.
    pub fn snapshot(&self) -> Result<std::collections::BTreeMap<u16, Vec<u8>>, String> {
        let mut groups: std::collections::BTreeMap<u16, KeyGroupPanes<&K, &G::Acc>> =
            std::collections::BTreeMap::new();
        for pane in &self.panes {
            for (key, acc) in pane.table.iter() {
                let group = crate::keys::key_group(key, self.max_parallelism);
                let entry = groups.entry(group).or_insert_with(|| KeyGroupPanes {
                    next_end: self.next_end,
                    panes: Vec::new(),
                });
                match entry.panes.last_mut() {
                    Some((start, pairs)) if *start == pane.start => pairs.push((key, acc)),
                    _ => entry.panes.push((pane.start, vec![(key, acc)])),
                }
            }
        }
        groups
            .into_iter()
            .map(|(group, state)| {
                crate::codec::encode(&state)
                    .map(|bytes| (group, bytes))
                    .map_err(|e| format!("key group {group} does not encode: {e}"))
            })
            .collect()
    }

    /// Adds the state of `key_group` from a snapshot (open the operator first).
    pub fn restore(&mut self, key_group: u16, bytes: &[u8]) -> Result<(), String> {
        if !self.owned.contains(&(key_group as usize)) {
            return Err(format!(
                "key group {key_group} does not belong to this subtask"
            ));
        }
        let state: KeyGroupPanes<K, G::Acc> = crate::codec::decode(bytes)
            .map_err(|e| format!("key group {key_group} does not decode: {e}"))?;
        self.next_end = self.next_end.max(state.next_end);
        for (start, pairs) in state.panes {
            let index = self.pane_of(start);
            let table = &mut self.panes[index].table;
            for (key, acc) in pairs {
                let hash = hash_key(&key);
                table.insert_unique(hash, (key, acc), |(k, _)| hash_key(k));
            }
        }
        // The shared aggregates of sliding windows start over from the panes.
        self.front.clear();
        self.back.clear();
        self.sealed_until = Timestamp::MIN;
        self.boundary = Timestamp::MIN;
        self.stale = false;
        Ok(())
    }
}

impl<K, V, G, Fin> Operator<Keyed<K, V>> for AlignedWindows<K, V, G, Fin>
where
    K: std::hash::Hash
        + Eq
        + Clone
        + Send
        + serde::Serialize
        + serde::de::DeserializeOwned
        + 'static,
    V: Send + 'static,
    G: AggregateFunction<V>,
    Fin: Finish<K, G::Out>,
{
    type Out = Fin::Out;

    fn snapshot_state(
        &self,
        _subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        for (key_group, bytes) in self.snapshot()? {
            into.keyed.push((self.operator, key_group, bytes));
        }
        Ok(())
    }

    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &TaskContext,
    ) -> Result<(), String> {
        let operator = self.operator;
        crate::operator::restore_key_groups(operator, from, ctx, |group, bytes| {
            self.restore(group, bytes)
        })
    }

    fn open(&mut self, ctx: &TaskContext) {
        self.owned =
            crate::keys::key_groups_of_subtask(ctx.subtask, ctx.parallelism, ctx.max_parallelism);
        self.max_parallelism = ctx.max_parallelism;
    }

    #[inline]
    fn process<E: Emit<Fin::Out>>(
        &mut self,
        record: Keyed<K, V>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        let Keyed { key, value, .. } = record;
        let (ts, watermark) = match self.spec.windows.domain {
            TimeDomain::EventTime => {
                let Some(ts) = timestamp else {
                    let _scope = OperatorScope::enter(self.operator);
                    panic!("an event-time window needs records with timestamps: call `.assign_timestamps(..)` before it");
                };
                (ts, self.watermark)
            }
            // Windows fire once the clock reaches their end: those ending by now have.
            TimeDomain::ProcessingTime => {
                let now = processing_time_now();
                (now, now - 1)
            }
        };
        let index = self.pane_of(ts);
        let pane = &mut self.panes[index];
        if pane.first_end > pane.last_end {
            // Between two windows (a slide longer than the size): in no window.
            if pane.table.is_empty() {
                let pane = self.panes.remove(index).expect("the pane just found");
                self.spare.push(pane.table);
            }
            return;
        }
        if pane.last_end - 1 <= watermark
            || pane.last_end <= self.next_end.saturating_sub(self.spec.windows.slide)
        {
            // Every window of this record has fired: it goes to the late-data side output
            // (dropped only if nobody reads it).
            if pane.table.is_empty() {
                let pane = self.panes.remove(index).expect("the pane just found");
                self.spare.push(pane.table);
            }
            out.emit_side(&mut Some(SideRecord {
                tag: late_data::<V>().name(),
                value: Box::new(value),
                timestamp,
            }));
            return;
        }
        if pane.start < self.sealed_until {
            self.stale = true;
        }
        let scope = OperatorScope::enter(self.operator);
        let aggregate = &mut self.spec.aggregate;
        let hash = hash_key(&key);
        match pane
            .table
            .entry(hash, |(k, _)| *k == key, |(k, _)| hash_key(k))
        {
            hashbrown::hash_table::Entry::Occupied(mut entry) => {
                aggregate.add(&mut entry.get_mut().1, value);
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let mut acc = aggregate.create_accumulator();
                aggregate.add(&mut acc, value);
                slot.insert((key, acc));
            }
        }
        scope.exit();
    }

    fn on_watermark<E: Emit<Fin::Out>>(&mut self, watermark: Timestamp, out: &mut E) {
        // The final watermark may come twice (from the inputs, then at the end of the task):
        // the second fires what records arriving in between added.
        if watermark < self.watermark || (watermark == self.watermark && watermark != MAX_WATERMARK)
        {
            return;
        }
        self.watermark = watermark;
        if self.spec.windows.domain == TimeDomain::EventTime {
            self.fire_until(watermark, out);
        }
        out.emit_watermark(watermark);
    }

    fn on_processing_time<E: Emit<Fin::Out>>(&mut self, now: Timestamp, out: &mut E) {
        // A window fires once the clock reached its end (as in Flink, a millisecond after
        // its last one): a record arriving at `end - 1` still finds it open.
        if self.spec.windows.domain == TimeDomain::ProcessingTime {
            let time = if now == Timestamp::MAX { now } else { now - 1 };
            self.fire_until(time, out);
        }
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        match self.spec.windows.domain {
            TimeDomain::ProcessingTime => self.next_window_end(),
            TimeDomain::EventTime => None,
        }
    }

    fn end_of_input<E: Emit<Fin::Out>>(&mut self, out: &mut E) {
        // Pending processing-time windows fire at the end (their last records would be lost
        // otherwise); event-time windows fire with the final watermark.
        if self.spec.windows.domain == TimeDomain::ProcessingTime {
            self.fire_until(Timestamp::MAX, out);
        }
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: self.emitted,
            spilled_bytes: 0,
        });
        self.emitted
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::keys::{key_group, subtask_for_key_group};
    use crate::window::{EmitWithKey, ReduceAggregate, SlidingEventTimeWindows};

    /// Gathers what an operator emits, with timestamps.
    struct Collect<O>(Vec<(O, Option<Timestamp>)>);

    impl<O> Emit<O> for Collect<O> {
        fn emit(&mut self, value: O, timestamp: Option<Timestamp>) {
            self.0.push((value, timestamp));
        }
    }

    type Summing = AlignedWindows<u64, u64, ReduceAggregate<fn(u64, u64) -> u64, u64>, EmitWithKey>;

    fn operator(subtask: usize, parallelism: usize) -> Summing {
        let windows =
            SlidingEventTimeWindows::of(Duration::from_millis(40), Duration::from_millis(10));
        let spec = WindowAggregate {
            windows,
            aggregate: ReduceAggregate {
                f: (|a, b| a + b) as fn(u64, u64) -> u64,
                _value: PhantomData,
            },
            finish: EmitWithKey,
            _value: PhantomData,
        };
        let mut op = spec.operator(3);
        op.open(&TaskContext {
            plan: &crate::plan::ONE_SOURCE_PLAN,
            chain: 0,
            subtask,
            parallelism,
            max_parallelism: 128,
            batch_mode: false,
            batch_size: 16,
            linger: Duration::from_secs(1),
            checkpointing: false,
            restored: None,
            spill: None,
        });
        op
    }

    /// Feeds `(key, timestamp)` records, a watermark 5 ms behind each (less than the
    /// disorder: some records are late, and must stay late after a restore).
    fn feed(ops: &mut [Summing], records: &[(u64, i64)], out: &mut Collect<(u64, u64)>) {
        for &(key, ts) in records {
            let group = key_group(&key, 128);
            let subtask = subtask_for_key_group(group, ops.len(), 128);
            let record = Keyed {
                key_group: group,
                key,
                value: ts.rem_euclid(97) as u64,
            };
            ops[subtask].process(record, Some(ts), out);
            for op in ops.iter_mut() {
                op.on_watermark(ts - 5, out);
            }
        }
    }

    #[test]
    fn window_state_restores_at_the_same_or_another_parallelism() {
        // Out of order by up to 9 ms, so records land in panes whose windows have fired.
        let records: Vec<(u64, i64)> = (0..600i64)
            .map(|i| (((i * 7) % 11) as u64, i * 2 - (i * 5) % 9))
            .collect();
        let (before, after) = records.split_at(300);
        let mut reference = [operator(0, 1)];
        feed(&mut reference, before, &mut Collect(Vec::new()));
        let snapshot = reference[0].snapshot().unwrap();
        assert!(snapshot.len() > 1);
        let mut expected = Collect(Vec::new());
        feed(&mut reference, after, &mut expected);
        reference[0].on_watermark(MAX_WATERMARK, &mut expected);
        expected.0.sort();
        assert!(expected.0.len() > 100);
        for parallelism in [1, 2, 3] {
            let mut ops: Vec<Summing> =
                (0..parallelism).map(|s| operator(s, parallelism)).collect();
            for (&group, bytes) in &snapshot {
                ops[subtask_for_key_group(group, parallelism, 128)]
                    .restore(group, bytes)
                    .unwrap();
            }
            let mut out = Collect(Vec::new());
            feed(&mut ops, after, &mut out);
            for op in &mut ops {
                op.on_watermark(MAX_WATERMARK, &mut out);
            }
            out.0.sort();
            assert_eq!(out.0, expected.0, "parallelism {parallelism}");
        }
        assert!(operator(1, 2).restore(0, &[]).is_err());
    }
}
