//! Joins of two keyed streams: window joins and co-groups (both sides' records of a key
//! that fall in the same window), and interval joins (pairs whose timestamps are within a
//! bound of each other).
//!
//! A window join is a window operator over both inputs (records wrapped in
//! [`TwoInputs`]): each window keeps the records of either side, and when it fires, its
//! function sees both lists. An interval join is a keyed two-input process function that
//! buffers each side's records until the watermark says no partner can come any more.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::element::{Keyed, Timestamp, TwoInputs};
use crate::operator::{KeyedCoProcessFunction, KeyedContext, OutputTag, Produces};
use crate::time::TimeDomain;
use crate::window::{AggregateFunction, Assigner, Finish, Window};

/// Gathers a window's records of both inputs, in arrival order.
pub struct CoGroupAll<A, B>(PhantomData<fn(A, B)>);

impl<A, B> Clone for CoGroupAll<A, B> {
    fn clone(&self) -> Self {
        CoGroupAll(PhantomData)
    }
}

impl<A, B> AggregateFunction<TwoInputs<A, B>> for CoGroupAll<A, B>
where
    A: Clone + Serialize + DeserializeOwned + Send + 'static,
    B: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Acc = (Vec<A>, Vec<B>);
    type Out = (Vec<A>, Vec<B>);

    fn create_accumulator(&mut self) -> (Vec<A>, Vec<B>) {
        (Vec::new(), Vec::new())
    }

    #[inline]
    fn add(&mut self, acc: &mut (Vec<A>, Vec<B>), value: TwoInputs<A, B>) {
        match value {
            TwoInputs::First(a) => acc.0.push(a),
            TwoInputs::Second(b) => acc.1.push(b),
        }
    }

    fn merge(&mut self, acc: &mut (Vec<A>, Vec<B>), other: &(Vec<A>, Vec<B>)) {
        acc.0.extend(other.0.iter().cloned());
        acc.1.extend(other.1.iter().cloned());
    }

    fn result(&mut self, acc: &(Vec<A>, Vec<B>)) -> (Vec<A>, Vec<B>) {
        acc.clone()
    }
}

/// What a join makes of one key's records of both sides (in one window, or in all of a
/// bounded input): the inner join's pairs, an outer join's pairs and unmatched records, or
/// the co-group's function of both lists.
pub trait JoinKind<A, B>: Clone + Send + 'static {
    /// What the join emits.
    type Out: Send + 'static;
    /// Whether [`JoinKind::join`] takes the records out of the lists (a co-group hands them
    /// to the user's function); the others only read them.
    const CONSUMES: bool = false;
    /// Emits the results for a key whose records are `left` and `right` (arrival order).
    fn join(&mut self, left: &mut Vec<A>, right: &mut Vec<B>, emit: &mut dyn FnMut(Self::Out));
}

/// Inner join: `f(&a, &b)` for every pair (a key with records of one side only emits nothing).
#[derive(Debug, Clone)]
pub struct InnerJoin<F>(pub F);

impl<A, B, F, O> JoinKind<A, B> for InnerJoin<F>
where
    F: FnMut(&A, &B) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    type Out = O;

    fn join(&mut self, left: &mut Vec<A>, right: &mut Vec<B>, emit: &mut dyn FnMut(O)) {
        for a in left.iter() {
            for b in right.iter() {
                emit((self.0)(a, b));
            }
        }
    }
}

/// Left outer join: `f(&a, Some(&b))` for every pair, `f(&a, None)` for each `a` without
/// partners.
#[derive(Debug, Clone)]
pub struct LeftOuterJoin<F>(pub F);

impl<A, B, F, O> JoinKind<A, B> for LeftOuterJoin<F>
where
    F: FnMut(&A, Option<&B>) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    type Out = O;

    fn join(&mut self, left: &mut Vec<A>, right: &mut Vec<B>, emit: &mut dyn FnMut(O)) {
        for a in left.iter() {
            if right.is_empty() {
                emit((self.0)(a, None));
            }
            for b in right.iter() {
                emit((self.0)(a, Some(b)));
            }
        }
    }
}

/// Right outer join: `f(Some(&a), &b)` for every pair, `f(None, &b)` for each `b` without
/// partners.
#[derive(Debug, Clone)]
pub struct RightOuterJoin<F>(pub F);

impl<A, B, F, O> JoinKind<A, B> for RightOuterJoin<F>
where
    F: FnMut(Option<&A>, &B) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    type Out = O;

    fn join(&mut self, left: &mut Vec<A>, right: &mut Vec<B>, emit: &mut dyn FnMut(O)) {
        for b in right.iter() {
            if left.is_empty() {
                emit((self.0)(None, b));
            }
            for a in left.iter() {
                emit((self.0)(Some(a), b));
            }
        }
    }
}

/// Full outer join: `f(Some(&a), Some(&b))` for every pair, and `f(Some(&a), None)` /
/// `f(None, Some(&b))` for the records of a key that has none on the other side.
#[derive(Debug, Clone)]
pub struct FullOuterJoin<F>(pub F);

impl<A, B, F, O> JoinKind<A, B> for FullOuterJoin<F>
where
    F: FnMut(Option<&A>, Option<&B>) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    type Out = O;

    fn join(&mut self, left: &mut Vec<A>, right: &mut Vec<B>, emit: &mut dyn FnMut(O)) {
        if left.is_empty() {
            right.iter().for_each(|b| emit((self.0)(None, Some(b))));
        }
        if right.is_empty() {
            left.iter().for_each(|a| emit((self.0)(Some(a), None)));
        }
        for a in left.iter() {
            for b in right.iter() {
                emit((self.0)(Some(a), Some(b)));
            }
        }
    }
}

/// Co-group: `f(left, right)` with both sides' records of a key (either may be empty).
#[derive(Debug, Clone)]
pub struct CoGroupWith<F>(pub F);

impl<A, B, F, I> JoinKind<A, B> for CoGroupWith<F>
where
    F: FnMut(Vec<A>, Vec<B>) -> I + Clone + Send + 'static,
    I: IntoIterator,
    I::Item: Send + 'static,
{
    type Out = I::Item;

    const CONSUMES: bool = true;

    fn join(&mut self, left: &mut Vec<A>, right: &mut Vec<B>, emit: &mut dyn FnMut(I::Item)) {
        (self.0)(std::mem::take(left), std::mem::take(right))
            .into_iter()
            .for_each(emit);
    }
}

/// A window join's function: the join of each fired window's records.
#[derive(Debug, Clone)]
pub struct WindowJoin<J>(J);

impl<K, A, B, J: JoinKind<A, B>> Finish<K, (Vec<A>, Vec<B>)> for WindowJoin<J> {
    type Out = J::Out;

    fn finish(
        &mut self,
        _key: &K,
        _window: Window,
        (mut left, mut right): (Vec<A>, Vec<B>),
        mut emit: impl FnMut(J::Out),
    ) {
        self.0.join(&mut left, &mut right, &mut emit);
    }
}

/// The window operator of a window join of kind `J` (the typed guards below fix the join
/// function's argument types to the two streams' records).
type WindowJoinOperator<W, A, B, J> =
    <W as Assigner>::Operator<CoGroupAll<A, B>, TwoInputs<A, B>, WindowJoin<J>>;

