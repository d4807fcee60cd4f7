//! DataSet operations: what Flink's batch API does to bounded data, on our streams.
//!
//! Keyed (after `key_by`): `group_reduce` hands all values of a key to a function at once,
//! `distinct` keeps each key's first record, `first(n)` a key's first `n` records and
//! `first(n, |x| sort_key)` its `n` smallest by a sort key. Per partition: `map_partition`
//! hands a subtask's whole input to a function, `sort_partition` emits it sorted.
//!
//! `distinct` and `first(n)` decide per record, so they run on unbounded streams too; the
//! others see a key's (or a partition's) records only when the input has ended, so the macro
//! allows them only on bounded streams. What they emit at end of input carries no timestamp:
//! it is a result about all of the input, not an event at some time.
//!
//! Every one of them keeps its state where a checkpoint finds it: keyed state per key group
//! (so a restore at another parallelism hands each key to its new subtask), a partition's
//! buffered records as the subtask's operator state.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Emit, Operator, OperatorMetrics, OperatorScope};
use crate::element::{Keyed, Timestamp};
use crate::job::TaskContext;
use crate::state::{Entry, KeyedStore};

/// What a keyed DataSet operation does with each record of a key, and with the key's state at
/// end of input.
pub trait GroupFunction<K, V>: Clone + Send + 'static {
    /// The per-key state, created empty on a key's first record.
    type State: Default + Serialize + DeserializeOwned + Send + 'static;
    /// The emitted type.
    type Out: Send + 'static;
    /// Takes a record of `key`; may emit at once.
    fn add(&mut self, key: &K, state: &mut Self::State, value: V, out: &mut Vec<Self::Out>);
    /// The input ended: emits what the key's state holds back.
    fn finish(&mut self, key: K, state: Self::State, out: &mut Vec<Self::Out>);

    /// Whether two states of a key can be merged ([`GroupFunction::merge`]), so that the
    /// operator may spill its state to disk in batch mode. Functions that emit as records
    /// arrive (`distinct`, `first(n)`) can if they hold back what they would emit once the
    /// operator has spilled ([`GroupFunction::spilled`]): a key written out would otherwise
    /// be seen afresh.
    const MERGEABLE: bool = false;

    /// The operator wrote its state to disk for the first time: from now on a key's state
    /// may come back from disk at the end, so what the function emits as records arrive
    /// must wait for [`GroupFunction::finish`].
    fn spilled(&mut self) {}

    /// Folds `later` (the key's state built after `state` was spilled) into `state`, as if
    /// `later`'s records had been added to it. Called only if [`GroupFunction::MERGEABLE`].
    fn merge(&mut self, state: &mut Self::State, later: Self::State) {
        let _ = (state, later);
        unreachable!("merge called on a group function that is not MERGEABLE")
    }

    /// The estimated bytes adding `value` to a key's `state` will add (for the memory
    /// budget; only asked if [`GroupFunction::MERGEABLE`]).
    fn added_bytes(
        &self,
        state: &Self::State,
        value: &V,
        sampler: &mut crate::spill::SizeSampler,
    ) -> usize {
        let _ = (state, value, sampler);
        0
    }

    /// A superstep of the iteration the operator runs in ended: emits the superstep's results
    /// for the key, as at the end of input, and returns whether the key keeps state into the
    /// next superstep (the default keeps none: each superstep starts afresh).
    fn end_superstep(&mut self, key: &K, state: &mut Self::State, out: &mut Vec<Self::Out>) -> bool
    where
        K: Clone,
    {
        self.finish(key.clone(), std::mem::take(state), out);
        false
    }
}

/// `group_reduce(|key, values| outputs)`: all values of a key, in arrival order, at end of
/// input.
pub struct GroupReduce<F, V>(F, PhantomData<fn(V)>);

impl<F: Clone, V> Clone for GroupReduce<F, V> {
    fn clone(&self) -> Self {
        GroupReduce(self.0.clone(), PhantomData)
    }
}

