//! The operator table: every name the DSL knows, what it takes and what it needs.
//!
//! Each entry says the operator's family (which decides how the graph builder, the checker,
//! the planner and the code generator treat it), how many arguments it takes, and a line of
//! documentation. The README's DSL reference is written from this table, and the
//! "did you mean" suggestions search it.

/// How an operator distributes records to the next operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    Forward,
    Rebalance,
    Rescale,
    Broadcast,
    Shuffle,
    Global,
    Custom,
    Hash,
}

impl Partitioning {
    /// The runtime's `plan::Partitioning` variant name.
    pub fn variant(self) -> &'static str {
        match self {
            Partitioning::Forward => "Forward",
            Partitioning::Rebalance => "Rebalance",
            Partitioning::Rescale => "Rescale",
            Partitioning::Broadcast => "Broadcast",
            Partitioning::Shuffle => "Shuffle",
            Partitioning::Global => "Global",
            Partitioning::Custom => "Custom",
            Partitioning::Hash => "Hash",
        }
    }
}

/// A setting attached to the operator before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Parallelism,
    Name,
    Uid,
    StartNewChain,
    DisableChaining,
    /// `state_ttl` (`event_time: false`) or `state_ttl_event_time` (`true`).
    StateTtl {
        event_time: bool,
    },
}

/// What kind of thing an operator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Starts a statement; `parallel: false` means it always runs at parallelism 1.
    Source { bounded: bool, parallel: bool },
    /// A record-at-a-time operator on any stream.
    Transform,
    /// A rolling aggregate that needs a keyed stream.
    Keyed,
    /// A DataSet operation on a keyed stream (`group_reduce`, `distinct`, `first`): gets each
    /// record with its key.
    Grouped,
    /// `process`: keyed (state and timers) after `key_by`, plain otherwise.
    Process,
    /// `side_output(TAG)`: a side output of the `process` before it.
    SideOutput,
    /// Sets how the stream is distributed to the next operator.
    Partition(Partitioning),
    /// Merges other streams into this one.
    Union,
    /// Connects a second stream to this one, for a two-input operator.
    Connect,
    /// A two-input operator, right after `connect`.
    Co,
    /// `window(assigner)`: makes the next `reduce`/`aggregate` a window function.
    Window,
    /// `trigger(..)`, `evictor(..)`, `allowed_lateness(..)`: configure the window before.
    WindowModifier,
    /// A keyed window function (`window(..).reduce(..)`, `window(..).aggregate(..)`).
    WindowFunction,
    /// `join`, `co_group`, `interval_join`: starts a join with another stream.
    Join,
    /// `where`, `equal_to`, `between`, ...: configure the join before.
    JoinModifier,
    /// Ends a stream.
    Sink,
    /// Configures the operator before it.
    Setting(Setting),
    /// `iterate(max, |s| body)`: a bulk iteration's head.
    Iterate,
}

/// One entry of the table.
#[derive(Debug)]
pub struct OpSpec {
    pub name: &'static str,
    pub family: Family,
    pub min_args: usize,
    /// `usize::MAX` for variadic (`union`).
    pub max_args: usize,
    /// How it is called, for error messages and the reference.
    pub signature: &'static str,
    /// One line for the README's reference (checked against it by a test).
    #[cfg_attr(not(test), allow(dead_code))]
    pub doc: &'static str,
}

macro_rules! op {
    ($name:literal, $family:expr, $min:expr, $max:expr, $sig:literal, $doc:literal) => {
        OpSpec {
            name: $name,
            family: $family,
            min_args: $min,
            max_args: $max,
            signature: $sig,
            doc: $doc,
        }
    };
}

use Family::*;

