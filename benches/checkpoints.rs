//! Checkpointing overhead: the windowed benchmark pipeline with 1M keys of state, with a
//! checkpoint every second against none (target: under 10% overhead), plus the duration and
//! size of each checkpoint and the time of a restored run.
//!
//! 100M events over 1M keys, 100 per millisecond of event time (two halves side by side,
//! 1000 s); `key_by(key).window(TumblingEventTimeWindows::of(20 s)).sum(..)` in streaming
//! mode at parallelism 2, results discarded. Each 20 s window holds about 865k of the keys.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::prelude::*;
use dataflow::runtime::checkpoint::{Checkpoint, CheckpointConfig};

const N: u64 = 100_000_000;
const KEYS: u64 = 1_000_000;

/// Event `i`: a scrambled key and a value; timestamps advance 1 ms every 50 events within
/// each half of the input, so that the two source subtasks (one half each) move through
/// event time side by side and windows close as the job goes (state stays at one or two
/// windows' worth of keys).
fn event(i: u64) -> (u64, i64, u64) {
    let key = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) % KEYS;
    (key, ((i % (N / 2)) / 50) as i64, i & 0xff)
}

dataflow! {
    job windowed(n: u64) {
        generate(n, event)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(|e: &(u64, i64, u64), ts| {
                (e.0 % 1000 == 0).then_some(ts - 1)
            }))
            .key_by(|e| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(20)))
            .sum(|e| e.2)
            .discard();
    }
}

fn config(checkpoints: Option<PathBuf>) -> JobConfig {
    JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: checkpoints.map(|dir| CheckpointConfig {
            interval: Duration::from_secs(1),
            dir,
            retained: 2,
            at_least_once: false,
        }),
        ..JobConfig::with_parallelism(2)
    }
}

fn checkpoint_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dataflow-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One run with checkpoints, described: each checkpoint's duration and size; then a run
/// restored from the last one.
fn describe() {
    let dir = checkpoint_dir("describe");
    let report = windowed::run(&config(Some(dir.clone())), N).unwrap();
    println!(
        "with checkpoints every 1 s: {:.2} s, {} checkpoints",
        report.elapsed.as_secs_f64(),
        report.checkpoints
    );
    for stats in &report.checkpoint_stats {
        println!(
            "  checkpoint {}: {} ms, {:.1} MiB",
            stats.id,
            stats.duration_ms,
            stats.bytes as f64 / (1 << 20) as f64
        );
    }
    if let Ok((checkpoint, _)) = Checkpoint::resolve(&dir) {
        let restored = JobConfig {
            restore: Some(checkpoint.dir().to_path_buf()),
            ..config(None)
        };
        let started = Instant::now();
        let report = windowed::run(&restored, N).unwrap();
        println!(
            "restored from checkpoint {}: {:.2} s (generate replayed {} of {N} events)",
            checkpoint.metadata().id,
            started.elapsed().as_secs_f64(),
            report.operator("generate").map_or(0, |op| op.records_out),
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn bench(c: &mut Criterion) {
    describe();
    let mut group = c.benchmark_group("checkpoints_100m_events_1m_keys");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N));
    group.bench_function("no_checkpoints_p2", |b| {
        b.iter(|| windowed::run(&config(None), black_box(N)).unwrap())
    });
    let dir = checkpoint_dir("bench");
    group.bench_function("checkpoint_every_1s_p2", |b| {
        b.iter(|| {
            let report = windowed::run(&config(Some(dir.clone())), black_box(N)).unwrap();
            black_box(report.checkpoints)
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
