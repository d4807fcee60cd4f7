//! The general window operator: session windows (fixed and dynamic gaps, event and
//! processing time), global windows with triggers and evictors (built-in and user-written),
//! allowed lateness, continuous triggers, `window_all`, window functions with a process
//! function, count windows with a process function and windows following windows. Each test
//! checks exact results against a plain-Rust model in this file.

use std::collections::BTreeMap;

use dataflow::prelude::*;
use dataflow::runtime::window::EventTimeWindows;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `(key, timestamp, value)`.
type Event = (u64, i64, u64);
/// A window's result: `(key, start, end, count, sum of values)`.
type Agg = (u64, i64, i64, u64, u64);
/// A session from `reduce(f, p)`: `(key, start, end, smallest timestamp, sum of values,
/// the result's timestamp)`.
type Reduced = (u64, i64, i64, i64, u64, i64);
/// A window's sum from `reduce(f, p)` with its result's timestamp:
/// `(key, start, end, sum, timestamp)`.
type Stamped = (u64, i64, i64, u64, i64);
/// `(key, index, timestamp)`: records whose order a process function can check.
type Indexed = (u64, u64, i64);
/// A global window's firing: the key and the indices of the records the function saw.
type Fired = (u64, Vec<u64>);
/// A global window's firing with the window and the result's timestamp.
type FiredAt = (u64, Window, Vec<u64>, Option<i64>);

const LATE: OutputTag<Event> = late_data();

// ---------------------------------------------------------------------------------------------
// Input, watermarks and window functions shared by the jobs.

/// `n` records over `keys` keys. Timestamps advance by 0-3 ms per record, with a jump of
/// 20-80 ms one time in 40 (so that sessions end), and each is up to `disorder` ms behind
/// its position: a record is never more than `disorder` ms behind any earlier record.
fn random_events(seed: u64, n: usize, keys: u64, disorder: i64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut base = 0i64;
    (0..n)
        .map(|_| {
            base += if rng.gen_ratio(1, 40) {
                rng.gen_range(20..80)
            } else {
                rng.gen_range(0..4)
            };
            let ts = base - rng.gen_range(0..=disorder);
            (rng.gen_range(0..keys), ts, rng.gen_range(1..100))
        })
        .collect()
}

/// A punctuated watermark after every record: the highest timestamp seen minus `lag`.
fn lagging<T: 'static>(
    lag: i64,
) -> impl FnMut(&T, Timestamp) -> Option<Timestamp> + Clone + Send + 'static {
    let mut max_seen = Timestamp::MIN;
    move |_, ts| {
        max_seen = max_seen.max(ts);
        Some(max_seen.saturating_sub(lag))
    }
}

/// Counts a window's records and sums their values.
#[derive(Clone)]
struct CountSum;

impl AggregateFunction<Event> for CountSum {
    type Acc = (u64, u64);
    type Out = (u64, u64);

    fn create_accumulator(&mut self) -> (u64, u64) {
        (0, 0)
    }

    fn add(&mut self, acc: &mut (u64, u64), value: Event) {
        acc.0 += 1;
        acc.1 += value.2;
    }