impl<K, V, R, F> GroupFunction<K, V> for GroupReduce<F, V>
where
    V: Serialize + DeserializeOwned + Send + 'static,
    R: IntoIterator,
    R::Item: Send + 'static,
    F: FnMut(&K, Vec<V>) -> R + Clone + Send + 'static,
{
    type State = Vec<V>;
    type Out = R::Item;

    #[inline]
    fn add(&mut self, _key: &K, state: &mut Vec<V>, value: V, _out: &mut Vec<R::Item>) {
        state.push(value);
    }

    fn finish(&mut self, key: K, state: Vec<V>, out: &mut Vec<R::Item>) {
        out.extend((self.0)(&key, state));
    }

    const MERGEABLE: bool = true;

    fn merge(&mut self, state: &mut Vec<V>, later: Vec<V>) {
        state.extend(later);
    }

    #[inline]
    fn added_bytes(
        &self,
        _state: &Vec<V>,
        value: &V,
        sampler: &mut crate::spill::SizeSampler,
    ) -> usize {
        sampler.estimate(value)
    }
}

/// `distinct()`: the first record of each key, emitted when it arrives. Once the operator
/// has spilled its state (batch mode over a memory budget), a key's first record may have
/// gone out before its state was written to disk: a key seen afresh holds its record back
/// until the end, where the spilled state says whether it went out already.
#[derive(Debug, Clone, Copy, Default)]
pub struct Distinct {
    deferring: bool,
}

/// The state of a key of [`FirstN`]: how many of its records went out, and those held back
/// (after a spill) until the end.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FirstRecords<V> {
    emitted: u64,
    held: Held<V>,
}

impl<V> Default for FirstRecords<V> {
    fn default() -> Self {
        FirstRecords {
            emitted: 0,
            held: Held::Nothing,
        }
    }
}

/// The records a key of [`FirstN`] holds back. One is kept inline: after a spill most keys
/// hold one record per spilled generation, and a list per key of millions would cost an
/// allocation each (spilling `first(2)` over 5M keys took 3x longer with a list).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub enum Held<V> {
    /// None.
    Nothing,
    /// One.
    One(V),
    /// Two or more, in arrival order.
    Many(Vec<V>),
}

impl<V> Held<V> {
    fn len(&self) -> u64 {
        match self {
            Held::Nothing => 0,
            Held::One(_) => 1,
            Held::Many(values) => values.len() as u64,
        }
    }

    fn push(&mut self, value: V) {
        *self = match std::mem::replace(self, Held::Nothing) {
            Held::Nothing => Held::One(value),
            Held::One(first) => Held::Many(vec![first, value]),
            Held::Many(mut values) => {
                values.push(value);
                Held::Many(values)
            }
        };
    }

    /// The held records, in arrival order.
    fn into_values(self) -> impl Iterator<Item = V> {
        let (one, many) = match self {
            Held::Nothing => (None, Vec::new()),
            Held::One(value) => (Some(value), Vec::new()),
            Held::Many(values) => (None, values),
        };
        one.into_iter().chain(many)
    }
}

impl<V> FirstRecords<V> {
    /// Takes `value` if fewer than `n` records of the key were taken: emits it, or (once the
    /// operator has spilled) holds it back.
    #[inline]
    fn take(&mut self, n: u64, deferring: bool, value: V, out: &mut Vec<V>) {
        if self.wants(n) {
            if deferring {
                self.held.push(value);
            } else {
                self.emitted += 1;
                out.push(value);
            }
        }
    }

    /// Whether [`FirstRecords::take`] would keep another record.
    #[inline]
    fn wants(&self, n: u64) -> bool {
        self.emitted + self.held.len() < n
    }

    /// Folds in the state of the same key built after this one was spilled: its records
    /// came later, so they fill what is left of the `n`.
    fn merge(&mut self, n: u64, later: FirstRecords<V>) {
        self.emitted += later.emitted;
        let room = n.saturating_sub(self.emitted + self.held.len()) as usize;
        for value in later.held.into_values().take(room) {
            self.held.push(value);
        }
    }
}

