//! DataSet operations on bounded streams, each against a plain-Rust reference on random
//! input, at parallelism 1 and 2, in batch and streaming mode: `group_reduce`, `distinct`,
//! `first(n)` with and without a sort key, `min_by` / `max_by`, `map_partition`,
//! `sort_partition`.

use std::collections::{BTreeMap, HashMap};

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

/// The input grouped by key, values in input order.
fn groups(input: &[(u64, u64)]) -> BTreeMap<u64, Vec<u64>> {
    let mut groups: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &(k, v) in input {
        groups.entry(k).or_default().push(v);
    }
    groups
}

dataflow! {
    job sum_and_count(input: Vec<(u64, u64)>, out: Collected<(u64, u64, usize)>) {
        from_iter(input)
            .key_by(|p| p.0)
            .group_reduce(|key, values| {
                let total = values.iter().map(|v| v.1).sum();
                std::iter::once((*key, total, values.len()))
            })
            .collect(out);
    }

    job median(input: Vec<(u64, u64)>, out: Collected<(u64, u64)>) {
        from_iter(input)
            .key_by(|p| p.0)
            .group_reduce(|key, mut values| {
                values.sort();
                Some((*key, values[values.len() / 2].1))
            })
            .collect(out);
    }
}

#[test]
fn group_reduce_sees_all_values_of_each_key_once() {
    let input = random_pairs(2000, 37, 1);
    let expected: Vec<(u64, u64, usize)> = groups(&input)
        .into_iter()
        .map(|(k, vs)| (k, vs.iter().sum(), vs.len()))
        .collect();
    let medians: Vec<(u64, u64)> = groups(&input)
        .into_iter()
        .map(|(k, mut vs)| {
            vs.sort();
            (k, vs[vs.len() / 2])
        })
        .collect();
    for config in configs() {
        let out = Collected::new();
        sum_and_count::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "{config:?}");
        let out = Collected::new();
        median::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), medians, "{config:?}");
    }
}

dataflow! {
    job distinct_words(words: Vec<String>, out: Collected<String>) {
        from_iter(words).key_by(|w| w.clone()).distinct().collect(out);
    }

    job first_of_each_key(input: Vec<(u64, u64)>, n: u64, out: Collected<(u64, u64)>) {
        from_iter(input).key_by(|p| p.0).first(n).collect(out);
    }

    job smallest_of_each_key(input: Vec<(u64, u64)>, out: Collected<(u64, u64)>) {
        from_iter(input).key_by(|p| p.0).first(3, |p| p.1).collect(out);
    }

    job largest_of_each_key(input: Vec<(u64, u64)>, out: Collected<(u64, u64)>) {
        from_iter(input).key_by(|p| p.0).first(2, |p| std::cmp::Reverse(p.1)).collect(out);
    }
}

#[test]
fn distinct_keeps_one_record_per_key() {
    let words: Vec<String> = random_pairs(500, 40, 2)
        .into_iter()
        .map(|(k, _)| format!("w{k}"))
        .collect();
    let mut expected = words.clone();
    expected.sort();
    expected.dedup();
    for config in configs() {
        let out = Collected::new();
        distinct_words::run(&config, words.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "{config:?}");
    }
}

#[test]
fn first_n_keeps_the_first_records_of_each_key_in_arrival_order() {
    // One source subtask feeds each key's subtask in input order: "first" is well defined.
    let input = random_pairs(1000, 20, 3);
    for n in [0, 1, 4] {
        let expected: Vec<(u64, u64)> = sorted(
            groups(&input)
                .into_iter()
                .flat_map(|(k, vs)| vs.into_iter().take(n as usize).map(move |v| (k, v)))
                .collect(),
        );
        for config in configs() {
            let out = Collected::new();
            first_of_each_key::run(&config, input.clone(), n, out.clone()).unwrap();
            assert_eq!(out.take_sorted(), expected, "n = {n}, {config:?}");
        }
    }
}

#[test]
fn first_n_by_a_sort_key_keeps_the_smallest_of_each_key() {
    let input = random_pairs(1000, 20, 4);
    let smallest: Vec<(u64, u64)> = sorted(
        groups(&input)
            .into_iter()
            .flat_map(|(k, vs)| sorted(vs).into_iter().take(3).map(move |v| (k, v)))
            .collect(),
    );
    let largest: Vec<(u64, u64)> = sorted(
        groups(&input)
            .into_iter()
            .flat_map(|(k, vs)| sorted(vs).into_iter().rev().take(2).map(move |v| (k, v)))
            .collect(),
    );
    // A key with fewer records than `n` gives all it has.
    let few = vec![(1, 5), (2, 7), (2, 6)];
    for config in configs() {
        let out = Collected::new();
        smallest_of_each_key::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), smallest, "{config:?}");
        let out = Collected::new();
        largest_of_each_key::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), largest, "{config:?}");
        let out = Collected::new();
        smallest_of_each_key::run(&config, few.clone(), out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            vec![(1, 5), (2, 6), (2, 7)],
            "{config:?}"
        );
    }
}

