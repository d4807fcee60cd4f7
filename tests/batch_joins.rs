//! Joins of bounded streams without windows (hash joins at end of input): inner, left, right
//! and full outer joins, co-group and cross, each against a nested-loop reference on random
//! inputs with keys on one side only (the outer joins' `None`s), at parallelism 1 and 2, in
//! batch and streaming mode.

mod common;

use common::random_pairs;
use dataflow::prelude::*;

fn configs() -> Vec<JobConfig> {
    let mut configs = Vec::new();
    for p in [1, 2] {
        for mode in [ExecutionMode::Batch, ExecutionMode::Streaming] {
            configs.push(JobConfig {
                mode,
                ..JobConfig::with_parallelism(p)
            });
        }
    }
    configs
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Left keys 0..30, right keys 20..50 (shifted): keys 0..20 only left, 30..50 only right.
fn inputs() -> (Pairs, Pairs) {
    let left = random_pairs(300, 30, 7);
    let right = random_pairs(300, 30, 8)
        .into_iter()
        .map(|(k, v)| (k + 20, v))
        .collect();
    (left, right)
}

type Row = (Option<u64>, Option<u64>, Option<u64>);

type Pairs = Vec<(u64, u64)>;

/// A job's `run`: left and right inputs, rows out.
type JoinJob = fn(&JobConfig, Pairs, Pairs, Collected<Row>) -> dataflow::Result<JobReport>;

/// The nested-loop reference: pairs of equal keys, plus (for outer joins) each side's
/// unmatched records with `None` for the other.
fn nested_loop(
    left: &[(u64, u64)],
    right: &[(u64, u64)],
    keep_left: bool,
    keep_right: bool,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for a in left {
        let mut matched = false;
        for b in right {
            if a.0 == b.0 {
                matched = true;
                rows.push((Some(a.0), Some(a.1), Some(b.1)));
            }
        }
        if !matched && keep_left {
            rows.push((Some(a.0), Some(a.1), None));
        }
    }
    if keep_right {
        for b in right {
            if left.iter().all(|a| a.0 != b.0) {
                rows.push((Some(b.0), None, Some(b.1)));
            }
        }
    }
    sorted(rows)
}

dataflow! {
    job inner(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right);
        from_iter(left)
            .join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (Some(a.0), Some(a.1), Some(b.1)))
            .collect(out);
    }

    job left_outer(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right);
        from_iter(left)
            .left_outer_join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (Some(a.0), Some(a.1), b.map(|b| b.1)))
            .collect(out);
    }

    job right_outer(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right);
        from_iter(left)
            .right_outer_join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (Some(b.0), a.map(|a| a.1), Some(b.1)))
            .collect(out);
    }

    job broadcast_inner(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right);
        from_iter(left)
            .join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastSecond)
            .apply(|a, b| (Some(a.0), Some(a.1), Some(b.1)))
            .collect(out);
    }

    job broadcast_left_outer(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right);
        generate(left.len() as u64, move |i| left[i as usize])
            .left_outer_join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastSecond)
            .apply(|a, b| (Some(a.0), Some(a.1), b.map(|b| b.1)))
            .collect(out);
    }

    job broadcast_first_inner(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = generate(right.len() as u64, move |i| right[i as usize]);
        from_iter(left)
            .join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastFirst)
            .apply(|a, b| (Some(a.0), Some(a.1), Some(b.1)))
            .collect(out);
    }

    job broadcast_first_right_outer(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = generate(right.len() as u64, move |i| right[i as usize]);
        from_iter(left)
            .right_outer_join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastFirst)
            .apply(|a, b| (Some(b.0), a.map(|a| a.1), Some(b.1)))
            .collect(out);
    }

    job full_outer(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right);
        from_iter(left)
            .full_outer_join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (a.or(b).map(|x| x.0), a.map(|a| a.1), b.map(|b| b.1)))
            .collect(out);
    }
}

