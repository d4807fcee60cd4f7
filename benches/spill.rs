//! Batch mode over a memory budget: a keyed sum over many distinct keys (more than the budget
//! holds), in memory and with a small `--memory-budget`, against a hand-written `HashMap`
//! sum; `distinct` of the same keys, in memory and spilling; and `sort_partition` of the same
//! records in memory and as an external sort.
//! `SPILL_RECORDS` (default 20,000,000; keys are a quarter as many) sets the size.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::prelude::*;

fn records() -> u64 {
    std::env::var("SPILL_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000)
}

/// Record `i`: a pseudo-random key among `records / 4` (each key ~4 times) and a value.
fn record(i: u64, keys: u64) -> (u64, u64) {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 20) % keys, i & 0xff)
}

dataflow! {
    job sums(n: u64, keys: u64, out: Collected<(u64, u64)>) {
        generate(n, move |i| record(i, keys)).key_by(|r| r.0).sum(|r| r.1).collect(out);
    }

    job distinct_keys(n: u64, keys: u64, out: Collected<(u64, u64)>) {
        generate(n, move |i| record(i, keys)).key_by(|r| r.0).distinct().collect(out);
    }

    job first_two(n: u64, keys: u64, out: Collected<(u64, u64)>) {
        generate(n, move |i| record(i, keys)).key_by(|r| r.0).first(2).collect(out);
    }

    job sorted(n: u64, keys: u64, out: Collected<(u64, u64)>) {
        generate(n, move |i| record(i, keys)).sort_partition(|r| r.0).collect(out);
    }
}

fn sums_by_hand(n: u64, keys: u64) -> usize {
    let mut sums: HashMap<u64, u64> = HashMap::new();
    for i in 0..n {
        let (k, v) = record(i, keys);
        *sums.entry(k).or_default() += v;
    }
    sums.len()
}

fn bench(c: &mut Criterion) {
    let n = records();
    let keys = n / 4;
    let dir = std::env::temp_dir();
    let distinct = sums_by_hand(n, keys) as u64;
    let mut group = c.benchmark_group(format!("spill_{n}_records"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("sum_by_hand", |b| {
        b.iter(|| black_box(sums_by_hand(n, keys)))
    });
    // A budget well below the state: 32 MiB at the default size, in proportion otherwise.
    let small = (u128::from(n) * (32 << 20) / 20_000_000) as usize;
    let small_name = format!("budget_{}mb", small >> 20);
    for (name, budget) in [("in_memory", None), (small_name.as_str(), Some(small))] {
        let config = JobConfig {
            mode: ExecutionMode::Batch,
            spill: budget.map(|b| SpillConfig::new(b).in_dir(&dir)),
            ..JobConfig::with_parallelism(2)
        };
        // Once, untimed: the budget really makes both operators spill (and nothing else does).
        let report = sums::run(&config, n, keys, Collected::counting()).unwrap();
        let spilled = |report: &JobReport| {
            report
                .operators
                .iter()
                .map(|op| op.spilled_bytes)
                .sum::<u64>()
        };
        assert_eq!(spilled(&report) > 0, budget.is_some(), "{report}");
        let report = sorted::run(&config, n, keys, Collected::counting()).unwrap();
        assert_eq!(spilled(&report) > 0, budget.is_some(), "{report}");
        let report = distinct_keys::run(&config, n, keys, Collected::counting()).unwrap();
        assert_eq!(spilled(&report) > 0, budget.is_some(), "{report}");
        group.bench_function(format!("sum_p2_{name}"), |b| {
            b.iter(|| {
                let out = Collected::counting();
                sums::run(&config, n, keys, out.clone()).unwrap();
                assert_eq!(out.count(), distinct);
            })
        });
        group.bench_function(format!("distinct_p2_{name}"), |b| {
            b.iter(|| {
                let out = Collected::counting();
                distinct_keys::run(&config, n, keys, out.clone()).unwrap();
                assert_eq!(out.count(), distinct);
            })
        });
        group.bench_function(format!("first_two_p2_{name}"), |b| {
            b.iter(|| {
                let out = Collected::counting();
                first_two::run(&config, n, keys, out.clone()).unwrap();
            })
        });
        group.bench_function(format!("sort_partition_p2_{name}"), |b| {
            b.iter(|| {
                let out = Collected::counting();
                sorted::run(&config, n, keys, out.clone()).unwrap();
                assert_eq!(out.count(), n);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
