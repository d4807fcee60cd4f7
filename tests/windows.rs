//! Event-time windows on keyed streams: tumbling and sliding, `reduce` and `aggregate`,
//! against a naive model on random out-of-order input.

use std::collections::BTreeMap;

use dataflow::prelude::*;
use dataflow::runtime::window::EventTimeWindows;

/// Knuth's MMIX LCG: deterministic input without a seed source.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// `n` records `(key, ts, value)` over `keys` keys, timestamps rising with up to 20 ms of
/// disorder.
fn events(seed: u64, n: u64, keys: u64) -> Vec<(u64, i64, u64)> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|i| {
            let ts = (i as i64) * 3 - rng.below(20) as i64;
            (rng.below(keys), ts, rng.below(100))
        })
        .collect()
}

/// Per key, the sum of the values in every window `[start, start + size)` with
/// `start = k * slide` that holds a record, with the window's `end - 1`.
fn model(events: &[(u64, i64, u64)], size: i64, slide: i64) -> Vec<(u64, i64, u64)> {
    let mut windows: BTreeMap<(u64, i64), u64> = BTreeMap::new();
    for &(key, ts, value) in events {
        let mut start = ts - ts.rem_euclid(slide);
        while start > ts - size {
            *windows.entry((key, start + size - 1)).or_default() += value;
            start -= slide;
        }
    }
    let mut out: Vec<(u64, i64, u64)> = windows.into_iter().map(|((k, t), s)| (k, t, s)).collect();
    out.sort();
    out
}

dataflow! {
    /// Sums per key and window; each result is paired with its timestamp (`end - 1`).
    job window_sums(events: Vec<(u64, i64, u64)>, windows: EventTimeWindows, out: Collected<(u64, i64, u64)>) {
        from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(25)))
            .key_by(|e| e.0)
            .window(windows)
            .reduce(|a, b| (a.0, a.1, a.2 + b.2))
            .process(|e, ctx| ctx.output((e.0, ctx.timestamp().unwrap(), e.2)))
            .collect(out);
    }
}

fn run_sums(
    events: &[(u64, i64, u64)],
    windows: EventTimeWindows,
    p: usize,
    streaming: bool,
) -> Vec<(u64, i64, u64)> {
    let out = Collected::new();
    let config = JobConfig {
        mode: if streaming {
            ExecutionMode::Streaming
        } else {
            ExecutionMode::Batch
        },
        ..JobConfig::with_parallelism(p)
    };
    window_sums::run(&config, events.to_vec(), windows, out.clone()).unwrap();
    let mut got = out.take();
    got.sort();
    got
}

#[test]
fn tumbling_windows_match_the_model_at_any_parallelism() {
    for seed in 1..4 {
        let input = events(seed, 2000, 7);
        let expected = model(&input, 50, 50);
        for p in [1, 2, 4] {
            for streaming in [false, true] {
                let got = run_sums(
                    &input,
                    TumblingEventTimeWindows::of(Duration::from_millis(50)),
                    p,
                    streaming,
                );
                assert_eq!(
                    got, expected,
                    "seed {seed}, p = {p}, streaming = {streaming}"
                );
            }
        }
    }
}

#[test]
fn sliding_windows_share_panes_and_match_the_model() {
    for (size, slide) in [(50, 10), (50, 20), (30, 45)] {
        let input = events(7, 1500, 5);
        let expected = model(&input, size, slide);
        for p in [1, 3] {
            let windows = SlidingEventTimeWindows::of(
                Duration::from_millis(size as u64),
                Duration::from_millis(slide as u64),
            );
            let got = run_sums(&input, windows, p, true);
            let missing: Vec<_> = expected
                .iter()
                .filter(|e| !got.contains(e))
                .take(5)
                .collect();
            let extra: Vec<_> = got
                .iter()
                .filter(|g| !expected.contains(g))
                .take(5)
                .collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "size {size}, slide {slide}, p = {p}: missing {missing:?}, extra {extra:?}"
            );
        }
    }
}

const LATE: OutputTag<(u64, i64)> = dataflow::runtime::window::late_data();

dataflow! {
    job late_records(events: Vec<(u64, i64)>, out: Collected<(i64, u64)>, late: Collected<(u64, i64)>) {
        let counted = from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(|e: &(u64, i64), _| Some(e.1 - 1)))
            .parallelism(1)
            .key_by(|e| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .aggregate(CountAndMax);
        counted.collect(out);
        counted.side_output(LATE).collect(late);
    }
}

/// Counts a window's records and keeps their highest timestamp.
#[derive(Clone)]
struct CountAndMax;

impl AggregateFunction<(u64, i64)> for CountAndMax {
    type Acc = (u64, i64);
    type Out = (i64, u64);

    fn create_accumulator(&mut self) -> (u64, i64) {
        (0, i64::MIN)
    }

    fn add(&mut self, acc: &mut (u64, i64), value: (u64, i64)) {
        acc.0 += 1;
        acc.1 = acc.1.max(value.1);
    }

