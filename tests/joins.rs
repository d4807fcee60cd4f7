//! Joins of two streams: window joins (tumbling, sliding, session windows), co-groups as
//! full outer joins, and interval joins (inclusive and exclusive bounds, output timestamps,
//! state cleanup on a long stream), each against a nested-loop model of its input.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;

use dataflow::prelude::*;
use dataflow::runtime::window::EventTimeWindows;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A record of either input: `(key, timestamp, value)`.
type Rec = (u64, i64, u64);

/// A pair of joined records with the output's timestamp: `(key, ta, va, tb, vb, ts)`.
type Pair = (u64, i64, u64, i64, u64, i64);

/// A record's timestamp and value.
type Side = (i64, u64);

/// A full outer join row with its window's `end - 1`: `(key, a, b, ts)`.
type OuterRow = (u64, Option<Side>, Option<Side>, i64);

/// A row of [`full_outer`]: `(key, a, b)`.
type OuterJoined = (u64, Option<Side>, Option<Side>);

/// A record of the long streams: `(key, timestamp)`.
type Stamped = (u64, i64);

/// `n` records over `keys` keys, timestamps rising by `step` ms each with up to 20 ms of
/// disorder.
fn events(seed: u64, n: usize, keys: u64, step: i64) -> Vec<Rec> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let ts = i as i64 * step - rng.gen_range(0..20);
            (rng.gen_range(0..keys), ts, rng.gen_range(0..1000))
        })
        .collect()
}

fn config(p: usize, streaming: bool) -> JobConfig {
    JobConfig {
        mode: if streaming {
            ExecutionMode::Streaming
        } else {
            ExecutionMode::Batch
        },
        ..JobConfig::with_parallelism(p)
    }
}

/// Every combination of parallelism and mode the tests run.
const SETUPS: [(usize, bool); 6] = [
    (1, true),
    (2, true),
    (4, true),
    (1, false),
    (2, false),
    (4, false),
];

/// The starts of the windows `[s, s + size)`, `s` a multiple of `slide`, holding `t`.
fn window_starts(t: i64, size: i64, slide: i64) -> Vec<i64> {
    let mut starts = Vec::new();
    let mut start = t - t.rem_euclid(slide);
    while start > t - size {
        starts.push(start);
        start -= slide;
    }
    starts
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// The records of `got` missing from `expected` and the other way round (both sorted), a
/// few of each, for readable failures.
fn diff<T: Ord + Clone>(got: &[T], expected: &[T]) -> (Vec<T>, Vec<T>) {
    let count = |v: &[T]| {
        let mut m: BTreeMap<T, i64> = BTreeMap::new();
        for x in v {
            *m.entry(x.clone()).or_default() += 1;
        }
        m
    };
    let (g, e) = (count(got), count(expected));
    let extra = g
        .iter()
        .filter(|(k, n)| e.get(*k).copied().unwrap_or(0) < **n)
        .map(|(k, _)| k.clone())
        .take(5)
        .collect();
    let missing = e
        .iter()
        .filter(|(k, n)| g.get(*k).copied().unwrap_or(0) < **n)
        .map(|(k, _)| k.clone())
        .take(5)
        .collect();
    (missing, extra)
}

fn assert_same<T: Ord + Clone + std::fmt::Debug>(got: &[T], expected: &[T], what: &str) {
    if got != expected {
        let (missing, extra) = diff(got, expected);
        panic!(
            "{what}: {} results, expected {}; missing e.g. {missing:?}, extra e.g. {extra:?}",
            got.len(),
            expected.len()
        );
    }
}

dataflow! {
    /// An inner window join of `a` and `b` on the key, each pair with its window's `end - 1`.
    job window_join(a: Vec<Rec>, b: Vec<Rec>, windows: EventTimeWindows, out: Collected<Pair>) {
        let left = from_iter(a)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(50)));
        let right = from_iter(b)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(50)));
        left.join(right)
            .where(|x| x.0)
            .equal_to(|y| y.0)
            .window(windows)
            .apply(|x, y| (x.0, x.1, x.2, y.1, y.2))
            .process(|e, ctx| ctx.output((e.0, e.1, e.2, e.3, e.4, ctx.timestamp().unwrap())))
            .collect(out);
    }
}

