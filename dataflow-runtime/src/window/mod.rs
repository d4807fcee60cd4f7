//! Event-time windows on keyed streams: tumbling and sliding assigners, computed
//! incrementally with `reduce` or `aggregate`.
//!
//! Windows are `[start, end)`; a window fires when the watermark reaches `end - 1`, and its
//! result carries `end - 1` as timestamp, so windows can follow windows. Records are added to
//! *panes* (slices of `gcd(size, slide)` milliseconds) and never copied into each window they
//! belong to: a sliding window of size/slide = 60 costs one pane update per record, and 60
//! pane merges per window when it fires. A window operator is a keyed process function over
//! the per-key panes, so it shares the keyed state, timers and key groups of `process`.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::element::{Keyed, Timestamp};
use crate::operator::{
    KeyedContext, KeyedProcess, KeyedProcessFunction, Operator, OutputTag, Produces,
};
use crate::state::NoTtl;
use crate::time::TimeDomain;

mod aligned;
mod general;

pub use aligned::{AlignedWindows, WindowAggregate};

pub use general::{
    Contents, ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger, ContinuousTrigger,
    CountEvictor, CountTrigger, DefaultTrigger, DynamicGap, EventTimeSessionWindows,
    EventTimeTrigger, Evicting, Evictor, EvictorChoice, FixedGap, GlobalWindows, Incremental,
    NoDefaultTrigger, NoEvictor, OpenWindow, OpenWindows, ProcessingTimeSessionWindows,
    ProcessingTimeTrigger, PurgingTrigger, Records, SessionWindows, TimeEvictor, TimeTrigger,
    Trigger, TriggerContext, TriggerResult, WindowAssigner, WindowOperator, WindowSpec,
    WithEvictor,
};

fn millis(d: Duration) -> Timestamp {
    d.as_millis().min(i64::MAX as u128) as Timestamp
}

fn gcd(a: Timestamp, b: Timestamp) -> Timestamp {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Which windows a record belongs to: windows of `size` ms starting every `slide` ms, shifted
/// by `offset` (tumbling: `slide == size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTimeWindows {
    size: Timestamp,
    slide: Timestamp,
    offset: Timestamp,
    /// Event time (records' timestamps, fired by watermarks) or processing time (the wall
    /// clock when a record arrives, fired by the clock).
    domain: TimeDomain,
}

/// Tumbling processing-time windows (Flink's `TumblingProcessingTimeWindows`): a record
/// belongs to the window of the wall clock when it reaches the operator.
pub struct TumblingProcessingTimeWindows;

impl TumblingProcessingTimeWindows {
    /// Back-to-back windows of `size` of wall-clock time.
    pub fn of(size: Duration) -> EventTimeWindows {
        EventTimeWindows {
            domain: TimeDomain::ProcessingTime,
            ..TumblingEventTimeWindows::of(size)
        }
    }
}

/// Sliding processing-time windows (Flink's `SlidingProcessingTimeWindows`).
pub struct SlidingProcessingTimeWindows;

impl SlidingProcessingTimeWindows {
    /// Windows of `size` of wall-clock time starting every `slide`.
    pub fn of(size: Duration, slide: Duration) -> EventTimeWindows {
        EventTimeWindows {
            domain: TimeDomain::ProcessingTime,
            ..SlidingEventTimeWindows::of(size, slide)
        }
    }
}

/// Tumbling event-time windows (Flink's `TumblingEventTimeWindows`).
pub struct TumblingEventTimeWindows;

impl TumblingEventTimeWindows {
    /// Back-to-back windows of `size`, aligned to the epoch.
    pub fn of(size: Duration) -> EventTimeWindows {
        let size = millis(size).max(1);
        EventTimeWindows {
            size,
            slide: size,
            offset: 0,
            domain: TimeDomain::EventTime,
        }
    }
}

/// Sliding event-time windows (Flink's `SlidingEventTimeWindows`).
pub struct SlidingEventTimeWindows;

