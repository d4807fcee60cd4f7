//! Push-based operators and the combinators the `dataflow!` macro composes into fused chains.
//!
//! A chain is one value whose type spells out every operator in it:
//! `Then<Then<Map<F1>, Filter<F2>>, Map<F3>>`. Pushing a record into it runs every operator
//! inline: each operator hands its output to the next through [`Emit`], a generic (never
//! `dyn`) trait, so after monomorphization the whole chain is one loop body with no boxing,
//! allocation, lock, channel or `.await` per record.
//!
//! The chain is built front to back with [`Chain`], like an iterator adapter chain, so the
//! type of each closure's argument is known where the closure is written and rustc reports
//! type errors at the user's closure.

mod aggregate;
mod co;
mod dataset;
mod process;
mod timers;
mod transform;

use std::cell::Cell;
use std::marker::PhantomData;

pub use aggregate::{
    Combine, KeyedAggregate, MaxCombine, MinCombine, OutputShape, ReduceWith, Reduced, SumCombine,
    WithKey,
};
pub use co::{
    BroadcastAdapter, CoProcessAdapter, CoProcessFunction, EitherIter, KeyedBroadcastProcess,
    KeyedBroadcastProcessFunction, KeyedCoAdapter, KeyedCoProcessFunction, MergeKeyed,
};
pub use dataset::{
    first_by, group_reduce, map_partition, max_by_fn, min_by_fn, sort_partition, Distinct, FirstBy,
    FirstN, GroupFunction, GroupReduce, KeyedGroup, MapPartition, PartitionFunction, SortPartition,
    WholePartition,
};
pub use process::{
    event_time_ttl, keyed_process_fn, process_fn, processing_time_ttl, Context, KeyedContext,
    KeyedProcess, KeyedProcessFn, KeyedProcessFunction, Process, ProcessFn, ProcessFunction,
};
pub use transform::{Filter, FlatMap, Map};

use crate::state::TtlPolicy;
use crate::time::{AssignTimestamps, IngestionTime, WatermarkGenerator, WatermarkStrategy};

use crate::element::{Keyed, Timestamp, TwoInputs};
use crate::job::TaskContext;

/// Receives the records an operator produces, and the stream's control elements in band.
pub trait Emit<T> {
    /// Takes one record.
    fn emit(&mut self, value: T, timestamp: Option<Timestamp>);

    /// Takes a watermark: no record at or below `watermark` follows. Records emitted before it
    /// stay before it. Ends of a chain that do not care (sinks) ignore it.
    fn emit_watermark(&mut self, _watermark: Timestamp) {}

    /// The stream went idle (`true`) or became active again (`false`).
    fn emit_idleness(&mut self, _idle: bool) {}

    /// Checkpoint barrier `n` passes: everything emitted before it belongs to checkpoint
    /// `n`.
    fn emit_barrier(&mut self, _checkpoint: u64) {}

    /// Superstep `n` of an iteration ends: everything emitted before it belongs to it.
    fn emit_superstep_end(&mut self, _superstep: u64) {}

    /// Offers a side output record to the consumers of the operator that emitted it: the
    /// `side_output(TAG)` consumer of its tag takes it out of the `Option`; nobody else does.
    fn emit_side(&mut self, _side: &mut Option<SideRecord>) {}
}

/// A record sent to a side output: its tag's name and the value, type-erased (side outputs
/// carry the exceptional records, late data or errors; the main output stays unboxed).
pub struct SideRecord {
    /// The tag's name.
    pub tag: &'static str,
    /// The value, a `T` of the tag's `OutputTag<T>`.
    pub value: Box<dyn std::any::Any + Send>,
    /// Its event timestamp.
    pub timestamp: Option<Timestamp>,
}

/// Names a side output of type `T`: `const LATE: OutputTag<Event> = OutputTag::new("late");`,
/// emitted with `ctx.side_output(&LATE, event)` and read with `stream.side_output(LATE)`.
pub struct OutputTag<T> {
    name: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> OutputTag<T> {
    /// A tag; its name must be unique among the side outputs of one operator.
    pub const fn new(name: &'static str) -> Self {
        OutputTag {
            name,
            _type: PhantomData,
        }
    }

    /// The tag's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for OutputTag<T> {}

impl<T> std::fmt::Debug for OutputTag<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputTag({:?})", self.name)
    }
}

/// Records in and out of one operator in one subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OperatorMetrics {
    /// Index of the operator in the job plan.
    pub operator: usize,
    /// Records the operator received.
    pub records_in: u64,
    /// Records the operator emitted.
    pub records_out: u64,
    /// Bytes of state the operator wrote to disk over its memory budget (batch mode).
    pub spilled_bytes: u64,
}

impl OperatorMetrics {
    /// Zeroed counters for an operator.
    pub fn new(operator: usize) -> Self {
        OperatorMetrics {
            operator,
            records_in: 0,
            records_out: 0,
            spilled_bytes: 0,
        }
    }
}

