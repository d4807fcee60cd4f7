//! Rolling keyed aggregates: `reduce`, `sum`, `min`, `max`, `count`.
//!
//! Flink semantics: in streaming mode every input record produces the updated aggregate of its
//! key; in batch mode (all sources bounded) only the final value per key is emitted, at end of
//! input. State lives per key group (see [`crate::keys`]) so that it can later be snapshotted
//! and redistributed group by group.

use rustc_hash::FxHashMap;

use super::{Emit, Operator, OperatorMetrics, OperatorScope};
use crate::element::{Keyed, Timestamp};
use crate::job::TaskContext;

/// How a partial aggregate folds into a key's accumulator, in place: accumulators stay
/// where they are stored (no `Option` around them, no second lookup).
pub trait Combine<A>: Clone + Send + 'static {
    /// Folds `next` into `acc`.
    fn combine(&mut self, acc: &mut A, next: A);
}

/// `sum`: `acc + next` (the clone is a copy for the numbers `sum` is made for).
#[derive(Debug, Clone, Copy)]
pub struct SumCombine;
impl<A: std::ops::Add<Output = A> + Clone> Combine<A> for SumCombine {
    #[inline(always)]
    fn combine(&mut self, acc: &mut A, next: A) {
        *acc = acc.clone() + next;
    }
}

/// `min`: the smaller; the earlier value wins ties.
#[derive(Debug, Clone, Copy)]
pub struct MinCombine;
impl<A: PartialOrd> Combine<A> for MinCombine {
    #[inline(always)]
    fn combine(&mut self, acc: &mut A, next: A) {
        if next < *acc {
            *acc = next;
        }
    }
}

/// `max`: the larger; the earlier value wins ties.
#[derive(Debug, Clone, Copy)]
pub struct MaxCombine;
impl<A: PartialOrd> Combine<A> for MaxCombine {
    #[inline(always)]
    fn combine(&mut self, acc: &mut A, next: A) {
        if next > *acc {
            *acc = next;
        }
    }
}

/// `reduce`: the user's function. Its accumulators are held in an `Option` (the projection
/// wraps each record in `Some`), so they move into the function and back without a clone.
#[derive(Clone)]
pub struct ReduceWith<F>(pub F);
impl<V, F: FnMut(V, V) -> V + Clone + Send + 'static> Combine<Option<V>> for ReduceWith<F> {
    #[inline(always)]
    fn combine(&mut self, acc: &mut Option<V>, next: Option<V>) {
        *acc = match (acc.take(), next) {
            (Some(acc), Some(next)) => Some((self.0)(acc, next)),
            (acc, next) => acc.or(next),
        };
    }
}

/// What an aggregate emits for a key.
pub trait OutputShape<K, A>: Send + 'static {
    /// The emitted type.
    type Out;
    /// Builds the output for a key from its aggregate (`None`: nothing to emit).
    fn output(key: &K, acc: &A) -> Option<Self::Out>;
}

/// Emits `(key, aggregate)` (`sum`, `min`, `max`, `count`).
#[derive(Debug, Clone, Copy)]
pub struct WithKey;
impl<K: Clone + 'static, A: Clone + 'static> OutputShape<K, A> for WithKey {
    type Out = (K, A);
    #[inline(always)]
    fn output(key: &K, acc: &A) -> Option<(K, A)> {
        Some((key.clone(), acc.clone()))
    }
}

/// Emits the reduced value alone (`reduce`, whose values usually contain their key).
#[derive(Debug, Clone, Copy)]
pub struct Reduced;
impl<K: 'static, V: Clone + 'static> OutputShape<K, Option<V>> for Reduced {
    type Out = V;
    #[inline(always)]
    fn output(_key: &K, acc: &Option<V>) -> Option<V> {
        acc.clone()
    }
}

/// A rolling aggregate over a keyed stream: `project` turns a record into a partial
/// aggregate, `combine` folds it into the key's state.
pub struct KeyedAggregate<K, A, P, C, S> {
    project: P,
    combine: C,
    /// One map per key group this subtask owns (index = key group - `first_group`).
    groups: Vec<FxHashMap<K, A>>,
    first_group: usize,
    batch_mode: bool,
    /// Batch mode with a memory budget: what the tables hold (estimated), and the entries
    /// written out so far.
    spill: Option<crate::spill::SpillingKeyed<K, A>>,
    operator: usize,
    emitted: u64,
    _shape: std::marker::PhantomData<fn() -> S>,
}