/// The state of a key of [`Distinct`]: no record yet, its first record went out, or (after
/// a spill) its first record held back until the end. One value, no list: `distinct` often
/// holds millions of keys.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub enum DistinctState<V> {
    /// No record of the key yet.
    #[default]
    Unseen,
    /// The key's first record was emitted.
    Emitted,
    /// The key's first record since the spill, held back.
    Held(V),
}

impl<K, V> GroupFunction<K, V> for Distinct
where
    V: Serialize + DeserializeOwned + Send + 'static,
{
    type State = DistinctState<V>;
    type Out = V;

    #[inline]
    fn add(&mut self, _key: &K, state: &mut DistinctState<V>, value: V, out: &mut Vec<V>) {
        if let DistinctState::Unseen = state {
            if self.deferring {
                *state = DistinctState::Held(value);
            } else {
                *state = DistinctState::Emitted;
                out.push(value);
            }
        }
    }

    fn finish(&mut self, _key: K, state: DistinctState<V>, out: &mut Vec<V>) {
        if let DistinctState::Held(value) = state {
            out.push(value);
        }
    }

    const MERGEABLE: bool = true;

    fn spilled(&mut self) {
        self.deferring = true;
    }

    /// The earlier state wins: an emitted or held record came first.
    fn merge(&mut self, state: &mut DistinctState<V>, later: DistinctState<V>) {
        if let DistinctState::Unseen = state {
            *state = later;
        }
    }

    fn added_bytes(
        &self,
        state: &DistinctState<V>,
        value: &V,
        sampler: &mut crate::spill::SizeSampler,
    ) -> usize {
        match state {
            DistinctState::Unseen if self.deferring => sampler.estimate(value),
            _ => 0,
        }
    }
}

/// `first(n)`: the first `n` records of each key, emitted as they arrive (held back to the
/// end once the operator has spilled, as [`Distinct`] does).
#[derive(Debug, Clone, Copy)]
pub struct FirstN {
    n: u64,
    deferring: bool,
}

impl FirstN {
    /// The first `n` records of each key.
    pub fn new(n: u64) -> Self {
        FirstN {
            n,
            deferring: false,
        }
    }
}

impl<K, V> GroupFunction<K, V> for FirstN
where
    V: Serialize + DeserializeOwned + Send + 'static,
{
    type State = FirstRecords<V>;
    type Out = V;

    #[inline]
    fn add(&mut self, _key: &K, state: &mut FirstRecords<V>, value: V, out: &mut Vec<V>) {
        state.take(self.n, self.deferring, value, out);
    }

    fn finish(&mut self, _key: K, state: FirstRecords<V>, out: &mut Vec<V>) {
        out.extend(state.held.into_values());
    }

    const MERGEABLE: bool = true;

    fn spilled(&mut self) {
        self.deferring = true;
    }

    fn merge(&mut self, state: &mut FirstRecords<V>, later: FirstRecords<V>) {
        state.merge(self.n, later);
    }

    fn added_bytes(
        &self,
        state: &FirstRecords<V>,
        value: &V,
        sampler: &mut crate::spill::SizeSampler,
    ) -> usize {
        if self.deferring && state.wants(self.n) {
            sampler.estimate(value)
        } else {
            0
        }
    }
}

/// `first(n, |x| sort_key)`: the `n` records of each key with the smallest sort keys (equal
/// keys in arrival order), emitted in that order at end of input.
pub struct FirstBy<F, V> {
    n: usize,
    sort_key: F,
    _values: PhantomData<fn(V)>,
}

impl<F: Clone, V> Clone for FirstBy<F, V> {
    fn clone(&self) -> Self {
        FirstBy {
            n: self.n,
            sort_key: self.sort_key.clone(),
            _values: PhantomData,
        }
    }
}

