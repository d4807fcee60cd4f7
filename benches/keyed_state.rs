//! Benchmark 4: keyed state and timers of `process` after `key_by`.
//!
//! 1. Keyed state: 10M records over 1M keys, each adding one to a `u64` counter of its key
//!    through the closure form of `process`, at parallelism 1 and 2, against a single-threaded
//!    loop over a `std::collections::HashMap<u64, u64>`, once with std's default SipHash and
//!    once with [`FxBuildHasher`] below (rustc-hash 2's `FxHasher`, which the runtime's state
//!    tables use, copied here because rustc-hash is not a dependency of the root package).
//!    Target: parallelism 1 within 2x of the hand-written loop.
//! 2. Memory: peak resident bytes per key for 10M keys with a `u64` state. Peak RSS is
//!    process-wide, so each figure comes from a fresh child process (this binary re-run with
//!    `KEYED_STATE_MEMORY` set) that runs one job and reads its `VmHWM`; a run of the same
//!    10M records over 1,000 keys is subtracted, which removes the binary, the runtime and the
//!    exchange buffers and leaves the state. Printed before criterion starts, when the binary
//!    runs under `cargo bench`; `KEYED_STATE_SKIP_MEMORY=1` skips it. Target: under 64 bytes
//!    per key beyond the 16-byte payload (key + state).
//! 3. Timers: 10M records over 1M keys, each registering an event-time timer at its own
//!    timestamp; `on_timer` counts in the key's state. Fired all at the end of input
//!    (`no_watermarks`) and progressively (`monotonous`, streaming mode), against a
//!    hand-written `BinaryHeap` of `(timestamp, key)` with an Fx `HashMap` for the state.
//!    Parallelism 1; `KEYED_STATE_TIMERS_P2=1` adds parallelism 2 (about 4 more minutes).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use dataflow::prelude::*;
use dataflow::runtime::element::{Keyed, Record};

/// Records of benchmarks 1 and 3.
const N: u64 = 10_000_000;
/// Distinct keys of benchmarks 1 and 3: each key gets `N / KEYS` records.
const KEYS: u64 = 1_000_000;
/// Records per key in benchmark 1: the count at which a key may emit.
const ROUNDS: u64 = N / KEYS;
/// Distinct keys of the memory measurement (one record each).
const MEMORY_KEYS: u64 = 10_000_000;
/// Keys of the run subtracted from it (same number of records).
const MEMORY_FEW_KEYS: u64 = 1_000;
/// Set in a child process: which memory measurement to run.
const MEMORY_ENV: &str = "KEYED_STATE_MEMORY";
/// Set to also time the timer jobs at parallelism 2.
const TIMERS_P2_ENV: &str = "KEYED_STATE_TIMERS_P2";

/// The key of record `i`: `i % keys` scrambled by a bijection (odd multiply, xorshift), so
/// there are exactly `keys` distinct keys, in no sequential order.
#[inline(always)]
fn key_of(i: u64, keys: u64) -> u64 {
    let x = (i % keys).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// Whether a key whose counter reached `ROUNDS` emits (about one key in 1024), so that the
/// output is observable but the sink costs nothing.
#[inline(always)]
fn emits(key: u64) -> bool {
    key % 1024 == 0
}

dataflow! {
    job keyed_count(n: u64, keys: u64) {
        generate(n, move |i| key_of(i, keys))
            .key_by(|k| *k)
            .process(|key, count: &mut u64, _x, ctx: &mut KeyedContext<'_, u64, u64>| {
                *count += 1;
                if *count == ROUNDS && emits(*key) {
                    ctx.output(*key);
                }
            })
            .discard();
    }

    job timers_at_end(n: u64, keys: u64) {
        generate(n, move |i| (key_of(i, keys), i as i64))
            .assign_timestamps(|e| e.1, WatermarkStrategy::no_watermarks())
            .key_by(|e| e.0)
            .process(FireAtTimestamp)
            .discard();
    }

    job timers_progressive(n: u64, keys: u64) {
        generate(n, move |i| (key_of(i, keys), i as i64))
            .assign_timestamps(|e| e.1, WatermarkStrategy::monotonous())
            .key_by(|e| e.0)
            .process(FireAtTimestamp)
            .discard();
    }
}

/// Registers an event-time timer at each record's timestamp; `on_timer` counts it in the
/// key's state and emits the timestamps that are multiples of 1024.
#[derive(Clone)]
struct FireAtTimestamp;

impl KeyedProcessFunction<u64, (u64, i64)> for FireAtTimestamp {
    type State = u64;
    type Out = i64;

    #[inline]
    fn process_element(
        &mut self,
        _key: &u64,
        _fired: &mut u64,
        (_, timestamp): (u64, i64),
        ctx: &mut KeyedContext<'_, u64, i64>,
    ) {
        ctx.register_event_time_timer(timestamp);
    }

    #[inline]
    fn on_timer(
        &mut self,
        _key: &u64,
        fired: &mut u64,
        timestamp: Timestamp,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, i64>,
    ) {
        *fired += 1;
        if timestamp % 1024 == 0 {
            ctx.output(timestamp);
        }
    }
}