    fn merge(&mut self, acc: &mut (u64, u64), other: &(u64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }

    fn result(&mut self, acc: &(u64, u64)) -> (u64, u64) {
        *acc
    }
}

/// The process function after `aggregate(CountSum, ..)`.
fn per_window(key: &u64, window: Window, (count, sum): (u64, u64)) -> Option<Agg> {
    Some((*key, window.start, window.end, count, sum))
}

/// The process function of `process(..)` over all of a window's records.
fn of_records(key: &u64, window: Window, records: Vec<Event>) -> Option<Agg> {
    let sum = records.iter().map(|r| r.2).sum();
    Some((*key, window.start, window.end, records.len() as u64, sum))
}

/// Adds the values, keeping the key and the smallest timestamp.
fn add_values(a: Event, b: Event) -> Event {
    (a.0, a.1.min(b.1), a.2 + b.2)
}

fn streaming(p: usize) -> JobConfig {
    JobConfig {
        mode: ExecutionMode::Streaming,
        ..JobConfig::with_parallelism(p)
    }
}

fn batch(p: usize) -> JobConfig {
    JobConfig {
        mode: ExecutionMode::Batch,
        ..JobConfig::with_parallelism(p)
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Session windows.

dataflow! {
    /// Event-time sessions of a fixed gap (through `process` with allowed lateness,
    /// `aggregate(agg, p)` and `reduce(f, p)`), sessions with a count trigger, and sessions
    /// whose gap after a record is `value % 16 + 1` ms.
    job sessions(
        events: Vec<Event>,
        gap: Duration,
        lag: i64,
        lateness: Duration,
        processed: Collected<Agg>,
        aggregated: Collected<Agg>,
        reduced: Collected<Reduced>,
        counted: Collected<Agg>,
        dynamic: Collected<Agg>,
        late: Collected<Event>,
    ) {
        let keyed = from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(lagging(lag)))
            .key_by(|e| e.0);
        let fixed = keyed
            .window(EventTimeSessionWindows::with_gap(gap))
            .allowed_lateness(lateness)
            .process(of_records);
        fixed.collect(processed);
        fixed.side_output(LATE).collect(late);
        keyed
            .window(EventTimeSessionWindows::with_gap(gap))
            .aggregate(CountSum, per_window)
            .collect(aggregated);
        keyed
            .window(EventTimeSessionWindows::with_gap(gap))
            .reduce(add_values, |key, window, v| Some((*key, window.start, window.end, v.1, v.2)))
            .process(|(k, s, e, min, sum), ctx| ctx.output((k, s, e, min, sum, ctx.timestamp().unwrap())))
            .collect(reduced);
        keyed
            .window(EventTimeSessionWindows::with_gap(gap))
            .trigger(CountTrigger::of(3))
            .process(of_records)
            .collect(counted);
        keyed
            .window(EventTimeSessionWindows::with_dynamic_gap(|e: &Event| Duration::from_millis(e.2 % 16 + 1)))
            .process(of_records)
            .collect(dynamic);
    }
}

/// The gap after a record in the `dynamic` sessions of the `sessions` job.
fn dynamic_gap(e: &Event) -> i64 {
    (e.2 % 16 + 1) as i64
}

/// Sessions per key: the windows `[ts, ts + gap)` of the records, merged where they overlap
/// or touch (Flink's semantics): sorted by timestamp, a record starts a new session when it
/// comes after the end of the current one.
fn session_model(events: &[Event], gap: impl Fn(&Event) -> i64) -> Vec<Agg> {
    let mut per_key: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for e in events {
        per_key.entry(e.0).or_default().push(*e);
    }
    let mut out = Vec::new();
    for (key, mut records) in per_key {
        records.sort_by_key(|r| r.1);
        let mut current: Option<Agg> = None;
        for r in records {
            let end = r.1 + gap(&r);
            match &mut current {
                Some(s) if r.1 <= s.2 => {
                    s.2 = s.2.max(end);
                    s.3 += 1;
                    s.4 += r.2;
                }
                _ => {
                    out.extend(current.take());
                    current = Some((key, r.1, end, 1, r.2));
                }
            }
        }
        out.extend(current);
    }
    out.sort();
    out
}

struct SessionRun {
    /// With the allowed lateness, and its late data in `late`.
    processed: Vec<Agg>,
    aggregated: Vec<Agg>,
    reduced: Vec<Reduced>,
    counted: Vec<Agg>,
    dynamic: Vec<Agg>,
    late: Vec<Event>,
}

/// Runs `sessions`; the outputs are in the order they were emitted.
fn run_sessions(
    events: &[Event],
    gap: i64,
    lag: i64,
    lateness: i64,
    config: &JobConfig,
) -> SessionRun {
    let (processed, aggregated, reduced, counted, dynamic, late) = (
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
    );
    sessions::run(
        config,
        events.to_vec(),
        Duration::from_millis(gap as u64),
        lag,
        Duration::from_millis(lateness as u64),
        processed.clone(),
        aggregated.clone(),
        reduced.clone(),
        counted.clone(),
        dynamic.clone(),
        late.clone(),
    )
    .unwrap();
    SessionRun {
        processed: processed.take(),
        aggregated: aggregated.take(),
        reduced: reduced.take(),
        counted: counted.take(),
        dynamic: dynamic.take(),
        late: late.take(),
    }
}

#[test]
fn session_windows_match_the_model_at_any_parallelism_in_batch_and_streaming() {
    // Records are at most 19 ms out of order, and the watermark trails the highest
    // timestamp by 25 ms: no record is late, and none arrives after a session it touches
    // has fired (which would open a new session, as in Flink).
    for seed in [1, 2, 3] {
        let input = random_events(seed, 1500, 5, 19);
        for gap in [1, 6, 25] {
            let expected = session_model(&input, |_| gap);
            let expected_reduced: Vec<Reduced> = expected
                .iter()
                .map(|&(k, start, end, _, sum)| (k, start, end, start, sum, end - 1))
                .collect();
            let expected_dynamic = session_model(&input, dynamic_gap);
            for p in [1, 2, 4] {
                for config in [batch(p), streaming(p)] {
                    let context = format!("seed {seed}, gap {gap}, p = {p}, {:?}", config.mode);
                    let got = run_sessions(&input, gap, 25, 0, &config);
                    assert_eq!(sorted(got.processed), expected, "process: {context}");
                    assert_eq!(sorted(got.aggregated), expected, "aggregate: {context}");
                    assert_eq!(sorted(got.reduced), expected_reduced, "reduce: {context}");
                    assert_eq!(sorted(got.dynamic), expected_dynamic, "dynamic: {context}");
                    assert_eq!(got.late, [], "late: {context}");
                }
            }
        }
    }
}

#[test]
fn an_out_of_order_record_bridges_two_sessions_into_one() {
    // Gap 10, watermark = highest timestamp - 12.
    let input = vec![
        (1, 0, 1),    // [0, 10)                                wm -12
        (1, 5, 2),    // [0, 15)                                wm -7
        (1, 25, 4),   // [0, 15), [25, 35)                      wm 13
        (1, 15, 8),   // [15, 25) touches both: [0, 35)         wm 13
        (2, 14, 16),  // key 2: [14, 24)
        (3, 27, 256), // key 3: [27, 37)
        (1, 50, 32),  // [50, 60); wm 38 fires [14, 24), [0, 35), [27, 37) (timers 23, 34, 36)
        (3, 37, 512), // [37, 47) touches [27, 37), which has fired and is gone: a new session
        (1, 20, 64),  // [20, 30) ends before the watermark: late
        (1, 45, 128), // [45, 55) overlaps [50, 60): [45, 60), fired at end of input
    ];
    let got = run_sessions(&input, 10, 12, 0, &streaming(1));
    let expected = [
        (2, 14, 24, 1, 16),
        (1, 0, 35, 4, 15),
        (3, 27, 37, 1, 256),
        (3, 37, 47, 1, 512),
        (1, 45, 60, 2, 160),
    ];
    assert_eq!(got.processed, expected);
    assert_eq!(got.aggregated, expected);
    assert_eq!(
        got.reduced,
        [
            (2, 14, 24, 14, 16, 23),
            (1, 0, 35, 0, 15, 34),
            (3, 27, 37, 27, 256, 36),
            (3, 37, 47, 37, 512, 46),
            (1, 45, 60, 45, 160, 59)
        ]
    );
    assert_eq!(got.late, [(1, 20, 64)]);
    // In batch mode nothing is late, and nothing fires before the end: the record at 20
    // joins the first session, and key 3 has one session.
    let got = run_sessions(&input, 10, 12, 0, &batch(1));
    assert_eq!(
        sorted(got.processed),
        [
            (1, 0, 35, 5, 79),
            (1, 45, 60, 2, 160),
            (2, 14, 24, 1, 16),
            (3, 27, 47, 2, 768)
        ]
    );
    assert_eq!(got.late, []);
}

#[test]
fn dynamic_gap_sessions_end_after_each_records_own_gap() {
    // The gap after a record is `value % 16 + 1`: here value + 1.
    let input = vec![
        (1, 0, 4),   // [0, 5)
        (1, 10, 2),  // [10, 13)
        (1, 4, 6),   // [4, 11) overlaps both: [0, 13)
        (1, 20, 15), // [20, 36)
        (1, 30, 0),  // [30, 31), inside
        (1, 37, 0),  // [37, 38)
        (1, 36, 0),  // [36, 37) touches both: [20, 38)
        (2, 5, 9),   // key 2: [5, 15)
        (2, 15, 0),  // [15, 16) touches: [5, 16)
        (2, 17, 0),  // [17, 18): after a 1 ms break, a new session
    ];
    let expected = [
        (1, 0, 13, 3, 12),
        (1, 20, 38, 4, 15),
        (2, 5, 16, 2, 9),
        (2, 17, 18, 1, 0),
    ];
    assert_eq!(session_model(&input, dynamic_gap), expected);
    for config in [streaming(1), batch(1), streaming(2)] {
        let got = run_sessions(&input, 1, 1000, 0, &config);
        assert_eq!(sorted(got.dynamic), expected, "{:?}", config.mode);
    }
}

#[test]
fn late_records_within_the_allowed_lateness_re_fire_and_merge_fired_sessions() {
    // Gap 10, allowed lateness 20, watermark = highest timestamp.
    let input = vec![
        (1, 0, 1),    // [0, 10)                                               wm 0
        (1, 25, 2),   // [25, 35); wm 25 fires [0, 10)
        (1, 12, 4),   // [12, 22), already past the watermark: fires at once
        (1, 8, 8),    // [8, 18) bridges both fired sessions: [0, 22) fires at once
        (1, 3, 64),   // inside [0, 22): fires again
        (1, 30, 16),  // [25, 40)                                              wm 30
        (1, 70, 0),   // wm 70 fires [25, 40); [0, 22) is dropped at 21 + 20
        (1, 5, 32),   // [5, 15) is past its lateness: late data
        (1, 45, 128), // [45, 55) is within it: fires at once
    ];
    let got = run_sessions(&input, 10, 0, 20, &streaming(1));
    assert_eq!(
        got.processed,
        [
            (1, 0, 10, 1, 1),
            (1, 12, 22, 1, 4),
            (1, 0, 22, 3, 13),
            (1, 0, 22, 4, 77),
            (1, 25, 40, 2, 18),
            (1, 45, 55, 1, 128),
            (1, 70, 80, 1, 0),
        ]
    );
    assert_eq!(got.late, [(1, 5, 32)]);
    // Without lateness, the records behind the watermark are dropped.
    assert_eq!(
        got.aggregated,
        [(1, 0, 10, 1, 1), (1, 25, 40, 2, 18), (1, 70, 80, 1, 0)]
    );
}

#[test]
fn a_count_trigger_on_sessions_adds_up_the_counts_of_merged_sessions() {
    // Gap 10, every 3 records of a session (no watermark before the end).
    let input = vec![
        (1, 0, 1),   // [0, 10): 1
        (1, 20, 2),  // [20, 30): 1
        (1, 10, 4),  // bridges them: [0, 30) with 1 + 1, then 3: fires
        (1, 5, 8),   // 1
        (1, 29, 16), // 2
        (1, 40, 32), // [40, 50): 1
        (1, 30, 64), // bridges [0, 30) and [40, 50): 2 + 1, then 4: fires
    ];
    // (Parallelism 1: a count trigger depends on the order in which records arrive.)
    for config in [streaming(1), batch(1)] {
        let got = run_sessions(&input, 10, 1000, 0, &config);
        assert_eq!(
            got.counted,
            [(1, 0, 30, 3, 7), (1, 0, 50, 7, 127)],
            "{:?}",
            config.mode
        );
        // The event-time trigger fires the one session at the end.
        assert_eq!(got.processed, [(1, 0, 50, 7, 127)], "{:?}", config.mode);
    }
}

dataflow! {
    /// Processing-time sessions over generated records `(i % 3, i)`.
    job processing_sessions(n: u64, gap: Duration, out: Collected<Agg>) {
        generate(n, |i| (i % 3, i))
            .key_by(|e| e.0)
            .window(ProcessingTimeSessionWindows::with_gap(gap))
            .process(|key, window, records| {
                let sum = records.iter().map(|r| r.1).sum::<u64>();
                Some((*key, window.start, window.end, records.len() as u64, sum))
            })
            .collect(out);
    }
}

#[test]
fn processing_time_sessions_hold_every_record_once_in_sessions_of_the_clock() {
    let n = 3000u64;
    for (gap, p, mode) in [
        (3_600_000i64, 2, ExecutionMode::Streaming),
        (3_600_000, 1, ExecutionMode::Batch),
        (1, 2, ExecutionMode::Streaming),
    ] {
        let out = Collected::new();
        let config = JobConfig {
            mode,
            ..JobConfig::with_parallelism(p)
        };
        let before = dataflow::runtime::time::processing_time_now();
        processing_sessions::run(&config, n, Duration::from_millis(gap as u64), out.clone())
            .unwrap();
        let after = dataflow::runtime::time::processing_time_now();
        let sessions = sorted(out.take());
        for key in 0..3 {
            let of_key: Vec<_> = sessions.iter().filter(|s| s.0 == key).collect();
            let count: u64 = of_key.iter().map(|s| s.3).sum();
            let sum: u64 = of_key.iter().map(|s| s.4).sum();
            assert_eq!(count, (0..n).filter(|i| i % 3 == key).count() as u64);
            assert_eq!(sum, (0..n).filter(|i| i % 3 == key).sum::<u64>());
            for s in &of_key {
                assert!(s.1 >= before && s.2 <= after + gap, "{s:?} outside the run");
                assert!(s.2 - s.1 >= gap, "{s:?} shorter than the gap");
            }
            if gap == 3_600_000 {
                // The run is far shorter than the gap: one session per key.
                assert_eq!(of_key.len(), 1, "gap {gap}, p = {p}, {mode:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Global windows, triggers and evictors.

/// A user trigger: fires and purges on every record whose index is a multiple of 5.
#[derive(Clone)]
struct EveryFifth;

impl Trigger<Indexed> for EveryFifth {
    type State = ();

    fn on_element(
        &mut self,
        value: &Indexed,
        _timestamp: Timestamp,
        _window: Window,
        _state: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if value.1 % 5 == 0 {
            TriggerResult::FireAndPurge
        } else {
            TriggerResult::Continue
        }
    }
}

/// A user evictor: removes the records of odd index before the function runs.
#[derive(Clone)]
struct EvenOnly;

impl Evictor<Indexed> for EvenOnly {
    fn evict_before(&mut self, records: &mut Records<Indexed>, _window: Window) {
        records.retain(|(r, _)| r.1 % 2 == 0);
    }
}

/// The indices of a window's records, as it saw them.
fn fired(key: &u64, _window: Window, records: Vec<Indexed>) -> Option<Fired> {
    Some((*key, records.iter().map(|r| r.1).collect()))
}

dataflow! {
    job global_windows(
        events: Vec<Indexed>,
        n: u64,
        keep: usize,
        horizon: Duration,
        cumulative: Collected<FiredAt>,
        purging: Collected<Fired>,
        evicted: Collected<Fired>,
        evicted_after: Collected<Fired>,
        time_evicted: Collected<Fired>,
        custom: Collected<Fired>,
    ) {
        let keyed = from_iter(events)
            .assign_timestamps(|e| e.2, WatermarkStrategy::no_watermarks())
            .parallelism(1)
            .key_by(|e| e.0);
        keyed
            .window(GlobalWindows::create())
            .trigger(CountTrigger::of(n))
            .process(|key, window, records| Some((*key, window, records.iter().map(|r| r.1).collect::<Vec<u64>>())))
            .process(|(key, window, indices), ctx| ctx.output((key, window, indices, ctx.timestamp())))
            .collect(cumulative);
        keyed
            .window(GlobalWindows::create())
            .trigger(PurgingTrigger::of(CountTrigger::of(n)))
            .process(fired)
            .collect(purging);
        keyed
            .window(GlobalWindows::create())
            .trigger(CountTrigger::of(n))
            .evictor(CountEvictor::of(keep))
            .process(fired)
            .collect(evicted);
        keyed
            .window(GlobalWindows::create())
            .trigger(CountTrigger::of(n))
            .evictor(CountEvictor::of(keep).evict_after_function())
            .process(fired)
            .collect(evicted_after);
        keyed
            .window(GlobalWindows::create())
            .trigger(CountTrigger::of(n))
            .evictor(TimeEvictor::of(horizon))
            .process(fired)
            .collect(time_evicted);
        keyed
            .window(GlobalWindows::create())
            .trigger(EveryFifth)
            .evictor(EvenOnly)
            .process(fired)
            .collect(custom);
    }
}

#[derive(Default)]
struct GlobalModel {
    cumulative: Vec<FiredAt>,
    purging: Vec<Fired>,
    evicted: Vec<Fired>,
    evicted_after: Vec<Fired>,
    time_evicted: Vec<Fired>,
    custom: Vec<Fired>,
}

/// Per key, records in arrival order; every `n`th record of a key fires its window.
fn global_model(events: &[Indexed], n: usize, keep: usize, horizon: i64) -> GlobalModel {
    #[derive(Default)]
    struct Key {
        all: Vec<Indexed>,
        batch: Vec<u64>,
        after: Vec<u64>,
        timed: Vec<Indexed>,
        custom: Vec<u64>,
    }
    let mut keys: BTreeMap<u64, Key> = BTreeMap::new();
    let mut m = GlobalModel::default();
    for &(key, index, ts) in events {
        let k = keys.entry(key).or_default();
        k.all.push((key, index, ts));
        k.batch.push(index);
        k.after.push(index);
        k.timed.push((key, index, ts));
        k.custom.push(index);
        if index % 5 == 0 {
            // The evictor runs before the function and removes odd indices; a window left
            // empty does not call the function. The trigger purges in any case.
            let even: Vec<u64> = k.custom.drain(..).filter(|i| i % 2 == 0).collect();
            if !even.is_empty() {
                m.custom.push((key, even));
            }
        }
        if k.all.len() % n != 0 {
            continue;
        }
        let indices: Vec<u64> = k.all.iter().map(|r| r.1).collect();
        m.cumulative
            .push((key, Window::GLOBAL, indices.clone(), Some(ts)));
        m.purging.push((key, std::mem::take(&mut k.batch)));
        m.evicted
            .push((key, indices[indices.len().saturating_sub(keep)..].to_vec()));
        m.evicted_after.push((key, k.after.clone()));
        let excess = k.after.len().saturating_sub(keep);
        k.after.drain(..excess);
        let newest = k.timed.iter().map(|r| r.2).max().unwrap();
        k.timed.retain(|r| r.2 > newest - horizon);
        m.time_evicted
            .push((key, k.timed.iter().map(|r| r.1).collect()));
    }
    m.cumulative.sort();
    m.purging.sort();
    m.evicted.sort();
    m.evicted_after.sort();
    m.time_evicted.sort();
    m.custom.sort();
    m
}

#[test]
fn global_windows_fire_on_count_triggers_and_evictors_keep_the_right_records() {
    let mut rng = StdRng::seed_from_u64(4);
    // Timestamps out of order by up to 30 ms, for the time evictor.
    let events: Vec<Indexed> = (0..600u64)
        .map(|i| (rng.gen_range(0..4), i, i as i64 - rng.gen_range(0..30)))
        .collect();
    for (n, keep, horizon) in [(4, 3, 10), (3, 7, 25), (1, 1, 1)] {
        let expected = global_model(&events, n, keep, horizon);
        for p in [1, 2, 4] {
            let (cumulative, purging, evicted, evicted_after, time_evicted, custom) = (
                Collected::new(),
                Collected::new(),
                Collected::new(),
                Collected::new(),
                Collected::new(),
                Collected::new(),
            );
            global_windows::run(
                &streaming(p),
                events.clone(),
                n as u64,
                keep,
                Duration::from_millis(horizon as u64),
                cumulative.clone(),
                purging.clone(),
                evicted.clone(),
                evicted_after.clone(),
                time_evicted.clone(),
                custom.clone(),
            )
            .unwrap();
            let context = format!("n {n}, keep {keep}, horizon {horizon}, p = {p}");
            assert_eq!(sorted(cumulative.take()), expected.cumulative, "{context}");
            assert_eq!(sorted(purging.take()), expected.purging, "{context}");
            assert_eq!(sorted(evicted.take()), expected.evicted, "{context}");
            assert_eq!(
                sorted(evicted_after.take()),
                expected.evicted_after,
                "{context}"
            );
            assert_eq!(
                sorted(time_evicted.take()),
                expected.time_evicted,
                "{context}"
            );
            assert_eq!(sorted(custom.take()), expected.custom, "{context}");
        }
    }
}

#[test]
fn count_trigger_on_a_global_window_small_example() {
    // One key, records 0..10 at timestamps 100 + index.
    let events: Vec<Indexed> = (0..10u64).map(|i| (7, i, 100 + i as i64)).collect();
    let (cumulative, purging, evicted, evicted_after, time_evicted, custom) = (
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
    );
    global_windows::run(
        &streaming(1),
        events,
        3,
        2,
        Duration::from_millis(2),
        cumulative.clone(),
        purging.clone(),
        evicted.clone(),
        evicted_after.clone(),
        time_evicted.clone(),
        custom.clone(),
    )
    .unwrap();
    // Non-purging: everything so far, every 3 records; the result carries the timestamp of
    // the record that fired it. The 10th record never completes a count.
    assert_eq!(
        cumulative.take(),
        [
            (7, Window::GLOBAL, vec![0, 1, 2], Some(102)),
            (7, Window::GLOBAL, vec![0, 1, 2, 3, 4, 5], Some(105)),
            (
                7,
                Window::GLOBAL,
                vec![0, 1, 2, 3, 4, 5, 6, 7, 8],
                Some(108)
            ),
        ]
    );
    // Purging: each batch of 3.
    assert_eq!(
        purging.take(),
        [(7, vec![0, 1, 2]), (7, vec![3, 4, 5]), (7, vec![6, 7, 8])]
    );
    // The last 2 records.
    assert_eq!(
        evicted.take(),
        [(7, vec![1, 2]), (7, vec![4, 5]), (7, vec![7, 8])]
    );
    // The function sees all that is kept, then only the last 2 stay.
    assert_eq!(
        evicted_after.take(),
        [
            (7, vec![0, 1, 2]),
            (7, vec![1, 2, 3, 4, 5]),
            (7, vec![4, 5, 6, 7, 8])
        ]
    );
    // Within 2 ms of the newest: t > newest - 2.
    assert_eq!(
        time_evicted.take(),
        [(7, vec![1, 2]), (7, vec![4, 5]), (7, vec![7, 8])]
    );
    // Fired at 0 ([0] kept), 5 ([1..=5] -> 2, 4), not at 10 (no such record).
    assert_eq!(custom.take(), [(7, vec![0]), (7, vec![2, 4])]);
}

// ---------------------------------------------------------------------------------------------
// Time windows through both paths, allowed lateness.

dataflow! {
    /// The same windows through the pane-based fast path and through the general operator
    /// (forced by `allowed_lateness`), with `reduce(f, p)` and `aggregate(agg, p)`.
    job paths(
        events: Vec<Event>,
        lag: i64,
        windows: EventTimeWindows,
        lateness: Duration,
        fast_reduced: Collected<Stamped>,
        general_reduced: Collected<Stamped>,
        fast_aggregated: Collected<Agg>,
        general_aggregated: Collected<Agg>,
        fast_late: Collected<Event>,
        general_late: Collected<Event>,
        count_evicted: Collected<Agg>,
        time_evicted: Collected<Agg>,
    ) {
        let keyed = from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(lagging(lag)))
            .parallelism(1)
            .key_by(|e| e.0);
        let fast = keyed
            .window(windows)
            .reduce(add_values, |key, window, v| Some((*key, window.start, window.end, v.2)));
        fast.process(|(k, s, e, sum), ctx| ctx.output((k, s, e, sum, ctx.timestamp().unwrap())))
            .collect(fast_reduced);
        fast.side_output(LATE).collect(fast_late);
        let general = keyed
            .window(windows)
            .allowed_lateness(lateness)
            .reduce(add_values, |key, window, v| Some((*key, window.start, window.end, v.2)));
        general.process(|(k, s, e, sum), ctx| ctx.output((k, s, e, sum, ctx.timestamp().unwrap())))
            .collect(general_reduced);
        general.side_output(LATE).collect(general_late);
        keyed.window(windows).aggregate(CountSum, per_window).collect(fast_aggregated);
        keyed
            .window(windows)
            .allowed_lateness(lateness)
            .aggregate(CountSum, per_window)
            .collect(general_aggregated);
        // Evictors (without allowed lateness) take the general path too.
        keyed
            .window(windows)
            .evictor(CountEvictor::of(2))
            .process(of_records)
            .collect(count_evicted);
        keyed
            .window(windows)
            .evictor(TimeEvictor::of(Duration::from_millis(7)))
            .aggregate(CountSum, per_window)
            .collect(time_evicted);
    }
}

struct PathsRun {
    fast_reduced: Vec<Stamped>,
    general_reduced: Vec<Stamped>,
    fast_aggregated: Vec<Agg>,
    general_aggregated: Vec<Agg>,
    fast_late: Vec<Event>,
    general_late: Vec<Event>,
    count_evicted: Vec<Agg>,
    time_evicted: Vec<Agg>,
}

fn run_paths(
    events: &[Event],
    lag: i64,
    windows: EventTimeWindows,
    lateness: i64,
    p: usize,
) -> PathsRun {
    let outs = (
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
    );
    paths::run(
        &streaming(p),
        events.to_vec(),
        lag,
        windows,
        Duration::from_millis(lateness as u64),
        outs.0.clone(),
        outs.1.clone(),
        outs.2.clone(),
        outs.3.clone(),
        outs.4.clone(),
        outs.5.clone(),
        outs.6.clone(),
        outs.7.clone(),
    )
    .unwrap();
    PathsRun {
        fast_reduced: outs.0.take(),
        general_reduced: outs.1.take(),
        fast_aggregated: outs.2.take(),
        general_aggregated: outs.3.take(),
        fast_late: outs.4.take(),
        general_late: outs.5.take(),
        count_evicted: outs.6.take(),
        time_evicted: outs.7.take(),
    }
}

/// A window's firing in [`window_model`]: `(key, start, end, (timestamp, value) of its
/// records in arrival order)`.
type ModelFiring = (u64, i64, i64, Vec<(i64, u64)>);

/// The windows `[start, start + size)`, `start = offset + k * slide`, that hold `ts`, latest
/// first (as the assigners list them).
fn windows_of(ts: i64, size: i64, slide: i64, offset: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut start = ts - (ts - offset).rem_euclid(slide);
    while start > ts - size {
        out.push((start, start + size));
        start -= slide;
    }
    out
}

/// Flink's window operator with the event-time trigger and allowed lateness, record by
/// record, with a watermark of `max timestamp seen - lag` after each record: a window fires
/// when the watermark reaches `end - 1`; a record for a window past `end - 1` but not past
/// `end - 1 + lateness` re-fires it with the updated contents; a window is dropped when the
/// watermark reaches `end - 1 + lateness`; a record all of whose windows are dropped goes to
/// the late data. Returns the firings in order, and the late records.
fn window_model(
    events: &[Event],
    (size, slide, offset): (i64, i64, i64),
    lag: i64,
    lateness: i64,
) -> (Vec<ModelFiring>, Vec<Event>) {
    type Open = BTreeMap<(u64, i64), Vec<(i64, u64)>>;
    let mut open: Open = BTreeMap::new();
    let (mut out, mut late) = (Vec::new(), Vec::new());
    let mut watermark = i64::MIN;
    let mut max_seen = i64::MIN;
    let advance = |open: &mut Open, out: &mut Vec<ModelFiring>, from: i64, to: i64| {
        // Timers in timestamp order.
        let mut due: Vec<(i64, ModelFiring)> = open
            .iter()
            .filter(|((_, start), _)| from < start + size - 1 && start + size - 1 <= to)
            .map(|((k, start), records)| {
                (
                    start + size - 1,
                    (*k, *start, start + size, records.clone()),
                )
            })
            .collect();
        due.sort();
        out.extend(due.into_iter().map(|(_, o)| o));
        open.retain(|(_, start), _| start + size - 1 + lateness > to);
    };
    for &(key, ts, value) in events {
        let windows = windows_of(ts, size, slide, offset);
        let mut accepted = false;
        for &(start, end) in &windows {
            if end - 1 + lateness <= watermark {
                continue;
            }
            accepted = true;
            let records = open.entry((key, start)).or_default();
            records.push((ts, value));
            if end - 1 <= watermark {
                out.push((key, start, end, records.clone()));
            }
        }
        if !accepted && !windows.is_empty() {
            late.push((key, ts, value));
        }
        max_seen = max_seen.max(ts);
        let next = max_seen - lag;
        if next > watermark {
            advance(&mut open, &mut out, watermark, next);
            watermark = next;
        }
    }
    advance(&mut open, &mut out, watermark, i64::MAX);
    (out, late)
}

/// A firing's count and sum.
fn agg_of(firing: &ModelFiring) -> Agg {
    let (k, start, end, records) = firing;
    let sum = records.iter().map(|r| r.1).sum();
    (*k, *start, *end, records.len() as u64, sum)
}

/// [`window_model`] without offset, as counts and sums.
fn lateness_model(
    events: &[Event],
    size: i64,
    slide: i64,
    lag: i64,
    lateness: i64,
) -> (Vec<Agg>, Vec<Event>) {
    let (firings, late) = window_model(events, (size, slide, 0), lag, lateness);
    (firings.iter().map(agg_of).collect(), late)
}

/// Outputs per key and window, in the order they came.
fn per_window_sequences(outputs: &[Agg]) -> BTreeMap<(u64, i64), Vec<(u64, u64)>> {
    let mut by_window: BTreeMap<(u64, i64), Vec<(u64, u64)>> = BTreeMap::new();
    for &(k, start, _, count, sum) in outputs {
        by_window.entry((k, start)).or_default().push((count, sum));
    }
    by_window
}

#[test]
fn general_path_time_windows_equal_the_fast_path_and_the_model() {
    // With the watermark 10 ms behind the highest timestamp and records up to 30 ms out of
    // order, some records are late: both paths send the same ones to the late data.
    for seed in [5, 6] {
        let input = random_events(seed, 1500, 6, 30);
        for (size, slide, offset) in [
            (50, 50, 0),
            (20, 20, 0),
            (50, 10, 0),
            (30, 20, 0),
            (30, 45, 0),
            (20, 20, 7),
            (50, 20, 13),
        ] {
            let (firings, expected_late) = window_model(&input, (size, slide, offset), 10, 0);
            let expected = sorted(firings.iter().map(agg_of).collect());
            let expected_reduced: Vec<Stamped> = expected
                .iter()
                .map(|&(k, start, end, _, sum)| (k, start, end, sum, end - 1))
                .collect();
            let expected_late = sorted(expected_late);
            // The last 2 records in arrival order; the records within 7 ms of the newest.
            let expected_count_evicted = sorted(
                firings
                    .iter()
                    .map(|(k, start, end, records)| {
                        let last = records[records.len().saturating_sub(2)..].to_vec();
                        agg_of(&(*k, *start, *end, last))
                    })
                    .collect(),
            );
            let expected_time_evicted = sorted(
                firings
                    .iter()
                    .map(|(k, start, end, records)| {
                        let newest = records.iter().map(|r| r.0).max().unwrap();
                        let kept = records.iter().filter(|r| r.0 > newest - 7).copied();
                        agg_of(&(*k, *start, *end, kept.collect()))
                    })
                    .collect(),
            );
            for p in [1, 2, 4] {
                let windows = SlidingEventTimeWindows::of(
                    Duration::from_millis(size as u64),
                    Duration::from_millis(slide as u64),
                )
                .with_offset(Duration::from_millis(offset as u64));
                let got = run_paths(&input, 10, windows, 0, p);
                let context =
                    format!("seed {seed}, size {size}, slide {slide}, offset {offset}, p = {p}");
                assert_eq!(sorted(got.fast_aggregated), expected, "fast: {context}");
                assert_eq!(
                    sorted(got.general_aggregated),
                    expected,
                    "general: {context}"
                );
                assert_eq!(
                    sorted(got.fast_reduced),
                    expected_reduced,
                    "fast: {context}"
                );
                assert_eq!(
                    sorted(got.general_reduced),
                    expected_reduced,
                    "general: {context}"
                );
                assert_eq!(sorted(got.fast_late), expected_late, "fast: {context}");
                assert_eq!(
                    sorted(got.general_late),
                    expected_late,
                    "general: {context}"
                );
                assert_eq!(
                    sorted(got.count_evicted),
                    expected_count_evicted,
                    "count evictor: {context}"
                );
                assert_eq!(
                    sorted(got.time_evicted),
                    expected_time_evicted,
                    "time evictor: {context}"
                );
            }
        }
    }
}

#[test]
fn reduce_and_aggregate_process_functions_get_the_key_and_the_window() {
    let input = vec![
        (3, 1, 10),
        (4, 2, 20),
        (3, 14, 30),
        (3, 9, 40),
        (4, 27, 50),
        (3, 21, 60),
    ];
    let windows = TumblingEventTimeWindows::of(Duration::from_millis(10));
    let got = run_paths(&input, 100, windows, 0, 1);
    let expected_reduced = [
        (3, 0, 10, 50, 9),
        (3, 10, 20, 30, 19),
        (3, 20, 30, 60, 29),
        (4, 0, 10, 20, 9),
        (4, 20, 30, 50, 29),
    ];
    let expected_aggregated = [
        (3, 0, 10, 2, 50),
        (3, 10, 20, 1, 30),
        (3, 20, 30, 1, 60),
        (4, 0, 10, 1, 20),
        (4, 20, 30, 1, 50),
    ];
    assert_eq!(sorted(got.fast_reduced), expected_reduced);
    assert_eq!(sorted(got.general_reduced), expected_reduced);
    assert_eq!(sorted(got.fast_aggregated), expected_aggregated);
    assert_eq!(sorted(got.general_aggregated), expected_aggregated);
    // Sliding windows: each record in two windows, with their own bounds.
    let windows = SlidingEventTimeWindows::of(Duration::from_millis(20), Duration::from_millis(10));
    let got = run_paths(&input[..3], 100, windows, 0, 2);
    let expected = [
        (3, -10, 10, 1, 10),
        (3, 0, 20, 2, 40),
        (3, 10, 30, 1, 30),
        (4, -10, 10, 1, 20),
        (4, 0, 20, 1, 20),
    ];
    assert_eq!(sorted(got.fast_aggregated), expected);
    assert_eq!(sorted(got.general_aggregated), expected);
}

#[test]
fn allowed_lateness_re_fires_windows_and_drops_records_beyond_it() {
    // Tumbling 10 ms windows, lateness 5 ms, watermark = highest timestamp.
    let input = vec![
        (1, 1, 1),
        (1, 5, 2),
        (1, 12, 4),   // wm 12: [0, 10) fires with 2 records
        (1, 3, 8),    // within the lateness (9 + 5 > 12): fires again with 3
        (1, 14, 16),  // wm 14 = 9 + 5: [0, 10) is dropped
        (1, 7, 32),   // beyond the lateness: late data
        (1, 22, 64),  // wm 22: [10, 20) fires
        (1, 18, 128), // within the lateness: fires again
    ];
    let windows = TumblingEventTimeWindows::of(Duration::from_millis(10));
    let got = run_paths(&input, 0, windows, 5, 1);
    let expected = [
        (1, 0, 10, 2, 3),
        (1, 0, 10, 3, 11),
        (1, 10, 20, 2, 20),
        (1, 10, 20, 3, 148),
        (1, 20, 30, 1, 64),
    ];
    assert_eq!(lateness_model(&input, 10, 10, 0, 5).0, expected);
    assert_eq!(got.general_aggregated, expected);
    assert_eq!(
        got.general_reduced,
        expected.map(|(k, s, e, _, sum)| (k, s, e, sum, e - 1))
    );
    assert_eq!(got.general_late, [(1, 7, 32)]);
    // Without lateness (the fast path), both late records are dropped.
    assert_eq!(
        got.fast_aggregated,
        [(1, 0, 10, 2, 3), (1, 10, 20, 2, 20), (1, 20, 30, 1, 64)]
    );
    assert_eq!(got.fast_late, [(1, 3, 8), (1, 7, 32), (1, 18, 128)]);
}

#[test]
fn allowed_lateness_matches_the_model_for_tumbling_and_sliding_windows() {
    // Records up to 60 ms out of order, the watermark 5 ms behind: many records are late,
    // some within the lateness, some beyond.
    for seed in [7, 8] {
        let input = random_events(seed, 1200, 4, 60);
        for (size, slide, lateness) in [(20, 20, 15), (30, 10, 12), (25, 10, 7), (10, 10, 1)] {
            let (expected, expected_late) = lateness_model(&input, size, slide, 5, lateness);
            assert!(
                expected.len() > per_window_sequences(&expected).len(),
                "the input re-fires some windows ({size}, {slide}, {lateness})"
            );
            assert!(
                !expected_late.is_empty(),
                "the input has late records ({size}, {slide}, {lateness})"
            );
            let expected_sequences = per_window_sequences(&expected);
            let expected_late = sorted(expected_late);
            for p in [1, 2, 4] {
                let windows = SlidingEventTimeWindows::of(
                    Duration::from_millis(size as u64),
                    Duration::from_millis(slide as u64),
                );
                let got = run_paths(&input, 5, windows, lateness, p);
                let context = format!(
                    "seed {seed}, size {size}, slide {slide}, lateness {lateness}, p = {p}"
                );
                if p == 1 && size == slide {
                    // One subtask, one window per record: the exact sequence, but for the
                    // order of windows of different keys firing at the same watermark.
                    let mut by_key: BTreeMap<u64, Vec<Agg>> = BTreeMap::new();
                    for o in &got.general_aggregated {
                        by_key.entry(o.0).or_default().push(*o);
                    }
                    let mut expected_by_key: BTreeMap<u64, Vec<Agg>> = BTreeMap::new();
                    for o in &expected {
                        expected_by_key.entry(o.0).or_default().push(*o);
                    }
                    assert_eq!(by_key, expected_by_key, "{context}");
                }
                assert_eq!(
                    per_window_sequences(&got.general_aggregated),
                    expected_sequences,
                    "{context}"
                );
                let reduced: Vec<Agg> = got
                    .general_reduced
                    .iter()
                    .map(|&(k, s, e, sum, ts)| {
                        assert_eq!(ts, e - 1, "{context}");
                        (k, s, e, 0, sum)
                    })
                    .collect();
                assert_eq!(
                    per_window_sequences(&reduced)
                        .into_values()
                        .map(|v| v.into_iter().map(|(_, sum)| sum).collect::<Vec<_>>())
                        .collect::<Vec<_>>(),
                    expected_sequences
                        .values()
                        .map(|v| v.iter().map(|(_, sum)| *sum).collect::<Vec<_>>())
                        .collect::<Vec<_>>(),
                    "reduce: {context}"
                );
                assert_eq!(sorted(got.general_late), expected_late, "{context}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Continuous triggers and a user trigger with timers.

/// A user trigger with timers: fires early once, when a window has `n` records, and fires
/// and purges at the window's end.
#[derive(Clone)]
struct EarlyCount(u64);

impl Trigger<Event> for EarlyCount {
    type State = u64;

    fn on_element(
        &mut self,
        _value: &Event,
        _timestamp: Timestamp,
        window: Window,
        seen: &mut u64,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        ctx.register_event_time_timer(window.max_timestamp());
        *seen += 1;
        if *seen == self.0 {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: Window,
        _seen: &mut u64,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            TriggerResult::FireAndPurge
        } else {
            TriggerResult::Continue
        }
    }
}

/// A user trigger that deletes and registers timers: fires and purges a window once event
/// time passes `timeout` after its latest record (an inactivity timeout on a global
/// window). Its state is the pending deadline.
#[derive(Clone)]
struct Timeout(i64);

impl Trigger<Event> for Timeout {
    type State = Option<i64>;

    fn on_element(
        &mut self,
        _value: &Event,
        timestamp: Timestamp,
        _window: Window,
        deadline: &mut Option<i64>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        let at = timestamp + self.0;
        match *deadline {
            Some(pending) if pending >= at => {}
            pending => {
                if let Some(pending) = pending {
                    ctx.delete_event_time_timer(pending);
                }
                ctx.register_event_time_timer(at);
                *deadline = Some(at);
            }
        }
        TriggerResult::Continue
    }

    fn on_event_time(
        &mut self,
        time: Timestamp,
        _window: Window,
        deadline: &mut Option<i64>,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if *deadline == Some(time) {
            *deadline = None;
            TriggerResult::FireAndPurge
        } else {
            TriggerResult::Continue
        }
    }
}

dataflow! {
    job triggered(
        events: Vec<Event>,
        lag: i64,
        size: Duration,
        interval: Duration,
        continuous: Collected<Agg>,
        purged: Collected<Agg>,
        early: Collected<Agg>,
        timeouts: Collected<Agg>,
    ) {
        let keyed = from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(lagging(lag)))
            .parallelism(1)
            .key_by(|e| e.0);
        keyed
            .window(TumblingEventTimeWindows::of(size))
            .trigger(ContinuousEventTimeTrigger::of(interval))
            .aggregate(CountSum, per_window)
            .collect(continuous);
        keyed
            .window(TumblingEventTimeWindows::of(size))
            .trigger(PurgingTrigger::of(ContinuousEventTimeTrigger::of(interval)))
            .aggregate(CountSum, per_window)
            .collect(purged);
        keyed
            .window(TumblingEventTimeWindows::of(size))
            .trigger(EarlyCount(3))
            .aggregate(CountSum, per_window)
            .collect(early);
        keyed
            .window(GlobalWindows::create())
            .trigger(Timeout(interval.as_millis() as i64))
            .aggregate(CountSum, per_window)
            .collect(timeouts);
    }
}

/// [`Timeout`] on a global window per key, watermark = highest timestamp - `lag` after each
/// record: a record moves the key's deadline to its timestamp + `timeout` if that is later;
/// when the watermark reaches the deadline the window fires and purges.
fn timeout_model(events: &[Event], timeout: i64, lag: i64) -> Vec<Agg> {
    let mut keys: BTreeMap<u64, (Option<i64>, u64, u64)> = BTreeMap::new();
    let mut out = Vec::new();
    let advance = |keys: &mut BTreeMap<u64, (Option<i64>, u64, u64)>, out: &mut Vec<Agg>, to| {
        let mut due: Vec<(i64, u64)> = keys
            .iter()
            .filter_map(|(k, (deadline, _, _))| deadline.filter(|d| *d <= to).map(|d| (d, *k)))
            .collect();
        due.sort();
        for (_, k) in due {
            let (deadline, count, sum) = keys.get_mut(&k).unwrap();
            *deadline = None;
            if *count > 0 {
                out.push((k, i64::MIN, i64::MAX, *count, *sum));
            }
            (*count, *sum) = (0, 0);
        }
    };
    let (mut watermark, mut max_seen) = (i64::MIN, i64::MIN);
    for &(key, ts, value) in events {
        let (deadline, count, sum) = keys.entry(key).or_default();
        *deadline = Some(deadline.map_or(ts + timeout, |d| d.max(ts + timeout)));
        *count += 1;
        *sum += value;
        max_seen = max_seen.max(ts);
        if max_seen - lag > watermark {
            watermark = max_seen - lag;
            advance(&mut keys, &mut out, watermark);
        }
    }
    advance(&mut keys, &mut out, i64::MAX);
    out
}

#[derive(Clone, Copy)]
enum ModelTrigger {
    Continuous { interval: i64, purge: bool },
    EarlyCount(u64),
}

/// A tumbling window's state in [`trigger_model`].
#[derive(Default)]
struct ModelWindow {
    contents: Option<(u64, u64)>,
    /// The continuous trigger's next early firing; the early trigger's count.
    next: Option<i64>,
    seen: u64,
    timers: std::collections::BTreeSet<i64>,
}

/// Tumbling windows of `size` with `trigger` and no allowed lateness, watermark =
/// highest timestamp - `lag` after each record. Timers fire in timestamp order when the
/// watermark reaches them, including timers the firing ones register (as Flink's timer
/// service does); a trigger firing on an empty (purged) window emits nothing.
fn trigger_model(events: &[Event], size: i64, lag: i64, trigger: ModelTrigger) -> Vec<Agg> {
    let mut open: BTreeMap<(u64, i64), ModelWindow> = BTreeMap::new();
    let mut out = Vec::new();
    let emit = |out: &mut Vec<Agg>, key: u64, start: i64, w: &mut ModelWindow, purge: bool| {
        if let Some((count, sum)) = w.contents {
            out.push((key, start, start + size, count, sum));
        }
        if purge {
            w.contents = None;
        }
    };
    let advance = |open: &mut BTreeMap<(u64, i64), ModelWindow>, out: &mut Vec<Agg>, to: i64| {
        for (&(key, start), w) in open.iter_mut() {
            let end = start + size;
            while let Some(&time) = w.timers.iter().next().filter(|t| **t <= to) {
                w.timers.remove(&time);
                match trigger {
                    ModelTrigger::Continuous { interval, purge } => {
                        if time == end - 1 {
                            emit(out, key, start, w, purge);
                        } else if w.next == Some(time) {
                            let at = (time - time.rem_euclid(interval) + interval).min(end - 1);
                            w.next = Some(at);
                            w.timers.insert(at);
                            emit(out, key, start, w, purge);
                        }
                    }
                    ModelTrigger::EarlyCount(_) => {
                        if time == end - 1 {
                            emit(out, key, start, w, true);
                        }
                    }
                }
            }
        }
        open.retain(|(_, start), _| start + size - 1 > to);
    };
    let mut watermark = i64::MIN;
    let mut max_seen = i64::MIN;
    for &(key, ts, value) in events {
        let start = ts - ts.rem_euclid(size);
        let end = start + size;
        if end - 1 > watermark {
            let w = open.entry((key, start)).or_default();
            let fire = match trigger {
                ModelTrigger::Continuous { interval, .. } => {
                    w.timers.insert(end - 1);
                    if w.next.is_none() {
                        let at = (ts - ts.rem_euclid(interval) + interval).min(end - 1);
                        w.next = Some(at);
                        w.timers.insert(at);
                    }
                    false
                }
                ModelTrigger::EarlyCount(n) => {
                    w.timers.insert(end - 1);
                    w.seen += 1;
                    w.seen == n
                }
            };
            let acc = w.contents.get_or_insert((0, 0));
            acc.0 += 1;
            acc.1 += value;
            if fire {
                emit(&mut out, key, start, w, false);
            }
        }
        max_seen = max_seen.max(ts);
        if max_seen - lag > watermark {
            watermark = max_seen - lag;
            advance(&mut open, &mut out, watermark);
        }
    }
    advance(&mut open, &mut out, i64::MAX);
    out
}

struct TriggeredRun {
    continuous: Vec<Agg>,
    purged: Vec<Agg>,
    early: Vec<Agg>,
    timeouts: Vec<Agg>,
}

fn run_triggered(events: &[Event], lag: i64, size: i64, interval: i64, p: usize) -> TriggeredRun {
    let (continuous, purged, early, timeouts) = (
        Collected::new(),
        Collected::new(),
        Collected::new(),
        Collected::new(),
    );
    triggered::run(
        &streaming(p),
        events.to_vec(),
        lag,
        Duration::from_millis(size as u64),
        Duration::from_millis(interval as u64),
        continuous.clone(),
        purged.clone(),
        early.clone(),
        timeouts.clone(),
    )
    .unwrap();
    TriggeredRun {
        continuous: continuous.take(),
        purged: purged.take(),
        early: early.take(),
        timeouts: timeouts.take(),
    }
}

#[test]
fn continuous_event_time_trigger_fires_early_at_every_interval_and_at_the_end() {
    // A record every 10 ms of [0, 100), then one at 150; watermark = highest timestamp.
    let mut input: Vec<Event> = (0..10).map(|i| (1, i * 10, 1)).collect();
    input.push((1, 150, 1));
    let got = run_triggered(&input, 0, 100, 20, 1);
    // [0, 100) fires as the watermark reaches 20, 40, 60 and 80 (with the records up to
    // then), and at 99 with all; [100, 200) gets its first timer at 160, fired by the final
    // watermark, which also fires the ones it registers (180, then the end, 199).
    let expected_continuous = [
        (1, 0, 100, 3, 3),
        (1, 0, 100, 5, 5),
        (1, 0, 100, 7, 7),
        (1, 0, 100, 9, 9),
        (1, 0, 100, 10, 10),
        (1, 100, 200, 1, 1),
        (1, 100, 200, 1, 1),
        (1, 100, 200, 1, 1),
    ];
    let continuous = ModelTrigger::Continuous {
        interval: 20,
        purge: false,
    };
    assert_eq!(
        trigger_model(&input, 100, 0, continuous),
        expected_continuous
    );
    assert_eq!(got.continuous, expected_continuous);
    // Purging: what came since the previous firing; an empty window does not fire.
    assert_eq!(
        got.purged,
        [
            (1, 0, 100, 3, 3),
            (1, 0, 100, 2, 2),
            (1, 0, 100, 2, 2),
            (1, 0, 100, 2, 2),
            (1, 0, 100, 1, 1),
            (1, 100, 200, 1, 1),
        ]
    );
    // The user trigger: early with 3 records, then at the end.
    assert_eq!(
        got.early,
        [(1, 0, 100, 3, 3), (1, 0, 100, 10, 10), (1, 100, 200, 1, 1)]
    );
}

#[test]
fn a_user_trigger_that_moves_its_timer_fires_at_the_new_time() {
    // Global windows with `Timeout(10)`; watermark = highest timestamp. A record is
    // processed before the watermark it brings.
    let input = vec![
        (1, 0, 1),  // deadline 10
        (1, 5, 2),  // deadline 15 (10 deleted)
        (1, 8, 4),  // deadline 18 (15 deleted)
        (2, 30, 0), // key 2: deadline 40; wm 30: key 1 fires with 3 records
        (1, 31, 8), // deadline 41
        (2, 60, 0), // deadline 70 (40 deleted); wm 60: key 1 fires (41)
    ];
    // Key 2 fires at the end.
    let expected = [
        (1, i64::MIN, i64::MAX, 3, 7),
        (1, i64::MIN, i64::MAX, 1, 8),
        (2, i64::MIN, i64::MAX, 2, 0),
    ];
    assert_eq!(timeout_model(&input, 10, 0), expected);
    let got = run_triggered(&input, 0, 100, 10, 1);
    assert_eq!(got.timeouts, expected);
}

#[test]
fn a_user_trigger_that_moves_its_timer_matches_the_model() {
    for seed in [15, 16] {
        let input = random_events(seed, 1500, 3, 8);
        for (timeout, lag) in [(5, 0), (20, 4)] {
            let mut expected: BTreeMap<u64, Vec<Agg>> = BTreeMap::new();
            for o in timeout_model(&input, timeout, lag) {
                expected.entry(o.0).or_default().push(o);
            }
            for p in [1, 3] {
                let mut got: BTreeMap<u64, Vec<Agg>> = BTreeMap::new();
                for o in run_triggered(&input, lag, 100, timeout, p).timeouts {
                    got.entry(o.0).or_default().push(o);
                }
                assert_eq!(got, expected, "seed {seed}, timeout {timeout}, p = {p}");
            }
        }
    }
}

#[test]
fn continuous_and_user_triggers_match_the_model() {
    for seed in [9, 10] {
        let input = random_events(seed, 1500, 3, 8);
        for (size, interval, lag) in [(100, 20, 3), (60, 25, 0), (200, 7, 10)] {
            let model = |trigger| {
                let mut by_key: BTreeMap<u64, Vec<Agg>> = BTreeMap::new();
                for o in trigger_model(&input, size, lag, trigger) {
                    by_key.entry(o.0).or_default().push(o);
                }
                by_key
            };
            let continuous = model(ModelTrigger::Continuous {
                interval,
                purge: false,
            });
            let purged = model(ModelTrigger::Continuous {
                interval,
                purge: true,
            });
            let early = model(ModelTrigger::EarlyCount(3));
            for p in [1, 3] {
                let got = run_triggered(&input, lag, size, interval, p);
                let by_key = |outputs: Vec<Agg>| {
                    let mut by_key: BTreeMap<u64, Vec<Agg>> = BTreeMap::new();
                    for o in outputs {
                        by_key.entry(o.0).or_default().push(o);
                    }
                    by_key
                };
                let context = format!("seed {seed}, size {size}, interval {interval}, p = {p}");
                assert_eq!(by_key(got.continuous), continuous, "continuous: {context}");
                assert_eq!(by_key(got.purged), purged, "purged: {context}");
                assert_eq!(by_key(got.early), early, "early: {context}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// window_all.

dataflow! {
    job all_windows(
        events: Vec<Event>,
        lag: i64,
        sums: Collected<(i64, u64)>,
        counts: Collected<(i64, u64)>,
        reduced: Collected<(i64, u64)>,
        processed: Collected<(i64, i64, u64, u64)>,
        sessions: Collected<(i64, i64, u64, u64)>,
        aggregated: Collected<(i64, i64, u64, u64)>,
        batches: Collected<u64>,
    ) {
        let timed = from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(lagging(lag)));
        timed
            .window_all(TumblingEventTimeWindows::of(Duration::from_millis(50)))
            .sum(|e| e.2)
            .process(|sum, ctx| ctx.output((ctx.timestamp().unwrap(), sum)))
            .collect(sums);
        timed
            .window_all(TumblingEventTimeWindows::of(Duration::from_millis(50)))
            .count()
            .process(|count, ctx| ctx.output((ctx.timestamp().unwrap(), count)))
            .collect(counts);
        timed
            .window_all(SlidingEventTimeWindows::of(Duration::from_millis(50), Duration::from_millis(20)))
            .reduce(add_values)
            .process(|e, ctx| ctx.output((ctx.timestamp().unwrap(), e.2)))
            .collect(reduced);
        timed
            .window_all(TumblingEventTimeWindows::of(Duration::from_millis(50)))
            .process(|window, records| {
                Some((window.start, window.end, records.len() as u64, records.iter().map(|r| r.2).sum::<u64>()))
            })
            .collect(processed);
        timed
            .window_all(EventTimeSessionWindows::with_gap(Duration::from_millis(10)))
            .process(|window, records| {
                Some((window.start, window.end, records.len() as u64, records.iter().map(|r| r.2).sum::<u64>()))
            })
            .collect(sessions);
        timed
            .window_all(SlidingEventTimeWindows::of(Duration::from_millis(50), Duration::from_millis(20)))
            .allowed_lateness(Duration::from_millis(5))
            .aggregate(CountSum, |window, (count, sum)| Some((window.start, window.end, count, sum)))
            .collect(aggregated);
        timed
            .window_all(GlobalWindows::create())
            .trigger(PurgingTrigger::of(CountTrigger::of(100)))
            .count()
            .collect(batches);
    }
}

#[test]
fn window_all_computes_windows_over_all_keys() {
    let input = random_events(11, 2000, 7, 19);
    // The model: the per-key windows, over a single key.
    let all_one_key: Vec<Event> = input.iter().map(|&(_, ts, v)| (0, ts, v)).collect();
    let tumbling = sorted(lateness_model(&all_one_key, 50, 50, 25, 0).0);
    let expected_sums: Vec<(i64, u64)> = tumbling.iter().map(|o| (o.2 - 1, o.4)).collect();
    let expected_counts: Vec<(i64, u64)> = tumbling.iter().map(|o| (o.2 - 1, o.3)).collect();
    let expected_processed: Vec<(i64, i64, u64, u64)> =
        tumbling.iter().map(|o| (o.1, o.2, o.3, o.4)).collect();
    let sliding = sorted(lateness_model(&all_one_key, 50, 20, 25, 0).0);
    let expected_reduced: Vec<(i64, u64)> = sliding.iter().map(|o| (o.2 - 1, o.4)).collect();
    let expected_aggregated: Vec<(i64, i64, u64, u64)> =
        sliding.iter().map(|o| (o.1, o.2, o.3, o.4)).collect();
    let expected_sessions: Vec<(i64, i64, u64, u64)> = session_model(&all_one_key, |_| 10)
        .iter()
        .map(|o| (o.1, o.2, o.3, o.4))
        .collect();
    assert!(expected_sessions.len() > 5);
    for p in [1, 2, 4] {
        for config in [streaming(p), batch(p)] {
            let outs = (
                Collected::new(),
                Collected::new(),
                Collected::new(),
                Collected::new(),
                Collected::new(),
                Collected::new(),
                Collected::new(),
            );
            all_windows::run(
                &config,
                input.clone(),
                25,
                outs.0.clone(),
                outs.1.clone(),
                outs.2.clone(),
                outs.3.clone(),
                outs.4.clone(),
                outs.5.clone(),
                outs.6.clone(),
            )
            .unwrap();
            let context = format!("p = {p}, {:?}", config.mode);
            assert_eq!(sorted(outs.0.take()), expected_sums, "sum: {context}");
            assert_eq!(sorted(outs.1.take()), expected_counts, "count: {context}");
            assert_eq!(sorted(outs.2.take()), expected_reduced, "reduce: {context}");
            assert_eq!(
                sorted(outs.3.take()),
                expected_processed,
                "process: {context}"
            );
            assert_eq!(
                sorted(outs.4.take()),
                expected_sessions,
                "sessions: {context}"
            );
            assert_eq!(
                sorted(outs.5.take()),
                expected_aggregated,
                "aggregate: {context}"
            );
            assert_eq!(outs.6.take(), vec![100; 20], "global: {context}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Count windows with a process function.

dataflow! {
    job count_process(
        events: Vec<(u64, u64)>,
        tumbling: Collected<(u64, Window, Vec<u64>)>,
        sliding: Collected<(u64, Window, Vec<u64>)>,
    ) {
        let keyed = from_iter(events).key_by(|e| e.0);
        keyed
            .count_window(3)
            .process(|key, window, records| Some((*key, window, records.iter().map(|r| r.1).collect::<Vec<u64>>())))
            .collect(tumbling);
        keyed
            .count_window(4, 2)
            .process(|key, window, records| Some((*key, window, records.iter().map(|r| r.1).collect::<Vec<u64>>())))
            .collect(sliding);
    }
}

/// Per key, every `slide` records, the last `size` (fewer at the start).
fn count_process_model(
    events: &[(u64, u64)],
    size: usize,
    slide: usize,
) -> Vec<(u64, Window, Vec<u64>)> {
    let mut seen: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut out = Vec::new();
    for &(key, value) in events {
        let values = seen.entry(key).or_default();
        values.push(value);
        if values.len() % slide == 0 {
            let from = values.len().saturating_sub(size);
            out.push((key, Window::GLOBAL, values[from..].to_vec()));
        }
    }
    out.sort();
    out
}

#[test]
fn count_windows_hand_their_records_in_order_to_a_process_function() {
    let mut rng = StdRng::seed_from_u64(12);
    // Values are the records' indices: the process function must see them in order.
    let events: Vec<(u64, u64)> = (0..400).map(|i| (rng.gen_range(0..5), i)).collect();
    let small = [(1, 0), (1, 1), (2, 2), (1, 3), (1, 4), (1, 5), (2, 6)];
    let small_run = || {
        let (tumbling, sliding) = (Collected::new(), Collected::new());
        count_process::run(
            &JobConfig::with_parallelism(1),
            small.to_vec(),
            tumbling.clone(),
            sliding.clone(),
        )
        .unwrap();
        (tumbling.take(), sliding.take())
    };
    let (tumbling, sliding) = small_run();
    assert_eq!(tumbling, [(1, Window::GLOBAL, vec![0, 1, 3])]);
    assert_eq!(
        sorted(sliding),
        [
            (1, Window::GLOBAL, vec![0, 1]),
            (1, Window::GLOBAL, vec![0, 1, 3, 4]),
            (2, Window::GLOBAL, vec![2, 6]),
        ]
    );
    for p in [1, 2, 3] {
        let (tumbling, sliding) = (Collected::new(), Collected::new());
        count_process::run(
            &JobConfig::with_parallelism(p),
            events.clone(),
            tumbling.clone(),
            sliding.clone(),
        )
        .unwrap();
        assert_eq!(
            sorted(tumbling.take()),
            count_process_model(&events, 3, 3),
            "p = {p}"
        );
        assert_eq!(
            sorted(sliding.take()),
            count_process_model(&events, 4, 2),
            "p = {p}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Windows following windows.

dataflow! {
    /// Per key: 10 ms sums, then 20 ms sums of those (through the fast path and through the
    /// general operator), and 20 ms sums directly; each with its result's timestamp.
    job two_stages(
        events: Vec<Event>,
        lag: i64,
        staged: Collected<(u64, i64, u64)>,
        staged_general: Collected<(u64, i64, u64)>,
        direct: Collected<(u64, i64, u64)>,
    ) {
        let keyed = from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(lagging(lag)))
            .key_by(|e| e.0);
        keyed
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .reduce(add_values)
            .key_by(|e| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(20)))
            .reduce(add_values)
            .process(|e, ctx| ctx.output((e.0, ctx.timestamp().unwrap(), e.2)))
            .collect(staged);
        keyed
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .allowed_lateness(Duration::ZERO)
            .reduce(add_values)
            .key_by(|e| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(20)))
            .allowed_lateness(Duration::ZERO)
            .reduce(add_values)
            .process(|e, ctx| ctx.output((e.0, ctx.timestamp().unwrap(), e.2)))
            .collect(staged_general);
        keyed
            .window(TumblingEventTimeWindows::of(Duration::from_millis(20)))
            .reduce(add_values)
            .process(|e, ctx| ctx.output((e.0, ctx.timestamp().unwrap(), e.2)))
            .collect(direct);
    }
}

#[test]
fn windows_following_windows_equal_the_larger_window_directly() {
    for seed in [13, 14] {
        let input = random_events(seed, 2000, 5, 19);
        // No record is late for the first stage: the second sees every 10 ms result, which
        // carries its window's end - 1, before the watermark passes it.
        let expected: Vec<(u64, i64, u64)> = sorted(lateness_model(&input, 20, 20, 21, 0).0)
            .iter()
            .map(|o| (o.0, o.2 - 1, o.4))
            .collect();
        for p in [1, 2, 4] {
            for config in [streaming(p), batch(p)] {
                let (staged, staged_general, direct) =
                    (Collected::new(), Collected::new(), Collected::new());
                two_stages::run(
                    &config,
                    input.clone(),
                    21,
                    staged.clone(),
                    staged_general.clone(),
                    direct.clone(),
                )
                .unwrap();
                let context = format!("seed {seed}, p = {p}, {:?}", config.mode);
                assert_eq!(sorted(direct.take()), expected, "direct: {context}");
                assert_eq!(sorted(staged.take()), expected, "staged: {context}");
                assert_eq!(
                    sorted(staged_general.take()),
                    expected,
                    "staged, general: {context}"
                );
            }
        }
    }
}
