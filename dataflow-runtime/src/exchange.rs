//! Exchanges: how records cross from the subtasks of one chain to the subtasks of the next.
//!
//! An [`Edge`] between a chain with `m` subtasks and one with `n` has one bounded channel per
//! (sender, receiver) pair. A sender appends records to a per-receiver buffer and ships it as
//! one [`StreamElement::Records`] batch when it holds `batch_size` records, when the task has
//! nothing else to do (so a slow trickle of data is not held back), and before end of input.
//! Each channel is FIFO, so order is preserved per sender-receiver pair, and its bounded
//! capacity is the backpressure: a slow receiver makes its senders wait, memory stays bounded.
//!
//! Where a record goes is the [`Partitioner`]'s decision, one trait for every strategy.

use std::collections::VecDeque;
use std::future::Future;
use std::hash::Hash;
use std::task::Poll;
#[cfg(test)]
use std::time::Duration;

use tokio::sync::mpsc;

use crate::element::{Keyed, Record, StreamElement, Timestamp, TwoInputs, MIN_WATERMARK};
use crate::error::{Error, Result};
use crate::job::TaskContext;
use crate::keys;
use crate::operator::{Emit, OperatorMetrics, OperatorScope, Produces};
use crate::task::{ChainEnd, ChainEndFactory};

/// Decides which receiving subtask(s) get each record, and what travels on the wire.
pub trait Partitioner<T>: Clone + Send + 'static {
    /// What crosses the channel (`T`, or `Keyed<K, T>` for a keyed exchange).
    type Wire: Send + 'static;

    /// Called once per sending subtask (described by `ctx`) before any record.
    fn setup(&mut self, _ctx: &TaskContext, _receivers: usize) {}

    /// Routes one record: calls `send(receiver, wire)` once, or once per receiver.
    fn route(&mut self, value: T, receivers: usize, send: impl FnMut(usize, Self::Wire));

    /// End of input: sends what the partitioner held back (pre-aggregated partials).
    fn end_of_input(&mut self, _receivers: usize, _send: impl FnMut(usize, Self::Wire)) {}

    /// Appends the counters of the operator work the partitioner does, if any.
    fn collect_metrics(&self, _into: &mut Vec<OperatorMetrics>) {}
}

/// One-to-one: sender `i` to receiver `i` (equal parallelism), preserving partitioning and order.
#[derive(Debug, Clone, Default)]
pub struct Forward {
    receiver: usize,
}

impl<T: Send + 'static> Partitioner<T> for Forward {
    type Wire = T;
    fn setup(&mut self, ctx: &TaskContext, _receivers: usize) {
        self.receiver = ctx.subtask;
    }
    #[inline(always)]
    fn route(&mut self, value: T, _receivers: usize, mut send: impl FnMut(usize, T)) {
        send(self.receiver, value);
    }
}

/// Round robin over all receivers, each sender starting at a different one.
#[derive(Debug, Clone, Default)]
pub struct Rebalance {
    next: usize,
}

impl<T: Send + 'static> Partitioner<T> for Rebalance {
    type Wire = T;
    fn setup(&mut self, ctx: &TaskContext, receivers: usize) {
        self.next = ctx.subtask % receivers;
    }
    #[inline(always)]
    fn route(&mut self, value: T, receivers: usize, mut send: impl FnMut(usize, T)) {
        send(self.next, value);
        self.next += 1;
        if self.next == receivers {
            self.next = 0;
        }
    }
}

/// Round robin over a local subset of receivers (Flink's `rescale`): with fewer senders than
/// receivers each sender feeds its own slice; with more, several senders share one receiver.
#[derive(Debug, Clone, Default)]
pub struct Rescale {
    first: usize,
    count: usize,
    next: usize,
}

impl<T: Send + 'static> Partitioner<T> for Rescale {
    type Wire = T;
    fn setup(&mut self, ctx: &TaskContext, receivers: usize) {
        let (sender, senders) = (ctx.subtask, ctx.parallelism);
        if receivers >= senders {
            self.first = sender * receivers / senders;
            self.count = (sender + 1) * receivers / senders - self.first;
        } else {
            // Flink's pointwise wiring: receiver r reads senders [r*S/R, (r+1)*S/R).
            self.first = (0..receivers)
                .rfind(|&r| r * senders / receivers <= sender)
                .unwrap_or(0);
            self.count = 1;
        }
        self.next = 0;
    }
    #[inline(always)]
    fn route(&mut self, value: T, _receivers: usize, mut send: impl FnMut(usize, T)) {
        send(self.first + self.next, value);
        self.next += 1;
        if self.next == self.count {
            self.next = 0;
        }
    }
}

/// Uniformly random receiver (xorshift seeded per sender, so runs are reproducible).
#[derive(Debug, Clone)]
pub struct Shuffle {
    state: u64,
}

impl Default for Shuffle {
    fn default() -> Self {
        Shuffle {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl<T: Send + 'static> Partitioner<T> for Shuffle {
    type Wire = T;
    fn setup(&mut self, ctx: &TaskContext, _receivers: usize) {
        self.state = keys::stable_hash(&(ctx.subtask as u64)) | 1;
    }
    #[inline(always)]
    fn route(&mut self, value: T, receivers: usize, mut send: impl FnMut(usize, T)) {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        send((self.state % receivers as u64) as usize, value);
    }
}

/// Every record to every receiver.
#[derive(Debug, Clone, Default)]
pub struct Broadcast;

impl<T: Clone + Send + 'static> Partitioner<T> for Broadcast {
    type Wire = T;
    #[inline(always)]
    fn route(&mut self, value: T, receivers: usize, mut send: impl FnMut(usize, T)) {
        for receiver in 0..receivers - 1 {
            send(receiver, value.clone());
        }
        send(receivers - 1, value);
    }
}

/// Every record to receiver 0.
#[derive(Debug, Clone, Default)]
pub struct Global;

impl<T: Send + 'static> Partitioner<T> for Global {
    type Wire = T;
    #[inline(always)]
    fn route(&mut self, value: T, _receivers: usize, mut send: impl FnMut(usize, T)) {
        send(0, value);
    }
}

/// The user's function picks the receiver: `f(&record, receivers) -> index`.
///
/// An index out of range fails the job with the operator's name rather than being wrapped.
#[derive(Clone)]
pub struct Custom<F> {
    operator: usize,
    f: F,
}

impl<F> Custom<F> {
    /// A custom partitioner running `f` (typed by [`partition_fn`]); `operator` names it.
    pub fn new(operator: usize, f: F) -> Self {
        Custom { operator, f }
    }
}

impl<T: Send + 'static, F: FnMut(&T, usize) -> usize + Clone + Send + 'static> Partitioner<T>
    for Custom<F>
{
    type Wire = T;
    #[inline(always)]
    fn route(&mut self, value: T, receivers: usize, mut send: impl FnMut(usize, T)) {
        let scope = OperatorScope::enter(self.operator);
        let receiver = (self.f)(&value, receivers);
        assert!(
            receiver < receivers,
            "partition_custom returned {receiver}, but there are only {receivers} receiving subtasks"
        );
        scope.exit();
        send(receiver, value);
    }
}

/// `key_by`: hashes the key to a key group and sends the record to the subtask owning it.
///
/// With `keep_key` the key and key group travel with the record (a keyed operator follows,
/// and uses them without calling the selector again); otherwise only the value travels.
#[derive(Clone)]
pub struct KeyBy<F, const KEEP_KEY: bool> {
    operator: usize,
    selector: F,
    max_parallelism: usize,
    receivers: usize,
}

/// A `key_by` exchange feeding a keyed operator: sends [`Keyed`] records.
pub type KeyByWithKey<F> = KeyBy<F, true>;
/// A `key_by` exchange feeding an ordinary operator: sends plain values.
pub type KeyByValue<F> = KeyBy<F, false>;

impl<F, const KEEP_KEY: bool> KeyBy<F, KEEP_KEY> {
    /// A key-by partitioner running `selector` (typed by [`key_selector`]); `operator`
    /// names it in errors.
    pub fn new(operator: usize, selector: F) -> Self {
        KeyBy {
            operator,
            selector,
            max_parallelism: keys::DEFAULT_MAX_PARALLELISM,
            receivers: 1,
        }
    }

    /// The key of a record, its stable hash, its key group and the subtask owning it.
    #[inline(always)]
    fn target<T, K: Hash>(&mut self, value: &T) -> (K, u64, u16, usize)
    where
        F: FnMut(&T) -> K,
    {
        let scope = OperatorScope::enter(self.operator);
        let key = (self.selector)(value);
        scope.exit();
        let hash = keys::stable_hash(&key);
        let group = keys::key_group_of_hash(hash, self.max_parallelism);
        let receiver = keys::subtask_for_key_group(group, self.receivers, self.max_parallelism);
        (key, hash, group, receiver)
    }
}