pub static OPERATORS: &[OpSpec] = &[
    op!("from_iter", Source { bounded: true, parallel: false }, 1, 1, "from_iter(collection)",
        "Bounded source over any `IntoIterator`; parallelism 1."),
    op!("generate", Source { bounded: true, parallel: true }, 2, 2, "generate(n, |i: u64| ...)",
        "Bounded parallel source of `f(0)..f(n-1)`; subtask k of p produces [k*n/p, (k+1)*n/p)."),
    op!("read_lines", Source { bounded: true, parallel: true }, 1, 1, "read_lines(path)",
        "Bounded parallel source of a text file's lines; the file is split into byte ranges cut at line boundaries."),
    op!("socket_lines", Source { bounded: false, parallel: false }, 1, 1, "socket_lines(\"host:port\")",
        "Unbounded source of the lines a TCP server sends; parallelism 1; ends when the server closes."),
    op!("map", Transform, 1, 1, "map(|x| ...)", "One output per record."),
    op!("flat_map", Transform, 1, 1, "flat_map(|x| ...)",
        "Any number of outputs per record: the closure returns any `IntoIterator`."),
    op!("filter", Transform, 1, 1, "filter(|x: &T| ...)", "Keeps the records for which the closure returns true."),
    op!("assign_timestamps", Transform, 2, 2, "assign_timestamps(|x: &T| ts, strategy)",
        "Event time: stamps each record with the closure's `i64` ms and emits the `WatermarkStrategy`'s watermarks."),
    op!("ingestion_time", Transform, 0, 0, "ingestion_time()",
        "Right after a source: stamps each record with the wall clock; watermarks follow the clock."),
    op!("process", Process, 1, 1, "process(f)",
        "After `key_by`: a `KeyedProcessFunction` (or `|key, state: &mut S, x, ctx| ..`) with per-key state and timers; otherwise a `ProcessFunction` (or `|x, ctx| ..`)."),
    op!("side_output", SideOutput, 1, 1, "side_output(TAG)",
        "Right after a `process` (or its `let` name): the records it sent to `ctx.side_output(&TAG, x)`, `TAG` an `OutputTag<T>` const."),
    op!("reduce", Keyed, 1, 1, "reduce(|a, b| ...)",
        "Keyed rolling reduce: emits the key's updated value per record (final value per key in batch mode)."),
    op!("sum", Keyed, 0, 1, "sum() or sum(|x| field)",
        "Keyed rolling sum of the record (or of the closure's projection): emits `(key, sum)`."),
    op!("min", Keyed, 0, 1, "min() or min(|x| field)", "Keyed rolling minimum: emits `(key, min)`."),
    op!("max", Keyed, 0, 1, "max() or max(|x| field)", "Keyed rolling maximum: emits `(key, max)`."),
    op!("count", Keyed, 0, 0, "count()", "Keyed rolling count: emits `(key, count: u64)`."),
    op!("min_by", Keyed, 1, 1, "min_by(|x: &T| field)",
        "Keyed rolling minimum by a field: emits the whole record with the smallest field so far, the earlier on ties (final record per key in batch mode)."),
    op!("max_by", Keyed, 1, 1, "max_by(|x: &T| field)",
        "Keyed rolling maximum by a field: emits the whole record with the largest field so far, the earlier on ties."),
    op!("group_reduce", Grouped, 1, 1, "group_reduce(|key, values: Vec<T>| outputs)",
        "Bounded streams, after `key_by`: all values of each key at once (arrival order) at end of input; the closure returns any `IntoIterator`."),
    op!("distinct", Grouped, 0, 0, "distinct()",
        "After `key_by`: the first record of each key, emitted when it arrives (`key_by(|x| x.clone()).distinct()` for whole records)."),
    op!("first", Grouped, 1, 2, "first(n) or first(n, |x: &T| sort_key)",
        "After `key_by`: the first `n` records of each key as they arrive; with a sort key (bounded streams), the `n` smallest per key at end of input."),
    op!("map_partition", Transform, 1, 1, "map_partition(|records: Vec<T>| outputs)",
        "Bounded streams: each subtask's whole input at once, at end of input; the closure returns any `IntoIterator`."),
    op!("sort_partition", Transform, 1, 1, "sort_partition(|x: &T| sort_key)",
        "Bounded streams: each subtask's input sorted by the key (ascending, stable; `Reverse(key)` for descending), at end of input."),
    op!("key_by", Partition(Partitioning::Hash), 1, 1, "key_by(|x: &T| key)",
        "Partitions by key: equal keys go to one subtask; makes the stream keyed."),
    op!("forward", Partition(Partitioning::Forward), 0, 0, "forward()",
        "Subtask i to subtask i; needs equal parallelism."),
    op!("rebalance", Partition(Partitioning::Rebalance), 0, 0, "rebalance()", "Round robin over all subtasks."),
    op!("rescale", Partition(Partitioning::Rescale), 0, 0, "rescale()",
        "Round robin over a local subset of subtasks."),
    op!("broadcast", Partition(Partitioning::Broadcast), 0, 0, "broadcast()", "Every record to every subtask."),
    op!("shuffle", Partition(Partitioning::Shuffle), 0, 0, "shuffle()", "Uniformly random subtask."),
    op!("global", Partition(Partitioning::Global), 0, 0, "global()", "Every record to subtask 0."),
    op!("partition_custom", Partition(Partitioning::Custom), 1, 1, "partition_custom(|x: &T, n| index)",
        "The closure picks the subtask index (below n) for each record."),
    op!("union", Union, 1, usize::MAX, "union(other, ...)",
        "Merges streams of the same type (named with `let`) into this one."),
    op!("connect", Connect, 1, 1, "connect(other)",
        "Connects a second stream (named with `let`) of any type, for `co_map`, `co_flat_map` or `co_process` right after."),
    op!("co_map", Co, 2, 2, "co_map(|a| ..., |b| ...)",
        "After `connect`: one output per record of either input, by the function of its input."),
    op!("co_flat_map", Co, 2, 2, "co_flat_map(|a| ..., |b| ...)",
        "After `connect`: any number of outputs per record of either input."),
    op!("co_process", Co, 1, 1, "co_process(f)",
        "After `connect`: a `CoProcessFunction`; both inputs keyed: a `KeyedCoProcessFunction` sharing state and timers; keyed + `broadcast()`: a `KeyedBroadcastProcessFunction`."),
    op!("window", Window, 1, 1, "window(assigner)",
        "After `key_by`: tumbling, sliding or session windows in event or processing time, or `GlobalWindows::create()` with a trigger; then a window function (`reduce`, `aggregate`, `process`, `count`, `sum`, `min`, `max`, `avg`); results carry `end - 1`."),
    op!("window_all", Window, 1, 1, "window_all(assigner)",
        "On a stream not partitioned by key: windows over all records, at parallelism 1; the window functions emit no key."),
    op!("trigger", WindowModifier, 1, 1, "trigger(trigger)",
        "Right after `window(..)`: when windows fire (`CountTrigger::of(n)`, `PurgingTrigger::of(t)`, `ContinuousEventTimeTrigger::of(d)`, or a `Trigger`)."),
    op!("evictor", WindowModifier, 1, 1, "evictor(evictor)",
        "Right after `window(..)`: removes records before the function runs (`CountEvictor::of(n)`, `TimeEvictor::of(d)`, or an `Evictor`); windows then keep their records."),
    op!("allowed_lateness", WindowModifier, 1, 1, "allowed_lateness(duration)",
        "Right after `window(..)`: keeps event-time windows this long after they fire; late records re-fire them, later ones go to `late_data()`."),
    op!("count_window", Window, 1, 2, "count_window(size) or count_window(size, slide)",
        "After `key_by`: per key, a window of the last `size` records every `slide` records (default `size`), then a window function as after `window`; a window that never fills does not fire."),
    op!("aggregate", WindowFunction, 1, 2, "aggregate(agg) or aggregate(agg, |key, window, result| ..)",
        "After `window(..)`: an `AggregateFunction` (accumulator: create, add, merge, result), optionally handing each result to a process function."),
    op!("avg", WindowFunction, 0, 1, "avg() or avg(|x| field as f64)",
        "After `window(..)`: the mean per key and window, as `(key, f64)`; `count`, `sum`, `min` and `max` after `window(..)` also emit `(key, value)` per window."),
    op!("join", Join, 1, 1, "join(other)",
        "A window join with the stream named `other`: `.where(|a| key).equal_to(|b| key).window(assigner).apply(|a, b| out)` emits one output per pair of a key and window; without `.window(..)`, on bounded streams, a hash join of all records at end of input."),
    op!("left_outer_join", Join, 1, 1, "left_outer_join(other)",
        "As `join`, with `.apply(|a, b: Option<&B>| out)`: also each `a` without partners, with `None`."),
    op!("right_outer_join", Join, 1, 1, "right_outer_join(other)",
        "As `join`, with `.apply(|a: Option<&A>, b| out)`: also each `b` without partners, with `None`."),
    op!("full_outer_join", Join, 1, 1, "full_outer_join(other)",
        "As `join`, with `.apply(|a: Option<&A>, b: Option<&B>| out)`: also the records of either side without partners."),
    op!("co_group", Join, 1, 1, "co_group(other)",
        "As `join`, but `.apply(|left: Vec<A>, right: Vec<B>| outputs)` gets both sides' records of a key (and window), either side possibly empty."),
    op!("cross", Join, 1, 1, "cross(other)",
        "Bounded streams: `.apply(|a, b| out)` for every pair of a record of this stream and one of `other` (broadcast: make it the smaller), at end of input."),
    op!("interval_join", Join, 1, 1, "interval_join(other)",
        "After `key_by`, with `other` keyed too: `.between(lower_ms, upper_ms).process(|a, b| out)` joins `a` at `ta` with each `b` at `tb` in `[ta + lower, ta + upper]`, emitted at `max(ta, tb)`."),
    op!("where", JoinModifier, 1, 1, "where(|a| key)", "After `join` or `co_group`: the first stream's key."),
    op!("equal_to", JoinModifier, 1, 1, "equal_to(|b| key)", "After `where`: the second stream's key (of the same type)."),
    op!("between", JoinModifier, 2, 2, "between(lower_ms, upper_ms)",
        "After `interval_join`: the bounds (`i64` ms, relative to the first stream's timestamp), inclusive."),
    op!("hint", JoinModifier, 1, 1, "hint(JoinHint::BroadcastSecond)",
        "After `equal_to` of a `join`, `left_outer_join` or `right_outer_join` without a window: `JoinHint::BroadcastSecond` (`join`, `left_outer_join`) sends the (small) second input whole to every subtask and leaves the first where it is, no shuffle (a broadcast hash join); `JoinHint::BroadcastFirst` (`join`, `right_outer_join`) does the same with the first input; `JoinHint::Repartition` partitions both by key. Without a hint the plan chooses at start, from the sources' estimated sizes (`--broadcast-threshold`)."),
    op!("lower_bound_exclusive", JoinModifier, 0, 0, "lower_bound_exclusive()", "After `between`: excludes the lower bound."),
    op!("upper_bound_exclusive", JoinModifier, 0, 0, "upper_bound_exclusive()", "After `between`: excludes the upper bound."),
    op!("apply", WindowFunction, 1, 1, "apply(f)",
        "Ends a window `join` (`|a, b| out`) or `co_group` (`|left, right| outputs`) after its `window(..)`."),
    op!("iterate", Iterate, 2, 2, "iterate(max_supersteps, |s| body)",
        "Bounded streams, batch mode: a bulk iteration. The body (a pipeline from `s`, in a closure) runs superstep by superstep, each on the previous one's output, at most `max_supersteps` times or until its output is empty; returning `(next, criterion)` also stops once `criterion` is empty. Streams from outside enter the body through joins (loop-invariant, kept across supersteps). The result is the last superstep's output."),
    op!("iterate_delta", Iterate, 4, 4, "iterate_delta(workset, max_supersteps, |x| key, |solution, workset| (delta, next_workset))",
        "Bounded streams, batch mode: a delta iteration. This stream is the initial solution set (one record per key), `workset` the initial workset; each superstep the body reads the workset, looks keys up in the solution set (`x.join(solution).where(|x| key).apply(|x, s| out)`), and returns the delta (records replacing the solution set's records of their keys, applied when the superstep ends) and the next workset; it ends when the workset is empty or after `max_supersteps`. The result is the solution set."),
    op!("print", Sink, 0, 0, "print()",
        "Writes each record's `Debug` form to stdout, prefixed by `subtask>` at parallelism > 1."),
    op!("write_lines", Sink, 2, 2, "write_lines(path, |x| line)",
        "Writes one line per record: a file at parallelism 1, a directory of `part-<subtask>` files above."),
    op!("collect", Sink, 1, 1, "collect(handle)",
        "Gathers records into a `Collected<T>` handle passed as a job parameter."),
    op!("discard", Sink, 0, 0, "discard()", "Drops every record (for benchmarks)."),
    op!("parallelism", Setting(Setting::Parallelism), 1, 1, "parallelism(n)",
        "Sets the number of subtasks of the operator before it."),
    op!("name", Setting(Setting::Name), 1, 1, "name(\"..\")", "Names the operator before it (errors, reports, --explain)."),
    op!("uid", Setting(Setting::Uid), 1, 1, "uid(\"..\")",
        "Stable identity of the operator before it, for its state across versions."),
    op!("start_new_chain", Setting(Setting::StartNewChain), 0, 0, "start_new_chain()",
        "Starts a new chain at the operator before it."),
    op!("disable_chaining", Setting(Setting::DisableChaining), 0, 0, "disable_chaining()",
        "Never chains the operator before it with its neighbours."),
    op!("state_ttl", Setting(Setting::StateTtl { event_time: false }), 1, 1, "state_ttl(duration)",
        "On a keyed `process`: a key's state expires after this much processing time untouched."),
    op!("state_ttl_event_time", Setting(Setting::StateTtl { event_time: true }), 1, 1,
        "state_ttl_event_time(duration)",
        "On a keyed `process`: a key's state expires once the watermark passes its last record's timestamp by this much."),
];