/// The typed guard of `a.join(b).where(..).equal_to(..).window(w).apply(f)`.
pub fn join<C, K, A, B, F, O, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> WindowJoinOperator<W, A, B, InnerJoin<F>>
where
    C: Produces<Out = Keyed<K, TwoInputs<A, B>>>,
    F: FnMut(&A, &B) -> O + Clone + Send + 'static,
    W: Assigner,
{
    windows.operator(CoGroupAll(PhantomData), WindowJoin(InnerJoin(f)))
}

/// The typed guard of `a.left_outer_join(b)...window(w).apply(|a, b: Option<&B>| ..)`.
pub fn left_outer_join<C, K, A, B, F, O, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> WindowJoinOperator<W, A, B, LeftOuterJoin<F>>
where
    C: Produces<Out = Keyed<K, TwoInputs<A, B>>>,
    F: FnMut(&A, Option<&B>) -> O + Clone + Send + 'static,
    W: Assigner,
{
    windows.operator(CoGroupAll(PhantomData), WindowJoin(LeftOuterJoin(f)))
}

/// The typed guard of `a.right_outer_join(b)...window(w).apply(|a: Option<&A>, b| ..)`.
pub fn right_outer_join<C, K, A, B, F, O, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> WindowJoinOperator<W, A, B, RightOuterJoin<F>>
where
    C: Produces<Out = Keyed<K, TwoInputs<A, B>>>,
    F: FnMut(Option<&A>, &B) -> O + Clone + Send + 'static,
    W: Assigner,
{
    windows.operator(CoGroupAll(PhantomData), WindowJoin(RightOuterJoin(f)))
}

/// The typed guard of `a.full_outer_join(b)...window(w).apply(|a: Option<&A>, b: Option<&B>| ..)`.
pub fn full_outer_join<C, K, A, B, F, O, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> WindowJoinOperator<W, A, B, FullOuterJoin<F>>
where
    C: Produces<Out = Keyed<K, TwoInputs<A, B>>>,
    F: FnMut(Option<&A>, Option<&B>) -> O + Clone + Send + 'static,
    W: Assigner,
{
    windows.operator(CoGroupAll(PhantomData), WindowJoin(FullOuterJoin(f)))
}

/// The typed guard of `a.co_group(b).where(..).equal_to(..).window(w).apply(f)`.
pub fn co_group<C, K, A, B, F, I, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> WindowJoinOperator<W, A, B, CoGroupWith<F>>
where
    C: Produces<Out = Keyed<K, TwoInputs<A, B>>>,
    F: FnMut(Vec<A>, Vec<B>) -> I + Clone + Send + 'static,
    I: IntoIterator,
    W: Assigner,
{
    windows.operator(CoGroupAll(PhantomData), WindowJoin(CoGroupWith(f)))
}

/// Which input of a join inside an iteration comes from outside it: loop-invariant data
/// (a graph's edges) that arrives once, in the first superstep, and is kept for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StaticSide {
    /// Both inputs change every superstep (or the join is not in an iteration).
    #[default]
    None,
    /// The first input is loop-invariant.
    First,
    /// The second input is loop-invariant.
    Second,
}

impl StaticSide {
    /// The same side once the inputs are swapped.
    pub fn swapped(self) -> StaticSide {
        match self {
            StaticSide::None => StaticSide::None,
            StaticSide::First => StaticSide::Second,
            StaticSide::Second => StaticSide::First,
        }
    }
}

/// A join of bounded inputs (no window): each key's records of both sides, joined at end of
/// input. A hash join: both sides are partitioned by key and kept per key until the input
/// ends (in an iteration: until each superstep ends, a loop-invariant side for good).
#[derive(Debug, Clone)]
pub struct BatchJoin<J> {
    kind: J,
    static_side: StaticSide,
}

impl<J> BatchJoin<J> {
    /// A join of kind `kind`.
    pub fn new(kind: J, static_side: StaticSide) -> Self {
        BatchJoin { kind, static_side }
    }
}

impl<K, A, B, J> crate::operator::GroupFunction<K, TwoInputs<A, B>> for BatchJoin<J>
where
    A: Clone + Serialize + DeserializeOwned + Send + 'static,
    B: Clone + Serialize + DeserializeOwned + Send + 'static,
    J: JoinKind<A, B>,
{
    type State = (Vec<A>, Vec<B>);
    type Out = J::Out;

    #[inline]
    fn add(
        &mut self,
        _key: &K,
        (left, right): &mut (Vec<A>, Vec<B>),
        value: TwoInputs<A, B>,
        _out: &mut Vec<J::Out>,
    ) {
        match value {
            TwoInputs::First(a) => left.push(a),
            TwoInputs::Second(b) => right.push(b),
        }
    }

    fn finish(&mut self, _key: K, (mut left, mut right): (Vec<A>, Vec<B>), out: &mut Vec<J::Out>) {
        self.kind.join(&mut left, &mut right, &mut |o| out.push(o));
    }

    const MERGEABLE: bool = true;

    fn merge(
        &mut self,
        (left, right): &mut (Vec<A>, Vec<B>),
        (later_left, later_right): (Vec<A>, Vec<B>),
    ) {
        left.extend(later_left);
        right.extend(later_right);
    }

    #[inline]
    fn added_bytes(
        &self,
        _state: &(Vec<A>, Vec<B>),
        value: &TwoInputs<A, B>,
        sampler: &mut crate::spill::SizeSampler,
    ) -> usize {
        match value {
            TwoInputs::First(a) => sampler.estimate(a),
            TwoInputs::Second(b) => sampler.estimate(b),
        }
    }

    /// Joins the superstep's records with the loop-invariant side, which stays.
    fn end_superstep(
        &mut self,
        _key: &K,
        (left, right): &mut (Vec<A>, Vec<B>),
        out: &mut Vec<J::Out>,
    ) -> bool {
        let emit = &mut |o| out.push(o);
        match self.static_side {
            StaticSide::None => {
                self.kind.join(left, right, emit);
                left.clear();
                right.clear();
                false
            }
            StaticSide::First => {
                if J::CONSUMES {
                    self.kind.join(&mut left.clone(), right, emit);
                } else {
                    self.kind.join(left, right, emit);
                }
                right.clear();
                !left.is_empty()
            }
            StaticSide::Second => {
                if J::CONSUMES {
                    self.kind.join(left, &mut right.clone(), emit);
                } else {
                    self.kind.join(left, right, emit);
                }
                left.clear();
                !right.is_empty()
            }
        }
    }
}

/// `a.cross(b).apply(|a, b| out)`: every pair of the two bounded inputs. The second input is
/// broadcast (each subtask pairs its share of the first with all of the second), so it
/// should be the smaller one.
pub struct Cross<F, A, B> {
    f: F,
    left: Vec<A>,
    right: Vec<B>,
    static_side: StaticSide,
    operator: usize,
    emitted: u64,
}

impl<F: Clone, A, B> Clone for Cross<F, A, B> {
    /// Clones the operator's definition; buffered records are never shared.
    fn clone(&self) -> Self {
        Cross::new(self.operator, self.f.clone(), self.static_side)
    }
}

impl<F, A, B> Cross<F, A, B> {
    pub(crate) fn new(operator: usize, f: F, static_side: StaticSide) -> Self {
        Cross {
            f,
            left: Vec::new(),
            right: Vec::new(),
            static_side,
            operator,
            emitted: 0,
        }
    }
}