    fn merge(&mut self, acc: &mut (u64, i64), other: &(u64, i64)) {
        acc.0 += other.0;
        acc.1 = acc.1.max(other.1);
    }

    fn result(&mut self, acc: &(u64, i64)) -> (i64, u64) {
        (acc.1, acc.0)
    }
}

#[test]
fn a_window_fires_at_end_minus_one_and_later_records_of_it_go_to_the_late_data_output() {
    // Watermark = ts - 1 after each record. The record at 10 makes it 9 = end - 1 of [0, 10):
    // that window fires (with 0, 5, 9); the record at 3 that follows is late: it goes to the
    // late-data side output.
    let input = vec![(1, 0), (1, 5), (1, 9), (1, 10), (1, 3), (1, 12), (1, 25)];
    let out = Collected::new();
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        ..JobConfig::with_parallelism(1)
    };
    let late = Collected::new();
    late_records::run(&config, input, out.clone(), late.clone()).unwrap();
    assert_eq!(out.take(), [(9, 3), (12, 2), (25, 1)]);
    // The late record is not lost: it reaches the late-data side output.
    assert_eq!(late.take(), [(1, 3)]);
}

dataflow! {
    /// The built-in window aggregates over the same tumbling windows.
    job builtins(
        events: Vec<(u64, i64, u64)>,
        counts: Collected<(u64, u64)>,
        sums: Collected<(u64, u64)>,
        mins: Collected<(u64, u64)>,
        maxes: Collected<(u64, u64)>,
        means: Collected<(u64, f64)>,
    ) {
        let keyed = from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(25)))
            .key_by(|e| e.0);
        keyed.window(TumblingEventTimeWindows::of(Duration::from_millis(100))).count().collect(counts);
        keyed.window(TumblingEventTimeWindows::of(Duration::from_millis(100))).sum(|e| e.2).collect(sums);
        keyed.window(TumblingEventTimeWindows::of(Duration::from_millis(100))).min(|e| e.2).collect(mins);
        keyed.window(TumblingEventTimeWindows::of(Duration::from_millis(100))).max(|e| e.2).collect(maxes);
        keyed.window(TumblingEventTimeWindows::of(Duration::from_millis(100))).avg(|e| e.2 as f64).collect(means);
    }
}

#[test]
fn count_sum_min_max_and_avg_per_key_and_window() {
    let input = events(11, 1200, 4);
    // The model: per (key, window start), the values.
    let mut windows: BTreeMap<(u64, i64), Vec<u64>> = BTreeMap::new();
    for &(key, ts, value) in &input {
        windows
            .entry((key, ts - ts.rem_euclid(100)))
            .or_default()
            .push(value);
    }
    let per_window = |f: &dyn Fn(&[u64]) -> u64| -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = windows.iter().map(|((k, _), v)| (*k, f(v))).collect();
        out.sort();
        out
    };
    for p in [1, 2] {
        let (counts, sums, mins, maxes, means) = (
            Collected::new(),
            Collected::new(),
            Collected::new(),
            Collected::new(),
            Collected::new(),
        );
        builtins::run(
            &JobConfig::with_parallelism(p),
            input.clone(),
            counts.clone(),
            sums.clone(),
            mins.clone(),
            maxes.clone(),
            means.clone(),
        )
        .unwrap();
        let sorted = |c: Collected<(u64, u64)>| {
            let mut v = c.take();
            v.sort();
            v
        };
        assert_eq!(sorted(counts), per_window(&|v| v.len() as u64), "p = {p}");
        assert_eq!(sorted(sums), per_window(&|v| v.iter().sum()), "p = {p}");
        assert_eq!(
            sorted(mins),
            per_window(&|v| *v.iter().min().unwrap()),
            "p = {p}"
        );
        assert_eq!(
            sorted(maxes),
            per_window(&|v| *v.iter().max().unwrap()),
            "p = {p}"
        );
        let mut got_means = means.take();
        got_means.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut expected_means: Vec<(u64, f64)> = windows
            .iter()
            .map(|((k, _), v)| (*k, v.iter().sum::<u64>() as f64 / v.len() as f64))
            .collect();
        expected_means.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(got_means.len(), expected_means.len());
        for (got, expected) in got_means.iter().zip(&expected_means) {
            assert_eq!(got.0, expected.0);
            assert!((got.1 - expected.1).abs() < 1e-9, "{got:?} vs {expected:?}");
        }
    }
}

dataflow! {
    /// Sums per key in 20 ms processing-time windows; records need no timestamps.
    job processing_time_sums(n: u64, out: Collected<(u64, i64, u64)>) {
        generate(n, |i| {
            (i % 3, i)
        })
        .key_by(|e| e.0)
        .window(TumblingProcessingTimeWindows::of(Duration::from_millis(20)))
        .sum(|e| e.1)
        .process(|(key, sum), ctx| ctx.output((key, ctx.timestamp().unwrap(), sum)))
        .collect(out);
    }
}