/// The window join by nested loops: every pair with equal keys, once per window
/// `[s, s + size)` (`s` a multiple of `slide`) holding both, at the window's `end - 1`.
fn window_join_model(a: &[Rec], b: &[Rec], size: i64, slide: i64) -> Vec<Pair> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if x.0 != y.0 {
                continue;
            }
            for s in window_starts(x.1, size, slide) {
                if y.1 >= s && y.1 < s + size {
                    out.push((x.0, x.1, x.2, y.1, y.2, s + size - 1));
                }
            }
        }
    }
    sorted(out)
}

/// Runs the window join with `windows` (of `size` every `slide`) in every setup against
/// the model.
fn run_window_join(a: &[Rec], b: &[Rec], windows: EventTimeWindows, size: i64, slide: i64) {
    let expected = window_join_model(a, b, size, slide);
    assert!(expected.len() > 100);
    for (p, streaming) in SETUPS {
        let out = Collected::new();
        window_join::run(
            &config(p, streaming),
            a.to_vec(),
            b.to_vec(),
            windows,
            out.clone(),
        )
        .unwrap();
        assert_same(
            &sorted(out.take()),
            &expected,
            &format!("size {size}, slide {slide}, p = {p}, streaming = {streaming}"),
        );
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(ms as u64)
}

#[test]
fn tumbling_window_join_emits_every_pair_of_a_key_and_window() {
    for (seed, size) in [(1, 50), (2, 50), (3, 40)] {
        let a = events(seed, 600, 5, 3);
        let b = events(seed + 100, 500, 6, 4);
        let windows = TumblingEventTimeWindows::of(millis(size));
        run_window_join(&a, &b, windows, size, size);
    }
}

#[test]
fn sliding_window_join_emits_a_pair_once_per_common_window() {
    // Windows overlapping (a pair in up to 5 or 3 windows) and with gaps between them.
    for (seed, size, slide) in [(4, 50, 10), (5, 60, 25), (6, 30, 45)] {
        let a = events(seed, 400, 4, 3);
        let b = events(seed + 100, 400, 5, 3);
        let windows = SlidingEventTimeWindows::of(millis(size), millis(slide));
        run_window_join(&a, &b, windows, size, slide);
    }
}

dataflow! {
    /// A full outer join per key and window as a co-group: pairs where both sides have
    /// records, the other side `None` where only one has.
    job outer_join(a: Vec<Rec>, b: Vec<Rec>, windows: EventTimeWindows, out: Collected<OuterRow>) {
        let left = from_iter(a)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(50)));
        let right = from_iter(b)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(50)));
        left.co_group(right)
            .where(|x| x.0)
            .equal_to(|y| y.0)
            .window(windows)
            .apply(|xs: Vec<Rec>, ys: Vec<Rec>| full_outer(xs, ys))
            .process(|e, ctx| ctx.output((e.0, e.1, e.2, ctx.timestamp().unwrap())))
            .collect(out);
    }
}

/// The rows of a full outer join of one key's records.
fn full_outer(xs: Vec<Rec>, ys: Vec<Rec>) -> Vec<OuterJoined> {
    let key = xs.first().or(ys.first()).expect("a co-group has records").0;
    if ys.is_empty() {
        xs.iter().map(|x| (key, Some((x.1, x.2)), None)).collect()
    } else if xs.is_empty() {
        ys.iter().map(|y| (key, None, Some((y.1, y.2)))).collect()
    } else {
        let mut rows = Vec::new();
        for x in &xs {
            for y in &ys {
                rows.push((key, Some((x.1, x.2)), Some((y.1, y.2))));
            }
        }
        rows
    }
}

