//! Windows: 10M events over 10k keys, summed per key in 1 s tumbling event-time windows, at
//! parallelism 1 and 2, against a hand-written single-threaded loop; and the same job with
//! sliding windows of 10 s / 1 s and 60 s / 1 s (target: within 1.5x of the tumbling figure,
//! since records go into panes and are never copied into each window).
//!
//! Events arrive in timestamp order, 100 per millisecond of event time (100 s in all), so
//! each key has about 10 events per 1 s window; a punctuated watermark follows every
//! 10,000th event. The sink counts window results (`discard`); each run checks the count.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::prelude::*;
use dataflow::runtime::window::EventTimeWindows;

const N: u64 = 10_000_000;
const KEYS: u64 = 10_000;
const EVENTS_PER_MS: u64 = 100;

/// Event `i`: a scrambled key, a timestamp rising 1 ms every 100 events, a value.
fn event(i: u64) -> (u64, i64, u64) {
    let key = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) % KEYS;
    (key, (i / EVENTS_PER_MS) as i64, i & 0xff)
}

dataflow! {
    job window_sum(n: u64, windows: EventTimeWindows) {
        generate(n, event)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(|e: &(u64, i64, u64), ts| {
                (e.0 % 10_000 == 0).then_some(ts - 1)
            }))
            .key_by(|e| e.0)
            .window(windows)
            .sum(|e| e.2)
            .discard();
    }
}

/// A multiplicative hasher for `u64` keys (the class of hash the engine's state uses).
#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0xf135_7aea_2e62_a9c5);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Tumbling windows by hand, exploiting that events come in timestamp order: per key the
/// open window and its sum; a key's window closes when one of its records falls in a later
/// window, and all close at the end. Returns the number of window results.
fn tumbling_baseline(n: u64, size: i64) -> u64 {
    let mut open: HashMap<u64, (i64, u64), BuildHasherDefault<MulHasher>> = HashMap::default();
    let mut results = 0;
    for i in 0..n {
        let (key, ts, value) = event(i);
        let start = ts - ts.rem_euclid(size);
        let slot = open.entry(key).or_insert((start, 0));
        if slot.0 != start {
            black_box((key, slot.0 + size - 1, slot.1));
            results += 1;
            *slot = (start, 0);
        }
        slot.1 += value;
    }
    for (key, (start, sum)) in open {
        black_box((key, start + size - 1, sum));
        results += 1;
    }
    results
}

fn window_results(report: &JobReport) -> u64 {
    report.operator("window_sum").map_or(0, |op| op.records_out)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("windows_10m_events_10k_keys");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N));
    let expected_tumbling = tumbling_baseline(N, 1000);
    group.bench_function("hand_written_tumbling_1s", |b| {
        b.iter(|| assert_eq!(tumbling_baseline(black_box(N), 1000), expected_tumbling))
    });
    let streaming = |p| JobConfig {
        mode: ExecutionMode::Streaming,
        ..JobConfig::with_parallelism(p)
    };
    for p in [1, 2] {
        let config = streaming(p);
        let windows = TumblingEventTimeWindows::of(Duration::from_secs(1));
        group.bench_function(format!("dataflow_tumbling_1s_p{p}"), |b| {
            b.iter(|| {
                let report = window_sum::run(&config, black_box(N), windows).unwrap();
                assert_eq!(window_results(&report), expected_tumbling);
            })
        });
    }
    for (size, slide) in [(10, 1), (60, 1)] {
        let config = streaming(1);
        let windows =
            SlidingEventTimeWindows::of(Duration::from_secs(size), Duration::from_secs(slide));
        group.bench_function(format!("dataflow_sliding_{size}s_{slide}s_p1"), |b| {
            b.iter(|| {
                let report = window_sum::run(&config, black_box(N), windows).unwrap();
                assert!(window_results(&report) > expected_tumbling);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