#[test]
fn inner_and_outer_joins_equal_a_nested_loop() {
    let (left, right) = inputs();
    let cases: [(JoinJob, bool, bool, &str); 8] = [
        (inner::run, false, false, "inner"),
        (broadcast_inner::run, false, false, "broadcast inner"),
        (
            broadcast_left_outer::run,
            true,
            false,
            "broadcast left outer",
        ),
        (
            broadcast_first_inner::run,
            false,
            false,
            "broadcast first inner",
        ),
        (
            broadcast_first_right_outer::run,
            false,
            true,
            "broadcast first right outer",
        ),
        (left_outer::run, true, false, "left outer"),
        (right_outer::run, false, true, "right outer"),
        (full_outer::run, true, true, "full outer"),
    ];
    for (run, keep_left, keep_right, name) in cases {
        let expected = nested_loop(&left, &right, keep_left, keep_right);
        assert!(
            expected.iter().any(|r| r.1.is_some() && r.2.is_some()),
            "{name}: no pairs"
        );
        if keep_left {
            assert!(
                expected.iter().any(|r| r.2.is_none()),
                "{name}: no left-only rows"
            );
        }
        if keep_right {
            assert!(
                expected.iter().any(|r| r.1.is_none()),
                "{name}: no right-only rows"
            );
        }
        for config in configs() {
            let out = Collected::new();
            run(&config, left.clone(), right.clone(), out.clone()).unwrap();
            assert_eq!(out.take_sorted(), expected, "{name}, {config:?}");
        }
    }
}

dataflow! {
    /// Per key: how many records each side has, and their sums.
    job grouped(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<(u64, usize, usize, u64)>) {
        let r = from_iter(right);
        from_iter(left)
            .co_group(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|l: Vec<(u64, u64)>, r: Vec<(u64, u64)>| {
                let key = l.first().or(r.first()).map(|x| x.0).unwrap();
                let sum = l.iter().chain(&r).map(|x| x.1).sum();
                Some((key, l.len(), r.len(), sum))
            })
            .collect(out);
    }

    job pairs_of(n: u64, small: Vec<u64>, out: Collected<(u64, u64)>) {
        let s = from_iter(small);
        generate(n, |i| i).cross(s).apply(|a, b| (*a, *b)).collect(out);
    }
}

#[test]
fn co_group_sees_both_sides_of_every_key_once() {
    let (left, right) = inputs();
    let mut expected = Vec::new();
    for key in 0..50 {
        let l: Vec<_> = left.iter().filter(|x| x.0 == key).collect();
        let r: Vec<_> = right.iter().filter(|x| x.0 == key).collect();
        if l.is_empty() && r.is_empty() {
            continue;
        }
        let sum = l.iter().chain(&r).map(|x| x.1).sum();
        expected.push((key, l.len(), r.len(), sum));
    }
    for config in configs() {
        let out = Collected::new();
        grouped::run(&config, left.clone(), right.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "{config:?}");
    }
}

#[test]
fn cross_pairs_every_record_with_every_record_of_the_other_side() {
    let small = vec![10, 20, 30];
    let expected: Vec<(u64, u64)> = sorted(
        (0..50)
            .flat_map(|a| small.iter().map(move |&b| (a, b)))
            .collect(),
    );
    for config in configs() {
        let out = Collected::new();
        pairs_of::run(&config, 50, small.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "{config:?}");
    }
}

dataflow! {
    /// A window left outer join: per key and 10 ms window, pairs, and lefts without partners.
    job windowed_left_outer(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<(u64, u64, Option<u64>)>) {
        let r = from_iter(right)
            .assign_timestamps(|b| b.1 as i64, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(1000)));
        from_iter(left)
            .assign_timestamps(|a| a.1 as i64, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(1000)))
            .left_outer_join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .apply(|a, b| (a.0, a.1, b.map(|b| b.1)))
            .collect(out);
    }
}

#[test]
fn a_window_outer_join_pairs_within_windows_and_keeps_the_unmatched() {
    // Values are timestamps: pairs must share a key and a 10 ms window.
    let (left, right) = inputs();
    let mut expected = Vec::new();
    for a in &left {
        let partners: Vec<_> = right
            .iter()
            .filter(|b| b.0 == a.0 && b.1 / 10 == a.1 / 10)
            .collect();
        if partners.is_empty() {
            expected.push((a.0, a.1, None));
        }
        expected.extend(partners.iter().map(|b| (a.0, a.1, Some(b.1))));
    }
    let expected = sorted(expected);
    assert!(expected.iter().any(|r| r.2.is_some()) && expected.iter().any(|r| r.2.is_none()));
    for config in configs() {
        let out = Collected::new();
        windowed_left_outer::run(&config, left.clone(), right.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "{config:?}");
    }
}

dataflow! {
    /// A generated (parallel) first input against a collection.
    job generated_inner(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right);
        generate(left.len() as u64, move |i| left[i as usize])
            .join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (Some(a.0), Some(a.1), Some(b.1)))
            .collect(out);
    }

    job forced_repartition(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right);
        from_iter(left)
            .join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::Repartition)
            .apply(|a, b| (Some(a.0), Some(a.1), Some(b.1)))
            .collect(out);
    }
}