impl<K, V, S, F> GroupFunction<K, V> for FirstBy<F, V>
where
    V: Serialize + DeserializeOwned + Send + 'static,
    S: Ord,
    F: FnMut(&V) -> S + Clone + Send + 'static,
{
    /// The key's best `n` so far, sorted.
    type State = Vec<V>;
    type Out = V;

    fn add(&mut self, _key: &K, best: &mut Vec<V>, value: V, _out: &mut Vec<V>) {
        self.insert(best, value);
    }

    fn finish(&mut self, _key: K, best: Vec<V>, out: &mut Vec<V>) {
        out.extend(best);
    }

    const MERGEABLE: bool = true;

    /// `later`'s records all arrived after `best`'s: adding them in order keeps ties right.
    fn merge(&mut self, best: &mut Vec<V>, later: Vec<V>) {
        for value in later {
            self.insert(best, value);
        }
    }

    /// A full list only swaps records: it does not grow.
    #[inline]
    fn added_bytes(
        &self,
        best: &Vec<V>,
        value: &V,
        sampler: &mut crate::spill::SizeSampler,
    ) -> usize {
        if best.len() < self.n {
            sampler.estimate(value)
        } else {
            0
        }
    }
}

impl<F, V> FirstBy<F, V> {
    /// Puts `value` among the best `n` if it belongs there.
    fn insert<S: Ord>(&mut self, best: &mut Vec<V>, value: V)
    where
        F: FnMut(&V) -> S,
    {
        let key = (self.sort_key)(&value);
        // After every record with a key not above this one: equal keys stay in arrival order.
        let at = best.partition_point(|b| (self.sort_key)(b) <= key);
        if at < self.n {
            if best.len() == self.n {
                best.pop();
            }
            best.insert(at, value);
        }
    }
}

/// A keyed DataSet operation: a [`GroupFunction`] over per-key state in the subtask's key
/// groups.
pub struct KeyedGroup<K, G: GroupFunction<K, V>, V> {
    function: G,
    store: KeyedStore<K, G::State, ()>,
    /// Reused between records.
    buffer: Vec<G::Out>,
    /// Batch mode with a memory budget, for a [`GroupFunction::MERGEABLE`] function.
    spill: Option<crate::spill::SpillingKeyed<K, G::State>>,
    /// Runs inside an iteration: each superstep's end emits its results, so the end of the
    /// stream itself brings nothing more (what is left is loop-invariant state).
    in_iteration: bool,
    max_parallelism: usize,
    operator: usize,
    emitted: u64,
    _values: PhantomData<fn(V)>,
}

impl<K: std::hash::Hash + Eq, V, G: GroupFunction<K, V>> Clone for KeyedGroup<K, G, V> {
    /// Clones the operator's definition; state is never shared between subtasks.
    fn clone(&self) -> Self {
        KeyedGroup::new(self.operator, self.function.clone())
    }
}

impl<K: std::hash::Hash + Eq, V, G: GroupFunction<K, V>> KeyedGroup<K, G, V> {
    pub(crate) fn new(operator: usize, function: G) -> Self {
        KeyedGroup {
            function,
            store: KeyedStore::new(),
            buffer: Vec::new(),
            spill: None,
            in_iteration: false,
            max_parallelism: 0,
            operator,
            emitted: 0,
            _values: PhantomData,
        }
    }
}

impl<K: crate::keys::Key, V, G: GroupFunction<K, V>> KeyedGroup<K, G, V> {
    /// Writes the whole store out (the estimate passed the budget) and empties it.
    #[cold]
    fn spill_store(&mut self) {
        let Some(spill) = &mut self.spill else {
            return;
        };
        self.function.spilled();
        let store = &mut self.store;
        spill.spill(|files| {
            for entry in store.drain() {
                files.write(&entry.key, &entry.state);
            }
        });
    }

    /// Reads spilled state back into the store, merged with what it holds (the end of a
    /// superstep needs every key's state in memory: iteration state must fit).
    fn unspill(&mut self) {
        let Some(spill) = &mut self.spill else {
            return;
        };
        spill.held = 0;
        if spill.written.is_none() {
            return;
        }
        // Out of the store first: the merged state goes back into it.
        let rest: Vec<(K, G::State)> = self.store.drain().map(|e| (e.key, e.state)).collect();
        let (function, store, max_parallelism) =
            (&mut self.function, &mut self.store, self.max_parallelism);
        spill.finish_all(
            rest,
            |state, later| function.merge(state, later),
            |key, state| {
                let key_group = crate::keys::key_group(&key, max_parallelism);
                let mut state = Some(state);
                store.get_or_insert(key_group, &key, || Entry {
                    key: key.clone(),
                    state: state.take().expect("a key is finished once"),
                    touched: (),
                });
            },
        );
    }
}

