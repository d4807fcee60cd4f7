//! Benchmark 3: records per second through a `key_by` exchange at parallelism 2, against a
//! hand-written exchange (two producer and two consumer threads, batches of 1024 over bounded
//! std channels, routed by the same hash).

use std::hint::black_box;
use std::sync::mpsc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::prelude::*;
use dataflow::runtime::keys;

const N: u64 = 20_000_000;
const BATCH: usize = 1024;

dataflow! {
    job keyed_exchange(n: u64) {
        generate(n, |i| i)
            .key_by(|x| *x)
            .map(|x| x)
            .discard();
    }
}

/// Two producers each route their half of 0..n by key group to two consumers.
fn baseline(n: u64) {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..2).map(|_| mpsc::sync_channel::<Vec<u64>>(8)).unzip();
    std::thread::scope(|scope| {
        for producer in 0..2u64 {
            let senders = senders.clone();
            scope.spawn(move || {
                let mut buffers = vec![Vec::with_capacity(BATCH), Vec::with_capacity(BATCH)];
                for i in producer * n / 2..(producer + 1) * n / 2 {
                    let group = keys::key_group(&i, 128);
                    let target = keys::subtask_for_key_group(group, 2, 128);
                    buffers[target].push(i);
                    if buffers[target].len() == BATCH {
                        let batch =
                            std::mem::replace(&mut buffers[target], Vec::with_capacity(BATCH));
                        senders[target].send(batch).unwrap();
                    }
                }
                for (target, batch) in buffers.into_iter().enumerate() {
                    senders[target].send(batch).unwrap();
                }
            });
        }
        drop(senders);
        for receiver in receivers {
            scope.spawn(move || {
                for batch in receiver {
                    for x in batch {
                        black_box(x);
                    }
                }
            });
        }
    });
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_by_exchange_20m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N));
    group.bench_function("hand_written_threads_p2", |b| {
        b.iter(|| baseline(black_box(N)))
    });
    let config = JobConfig::with_parallelism(2);
    group.bench_function("dataflow_p2", |b| {
        b.iter(|| keyed_exchange::run(&config, black_box(N)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
