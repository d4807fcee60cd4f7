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

/// The window join's function: `f(&a, &b)` for every pair of the window (an inner join:
/// a window with records of one side only emits nothing).
#[derive(Debug, Clone)]
pub struct JoinPairs<F>(F);

impl<K, A, B, F, O> Finish<K, (Vec<A>, Vec<B>)> for JoinPairs<F>
where
    F: FnMut(&A, &B) -> O + Clone + Send + 'static,
    O: Send + 'static,
{
    type Out = O;

    fn finish(
        &mut self,
        _key: &K,
        _window: Window,
        (left, right): (Vec<A>, Vec<B>),
        mut emit: impl FnMut(O),
    ) {
        for a in &left {
            for b in &right {
                emit((self.0)(a, b));
            }
        }
    }
}

/// The co-group's function: `f(left, right)` with both sides' records of a key and window
/// (either may be empty: outer joins are co-groups).
#[derive(Debug, Clone)]
pub struct CoGroupLists<F>(F);

impl<K, A, B, F, I> Finish<K, (Vec<A>, Vec<B>)> for CoGroupLists<F>
where
    F: FnMut(Vec<A>, Vec<B>) -> I + Clone + Send + 'static,
    I: IntoIterator,
    I::Item: Send + 'static,
{
    type Out = I::Item;

    fn finish(
        &mut self,
        _key: &K,
        _window: Window,
        (left, right): (Vec<A>, Vec<B>),
        emit: impl FnMut(I::Item),
    ) {
        (self.0)(left, right).into_iter().for_each(emit);
    }
}

/// The typed guard of `a.join(b).where(..).equal_to(..).window(w).apply(f)`.
pub fn join<C, K, A, B, F, O, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> W::Operator<CoGroupAll<A, B>, TwoInputs<A, B>, JoinPairs<F>>
where
    C: Produces<Out = Keyed<K, TwoInputs<A, B>>>,
    F: FnMut(&A, &B) -> O + Clone + Send + 'static,
    W: Assigner,
{
    windows.operator(CoGroupAll(PhantomData), JoinPairs(f))
}

/// The typed guard of `a.co_group(b).where(..).equal_to(..).window(w).apply(f)`.
pub fn co_group<C, K, A, B, F, I, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> W::Operator<CoGroupAll<A, B>, TwoInputs<A, B>, CoGroupLists<F>>
where
    C: Produces<Out = Keyed<K, TwoInputs<A, B>>>,
    F: FnMut(Vec<A>, Vec<B>) -> I + Clone + Send + 'static,
    I: IntoIterator,
    W: Assigner,
{
    windows.operator(CoGroupAll(PhantomData), CoGroupLists(f))
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