/// The window functions: `window(..).reduce(f)` and the others, each one node in the graph,
/// named `window_<function>`.
#[rustfmt::skip]
pub static WINDOW_FUNCTIONS: &[OpSpec] = &[
    op!("window_reduce", WindowFunction, 1, 2, "window(assigner).reduce(|a, b| ...) or reduce(|a, b| ..., |key, window, value| ...)", ""),
    op!("window_aggregate", WindowFunction, 1, 2, "window(assigner).aggregate(agg) or aggregate(agg, |key, window, result| ...)", ""),
    op!("window_count", WindowFunction, 0, 0, "window(assigner).count()", ""),
    op!("window_sum", WindowFunction, 0, 1, "window(assigner).sum(|x| field)", ""),
    op!("window_min", WindowFunction, 0, 1, "window(assigner).min(|x| field)", ""),
    op!("window_max", WindowFunction, 0, 1, "window(assigner).max(|x| field)", ""),
    op!("window_avg", WindowFunction, 0, 1, "window(assigner).avg(|x| field as f64)", ""),
    op!("window_process", WindowFunction, 1, 1, "window(assigner).process(|key, window, records| ...)", ""),
];

/// The joins' operators, each one node with two inputs.
#[rustfmt::skip]
pub static JOIN_NODES: &[OpSpec] = &[
    op!("window_join", Join, 1, 1, "a.join(b).where(|a| key).equal_to(|b| key).window(assigner).apply(|a, b| out)", ""),
    op!("window_left_outer_join", Join, 1, 1, "a.left_outer_join(b).where(|a| key).equal_to(|b| key).window(assigner).apply(|a, b: Option<&B>| out)", ""),
    op!("window_right_outer_join", Join, 1, 1, "a.right_outer_join(b).where(|a| key).equal_to(|b| key).window(assigner).apply(|a: Option<&A>, b| out)", ""),
    op!("window_full_outer_join", Join, 1, 1, "a.full_outer_join(b).where(|a| key).equal_to(|b| key).window(assigner).apply(|a: Option<&A>, b: Option<&B>| out)", ""),
    op!("batch_join", Join, 1, 1, "a.join(b).where(|a| key).equal_to(|b| key).apply(|a, b| out)", ""),
    op!("batch_left_outer_join", Join, 1, 1, "a.left_outer_join(b).where(|a| key).equal_to(|b| key).apply(|a, b: Option<&B>| out)", ""),
    op!("batch_right_outer_join", Join, 1, 1, "a.right_outer_join(b).where(|a| key).equal_to(|b| key).apply(|a: Option<&A>, b| out)", ""),
    op!("batch_full_outer_join", Join, 1, 1, "a.full_outer_join(b).where(|a| key).equal_to(|b| key).apply(|a: Option<&A>, b: Option<&B>| out)", ""),
    op!("batch_co_group", Join, 1, 1, "a.co_group(b).where(|a| key).equal_to(|b| key).apply(|left, right| outputs)", ""),
    op!("batch_cross", Join, 1, 1, "a.cross(b).apply(|a, b| out)", ""),
    op!("batch_broadcast_join", Join, 1, 1, "a.join(b).where(|a| key).equal_to(|b| key).hint(JoinHint::BroadcastSecond).apply(|a, b| out)", ""),
    op!("batch_broadcast_left_outer_join", Join, 1, 1, "a.left_outer_join(b).where(|a| key).equal_to(|b| key).hint(JoinHint::BroadcastSecond).apply(|a, b: Option<&B>| out)", ""),
    op!("batch_broadcast_first_join", Join, 1, 1, "a.join(b).where(|a| key).equal_to(|b| key).hint(JoinHint::BroadcastFirst).apply(|a, b| out)", ""),
    op!("batch_broadcast_first_right_outer_join", Join, 1, 1, "a.right_outer_join(b).where(|a| key).equal_to(|b| key).hint(JoinHint::BroadcastFirst).apply(|a: Option<&A>, b| out)", ""),
    op!("window_co_group", Join, 1, 1, "a.co_group(b).where(|a| key).equal_to(|b| key).window(assigner).apply(|left, right| outputs)", ""),
    op!("interval_join", Join, 1, 1, "a.key_by(..).interval_join(b).between(lower, upper).process(|a, b| out)", ""),
];