impl SlidingEventTimeWindows {
    /// Windows of `size` starting every `slide`, aligned to the epoch.
    pub fn of(size: Duration, slide: Duration) -> EventTimeWindows {
        EventTimeWindows {
            size: millis(size).max(1),
            slide: millis(slide).max(1),
            offset: 0,
            domain: TimeDomain::EventTime,
        }
    }
}

impl EventTimeWindows {
    /// Shifts the windows by `offset` (e.g. to align daily windows to a time zone).
    pub fn with_offset(mut self, offset: Duration) -> Self {
        self.offset = millis(offset);
        self
    }

    fn pane(&self) -> Timestamp {
        gcd(self.size, self.slide)
    }

    /// The start of the pane of `width` (the windows' `pane()`) holding `ts`.
    fn pane_start(&self, ts: Timestamp, width: Timestamp) -> Timestamp {
        ts - (ts - self.offset).rem_euclid(width)
    }

    /// The start of the last window that holds `ts` (window starts are `offset + k * slide`).
    fn last_start(&self, ts: Timestamp) -> Timestamp {
        ts - (ts - self.offset).rem_euclid(self.slide)
    }

    /// The end of the first window that holds `ts`: the first start after `ts - size`.
    fn first_end(&self, ts: Timestamp) -> Timestamp {
        self.last_start(ts - self.size) + self.slide + self.size
    }

    /// The end of the last window that holds `ts`.
    fn last_end(&self, ts: Timestamp) -> Timestamp {
        self.last_start(ts) + self.size
    }
}

/// The tag of a window's late-data side output: the records that arrived after every window
/// they belong to had fired. Read it with
/// `const LATE: OutputTag<T> = late_data();` and `windowed.side_output(LATE)`.
pub const fn late_data<T>() -> OutputTag<T> {
    OutputTag::new("window-late-data")
}

/// Incremental window aggregation (Flink's `AggregateFunction`): an accumulator per pane,
/// merged into the window's result when it fires.
pub trait AggregateFunction<V>: Clone + Send + 'static {
    /// The accumulator.
    type Acc: Clone + Serialize + DeserializeOwned + Send + 'static;
    /// The window's result.
    type Out: Send + 'static;
    /// A fresh accumulator.
    fn create_accumulator(&mut self) -> Self::Acc;
    /// Adds a record.
    fn add(&mut self, acc: &mut Self::Acc, value: V);
    /// Merges `other` into `acc`.
    fn merge(&mut self, acc: &mut Self::Acc, other: &Self::Acc);
    /// The result of an accumulator.
    fn result(&mut self, acc: &Self::Acc) -> Self::Out;
}

/// `reduce(f)` as an aggregate: the accumulator is the reduced value.
#[derive(Clone)]
pub struct ReduceAggregate<F, V> {
    f: F,
    _value: PhantomData<fn(V) -> V>,
}

impl<V, F> AggregateFunction<V> for ReduceAggregate<F, V>
where
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    F: FnMut(V, V) -> V + Clone + Send + 'static,
{
    type Acc = Option<V>;
    type Out = V;

    fn create_accumulator(&mut self) -> Option<V> {
        None
    }

    #[inline]
    fn add(&mut self, acc: &mut Option<V>, value: V) {
        *acc = Some(match acc.take() {
            Some(previous) => (self.f)(previous, value),
            None => value,
        });
    }

    fn merge(&mut self, acc: &mut Option<V>, other: &Option<V>) {
        if let Some(other) = other {
            self.add(acc, other.clone());
        }
    }

    fn result(&mut self, acc: &Option<V>) -> V {
        acc.clone()
            .expect("a fired window holds at least one record")
    }
}

/// A window function as `window(..)` made it, and the keyed operator that computes it.
pub trait KeyedWindowFunction<K, V> {
    /// The records it emits.
    type Out;
    /// The operator.
    type Operator: Operator<Keyed<K, V>, Out = Self::Out> + Clone;
    /// The operator, as operator number `operator` of the job.
    fn into_operator(self, operator: usize) -> Self::Operator;
}