/// The full outer join by nested loops: per key and window, each record joined with every
/// record of the other side in it, or with `None` if there is none.
fn outer_join_model(a: &[Rec], b: &[Rec], size: i64, slide: i64) -> Vec<OuterRow> {
    let mut out = Vec::new();
    for x in a {
        for s in window_starts(x.1, size, slide) {
            let mut matched = false;
            for y in b {
                if y.0 == x.0 && y.1 >= s && y.1 < s + size {
                    matched = true;
                    out.push((x.0, Some((x.1, x.2)), Some((y.1, y.2)), s + size - 1));
                }
            }
            if !matched {
                out.push((x.0, Some((x.1, x.2)), None, s + size - 1));
            }
        }
    }
    for y in b {
        for s in window_starts(y.1, size, slide) {
            if !a.iter().any(|x| x.0 == y.0 && x.1 >= s && x.1 < s + size) {
                out.push((y.0, None, Some((y.1, y.2)), s + size - 1));
            }
        }
    }
    sorted(out)
}

#[test]
fn co_group_expresses_a_full_outer_join() {
    // Many keys and few records per window, so that many windows have one side only.
    for (seed, size, slide) in [(7, 20, 20), (8, 30, 10)] {
        let a = events(seed, 400, 12, 3);
        let b = events(seed + 100, 300, 15, 4);
        let expected = outer_join_model(&a, &b, size, slide);
        let (left_only, right_only) = (
            expected.iter().filter(|r| r.2.is_none()).count(),
            expected.iter().filter(|r| r.1.is_none()).count(),
        );
        assert!(left_only > 10 && right_only > 10 && expected.len() > left_only + right_only);
        for (p, streaming) in SETUPS {
            let out = Collected::new();
            let windows = SlidingEventTimeWindows::of(millis(size), millis(slide));
            outer_join::run(
                &config(p, streaming),
                a.clone(),
                b.clone(),
                windows,
                out.clone(),
            )
            .unwrap();
            assert_same(
                &sorted(out.take()),
                &expected,
                &format!("size {size}, slide {slide}, p = {p}, streaming = {streaming}"),
            );
        }
    }
}

dataflow! {
    /// Interval joins of `a` and `b` with the bounds inclusive, the lower one exclusive, the
    /// upper one exclusive and both exclusive; each pair with its output timestamp. The
    /// inclusive join's output is also counted per key in 25 ms event-time windows.
    job interval_joins(
        a: Vec<Rec>,
        b: Vec<Rec>,
        lower: i64,
        upper: i64,
        inclusive: Collected<Pair>,
        lower_exclusive: Collected<Pair>,
        upper_exclusive: Collected<Pair>,
        both_exclusive: Collected<Pair>,
        counts: Collected<(u64, i64, u64)>,
    ) {
        let left = from_iter(a)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(50)))
            .key_by(|x| x.0);
        let right = from_iter(b)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(50)))
            .key_by(|y| y.0);
        let joined = left
            .interval_join(right)
            .between(lower, upper)
            .process(|x, y| (x.0, x.1, x.2, y.1, y.2));
        joined
            .process(|e, ctx| ctx.output((e.0, e.1, e.2, e.3, e.4, ctx.timestamp().unwrap())))
            .collect(inclusive);
        joined
            .key_by(|e| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(25)))
            .count()
            .process(|(key, n), ctx| ctx.output((key, ctx.timestamp().unwrap(), n)))
            .collect(counts);
        left.interval_join(right)
            .between(lower, upper)
            .lower_bound_exclusive()
            .process(|x, y| (x.0, x.1, x.2, y.1, y.2))
            .process(|e, ctx| ctx.output((e.0, e.1, e.2, e.3, e.4, ctx.timestamp().unwrap())))
            .collect(lower_exclusive);
        left.interval_join(right)
            .between(lower, upper)
            .upper_bound_exclusive()
            .process(|x, y| (x.0, x.1, x.2, y.1, y.2))
            .process(|e, ctx| ctx.output((e.0, e.1, e.2, e.3, e.4, ctx.timestamp().unwrap())))
            .collect(upper_exclusive);
        left.interval_join(right)
            .between(lower, upper)
            .lower_bound_exclusive()
            .upper_bound_exclusive()
            .process(|x, y| (x.0, x.1, x.2, y.1, y.2))
            .process(|e, ctx| ctx.output((e.0, e.1, e.2, e.3, e.4, ctx.timestamp().unwrap())))
            .collect(both_exclusive);
    }
}