/// Whether the operator of this call sees its input only once it has ended (so needs a
/// bounded stream): `group_reduce`, `first(n, sort_key)`, `map_partition`, `sort_partition`,
/// and the joins without a window (`batch_*` nodes).
pub fn emits_at_end_of_input(name: &str, args: usize) -> bool {
    matches!(
        name,
        "group_reduce" | "map_partition" | "sort_partition" | "iterate" | "iterate_delta"
    ) || (name == "first" && args == 2)
        || name.starts_with("batch_")
}

/// The nodes of an iteration besides its head: the head's body and result sides, and the
/// sinks that end its body.
#[rustfmt::skip]
pub static ITERATION_NODES: &[OpSpec] = &[
    op!("iteration_step", Transform, 0, 0, "iterate(max, |s| ..)", ""),
    op!("iteration_result", Transform, 0, 0, "iterate(max, |s| ..)", ""),
    op!("iteration_feedback", Sink, 0, 0, "iterate(max, |s| next)", ""),
    op!("iteration_criterion", Sink, 0, 0, "iterate(max, |s| (next, criterion))", ""),
    op!("iteration_delta", Sink, 0, 0, "iterate_delta(.., |solution, workset| (delta, next_workset))", ""),
    op!("solution_join", Transform, 2, 2, "x.join(solution).where(|x| key).apply(|x, s| out)", ""),
];