impl<F, A, B, O> crate::operator::Operator<TwoInputs<A, B>> for Cross<F, A, B>
where
    F: FnMut(&A, &B) -> O + Clone + Send + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
    B: Serialize + DeserializeOwned + Send + 'static,
{
    type Out = O;

    #[inline]
    fn process<E: crate::operator::Emit<O>>(
        &mut self,
        value: TwoInputs<A, B>,
        _timestamp: Option<Timestamp>,
        _out: &mut E,
    ) {
        match value {
            TwoInputs::First(a) => self.left.push(a),
            TwoInputs::Second(b) => self.right.push(b),
        }
    }

    fn end_of_input<E: crate::operator::Emit<O>>(&mut self, out: &mut E) {
        let scope = crate::operator::OperatorScope::enter(self.operator);
        for a in &self.left {
            for b in &self.right {
                self.emitted += 1;
                out.emit((self.f)(a, b), None);
            }
        }
        scope.exit();
        self.left = Vec::new();
        self.right = Vec::new();
    }

    /// Pairs the superstep's records; a loop-invariant side stays for the next superstep.
    fn on_superstep_end<E: crate::operator::Emit<O>>(&mut self, superstep: u64, out: &mut E) {
        let scope = crate::operator::OperatorScope::enter(self.operator);
        for a in &self.left {
            for b in &self.right {
                self.emitted += 1;
                out.emit((self.f)(a, b), None);
            }
        }
        scope.exit();
        if self.static_side != StaticSide::First {
            self.left.clear();
        }
        if self.static_side != StaticSide::Second {
            self.right.clear();
        }
        out.emit_superstep_end(superstep);
    }

    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        if !self.left.is_empty() || !self.right.is_empty() {
            let bytes = crate::codec::encode(&(&self.left, &self.right))
                .map_err(|e| format!("the buffered cross inputs do not encode: {e}"))?;
            into.operator.push((self.operator, subtask, bytes));
        }
        Ok(())
    }

    /// The first input's records go back to subtasks as `map_partition`'s do; the second
    /// input is the same in every subtask, so any one subtask's copy restores it everywhere.
    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &crate::job::TaskContext,
    ) -> Result<(), String> {
        let (left, right) = (&mut self.left, &mut self.right);
        restore_first_and_broadcast(
            self.operator,
            "cross",
            from,
            ctx,
            |records| left.extend(records),
            |records| *right = records,
        )
    }

    fn collect_metrics(
        &self,
        records_in: u64,
        into: &mut Vec<crate::operator::OperatorMetrics>,
    ) -> u64 {
        into.push(crate::operator::OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: self.emitted,
            spilled_bytes: 0,
        });
        self.emitted
    }
}

/// The tag of an interval join's late records of its first input: records whose timestamp
/// is behind the watermark when they arrive, which could miss partners that were already
/// cleaned up. Read it with `const LATE: OutputTag<A> = interval_join_late_first();`.
pub const fn interval_join_late_first<A>() -> OutputTag<A> {
    OutputTag::new("interval-join-late-first")
}

/// The tag of an interval join's late records of its second input.
pub const fn interval_join_late_second<B>() -> OutputTag<B> {
    OutputTag::new("interval-join-late-second")
}

/// An interval join (Flink's `IntervalJoinOperator`): a record `a` of the first input at
/// `ta` joins every record `b` of the second input with the same key and `tb` in
/// `[ta + lower, ta + upper]` (bounds inclusive unless made exclusive); `f(&a, &b)` is
/// emitted at `max(ta, tb)`. Each side's records are kept until the watermark passes the
/// last timestamp a partner could have: `ta + upper` for the first input, `tb - lower` for
/// the second (a record at the watermark is not late yet, as in Flink).
pub struct IntervalJoin<F, A, B> {
    lower: Timestamp,
    upper: Timestamp,
    f: F,
    _inputs: PhantomData<fn(A, B)>,
}

impl<F: Clone, A, B> Clone for IntervalJoin<F, A, B> {
    fn clone(&self) -> Self {
        IntervalJoin {
            lower: self.lower,
            upper: self.upper,
            f: self.f.clone(),
            _inputs: PhantomData,
        }
    }
}

/// The typed guard of `a.interval_join(b).between(lower, upper).process(f)`: bounds in
/// milliseconds relative to the first input's timestamp, each inclusive unless its
/// `*_exclusive` flag is set.
pub fn interval_join<C, K, A, B, F, O>(
    _upstream: &C,
    lower: Timestamp,
    upper: Timestamp,
    lower_exclusive: bool,
    upper_exclusive: bool,
    f: F,
) -> IntervalJoin<F, A, B>
where
    C: Produces<Out = TwoInputs<Keyed<K, A>, Keyed<K, B>>>,
    F: FnMut(&A, &B) -> O + Clone + Send + 'static,
{
    let lower = lower.saturating_add(i64::from(lower_exclusive));
    let upper = upper.saturating_sub(i64::from(upper_exclusive));
    assert!(
        lower <= upper,
        "interval join bounds are empty: between({lower}, {upper}) (after making exclusive bounds inclusive); the lower bound must not exceed the upper one"
    );
    IntervalJoin {
        lower,
        upper,
        f,
        _inputs: PhantomData,
    }
}

/// An interval join's per-key buffers: each side's records by timestamp.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "A: Serialize, B: Serialize",
    deserialize = "A: DeserializeOwned, B: DeserializeOwned"
))]
pub struct IntervalBuffers<A, B> {
    first: BTreeMap<Timestamp, Vec<A>>,
    second: BTreeMap<Timestamp, Vec<B>>,
}

impl<A, B> Default for IntervalBuffers<A, B> {
    fn default() -> Self {
        IntervalBuffers {
            first: BTreeMap::new(),
            second: BTreeMap::new(),
        }
    }
}

impl<F, A, B> IntervalJoin<F, A, B> {
    /// The watermark from which the first input's record at `ta` can have no new partner.
    fn first_cleanup(&self, ta: Timestamp) -> Timestamp {
        ta.saturating_add(self.upper).saturating_add(1)
    }

    /// The watermark from which the second input's record at `tb` can have no new partner.
    fn second_cleanup(&self, tb: Timestamp) -> Timestamp {
        tb.saturating_sub(self.lower).saturating_add(1)
    }
}