impl<K, V, G, Fin> KeyedWindowFunction<K, V> for WindowAggregate<G, V, Fin>
where
    K: crate::keys::Key,
    V: Send + 'static,
    G: AggregateFunction<V>,
    Fin: Finish<K, G::Out>,
{
    type Out = Fin::Out;
    type Operator = AlignedWindows<K, V, G, Fin>;
    fn into_operator(self, operator: usize) -> Self::Operator {
        self.operator(operator)
    }
}

impl<K, V, G, Fin> KeyedWindowFunction<K, V> for CountWindowAggregate<G, V, Fin>
where
    K: crate::keys::Key,
    V: Send + 'static,
    G: AggregateFunction<V>,
    Fin: Finish<K, G::Out>,
{
    type Out = Fin::Out;
    type Operator = KeyedProcess<K, V, Self, NoTtl>;
    fn into_operator(self, operator: usize) -> Self::Operator {
        KeyedProcess::new(operator, self, NoTtl)
    }
}

impl<K, V, A, T, C, Fin> KeyedWindowFunction<K, V> for WindowOperator<A, T, C, Fin, V>
where
    K: crate::keys::Key,
    V: Clone + Send + 'static,
    A: WindowAssigner<V>,
    T: Trigger<V>,
    C: Contents<V>,
    Fin: Finish<K, C::Result>,
{
    type Out = Fin::Out;
    type Operator = KeyedProcess<K, V, Self, NoTtl>;
    fn into_operator(self, operator: usize) -> Self::Operator {
        KeyedProcess::new(operator, self, NoTtl)
    }
}

/// What a window operator does with a window's result: emit it ([`EmitResult`]), emit it
/// with the key ([`EmitWithKey`]), or hand it, with the key and the window's bounds, to a
/// process function ([`ProcessResult`]).
pub trait Finish<K, R>: Clone + Send + 'static {
    /// What the operator emits.
    type Out: Send + 'static;
    /// Emits what a window's `result` becomes, through `emit`.
    fn finish(&mut self, key: &K, window: Window, result: R, emit: impl FnMut(Self::Out));
}

/// Emits a window's result as it is (`reduce`, `aggregate`).
#[derive(Debug, Clone, Copy)]
pub struct EmitResult;

impl<K, R: Send + 'static> Finish<K, R> for EmitResult {
    type Out = R;
    #[inline]
    fn finish(&mut self, _key: &K, _window: Window, result: R, mut emit: impl FnMut(R)) {
        emit(result);
    }
}

/// Emits `(key, result)` (the built-in `count`, `sum`, `min`, `max` and `avg`).
#[derive(Debug, Clone, Copy)]
pub struct EmitWithKey;

impl<K: Clone + Send + 'static, R: Send + 'static> Finish<K, R> for EmitWithKey {
    type Out = (K, R);
    #[inline]
    fn finish(&mut self, key: &K, _window: Window, result: R, mut emit: impl FnMut((K, R))) {
        emit((key.clone(), result));
    }
}

/// Hands the window's result (its records, for `process`) to `f(&key, window, result)`,
/// which returns any number of outputs (Flink's `ProcessWindowFunction`).
#[derive(Debug, Clone)]
pub struct ProcessResult<P>(P);

impl<K, R, P, I> Finish<K, R> for ProcessResult<P>
where
    P: FnMut(&K, Window, R) -> I + Clone + Send + 'static,
    I: IntoIterator,
    I::Item: Send + 'static,
{
    type Out = I::Item;
    #[inline]
    fn finish(&mut self, key: &K, window: Window, result: R, emit: impl FnMut(I::Item)) {
        (self.0)(key, window, result).into_iter().for_each(emit);
    }
}