/// The interval join by nested loops: `x` at `ta` with every `y` of its key at `tb` with
/// `ta + lower <= tb <= ta + upper` (`<` for an exclusive bound), at `max(ta, tb)`.
fn interval_join_model(
    a: &[Rec],
    b: &[Rec],
    lower: i64,
    upper: i64,
    lower_exclusive: bool,
    upper_exclusive: bool,
) -> Vec<Pair> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let (lo, hi) = (x.1 + lower, x.1 + upper);
            let above = if lower_exclusive { y.1 > lo } else { y.1 >= lo };
            let below = if upper_exclusive { y.1 < hi } else { y.1 <= hi };
            if x.0 == y.0 && above && below {
                out.push((x.0, x.1, x.2, y.1, y.2, x.1.max(y.1)));
            }
        }
    }
    sorted(out)
}

#[test]
fn interval_join_matches_the_model_with_inclusive_and_exclusive_bounds() {
    for (seed, lower, upper) in [(9, -10, 15), (10, -25, -5), (11, 5, 30), (12, -1, 1)] {
        let a = events(seed, 500, 4, 4);
        let b = events(seed + 100, 500, 5, 4);
        let model = |lx, ux| interval_join_model(&a, &b, lower, upper, lx, ux);
        let expected = [
            model(false, false),
            model(true, false),
            model(false, true),
            model(true, true),
        ];
        // The bounds matter: each exclusive variant loses pairs at the bound.
        assert!(expected[0].len() > expected[1].len() && expected[0].len() > expected[2].len());
        assert!(expected[1].len() > expected[3].len() && expected[2].len() > expected[3].len());
        // The inclusive join's pairs counted per key and 25 ms window of their timestamps.
        let mut windows: BTreeMap<(u64, i64), u64> = BTreeMap::new();
        for pair in &expected[0] {
            *windows
                .entry((pair.0, pair.5 - pair.5.rem_euclid(25) + 24))
                .or_default() += 1;
        }
        let expected_counts: Vec<(u64, i64, u64)> =
            windows.into_iter().map(|((k, t), n)| (k, t, n)).collect();
        for (p, streaming) in SETUPS {
            let outs: [Collected<Pair>; 4] = std::array::from_fn(|_| Collected::new());
            let counts = Collected::new();
            interval_joins::run(
                &config(p, streaming),
                a.clone(),
                b.clone(),
                lower,
                upper,
                outs[0].clone(),
                outs[1].clone(),
                outs[2].clone(),
                outs[3].clone(),
                counts.clone(),
            )
            .unwrap();
            let names = [
                "inclusive",
                "lower exclusive",
                "upper exclusive",
                "both exclusive",
            ];
            for ((out, expected), name) in outs.iter().zip(&expected).zip(names) {
                assert_same(
                    &sorted(out.take()),
                    expected,
                    &format!("between({lower}, {upper}) {name}, p = {p}, streaming = {streaming}"),
                );
            }
            assert_same(
                &sorted(counts.take()),
                &expected_counts,
                &format!(
                    "windowed counts, between({lower}, {upper}), p = {p}, streaming = {streaming}"
                ),
            );
        }
    }
}

dataflow! {
    /// A window join over event-time sessions with a 10 ms gap, each pair with its
    /// session's `end - 1`.
    job session_join(a: Vec<(u64, i64)>, b: Vec<(u64, i64)>, out: Collected<(u64, i64, i64, i64)>) {
        let left = from_iter(a)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)));
        let right = from_iter(b)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)));
        left.join(right)
            .where(|x| x.0)
            .equal_to(|y| y.0)
            .window(EventTimeSessionWindows::with_gap(Duration::from_millis(10)))
            .apply(|x, y| (x.0, x.1, y.1))
            .process(|e, ctx| ctx.output((e.0, e.1, e.2, ctx.timestamp().unwrap())))
            .collect(out);
    }
}