dataflow! {
    job cheapest(input: Vec<(u64, u64, usize)>, out: Collected<(u64, u64, usize)>) {
        from_iter(input).key_by(|r| r.0).min_by(|r| r.1).collect(out);
    }

    job dearest(input: Vec<(u64, u64, usize)>, out: Collected<(u64, u64, usize)>) {
        from_iter(input).key_by(|r| r.0).max_by(|r| r.1).collect(out);
    }
}

#[test]
fn min_by_and_max_by_keep_the_whole_record_the_earlier_on_ties() {
    // The third field is the record's position: ties must keep the earlier record.
    let input: Vec<(u64, u64, usize)> = random_pairs(1500, 25, 5)
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| (k, v % 50, i))
        .collect();
    let mut min: HashMap<u64, (u64, u64, usize)> = HashMap::new();
    let mut max: HashMap<u64, (u64, u64, usize)> = HashMap::new();
    for &r in &input {
        min.entry(r.0)
            .and_modify(|m| {
                if r.1 < m.1 {
                    *m = r
                }
            })
            .or_insert(r);
        max.entry(r.0)
            .and_modify(|m| {
                if r.1 > m.1 {
                    *m = r
                }
            })
            .or_insert(r);
    }
    let min = sorted(min.into_values().collect::<Vec<_>>());
    let max = sorted(max.into_values().collect::<Vec<_>>());
    for config in configs() {
        // Streaming mode emits the running value per record, in order per key (a key lives
        // in one subtask): the last per key is the final one.
        let final_only = |records: Vec<(u64, u64, usize)>| -> Vec<(u64, u64, usize)> {
            let last: BTreeMap<u64, (u64, u64, usize)> =
                records.into_iter().map(|r| (r.0, r)).collect();
            last.into_values().collect()
        };
        let out = Collected::new();
        cheapest::run(&config, input.clone(), out.clone()).unwrap();
        let records = out.take();
        if config.mode == ExecutionMode::Batch {
            assert_eq!(sorted(records.clone()), min, "{config:?}");
        } else {
            assert_eq!(records.len(), input.len(), "one update per record");
        }
        assert_eq!(final_only(records), min, "{config:?}");
        let out = Collected::new();
        dearest::run(&config, input.clone(), out.clone()).unwrap();
        assert_eq!(final_only(out.take()), max, "{config:?}");
    }
}

dataflow! {
    /// Per subtask: how many records, their sum, and whether they came sorted.
    job sorted_partitions(n: u64, out: Collected<(usize, u64, bool)>) {
        generate(n, |i| (i * 7919) % 1009)
            .sort_partition(|x| *x)
            .map_partition(|records: Vec<u64>| {
                let in_order = records.windows(2).all(|w| w[0] <= w[1]);
                vec![(records.len(), records.iter().sum(), in_order)]
            })
            .collect(out);
    }

    job descending(input: Vec<(u64, u64)>, out: Collected<Vec<(u64, u64)>>) {
        from_iter(input)
            .sort_partition(|p| std::cmp::Reverse(p.1))
            .map_partition(|records: Vec<(u64, u64)>| vec![records])
            .collect(out);
    }
}

#[test]
fn sort_partition_and_map_partition_see_each_subtasks_whole_input() {
    let n = 5000;
    let total: u64 = (0..n).map(|i| (i * 7919) % 1009).sum();
    for config in configs() {
        let out = Collected::new();
        sorted_partitions::run(&config, n, out.clone()).unwrap();
        let partitions = out.take_sorted();
        assert_eq!(partitions.len(), config.parallelism, "one call per subtask");
        assert_eq!(partitions.iter().map(|p| p.0 as u64).sum::<u64>(), n);
        assert_eq!(partitions.iter().map(|p| p.1).sum::<u64>(), total);
        assert!(partitions.iter().all(|p| p.2), "{partitions:?}");
    }
    // Stable: equal keys keep their input order.
    let input = vec![(0, 1), (1, 3), (2, 1), (3, 2), (4, 3)];
    let out = Collected::new();
    descending::run(&JobConfig::with_parallelism(1), input, out.clone()).unwrap();
    assert_eq!(
        out.take_sorted(),
        vec![vec![(1, 3), (4, 3), (3, 2), (0, 1), (2, 1)]]
    );
}
