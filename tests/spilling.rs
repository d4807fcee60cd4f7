//! Batch mode under a memory budget: keyed aggregates, `group_reduce`, `distinct`,
//! `first(n)` (sorted or not), hash joins and `sort_partition` spill their state to disk when it passes the budget and
//! give the same results as in memory (against plain-Rust references), keeping the order
//! the operations promise; the report says how much went to disk; a spill directory that
//! cannot be written fails the job with a message naming the operator.

mod common;

use std::collections::BTreeMap;

use common::{random_pairs, TempPath};
use dataflow::prelude::*;

/// Batch mode at parallelism 1 and 2, each without a budget and with one of 16 KiB (far
/// below what the inputs take, so every operator spills many times).
fn configs(dir: &TempPath) -> Vec<(JobConfig, bool)> {
    std::fs::create_dir_all(&dir.0).unwrap();
    let mut configs = Vec::new();
    for p in [1, 2] {
        for budget in [None, Some(16 << 10)] {
            configs.push((
                JobConfig {
                    mode: ExecutionMode::Batch,
                    spill: budget.map(|b| SpillConfig::new(b).in_dir(&dir.0)),
                    ..JobConfig::with_parallelism(p)
                },
                budget.is_some(),
            ));
        }
    }
    configs
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Asserts that operator `name` spilled exactly when a budget was set.
fn assert_spilled(report: &JobReport, name: &str, budget: bool) {
    let spilled = report.operator(name).unwrap().spilled_bytes;
    assert_eq!(
        spilled > 0,
        budget,
        "{name} spilled {spilled} bytes\n{report}"
    );
}

dataflow! {
    job word_sums(words: Vec<(String, u64)>, out: Collected<(String, u64)>) {
        from_iter(words).key_by(|w| w.0.clone()).sum(|w| w.1).name("sums").collect(out);
    }

    job earliest_minimum(input: Vec<(u64, u64, usize)>, out: Collected<(u64, u64, usize)>) {
        from_iter(input).key_by(|x| x.0).min_by(|x| x.1).name("minimum").collect(out);
    }

    job all_values(input: Vec<(u64, u64)>, out: Collected<(u64, Vec<u64>)>) {
        from_iter(input)
            .key_by(|p| p.0)
            .group_reduce(|key, values| Some((*key, values.into_iter().map(|v| v.1).collect())))
            .name("groups")
            .collect(out);
    }

    job distinct_keys(input: Vec<(u64, u64)>, out: Collected<(u64, u64)>) {
        from_iter(input).key_by(|p| p.0).distinct().name("distinct").collect(out);
    }

    job first_three(input: Vec<(u64, u64)>, out: Collected<(u64, u64)>) {
        from_iter(input).key_by(|p| p.0).first(3).name("first").collect(out);
    }

    job three_smallest(input: Vec<(u64, u64, usize)>, out: Collected<(u64, u64, usize)>) {
        from_iter(input).key_by(|x| x.0).first(3, |x| x.1).name("smallest").collect(out);
    }

    job full_outer(left: Vec<(u64, u64)>, right: Vec<(u64, u64)>, out: Collected<(Option<u64>, Option<u64>, Option<u64>)>) {
        let r = from_iter(right);
        from_iter(left)
            .full_outer_join(r)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (a.or(b).map(|x| x.0), a.map(|a| a.1), b.map(|b| b.1)))
            .name("join")
            .collect(out);
    }

    job sorted_by_value(input: Vec<(u64, u64, usize)>, out: Collected<(u64, u64, usize)>) {
        from_iter(input).sort_partition(|x| x.1).name("sort").parallelism(1).collect(out).parallelism(1);
    }
}

#[test]
fn rolling_aggregates_spill_and_merge_to_the_same_final_values() {
    let dir = TempPath::new("spill-aggregates");
    let words: Vec<(String, u64)> = random_pairs(30_000, 5_000, 1)
        .into_iter()
        .map(|(k, v)| (format!("word-{k}"), v))
        .collect();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (w, n) in &words {
        *expected.entry(w.clone()).or_default() += n;
    }
    let expected: Vec<(String, u64)> = expected.into_iter().collect();
    // Ties of the minimum go to the earlier record (the third field is the arrival index).
    let input: Vec<(u64, u64, usize)> = random_pairs(30_000, 3_000, 2)
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| (k, v % 10, i))
        .collect();
    let mut minimum: BTreeMap<u64, (u64, u64, usize)> = BTreeMap::new();
    for &x in &input {
        let best = minimum.entry(x.0).or_insert(x);
        if x.1 < best.1 {
            *best = x;
        }
    }
    let minimum: Vec<_> = minimum.into_values().collect();
    for (config, budget) in configs(&dir) {
        let out = Collected::new();
        let report = word_sums::run(&config, words.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "{config:?}");
        assert_spilled(&report, "sums", budget);
        let out = Collected::new();
        let report = earliest_minimum::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), minimum, "{config:?}");
        assert_spilled(&report, "minimum", budget);
    }
}