impl<K, V, G> Operator<Keyed<K, V>> for KeyedGroup<K, G, V>
where
    K: crate::keys::Key,
    V: 'static,
    G: GroupFunction<K, V>,
{
    type Out = G::Out;

    fn open(&mut self, ctx: &TaskContext) {
        self.max_parallelism = ctx.max_parallelism;
        self.spill = ctx
            .spill
            .clone()
            .filter(|_| G::MERGEABLE)
            .map(crate::spill::Spilling::new);
        self.store.open(crate::keys::key_groups_of_subtask(
            ctx.subtask,
            ctx.parallelism,
            ctx.max_parallelism,
        ));
    }

    #[inline]
    fn process<E: Emit<G::Out>>(
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
        let mut created = false;
        let entry = self.store.get_or_insert(key_group, &key, || {
            created = true;
            Entry {
                key: key.clone(),
                state: G::State::default(),
                touched: (),
            }
        });
        let mut over_budget = false;
        if G::MERGEABLE {
            if let Some(spill) = &mut self.spill {
                let mut bytes = self
                    .function
                    .added_bytes(&entry.state, &value, &mut spill.sampler);
                if created {
                    // The key (its heap part sampled) and the table entry.
                    bytes += spill.sampler.estimate(&entry.key)
                        + std::mem::size_of::<Entry<K, G::State, ()>>()
                        + 8;
                }
                over_budget = spill.add(bytes);
            }
        }
        self.function
            .add(&entry.key, &mut entry.state, value, &mut self.buffer);
        if over_budget {
            self.spill_store();
        }
        scope.exit();
        self.emitted += self.buffer.len() as u64;
        for output in self.buffer.drain(..) {
            out.emit(output, timestamp);
        }
    }

    fn end_of_input<E: Emit<G::Out>>(&mut self, out: &mut E) {
        if self.in_iteration {
            self.store.drain().for_each(drop);
            return;
        }
        let scope = OperatorScope::enter(self.operator);
        if let Some(spill) = &mut self.spill {
            // What was spilled comes back a file at a time, merged with what is in memory.
            let (function, buffer, emitted) =
                (&mut self.function, &mut self.buffer, &mut self.emitted);
            let function = std::cell::RefCell::new(function);
            spill.finish_all(
                self.store.drain().map(|e| (e.key, e.state)),
                |state, later| function.borrow_mut().merge(state, later),
                |key, state| {
                    function.borrow_mut().finish(key, state, buffer);
                    *emitted += buffer.len() as u64;
                    for output in buffer.drain(..) {
                        out.emit(output, None);
                    }
                },
            );
            scope.exit();
            return;
        }
        for entry in self.store.drain() {
            self.function
                .finish(entry.key, entry.state, &mut self.buffer);
            self.emitted += self.buffer.len() as u64;
            for output in self.buffer.drain(..) {
                out.emit(output, None);
            }
        }
        scope.exit();
    }

    fn on_superstep_end<E: Emit<G::Out>>(&mut self, superstep: u64, out: &mut E) {
        self.in_iteration = true;
        let scope = OperatorScope::enter(self.operator);
        self.unspill();
        let (function, buffer, emitted) = (&mut self.function, &mut self.buffer, &mut self.emitted);
        // Each key's results go on at once: buffering a whole superstep's output would hold
        // it all in memory (a join's output is often many times its input).
        self.store.retain_mut(|entry| {
            let keep = function.end_superstep(&entry.key, &mut entry.state, buffer);
            *emitted += buffer.len() as u64;
            for output in buffer.drain(..) {
                out.emit(output, None);
            }
            keep
        });
        scope.exit();
        out.emit_superstep_end(superstep);
    }

    fn snapshot_state(
        &self,
        _subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        for (key_group, table) in self.store.key_groups() {
            if table.is_empty() {
                continue;
            }
            let pairs: Vec<(&K, &G::State)> = table.iter().map(|e| (&e.key, &e.state)).collect();
            let bytes = crate::codec::encode(&pairs)
                .map_err(|e| format!("key group {key_group} does not encode: {e}"))?;
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
        super::restore_key_groups(operator, from, ctx, |key_group, bytes| {
            let pairs: Vec<(K, G::State)> = crate::codec::decode(bytes)
                .map_err(|e| format!("key group {key_group} does not decode: {e}"))?;
            for (key, state) in pairs {
                self.store.get_or_insert(key_group, &key, || Entry {
                    key: key.clone(),
                    state,
                    touched: (),
                });
            }
            Ok(())
        })
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: self.emitted,
            spilled_bytes: self.spill.as_ref().map_or(0, |spill| spill.spilled_bytes),
        });
        self.emitted
    }
}