impl<K, A, P: Clone, C: Clone, S> Clone for KeyedAggregate<K, A, P, C, S> {
    /// Clones the operator's definition; state is never shared between subtasks.
    fn clone(&self) -> Self {
        KeyedAggregate {
            project: self.project.clone(),
            combine: self.combine.clone(),
            groups: Vec::new(),
            first_group: 0,
            batch_mode: self.batch_mode,
            spill: None,
            operator: self.operator,
            emitted: 0,
            _shape: std::marker::PhantomData,
        }
    }
}

impl<K, A, P, C, S> KeyedAggregate<K, A, P, C, S> {
    pub(crate) fn new(operator: usize, project: P, combine: C) -> Self {
        KeyedAggregate {
            project,
            combine,
            groups: Vec::new(),
            first_group: 0,
            batch_mode: false,
            spill: None,
            operator,
            emitted: 0,
            _shape: std::marker::PhantomData,
        }
    }
}

impl<K, A, P, C, S> KeyedAggregate<K, A, P, C, S>
where
    K: std::hash::Hash + Eq + serde::Serialize + serde::de::DeserializeOwned,
    A: serde::Serialize + serde::de::DeserializeOwned,
{
    /// The aggregates, one encoded blob of `(key, aggregate)` pairs per owned key group that
    /// holds any, so a restore at another parallelism hands each group to its new subtask.
    pub fn snapshot(&self) -> Result<std::collections::BTreeMap<u16, Vec<u8>>, String> {
        let mut groups = std::collections::BTreeMap::new();
        for (i, group) in self.groups.iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let key_group = (self.first_group + i) as u16;
            let pairs: Vec<(&K, &A)> = group.iter().collect();
            let bytes = crate::codec::encode(&pairs)
                .map_err(|e| format!("key group {key_group} does not encode: {e}"))?;
            groups.insert(key_group, bytes);
        }
        Ok(groups)
    }

    /// Writes every table out (the estimate passed the budget) and empties them.
    #[cold]
    fn spill_tables(&mut self) {
        let Some(spill) = &mut self.spill else {
            return;
        };
        let scope = OperatorScope::enter(self.operator);
        let groups = &mut self.groups;
        spill.spill(|files| groups.iter_mut().for_each(|group| files.write_all(group)));
        scope.exit();
    }

    /// Adds the aggregates of `key_group` from a snapshot (open the operator first).
    pub fn restore(&mut self, key_group: u16, bytes: &[u8]) -> Result<(), String> {
        let index = (key_group as usize)
            .checked_sub(self.first_group)
            .filter(|&i| i < self.groups.len())
            .ok_or_else(|| format!("key group {key_group} does not belong to this subtask"))?;
        let pairs: Vec<(K, A)> = crate::codec::decode(bytes)
            .map_err(|e| format!("key group {key_group} does not decode: {e}"))?;
        self.groups[index].extend(pairs);
        Ok(())
    }
}