#[test]
fn a_session_join_forms_sessions_over_both_inputs() {
    // Key 1: `a`'s records at 0 and 5 (session [0, 15)) and at 20 and 24 (session
    // [20, 34)) are 15 ms apart, more than the gap; `b`'s record at 12 (its own session
    // [12, 22)) overlaps both and merges them into one session [0, 34): four pairs.
    // Key 2: the same `a` records with `b` at 30 instead, which only merges with
    // [20, 34), into [20, 40): two pairs, and [0, 15) has no `b` record.
    // Key 3: `b` at 60 is 60 ms after `a` at 0: separate sessions, no pair.
    // Key 4: a session [100, 117) of `a` at 100 and `b` at 103 and 107, and a later one of
    // `b` alone at 150.
    let a = vec![
        (1, 0),
        (2, 0),
        (3, 0),
        (1, 5),
        (2, 5),
        (1, 20),
        (2, 20),
        (1, 24),
        (2, 24),
        (4, 100),
    ];
    let b = vec![(1, 12), (2, 30), (3, 60), (4, 103), (4, 107), (4, 150)];
    let expected = vec![
        (1, 0, 12, 33),
        (1, 5, 12, 33),
        (1, 20, 12, 33),
        (1, 24, 12, 33),
        (2, 20, 30, 39),
        (2, 24, 30, 39),
        (4, 100, 103, 116),
        (4, 100, 107, 116),
    ];
    for (p, streaming) in SETUPS {
        let out = Collected::new();
        session_join::run(&config(p, streaming), a.clone(), b.clone(), out.clone()).unwrap();
        assert_eq!(
            sorted(out.take()),
            expected,
            "p = {p}, streaming = {streaming}"
        );
    }
}

dataflow! {
    /// An interval join of two long in-order streams, watermarks 2 ms behind the highest
    /// timestamp (periodic, every 200 ms); each pair as `(key, ta, tb)`.
    job long_interval_join(a: Vec<(u64, i64)>, b: Vec<(u64, i64)>, lower: i64, upper: i64, out: Collected<(u64, i64, i64)>) {
        let left = from_iter(a)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(2)))
            .parallelism(1)
            .key_by(|x| x.0);
        let right = from_iter(b)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(2)))
            .parallelism(1)
            .key_by(|y| y.0);
        left.interval_join(right)
            .between(lower, upper)
            .process(|x, y| (x.0, x.1, y.1))
            .collect(out);
    }
}

dataflow! {
    /// The same join with a watermark after every record, 3 ms behind it (what a 2 ms
    /// out-of-orderness bound gives): the buffers are cleaned up record by record.
    job long_interval_join_punctuated(a: Vec<(u64, i64)>, b: Vec<(u64, i64)>, lower: i64, upper: i64, out: Collected<(u64, i64, i64)>) {
        let left = from_iter(a)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(|e: &(u64, i64), _| Some(e.1 - 3)))
            .parallelism(1)
            .key_by(|x| x.0);
        let right = from_iter(b)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(|e: &(u64, i64), _| Some(e.1 - 3)))
            .parallelism(1)
            .key_by(|y| y.0);
        left.interval_join(right)
            .between(lower, upper)
            .process(|x, y| (x.0, x.1, y.1))
            .collect(out);
    }
}

/// Records per side of the long interval joins.
const LONG: i64 = 200_000;

/// `n` records per side: `a` at i and `b` at i + 3 (a 3 ms lag), both of key i % 8.
fn long_inputs(n: i64) -> (Vec<Stamped>, Vec<Stamped>) {
    let a = (0..n).map(|i| ((i % 8) as u64, i)).collect();
    let b = (0..n).map(|i| ((i % 8) as u64, i + 3)).collect();
    (a, b)
}

/// The long join's model: the nested loop over `b` narrowed to the timestamps in range
/// (`b`'s record at tb is number tb - 3).
fn long_model(a: &[Stamped], b: &[Stamped], lower: i64, upper: i64) -> Vec<(u64, i64, i64)> {
    let mut expected = Vec::new();
    for &(key, ta) in a {
        for tb in ta + lower..=ta + upper {
            let j = tb - 3;
            if (0..b.len() as i64).contains(&j) && b[j as usize].0 == key {
                expected.push((key, ta, tb));
            }
        }
    }
    assert!(expected.len() > a.len() / 2);
    sorted(expected)
}