/// Runs `run` and checks its rows against the nested loop; returns the strategy the plan
/// chose and the records the join received.
fn run_checked(
    run: JoinJob,
    config: &JobConfig,
    (left, right): (&Pairs, &Pairs),
    (keep_left, keep_right): (bool, bool),
) -> (Option<JoinStrategy>, u64) {
    let out = Collected::new();
    let report = run(config, left.clone(), right.clone(), out.clone()).unwrap();
    assert_eq!(
        out.take_sorted(),
        nested_loop(left, right, keep_left, keep_right),
        "{config:?}"
    );
    let join = report
        .operators
        .iter()
        .find(|op| op.name.contains("join"))
        .expect("the join reports");
    (report.join_strategy(join.name), join.records_in)
}

#[test]
fn the_plan_broadcasts_a_small_input_and_repartitions_large_ones() {
    // Keys 0..30 on both sides: 3000 records against 30 (480 bytes estimated).
    let large = random_pairs(3000, 30, 11);
    let small = random_pairs(30, 30, 12);
    let (big, tiny) = (large.len() as u64, small.len() as u64);
    // A threshold between the two sizes: at p = 1, broadcasting either input moves nothing,
    // so the default threshold would broadcast the large one too.
    let batch = |p| JobConfig {
        mode: ExecutionMode::Batch,
        broadcast_threshold: 4096,
        ..JobConfig::with_parallelism(p)
    };
    for p in [1, 2, 3] {
        // The small second input goes to every subtask; the first stays where it is,
        // whether it comes from one subtask (a collection) or from p (a generator).
        for run in [inner::run as JoinJob, generated_inner::run] {
            let (strategy, records_in) =
                run_checked(run, &batch(p), (&large, &small), (false, false));
            assert_eq!(strategy, Some(JoinStrategy::BroadcastSecond), "p = {p}");
            assert_eq!(records_in, big + p as u64 * tiny, "p = {p}");
        }
        // The small first input of an inner join or a right outer join is broadcast.
        let (strategy, records_in) =
            run_checked(inner::run, &batch(p), (&small, &large), (false, false));
        assert_eq!(strategy, Some(JoinStrategy::BroadcastFirst), "p = {p}");
        assert_eq!(records_in, p as u64 * tiny + big, "p = {p}");
        let (strategy, _) =
            run_checked(right_outer::run, &batch(p), (&small, &large), (false, true));
        assert_eq!(strategy, Some(JoinStrategy::BroadcastFirst), "p = {p}");
        // The input an outer join keeps is never broadcast.
        let (strategy, records_in) =
            run_checked(left_outer::run, &batch(p), (&small, &large), (true, false));
        assert_eq!(strategy, Some(JoinStrategy::Repartition), "p = {p}");
        assert_eq!(records_in, tiny + big, "p = {p}");
        let (strategy, _) =
            run_checked(right_outer::run, &batch(p), (&large, &small), (false, true));
        assert_eq!(strategy, Some(JoinStrategy::Repartition), "p = {p}");
        let (strategy, _) =
            run_checked(left_outer::run, &batch(p), (&large, &small), (true, false));
        assert_eq!(strategy, Some(JoinStrategy::BroadcastSecond), "p = {p}");
    }
    // Over the threshold, in streaming mode, or with the hint: both inputs repartitioned.
    let no_broadcast = JobConfig {
        broadcast_threshold: 0,
        ..batch(2)
    };
    let streaming = JobConfig {
        mode: ExecutionMode::Streaming,
        ..batch(2)
    };
    for config in [no_broadcast, streaming] {
        let (strategy, records_in) =
            run_checked(inner::run, &config, (&large, &small), (false, false));
        assert_eq!(strategy, Some(JoinStrategy::Repartition), "{config:?}");
        assert_eq!(records_in, big + tiny, "{config:?}");
    }
    let (strategy, records_in) = run_checked(
        forced_repartition::run,
        &batch(2),
        (&large, &small),
        (false, false),
    );
    assert_eq!(strategy, None, "the hint leaves nothing to choose");
    assert_eq!(records_in, big + tiny);
}