fn timestamp_of<K, O>(ctx: &KeyedContext<'_, K, O>) -> Timestamp
where
    K: std::hash::Hash + Eq + Clone,
{
    ctx.timestamp().unwrap_or_else(|| {
        panic!("an interval join needs records with timestamps on both inputs: call `.assign_timestamps(..)` before it")
    })
}

impl<K, A, B, F, O> KeyedCoProcessFunction<K, A, B> for IntervalJoin<F, A, B>
where
    K: std::hash::Hash + Eq + Clone,
    A: Clone + Serialize + DeserializeOwned + Send + 'static,
    B: Clone + Serialize + DeserializeOwned + Send + 'static,
    F: FnMut(&A, &B) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    type State = IntervalBuffers<A, B>;
    type Out = O;

    fn process_element1(
        &mut self,
        _key: &K,
        state: &mut IntervalBuffers<A, B>,
        value: A,
        ctx: &mut KeyedContext<'_, K, O>,
    ) {
        let ta = timestamp_of(ctx);
        if ta < ctx.current_watermark() {
            ctx.side_output(&interval_join_late_first::<A>(), value);
            return;
        }
        let range = ta.saturating_add(self.lower)..=ta.saturating_add(self.upper);
        for (&tb, partners) in state.second.range(range) {
            for b in partners {
                ctx.output_at((self.f)(&value, b), ta.max(tb));
            }
        }
        let cleanup = self.first_cleanup(ta);
        if cleanup > ctx.current_watermark() {
            state.first.entry(ta).or_default().push(value);
            ctx.register_event_time_timer(cleanup);
        }
    }

    fn process_element2(
        &mut self,
        _key: &K,
        state: &mut IntervalBuffers<A, B>,
        value: B,
        ctx: &mut KeyedContext<'_, K, O>,
    ) {
        let tb = timestamp_of(ctx);
        if tb < ctx.current_watermark() {
            ctx.side_output(&interval_join_late_second::<B>(), value);
            return;
        }
        let range = tb.saturating_sub(self.upper)..=tb.saturating_sub(self.lower);
        for (&ta, partners) in state.first.range(range) {
            for a in partners {
                ctx.output_at((self.f)(a, &value), ta.max(tb));
            }
        }
        let cleanup = self.second_cleanup(tb);
        if cleanup > ctx.current_watermark() {
            state.second.entry(tb).or_default().push(value);
            ctx.register_event_time_timer(cleanup);
        }
    }

    fn on_timer(
        &mut self,
        _key: &K,
        state: &mut IntervalBuffers<A, B>,
        timestamp: Timestamp,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, K, O>,
    ) {
        // Records whose last partner time the watermark passed: the oldest ones (cleanup
        // times grow with timestamps), so each timer pops what is due and looks no further.
        while let Some((&ta, _)) = state.first.first_key_value() {
            if self.first_cleanup(ta) > timestamp {
                break;
            }
            state.first.pop_first();
        }
        while let Some((&tb, _)) = state.second.first_key_value() {
            if self.second_cleanup(tb) > timestamp {
                break;
            }
            state.second.pop_first();
        }
        if state.first.is_empty() && state.second.is_empty() {
            ctx.clear_state();
        }
    }
}

/// Restores an operator that buffers its first input per subtask and holds all of a
/// broadcast second input (`cross`, broadcast joins): the first input's records go back by
/// subtask, as `map_partition`'s do; the second input is the same in every subtask, so the
/// first non-empty copy restores it.
fn restore_first_and_broadcast<A: DeserializeOwned, B: DeserializeOwned>(
    operator: usize,
    what: &str,
    from: &crate::checkpoint::Checkpoint,
    ctx: &crate::job::TaskContext,
    mut add_first: impl FnMut(Vec<A>),
    mut set_second: impl FnMut(Vec<B>),
) -> Result<(), String> {
    let state_id = ctx.plan.operators[operator].state_id();
    let Some(index) = from.operator_index(state_id, operator) else {
        return Ok(());
    };
    let mut have_second = false;
    for (subtask, bytes) in from.subtask_states(index).map_err(|e| e.to_string())? {
        let (first, second): (Vec<A>, Vec<B>) = crate::codec::decode(&bytes)
            .map_err(|e| format!("the buffered {what} inputs do not decode: {e}"))?;
        if subtask % ctx.parallelism == ctx.subtask {
            add_first(first);
        }
        if !have_second && !second.is_empty() {
            have_second = true;
            set_second(second);
        }
    }
    Ok(())
}

/// The hint of a join without a window: how its inputs meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoinHint {
    /// Both inputs are partitioned by key (a hash join; the default).
    #[default]
    Repartition,
    /// The second input is broadcast to every subtask of the join, the first stays where it
    /// is (no shuffle): for a small second input (Flink's broadcast hash join).
    BroadcastSecond,
    /// The first input is broadcast, the second stays where it is: for a small first input
    /// (`join` and `right_outer_join`).
    BroadcastFirst,
}

/// How a join of bounded inputs without a hint runs: the plan chooses when the job starts,
/// from its sources' estimated sizes ([`choose_join_strategy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinStrategy {
    /// Both inputs partitioned by key (a hash join).
    Repartition,
    /// The first input sent whole to every subtask, the second kept where it was produced.
    BroadcastFirst,
    /// The second input sent whole to every subtask, the first kept where it was produced.
    BroadcastSecond,
}

impl std::fmt::Display for JoinStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JoinStrategy::Repartition => "hash join, both inputs repartitioned",
            JoinStrategy::BroadcastFirst => "broadcast hash join of the first input",
            JoinStrategy::BroadcastSecond => "broadcast hash join of the second input",
        })
    }
}

/// Which inputs a join may broadcast: an outer join keeps the unmatched records of one
/// input, and a broadcast input's unmatched records would come once per subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastAllowed {
    /// An inner join: either input.
    Either,
    /// A right outer join: only the first.
    First,
    /// A left outer join: only the second.
    Second,
}

/// The strategy of one join, shared by the partitioners of its inputs: set once, after the
/// job is wired and before any task starts, so both inputs always route the same way.
#[derive(Debug, Clone, Default)]
pub struct JoinStrategyCell(std::sync::Arc<std::sync::OnceLock<JoinStrategy>>);

impl JoinStrategyCell {
    /// An undecided strategy.
    pub fn new() -> Self {
        JoinStrategyCell::default()
    }

    /// Decides the strategy (the first decision stands).
    pub(crate) fn set(&self, strategy: JoinStrategy) {
        let _ = self.0.set(strategy);
    }

    /// The strategy; only read by running tasks, which start after the decision.
    pub(crate) fn get(&self) -> JoinStrategy {
        *self
            .0
            .get()
            .expect("a join's strategy is decided before any task starts")
    }
}

/// What the plan chose for one join when the job started, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinChoice {
    /// The join operator's name.
    pub operator: &'static str,
    /// The strategy it ran with.
    pub strategy: JoinStrategy,
    /// The estimated bytes of each input (`None`: a source upstream cannot tell).
    pub estimates: [Option<u64>; 2],
}

/// Chooses how a join of bounded inputs runs (Flink's optimizer makes the same choice from
/// its size estimates): broadcast an input when it is estimated at most `threshold` bytes
/// and sending it to each of the `parallelism` subtasks moves no more than repartitioning
/// both inputs would (`size × (p − 1) ≤ other size`, or the other size is unknown). Of two
/// such inputs, the smaller one. Only in batch mode: a streaming job's checkpoints keep
/// keyed join state by key group, which a broadcast input does not have. A `threshold` of 0
/// turns broadcasting off.
pub fn choose_join_strategy(
    estimates: [Option<u64>; 2],
    allowed: BroadcastAllowed,
    parallelism: usize,
    threshold: u64,
    batch_mode: bool,
) -> JoinStrategy {
    if !batch_mode || threshold == 0 {
        return JoinStrategy::Repartition;
    }
    let fits = |side: usize| -> Option<u64> {
        let size = estimates[side]?;
        let other = estimates[1 - side];
        let cheaper = other
            .is_none_or(|other| size.saturating_mul(parallelism.saturating_sub(1) as u64) <= other);
        (size <= threshold && cheaper).then_some(size)
    };
    let first = match allowed {
        BroadcastAllowed::Either | BroadcastAllowed::First => fits(0),
        BroadcastAllowed::Second => None,
    };
    let second = match allowed {
        BroadcastAllowed::Either | BroadcastAllowed::Second => fits(1),
        BroadcastAllowed::First => None,
    };
    match (first, second) {
        (Some(a), Some(b)) if a < b => JoinStrategy::BroadcastFirst,
        (_, Some(_)) => JoinStrategy::BroadcastSecond,
        (Some(_), None) => JoinStrategy::BroadcastFirst,
        (None, None) => JoinStrategy::Repartition,
    }
}