/// The typed guard of `window(w).reduce(f)`: fixes `f`'s argument type to the keyed
/// stream's values.
pub fn reduce<C, K, V, F, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> W::Operator<ReduceAggregate<F, V>, V, EmitResult>
where
    C: Produces<Out = Keyed<K, V>>,
    F: FnMut(V, V) -> V + Clone + Send + 'static,
    W: Assigner,
{
    windows.operator(
        ReduceAggregate {
            f,
            _value: PhantomData,
        },
        EmitResult,
    )
}

/// The typed guard of `window(w).reduce(f, p)`: reduces incrementally, then hands the one
/// reduced value, with the key and window, to `p(&key, window, value)`.
pub fn reduce_process<C, K, V, F, P, I, W>(
    _upstream: &C,
    windows: W,
    f: F,
    p: P,
) -> W::Operator<ReduceAggregate<F, V>, V, ProcessResult<P>>
where
    C: Produces<Out = Keyed<K, V>>,
    F: FnMut(V, V) -> V + Clone + Send + 'static,
    P: FnMut(&K, Window, V) -> I + Clone + Send + 'static,
    I: IntoIterator,
    W: Assigner,
{
    windows.operator(
        ReduceAggregate {
            f,
            _value: PhantomData,
        },
        ProcessResult(p),
    )
}

/// The typed guard of `window(w).aggregate(agg)`.
pub fn aggregate<C, K, V, G, W>(
    _upstream: &C,
    windows: W,
    aggregate: G,
) -> W::Operator<G, V, EmitResult>
where
    C: Produces<Out = Keyed<K, V>>,
    G: AggregateFunction<V>,
    W: Assigner,
{
    windows.operator(aggregate, EmitResult)
}

/// The typed guard of `window(w).aggregate(agg, p)`: aggregates incrementally, then hands
/// the result, with the key and window, to `p(&key, window, result)`.
pub fn aggregate_process<C, K, V, G, P, I, W>(
    _upstream: &C,
    windows: W,
    aggregate: G,
    p: P,
) -> W::Operator<G, V, ProcessResult<P>>
where
    C: Produces<Out = Keyed<K, V>>,
    G: AggregateFunction<V>,
    P: FnMut(&K, Window, G::Out) -> I + Clone + Send + 'static,
    I: IntoIterator,
    W: Assigner,
{
    windows.operator(aggregate, ProcessResult(p))
}

/// `window_all(assigner)`: windows over a whole stream, gathered into one subtask under
/// the key `()`; results come without the key, and process functions take
/// `|window, records|`.
#[derive(Debug, Clone, Copy)]
pub struct AllWindows<A>(pub A);

impl<A: Assigner> Assigner for AllWindows<A> {
    type Operator<G, V, Fin> = A::Operator<G, V, Unkeyed<Fin>>;
    fn operator<G, V, Fin>(self, aggregate: G, finish: Fin) -> Self::Operator<G, V, Fin> {
        self.0.operator(aggregate, Unkeyed(finish))
    }
}

/// A finisher of `window_all`, which has no key to emit.
#[derive(Debug, Clone, Copy)]
pub struct Unkeyed<Fin>(Fin);

impl<R: Send + 'static> Finish<(), R> for Unkeyed<EmitResult> {
    type Out = R;
    #[inline]
    fn finish(&mut self, _key: &(), _window: Window, result: R, mut emit: impl FnMut(R)) {
        emit(result);
    }
}

impl<R: Send + 'static> Finish<(), R> for Unkeyed<EmitWithKey> {
    type Out = R;
    #[inline]
    fn finish(&mut self, _key: &(), _window: Window, result: R, mut emit: impl FnMut(R)) {
        emit(result);
    }
}

/// Hands a `window_all` window's result to `f(window, result)` (Flink's
/// `ProcessAllWindowFunction`).
#[derive(Debug, Clone)]
pub struct ProcessAllResult<P>(P);