impl<T, K, F> Partitioner<T> for KeyBy<F, true>
where
    T: Send + 'static,
    K: Hash + Send + 'static,
    F: FnMut(&T) -> K + Clone + Send + 'static,
{
    type Wire = Keyed<K, T>;
    fn setup(&mut self, ctx: &TaskContext, receivers: usize) {
        self.receivers = receivers;
        self.max_parallelism = ctx.max_parallelism;
    }
    #[inline(always)]
    fn route(&mut self, value: T, _receivers: usize, mut send: impl FnMut(usize, Keyed<K, T>)) {
        let (key, _, key_group, receiver) = self.target(&value);
        send(
            receiver,
            Keyed {
                key_group,
                key,
                value,
            },
        );
    }
}

impl<T, K, F> Partitioner<T> for KeyBy<F, false>
where
    T: Send + 'static,
    K: Hash,
    F: FnMut(&T) -> K + Clone + Send + 'static,
{
    type Wire = T;
    fn setup(&mut self, ctx: &TaskContext, receivers: usize) {
        self.receivers = receivers;
        self.max_parallelism = ctx.max_parallelism;
    }
    #[inline(always)]
    fn route(&mut self, value: T, _receivers: usize, mut send: impl FnMut(usize, T)) {
        let (_, _, _, receiver) = self.target::<T, K>(&value);
        send(receiver, value);
    }
}

/// An input of a join of bounded inputs whose strategy the plan chooses when the job starts
/// ([`crate::join::JoinStrategy`]): partitions by key as [`KeyByWithKey`] does; or, when
/// the join broadcasts this input, sends each record to every subtask; or, when it
/// broadcasts the other input, keeps each record in the subtask that produced it.
///
/// Records that are not partitioned by key are filed under a key group the receiving
/// subtask owns (the key's own group, folded into that subtask's range): only batch mode
/// broadcasts, and there key groups only shard the operator's table, no checkpoint reads
/// them.
#[derive(Clone)]
pub struct JoinInput<F> {
    key_by: KeyBy<F, true>,
    /// This is the join's second input.
    second: bool,
    strategy: crate::join::JoinStrategyCell,
    /// Read from `strategy` at the first record (tasks start after the decision).
    route: Option<JoinRoute>,
    /// The key groups each receiver owns.
    owned: Vec<std::ops::Range<usize>>,
    subtask: usize,
    senders: usize,
    next: usize,
}

/// How a [`JoinInput`] sends its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinRoute {
    ByKey,
    ToEverySubtask,
    Kept,
}

impl<F> JoinInput<F> {
    /// The first (`second` false) or second input of the join whose strategy is `strategy`,
    /// keyed by `selector` (typed by [`key_selector`]); `operator` names it in errors.
    pub fn new(
        operator: usize,
        selector: F,
        second: bool,
        strategy: &crate::join::JoinStrategyCell,
    ) -> Self {
        JoinInput {
            key_by: KeyBy::new(operator, selector),
            second,
            strategy: strategy.clone(),
            route: None,
            owned: Vec::new(),
            subtask: 0,
            senders: 1,
            next: 0,
        }
    }

    fn route_of(&self) -> JoinRoute {
        use crate::join::JoinStrategy;
        match (self.strategy.get(), self.second) {
            (JoinStrategy::Repartition, _) => JoinRoute::ByKey,
            (JoinStrategy::BroadcastFirst, false) | (JoinStrategy::BroadcastSecond, true) => {
                JoinRoute::ToEverySubtask
            }
            _ => JoinRoute::Kept,
        }
    }

    /// A key group of `receiver` to file a record of `key_group` under.
    #[inline]
    fn filed_under(&self, receiver: usize, key_group: u16) -> u16 {
        let owned = &self.owned[receiver];
        (owned.start + key_group as usize % owned.len().max(1)) as u16
    }
}

impl<T, K, F> Partitioner<T> for JoinInput<F>
where
    T: Clone + Send + 'static,
    K: Hash + Clone + Send + 'static,
    F: FnMut(&T) -> K + Clone + Send + 'static,
{
    type Wire = Keyed<K, T>;

    fn setup(&mut self, ctx: &TaskContext, receivers: usize) {
        Partitioner::<T>::setup(&mut self.key_by, ctx, receivers);
        self.owned = (0..receivers)
            .map(|r| keys::key_groups_of_subtask(r, receivers, ctx.max_parallelism))
            .collect();
        self.subtask = ctx.subtask;
        self.senders = ctx.parallelism;
        self.next = ctx.subtask % receivers.max(1);
    }

    #[inline]
    fn route(&mut self, value: T, receivers: usize, mut send: impl FnMut(usize, Keyed<K, T>)) {
        let route = match self.route {
            Some(route) => route,
            None => *self.route.insert(self.route_of()),
        };
        let (key, _, key_group, by_key) = self.key_by.target(&value);
        match route {
            JoinRoute::ByKey => send(
                by_key,
                Keyed {
                    key_group,
                    key,
                    value,
                },
            ),
            JoinRoute::ToEverySubtask => {
                for receiver in 0..receivers - 1 {
                    send(
                        receiver,
                        Keyed {
                            key_group: self.filed_under(receiver, key_group),
                            key: key.clone(),
                            value: value.clone(),
                        },
                    );
                }
                let last = receivers - 1;
                send(
                    last,
                    Keyed {
                        key_group: self.filed_under(last, key_group),
                        key,
                        value,
                    },
                );
            }
            JoinRoute::Kept => {
                // Equal parallelism: stay in this subtask; otherwise spread round robin.
                let receiver = if self.senders == receivers {
                    self.subtask
                } else {
                    self.next = (self.next + 1) % receivers;
                    self.next
                };
                send(
                    receiver,
                    Keyed {
                        key_group: self.filed_under(receiver, key_group),
                        key,
                        value,
                    },
                );
            }
        }
    }
}

/// The first input of a two-input operator (`connect`): wraps what `P` sends in
/// [`TwoInputs::First`]. `X` is what the second input sends.
pub struct FirstInput<P, X> {
    inner: P,
    _other: std::marker::PhantomData<fn() -> X>,
}

/// The second input of a two-input operator: wraps what `P` sends in [`TwoInputs::Second`].
pub struct SecondInput<P, X> {
    inner: P,
    _other: std::marker::PhantomData<fn() -> X>,
}

macro_rules! input_adapter {
    ($name:ident, $wire:ty, $variant:ident) => {
        impl<P, X> $name<P, X> {
            /// Wraps the partitioner of this input.
            pub fn new(inner: P) -> Self {
                $name {
                    inner,
                    _other: std::marker::PhantomData,
                }
            }
        }

        impl<P: Clone, X> Clone for $name<P, X> {
            fn clone(&self) -> Self {
                $name::new(self.inner.clone())
            }
        }

        impl<T, P, X> Partitioner<T> for $name<P, X>
        where
            P: Partitioner<T>,
            X: Send + 'static,
        {
            type Wire = $wire;
            fn setup(&mut self, ctx: &TaskContext, receivers: usize) {
                self.inner.setup(ctx, receivers);
            }
            #[inline(always)]
            fn route(&mut self, value: T, receivers: usize, mut send: impl FnMut(usize, $wire)) {
                self.inner.route(value, receivers, |r, wire| {
                    send(r, TwoInputs::$variant(wire))
                });
            }
            fn end_of_input(&mut self, receivers: usize, mut send: impl FnMut(usize, $wire)) {
                self.inner
                    .end_of_input(receivers, |r, wire| send(r, TwoInputs::$variant(wire)));
            }
            fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) {
                self.inner.collect_metrics(into);
            }
        }
    };
}

input_adapter!(FirstInput, TwoInputs<P::Wire, X>, First);
input_adapter!(SecondInput, TwoInputs<X, P::Wire>, Second);

/// The typed guard of a `key_by` selector: fixes its argument type to the upstream's records,
/// so the closure needs no annotation and a mismatch is reported at the user's closure. The
/// generated code evaluates each selector once and clones it for every exchange it feeds.
pub fn key_selector<C: Produces, K, F>(_upstream: &C, selector: F) -> F
where
    F: FnMut(&C::Out) -> K + Clone + Send + 'static,
    K: Hash + Send + 'static,
{
    selector
}

/// The typed guard of a `partition_custom` function (see [`key_selector`]).
pub fn partition_fn<C: Produces, F>(_upstream: &C, f: F) -> F
where
    F: FnMut(&C::Out, usize) -> usize + Clone + Send + 'static,
{
    f
}