/// Restores every owned key group of `ctx` that `from` has state for, through `restore`.
pub(crate) fn restore_key_groups(
    operator: usize,
    from: &crate::checkpoint::Checkpoint,
    ctx: &TaskContext,
    mut restore: impl FnMut(u16, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    // The operator's state is found by its state id (`.uid(..)` or name), whatever its
    // index was in the job that wrote the checkpoint.
    let state_id = ctx.plan.operators[operator].state_id();
    let Some(operator) = from.operator_index(state_id, operator) else {
        return Ok(());
    };
    let owned =
        crate::keys::key_groups_of_subtask(ctx.subtask, ctx.parallelism, ctx.max_parallelism);
    for key_group in owned {
        let key_group = key_group as u16;
        if let Some(bytes) = from
            .keyed_state(operator, key_group)
            .map_err(|e| e.to_string())?
        {
            restore(key_group, &bytes)?;
        }
    }
    Ok(())
}

/// One operator of a chain, generic over its input type.
pub trait Operator<I>: Send + 'static {
    /// The type of the records it emits.
    type Out;

    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &TaskContext) {}

    /// Processes one record, emitting any number of records into `out`.
    fn process<E: Emit<Self::Out>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E);

    /// Called once when every input has ended; batch-mode aggregates emit their results here.
    fn end_of_input<E: Emit<Self::Out>>(&mut self, _out: &mut E) {}

    /// The input's watermark advanced to `watermark`. Operators with event-time timers fire
    /// the ones it triggers and emit their output *before* forwarding the watermark.
    #[inline]
    fn on_watermark<E: Emit<Self::Out>>(&mut self, watermark: Timestamp, out: &mut E) {
        out.emit_watermark(watermark);
    }

    /// The operator before it emitted a side output record. Only a `side_output(TAG)`
    /// operator takes it (if the tag is its own); everything else leaves it.
    #[inline]
    fn on_side_output<E: Emit<Self::Out>>(&mut self, _side: &mut Option<SideRecord>, _out: &mut E) {
    }

    /// The input went idle or became active again.
    #[inline]
    fn on_idleness<E: Emit<Self::Out>>(&mut self, idle: bool, out: &mut E) {
        out.emit_idleness(idle);
    }

    /// Adds this operator's state to a checkpoint of subtask `subtask` (stateless operators,
    /// the default, add nothing). Called when the checkpoint's barrier reaches the task,
    /// before [`Operator::on_barrier`].
    fn snapshot_state(
        &self,
        _subtask: usize,
        _into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Restores this operator's state from a checkpoint, for the key groups and subtask of
    /// `ctx` (after [`Operator::open`]).
    fn restore_state(
        &mut self,
        _from: &crate::checkpoint::Checkpoint,
        _ctx: &TaskContext,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Checkpoint barrier `n` reached the operator: it snapshots what it must (stateful
    /// operators) and forwards the barrier, after any output that belongs before it.
    #[inline]
    fn on_barrier<E: Emit<Self::Out>>(&mut self, checkpoint: u64, out: &mut E) {
        out.emit_barrier(checkpoint);
    }

    /// Superstep `n` of the iteration this operator runs in ended on all its inputs. Operators
    /// that hold records back until the end of their input (batch-mode aggregates, groups,
    /// joins) emit the superstep's results here and start the next superstep empty; the
    /// default forwards the marker.
    #[inline]
    fn on_superstep_end<E: Emit<Self::Out>>(&mut self, superstep: u64, out: &mut E) {
        out.emit_superstep_end(superstep);
    }

    /// Every record of one input of the chain's two-input operator has arrived (`second`:
    /// its second input), while the other input may still send: a broadcast hash join has
    /// its whole table and probes from here on instead of buffering.
    fn on_side_ended<E: Emit<Self::Out>>(&mut self, _second: bool, _out: &mut E) {}

    /// The wall clock reached the time [`Operator::next_wakeup`] asked for (or later):
    /// processing-time timers fire, periodic watermarks go out. `now` is processing time in
    /// milliseconds since the epoch.
    fn on_processing_time<E: Emit<Self::Out>>(&mut self, _now: Timestamp, _out: &mut E) {}

    /// The processing time at which [`Operator::on_processing_time`] must run next, if any.
    /// Asked once per batch, so the task can sleep until then when no input arrives.
    fn next_wakeup(&self) -> Option<Timestamp> {
        None
    }

    /// Appends this operator's counters (and those of operators it contains), given how
    /// many records it received; returns how many it emitted.
    ///
    /// Operators count only what they cannot derive: a `map` emits what it receives, so it
    /// keeps no counter at all and the per-record path stays free of counter updates.
    fn collect_metrics(&self, records_in: u64, _into: &mut Vec<OperatorMetrics>) -> u64 {
        records_in
    }
}

/// `side_output(tag)`: turns the side output records of `tag` of the operator before it
/// into a stream; that operator's main output does not pass.
pub struct SideOutput<T> {
    tag: OutputTag<T>,
    operator: usize,
    emitted: u64,
}

impl<T> Clone for SideOutput<T> {
    fn clone(&self) -> Self {
        SideOutput {
            tag: self.tag,
            operator: self.operator,
            emitted: 0,
        }
    }
}

impl<I: 'static, T: Send + 'static> Operator<I> for SideOutput<T> {
    type Out = T;

    #[inline]
    fn process<E: Emit<T>>(&mut self, _value: I, _timestamp: Option<Timestamp>, _out: &mut E) {}

    fn on_side_output<E: Emit<T>>(&mut self, side: &mut Option<SideRecord>, out: &mut E) {
        let mine = side
            .as_ref()
            .is_some_and(|s| s.tag == self.tag.name && s.value.is::<T>());
        if !mine {
            return;
        }
        if let Some(SideRecord {
            value, timestamp, ..
        }) = side.take()
        {
            if let Ok(value) = value.downcast::<T>() {
                self.emitted += 1;
                out.emit(*value, timestamp);
            }
        }
    }

    /// Counts the side records it took (the main records it ignores are not its input).
    fn collect_metrics(&self, _main_records: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in: self.emitted,
            records_out: self.emitted,
            spilled_bytes: 0,
        });
        self.emitted
    }
}

