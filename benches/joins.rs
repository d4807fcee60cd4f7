//! A join of bounded inputs: a large generated fact input against a small dimension table
//! (10,000 rows, ~160 KB), run at parallelism 2 with the strategy the plan picks (a broadcast
//! hash join of the table) and with broadcasting turned off (both inputs repartitioned),
//! against a hand-written `HashMap` build-and-probe loop. `JOIN_RECORDS` (default 5,000,000)
//! sets the fact input's size.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::prelude::*;

const DIMENSION_ROWS: u64 = 10_000;

fn records() -> u64 {
    std::env::var("JOIN_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000)
}

/// Fact `i`: a pseudo-random dimension key (some miss the table) and a value.
fn fact(i: u64) -> (u64, u64) {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 20) % (DIMENSION_ROWS + DIMENSION_ROWS / 10), i & 0xff)
}

fn dimension() -> Vec<(u64, u64)> {
    (0..DIMENSION_ROWS).map(|k| (k, k * 3)).collect()
}

dataflow! {
    job enrich(n: u64, table: Vec<(u64, u64)>, out: Collected<(u64, u64)>) {
        let dim = from_iter(table);
        generate(n, fact)
            .join(dim)
            .where(|f| f.0)
            .equal_to(|d| d.0)
            .apply(|f, d| (f.1, d.1))
            .collect(out);
    }
}

/// Builds a table of the dimension and probes it with every fact: the matches.
fn join_by_hand(n: u64, table: &[(u64, u64)]) -> u64 {
    let by_key: HashMap<u64, u64> = table.iter().copied().collect();
    let mut matches = 0;
    for i in 0..n {
        let (k, v) = fact(i);
        if let Some(d) = by_key.get(&k) {
            black_box((v, *d));
            matches += 1;
        }
    }
    matches
}

fn bench(c: &mut Criterion) {
    let n = records();
    let table = dimension();
    let matches = join_by_hand(n, &table);
    let mut group = c.benchmark_group(format!("join_{n}_facts"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("hash_join_by_hand", |b| {
        b.iter(|| black_box(join_by_hand(n, &table)))
    });
    let chosen = JobConfig {
        mode: ExecutionMode::Batch,
        ..JobConfig::with_parallelism(2)
    };
    let repartitioned = JobConfig {
        broadcast_threshold: 0,
        ..chosen.clone()
    };
    for (name, config, strategy) in [
        (
            "p2_broadcast_chosen",
            &chosen,
            JoinStrategy::BroadcastSecond,
        ),
        (
            "p2_repartitioned",
            &repartitioned,
            JoinStrategy::Repartition,
        ),
    ] {
        // Once, untimed: the plan ran the strategy the name says.
        let report = enrich::run(config, n, table.clone(), Collected::counting()).unwrap();
        assert_eq!(
            report.join_strategy("batch_join"),
            Some(strategy),
            "{report}"
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = Collected::counting();
                enrich::run(config, n, table.clone(), out.clone()).unwrap();
                assert_eq!(out.count(), matches);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