/// A `key_by` exchange into a rolling aggregate (`sum`, `min`, `max`, `count`, `reduce`).
///
/// The aggregate's projection runs before the exchange, so only `(key, partial)` crosses it
/// (a `count` ships no value at all). In batch mode, where only final values are emitted, the
/// sender also pre-aggregates per key (a combiner, as MapReduce and Flink's batch API do) and
/// ships one partial per key at end of input; the receiver folds partials with the same
/// function. That needs the fold to be associative, which a distributed aggregate needs
/// anyway: records of one key reach it from several senders in no fixed order.
#[derive(Clone)]
pub struct KeyByAggregate<F, P, C, K, A> {
    key_by: KeyBy<F, true>,
    project: P,
    combine: C,
    aggregate_operator: usize,
    batch_mode: bool,
    /// Records that entered the aggregate (it is one logical operator split over the
    /// exchange: this side counts its input, the receiving side its output).
    routed: u64,
    /// Batch mode: one partial per key, found by the key's stable hash (already computed
    /// for routing, so the key is hashed once). Entries are as small as a plain map's.
    partials: hashbrown::HashTable<(K, A)>,
    /// Batch mode with a memory budget: the estimated bytes of `partials`; past the budget
    /// they are sent on early (a combiner only saves work, the receiver merges them anyway).
    budget: Option<usize>,
    held: usize,
}

impl<F, P, C, K, A> KeyByAggregate<F, P, C, K, A> {
    /// `key_operator` names the selector, `aggregate_operator` the projection and fold.
    pub fn new(
        key_operator: usize,
        selector: F,
        aggregate_operator: usize,
        project: P,
        combine: C,
    ) -> Self {
        KeyByAggregate {
            key_by: KeyBy::new(key_operator, selector),
            project,
            combine,
            aggregate_operator,
            batch_mode: false,
            routed: 0,
            partials: hashbrown::HashTable::new(),
            budget: None,
            held: 0,
        }
    }
}

impl<F, P, C, K: Hash, A> KeyByAggregate<F, P, C, K, A> {
    /// The bytes one partial is taken to hold: twice its types' size, for what keys such as
    /// strings hold on the heap (the combiner does not require `Serialize` to measure it, so
    /// that a key missing it is reported once, at the aggregate).
    const ENTRY_ESTIMATE: usize = 2 * std::mem::size_of::<(K, A)>() + 8;

    /// Sends every partial to its receiver and empties the table.
    fn send_partials(&mut self, receivers: usize, send: &mut impl FnMut(usize, Keyed<K, A>)) {
        let max_parallelism = self.key_by.max_parallelism;
        for (key, value) in self.partials.drain() {
            let key_group = keys::key_group(&key, max_parallelism);
            let receiver = keys::subtask_for_key_group(key_group, receivers, max_parallelism);
            send(
                receiver,
                Keyed {
                    key_group,
                    key,
                    value,
                },
            );
        }
        self.held = 0;
    }
}

impl<T, K, A, F, P, C> Partitioner<T> for KeyByAggregate<F, P, C, K, A>
where
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    A: Clone + Send + 'static,
    F: FnMut(&T) -> K + Clone + Send + 'static,
    P: FnMut(T) -> A + Clone + Send + 'static,
    C: crate::operator::Combine<A>,
{
    type Wire = Keyed<K, A>;

    fn setup(&mut self, ctx: &TaskContext, receivers: usize) {
        Partitioner::<T>::setup(&mut self.key_by, ctx, receivers);
        self.batch_mode = ctx.batch_mode;
        self.budget = ctx.spill.as_ref().map(|spill| spill.budget);
    }

    #[inline(always)]
    fn route(&mut self, value: T, receivers: usize, mut send: impl FnMut(usize, Keyed<K, A>)) {
        self.routed += 1;
        let (key, hash, key_group, receiver) = self.key_by.target(&value);
        let scope = OperatorScope::enter(self.aggregate_operator);
        let partial = (self.project)(value);
        if !self.batch_mode {
            scope.exit();
            send(
                receiver,
                Keyed {
                    key_group,
                    key,
                    value: partial,
                },
            );
            return;
        }
        // One probe finds or places the key; growing the table rehashes, recomputing the
        // stable hash then (rarely).
        match self
            .partials
            .entry(hash, |(k, _)| *k == key, |(k, _)| keys::stable_hash(k))
        {
            hashbrown::hash_table::Entry::Occupied(mut entry) => {
                self.combine.combine(&mut entry.get_mut().1, partial);
            }
            hashbrown::hash_table::Entry::Vacant(entry) => {
                if let Some(budget) = self.budget {
                    self.held += Self::ENTRY_ESTIMATE;
                    if self.held > budget {
                        entry.insert((key, partial));
                        scope.exit();
                        self.send_partials(receivers, &mut send);
                        return;
                    }
                }
                entry.insert((key, partial));
            }
        }
        scope.exit();
    }

    fn end_of_input(&mut self, receivers: usize, mut send: impl FnMut(usize, Keyed<K, A>)) {
        self.send_partials(receivers, &mut send);
    }

    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) {
        into.push(OperatorMetrics {
            operator: self.aggregate_operator,
            records_in: self.routed,
            records_out: 0,
            spilled_bytes: 0,
        });
    }
}

/// Tuning of every exchange of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeConfig {
    /// Records per batch.
    pub batch_size: usize,
    /// Batches a channel holds before its sender waits.
    pub channel_capacity: usize,
    /// The longest a record waits in a partial batch while its task stays busy (Flink's
    /// buffer timeout); an idle task ships partial batches at once.
    pub linger: std::time::Duration,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            batch_size: 1024,
            channel_capacity: 8,
            linger: std::time::Duration::from_millis(100),
        }
    }
}

type Sender<W> = mpsc::Sender<StreamElement<W>>;
type Receiver<W> = mpsc::Receiver<StreamElement<W>>;

/// The channels of one edge between two chains, before the tasks take their ends.
pub struct Edge<W> {
    /// `senders[s][r]`: from sending subtask `s` to receiving subtask `r`.
    senders: Vec<Option<Vec<Sender<W>>>>,
    /// `receivers[r][s]`.
    receivers: Vec<Option<Vec<Receiver<W>>>>,
}

impl<W: Send + 'static> Edge<W> {
    /// Creates the full channel matrix.
    pub(crate) fn new(senders: usize, receivers: usize, capacity: usize) -> Self {
        let mut tx = vec![Vec::with_capacity(receivers); senders];
        let mut rx: Vec<Vec<Receiver<W>>> = (0..receivers)
            .map(|_| Vec::with_capacity(senders))
            .collect();
        for sender in tx.iter_mut() {
            for receiver in rx.iter_mut() {
                let (s, r) = mpsc::channel(capacity);
                sender.push(s);
                receiver.push(r);
            }
        }
        Edge {
            senders: tx.into_iter().map(Some).collect(),
            receivers: rx.into_iter().map(Some).collect(),
        }
    }

    pub(crate) fn take_receivers(&mut self, receiver: usize) -> Vec<Receiver<W>> {
        self.receivers[receiver]
            .take()
            .expect("each receiving subtask takes its channels once")
    }

    /// The factory of the sending ends, one [`EdgeWriter`] per sending subtask.
    pub fn writers<T, P: Partitioner<T, Wire = W>>(&mut self, partitioner: P) -> EdgeWriters<P, W> {
        EdgeWriters {
            senders: std::mem::take(&mut self.senders),
            partitioner,
        }
    }
}

impl<W> Produces for Edge<W> {
    type Out = W;
}

/// Creates [`EdgeWriter`]s for the sending subtasks of an edge.
pub struct EdgeWriters<P, W> {
    senders: Vec<Option<Vec<Sender<W>>>>,
    partitioner: P,
}

impl<T, P, W> ChainEndFactory<T> for EdgeWriters<P, W>
where
    T: Send + 'static,
    W: Send + 'static,
    P: Partitioner<T, Wire = W>,
{
    type End = EdgeWriter<P, W>;

    fn create(&mut self, ctx: &TaskContext) -> Result<Self::End> {
        let senders = self.senders[ctx.subtask].take().ok_or_else(|| {
            Error::Runtime(format!(
                "edge writer of subtask {} taken twice",
                ctx.subtask
            ))
        })?;
        let mut partitioner = self.partitioner.clone();
        partitioner.setup(ctx, senders.len());
        let receivers = senders.len();
        Ok(EdgeWriter {
            partitioner,
            out: Outbox {
                buffers: (0..senders.len())
                    .map(|_| Vec::with_capacity(ctx.batch_size))
                    .collect(),
                full: VecDeque::new(),
                closed: false,
                senders,
                batch_size: ctx.batch_size,
                marks: (0..receivers).map(|_| Vec::new()).collect(),
            },
        })
    }
}

/// The sending end of an edge in one subtask: partitions, buffers and ships batches.
pub struct EdgeWriter<P, W> {
    partitioner: P,
    out: Outbox<W>,
}