/// A join kind that can pair one record with all partners of its key at once: how a
/// broadcast hash join probes its table. Only the input the kind keeps unmatched (a left
/// outer join's first, a right outer join's second) gets `None` for a record without
/// partners; the broadcast input is never the kept one.
pub trait ProbeJoin<A, B>: JoinKind<A, B> {
    /// Emits the results of a first-input record `a` whose key's second-input records are
    /// `partners`.
    fn probe_first(&mut self, a: &A, partners: &[B], emit: &mut impl FnMut(Self::Out));
    /// Emits the results of a second-input record `b` whose key's first-input records are
    /// `partners`.
    fn probe_second(&mut self, partners: &[A], b: &B, emit: &mut impl FnMut(Self::Out));
}

impl<A, B, F, O> ProbeJoin<A, B> for InnerJoin<F>
where
    F: FnMut(&A, &B) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    fn probe_first(&mut self, a: &A, partners: &[B], emit: &mut impl FnMut(O)) {
        for b in partners {
            emit((self.0)(a, b));
        }
    }
    fn probe_second(&mut self, partners: &[A], b: &B, emit: &mut impl FnMut(O)) {
        for a in partners {
            emit((self.0)(a, b));
        }
    }
}

impl<A, B, F, O> ProbeJoin<A, B> for LeftOuterJoin<F>
where
    F: FnMut(&A, Option<&B>) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    fn probe_first(&mut self, a: &A, partners: &[B], emit: &mut impl FnMut(O)) {
        if partners.is_empty() {
            emit((self.0)(a, None));
        }
        for b in partners {
            emit((self.0)(a, Some(b)));
        }
    }
    fn probe_second(&mut self, partners: &[A], b: &B, emit: &mut impl FnMut(O)) {
        for a in partners {
            emit((self.0)(a, Some(b)));
        }
    }
}

impl<A, B, F, O> ProbeJoin<A, B> for RightOuterJoin<F>
where
    F: FnMut(Option<&A>, &B) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    fn probe_first(&mut self, a: &A, partners: &[B], emit: &mut impl FnMut(O)) {
        for b in partners {
            emit((self.0)(Some(a), b));
        }
    }
    fn probe_second(&mut self, partners: &[A], b: &B, emit: &mut impl FnMut(O)) {
        if partners.is_empty() {
            emit((self.0)(None, b));
        }
        for a in partners {
            emit((self.0)(Some(a), b));
        }
    }
}

/// A join of bounded inputs whose strategy the plan chose when the job started
/// ([`JoinStrategy`], read from the cell its input partitioners share).
///
/// Repartitioned, it is the hash join ([`BatchJoin`] over a keyed group: both sides kept
/// per key until the end of input, spilling over a memory budget). As a broadcast hash
/// join, the broadcast input builds a table by key, and each record of the other input is
/// probed against it as soon as the table is complete (the broadcast input has ended); only
/// records that arrive before that wait, so the large input is not held in memory.
pub struct ChosenJoin<K, A, B, J>
where
    A: Clone + Serialize + DeserializeOwned + Send + 'static,
    B: Clone + Serialize + DeserializeOwned + Send + 'static,
    J: JoinKind<A, B>,
{
    strategy: JoinStrategyCell,
    chosen: JoinStrategy,
    hash: crate::operator::KeyedGroup<K, BatchJoin<J>, TwoInputs<A, B>>,
    kind: J,
    /// The broadcast input by key: first-input records (`BroadcastFirst`) or second-input.
    first_table: std::collections::HashMap<K, Vec<A>>,
    second_table: std::collections::HashMap<K, Vec<B>>,
    /// Records of the other input that came before the table was complete.
    waiting: Vec<(K, TwoInputs<A, B>)>,
    table_complete: bool,
    operator: usize,
    emitted: u64,
}

impl<K, A, B, J> Clone for ChosenJoin<K, A, B, J>
where
    K: std::hash::Hash + Eq,
    A: Clone + Serialize + DeserializeOwned + Send + 'static,
    B: Clone + Serialize + DeserializeOwned + Send + 'static,
    J: JoinKind<A, B>,
{
    /// Clones the operator's definition; state is never shared between subtasks.
    fn clone(&self) -> Self {
        ChosenJoin::new(self.operator, self.kind.clone(), &self.strategy)
    }
}

impl<K, A, B, J> ChosenJoin<K, A, B, J>
where
    K: std::hash::Hash + Eq,
    A: Clone + Serialize + DeserializeOwned + Send + 'static,
    B: Clone + Serialize + DeserializeOwned + Send + 'static,
    J: JoinKind<A, B>,
{
    pub(crate) fn new(operator: usize, kind: J, strategy: &JoinStrategyCell) -> Self {
        ChosenJoin {
            strategy: strategy.clone(),
            chosen: JoinStrategy::Repartition,
            hash: crate::operator::KeyedGroup::new(
                operator,
                BatchJoin::new(kind.clone(), StaticSide::None),
            ),
            kind,
            first_table: std::collections::HashMap::new(),
            second_table: std::collections::HashMap::new(),
            waiting: Vec::new(),
            table_complete: false,
            operator,
            emitted: 0,
        }
    }
}

impl<K, A, B, J> ChosenJoin<K, A, B, J>
where
    K: std::hash::Hash + Eq,
    A: Clone + Serialize + DeserializeOwned + Send + 'static,
    B: Clone + Serialize + DeserializeOwned + Send + 'static,
    J: ProbeJoin<A, B>,
{
    /// Probes one record of the input that is not broadcast.
    #[inline]
    fn probe<E: crate::operator::Emit<J::Out>>(
        &mut self,
        key: &K,
        value: TwoInputs<A, B>,
        out: &mut E,
    ) {
        let emitted = &mut self.emitted;
        let emit = &mut |o| {
            *emitted += 1;
            out.emit(o, None);
        };
        match value {
            TwoInputs::First(a) => {
                let partners = self.second_table.get(key).map_or(&[][..], Vec::as_slice);
                self.kind.probe_first(&a, partners, emit);
            }
            TwoInputs::Second(b) => {
                let partners = self.first_table.get(key).map_or(&[][..], Vec::as_slice);
                self.kind.probe_second(partners, &b, emit);
            }
        }
    }

    /// The broadcast input ended: the table is whole, the waiting records are probed.
    fn complete_table<E: crate::operator::Emit<J::Out>>(&mut self, out: &mut E) {
        self.table_complete = true;
        let scope = crate::operator::OperatorScope::enter(self.operator);
        for (key, value) in std::mem::take(&mut self.waiting) {
            self.probe(&key, value, out);
        }
        scope.exit();
    }
}