impl<R, P, I> Finish<(), R> for Unkeyed<ProcessAllResult<P>>
where
    P: FnMut(Window, R) -> I + Clone + Send + 'static,
    I: IntoIterator,
    I::Item: Send + 'static,
{
    type Out = I::Item;
    #[inline]
    fn finish(&mut self, _key: &(), window: Window, result: R, emit: impl FnMut(I::Item)) {
        (self.0 .0)(window, result).into_iter().for_each(emit);
    }
}

/// The typed guard of `window_all(w).process(f)`: `f(window, records)`.
pub fn process_all<C, V, F, I, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> W::Operator<CollectAll<V>, V, ProcessAllResult<F>>
where
    C: Produces<Out = Keyed<(), V>>,
    F: FnMut(Window, Vec<V>) -> I + Clone + Send + 'static,
    I: IntoIterator,
    W: Assigner,
{
    windows.operator(CollectAll(PhantomData), ProcessAllResult(f))
}

/// The typed guard of `window_all(w).reduce(f, p)`: `p(window, reduced)`.
pub fn reduce_process_all<C, V, F, P, I, W>(
    _upstream: &C,
    windows: W,
    f: F,
    p: P,
) -> W::Operator<ReduceAggregate<F, V>, V, ProcessAllResult<P>>
where
    C: Produces<Out = Keyed<(), V>>,
    F: FnMut(V, V) -> V + Clone + Send + 'static,
    P: FnMut(Window, V) -> I + Clone + Send + 'static,
    I: IntoIterator,
    W: Assigner,
{
    windows.operator(
        ReduceAggregate {
            f,
            _value: PhantomData,
        },
        ProcessAllResult(p),
    )
}

/// The typed guard of `window_all(w).aggregate(agg, p)`: `p(window, result)`.
pub fn aggregate_process_all<C, V, G, P, I, W>(
    _upstream: &C,
    windows: W,
    aggregate: G,
    p: P,
) -> W::Operator<G, V, ProcessAllResult<P>>
where
    C: Produces<Out = Keyed<(), V>>,
    G: AggregateFunction<V>,
    P: FnMut(Window, G::Out) -> I + Clone + Send + 'static,
    I: IntoIterator,
    W: Assigner,
{
    windows.operator(aggregate, ProcessAllResult(p))
}

/// A window's bounds, `[start, end)`, as process functions see them. A global window (and
/// a count window) is [`Window::GLOBAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    /// The first millisecond in the window.
    pub start: Timestamp,
    /// The first millisecond after it.
    pub end: Timestamp,
}

impl Window {
    /// The window of all time: global windows and count windows.
    pub const GLOBAL: Window = Window {
        start: Timestamp::MIN,
        end: Timestamp::MAX,
    };

    /// The latest timestamp in the window, `end - 1`: its results carry it.
    pub fn max_timestamp(&self) -> Timestamp {
        self.end - 1
    }
}

/// Gathers a window's records (for `process`, which sees them all).
pub struct CollectAll<V>(PhantomData<fn(V) -> V>);

impl<V> Clone for CollectAll<V> {
    fn clone(&self) -> Self {
        CollectAll(PhantomData)
    }
}

impl<V> AggregateFunction<V> for CollectAll<V>
where
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type Acc = Vec<V>;
    type Out = Vec<V>;
    fn create_accumulator(&mut self) -> Vec<V> {
        Vec::new()
    }
    #[inline]
    fn add(&mut self, acc: &mut Vec<V>, value: V) {
        acc.push(value);
    }
    fn merge(&mut self, acc: &mut Vec<V>, other: &Vec<V>) {
        acc.extend(other.iter().cloned());
    }
    fn result(&mut self, acc: &Vec<V>) -> Vec<V> {
        acc.clone()
    }
}

/// The typed guard of `window(w).process(f)`: `f(&key, window, records)` sees all the
/// records of each window and returns any number of outputs (Flink's
/// `ProcessWindowFunction`). No incremental aggregation: records are kept until their last
/// window fires.
pub fn process<C, K, V, F, I, W>(
    _upstream: &C,
    windows: W,
    f: F,
) -> W::Operator<CollectAll<V>, V, ProcessResult<F>>
where
    C: Produces<Out = Keyed<K, V>>,
    F: FnMut(&K, Window, Vec<V>) -> I + Clone + Send + 'static,
    I: IntoIterator,
    W: Assigner,
{
    windows.operator(CollectAll(PhantomData), ProcessResult(f))
}