/// The buffers and channels of one sending subtask, one of each per receiver.
struct Outbox<W> {
    senders: Vec<Sender<W>>,
    buffers: Vec<Vec<Record<W>>>,
    /// Batches that filled up while the channel had no room, and control elements behind
    /// them; shipped in order by `ship`.
    full: VecDeque<(usize, StreamElement<W>)>,
    batch_size: usize,
    /// A receiver went away (its task failed): records are dropped from then on, and the next
    /// flush reports it, instead of buffering output nobody will read.
    closed: bool,
    /// Per receiver, the watermarks emitted since its buffer was last sent, each with the
    /// number of records buffered before it: they travel inside the batch
    /// ([`StreamElement::Marked`]), so a watermark forces no flush.
    marks: Vec<Vec<(u32, Timestamp)>>,
}

impl<T, P: Partitioner<T, Wire = W>, W: Send + 'static> Emit<T> for EdgeWriter<P, W> {
    #[inline(always)]
    fn emit(&mut self, value: T, timestamp: Option<Timestamp>) {
        let EdgeWriter { partitioner, out } = self;
        partitioner.route(value, out.senders.len(), |receiver, wire| {
            out.push(receiver, wire, timestamp);
        });
    }

    fn emit_watermark(&mut self, watermark: Timestamp) {
        self.out.mark(watermark);
    }

    fn emit_idleness(&mut self, idle: bool) {
        self.out.control(|| StreamElement::Idleness(idle));
    }

    fn emit_barrier(&mut self, checkpoint: u64) {
        self.out.control(|| StreamElement::Barrier(checkpoint));
    }

    /// A pre-aggregating partitioner ships the superstep's partials before the marker.
    fn emit_superstep_end(&mut self, superstep: u64) {
        let EdgeWriter { partitioner, out } = self;
        partitioner.end_of_input(out.senders.len(), |receiver, wire| {
            out.push(receiver, wire, None);
        });
        self.out.control(|| StreamElement::SuperstepEnd(superstep));
    }
}

impl<W: Send + 'static> Outbox<W> {
    /// Appends a record to a receiver's buffer. A full buffer is sent at once if its channel
    /// has room; otherwise it waits in `full` for the task's next flush, which awaits the room
    /// (backpressure). Once one batch waits, the following ones wait too, so each channel
    /// stays in order. Should one input record make so many outputs that too many batches
    /// wait (a `flat_map` exploding), the task blocks right there until the receivers make
    /// room: memory stays bounded even within one record.
    #[inline(always)]
    fn push(&mut self, receiver: usize, value: W, timestamp: Option<Timestamp>) {
        if self.closed {
            return;
        }
        let buffer = &mut self.buffers[receiver];
        buffer.push(Record::new(value, timestamp));
        if buffer.len() < self.batch_size {
            return;
        }
        let batch = self.take_batch(receiver);
        self.send_or_queue(receiver, batch);
    }

    /// Marks a watermark after the records buffered so far, for every receiver.
    fn mark(&mut self, watermark: Timestamp) {
        for (buffer, marks) in self.buffers.iter().zip(&mut self.marks) {
            // Each watermark is kept, even several in a row: operators see every one (the
            // gate drops those that do not advance).
            marks.push((buffer.len() as u32, watermark));
        }
    }

    /// Whether a receiver has records or watermarks waiting in its buffer.
    fn has_buffered(&self, receiver: usize) -> bool {
        !self.buffers[receiver].is_empty() || !self.marks[receiver].is_empty()
    }

    /// Takes a receiver's buffer (and the watermarks among its records) as one element.
    fn take_batch(&mut self, receiver: usize) -> StreamElement<W> {
        let batch = std::mem::replace(
            &mut self.buffers[receiver],
            Vec::with_capacity(self.batch_size),
        );
        let marks = &mut self.marks[receiver];
        if marks.is_empty() {
            StreamElement::Records(batch)
        } else {
            StreamElement::Marked(batch, std::mem::take(marks))
        }
    }

    /// Sends an element now if nothing waits and its channel has room; queues it otherwise.
    fn send_or_queue(&mut self, receiver: usize, element: StreamElement<W>) {
        if !self.full.is_empty() {
            self.full.push_back((receiver, element));
            if self.full.len() > waiting_limit(self.senders.len()) {
                self.send_waiting_blocking();
            }
            return;
        }
        match self.senders[receiver].try_send(element) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(element)) => {
                self.full.push_back((receiver, element));
            }
            Err(_) => self.close(),
        }
    }

    /// Sends a control element to every receiver, behind the records buffered for it (a
    /// watermark must not overtake the records it covers).
    #[cold]
    fn control(&mut self, element: impl Fn() -> StreamElement<W>) {
        if self.closed {
            return;
        }
        for receiver in 0..self.senders.len() {
            if self.has_buffered(receiver) {
                let batch = self.take_batch(receiver);
                self.send_or_queue(receiver, batch);
            }
            self.send_or_queue(receiver, element());
        }
    }

    /// A receiver is gone: drop what waits and everything from now on.
    #[cold]
    fn close(&mut self) {
        self.full.clear();
        self.closed = true;
    }

    /// Sends the oldest waiting batches, blocking this worker thread (the runtime moves its
    /// other tasks to another thread meanwhile) until half the limit is left.
    #[cold]
    fn send_waiting_blocking(&mut self) {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread {
            return;
        }
        let keep = waiting_limit(self.senders.len()) / 2;
        tokio::task::block_in_place(|| {
            while self.full.len() > keep {
                let Some((receiver, element)) = self.full.pop_front() else {
                    break;
                };
                if self.senders[receiver].blocking_send(element).is_err() {
                    self.close();
                }
            }
        });
    }

    /// Ships the waiting batches, then (if `partial`) the partly filled ones, awaiting room.
    async fn ship(&mut self, partial: bool) -> Result<()> {
        if self.closed {
            return Err(Error::Disconnected);
        }
        while let Some((receiver, element)) = self.full.pop_front() {
            self.senders[receiver]
                .send(element)
                .await
                .map_err(|_| Error::Disconnected)?;
        }
        if partial {
            for receiver in 0..self.buffers.len() {
                if self.has_buffered(receiver) {
                    let batch = self.take_batch(receiver);
                    self.senders[receiver]
                        .send(batch)
                        .await
                        .map_err(|_| Error::Disconnected)?;
                }
            }
        }
        Ok(())
    }
}

/// How many full batches may wait for a flush before the task blocks to send them.
fn waiting_limit(receivers: usize) -> usize {
    (2 * receivers).max(16)
}

impl<T, P, W> ChainEnd<T> for EdgeWriter<P, W>
where
    T: Send + 'static,
    W: Send + 'static,
    P: Partitioner<T, Wire = W>,
{
    fn flush(&mut self, partial: bool) -> impl Future<Output = Result<()>> + Send {
        self.out.ship(partial)
    }

    async fn finish(&mut self) -> Result<()> {
        self.out.ship(true).await?;
        for sender in &self.out.senders {
            sender
                .send(StreamElement::EndOfInput)
                .await
                .map_err(|_| Error::Disconnected)?;
        }
        Ok(())
    }

    fn end_of_input(&mut self) {
        let EdgeWriter { partitioner, out } = self;
        partitioner.end_of_input(out.senders.len(), |receiver, wire| {
            out.push(receiver, wire, None);
        });
    }

    fn collect_metrics(&self, _records_in: u64, into: &mut Vec<OperatorMetrics>) {
        self.partitioner.collect_metrics(into);
    }
}

/// What an [`InputGate`] yields.
#[derive(Debug)]
pub(crate) enum GateEvent<T> {
    /// A batch from one of the inputs.
    Records(Vec<Record<T>>),
    /// A batch from input channel `.2` with watermarks among its records (see
    /// [`StreamElement::Marked`]): the task hands each to [`InputGate::channel_watermark`]
    /// when it reaches its position.
    Marked(Vec<Record<T>>, Vec<(u32, Timestamp)>, usize),
    /// The task's watermark advanced: the minimum over its active inputs.
    Watermark(Timestamp),
    /// Every input still open went idle (`true`), or one became active again (`false`).
    Idleness(bool),
    /// Checkpoint barrier `n` arrived on every input (or the input ended first): the task's
    /// state now covers exactly the records before it on all inputs.
    Barrier(u64),
    /// Superstep `n` ended on every input (or the input ended first).
    SuperstepEnd(u64),
    /// Every channel of the first (`false`) or second (`true`) input of a two-input operator
    /// has ended; only from a gate given its channels' sides ([`InputGate::with_sides`]).
    SideEnded(bool),
    /// Every input has ended.
    Ended,
}