/// How many pairs each probing job's function has built so far (one counter per job: tests
/// run in parallel).
static CHOSEN_PAIRS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static HINTED_PAIRS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Record `i` of `n` on the large side: its last record waits (up to 20 s) until the join has
/// paired some records, and says whether it did: a broadcast join probes the large side as
/// it comes once the small side is complete, instead of holding it until its end.
fn probe_record(i: u64, n: u64, pairs: &std::sync::atomic::AtomicU64) -> (u64, bool) {
    let mut paired = true;
    if i == n - 1 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while pairs.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            if std::time::Instant::now() > deadline {
                paired = false;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    (i % 100, paired)
}

dataflow! {
    job probing_chosen(n: u64, small: Vec<(u64, u64)>, out: Collected<bool>) {
        let s = from_iter(small);
        generate(n, move |i| probe_record(i, n, &CHOSEN_PAIRS))
            .join(s)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, _| {
                CHOSEN_PAIRS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                a.1
            })
            .collect(out);
    }

    job probing_hinted(n: u64, small: Vec<(u64, u64)>, out: Collected<bool>) {
        let s = from_iter(small);
        generate(n, move |i| probe_record(i, n, &HINTED_PAIRS))
            .join(s)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastSecond)
            .apply(|a, _| {
                HINTED_PAIRS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                a.1
            })
            .collect(out);
    }
}

#[test]
fn a_broadcast_join_pairs_the_large_input_while_it_still_comes() {
    let n = 100_000;
    let small: Vec<(u64, u64)> = (0..100).map(|k| (k, k)).collect();
    let config = JobConfig {
        mode: ExecutionMode::Batch,
        ..JobConfig::with_parallelism(2)
    };
    type Probing =
        fn(&JobConfig, u64, Vec<(u64, u64)>, Collected<bool>) -> dataflow::Result<JobReport>;
    for (run, name) in [
        (probing_chosen::run as Probing, "chosen"),
        (probing_hinted::run, "hinted"),
    ] {
        let out = Collected::new();
        let report = run(&config, n, small.clone(), out.clone()).unwrap();
        if name == "chosen" {
            assert_eq!(
                report.join_strategy("batch_join"),
                Some(JoinStrategy::BroadcastSecond)
            );
        }
        let rows = out.take();
        assert_eq!(rows.len() as u64, n, "{name}: every record has one partner");
        assert!(
            rows.iter().all(|&paired| paired),
            "{name}: the join paired nothing before its large input ended"
        );
    }
}

#[test]
fn explain_says_which_joins_choose_their_strategy_at_start() {
    let explain = |plan| dataflow::runtime::plan::explain_text(plan, "batch", &|_| "2".into());
    let chosen = explain(&inner::PLAN);
    assert_eq!(chosen.matches("chosen at start").count(), 2, "{chosen}");
    for plan in [&forced_repartition::PLAN, &full_outer::PLAN] {
        let fixed = explain(plan);
        assert!(!fixed.contains("chosen at start"), "{fixed}");
        assert_eq!(fixed.matches("via HASH").count(), 2, "{fixed}");
    }
}

dataflow! {
    /// The small input passes a `flat_map`, which may emit more than it receives.
    job small_through_flat_map(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right).flat_map(|b| [b]);
        from_iter(left)
            .join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (Some(a.0), Some(a.1), Some(b.1)))
            .collect(out);
    }

    /// The small input passes a `map` and a `filter`: its sources still bound its size.
    job small_through_map(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<Row>) {
        let r = from_iter(right).map(|b| (b.0, b.1)).filter(|_| true);
        from_iter(left)
            .join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (Some(a.0), Some(a.1), Some(b.1)))
            .collect(out);
    }

    /// A small input of records owning heap data: its size is not known from its length.
    job small_strings(left: Vec<(u64, u64)>, right: Vec<(u64, String)>, out: Collected<Row>) {
        let r = from_iter(right);
        from_iter(left)
            .join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (Some(a.0), Some(a.1), b.1.parse().ok()))
            .collect(out);
    }
}

#[test]
fn only_inputs_whose_size_the_sources_bound_are_broadcast() {
    let large = random_pairs(3000, 30, 11);
    let small = random_pairs(30, 30, 12);
    // Below the large input's 48 KB: only the small one may be broadcast.
    let config = JobConfig {
        mode: ExecutionMode::Batch,
        broadcast_threshold: 4096,
        ..JobConfig::with_parallelism(2)
    };
    let (strategy, _) = run_checked(
        small_through_map::run,
        &config,
        (&large, &small),
        (false, false),
    );
    assert_eq!(strategy, Some(JoinStrategy::BroadcastSecond));
    let (strategy, _) = run_checked(
        small_through_flat_map::run,
        &config,
        (&large, &small),
        (false, false),
    );
    assert_eq!(strategy, Some(JoinStrategy::Repartition));
    let strings: Vec<(u64, String)> = small.iter().map(|&(k, v)| (k, v.to_string())).collect();
    let out = Collected::new();
    let report = small_strings::run(&config, large.clone(), strings, out.clone()).unwrap();
    assert_eq!(out.take_sorted(), nested_loop(&large, &small, false, false));
    assert_eq!(
        report.join_strategy("batch_join"),
        Some(JoinStrategy::Repartition)
    );
}