impl<K, A, B, J> crate::operator::Operator<Keyed<K, TwoInputs<A, B>>> for ChosenJoin<K, A, B, J>
where
    K: crate::keys::Key,
    A: Clone + Serialize + DeserializeOwned + Send + 'static,
    B: Clone + Serialize + DeserializeOwned + Send + 'static,
    J: ProbeJoin<A, B>,
{
    type Out = J::Out;

    fn open(&mut self, ctx: &crate::job::TaskContext) {
        self.chosen = self.strategy.get();
        crate::operator::Operator::<Keyed<K, TwoInputs<A, B>>>::open(&mut self.hash, ctx);
    }

    #[inline]
    fn process<E: crate::operator::Emit<J::Out>>(
        &mut self,
        record: Keyed<K, TwoInputs<A, B>>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        let Keyed { key, value, .. } = record;
        match (self.chosen, value) {
            (JoinStrategy::Repartition, value) => self.hash.process(
                Keyed {
                    key_group: record.key_group,
                    key,
                    value,
                },
                timestamp,
                out,
            ),
            (JoinStrategy::BroadcastFirst, TwoInputs::First(a)) => {
                self.first_table.entry(key).or_default().push(a);
            }
            (JoinStrategy::BroadcastSecond, TwoInputs::Second(b)) => {
                self.second_table.entry(key).or_default().push(b);
            }
            (_, value) if self.table_complete => {
                let scope = crate::operator::OperatorScope::enter(self.operator);
                self.probe(&key, value, out);
                scope.exit();
            }
            (_, value) => self.waiting.push((key, value)),
        }
    }

    fn on_side_ended<E: crate::operator::Emit<J::Out>>(&mut self, second: bool, out: &mut E) {
        let table_side = match self.chosen {
            JoinStrategy::Repartition => return,
            JoinStrategy::BroadcastFirst => false,
            JoinStrategy::BroadcastSecond => true,
        };
        if second == table_side {
            self.complete_table(out);
        }
    }

    fn end_of_input<E: crate::operator::Emit<J::Out>>(&mut self, out: &mut E) {
        if self.chosen == JoinStrategy::Repartition {
            return self.hash.end_of_input(out);
        }
        if !self.table_complete {
            self.complete_table(out);
        }
        self.first_table = std::collections::HashMap::new();
        self.second_table = std::collections::HashMap::new();
    }

    // Broadcasting is chosen only in batch mode: no checkpoints, no iterations. These serve
    // the hash join of streaming mode.
    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        crate::operator::Operator::<Keyed<K, TwoInputs<A, B>>>::snapshot_state(
            &self.hash, subtask, into,
        )
    }

    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &crate::job::TaskContext,
    ) -> Result<(), String> {
        crate::operator::Operator::<Keyed<K, TwoInputs<A, B>>>::restore_state(
            &mut self.hash,
            from,
            ctx,
        )
    }

    fn collect_metrics(
        &self,
        records_in: u64,
        into: &mut Vec<crate::operator::OperatorMetrics>,
    ) -> u64 {
        if self.chosen == JoinStrategy::Repartition {
            return crate::operator::Operator::<Keyed<K, TwoInputs<A, B>>>::collect_metrics(
                &self.hash, records_in, into,
            );
        }
        into.push(crate::operator::OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: self.emitted,
            spilled_bytes: 0,
        });
        self.emitted
    }
}

/// Runs a two-input operator written for `TwoInputs<B, A>` on `TwoInputs<A, B>`: a broadcast
/// join whose first input is the broadcast one is a [`BroadcastJoin`] with its inputs
/// swapped (the local side probes, the broadcast side is the hash table).
#[derive(Clone)]
pub struct SwapInputs<J>(pub J);

impl<A, B, J> crate::operator::Operator<TwoInputs<A, B>> for SwapInputs<J>
where
    A: Send + 'static,
    B: Send + 'static,
    J: crate::operator::Operator<TwoInputs<B, A>>,
{
    type Out = J::Out;

    fn open(&mut self, ctx: &crate::job::TaskContext) {
        self.0.open(ctx);
    }

    #[inline]
    fn process<E: crate::operator::Emit<J::Out>>(
        &mut self,
        value: TwoInputs<A, B>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        let swapped = match value {
            TwoInputs::First(a) => TwoInputs::Second(a),
            TwoInputs::Second(b) => TwoInputs::First(b),
        };
        self.0.process(swapped, timestamp, out);
    }

    fn end_of_input<E: crate::operator::Emit<J::Out>>(&mut self, out: &mut E) {
        self.0.end_of_input(out);
    }

    fn on_watermark<E: crate::operator::Emit<J::Out>>(
        &mut self,
        watermark: Timestamp,
        out: &mut E,
    ) {
        self.0.on_watermark(watermark, out);
    }

    fn on_idleness<E: crate::operator::Emit<J::Out>>(&mut self, idle: bool, out: &mut E) {
        self.0.on_idleness(idle, out);
    }

    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        self.0.snapshot_state(subtask, into)
    }

    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &crate::job::TaskContext,
    ) -> Result<(), String> {
        self.0.restore_state(from, ctx)
    }

    fn on_barrier<E: crate::operator::Emit<J::Out>>(&mut self, checkpoint: u64, out: &mut E) {
        self.0.on_barrier(checkpoint, out);
    }

    fn on_superstep_end<E: crate::operator::Emit<J::Out>>(&mut self, superstep: u64, out: &mut E) {
        self.0.on_superstep_end(superstep, out);
    }

    fn on_side_ended<E: crate::operator::Emit<J::Out>>(&mut self, second: bool, out: &mut E) {
        self.0.on_side_ended(!second, out);
    }

    fn on_side_output<E: crate::operator::Emit<J::Out>>(
        &mut self,
        side: &mut Option<crate::operator::SideRecord>,
        out: &mut E,
    ) {
        self.0.on_side_output(side, out);
    }

    fn on_processing_time<E: crate::operator::Emit<J::Out>>(
        &mut self,
        now: Timestamp,
        out: &mut E,
    ) {
        self.0.on_processing_time(now, out);
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        self.0.next_wakeup()
    }

    fn collect_metrics(
        &self,
        records_in: u64,
        into: &mut Vec<crate::operator::OperatorMetrics>,
    ) -> u64 {
        self.0.collect_metrics(records_in, into)
    }
}

/// A broadcast hash join of bounded inputs: every subtask holds all of the second input in a
/// hash table by key and its own share of the first input, and joins them at end of input.
/// An inner join emits `f(&a, Some(&b))` per pair; a left outer join also `f(&a, None)` for an
/// `a` without partners (each `a` is in one subtask, so exactly once).
pub struct BroadcastJoin<A, B, K, KA, KB, F> {
    key_first: KA,
    key_second: KB,
    f: F,
    outer: bool,
    static_side: StaticSide,
    first: Vec<A>,
    second: std::collections::HashMap<K, Vec<B>>,
    /// The broadcast input has ended (outside iterations): first-input records are probed
    /// as they come instead of waiting.
    table_complete: bool,
    operator: usize,
    emitted: u64,
}

impl<A, B, K, KA: Clone, KB: Clone, F: Clone> Clone for BroadcastJoin<A, B, K, KA, KB, F> {
    /// Clones the operator's definition; buffered records are never shared.
    fn clone(&self) -> Self {
        BroadcastJoin {
            key_first: self.key_first.clone(),
            key_second: self.key_second.clone(),
            f: self.f.clone(),
            outer: self.outer,
            static_side: self.static_side,
            first: Vec::new(),
            second: std::collections::HashMap::new(),
            table_complete: false,
            operator: self.operator,
            emitted: 0,
        }
    }
}

