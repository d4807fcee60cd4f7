//! Benchmark 1: a fused map -> filter -> map chain over 50M integers from `generate` at
//! parallelism 1, against the same closures in a plain loop. Target: within 1.2x of the loop.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::prelude::*;

const N: u64 = 50_000_000;

dataflow! {
    job chain(n: u64) {
        generate(n, |i| i)
            .map(|x| x.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .filter(|x| x % 3 != 0)
            .map(|x| x >> 7)
            .discard();
    }
}

/// The same closures, by hand.
fn baseline(n: u64) {
    let map1 = |x: u64| x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let keep = |x: &u64| x % 3 != 0;
    let map2 = |x: u64| x >> 7;
    for i in 0..n {
        let x = map1(i);
        if keep(&x) {
            black_box(map2(x));
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("chain_50m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N));
    group.bench_function("hand_written_loop", |b| b.iter(|| baseline(black_box(N))));
    let config = JobConfig::with_parallelism(1);
    group.bench_function("dataflow_p1", |b| {
        b.iter(|| chain::run(&config, black_box(N)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