impl<K, V, A, P, C, S> Operator<Keyed<K, V>> for KeyedAggregate<K, A, P, C, S>
where
    K: std::hash::Hash + Eq + Send + serde::Serialize + serde::de::DeserializeOwned + 'static,
    A: Send + serde::Serialize + serde::de::DeserializeOwned + 'static,
    P: FnMut(V) -> A + Send + 'static,
    C: Combine<A>,
    S: OutputShape<K, A>,
{
    type Out = S::Out;

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
        super::restore_key_groups(operator, from, ctx, |group, bytes| {
            self.restore(group, bytes)
        })
    }

    fn open(&mut self, ctx: &TaskContext) {
        self.batch_mode = ctx.batch_mode;
        self.spill = ctx.spill.clone().map(crate::spill::Spilling::new);
        let owned =
            crate::keys::key_groups_of_subtask(ctx.subtask, ctx.parallelism, ctx.max_parallelism);
        self.first_group = owned.start;
        self.groups = owned.map(|_| FxHashMap::default()).collect();
    }

    #[inline(always)]
    fn process<E: Emit<S::Out>>(
        &mut self,
        record: Keyed<K, V>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        let Keyed {
            key_group,
            key,
            value,
        } = record;
        let scope = OperatorScope::enter(self.operator);
        let partial = (self.project)(value);
        // A key group outside this subtask's range would be a routing bug: indexing fails loudly.
        let group = &mut self.groups[key_group as usize - self.first_group];
        match group.get_mut(&key) {
            Some(acc) => {
                self.combine.combine(acc, partial);
                scope.exit();
                if !self.batch_mode {
                    if let Some(output) = S::output(&key, acc) {
                        self.emitted += 1;
                        out.emit(output, timestamp);
                    }
                }
            }
            None => {
                scope.exit();
                if !self.batch_mode {
                    if let Some(output) = S::output(&key, &partial) {
                        self.emitted += 1;
                        out.emit(output, timestamp);
                    }
                }
                if let Some(spill) = &mut self.spill {
                    let bytes = spill.sampler.estimate(&(&key, &partial))
                        + std::mem::size_of::<(K, A)>()
                        + 8;
                    if spill.add(bytes) {
                        group.insert(key, partial);
                        self.spill_tables();
                        return;
                    }
                }
                group.insert(key, partial);
            }
        }
    }

    /// Each superstep of an iteration (which runs in batch mode) emits its final values.
    fn on_superstep_end<E: Emit<S::Out>>(&mut self, superstep: u64, out: &mut E) {
        self.end_of_input(out);
        out.emit_superstep_end(superstep);
    }

    fn end_of_input<E: Emit<S::Out>>(&mut self, out: &mut E) {
        if !self.batch_mode {
            return;
        }
        if let Some(spill) = &mut self.spill {
            // What was spilled comes back a file at a time, merged with what is in memory.
            let scope = OperatorScope::enter(self.operator);
            let (combine, emitted) = (&mut self.combine, &mut self.emitted);
            spill.finish_all(
                self.groups.iter_mut().flat_map(|group| group.drain()),
                |acc, later| combine.combine(acc, later),
                |key, acc| {
                    if let Some(output) = S::output(&key, &acc) {
                        *emitted += 1;
                        out.emit(output, None);
                    }
                },
            );
            scope.exit();
            return;
        }
        for group in &mut self.groups {
            for (key, acc) in group.drain() {
                if let Some(output) = S::output(&key, &acc) {
                    self.emitted += 1;
                    out.emit(output, None);
                }
            }
        }
    }

    /// Reports only what it emitted: it folds partials, and the pre-aggregating exchange
    /// in front of it ([`crate::exchange::KeyByAggregate`]) counts the records that came in.
    fn collect_metrics(&self, _partials_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in: 0,
            records_out: self.emitted,
            spilled_bytes: self.spill.as_ref().map_or(0, |spill| spill.spilled_bytes),
        });
        self.emitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{key_group, subtask_for_key_group};

    /// Gathers what an operator emits.
    struct Collect<O>(Vec<O>);

    impl<O> Emit<O> for Collect<O> {
        fn emit(&mut self, value: O, _timestamp: Option<Timestamp>) {
            self.0.push(value);
        }
    }

    fn ctx(subtask: usize, parallelism: usize) -> TaskContext {
        TaskContext {
            plan: &crate::plan::ONE_SOURCE_PLAN,
            chain: 0,
            subtask,
            parallelism,
            max_parallelism: 128,
            batch_mode: false,
            batch_size: 16,
            linger: std::time::Duration::from_secs(1),
            checkpointing: false,
            restored: None,
            spill: None,
        }
    }

    type Summing = KeyedAggregate<String, u64, fn(u64) -> u64, SumCombine, WithKey>;

    fn operator(subtask: usize, parallelism: usize) -> Summing {
        let mut op: Summing = KeyedAggregate::new(2, |x| x, SumCombine);
        op.open(&ctx(subtask, parallelism));
        op
    }

    fn feed(ops: &mut [Summing], words: &[(String, u64)], out: &mut Collect<(String, u64)>) {
        for (word, n) in words {
            let group = key_group(word, 128);
            let subtask = subtask_for_key_group(group, ops.len(), 128);
            ops[subtask].process(
                Keyed {
                    key_group: group,
                    key: word.clone(),
                    value: *n,
                },
                None,
                out,
            );
        }
    }

    #[test]
    fn rolling_aggregates_restore_at_the_same_or_another_parallelism() {
        let words: Vec<(String, u64)> = (0..300u64).map(|i| (format!("w{}", i % 23), i)).collect();
        let (before, after) = words.split_at(120);
        let mut reference = [operator(0, 1)];
        feed(&mut reference, before, &mut Collect(Vec::new()));
        let snapshot = reference[0].snapshot().unwrap();
        assert!(snapshot.len() > 1);
        let mut expected = Collect(Vec::new());
        feed(&mut reference, after, &mut expected);
        expected.0.sort();
        for parallelism in [1, 2, 4] {
            let mut ops: Vec<Summing> =
                (0..parallelism).map(|s| operator(s, parallelism)).collect();
            for (&group, bytes) in &snapshot {
                ops[subtask_for_key_group(group, parallelism, 128)]
                    .restore(group, bytes)
                    .unwrap();
            }
            let mut out = Collect(Vec::new());
            feed(&mut ops, after, &mut out);
            out.0.sort();
            assert_eq!(out.0, expected.0, "parallelism {parallelism}");
        }
        // Key group 0 belongs to subtask 0 of 2, not to subtask 1.
        assert!(operator(1, 2).restore(0, &[]).is_err());
        assert!(operator(0, 1).restore(0, b"garbage").is_err());
    }
}