#[test]
fn group_reduce_and_sorted_first_spill_and_keep_arrival_order() {
    let dir = TempPath::new("spill-groups");
    let input = random_pairs(40_000, 700, 3);
    let mut groups: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &(k, v) in &input {
        groups.entry(k).or_default().push(v);
    }
    let groups: Vec<(u64, Vec<u64>)> = groups.into_iter().collect();
    let indexed: Vec<(u64, u64, usize)> = input
        .iter()
        .enumerate()
        .map(|(i, &(k, v))| (k, v % 50, i))
        .collect();
    let mut smallest: BTreeMap<u64, Vec<(u64, u64, usize)>> = BTreeMap::new();
    for &x in &indexed {
        smallest.entry(x.0).or_default().push(x);
    }
    let smallest: Vec<(u64, u64, usize)> = sorted(
        smallest
            .into_values()
            .flat_map(|mut xs| {
                xs.sort_by_key(|x| x.1); // stable: equal values in arrival order
                xs.truncate(3);
                xs
            })
            .collect(),
    );
    for (config, budget) in configs(&dir) {
        let out = Collected::new();
        let report = all_values::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), groups, "{config:?}");
        assert_spilled(&report, "groups", budget);
        let out = Collected::new();
        let report = three_smallest::run(&config, indexed.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), smallest, "{config:?}");
        assert_spilled(&report, "smallest", budget);
    }
}

/// `distinct` and `first(n)` emit as records arrive; once they spill, keys seen afresh hold
/// their records back until the end, where the spilled state says what went out already:
/// each key's first records exactly once, as in memory. The input comes from one subtask, so
/// each key's records arrive in input order.
#[test]
fn distinct_and_first_spill_and_emit_each_keys_first_records_once() {
    let dir = TempPath::new("spill-first");
    // Values number the records, so "first" is checkable.
    let input: Vec<(u64, u64)> = random_pairs(40_000, 5_000, 9)
        .into_iter()
        .enumerate()
        .map(|(i, (k, _))| (k, i as u64))
        .collect();
    let mut firsts: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for &(k, i) in &input {
        let records = firsts.entry(k).or_default();
        if records.len() < 3 {
            records.push((k, i));
        }
    }
    let distinct: Vec<(u64, u64)> = firsts.values().map(|records| records[0]).collect();
    let first_three: Vec<(u64, u64)> = sorted(firsts.into_values().flatten().collect());
    for (config, budget) in configs(&dir) {
        let out = Collected::new();
        let report = distinct_keys::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), distinct, "{config:?}");
        assert_spilled(&report, "distinct", budget);
        let out = Collected::new();
        let report = first_three::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), first_three, "{config:?}");
        assert_spilled(&report, "first", budget);
    }
}

#[test]
fn a_hash_join_spills_both_sides_and_still_pairs_every_key() {
    let dir = TempPath::new("spill-join");
    let left = random_pairs(6_000, 400, 4);
    let right: Vec<(u64, u64)> = random_pairs(6_000, 400, 5)
        .into_iter()
        .map(|(k, v)| (k + 300, v))
        .collect();
    let mut expected = Vec::new();
    for a in &left {
        let partners: Vec<_> = right.iter().filter(|b| b.0 == a.0).collect();
        if partners.is_empty() {
            expected.push((Some(a.0), Some(a.1), None));
        }
        for b in partners {
            expected.push((Some(a.0), Some(a.1), Some(b.1)));
        }
    }
    for b in &right {
        if !left.iter().any(|a| a.0 == b.0) {
            expected.push((Some(b.0), None, Some(b.1)));
        }
    }
    let expected = sorted(expected);
    for (config, budget) in configs(&dir) {
        let out = Collected::new();
        let report = full_outer::run(&config, left.clone(), right.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "{config:?}");
        assert_spilled(&report, "join", budget);
    }
}

#[test]
fn sort_partition_sorts_externally_and_stably() {
    let dir = TempPath::new("spill-sort");
    let input: Vec<(u64, u64, usize)> = random_pairs(50_000, 100, 6)
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| (k, v % 200, i))
        .collect();
    let mut expected = input.clone();
    expected.sort_by_key(|x| x.1);
    for (config, budget) in configs(&dir) {
        let out = Collected::new();
        let report = sorted_by_value::run(&config, input.clone(), out.clone()).unwrap();
        // Not sorted by the test: the operator's order (by value, ties by arrival) is the result.
        assert_eq!(out.take(), expected, "{config:?}");
        assert_spilled(&report, "sort", budget);
    }
}

#[test]
fn a_spill_directory_that_cannot_be_written_fails_the_job_naming_the_operator() {
    let missing = TempPath::new("spill-missing");
    let config = JobConfig {
        mode: ExecutionMode::Batch,
        spill: Some(SpillConfig::new(1024).in_dir(missing.0.join("not-there"))),
        ..JobConfig::with_parallelism(2)
    };
    let words: Vec<(String, u64)> = (0..10_000).map(|i| (format!("w{i}"), 1)).collect();
    let error = word_sums::run(&config, words, Collected::new())
        .unwrap_err()
        .to_string();
    assert!(error.contains("sums"), "{error}");
    assert!(error.contains("spilling state to disk"), "{error}");
    assert!(error.contains("not-there"), "{error}");
}