/// What `window(..)` or `count_window(..)` makes of a window function: the keyed process
/// function computing it. Aligned time windows with their default trigger use panes
/// ([`WindowAggregate`]), count windows count ([`CountWindowAggregate`]), everything else
/// (sessions, global windows, triggers, evictors, allowed lateness) the general operator
/// ([`WindowOperator`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a window assigner that can compute windows on its own",
    note = "global windows never fire without a trigger: write `.window(GlobalWindows::create()).trigger(CountTrigger::of(n))` (or another trigger)"
)]
pub trait Assigner: Send + 'static {
    /// The operator computing `aggregate` per window and finishing results with `Fin`.
    type Operator<G, V, Fin>;
    /// The operator computing `aggregate` per window and finishing results with `finish`.
    fn operator<G, V, Fin>(self, aggregate: G, finish: Fin) -> Self::Operator<G, V, Fin>;
}

impl Assigner for EventTimeWindows {
    type Operator<G, V, Fin> = WindowAggregate<G, V, Fin>;
    fn operator<G, V, Fin>(self, aggregate: G, finish: Fin) -> WindowAggregate<G, V, Fin> {
        WindowAggregate {
            windows: self,
            aggregate,
            finish,
            _value: PhantomData,
        }
    }
}

/// The built-in window aggregates, each over a projection of the record.
pub struct Builtin<P, Kind> {
    project: P,
    _kind: PhantomData<fn() -> Kind>,
}

impl<P: Clone, Kind> Clone for Builtin<P, Kind> {
    fn clone(&self) -> Self {
        Builtin {
            project: self.project.clone(),
            _kind: PhantomData,
        }
    }
}

/// `count()`.
pub struct CountKind;
/// `sum(..)`.
pub struct SumKind;
/// `min(..)`.
pub struct MinKind;
/// `max(..)`.
pub struct MaxKind;
/// `avg(..)`.
pub struct AvgKind;

impl<V, P> AggregateFunction<V> for Builtin<P, CountKind>
where
    P: Clone + Send + 'static,
{
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&mut self) -> u64 {
        0
    }
    fn add(&mut self, acc: &mut u64, _value: V) {
        *acc += 1;
    }
    fn merge(&mut self, acc: &mut u64, other: &u64) {
        *acc += other;
    }
    fn result(&mut self, acc: &u64) -> u64 {
        *acc
    }
}

macro_rules! ordered_builtin {
    ($kind:ident, $better:expr, $bound:path) => {
        impl<V, A, P> AggregateFunction<V> for Builtin<P, $kind>
        where
            A: $bound + Clone + Serialize + DeserializeOwned + Send + 'static,
            P: FnMut(V) -> A + Clone + Send + 'static,
        {
            type Acc = Option<A>;
            type Out = A;
            fn create_accumulator(&mut self) -> Option<A> {
                None
            }
            #[inline]
            fn add(&mut self, acc: &mut Option<A>, value: V) {
                let next = (self.project)(value);
                self.merge(acc, &Some(next));
            }
            fn merge(&mut self, acc: &mut Option<A>, other: &Option<A>) {
                let combine: fn(A, A) -> A = $better;
                if let Some(other) = other {
                    *acc = Some(match acc.take() {
                        Some(current) => combine(current, other.clone()),
                        None => other.clone(),
                    });
                }
            }
            fn result(&mut self, acc: &Option<A>) -> A {
                acc.clone()
                    .expect("a fired window holds at least one record")
            }
        }
    };
}