/// What a per-partition DataSet operation does with a subtask's whole input.
pub trait PartitionFunction<T>: Clone + Send + 'static {
    /// The emitted type.
    type Out;
    /// The input ended: emits the results for `records` (in arrival order).
    fn finish(&mut self, records: Vec<T>, out: &mut dyn FnMut(Self::Out));

    /// Whether the function works on runs of records spilled to disk (an external sort), so
    /// that the operator may spill in batch mode. `map_partition` cannot: its function takes
    /// all records at once.
    const SPILLS: bool = false;

    /// Prepares records for writing out as a run (sorts them). Called only if
    /// [`PartitionFunction::SPILLS`].
    fn prepare_run(&mut self, records: &mut Vec<T>) {
        let _ = records;
    }

    /// The input ended after runs were written (the last run holds the last records): emits
    /// the results from the runs and returns the bytes it wrote on the way (merge passes).
    /// Called only if [`PartitionFunction::SPILLS`].
    fn finish_runs(
        &mut self,
        runs: Vec<crate::spill::Run<T>>,
        out: &mut dyn FnMut(Self::Out),
    ) -> u64 {
        let _ = (runs, out);
        unreachable!("finish_runs called on a partition function that does not spill")
    }
}

/// `map_partition(|records| outputs)`.
#[derive(Clone)]
pub struct MapPartition<F>(F);

impl<T, R, F> PartitionFunction<T> for MapPartition<F>
where
    R: IntoIterator,
    F: FnMut(Vec<T>) -> R + Clone + Send + 'static,
{
    type Out = R::Item;

    fn finish(&mut self, records: Vec<T>, out: &mut dyn FnMut(R::Item)) {
        (self.0)(records).into_iter().for_each(out);
    }
}

/// `sort_partition(|x| sort_key)`: the partition's records by ascending sort key, equal keys
/// in arrival order (`std::cmp::Reverse(key)` sorts descending).
#[derive(Clone)]
pub struct SortPartition<F>(F);

impl<T, S, F> PartitionFunction<T> for SortPartition<F>
where
    T: Serialize + DeserializeOwned,
    S: Ord,
    F: FnMut(&T) -> S + Clone + Send + 'static,
{
    type Out = T;

    fn finish(&mut self, mut records: Vec<T>, out: &mut dyn FnMut(T)) {
        records.sort_by_cached_key(&mut self.0);
        records.into_iter().for_each(out);
    }

    const SPILLS: bool = true;

    fn prepare_run(&mut self, records: &mut Vec<T>) {
        records.sort_by_cached_key(&mut self.0);
    }

    /// Runs hold consecutive stretches of the input, each sorted stably: merging them in run
    /// order keeps equal keys in arrival order.
    fn finish_runs(&mut self, runs: Vec<crate::spill::Run<T>>, out: &mut dyn FnMut(T)) -> u64 {
        crate::spill::merge_sorted_runs(runs, &mut self.0, out)
    }
}