/// One channel of an input gate, and what it last said about time.
struct InputChannel<T> {
    receiver: Receiver<T>,
    watermark: Timestamp,
    idle: bool,
    ended: bool,
    /// False while a channel that came back from idleness is behind the task's watermark:
    /// it does not hold the watermark back (its records are late anyway) until it catches up.
    aligned: bool,
    /// The last checkpoint barrier the channel delivered. While the gate aligns that
    /// checkpoint, the channel is not read: what follows the barrier belongs to the next
    /// checkpoint (and waits in the bounded channel, which backpressures its sender).
    barrier: Option<u64>,
    /// The last superstep end the channel delivered; aligned like `barrier`.
    superstep: Option<u64>,
}

/// The receiving side of a subtask: all channels of all edges feeding it (several edges for
/// a `union`), read fairly. It merges the channels' watermarks: the task's watermark is the
/// minimum over the channels that are neither idle nor ended, and it only moves forward.
pub(crate) struct InputGate<T> {
    inputs: Vec<InputChannel<T>>,
    open: usize,
    next: usize,
    watermark: Timestamp,
    idle: bool,
    /// Events decided but not yet handed out (one element can yield two).
    pending: VecDeque<GateEvent<T>>,
    /// The checkpoint whose barrier arrived on some inputs but not yet on all.
    aligning: Option<u64>,
    /// The superstep whose end arrived on some inputs but not yet on all.
    aligning_superstep: Option<u64>,
    /// At-least-once checkpoints: inputs are not held back while a barrier aligns, so
    /// records after the barrier on one input may enter the snapshot (and be replayed after
    /// a restore), in exchange for no alignment delay.
    unaligned: bool,
    /// For a two-input operator: which input each channel belongs to (`true`: the second),
    /// and how many channels of each are still open.
    sides: Option<(Vec<bool>, [usize; 2])>,
}