/// The iteration node named `name`.
pub fn iteration_node(name: &str) -> &'static OpSpec {
    ITERATION_NODES
        .iter()
        .find(|op| op.name == name)
        .expect("an iteration node")
}

/// The entry for `name`.
pub fn lookup(name: &str) -> Option<&'static OpSpec> {
    OPERATORS.iter().find(|op| op.name == name)
}

/// The names a source statement may start with.
pub fn source_names() -> Vec<&'static str> {
    OPERATORS
        .iter()
        .filter(|op| matches!(op.family, Source { .. }))
        .map(|op| op.name)
        .collect()
}

/// The candidate closest to `name`, if it is close enough to be a typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|&(distance, candidate)| distance <= (candidate.len().max(name.len()) / 3).max(1))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = || OPERATORS.iter().map(|op| op.name);
        assert_eq!(nearest("mapp", names()), Some("map"));
        assert_eq!(nearest("flatmap", names()), Some("flat_map"));
        assert_eq!(nearest("keyby", names()), Some("key_by"));
        assert_eq!(nearest("zzzzzzzz", names()), None);
    }

    /// The README's DSL reference is this table; regenerate it with
    /// `cargo test -p dataflow-macros -- --ignored print_reference`.
    #[test]
    fn readme_reference_matches_the_table() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        for op in OPERATORS {
            let row = reference_row(op);
            assert!(
                readme.contains(&row),
                "README.md lacks the reference row:\n{row}"
            );
        }
    }

    fn reference_row(op: &OpSpec) -> String {
        format!("- `{}`: {}", op.signature, op.doc)
    }

    #[test]
    #[ignore = "prints the README's operator reference"]
    fn print_reference() {
        for op in OPERATORS {
            println!("{}", reference_row(op));
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, op) in OPERATORS.iter().enumerate() {
            assert!(
                OPERATORS[i + 1..].iter().all(|other| other.name != op.name),
                "{}",
                op.name
            );
        }
    }
}