/// A per-partition DataSet operation: buffers the subtask's input, runs its function at end
/// of input.
pub struct WholePartition<T, P> {
    function: P,
    records: Vec<T>,
    /// Batch mode with a memory budget, for a function that [`PartitionFunction::SPILLS`].
    spill: Option<crate::spill::SpillingRuns<T>>,
    /// Runs inside an iteration: each superstep is an input; the end of the last one is the
    /// end of input, so the end of the stream itself brings nothing more.
    in_iteration: bool,
    operator: usize,
    emitted: u64,
}

impl<T, P: Clone> Clone for WholePartition<T, P> {
    /// Clones the operator's definition; buffered records are never shared.
    fn clone(&self) -> Self {
        WholePartition::new(self.operator, self.function.clone())
    }
}

impl<T, P> WholePartition<T, P> {
    pub(crate) fn new(operator: usize, function: P) -> Self {
        WholePartition {
            function,
            records: Vec::new(),
            spill: None,
            in_iteration: false,
            operator,
            emitted: 0,
        }
    }
}

impl<T: Serialize + DeserializeOwned, P: PartitionFunction<T>> WholePartition<T, P> {
    /// Writes the buffered records out as a run (the estimate passed the budget).
    #[cold]
    fn write_run(&mut self) {
        let Some(spill) = &mut self.spill else {
            return;
        };
        let scope = OperatorScope::enter(self.operator);
        let mut records = std::mem::take(&mut self.records);
        self.function.prepare_run(&mut records);
        spill
            .written
            .push(crate::spill::Run::write(&spill.config, records));
        spill.held = 0;
        scope.exit();
    }
}

impl<T, P> Operator<T> for WholePartition<T, P>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    P: PartitionFunction<T>,
{
    type Out = P::Out;

    fn open(&mut self, ctx: &TaskContext) {
        self.spill = ctx
            .spill
            .clone()
            .filter(|_| P::SPILLS)
            .map(crate::spill::Spilling::new);
    }

    #[inline]
    fn process<E: Emit<P::Out>>(&mut self, value: T, _timestamp: Option<Timestamp>, _out: &mut E) {
        if P::SPILLS {
            if let Some(spill) = &mut self.spill {
                let bytes = spill.sampler.estimate(&value);
                if spill.add(bytes) {
                    self.records.push(value);
                    self.write_run();
                    return;
                }
            }
        }
        self.records.push(value);
    }

    fn end_of_input<E: Emit<P::Out>>(&mut self, out: &mut E) {
        let spilled = self
            .spill
            .as_ref()
            .is_some_and(|spill| !spill.written.is_empty());
        if self.in_iteration && self.records.is_empty() && !spilled {
            return;
        }
        let scope = OperatorScope::enter(self.operator);
        let emitted = &mut self.emitted;
        let mut emit = |output: P::Out| {
            *emitted += 1;
            out.emit(output, None);
        };
        match &mut self.spill {
            Some(spill) if spilled => {
                // The last records become the last run; the runs merge.
                let mut records = std::mem::take(&mut self.records);
                self.function.prepare_run(&mut records);
                spill
                    .written
                    .push(crate::spill::Run::write(&spill.config, records));
                spill.held = 0;
                let runs = std::mem::take(&mut spill.written);
                spill.spilled_bytes += runs.iter().map(crate::spill::Run::bytes).sum::<u64>();
                spill.spilled_bytes += self.function.finish_runs(runs, &mut emit);
            }
            spill => {
                if let Some(spill) = spill {
                    spill.held = 0;
                }
                let records = std::mem::take(&mut self.records);
                self.function.finish(records, &mut emit);
            }
        }
        scope.exit();
    }