impl<T: Send + 'static> InputGate<T> {
    pub(crate) fn new(inputs: Vec<Receiver<T>>) -> Self {
        InputGate {
            open: inputs.len(),
            inputs: inputs
                .into_iter()
                .map(|receiver| InputChannel {
                    receiver,
                    watermark: MIN_WATERMARK,
                    idle: false,
                    ended: false,
                    aligned: true,
                    barrier: None,
                    superstep: None,
                })
                .collect(),
            next: 0,
            watermark: MIN_WATERMARK,
            idle: false,
            pending: VecDeque::new(),
            aligning: None,
            aligning_superstep: None,
            unaligned: false,
            sides: None,
        }
    }

    /// Tells which input of a two-input operator each channel belongs to (`true`: the
    /// second), so that the gate reports when one input has ended ([`GateEvent::SideEnded`]).
    pub(crate) fn with_sides(mut self, sides: Vec<bool>) -> Self {
        debug_assert_eq!(sides.len(), self.inputs.len());
        let second = sides.iter().filter(|&&s| s).count();
        self.sides = Some((sides, [self.inputs.len() - second, second]));
        self
    }

    /// Makes checkpoints at-least-once: see [`InputGate::unaligned`].
    pub(crate) fn at_least_once(mut self, at_least_once: bool) -> Self {
        self.unaligned = at_least_once;
        self
    }

    /// The task's current watermark.
    #[cfg(test)]
    pub(crate) fn watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Handles one received element; `None` means keep looking.
    fn accept(
        &mut self,
        index: usize,
        element: Option<StreamElement<T>>,
    ) -> Result<Option<GateEvent<T>>> {
        match element {
            Some(StreamElement::Records(batch)) => {
                self.next = index + 1;
                return Ok(Some(GateEvent::Records(batch)));
            }
            Some(StreamElement::Marked(batch, marks)) => {
                self.next = index + 1;
                return Ok(Some(GateEvent::Marked(batch, marks, index)));
            }
            Some(StreamElement::Watermark(watermark)) => {
                let channel = &mut self.inputs[index];
                channel.watermark = channel.watermark.max(watermark);
            }
            Some(StreamElement::Idleness(idle)) => {
                let watermark = self.watermark;
                let input = &mut self.inputs[index];
                if input.idle && !idle && input.watermark < watermark {
                    input.aligned = false;
                }
                input.idle = idle;
            }
            Some(StreamElement::Barrier(checkpoint)) => self.barrier(index, checkpoint),
            Some(StreamElement::SuperstepEnd(superstep)) => {
                self.inputs[index].superstep = Some(superstep);
                self.aligning_superstep = Some(superstep);
                self.complete_superstep();
            }
            Some(StreamElement::EndOfInput) => {
                self.inputs[index].ended = true;
                self.open -= 1;
                if let Some((sides, open)) = &mut self.sides {
                    let side = sides[index];
                    open[usize::from(side)] -= 1;
                    if open[usize::from(side)] == 0 {
                        self.pending.push_back(GateEvent::SideEnded(side));
                    }
                }
                // An input that ended has nothing more for the checkpoint being aligned, nor
                // for the superstep (an input from outside an iteration ends in its first).
                self.complete_alignment();
                self.complete_superstep();
            }
            // The sender was dropped without sending end of input: its task failed.
            None => return Err(Error::Disconnected),
        }
        self.update_time();
        if self.open == 0 {
            self.pending.push_back(GateEvent::Ended);
        }
        Ok(self.pending.pop_front())
    }

    /// Checkpoint barrier `checkpoint` arrived on channel `index`.
    fn barrier(&mut self, index: usize, checkpoint: u64) {
        match self.aligning {
            // A barrier of a checkpoint already completed or given up: nothing to align.
            Some(current) if checkpoint < current => return,
            // A newer checkpoint overtook one that never aligned (its barrier was lost with
            // a failed sender): the older one is given up.
            Some(current) if checkpoint > current => self.aligning = Some(checkpoint),
            Some(_) => {}
            None => {
                if self.inputs.iter().any(|c| c.barrier >= Some(checkpoint)) {
                    return;
                }
                self.aligning = Some(checkpoint);
            }
        }
        self.inputs[index].barrier = Some(checkpoint);
        self.complete_alignment();
    }

    /// Releases the barrier being aligned once every input delivered it or ended.
    fn complete_alignment(&mut self) {
        let Some(checkpoint) = self.aligning else {
            return;
        };
        let arrived = self
            .inputs
            .iter()
            .all(|c| c.ended || c.barrier == Some(checkpoint));
        if arrived {
            self.aligning = None;
            self.pending.push_back(GateEvent::Barrier(checkpoint));
        }
    }

    /// Releases the superstep end being aligned once every input delivered it or ended.
    fn complete_superstep(&mut self) {
        let Some(superstep) = self.aligning_superstep else {
            return;
        };
        if self
            .inputs
            .iter()
            .all(|c| c.ended || c.superstep == Some(superstep))
        {
            self.aligning_superstep = None;
            self.pending.push_back(GateEvent::SuperstepEnd(superstep));
        }
    }

    /// Whether channel `index` is held back by the alignment of a checkpoint or of a
    /// superstep (what follows the marker belongs to the next one).
    fn blocked(&self, index: usize) -> bool {
        let input = &self.inputs[index];
        (!self.unaligned && self.aligning.is_some() && input.barrier == self.aligning)
            || (self.aligning_superstep.is_some() && input.superstep == self.aligning_superstep)
    }

    /// A watermark from inside a batch of channel `channel`: returns the task's new watermark
    /// if it advanced.
    pub(crate) fn channel_watermark(
        &mut self,
        channel: usize,
        watermark: Timestamp,
    ) -> Option<Timestamp> {
        let input = &mut self.inputs[channel];
        input.watermark = input.watermark.max(watermark);
        let before = self.watermark;
        // Only the watermark can change here (idleness did not), and nothing else is pending
        // while the task works through a batch.
        self.update_time();
        if self.watermark > before {
            if let Some(GateEvent::Watermark(_)) = self.pending.back() {
                self.pending.pop_back();
            }
            Some(self.watermark)
        } else {
            None
        }
    }

    /// Recomputes the watermark and idleness after a channel changed, queueing what changed.
    fn update_time(&mut self) {
        for input in &mut self.inputs {
            if !input.aligned && input.watermark >= self.watermark {
                input.aligned = true;
            }
        }
        let active = || self.inputs.iter().filter(|c| !c.ended && !c.idle);
        let all_idle = active().next().is_none() && self.open > 0;
        let candidate = if all_idle {
            // When the last active channel goes idle, the watermark advances to the highest of
            // all channels, ended ones included (they sent the final watermark): nothing active
            // holds it back any more (Flink's rule).
            self.inputs.iter().map(|c| c.watermark).max()
        } else {
            active().filter(|c| c.aligned).map(|c| c.watermark).min()
        };
        if let Some(candidate) = candidate {
            if candidate > self.watermark {
                self.watermark = candidate;
                self.pending.push_back(GateEvent::Watermark(candidate));
            }
        }
        if all_idle != self.idle {
            self.idle = all_idle;
            self.pending.push_back(GateEvent::Idleness(all_idle));
        }
    }

    /// The next event if one is ready now, without waiting.
    pub(crate) fn try_next(&mut self) -> Result<Option<GateEvent<T>>> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        if self.open == 0 {
            return Ok(Some(GateEvent::Ended));
        }
        let count = self.inputs.len();
        let mut checked = 0;
        while checked < count {
            let index = (self.next + checked) % count;
            if self.inputs[index].ended || self.blocked(index) {
                checked += 1;
                continue;
            }
            match self.inputs[index].receiver.try_recv() {
                Ok(element) => {
                    if let Some(event) = self.accept(index, Some(element))? {
                        return Ok(Some(event));
                    }
                    checked = 0;
                }
                Err(mpsc::error::TryRecvError::Empty) => checked += 1,
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(Error::Disconnected),
            }
        }
        Ok(None)
    }

    /// Waits for the next event.
    pub(crate) async fn next(&mut self) -> Result<GateEvent<T>> {
        std::future::poll_fn(|cx| loop {
            if let Some(event) = self.pending.pop_front() {
                return Poll::Ready(Ok(event));
            }
            if self.open == 0 {
                return Poll::Ready(Ok(GateEvent::Ended));
            }
            let count = self.inputs.len();
            let mut progressed = false;
            for offset in 0..count {
                let index = (self.next + offset) % count;
                if self.inputs[index].ended || self.blocked(index) {
                    continue;
                }
                if let Poll::Ready(element) = self.inputs[index].receiver.poll_recv(cx) {
                    match self.accept(index, element) {
                        Ok(Some(event)) => return Poll::Ready(Ok(event)),
                        Ok(None) => {
                            progressed = true;
                            break;
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
            if !progressed {
                return Poll::Pending;
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PLAN: crate::plan::JobPlan = crate::plan::JobPlan {
        name: "t",
        description: "",
        operators: &[],
        chains: &[],
        bounded: true,
    };

    fn ctx(subtask: usize, parallelism: usize, batch_mode: bool) -> TaskContext {
        TaskContext {
            plan: &PLAN,
            chain: 0,
            subtask,
            parallelism,
            max_parallelism: 128,
            batch_mode,
            batch_size: 2,
            linger: std::time::Duration::from_secs(3600),
            checkpointing: false,
            restored: None,
            spill: None,
        }
    }

    /// Routes `values` from one sender and returns the receiver of each.
    fn routes<P: Partitioner<u64, Wire = u64>>(
        mut p: P,
        sender: usize,
        senders: usize,
        receivers: usize,
        values: std::ops::Range<u64>,
    ) -> Vec<Vec<u64>> {
        p.setup(&ctx(sender, senders, false), receivers);
        let mut got = vec![Vec::new(); receivers];
        for v in values {
            p.route(v, receivers, |r, w| got[r].push(w));
        }
        got
    }

    #[test]
    fn rebalance_is_round_robin_and_even() {
        let got = routes(Rebalance::default(), 1, 2, 3, 0..9);
        assert_eq!(got, vec![vec![2, 5, 8], vec![0, 3, 6], vec![1, 4, 7]]);
    }

    #[test]
    fn rescale_uses_a_local_subset() {
        // 2 senders, 4 receivers: sender 0 feeds 0 and 1, sender 1 feeds 2 and 3.
        assert_eq!(
            routes(Rescale::default(), 0, 2, 4, 0..4),
            vec![vec![0, 2], vec![1, 3], vec![], vec![]]
        );
        assert_eq!(
            routes(Rescale::default(), 1, 2, 4, 0..4),
            vec![vec![], vec![], vec![0, 2], vec![1, 3]]
        );
        // 3 senders, 2 receivers (Flink's pointwise wiring): receiver 0 reads sender 0,
        // receiver 1 reads senders 1 and 2.
        assert_eq!(
            routes(Rescale::default(), 0, 3, 2, 0..2),
            vec![vec![0, 1], vec![]]
        );
        assert_eq!(
            routes(Rescale::default(), 1, 3, 2, 0..2),
            vec![vec![], vec![0, 1]]
        );
        assert_eq!(
            routes(Rescale::default(), 2, 3, 2, 0..2),
            vec![vec![], vec![0, 1]]
        );
        // 4 senders, 2 receivers: senders 0, 1 feed receiver 0; senders 2, 3 feed receiver 1.
        assert_eq!(
            routes(Rescale::default(), 1, 4, 2, 0..2),
            vec![vec![0, 1], vec![]]
        );
        assert_eq!(
            routes(Rescale::default(), 2, 4, 2, 0..2),
            vec![vec![], vec![0, 1]]
        );
    }

    #[test]
    fn forward_global_broadcast_and_shuffle() {
        assert_eq!(
            routes(Forward::default(), 2, 3, 3, 0..2),
            vec![vec![], vec![], vec![0, 1]]
        );
        assert_eq!(
            routes(Global, 2, 3, 3, 0..2),
            vec![vec![0, 1], vec![], vec![]]
        );
        assert_eq!(routes(Broadcast, 0, 1, 3, 0..2), vec![vec![0, 1]; 3]);
        let shuffled = routes(Shuffle::default(), 0, 1, 4, 0..4000);
        assert_eq!(shuffled.iter().map(Vec::len).sum::<usize>(), 4000);
        assert!(
            shuffled.iter().all(|r| r.len() > 800),
            "{:?}",
            shuffled.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }

    #[test]
    fn key_by_sends_a_key_to_the_owner_of_its_key_group() {
        let mut p = KeyByWithKey::new(0, |x: &u64| x % 10);
        Partitioner::<u64>::setup(&mut p, &ctx(0, 1, false), 3);
        for v in 0..100u64 {
            p.route(v, 3, |r, keyed: Keyed<u64, u64>| {
                assert_eq!(keyed.key, v % 10);
                assert_eq!(keyed.key_group, keys::key_group(&(v % 10), 128));
                assert_eq!(r, keys::subtask_for_key_group(keyed.key_group, 3, 128));
            });
        }
    }

    #[tokio::test]
    async fn a_full_channel_holds_the_sender_back_and_order_is_kept() {
        let mut edge = Edge::<u64>::new(1, 1, 1);
        let mut writers = edge.writers(Forward::default());
        let ctx = ctx(0, 1, false);
        let mut writer = ChainEndFactory::<u64>::create(&mut writers, &ctx).unwrap();
        let mut gate = InputGate::new(edge.take_receivers(0));
        for v in 0..4 {
            writer.emit(v, None);
        }
        // Two full batches, a channel of capacity 1: the second send must wait for the reader.
        {
            let flush = ChainEnd::<u64>::flush(&mut writer, false);
            tokio::pin!(flush);
            assert!(
                tokio::time::timeout(Duration::from_millis(50), &mut flush)
                    .await
                    .is_err(),
                "backpressure"
            );
            let first = gate.next().await.unwrap();
            assert!(
                matches!(first, GateEvent::Records(ref b) if b.iter().map(|r| r.value).eq([0, 1]))
            );
            flush.await.unwrap();
        }
        assert!(
            matches!(gate.next().await.unwrap(), GateEvent::Records(ref b) if b.iter().map(|r| r.value).eq([2, 3]))
        );
        ChainEnd::<u64>::finish(&mut writer).await.unwrap();
        assert!(matches!(gate.next().await.unwrap(), GateEvent::Ended));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_exploding_into_many_batches_blocks_instead_of_buffering_them_all() {
        let mut edge = Edge::<u64>::new(1, 1, 1);
        let mut writers = edge.writers(Forward::default());
        let mut gate = InputGate::new(edge.take_receivers(0));
        // One synchronous burst, as a flat_map of one record into 10,000 makes.
        let producer = tokio::spawn(async move {
            let mut writer =
                ChainEndFactory::<u64>::create(&mut writers, &ctx(0, 1, false)).unwrap();
            let mut most_waiting = 0;
            for v in 0..10_000u64 {
                writer.emit(v, None);
                most_waiting = most_waiting.max(writer.out.full.len());
            }
            ChainEnd::<u64>::finish(&mut writer).await.unwrap();
            most_waiting
        });
        let mut received = Vec::new();
        while let GateEvent::Records(batch) = gate.next().await.unwrap() {
            received.extend(batch.into_iter().map(|r| r.value));
        }
        assert!(
            producer.await.unwrap() <= waiting_limit(1),
            "waiting batches stay bounded"
        );
        assert_eq!(
            received,
            (0..10_000).collect::<Vec<_>>(),
            "in order, nothing lost"
        );
    }

    #[tokio::test]
    async fn a_writer_whose_receiver_is_gone_drops_records_and_reports_it() {
        let mut edge = Edge::<u64>::new(1, 1, 1);
        let mut writers = edge.writers(Forward::default());
        let mut writer = ChainEndFactory::<u64>::create(&mut writers, &ctx(0, 1, false)).unwrap();
        drop(edge.take_receivers(0));
        for v in 0..10_000u64 {
            writer.emit(v, None);
        }
        assert!(
            writer.out.closed && writer.out.full.is_empty(),
            "nothing piles up for a dead receiver"
        );
        assert!(matches!(
            ChainEnd::<u64>::flush(&mut writer, true).await,
            Err(Error::Disconnected)
        ));
    }

    #[tokio::test]
    async fn a_sender_dropped_without_end_of_input_is_an_upstream_failure() {
        let mut edge = Edge::<u64>::new(1, 1, 1);
        let mut gate = InputGate::new(edge.take_receivers(0));
        drop(edge);
        assert!(matches!(gate.next().await, Err(Error::Disconnected)));
    }

    /// Drains what the gate has ready, describing watermark and idleness events.
    fn time_events(gate: &mut InputGate<u64>) -> Vec<String> {
        let mut events = Vec::new();
        while let Some(event) = gate.try_next().unwrap() {
            match event {
                GateEvent::Watermark(w) => events.push(format!("wm {w}")),
                GateEvent::Idleness(idle) => events.push(format!("idle {idle}")),
                GateEvent::Records(batch) => events.push(format!("{} records", batch.len())),
                GateEvent::Marked(batch, marks, channel) => {
                    let mut done = 0;
                    for (at, watermark) in marks {
                        if at as usize > done {
                            events.push(format!("{} records", at as usize - done));
                            done = at as usize;
                        }
                        if let Some(w) = gate.channel_watermark(channel, watermark) {
                            events.push(format!("wm {w}"));
                        }
                    }
                    if batch.len() > done {
                        events.push(format!("{} records", batch.len() - done));
                    }
                }
                GateEvent::Barrier(n) => events.push(format!("barrier {n}")),
                GateEvent::SuperstepEnd(n) => events.push(format!("superstep {n}")),
                GateEvent::SideEnded(second) => events.push(format!("side ended {second}")),
                GateEvent::Ended => {
                    events.push("ended".into());
                    break;
                }
            }
        }
        events
    }

    /// Records from sender `from` to receiver 0, as one batch.
    fn records(values: &[u64]) -> StreamElement<u64> {
        StreamElement::Records(values.iter().map(|&v| Record::new(v, None)).collect())
    }

    #[test]
    fn a_superstep_end_holds_back_its_input_until_every_open_input_delivered_it() {
        // Inputs 0 and 1 are inside the iteration; input 2 is loop-invariant (it ends).
        let mut edge = Edge::<u64>::new(3, 1, 16);
        let mut gate = InputGate::new(edge.take_receivers(0));
        let send = |edge: &Edge<u64>, from: usize, element| {
            edge.senders[from].as_ref().unwrap()[0]
                .try_send(element)
                .unwrap();
        };
        send(&edge, 0, records(&[1]));
        send(&edge, 0, StreamElement::SuperstepEnd(0));
        send(&edge, 0, records(&[2, 3]));
        send(&edge, 1, records(&[10]));
        send(&edge, 1, StreamElement::SuperstepEnd(0));
        send(&edge, 2, records(&[7, 8, 9]));
        // Superstep 1's records of input 0 wait; the invariant input has not ended yet.
        assert_eq!(
            time_events(&mut gate),
            ["1 records", "1 records", "3 records"]
        );
        send(&edge, 2, StreamElement::EndOfInput);
        send(&edge, 1, StreamElement::SuperstepEnd(1));
        assert_eq!(
            time_events(&mut gate),
            ["superstep 0", "2 records"],
            "input 1's end of superstep 1 waits for input 0's"
        );
        send(&edge, 0, StreamElement::SuperstepEnd(1));
        send(&edge, 0, StreamElement::EndOfInput);
        send(&edge, 1, StreamElement::EndOfInput);
        assert_eq!(time_events(&mut gate), ["superstep 1", "ended"]);
    }

    #[test]
    fn a_barrier_holds_back_its_input_until_it_arrived_on_every_input() {
        let mut edge = Edge::<u64>::new(3, 1, 16);
        let mut gate = InputGate::new(edge.take_receivers(0));
        let send = |edge: &Edge<u64>, from: usize, element| {
            edge.senders[from].as_ref().unwrap()[0]
                .try_send(element)
                .unwrap();
        };
        // Input 0 reaches barrier 1 first: what it sends after it waits.
        send(&edge, 0, records(&[1, 2]));
        send(&edge, 0, StreamElement::Barrier(1));
        send(&edge, 0, records(&[3, 4, 5]));
        send(&edge, 1, records(&[10]));
        assert_eq!(time_events(&mut gate), ["2 records", "1 records"]);
        // Input 1 reaches it too; input 2 still sends records of checkpoint 1.
        send(&edge, 1, StreamElement::Barrier(1));
        send(&edge, 1, records(&[11, 12, 13, 14]));
        send(&edge, 2, records(&[20]));
        assert_eq!(time_events(&mut gate), ["1 records"]);
        // The last input's barrier releases the barrier, then the held-back records.
        send(&edge, 2, StreamElement::Barrier(1));
        let events = time_events(&mut gate);
        assert_eq!(events[0], "barrier 1");
        let mut after: Vec<&str> = events[1..].iter().map(String::as_str).collect();
        after.sort();
        assert_eq!(after, ["3 records", "4 records"]);
        // The next checkpoint aligns again.
        send(&edge, 2, StreamElement::Barrier(2));
        send(&edge, 2, records(&[21]));
        send(&edge, 0, StreamElement::Barrier(2));
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        // An input that ends counts as arrived.
        send(&edge, 1, StreamElement::EndOfInput);
        assert_eq!(time_events(&mut gate), ["barrier 2", "1 records"]);
    }

    #[test]
    fn a_single_input_forwards_barriers_in_place_and_stale_ones_are_ignored() {
        let mut edge = Edge::<u64>::new(2, 1, 16);
        let mut gate = InputGate::new(edge.take_receivers(0));
        let send = |edge: &Edge<u64>, from: usize, element| {
            edge.senders[from].as_ref().unwrap()[0]
                .try_send(element)
                .unwrap();
        };
        // Input 1 ended: every barrier of input 0 passes at once, in order with its records.
        send(&edge, 1, StreamElement::EndOfInput);
        send(&edge, 0, records(&[1]));
        send(&edge, 0, StreamElement::Barrier(4));
        send(&edge, 0, records(&[2, 3]));
        assert_eq!(
            time_events(&mut gate),
            ["1 records", "barrier 4", "2 records"]
        );
        // A barrier of a checkpoint already passed is not released again.
        send(&edge, 0, StreamElement::Barrier(3));
        send(&edge, 0, StreamElement::Barrier(4));
        send(&edge, 0, StreamElement::Barrier(5));
        send(&edge, 0, StreamElement::EndOfInput);
        assert_eq!(time_events(&mut gate), ["barrier 5", "ended"]);
    }

    #[test]
    fn at_least_once_barriers_hold_nothing_back() {
        let mut edge = Edge::<u64>::new(2, 1, 16);
        let mut gate = InputGate::new(edge.take_receivers(0)).at_least_once(true);
        let send = |edge: &Edge<u64>, from: usize, element| {
            edge.senders[from].as_ref().unwrap()[0]
                .try_send(element)
                .unwrap();
        };
        send(&edge, 0, StreamElement::Barrier(1));
        send(&edge, 0, records(&[1, 2]));
        assert_eq!(time_events(&mut gate), ["2 records"]);
        send(&edge, 1, records(&[3]));
        send(&edge, 1, StreamElement::Barrier(1));
        assert_eq!(time_events(&mut gate), ["1 records", "barrier 1"]);
    }

    #[test]
    fn a_newer_barrier_gives_up_a_checkpoint_that_never_aligned() {
        let mut edge = Edge::<u64>::new(2, 1, 16);
        let mut gate = InputGate::new(edge.take_receivers(0));
        let send = |edge: &Edge<u64>, from: usize, element| {
            edge.senders[from].as_ref().unwrap()[0]
                .try_send(element)
                .unwrap();
        };
        send(&edge, 0, StreamElement::Barrier(1));
        // Input 1 never sends barrier 1 (its checkpoint was aborted upstream) but sends 2.
        send(&edge, 1, StreamElement::Barrier(2));
        send(&edge, 1, records(&[7]));
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        send(&edge, 0, records(&[8]));
        send(&edge, 0, StreamElement::Barrier(2));
        assert_eq!(
            time_events(&mut gate),
            ["1 records", "barrier 2", "1 records"]
        );
    }

    #[test]
    fn a_writer_sends_a_barrier_behind_the_records_buffered_before_it() {
        let mut edge = Edge::<u64>::new(1, 2, 16);
        let mut writers = edge.writers(Rebalance::default());
        let mut writer = ChainEndFactory::<u64>::create(&mut writers, &ctx(0, 1, false)).unwrap();
        let mut gates = [
            InputGate::new(edge.take_receivers(0)),
            InputGate::new(edge.take_receivers(1)),
        ];
        for i in 0..3 {
            writer.emit(i, None);
        }
        writer.emit_barrier(9);
        writer.emit(3, None);
        let mut seen: Vec<Vec<String>> = gates.iter_mut().map(time_events).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                vec!["1 records", "barrier 9"],
                vec!["2 records", "barrier 9"]
            ]
        );
    }

    #[test]
    fn the_gate_tells_when_every_channel_of_one_side_has_ended() {
        // Channels 0 and 2 are the first input, channel 1 the second.
        let mut edge = Edge::<u64>::new(3, 1, 16);
        let mut gate = InputGate::new(edge.take_receivers(0)).with_sides(vec![false, true, false]);
        let send = |edge: &Edge<u64>, from: usize, element| {
            edge.senders[from].as_ref().unwrap()[0]
                .try_send(element)
                .unwrap();
        };
        send(&edge, 0, StreamElement::EndOfInput);
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        send(&edge, 1, StreamElement::EndOfInput);
        assert_eq!(time_events(&mut gate), ["side ended true"]);
        send(&edge, 2, StreamElement::Records(vec![Record::new(7, None)]));
        send(&edge, 2, StreamElement::EndOfInput);
        assert_eq!(
            time_events(&mut gate),
            ["1 records", "side ended false", "ended"]
        );
    }

    #[test]
    fn the_gate_watermark_is_the_minimum_over_active_inputs_and_never_goes_back() {
        let mut edge = Edge::<u64>::new(2, 1, 16);
        let mut gate = InputGate::new(edge.take_receivers(0));
        let send = |edge: &Edge<u64>, from: usize, element| {
            edge.senders[from].as_ref().unwrap()[0]
                .try_send(element)
                .unwrap();
        };
        send(&edge, 0, StreamElement::Watermark(10));
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        send(&edge, 1, StreamElement::Watermark(5));
        assert_eq!(time_events(&mut gate), ["wm 5"]);
        send(&edge, 1, StreamElement::Watermark(20));
        assert_eq!(time_events(&mut gate), ["wm 10"]);
        // A lower watermark from one input does not move the task's back.
        send(&edge, 0, StreamElement::Watermark(3));
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        assert_eq!(gate.watermark(), 10);
        // An idle input no longer holds the watermark back; when all are idle, the task is.
        send(&edge, 0, StreamElement::Idleness(true));
        assert_eq!(time_events(&mut gate), ["wm 20"]);
        send(&edge, 1, StreamElement::Idleness(true));
        assert_eq!(time_events(&mut gate), ["idle true"]);
        send(&edge, 0, StreamElement::Idleness(false));
        send(&edge, 0, StreamElement::Watermark(30));
        assert_eq!(time_events(&mut gate), ["idle false", "wm 30"]);
        // An ended input stops counting: the other one, still idle, makes the task idle.
        send(&edge, 0, StreamElement::EndOfInput);
        send(&edge, 1, StreamElement::Idleness(false));
        send(&edge, 1, StreamElement::Watermark(40));
        send(&edge, 1, StreamElement::EndOfInput);
        assert_eq!(
            time_events(&mut gate),
            ["idle true", "idle false", "wm 40", "ended"]
        );
    }

    #[test]
    fn an_input_back_from_idleness_behind_the_watermark_does_not_hold_it_back() {
        let mut edge = Edge::<u64>::new(2, 1, 16);
        let mut gate = InputGate::new(edge.take_receivers(0));
        let send = |edge: &Edge<u64>, from: usize, element| {
            edge.senders[from].as_ref().unwrap()[0]
                .try_send(element)
                .unwrap();
        };
        send(&edge, 0, StreamElement::Watermark(10));
        send(&edge, 1, StreamElement::Watermark(10));
        assert_eq!(time_events(&mut gate), ["wm 10"]);
        send(&edge, 1, StreamElement::Idleness(true));
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        send(&edge, 0, StreamElement::Watermark(1000));
        assert_eq!(time_events(&mut gate), ["wm 1000"]);
        // Input 1 comes back at 20: it counts again only once it reaches 1000.
        send(&edge, 1, StreamElement::Idleness(false));
        send(&edge, 1, StreamElement::Watermark(20));
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        send(&edge, 0, StreamElement::Watermark(1100));
        assert_eq!(time_events(&mut gate), ["wm 1100"]);
        send(&edge, 1, StreamElement::Watermark(1050));
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        send(&edge, 0, StreamElement::Watermark(1200));
        assert_eq!(time_events(&mut gate), ["wm 1200"]);
        // Caught up: from now on it holds the watermark back like any active input.
        send(&edge, 1, StreamElement::Watermark(1300));
        assert_eq!(time_events(&mut gate), Vec::<String>::new());
        send(&edge, 0, StreamElement::Watermark(1400));
        assert_eq!(time_events(&mut gate), ["wm 1300"]);
    }

    #[tokio::test]
    async fn a_watermark_follows_the_records_buffered_before_it() {
        let mut edge = Edge::<u64>::new(1, 2, 16);
        let mut writer = edge
            .writers(Forward::default())
            .create(&ctx(0, 1, false))
            .unwrap();
        let mut gates = [
            InputGate::new(edge.take_receivers(0)),
            InputGate::new(edge.take_receivers(1)),
        ];
        // Watermarks travel inside the batches at their exact position (a batch holds two
        // records in these tests), and force no flush.
        writer.emit(7, Some(1));
        writer.emit_watermark(1);
        writer.emit(8, Some(2));
        writer.emit_watermark(2);
        assert_eq!(
            time_events(&mut gates[0]),
            ["1 records", "wm 1", "1 records"]
        );
        assert_eq!(time_events(&mut gates[1]), Vec::<String>::new());
        writer.flush(true).await.unwrap();
        assert_eq!(time_events(&mut gates[0]), ["wm 2"]);
        assert_eq!(time_events(&mut gates[1]), ["wm 1", "wm 2"]);
        // Idleness goes out at once, behind the records and the watermark before it.
        writer.emit(9, Some(3));
        writer.emit_watermark(3);
        writer.emit_idleness(true);
        assert_eq!(
            time_events(&mut gates[0]),
            ["1 records", "wm 3", "idle true"]
        );
        assert_eq!(time_events(&mut gates[1]), ["wm 3", "idle true"]);
    }

    fn aggregate_routes(batch_mode: bool) -> Vec<(usize, Keyed<u64, u64>)> {
        let mut p = KeyByAggregate::new(
            0,
            |x: &u64| x % 3,
            1,
            |x: u64| x * 10,
            crate::operator::SumCombine,
        );
        Partitioner::<u64>::setup(&mut p, &ctx(0, 1, batch_mode), 2);
        let mut sent = Vec::new();
        for v in 0..9u64 {
            p.route(v, 2, |r, keyed| sent.push((r, keyed)));
        }
        Partitioner::<u64>::end_of_input(&mut p, 2, |r, keyed| sent.push((r, keyed)));
        let mut metrics = Vec::new();
        Partitioner::<u64>::collect_metrics(&p, &mut metrics);
        assert_eq!(
            metrics,
            vec![OperatorMetrics {
                operator: 1,
                records_in: 9,
                records_out: 0,
                spilled_bytes: 0,
            }]
        );
        sent.sort_by_key(|(_, k)| (k.key, k.value));
        sent
    }

    #[test]
    fn key_by_aggregate_projects_before_the_exchange_and_combines_in_batch_mode() {
        let streaming = aggregate_routes(false);
        assert_eq!(
            streaming.len(),
            9,
            "one partial per record in streaming mode"
        );
        assert!(streaming
            .iter()
            .all(|(_, k)| k.value % 10 == 0 && k.key == k.value / 10 % 3));
        let batch = aggregate_routes(true);
        let totals: Vec<(u64, u64)> = batch.iter().map(|(_, k)| (k.key, k.value)).collect();
        assert_eq!(
            totals,
            vec![(0, 90), (1, 120), (2, 150)],
            "one partial per key at end of input"
        );
        for (receiver, keyed) in &batch {
            assert_eq!(
                *receiver,
                keys::subtask_for_key_group(keyed.key_group, 2, 128)
            );
        }
    }
}