/// The empty chain: passes records through.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl<I: 'static> Operator<I> for Identity {
    type Out = I;

    #[inline(always)]
    fn process<E: Emit<I>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E) {
        out.emit(value, timestamp);
    }

    /// The empty chain after a fan-out passes side outputs on to the branch's first operator.
    fn on_side_output<E: Emit<I>>(&mut self, side: &mut Option<SideRecord>, out: &mut E) {
        out.emit_side(side);
    }
}

/// Two operators fused: `first`'s output is pushed straight into `second`.
#[derive(Debug, Clone)]
pub struct Then<A, B> {
    first: A,
    second: B,
}

/// The [`Emit`] that feeds one operator's output into the next operator.
pub struct Pipe<'a, Op, E> {
    /// The next operator.
    pub operator: &'a mut Op,
    /// Where the next operator emits.
    pub out: &'a mut E,
}

impl<T, Op: Operator<T>, E: Emit<Op::Out>> Emit<T> for Pipe<'_, Op, E> {
    #[inline(always)]
    fn emit(&mut self, value: T, timestamp: Option<Timestamp>) {
        self.operator.process(value, timestamp, self.out);
    }

    #[inline]
    fn emit_watermark(&mut self, watermark: Timestamp) {
        self.operator.on_watermark(watermark, self.out);
    }

    #[inline]
    fn emit_idleness(&mut self, idle: bool) {
        self.operator.on_idleness(idle, self.out);
    }

    #[inline]
    fn emit_barrier(&mut self, checkpoint: u64) {
        self.operator.on_barrier(checkpoint, self.out);
    }

    fn emit_superstep_end(&mut self, superstep: u64) {
        self.operator.on_superstep_end(superstep, self.out);
    }

    #[inline]
    fn emit_side(&mut self, side: &mut Option<SideRecord>) {
        self.operator.on_side_output(side, self.out);
    }
}

impl<I, A: Operator<I>, B: Operator<A::Out>> Operator<I> for Then<A, B> {
    type Out = B::Out;

    fn open(&mut self, ctx: &TaskContext) {
        self.first.open(ctx);
        self.second.open(ctx);
    }

    #[inline(always)]
    fn process<E: Emit<B::Out>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E) {
        let mut pipe = Pipe {
            operator: &mut self.second,
            out,
        };
        self.first.process(value, timestamp, &mut pipe);
    }

    fn end_of_input<E: Emit<B::Out>>(&mut self, out: &mut E) {
        self.first.end_of_input(&mut Pipe {
            operator: &mut self.second,
            out,
        });
        self.second.end_of_input(out);
    }

    fn on_watermark<E: Emit<B::Out>>(&mut self, watermark: Timestamp, out: &mut E) {
        self.first.on_watermark(
            watermark,
            &mut Pipe {
                operator: &mut self.second,
                out,
            },
        );
    }

    fn on_side_output<E: Emit<B::Out>>(&mut self, side: &mut Option<SideRecord>, out: &mut E) {
        self.first.on_side_output(
            side,
            &mut Pipe {
                operator: &mut self.second,
                out,
            },
        );
    }

    fn on_idleness<E: Emit<B::Out>>(&mut self, idle: bool, out: &mut E) {
        self.first.on_idleness(
            idle,
            &mut Pipe {
                operator: &mut self.second,
                out,
            },
        );
    }

    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        self.first.snapshot_state(subtask, into)?;
        self.second.snapshot_state(subtask, into)
    }

    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &TaskContext,
    ) -> Result<(), String> {
        self.first.restore_state(from, ctx)?;
        self.second.restore_state(from, ctx)
    }

    fn on_barrier<E: Emit<B::Out>>(&mut self, checkpoint: u64, out: &mut E) {
        self.first.on_barrier(
            checkpoint,
            &mut Pipe {
                operator: &mut self.second,
                out,
            },
        );
    }

    fn on_superstep_end<E: Emit<B::Out>>(&mut self, superstep: u64, out: &mut E) {
        self.first.on_superstep_end(
            superstep,
            &mut Pipe {
                operator: &mut self.second,
                out,
            },
        );
    }

    fn on_processing_time<E: Emit<B::Out>>(&mut self, now: Timestamp, out: &mut E) {
        self.first.on_processing_time(
            now,
            &mut Pipe {
                operator: &mut self.second,
                out,
            },
        );
        self.second.on_processing_time(now, out);
    }

    fn on_side_ended<E: Emit<B::Out>>(&mut self, second: bool, out: &mut E) {
        self.first.on_side_ended(
            second,
            &mut Pipe {
                operator: &mut self.second,
                out,
            },
        );
        self.second.on_side_ended(second, out);
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        earliest(self.first.next_wakeup(), self.second.next_wakeup())
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        let between = self.first.collect_metrics(records_in, into);
        self.second.collect_metrics(between, into)
    }
}

/// The earlier of two optional wake-up times.
pub(crate) fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