    /// Each superstep of an iteration is a partition's whole input.
    fn on_superstep_end<E: Emit<P::Out>>(&mut self, superstep: u64, out: &mut E) {
        self.in_iteration = false;
        self.end_of_input(out);
        self.in_iteration = true;
        out.emit_superstep_end(superstep);
    }

    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        if !self.records.is_empty() {
            let bytes = crate::codec::encode(&self.records)
                .map_err(|e| format!("the buffered partition does not encode: {e}"))?;
            into.operator.push((self.operator, subtask, bytes));
        }
        Ok(())
    }

    /// Takes the partitions of the subtasks `s` with `s % parallelism == subtask`, so that at
    /// any new parallelism every buffered record is restored exactly once.
    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &TaskContext,
    ) -> Result<(), String> {
        let state_id = ctx.plan.operators[self.operator].state_id();
        let Some(operator) = from.operator_index(state_id, self.operator) else {
            return Ok(());
        };
        for (subtask, bytes) in from.subtask_states(operator).map_err(|e| e.to_string())? {
            if subtask % ctx.parallelism == ctx.subtask {
                let records: Vec<T> = crate::codec::decode(&bytes)
                    .map_err(|e| format!("the buffered partition does not decode: {e}"))?;
                self.records.extend(records);
            }
        }
        Ok(())
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: self.emitted,
            spilled_bytes: self.spill.as_ref().map_or(0, |spill| spill.spilled_bytes),
        });
        self.emitted
    }
}

/// Builds the `group_reduce` function (the closure's argument types come from the stream).
pub fn group_reduce<K, V, R, F>(f: F) -> GroupReduce<F, V>
where
    F: FnMut(&K, Vec<V>) -> R,
{
    GroupReduce(f, PhantomData)
}

/// Builds the `first(n, |x| sort_key)` function.
pub fn first_by<V, S, F>(n: usize, sort_key: F) -> FirstBy<F, V>
where
    F: FnMut(&V) -> S,
{
    FirstBy {
        n,
        sort_key,
        _values: PhantomData,
    }
}

/// Builds the `map_partition` function.
pub fn map_partition<F>(f: F) -> MapPartition<F> {
    MapPartition(f)
}

/// Builds the `sort_partition` function.
pub fn sort_partition<F>(sort_key: F) -> SortPartition<F> {
    SortPartition(sort_key)
}

/// The reduce function of `min_by(|x| field)`: the record with the smaller field, the
/// earlier one on ties (Flink's `minBy`). `_upstream` fixes the closure's argument type.
pub fn min_by_fn<C: super::Produces, S, F>(
    _upstream: &C,
    mut field: F,
) -> impl FnMut(C::Out, C::Out) -> C::Out + Clone + Send + 'static
where
    S: PartialOrd,
    F: FnMut(&C::Out) -> S + Clone + Send + 'static,
{
    move |a, b| if field(&b) < field(&a) { b } else { a }
}

/// The reduce function of `max_by(|x| field)`: the record with the larger field, the earlier
/// one on ties.
pub fn max_by_fn<C: super::Produces, S, F>(
    _upstream: &C,
    mut field: F,
) -> impl FnMut(C::Out, C::Out) -> C::Out + Clone + Send + 'static
where
    S: PartialOrd,
    F: FnMut(&C::Out) -> S + Clone + Send + 'static,
{
    move |a, b| if field(&b) > field(&a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::{FirstRecords, Held};

    fn held(state: FirstRecords<u64>) -> Vec<u64> {
        state.held.into_values().collect()
    }

    #[test]
    fn first_records_hold_in_arrival_order_and_merge_up_to_n() {
        let mut out = Vec::new();
        let mut earlier = FirstRecords::default();
        earlier.take(3, false, 1, &mut out);
        earlier.take(3, true, 2, &mut out);
        assert_eq!(out, [1]);
        let mut later = FirstRecords::default();
        for value in [3, 4, 5] {
            later.take(3, true, value, &mut out);
        }
        assert!(matches!(later.held, Held::Many(_)));
        assert!(!later.wants(3));
        // One emitted and one held leave room for one more: the earliest of `later`.
        earlier.merge(3, later);
        assert_eq!(earlier.emitted, 1);
        assert_eq!(held(earlier), [2, 3]);
        let mut none_held = FirstRecords::default();
        none_held.take(2, false, 7, &mut out);
        none_held.take(2, false, 8, &mut out);
        let mut late = FirstRecords::default();
        late.take(2, true, 9, &mut out);
        none_held.merge(2, late);
        assert_eq!(held(none_held), Vec::<u64>::new());
        assert_eq!(out, [1, 7, 8]);
    }
}