impl<A, B, K, KA, KB, F> BroadcastJoin<A, B, K, KA, KB, F> {
    /// A broadcast join (`outer`: a left outer join).
    pub(crate) fn new(
        operator: usize,
        keys: (KA, KB),
        f: F,
        outer: bool,
        static_side: StaticSide,
    ) -> Self {
        BroadcastJoin {
            key_first: keys.0,
            key_second: keys.1,
            f,
            outer,
            static_side,
            first: Vec::new(),
            second: std::collections::HashMap::new(),
            table_complete: false,
            operator,
            emitted: 0,
        }
    }
}

impl<A, B, K, KA, KB, F, O> BroadcastJoin<A, B, K, KA, KB, F>
where
    K: std::hash::Hash + Eq,
    KA: FnMut(&A) -> K,
    F: FnMut(&A, Option<&B>) -> O,
{
    /// Joins the buffered first input with the table.
    fn join_all<E: crate::operator::Emit<O>>(&mut self, out: &mut E) {
        let scope = crate::operator::OperatorScope::enter(self.operator);
        for a in &self.first {
            self.emitted += Self::probe(
                (&mut self.key_first, &mut self.f, self.outer),
                &self.second,
                a,
                out,
            );
        }
        scope.exit();
    }

    /// Emits the results of `a` against `table`; returns how many.
    #[inline]
    fn probe<E: crate::operator::Emit<O>>(
        (key_first, f, outer): (&mut KA, &mut F, bool),
        table: &std::collections::HashMap<K, Vec<B>>,
        a: &A,
        out: &mut E,
    ) -> u64 {
        match table.get(&key_first(a)) {
            Some(partners) => {
                for b in partners {
                    out.emit(f(a, Some(b)), None);
                }
                partners.len() as u64
            }
            None if outer => {
                out.emit(f(a, None), None);
                1
            }
            None => 0,
        }
    }
}