thread_local! {
    static PANICKED_OPERATOR: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks the operator whose user code runs while it is alive, for error messages.
///
/// On the normal path [`OperatorScope::exit`] forgets the guard, so it costs nothing per
/// record; only while a panic unwinds does `Drop` run, and the innermost scope (the operator
/// whose closure panicked) records its index first.
#[must_use]
pub struct OperatorScope(usize);

impl OperatorScope {
    /// Enters the scope of operator `operator`.
    #[inline(always)]
    pub fn enter(operator: usize) -> Self {
        OperatorScope(operator)
    }

    /// Leaves the scope normally.
    #[inline(always)]
    pub fn exit(self) {
        std::mem::forget(self);
    }
}

impl Drop for OperatorScope {
    fn drop(&mut self) {
        let operator = self.0;
        PANICKED_OPERATOR.with(|cell| {
            if cell.get().is_none() {
                cell.set(Some(operator));
            }
        });
    }
}

/// Takes the index of the operator that panicked on this thread, if any.
pub(crate) fn take_panicked_operator() -> Option<usize> {
    PANICKED_OPERATOR.with(Cell::take)
}

/// A chain under construction: `In` is the type entering it, `Op` the fused operators.
///
/// The generated code starts a chain from its source or its input exchange and adds one
/// operator per DSL call; each method's closure bound names the type flowing at that point,
/// so closure arguments need no annotations.
pub struct Chain<In, Op> {
    operator: Op,
    _input: PhantomData<fn(In)>,
}

impl<In, Op: Clone> Clone for Chain<In, Op> {
    fn clone(&self) -> Self {
        Chain {
            operator: self.operator.clone(),
            _input: PhantomData,
        }
    }
}

/// Anything whose output type the generated code needs to name without spelling it.
pub trait Produces {
    /// The type of the records produced.
    type Out;
}

impl<In, Op: Operator<In>> Produces for Chain<In, Op> {
    type Out = Op::Out;
}

impl<In: 'static> Chain<In, Identity> {
    /// An empty chain fed by `input` (a source or an exchange), used only for its type.
    pub fn fed_by<P: Produces<Out = In>>(_input: &P) -> Self {
        Chain {
            operator: Identity,
            _input: PhantomData,
        }
    }
}

/// The chain methods of a join of bounded inputs of one kind: the hash join (`$hash`, at end
/// of input, with its loop-invariant side in an iteration) and the join whose strategy the
/// plan chooses at start (`$chosen`, sharing the choice with its input partitioners).
macro_rules! joins_of_bounded_inputs {
    ($(#[doc = $doc:literal] $hash:ident, $chosen:ident, $kind:ident, [$($f:tt)+];)+) => {$(
        #[doc = concat!("Appends the join of bounded inputs (after `merge_keyed`): ", $doc, ", at end of input.")]
        pub fn $hash<K, A, B, F, O>(
            self,
            operator: usize,
            f: F,
            static_side: crate::join::StaticSide,
        ) -> Chain<In, impl Operator<In, Out = O> + Clone>
        where
            K: crate::keys::Key,
            A: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
            B: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
            O: Send + 'static,
            F: $($f)+ + Clone + Send + 'static,
            Op: Operator<In, Out = Keyed<K, TwoInputs<A, B>>>,
        {
            self.then(KeyedGroup::new(
                operator,
                crate::join::BatchJoin::new(crate::join::$kind(f), static_side),
            ))
        }

        #[doc = concat!("Appends the join of bounded inputs (after `merge_keyed`): ", $doc, "; a hash or broadcast hash join as the plan chooses at start (`strategy`, shared with its input partitioners).")]
        pub fn $chosen<K, A, B, F, O>(
            self,
            operator: usize,
            f: F,
            strategy: &crate::join::JoinStrategyCell,
        ) -> Chain<In, impl Operator<In, Out = O> + Clone>
        where
            K: crate::keys::Key,
            A: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
            B: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
            O: Send + 'static,
            F: $($f)+ + Clone + Send + 'static,
            Op: Operator<In, Out = Keyed<K, TwoInputs<A, B>>>,
        {
            self.then(crate::join::ChosenJoin::new(operator, crate::join::$kind(f), strategy))
        }
    )+};
}

// The builder methods return `impl Operator` rather than the concrete fused type: a closure
// whose signature does not fit is then reported once, at the DSL operator that takes it,
// instead of again (with the runtime's internal types) wherever the chain is used later.
impl<In, Op: Operator<In> + Clone> Chain<In, Op> {
    pub(crate) fn then<Next: Operator<Op::Out> + Clone>(
        self,
        next: Next,
    ) -> Chain<In, Then<Op, Next>> {
        Chain {
            operator: Then {
                first: self.operator,
                second: next,
            },
            _input: PhantomData,
        }
    }

    /// The fused operators.
    pub fn into_operator(self) -> Op {
        self.operator
    }

    /// Appends a `map`.
    pub fn map<O, F>(self, operator: usize, f: F) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        F: FnMut(Op::Out) -> O + Clone + Send + 'static,
    {
        self.then(Map::new(operator, f))
    }

    /// Appends a `flat_map`; the closure returns anything iterable.
    pub fn flat_map<R, F>(
        self,
        operator: usize,
        f: F,
    ) -> Chain<In, impl Operator<In, Out = R::Item> + Clone>
    where
        F: FnMut(Op::Out) -> R + Clone + Send + 'static,
        R: IntoIterator,
    {
        self.then(FlatMap::new(operator, f))
    }