#[test]
fn processing_time_windows_count_every_record_once_in_windows_of_the_clock() {
    for (p, mode) in [
        (1, ExecutionMode::Streaming),
        (2, ExecutionMode::Streaming),
        (2, ExecutionMode::Batch),
    ] {
        let out = Collected::new();
        let config = JobConfig {
            mode,
            ..JobConfig::with_parallelism(p)
        };
        let before = dataflow::runtime::time::processing_time_now();
        processing_time_sums::run(&config, 5000, out.clone()).unwrap();
        let after = dataflow::runtime::time::processing_time_now();
        let results = out.take();
        // Every record is in exactly one window: per key, the sums add up to the input's.
        for key in 0..3 {
            let total: u64 = results.iter().filter(|r| r.0 == key).map(|r| r.2).sum();
            assert_eq!(
                total,
                (0..5000u64).filter(|i| i % 3 == key).sum::<u64>(),
                "p = {p}, {mode:?}"
            );
        }
        // Results carry their window's end - 1, a window of the run's wall-clock time.
        for &(_, ts, _) in &results {
            assert_eq!((ts + 1) % 20, 0, "{ts}");
            assert!(
                ts >= before && ts < after + 20,
                "{ts} outside [{before}, {after}]"
            );
        }
        // One result per key and window: no window fired twice.
        let mut windows: Vec<(u64, i64)> = results.iter().map(|r| (r.0, r.1)).collect();
        let all = windows.len();
        windows.sort();
        windows.dedup();
        assert_eq!(windows.len(), all);
    }
}

dataflow! {
    /// Count windows: tumbling sums of 3 records and sliding sums of the last 4 every 2.
    job count_windows(events: Vec<(u64, u64)>, tumbling: Collected<(u64, u64)>, sliding: Collected<(u64, u64)>) {
        let keyed = from_iter(events).key_by(|e| e.0);
        keyed.count_window(3).sum(|e| e.1).collect(tumbling);
        keyed.count_window(4, 2).reduce(|a, b| (a.0, a.1 + b.1)).collect(sliding);
    }
}

/// Per key, the sums of the last `size` values every `slide` values (fewer at the start; a
/// slide that never completes does not fire).
fn count_model(events: &[(u64, u64)], size: usize, slide: usize) -> Vec<(u64, u64)> {
    let mut seen: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut out = Vec::new();
    for &(key, value) in events {
        let values = seen.entry(key).or_default();
        values.push(value);
        if values.len() % slide == 0 {
            let from = values.len().saturating_sub(size);
            out.push((key, values[from..].iter().sum()));
        }
    }
    out.sort();
    out
}

#[test]
fn count_windows_fire_every_slide_records_over_the_last_size() {
    let mut rng = Lcg(5);
    let events: Vec<(u64, u64)> = (0..500).map(|_| (rng.below(4), rng.below(50))).collect();
    for p in [1, 2, 3] {
        let (tumbling, sliding) = (Collected::new(), Collected::new());
        count_windows::run(
            &JobConfig::with_parallelism(p),
            events.clone(),
            tumbling.clone(),
            sliding.clone(),
        )
        .unwrap();
        let mut t = tumbling.take();
        t.sort();
        assert_eq!(t, count_model(&events, 3, 3), "p = {p}");
        let mut s = sliding.take();
        s.sort();
        assert_eq!(s, count_model(&events, 4, 2), "p = {p}");
    }
}

dataflow! {
    /// A window process function: per key and window, its bounds, the number of records and
    /// the largest value, as two outputs.
    job window_process(events: Vec<(u64, i64, u64)>, out: Collected<(u64, i64, i64, u64)>) {
        from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(25)))
            .key_by(|e| e.0)
            .window(SlidingEventTimeWindows::of(Duration::from_millis(50), Duration::from_millis(25)))
            .process(|key, window, records| {
                let max = records.iter().map(|r| r.2).max().unwrap_or(0);
                [(*key, window.start, window.end, records.len() as u64), (*key, window.start, window.end, max)]
            })
            .collect(out);
    }
}

#[test]
fn a_window_process_function_sees_all_records_and_the_window() {
    let input = events(3, 800, 3);
    let mut windows: BTreeMap<(u64, i64), Vec<u64>> = BTreeMap::new();
    for &(key, ts, value) in &input {
        let mut start = ts - ts.rem_euclid(25);
        while start > ts - 50 {
            windows.entry((key, start)).or_default().push(value);
            start -= 25;
        }
    }
    let mut expected: Vec<(u64, i64, i64, u64)> = Vec::new();
    for ((key, start), values) in &windows {
        expected.push((*key, *start, start + 50, values.len() as u64));
        expected.push((*key, *start, start + 50, *values.iter().max().unwrap()));
    }
    expected.sort();
    for p in [1, 2] {
        let out = Collected::new();
        window_process::run(&JobConfig::with_parallelism(p), input.clone(), out.clone()).unwrap();
        let mut got = out.take();
        got.sort();
        assert_eq!(got, expected, "p = {p}");
    }
}