/// How to run a long join.
#[derive(Debug, Clone, Copy)]
enum Long {
    /// Streaming, periodic watermarks.
    Periodic,
    /// Streaming, a watermark after every record.
    PerRecord,
    /// Batch mode: the timers all fire at the end of the input.
    Batch,
}

/// Runs a long join; fails if it takes longer than `timeout`. Returns the sorted pairs and
/// how long the job took.
fn run_long(
    how: Long,
    a: &[Stamped],
    b: &[Stamped],
    lower: i64,
    upper: i64,
    p: usize,
    timeout: Duration,
) -> (Vec<(u64, i64, i64)>, Duration) {
    let (tx, rx) = mpsc::channel();
    let (a, b) = (a.to_vec(), b.to_vec());
    let n = a.len();
    let started = std::time::Instant::now();
    thread::spawn(move || {
        let out = Collected::new();
        let result = match how {
            Long::Periodic => {
                long_interval_join::run(&config(p, true), a, b, lower, upper, out.clone())
            }
            Long::Batch => {
                long_interval_join::run(&config(p, false), a, b, lower, upper, out.clone())
            }
            Long::PerRecord => long_interval_join_punctuated::run(
                &config(p, true),
                a,
                b,
                lower,
                upper,
                out.clone(),
            ),
        };
        let _ = tx.send(result.map(|_| out.take()));
    });
    let got = rx
        .recv_timeout(timeout)
        .unwrap_or_else(|_| {
            panic!("{how:?}, {n} records, between({lower}, {upper}), p = {p}: the job did not finish in {timeout:?}")
        })
        .unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "{how:?}, {n} records, between({lower}, {upper}), p = {p}: {} pairs in {elapsed:?}",
        got.len(),
    );
    (sorted(got), elapsed)
}

#[test]
fn interval_join_cleanup_keeps_every_record_a_partner_still_needs() {
    // Watermarks after every record, so that each side's buffers are cleaned up while the
    // stream runs: the cleanup must not drop a record a later partner still joins with.
    // Partners are 3 + 8m ms apart: (3, 11) and (-21, -5) join exactly at their bounds
    // (3 and 11; -21), where a record's partner comes at the last moment it is kept.
    let (a, b) = long_inputs(LONG);
    for (lower, upper, ps) in [
        (-10, 20, &[1, 2, 4][..]),
        (3, 11, &[1, 2]),
        (-21, -5, &[1, 2]),
    ] {
        let expected = long_model(&a, &b, lower, upper);
        for &p in ps {
            let (got, _) = run_long(
                Long::PerRecord,
                &a,
                &b,
                lower,
                upper,
                p,
                Duration::from_secs(300),
            );
            assert_eq!(
                got.len(),
                expected.len(),
                "between({lower}, {upper}), p = {p}"
            );
            assert_same(
                &got,
                &expected,
                &format!("between({lower}, {upper}), p = {p}"),
            );
        }
    }
}

#[test]
fn interval_join_cleanup_is_right_when_the_watermark_lags_behind_the_records() {
    // In batch mode every timer fires at the end of the input, when the buffers hold the
    // whole input; with the usual periodic watermarks (every 200 ms) the sources run ahead of
    // the join, whose buffers hold much of the stream when the watermark moves. Both must
    // give the reference (and, with the cleanup popping only what is due, finish quickly:
    // the guard in `run_long` only catches a hang).
    let (lower, upper) = (-10, 20);
    let (a, b) = long_inputs(40_000);
    let (got, _) = run_long(
        Long::Batch,
        &a,
        &b,
        lower,
        upper,
        1,
        Duration::from_secs(300),
    );
    assert_same(
        &got,
        &long_model(&a, &b, lower, upper),
        "batch, 40k records",
    );
    let (a, b) = long_inputs(LONG);
    let expected = long_model(&a, &b, lower, upper);
    for p in [4, 2, 1] {
        let (got, _) = run_long(
            Long::Periodic,
            &a,
            &b,
            lower,
            upper,
            p,
            Duration::from_secs(300),
        );
        assert_same(&got, &expected, &format!("periodic, p = {p}"));
    }
}