impl<A, B, K, KA, KB, F, O> crate::operator::Operator<TwoInputs<A, B>>
    for BroadcastJoin<A, B, K, KA, KB, F>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    B: Serialize + DeserializeOwned + Send + 'static,
    K: std::hash::Hash + Eq + Send + 'static,
    KA: FnMut(&A) -> K + Send + 'static,
    KB: FnMut(&B) -> K + Send + 'static,
    F: FnMut(&A, Option<&B>) -> O + Send + 'static,
{
    type Out = O;

    #[inline]
    fn process<E: crate::operator::Emit<O>>(
        &mut self,
        value: TwoInputs<A, B>,
        _timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        match value {
            TwoInputs::First(a) if self.table_complete => {
                let scope = crate::operator::OperatorScope::enter(self.operator);
                self.emitted += Self::probe(
                    (&mut self.key_first, &mut self.f, self.outer),
                    &self.second,
                    &a,
                    out,
                );
                scope.exit();
            }
            TwoInputs::First(a) => self.first.push(a),
            TwoInputs::Second(b) => {
                let key = (self.key_second)(&b);
                self.second.entry(key).or_default().push(b);
            }
        }
    }

    /// The broadcast input ended: the table is whole, so the first input's records that
    /// waited are joined now and later ones as they come (not in iterations, where each
    /// superstep's end joins).
    fn on_side_ended<E: crate::operator::Emit<O>>(&mut self, second: bool, out: &mut E) {
        if second && self.static_side == StaticSide::None {
            self.join_all(out);
            self.first = Vec::new();
            self.table_complete = true;
        }
    }

    fn end_of_input<E: crate::operator::Emit<O>>(&mut self, out: &mut E) {
        // In an iteration (a loop-invariant side), the last superstep's end already joined
        // everything; what is left is the kept side alone.
        if self.static_side == StaticSide::None {
            self.join_all(out);
        }
        self.first = Vec::new();
        self.second = std::collections::HashMap::new();
    }

    /// Joins the superstep's records; a loop-invariant side stays for the next superstep.
    fn on_superstep_end<E: crate::operator::Emit<O>>(&mut self, superstep: u64, out: &mut E) {
        self.join_all(out);
        if self.static_side != StaticSide::First {
            self.first.clear();
        }
        if self.static_side != StaticSide::Second {
            self.second.clear();
        }
        out.emit_superstep_end(superstep);
    }

    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        if !self.first.is_empty() || !self.second.is_empty() {
            let second: Vec<&B> = self.second.values().flatten().collect();
            let bytes = crate::codec::encode(&(&self.first, second))
                .map_err(|e| format!("the buffered join inputs do not encode: {e}"))?;
            into.operator.push((self.operator, subtask, bytes));
        }
        Ok(())
    }

    /// As [`Cross`]: the first input's records go back by subtask, the broadcast second
    /// input from any one subtask's copy.
    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &crate::job::TaskContext,
    ) -> Result<(), String> {
        let (first, second, key_second) = (&mut self.first, &mut self.second, &mut self.key_second);
        restore_first_and_broadcast(
            self.operator,
            "join",
            from,
            ctx,
            |records| first.extend(records),
            |records| {
                for b in records {
                    second.entry(key_second(&b)).or_default().push(b);
                }
            },
        )
    }

    fn collect_metrics(
        &self,
        records_in: u64,
        into: &mut Vec<crate::operator::OperatorMetrics>,
    ) -> u64 {
        into.push(crate::operator::OperatorMetrics {
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
    use super::{
        choose_join_strategy, BroadcastAllowed, BroadcastJoin, ChosenJoin, JoinStrategy,
        JoinStrategyCell, LeftOuterJoin, StaticSide, SwapInputs,
    };
    use crate::element::{Keyed, Timestamp, TwoInputs};
    use crate::job::TaskContext;
    use crate::operator::{Emit, Operator};

    /// Gathers what an operator emits.
    struct Collect<O>(Vec<O>);

    impl<O> Emit<O> for Collect<O> {
        fn emit(&mut self, value: O, _timestamp: Option<Timestamp>) {
            self.0.push(value);
        }
    }

    fn ctx() -> TaskContext {
        TaskContext {
            plan: &crate::plan::ONE_SOURCE_PLAN,
            chain: 0,
            subtask: 0,
            parallelism: 1,
            max_parallelism: 128,
            batch_mode: true,
            batch_size: 16,
            linger: std::time::Duration::from_secs(1),
            checkpointing: false,
            restored: None,
            spill: None,
        }
    }

    type Row = (u64, u64, Option<u64>);
    type Pair = TwoInputs<(u64, u64), (u64, u64)>;
    type LeftOuter = LeftOuterJoin<fn(&(u64, u64), Option<&(u64, u64)>) -> Row>;

    fn keyed(value: Pair) -> Keyed<u64, Pair> {
        let key = match &value {
            TwoInputs::First(a) => a.0,
            TwoInputs::Second(b) => b.0,
        };
        Keyed {
            key_group: 0,
            key,
            value,
        }
    }

    /// A left outer join of `(key, value)` pairs that runs as `strategy`, opened.
    fn opened_left_outer_join(
        strategy: JoinStrategy,
    ) -> ChosenJoin<u64, (u64, u64), (u64, u64), LeftOuter> {
        let cell = JoinStrategyCell::new();
        cell.set(strategy);
        let kind: LeftOuter = LeftOuterJoin(|a, b| (a.0, a.1, b.map(|b| b.1)));
        let mut join = ChosenJoin::new(0, kind, &cell);
        join.open(&ctx());
        join
    }

    #[test]
    fn a_chosen_broadcast_join_probes_each_record_once_its_table_is_complete() {
        let mut join = opened_left_outer_join(JoinStrategy::BroadcastSecond);
        let mut out = Collect(Vec::new());
        join.process(keyed(TwoInputs::Second((1, 10))), None, &mut out);
        // Before the table is complete a first-input record waits: a partner may still come.
        join.process(keyed(TwoInputs::First((2, 1))), None, &mut out);
        join.process(keyed(TwoInputs::Second((2, 20))), None, &mut out);
        join.process(keyed(TwoInputs::Second((2, 21))), None, &mut out);
        assert!(out.0.is_empty());
        // The first input ending says nothing about the table.
        join.on_side_ended(false, &mut out);
        assert!(out.0.is_empty());
        join.on_side_ended(true, &mut out);
        assert_eq!(out.0, [(2, 1, Some(20)), (2, 1, Some(21))]);
        // From now on each record is joined as it comes, a record without partners too.
        out.0.clear();
        join.process(keyed(TwoInputs::First((1, 2))), None, &mut out);
        assert_eq!(out.0, [(1, 2, Some(10))]);
        join.process(keyed(TwoInputs::First((3, 3))), None, &mut out);
        assert_eq!(out.0, [(1, 2, Some(10)), (3, 3, None)]);
        join.end_of_input(&mut out);
        assert_eq!(out.0.len(), 2, "nothing is emitted twice at the end");
    }

    #[test]
    fn a_chosen_join_broadcasting_its_first_input_completes_its_table_when_that_input_ends() {
        let mut join = opened_left_outer_join(JoinStrategy::BroadcastFirst);
        let mut out = Collect(Vec::new());
        join.process(keyed(TwoInputs::First((1, 2))), None, &mut out);
        join.process(keyed(TwoInputs::Second((1, 10))), None, &mut out);
        // The second input (the one probing) ending completes nothing.
        join.on_side_ended(true, &mut out);
        assert!(out.0.is_empty());
        join.on_side_ended(false, &mut out);
        assert_eq!(out.0, [(1, 2, Some(10))]);
        join.process(keyed(TwoInputs::Second((1, 11))), None, &mut out);
        assert_eq!(out.0, [(1, 2, Some(10)), (1, 2, Some(11))]);
    }

    #[test]
    fn a_hinted_join_broadcasting_its_first_input_sees_the_sides_swapped() {
        // `BroadcastFirst`: the runtime runs a second-input broadcast join on swapped inputs.
        type Inner = BroadcastJoin<
            (u64, u64),
            (u64, u64),
            u64,
            fn(&(u64, u64)) -> u64,
            fn(&(u64, u64)) -> u64,
            fn(&(u64, u64), Option<&(u64, u64)>) -> (u64, u64),
        >;
        let inner: Inner = BroadcastJoin::new(
            0,
            (|x| x.0, |x| x.0),
            |kept, table| (kept.1, table.map_or(0, |t| t.1)),
            false,
            StaticSide::None,
        );
        let mut join = SwapInputs(inner);
        let mut out = Collect(Vec::new());
        // First input: the broadcast table; second: the records kept and probed.
        join.process(TwoInputs::First((1, 10)), None, &mut out);
        join.process(TwoInputs::Second((1, 2)), None, &mut out);
        join.on_side_ended(true, &mut out);
        assert!(out.0.is_empty(), "the kept input ending completes nothing");
        join.on_side_ended(false, &mut out);
        assert_eq!(out.0, [(2, 10)]);
        join.process(TwoInputs::Second((1, 3)), None, &mut out);
        assert_eq!(out.0, [(2, 10), (3, 10)]);
        join.end_of_input(&mut out);
        assert_eq!(out.0.len(), 2);
    }

    #[test]
    fn a_chosen_broadcast_join_whose_table_never_completes_early_joins_at_the_end() {
        let mut join = opened_left_outer_join(JoinStrategy::BroadcastFirst);
        let mut out = Collect(Vec::new());
        join.process(keyed(TwoInputs::Second((1, 10))), None, &mut out);
        join.process(keyed(TwoInputs::First((1, 2))), None, &mut out);
        join.process(keyed(TwoInputs::Second((4, 40))), None, &mut out);
        assert!(out.0.is_empty());
        join.end_of_input(&mut out);
        // A left outer join keeps the first input's unmatched records, not the second's.
        assert_eq!(out.0, [(1, 2, Some(10))]);
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_small_input_is_broadcast_when_that_moves_less_than_repartitioning() {
        let choose = |first, second, allowed| {
            choose_join_strategy([first, second], allowed, 4, 10 * MIB, true)
        };
        // 1 MiB to 3 more subtasks (3 MiB) against repartitioning 100 MiB: broadcast.
        assert_eq!(
            choose(Some(100 * MIB), Some(MIB), BroadcastAllowed::Either),
            JoinStrategy::BroadcastSecond
        );
        assert_eq!(
            choose(Some(MIB), Some(100 * MIB), BroadcastAllowed::Either),
            JoinStrategy::BroadcastFirst
        );
        // Both small: the smaller one.
        assert_eq!(
            choose(Some(2 * MIB), Some(MIB), BroadcastAllowed::Either),
            JoinStrategy::Repartition,
            "2 MiB against 1 MiB x 3 copies: repartitioning moves less"
        );
        assert_eq!(
            choose(Some(8 * MIB), Some(MIB), BroadcastAllowed::Either),
            JoinStrategy::BroadcastSecond
        );
        // Over the threshold, or unknown: repartition.
        assert_eq!(
            choose(None, Some(11 * MIB), BroadcastAllowed::Either),
            JoinStrategy::Repartition
        );
        assert_eq!(
            choose(Some(MIB), None, BroadcastAllowed::Second),
            JoinStrategy::Repartition
        );
        // The other side unknown (a socket upstream): a small input is still broadcast.
        assert_eq!(
            choose(None, Some(MIB), BroadcastAllowed::Either),
            JoinStrategy::BroadcastSecond
        );
    }

    #[test]
    fn an_outer_join_never_broadcasts_the_input_it_keeps() {
        let choose =
            |allowed| choose_join_strategy([Some(100), Some(1 << 30)], allowed, 2, 10 * MIB, true);
        assert_eq!(
            choose(BroadcastAllowed::First),
            JoinStrategy::BroadcastFirst
        );
        assert_eq!(choose(BroadcastAllowed::Second), JoinStrategy::Repartition);
    }

    #[test]
    fn streaming_mode_and_a_zero_threshold_always_repartition() {
        let small = [Some(1 << 30), Some(100)];
        assert_eq!(
            choose_join_strategy(small, BroadcastAllowed::Either, 2, 10 * MIB, false),
            JoinStrategy::Repartition
        );
        assert_eq!(
            choose_join_strategy(small, BroadcastAllowed::Either, 2, 0, true),
            JoinStrategy::Repartition
        );
        assert_eq!(
            choose_join_strategy(small, BroadcastAllowed::Either, 2, 10 * MIB, true),
            JoinStrategy::BroadcastSecond
        );
    }
}