    /// Appends a `filter`.
    pub fn filter<F>(
        self,
        operator: usize,
        f: F,
    ) -> Chain<In, impl Operator<In, Out = Op::Out> + Clone>
    where
        F: FnMut(&Op::Out) -> bool + Clone + Send + 'static,
    {
        self.then(Filter::new(operator, f))
    }

    /// Appends `assign_timestamps`: event time from `extract`, watermarks from `strategy`.
    pub fn assign_timestamps<F, G>(
        self,
        operator: usize,
        extract: F,
        strategy: WatermarkStrategy<G>,
    ) -> Chain<In, impl Operator<In, Out = Op::Out> + Clone>
    where
        Op::Out: 'static,
        F: FnMut(&Op::Out) -> Timestamp + Clone + Send + 'static,
        G: WatermarkGenerator<Op::Out>,
    {
        self.then(AssignTimestamps::new(operator, extract, strategy))
    }

    /// Appends `ingestion_time`: records are stamped with the wall clock.
    pub fn ingestion_time(
        self,
        operator: usize,
    ) -> Chain<In, impl Operator<In, Out = Op::Out> + Clone>
    where
        Op::Out: 'static,
    {
        self.then(IngestionTime::new(operator))
    }

    /// Appends `co_map` on connected streams: `first` maps the first input's records,
    /// `second` the second's, into one output type.
    pub fn co_map<A, B, O, F1, F2>(
        self,
        operator: usize,
        mut first: F1,
        mut second: F2,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        Op: Operator<In, Out = TwoInputs<A, B>>,
        F1: FnMut(A) -> O + Clone + Send + 'static,
        F2: FnMut(B) -> O + Clone + Send + 'static,
    {
        self.then(Map::new(operator, move |input| match input {
            TwoInputs::First(a) => first(a),
            TwoInputs::Second(b) => second(b),
        }))
    }

    /// Appends `co_flat_map` on connected streams: each function returns any `IntoIterator`
    /// of the output type.
    pub fn co_flat_map<A, B, O, R1, R2, F1, F2>(
        self,
        operator: usize,
        mut first: F1,
        mut second: F2,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        Op: Operator<In, Out = TwoInputs<A, B>>,
        R1: IntoIterator<Item = O>,
        R2: IntoIterator<Item = O>,
        F1: FnMut(A) -> R1 + Clone + Send + 'static,
        F2: FnMut(B) -> R2 + Clone + Send + 'static,
    {
        self.then(FlatMap::new(operator, move |input| match input {
            TwoInputs::First(a) => EitherIter::Left(first(a).into_iter()),
            TwoInputs::Second(b) => EitherIter::Right(second(b).into_iter()),
        }))
    }

    /// Appends a non-keyed `co_process` on connected streams.
    pub fn co_process<A, B, F>(
        self,
        operator: usize,
        function: F,
    ) -> Chain<In, impl Operator<In, Out = F::Out> + Clone>
    where
        A: 'static,
        B: 'static,
        Op: Operator<In, Out = TwoInputs<A, B>>,
        F: CoProcessFunction<A, B>,
    {
        self.then(Process::new(operator, CoProcessAdapter(function)))
    }

    /// Appends a keyed `co_process` on two streams keyed by the same key type: both inputs
    /// share the per-key state and timers.
    pub fn keyed_co_process<K, A, B, F, T: TtlPolicy>(
        self,
        operator: usize,
        function: F,
        ttl: T,
    ) -> Chain<In, impl Operator<In, Out = F::Out> + Clone>
    where
        K: crate::keys::Key,
        A: 'static,
        B: 'static,
        Op: Operator<In, Out = TwoInputs<Keyed<K, A>, Keyed<K, B>>>,
        F: KeyedCoProcessFunction<K, A, B>,
    {
        let adapter = KeyedCoAdapter::new(function);
        self.then(Then {
            first: MergeKeyed,
            second: KeyedProcess::new(operator, adapter, ttl),
        })
    }

    /// Moves the key of either input's records out of `TwoInputs`: for a window join,
    /// whose window operator takes both inputs as one keyed stream.
    pub fn merge_keyed<K, A, B>(
        self,
    ) -> Chain<In, impl Operator<In, Out = Keyed<K, TwoInputs<A, B>>> + Clone>
    where
        K: 'static,
        A: 'static,
        B: 'static,
        Op: Operator<In, Out = TwoInputs<Keyed<K, A>, Keyed<K, B>>>,
    {
        self.then(MergeKeyed)
    }

    joins_of_bounded_inputs! {
        /// an inner join: `f(&a, &b)` per pair of a key
        batch_join, batch_join_chosen, InnerJoin, [FnMut(&A, &B) -> O];
        /// a left outer join: also `f(&a, None)` for each `a` without partners
        batch_left_outer_join, batch_left_outer_join_chosen, LeftOuterJoin,
            [FnMut(&A, Option<&B>) -> O];
        /// a right outer join: also `f(None, &b)` for each `b` without partners
        batch_right_outer_join, batch_right_outer_join_chosen, RightOuterJoin,
            [FnMut(Option<&A>, &B) -> O];
    }

    /// Appends the join of bounded inputs (after `merge_keyed`): a full outer join, at end of input.
    pub fn batch_full_outer_join<K, A, B, F, O>(
        self,
        operator: usize,
        f: F,
        static_side: crate::join::StaticSide,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        K: crate::keys::Key,
        A: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        B: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        O: Send + 'static,
        F: FnMut(Option<&A>, Option<&B>) -> O + Clone + Send + 'static,
        Op: Operator<In, Out = Keyed<K, TwoInputs<A, B>>>,
    {
        self.then(KeyedGroup::new(
            operator,
            crate::join::BatchJoin::new(crate::join::FullOuterJoin(f), static_side),
        ))
    }

    /// Appends the co-group of bounded inputs (after `merge_keyed`): `f(left, right)` per key,
    /// at end of input.
    pub fn batch_co_group<K, A, B, F, R>(
        self,
        operator: usize,
        f: F,
        static_side: crate::join::StaticSide,
    ) -> Chain<In, impl Operator<In, Out = R::Item> + Clone>
    where
        K: crate::keys::Key,
        A: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        B: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        R: IntoIterator,
        R::Item: Send + 'static,
        F: FnMut(Vec<A>, Vec<B>) -> R + Clone + Send + 'static,
        Op: Operator<In, Out = Keyed<K, TwoInputs<A, B>>>,
    {
        self.then(KeyedGroup::new(
            operator,
            crate::join::BatchJoin::new(crate::join::CoGroupWith(f), static_side),
        ))
    }

    /// Appends a broadcast hash join of bounded inputs (the second input broadcast):
    /// `f(&a, &b)` per pair, at end of input.
    pub fn batch_broadcast_join<A, B, K, KA, KB, F, O>(
        self,
        operator: usize,
        key_first: KA,
        key_second: KB,
        mut f: F,
        static_side: crate::join::StaticSide,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        B: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        K: std::hash::Hash + Eq + Send + 'static,
        KA: FnMut(&A) -> K + Clone + Send + 'static,
        KB: FnMut(&B) -> K + Clone + Send + 'static,
        F: FnMut(&A, &B) -> O + Clone + Send + 'static,
        Op: Operator<In, Out = TwoInputs<A, B>>,
    {
        let pairs = move |a: &A, b: Option<&B>| f(a, b.expect("an inner join has partners"));
        self.then(crate::join::BroadcastJoin::new(
            operator,
            (key_first, key_second),
            pairs,
            false,
            static_side,
        ))
    }

    /// Appends a broadcast hash left outer join of bounded inputs (the second input
    /// broadcast): `f(&a, Some(&b))` per pair, `f(&a, None)` for an `a` without partners.
    pub fn batch_broadcast_left_outer_join<A, B, K, KA, KB, F, O>(
        self,
        operator: usize,
        key_first: KA,
        key_second: KB,
        f: F,
        static_side: crate::join::StaticSide,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        B: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        K: std::hash::Hash + Eq + Send + 'static,
        KA: FnMut(&A) -> K + Clone + Send + 'static,
        KB: FnMut(&B) -> K + Clone + Send + 'static,
        F: FnMut(&A, Option<&B>) -> O + Clone + Send + 'static,
        Op: Operator<In, Out = TwoInputs<A, B>>,
    {
        self.then(crate::join::BroadcastJoin::new(
            operator,
            (key_first, key_second),
            f,
            true,
            static_side,
        ))
    }

    /// Appends a broadcast hash join of bounded inputs with the first input broadcast:
    /// `f(&a, &b)` per pair, at end of input.
    pub fn batch_broadcast_first_join<A, B, K, KA, KB, F, O>(
        self,
        operator: usize,
        key_first: KA,
        key_second: KB,
        mut f: F,
        static_side: crate::join::StaticSide,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        B: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        K: std::hash::Hash + Eq + Send + 'static,
        KA: FnMut(&A) -> K + Clone + Send + 'static,
        KB: FnMut(&B) -> K + Clone + Send + 'static,
        F: FnMut(&A, &B) -> O + Clone + Send + 'static,
        Op: Operator<In, Out = TwoInputs<A, B>>,
    {
        let pairs = move |b: &B, a: Option<&A>| f(a.expect("an inner join has partners"), b);
        self.then(crate::join::SwapInputs(crate::join::BroadcastJoin::new(
            operator,
            (key_second, key_first),
            pairs,
            false,
            static_side.swapped(),
        )))
    }

    /// Appends a broadcast hash right outer join of bounded inputs (the first input
    /// broadcast): `f(Some(&a), &b)` per pair, `f(None, &b)` for a `b` without partners.
    pub fn batch_broadcast_first_right_outer_join<A, B, K, KA, KB, F, O>(
        self,
        operator: usize,
        key_first: KA,
        key_second: KB,
        mut f: F,
        static_side: crate::join::StaticSide,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        B: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        K: std::hash::Hash + Eq + Send + 'static,
        KA: FnMut(&A) -> K + Clone + Send + 'static,
        KB: FnMut(&B) -> K + Clone + Send + 'static,
        F: FnMut(Option<&A>, &B) -> O + Clone + Send + 'static,
        Op: Operator<In, Out = TwoInputs<A, B>>,
    {
        let probe = move |b: &B, a: Option<&A>| f(a, b);
        self.then(crate::join::SwapInputs(crate::join::BroadcastJoin::new(
            operator,
            (key_second, key_first),
            probe,
            true,
            static_side.swapped(),
        )))
    }

    /// Appends `cross`: every pair of the two bounded inputs, at end of input.
    pub fn batch_cross<A, B, F, O>(
        self,
        operator: usize,
        f: F,
        static_side: crate::join::StaticSide,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        A: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        B: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        F: FnMut(&A, &B) -> O + Clone + Send + 'static,
        Op: Operator<In, Out = TwoInputs<A, B>>,
    {
        self.then(crate::join::Cross::new(operator, f, static_side))
    }

    /// Appends a window operator after an operator emitting keyed records (the window
    /// operator of a window join, after `merge_keyed`).
    pub fn then_keyed_window<K, V, W>(
        self,
        operator: usize,
        window: W,
    ) -> Chain<In, impl Operator<In, Out = W::Out> + Clone>
    where
        Op: Operator<In, Out = Keyed<K, V>>,
        W: crate::window::KeyedWindowFunction<K, V>,
    {
        self.then(window.into_operator(operator))
    }

    /// Appends a `co_process` of a keyed stream connected to a broadcast stream.
    pub fn keyed_broadcast_process<K, A, B, F>(
        self,
        operator: usize,
        function: F,
    ) -> Chain<In, impl Operator<In, Out = F::Out> + Clone>
    where
        K: crate::keys::Key,
        A: 'static,
        B: 'static,
        Op: Operator<In, Out = TwoInputs<Keyed<K, A>, B>>,
        F: KeyedBroadcastProcessFunction<K, A, B>,
    {
        self.then(KeyedBroadcastProcess::new(operator, function))
    }

    /// Appends `side_output(tag)`: the records the operator before it sent to `tag`.
    pub fn side_output<T: Send + 'static>(
        self,
        operator: usize,
        tag: OutputTag<T>,
    ) -> Chain<In, impl Operator<In, Out = T> + Clone>
    where
        Op::Out: 'static,
    {
        self.then(SideOutput::<T> {
            tag,
            operator,
            emitted: 0,
        })
    }

    /// Appends a non-keyed `process` with a [`ProcessFunction`].
    pub fn process<F>(
        self,
        operator: usize,
        function: F,
    ) -> Chain<In, impl Operator<In, Out = F::Out> + Clone>
    where
        Op::Out: 'static,
        F: ProcessFunction<Op::Out>,
    {
        self.then(Process::new(operator, function))
    }

    /// Appends `map_partition`: the function gets the subtask's whole input at end of input.
    pub fn map_partition<R, F>(
        self,
        operator: usize,
        f: F,
    ) -> Chain<In, impl Operator<In, Out = R::Item> + Clone>
    where
        Op::Out: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        R: IntoIterator,
        F: FnMut(Vec<Op::Out>) -> R + Clone + Send + 'static,
    {
        self.then(WholePartition::new(operator, map_partition(f)))
    }

    /// Appends `sort_partition`: the subtask's input by ascending sort key, at end of input.
    pub fn sort_partition<S, F>(
        self,
        operator: usize,
        sort_key: F,
    ) -> Chain<In, impl Operator<In, Out = Op::Out> + Clone>
    where
        Op::Out: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        S: Ord,
        F: FnMut(&Op::Out) -> S + Clone + Send + 'static,
    {
        self.then(WholePartition::new(operator, sort_partition(sort_key)))
    }

    /// Appends a non-keyed `process` written as a closure `|value, ctx| ...`.
    pub fn process_fn<O, F>(
        self,
        operator: usize,
        f: F,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        Op::Out: 'static,
        O: Send + 'static,
        F: FnMut(Op::Out, &mut Context<'_, O>) + Clone + Send + 'static,
    {
        self.then(Process::new(operator, process_fn(f)))
    }
}

/// Keyed process functions: only valid on a chain fed by a `key_by` exchange.
impl<K, V, Op> Chain<Keyed<K, V>, Op>
where
    K: crate::keys::Key,
    V: 'static,
    Op: Operator<Keyed<K, V>, Out = Keyed<K, V>> + Clone,
{
    /// Appends a keyed `process` with a [`KeyedProcessFunction`].
    pub fn keyed_process<F, T: TtlPolicy>(
        self,
        operator: usize,
        function: F,
        ttl: T,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = F::Out> + Clone>
    where
        F: KeyedProcessFunction<K, V>,
    {
        self.then(KeyedProcess::new(operator, function, ttl))
    }

    /// Appends a window operator: what `window(..)` and its function made.
    pub fn keyed_window<W>(
        self,
        operator: usize,
        window: W,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = W::Out> + Clone>
    where
        W: crate::window::KeyedWindowFunction<K, V>,
    {
        self.then(window.into_operator(operator))
    }

    /// Appends `group_reduce`: all values of each key at once, at end of input.
    pub fn group_reduce<R, F>(
        self,
        operator: usize,
        f: F,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = R::Item> + Clone>
    where
        V: serde::Serialize + serde::de::DeserializeOwned + Send,
        R: IntoIterator,
        R::Item: Send + 'static,
        F: FnMut(&K, Vec<V>) -> R + Clone + Send + 'static,
    {
        self.then(KeyedGroup::new(operator, group_reduce(f)))
    }

    /// Appends `distinct`: the first record of each key.
    pub fn distinct(
        self,
        operator: usize,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = V> + Clone>
    where
        V: serde::Serialize + serde::de::DeserializeOwned + Send,
    {
        self.then(KeyedGroup::new(operator, Distinct::default()))
    }

    /// Appends `first(n)`: the first `n` records of each key.
    pub fn first(
        self,
        operator: usize,
        n: u64,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = V> + Clone>
    where
        V: serde::Serialize + serde::de::DeserializeOwned + Send,
    {
        self.then(KeyedGroup::new(operator, FirstN::new(n)))
    }

    /// Appends `first(n, |x| sort_key)`: the `n` records of each key with the smallest sort
    /// keys, at end of input.
    pub fn first_by<S, F>(
        self,
        operator: usize,
        n: usize,
        sort_key: F,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = V> + Clone>
    where
        V: serde::Serialize + serde::de::DeserializeOwned + Send,
        S: Ord,
        F: FnMut(&V) -> S + Clone + Send + 'static,
    {
        self.then(KeyedGroup::new(operator, first_by(n, sort_key)))
    }

    /// Appends a keyed `process` written as a closure `|key, state: &mut S, value, ctx| ...`.
    pub fn keyed_process_fn<S, O, F, T: TtlPolicy>(
        self,
        operator: usize,
        f: F,
        ttl: T,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = O> + Clone>
    where
        S: Default + Clone + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        O: Send + 'static,
        F: FnMut(&K, &mut S, V, &mut KeyedContext<'_, K, O>) + Clone + Send + 'static,
    {
        self.then(KeyedProcess::new(operator, keyed_process_fn(f), ttl))
    }
}

/// What a `reduce` receives: keyed records whose values are wrapped in `Some`.
pub type ReduceInput<K, V> = Keyed<K, Option<V>>;

/// `reduce`: fed by a `key_by` exchange whose values are wrapped in `Some` (see
/// [`ReduceWith`]).
impl<K, V, Op> Chain<ReduceInput<K, V>, Op>
where
    K: crate::keys::Key,
    V: Clone + Send + 'static,
    Op: Operator<ReduceInput<K, V>, Out = ReduceInput<K, V>> + Clone,
{
    /// Rolling `reduce`: emits the updated value per record (streaming) or the final value per
    /// key (batch).
    pub fn reduce<F>(
        self,
        operator: usize,
        f: F,
    ) -> Chain<ReduceInput<K, V>, impl Operator<ReduceInput<K, V>, Out = V> + Clone>
    where
        F: FnMut(V, V) -> V + Clone + Send + 'static,
        V: serde::Serialize + serde::de::DeserializeOwned,
    {
        let identity: fn(Option<V>) -> Option<V> = |v| v;
        self.then(KeyedAggregate::<K, Option<V>, _, _, Reduced>::new(
            operator,
            identity,
            ReduceWith(f),
        ))
    }
}

/// The typed guard of an aggregate's projection (`sum(|x| field)`): fixes the closure's
/// argument to the upstream's records. The projection runs before the exchange.
pub fn projection<C: Produces, A, P>(_upstream: &C, project: P) -> P
where
    P: FnMut(C::Out) -> A + Clone + Send + 'static,
{
    project
}

/// The typed guard of a `reduce` function: evaluated once, then cloned to both sides of the
/// exchange (senders pre-aggregate with it in batch mode).
pub fn reduce_fn<C: Produces, F>(_upstream: &C, f: F) -> F
where
    F: FnMut(C::Out, C::Out) -> C::Out + Clone + Send + 'static,
{
    f
}

/// Keyed operators: only valid on a chain fed by a `key_by` exchange.
impl<K, V, Op> Chain<Keyed<K, V>, Op>
where
    K: crate::keys::Key,
    V: Send + 'static,
    Op: Operator<Keyed<K, V>, Out = Keyed<K, V>> + Clone,
{
    /// Rolling sum of `project(value)`: emits `(key, sum)`.
    pub fn sum<A, P>(
        self,
        operator: usize,
        project: P,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = (K, A)> + Clone>
    where
        A: std::ops::Add<Output = A>
            + Clone
            + Send
            + serde::Serialize
            + serde::de::DeserializeOwned
            + 'static,
        P: FnMut(V) -> A + Clone + Send + 'static,
    {
        self.then(KeyedAggregate::<K, A, _, _, WithKey>::new(
            operator, project, SumCombine,
        ))
    }

    /// Rolling minimum of `project(value)`: emits `(key, min)`.
    pub fn min<A, P>(
        self,
        operator: usize,
        project: P,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = (K, A)> + Clone>
    where
        A: PartialOrd + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static,
        P: FnMut(V) -> A + Clone + Send + 'static,
    {
        self.then(KeyedAggregate::<K, A, _, _, WithKey>::new(
            operator, project, MinCombine,
        ))
    }

    /// Rolling maximum of `project(value)`: emits `(key, max)`.
    pub fn max<A, P>(
        self,
        operator: usize,
        project: P,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = (K, A)> + Clone>
    where
        A: PartialOrd + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static,
        P: FnMut(V) -> A + Clone + Send + 'static,
    {
        self.then(KeyedAggregate::<K, A, _, _, WithKey>::new(
            operator, project, MaxCombine,
        ))
    }

    /// Rolling count of records per key: emits `(key, count)`.
    pub fn count(
        self,
        operator: usize,
    ) -> Chain<Keyed<K, V>, impl Operator<Keyed<K, V>, Out = (K, u64)> + Clone> {
        let one: fn(V) -> u64 = |_| 1;
        self.then(KeyedAggregate::<K, u64, _, _, WithKey>::new(
            operator, one, SumCombine,
        ))
    }
}