ordered_builtin!(SumKind, |a, b| a + b, std::ops::Add<Output = A>);
ordered_builtin!(MinKind, |a, b| if b < a { b } else { a }, PartialOrd);
ordered_builtin!(MaxKind, |a, b| if b > a { b } else { a }, PartialOrd);

impl<V, P> AggregateFunction<V> for Builtin<P, AvgKind>
where
    P: FnMut(V) -> f64 + Clone + Send + 'static,
{
    type Acc = (f64, u64);
    type Out = f64;
    fn create_accumulator(&mut self) -> (f64, u64) {
        (0.0, 0)
    }
    fn add(&mut self, acc: &mut (f64, u64), value: V) {
        acc.0 += (self.project)(value);
        acc.1 += 1;
    }
    fn merge(&mut self, acc: &mut (f64, u64), other: &(f64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    fn result(&mut self, acc: &(f64, u64)) -> f64 {
        acc.0 / acc.1 as f64
    }
}

macro_rules! builtin_guard {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $out:ty, <$($extra:ident),*>) => {
        $(#[$doc])*
        pub fn $name<C, K, V, $($extra,)* P, W>(
            _upstream: &C,
            windows: W,
            project: P,
        ) -> W::Operator<Builtin<P, $kind>, V, EmitWithKey>
        where
            C: Produces<Out = Keyed<K, V>>,
            P: FnMut(V) -> $out + Clone + Send + 'static,
            W: Assigner,
        {
            windows.operator(
                Builtin {
                    project,
                    _kind: PhantomData,
                },
                EmitWithKey,
            )
        }
    };
}

builtin_guard!(
    /// `window(w).sum(|x| field)`: emits `(key, sum)` per window.
    sum, SumKind, A, <A>
);
builtin_guard!(
    /// `window(w).min(|x| field)`: emits `(key, min)` per window.
    min, MinKind, A, <A>
);
builtin_guard!(
    /// `window(w).max(|x| field)`: emits `(key, max)` per window.
    max, MaxKind, A, <A>
);
builtin_guard!(
    /// `window(w).avg(|x| field as f64)`: emits `(key, mean)` per window.
    avg, AvgKind, f64, <>
);

/// `window(w).count()`: emits `(key, number of records)` per window.
pub fn count<C, K, V, W>(
    _upstream: &C,
    windows: W,
) -> W::Operator<Builtin<(), CountKind>, V, EmitWithKey>
where
    C: Produces<Out = Keyed<K, V>>,
    W: Assigner,
{
    windows.operator(
        Builtin {
            project: (),
            _kind: PhantomData,
        },
        EmitWithKey,
    )
}

/// Count windows (`count_window(size)` or `count_window(size, slide)`): per key, a window of
/// the last `size` records fires every `slide` records (tumbling: `slide == size`). As in
/// Flink, a window that never fills up (at end of input) does not fire. Results carry the
/// timestamp of the record that completed the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountWindows {
    size: u64,
    slide: u64,
}

impl CountWindows {
    /// Windows of `size` records every `slide` records.
    pub fn new(size: u64, slide: u64) -> Self {
        CountWindows {
            size: size.max(1),
            slide: slide.max(1),
        }
    }

    /// Records per pane: windows are made of whole panes.
    fn pane(&self) -> u64 {
        let (mut a, mut b) = (self.size, self.slide);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
}

/// A count window operator's per-key state: the panes of the last records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "A: Serialize", deserialize = "A: DeserializeOwned"))]
pub struct CountPanes<A> {
    panes: std::collections::VecDeque<A>,
    in_newest: u64,
    since_fire: u64,
}

impl<A> Default for CountPanes<A> {
    fn default() -> Self {
        CountPanes {
            panes: std::collections::VecDeque::new(),
            in_newest: 0,
            since_fire: 0,
        }
    }
}

/// A keyed count window operator: each window's result goes through `finish` (a process
/// function sees [`Window::GLOBAL`]).
pub struct CountWindowAggregate<G, V, Fin> {
    windows: CountWindows,
    aggregate: G,
    finish: Fin,
    _value: PhantomData<fn(V)>,
}

impl<G: Clone, V, Fin: Clone> Clone for CountWindowAggregate<G, V, Fin> {
    fn clone(&self) -> Self {
        CountWindowAggregate {
            windows: self.windows,
            aggregate: self.aggregate.clone(),
            finish: self.finish.clone(),
            _value: PhantomData,
        }
    }
}

impl<G: AggregateFunction<V>, V, Fin> CountWindowAggregate<G, V, Fin> {
    /// Adds a record; returns the window's result when this record completes a slide.
    #[inline]
    fn add(&mut self, state: &mut CountPanes<G::Acc>, value: V) -> Option<G::Out> {
        let w = self.windows;
        let pane = w.pane();
        if state.panes.is_empty() || state.in_newest == pane {
            state.panes.push_back(self.aggregate.create_accumulator());
            state.in_newest = 0;
        }
        let newest = state.panes.back_mut().expect("a pane was just ensured");
        self.aggregate.add(newest, value);
        state.in_newest += 1;
        state.since_fire += 1;
        if state.since_fire < w.slide {
            return None;
        }
        state.since_fire = 0;
        let in_window = (w.size / pane) as usize;
        let skip = state.panes.len().saturating_sub(in_window);
        let mut panes = state.panes.iter().skip(skip);
        let first = panes.next()?;
        let mut total = first.clone();
        for acc in panes {
            self.aggregate.merge(&mut total, acc);
        }
        let result = self.aggregate.result(&total);
        // The next window needs the newest `size - slide` records' panes.
        let keep = ((w.size.saturating_sub(w.slide)) / pane) as usize;
        while state.panes.len() > keep {
            state.panes.pop_front();
        }
        if state.panes.is_empty() {
            state.in_newest = 0;
        }
        Some(result)
    }
}

impl<K, V, G, Fin> KeyedProcessFunction<K, V> for CountWindowAggregate<G, V, Fin>
where
    K: std::hash::Hash + Eq + Clone,
    V: Send + 'static,
    G: AggregateFunction<V>,
    Fin: Finish<K, G::Out>,
{
    type State = CountPanes<G::Acc>;
    type Out = Fin::Out;

    #[inline]
    fn process_element(
        &mut self,
        key: &K,
        state: &mut CountPanes<G::Acc>,
        value: V,
        ctx: &mut KeyedContext<'_, K, Fin::Out>,
    ) {
        if let Some(result) = self.add(state, value) {
            self.finish
                .finish(key, Window::GLOBAL, result, |output| ctx.output(output));
        }
    }
}

impl Assigner for CountWindows {
    type Operator<G, V, Fin> = CountWindowAggregate<G, V, Fin>;
    fn operator<G, V, Fin>(self, aggregate: G, finish: Fin) -> CountWindowAggregate<G, V, Fin> {
        CountWindowAggregate {
            windows: self,
            aggregate,
            finish,
            _value: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_and_window_ends() {
        let tumbling = TumblingEventTimeWindows::of(Duration::from_millis(10));
        assert_eq!(tumbling.pane_start(17, tumbling.pane()), 10);
        assert_eq!(tumbling.pane_start(-3, tumbling.pane()), -10);
        assert_eq!((tumbling.first_end(17), tumbling.last_end(17)), (20, 20));
        assert_eq!((tumbling.first_end(20), tumbling.last_end(20)), (30, 30));
        let sliding =
            SlidingEventTimeWindows::of(Duration::from_millis(10), Duration::from_millis(4));
        assert_eq!(sliding.pane(), 2);
        // 17 is in [8, 18), [12, 22), [16, 26).
        assert_eq!((sliding.first_end(17), sliding.last_end(17)), (18, 26));
        let shifted = tumbling.with_offset(Duration::from_millis(3));
        assert_eq!(
            (
                shifted.pane_start(17, shifted.pane()),
                shifted.first_end(17)
            ),
            (13, 23)
        );
    }
}