/// rustc-hash 2.1's `FxHasher` on 64-bit targets (the hasher of the runtime's state tables):
/// `hash = (hash + word) * K` per word, rotated left by 26 at the end.
#[derive(Default, Clone, Copy)]
struct FxBuildHasher;

struct FxHasher(u64);

const FX_K: u64 = 0xf135_7aea_2e62_a9c5;

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` runs for `u64` keys; this keeps the hasher total for other types.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = self.0.wrapping_add(i).wrapping_mul(FX_K);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

impl BuildHasher for FxBuildHasher {
    type Hasher = FxHasher;

    #[inline]
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

/// Benchmark 1 by hand: one thread, one `HashMap` (hasher `S`), the same keys and emit rule.
/// Returns the number of keys that would have emitted.
fn count_baseline<S: BuildHasher + Default>(n: u64, keys: u64) -> u64 {
    let mut counts: HashMap<u64, u64, S> = HashMap::default();
    let mut emitted = 0;
    for i in 0..n {
        let key = key_of(i, keys);
        let count = counts.entry(key).or_insert(0);
        *count += 1;
        if *count == ROUNDS && emits(key) {
            emitted += 1;
            black_box(key);
        }
    }
    black_box(counts.len());
    emitted
}

/// Benchmark 3 by hand: every record touches its key's state and pushes `(timestamp, key)`
/// on a min-heap; at the end every timer is popped in order and counted in its key's state.
/// (Timestamps are unique here, so no table deduplicates `(timestamp, key)` pairs as the
/// runtime must.) Returns the number of fired timers that would have emitted.
fn timers_baseline(n: u64, keys: u64) -> u64 {
    let mut fired: HashMap<u64, u64, FxBuildHasher> = HashMap::default();
    let mut heap = BinaryHeap::new();
    for i in 0..n {
        let key = key_of(i, keys);
        fired.entry(key).or_insert(0);
        heap.push(Reverse((i as i64, key)));
    }
    let mut emitted = 0;
    while let Some(Reverse((timestamp, key))) = heap.pop() {
        *fired.entry(key).or_insert(0) += 1;
        if timestamp % 1024 == 0 {
            emitted += 1;
            black_box(timestamp);
        }
    }
    black_box(fired.len());
    emitted
}

/// What the jobs of benchmark 1 emit: the keys with `emits(key)`.
fn expected_count_output(keys: u64) -> u64 {
    (0..keys).filter(|&i| emits(key_of(i, keys))).count() as u64
}

/// The number of records `process` emitted in a job's report.
fn process_output(report: &JobReport) -> u64 {
    report
        .operator("process")
        .unwrap_or_else(|| panic!("no `process` operator in {report}"))
        .records_out
}

fn keyed_state(c: &mut Criterion) {
    // Every variant does the same work: each iteration checks its output.
    let expected = expected_count_output(KEYS);
    let mut group = c.benchmark_group("keyed_state_10m_records_1m_keys");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(N));
    group.bench_function("hand_written_hashmap_siphash", |b| {
        b.iter(|| {
            let emitted = count_baseline::<std::hash::RandomState>(black_box(N), KEYS);
            assert_eq!(emitted, expected);
        })
    });
    group.bench_function("hand_written_hashmap_fx", |b| {
        b.iter(|| {
            let emitted = count_baseline::<FxBuildHasher>(black_box(N), KEYS);
            assert_eq!(emitted, expected);
        })
    });
    for p in [1, 2] {
        let config = JobConfig::with_parallelism(p);
        group.bench_function(format!("dataflow_p{p}"), |b| {
            b.iter(|| {
                let report = keyed_count::run(&config, black_box(N), KEYS).unwrap();
                assert_eq!(process_output(&report), expected);
            })
        });
    }
    group.finish();
}

fn timers(c: &mut Criterion) {
    let expected = N.div_ceil(1024);
    // Each dataflow variant takes about 10 s per iteration on the 2-core VM (11 iterations
    // per criterion run): parallelism 2 only on request.
    let parallelisms: &[usize] = if std::env::var_os(TIMERS_P2_ENV).is_some() {
        &[1, 2]
    } else {
        &[1]
    };
    let mut group = c.benchmark_group("event_time_timers_10m");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(N));
    group.bench_function("hand_written_binary_heap", |b| {
        b.iter(|| assert_eq!(timers_baseline(black_box(N), KEYS), expected))
    });
    for &p in parallelisms {
        let config = JobConfig::with_parallelism(p);
        group.bench_function(format!("dataflow_p{p}_fire_at_end"), |b| {
            b.iter(|| {
                let report = timers_at_end::run(&config, black_box(N), KEYS).unwrap();
                assert_eq!(process_output(&report), expected);
            })
        });
    }
    for &p in parallelisms {
        let config = JobConfig {
            mode: ExecutionMode::Streaming,
            ..JobConfig::with_parallelism(p)
        };
        group.bench_function(format!("dataflow_p{p}_progressive_streaming"), |b| {
            b.iter(|| {
                let report = timers_progressive::run(&config, black_box(N), KEYS).unwrap();
                assert_eq!(process_output(&report), expected);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, keyed_state, timers);

/// `VmHWM` of this process (its peak resident set so far), in bytes.
fn peak_resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status")
        * 1024
}

/// In a child process: runs the measurement `spec` (`dataflow:<keys>:<parallelism>` or
/// `fx_hashmap:<keys>`) over `MEMORY_KEYS` records and prints `hwm_before hwm_after seconds`
/// (bytes, bytes, seconds).
fn memory_child(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let keys: u64 = parts[1].parse().expect("keys");
    let hwm_before = peak_resident();
    let started = Instant::now();
    match parts[0] {
        "dataflow" => {
            let p: usize = parts[2].parse().expect("parallelism");
            keyed_count::run(&JobConfig::with_parallelism(p), MEMORY_KEYS, keys).unwrap();
        }
        "fx_hashmap" => {
            black_box(count_baseline::<FxBuildHasher>(MEMORY_KEYS, keys));
        }
        other => panic!("unknown memory measurement {other}"),
    }
    let seconds = started.elapsed().as_secs_f64();
    let hwm_after = peak_resident();
    println!("{hwm_before} {hwm_after} {seconds}");
}

/// Runs `spec` in a fresh copy of this binary; returns its peak RSS (bytes) before and after
/// the job, and the job's seconds.
fn measure_in_child(spec: &str) -> (u64, u64, f64) {
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .env(MEMORY_ENV, spec)
        .output()
        .expect("run the memory child");
    assert!(
        output.status.success(),
        "memory child {spec} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let hwm_before: u64 = fields[0].parse().unwrap();
    let hwm_after: u64 = fields[1].parse().unwrap();
    let seconds: f64 = fields[2].parse().unwrap();
    (hwm_before, hwm_after, seconds)
}

/// Benchmark 2: prints peak resident bytes per key of state.
fn memory_report() {
    const MIB: f64 = 1024.0 * 1024.0;
    println!(
        "keyed_state memory: {MEMORY_KEYS} records, peak RSS (VmHWM) of a fresh process per \
         run; bytes/key = (peak with {MEMORY_KEYS} keys - peak with {MEMORY_FEW_KEYS} keys) / \
         {} keys; payload = 16 bytes (u64 key + u64 state)",
        MEMORY_KEYS - MEMORY_FEW_KEYS
    );
    // What else is resident, the same in both runs of a pair and so subtracted: the binary
    // and the runtime, and the exchange between the source and `process`.
    let exchange = JobConfig::default().exchange;
    let record = std::mem::size_of::<Record<Keyed<u64, u64>>>();
    let per_channel = (exchange.channel_capacity + 2) * exchange.batch_size * record;
    println!(
        "  exchange buffers: at most ({} queued + 2 in hand) batches x {} records x {record} \
         bytes = {:.0} KiB per channel, 1 channel at p=1, 4 at p=2: {:.3} bytes/key at most \
         at p=2, in both runs of a pair",
        exchange.channel_capacity,
        exchange.batch_size,
        per_channel as f64 / 1024.0,
        (4 * per_channel) as f64 / MEMORY_KEYS as f64,
    );
    let runs: [(&str, String, String); 3] = [
        (
            "dataflow p=1",
            format!("dataflow:{MEMORY_KEYS}:1"),
            format!("dataflow:{MEMORY_FEW_KEYS}:1"),
        ),
        (
            "dataflow p=2",
            format!("dataflow:{MEMORY_KEYS}:2"),
            format!("dataflow:{MEMORY_FEW_KEYS}:2"),
        ),
        (
            "hand-written Fx HashMap",
            format!("fx_hashmap:{MEMORY_KEYS}"),
            format!("fx_hashmap:{MEMORY_FEW_KEYS}"),
        ),
    ];
    for (label, many, few) in runs {
        let (start, peak_many, seconds) = measure_in_child(&many);
        let (_, peak_few, _) = measure_in_child(&few);
        let per_key =
            peak_many.saturating_sub(peak_few) as f64 / (MEMORY_KEYS - MEMORY_FEW_KEYS) as f64;
        println!(
            "  {label:<24} peak {:>7.1} MiB ({MEMORY_KEYS} keys, {seconds:.2} s), {:>6.1} MiB \
             ({MEMORY_FEW_KEYS} keys), {:>5.1} MiB at start: {per_key:.1} bytes/key, {:.1} \
             beyond the payload",
            peak_many as f64 / MIB,
            peak_few as f64 / MIB,
            start as f64 / MIB,
            per_key - 16.0,
        );
    }
}

fn main() {
    if let Ok(spec) = std::env::var(MEMORY_ENV) {
        memory_child(&spec);
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs each benchmark once without
    // it, and needs no memory figures.
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    if benchmarking && std::env::var_os("KEYED_STATE_SKIP_MEMORY").is_none() {
        memory_report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
