//! Event time, watermarks, keyed state, process functions and timers: exact outputs.
//!
//! Slow or idle inputs are `socket_lines` sources fed by a scripted TCP server in a test
//! thread ([`serve`]): such a source waits for data without blocking a worker thread, so its
//! task keeps emitting periodic watermarks, idleness and processing-time timers while the
//! server pauses. A flag the server sets when it resumes after a pause tells the job's
//! functions whether something happened "before the end of input".

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dataflow::prelude::*;
use dataflow::runtime::time::processing_time_now;

dataflow! {
    job sessions(events: Vec<(u64, i64)>, gap: i64, out: Collected<(u64, i64, i64, u64)>) {
        from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(5))).parallelism(1)
            .key_by(|e| e.0)
            .process(Sessions { gap })
            .collect(out);
    }
}

#[derive(Clone)]
struct Sessions {
    gap: i64,
}

#[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
struct Session {
    start: i64,
    last: i64,
    count: u64,
}

impl KeyedProcessFunction<u64, (u64, i64)> for Sessions {
    type State = Session;
    type Out = (u64, i64, i64, u64);

    fn process_element(
        &mut self,
        _key: &u64,
        s: &mut Session,
        (_, ts): (u64, i64),
        ctx: &mut KeyedContext<'_, u64, Self::Out>,
    ) {
        if s.count > 0 && ts >= s.last + self.gap {
            // The watermark has not closed the previous session yet; this record does.
            ctx.delete_event_time_timer(s.last + self.gap);
            ctx.output((*_key, s.start, s.last, s.count));
            s.count = 0;
        }
        if s.count == 0 {
            s.start = ts;
            s.last = ts;
        }
        ctx.delete_event_time_timer(s.last + self.gap);
        s.start = s.start.min(ts);
        s.last = s.last.max(ts);
        s.count += 1;
        ctx.register_event_time_timer(s.last + self.gap);
    }

    fn on_timer(
        &mut self,
        key: &u64,
        s: &mut Session,
        _ts: Timestamp,
        _d: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, Self::Out>,
    ) {
        ctx.output((*key, s.start, s.last, s.count));
        ctx.clear_state();
    }
}

#[test]
fn sessions_close_after_the_gap() {
    let events = vec![(1, 0), (2, 1), (1, 3), (1, 30), (2, 50), (1, 31)];
    let out = Collected::new();
    sessions::run(&JobConfig::with_parallelism(2), events, 10, out.clone()).unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(
        got,
        vec![(1, 0, 3, 2), (1, 30, 31, 2), (2, 1, 1, 1), (2, 50, 50, 1)]
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn streaming(parallelism: usize) -> JobConfig {
    JobConfig {
        mode: ExecutionMode::Streaming,
        ..JobConfig::with_parallelism(parallelism)
    }
}

fn batch(parallelism: usize) -> JobConfig {
    JobConfig {
        mode: ExecutionMode::Batch,
        ..JobConfig::with_parallelism(parallelism)
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// One step of a scripted TCP server.
#[derive(Clone)]
enum Step {
    /// Sends a line.
    Send(String),
    /// Pauses this many milliseconds.
    Wait(u64),
    /// Sets the flag (the job's functions read it to tell "before" from "after").
    Set(Arc<AtomicBool>),
}

fn send(line: impl ToString) -> Step {
    Step::Send(line.to_string())
}

/// A server for `socket_lines`: accepts one connection, runs `steps`, then closes it (which
/// ends the source).
fn serve(steps: Vec<Step>) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.set_nodelay(true);
        for step in steps {
            match step {
                Step::Send(line) => {
                    // A job that failed has closed the connection; the test reports its error.
                    let _ = stream.write_all(format!("{line}\n").as_bytes());
                    let _ = stream.flush();
                }
                Step::Wait(ms) => std::thread::sleep(Duration::from_millis(ms)),
                Step::Set(flag) => flag.store(true, Ordering::SeqCst),
            }
        }
    });
    (address, server)
}

/// A punctuated watermark generator trailing the highest timestamp seen by `lag` (none at all
/// for `None`): `max_seen - lag` after every record.
fn trailing<T: 'static>(
    lag: Option<i64>,
) -> impl FnMut(&T, Timestamp) -> Option<Timestamp> + Clone + Send + 'static {
    let mut max_seen = Timestamp::MIN;
    move |_, ts| {
        max_seen = max_seen.max(ts);
        lag.map(|lag| max_seen.saturating_sub(lag))
    }
}

/// A deterministic pseudo-random generator (Knuth's MMIX LCG), as in `tests/operators.rs`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The output of a keyed job grouped by key, each key's records in the order they were
/// collected (a key lives in one subtask, whose records reach the sink in order).
fn per_key<K: Ord + Clone, T: Clone>(
    records: &[T],
    key: impl Fn(&T) -> K,
) -> std::collections::BTreeMap<K, Vec<T>> {
    let mut by_key = std::collections::BTreeMap::<K, Vec<T>>::new();
    for r in records {
        by_key.entry(key(r)).or_default().push(r.clone());
    }
    by_key
}

// ---------------------------------------------------------------------------------------------
// 1. The watermark of a task with several inputs is the minimum over them
// ---------------------------------------------------------------------------------------------

/// Channels 0 and 1: the two subtasks of a fast `generate`; channel 2: a slow socket.
const SLOW: usize = 2;

dataflow! {
    job min_watermark_punctuated(n: u64, slow: String, out: Collected<(usize, i64, i64)>) {
        let fast = generate(n, move |i| (usize::from(i >= n / 2), i as i64)).parallelism(2)
            .assign_timestamps(|x| x.1, WatermarkStrategy::punctuated(|_: &_, ts| Some(ts))).parallelism(2);
        let slow = socket_lines(slow)
            .map(|l| (SLOW, l.parse::<i64>().unwrap()))
            .assign_timestamps(|x| x.1, WatermarkStrategy::punctuated(|_: &_, ts| Some(ts)));
        fast.union(slow)
            .process(|x, ctx| ctx.output((x.0, x.1, ctx.current_watermark())))
            .collect(out);
    }

    job min_watermark_periodic(n: u64, slow: String, out: Collected<(usize, i64, i64)>) {
        let fast = generate(n, move |i| (usize::from(i >= n / 2), i as i64)).parallelism(2)
            .assign_timestamps(
                |x| x.1,
                WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(5))
                    .with_interval(Duration::from_millis(10)),
            ).parallelism(2);
        let slow = socket_lines(slow)
            .map(|l| (SLOW, l.parse::<i64>().unwrap()))
            .assign_timestamps(
                |x| x.1,
                WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(5))
                    .with_interval(Duration::from_millis(10)),
            );
        fast.union(slow)
            .process(|x, ctx| ctx.output((x.0, x.1, ctx.current_watermark())))
            .collect(out);
    }
}

/// The slow input: a first line after 80 ms, then one every 30 ms.
const SLOW_TIMESTAMPS: [i64; 5] = [5, 10, 15, 20, 25];

fn slow_script() -> Vec<Step> {
    let mut steps = vec![Step::Wait(80)];
    for (i, ts) in SLOW_TIMESTAMPS.iter().enumerate() {
        if i > 0 {
            steps.push(Step::Wait(30));
        }
        steps.push(send(ts));
    }
    steps
}

/// Checks what a parallelism-1 process saw, in arrival order: `(channel, ts, watermark)`.
/// `lag` is what the strategy subtracts from the highest timestamp seen (0 for
/// `Some(ts)` punctuation, `bound + 1` for bounded out-of-orderness).
fn check_min_watermark(observed: &[(usize, i64, i64)], n: u64, lag: i64) {
    // Every record arrived once.
    let fast: Vec<i64> = sorted(
        observed
            .iter()
            .filter(|o| o.0 != SLOW)
            .map(|o| o.1)
            .collect(),
    );
    assert_eq!(fast, (0..n as i64).collect::<Vec<_>>());
    let slow: Vec<i64> = observed
        .iter()
        .filter(|o| o.0 == SLOW)
        .map(|o| o.1)
        .collect();
    assert_eq!(slow, SLOW_TIMESTAMPS, "the slow input's records, in order");

    // The invariant: a watermark travels behind the records it covers, so when a record
    // arrives the watermark is at most min over inputs of (max timestamp received - lag), and
    // stays at Timestamp::MIN while some input has sent nothing. An input that ended no longer
    // counts; it ends after its last record, so from then on it is left out of the bound.
    let last_of = |channel: usize| {
        observed
            .iter()
            .rposition(|o| o.0 == channel)
            .expect("every input sent records")
    };
    let last_index = [last_of(0), last_of(1), last_of(SLOW)];
    let mut max_seen = [Timestamp::MIN; 3];
    let mut last = Timestamp::MIN;
    for (index, &(channel, ts, wm)) in observed.iter().enumerate() {
        let allowed = (0..3)
            .filter(|&c| index <= last_index[c])
            .map(|c| match max_seen[c] {
                Timestamp::MIN => Timestamp::MIN,
                max => max - lag,
            })
            .min()
            .unwrap_or(Timestamp::MAX);
        assert!(
            wm <= allowed,
            "record {ts} of input {channel} saw watermark {wm}, but the inputs allow only {allowed} \
             (max timestamps received: {max_seen:?})"
        );
        assert!(wm >= last, "the watermark went back from {last} to {wm}");
        last = wm;
        max_seen[channel] = max_seen[channel].max(ts);
    }

    // The situation the invariant is about did occur: fast records far ahead of the slow
    // input arrived before its first record, and were held back at Timestamp::MIN.
    let before_slow = observed.iter().take_while(|o| o.0 != SLOW).count();
    assert!(
        before_slow > 0,
        "the fast input should have been ahead of the slow one"
    );
    // The watermark did advance while the slow input ran; once the fast input has ended (as
    // it normally has by then), the slow input alone decides: its last record sees the
    // watermark that followed the one before it.
    let last_slow = observed[last_index[SLOW]];
    assert!(last_slow.2 > Timestamp::MIN, "the watermark never advanced");
    if last_index[0] < last_index[SLOW] && last_index[1] < last_index[SLOW] {
        assert_eq!(
            last_slow.2,
            SLOW_TIMESTAMPS[SLOW_TIMESTAMPS.len() - 2] - lag,
            "the watermark seen by the slow input's last record"
        );
    }
}

#[test]
fn the_watermark_is_the_minimum_over_inputs_with_punctuated_watermarks() {
    let n = 2000;
    let (address, server) = serve(slow_script());
    let out = Collected::new();
    min_watermark_punctuated::run(&streaming(1), n, address, out.clone()).unwrap();
    server.join().unwrap();
    check_min_watermark(&out.take(), n, 0);
}

#[test]
fn the_watermark_is_the_minimum_over_inputs_with_bounded_out_of_orderness() {
    let n = 2000;
    let (address, server) = serve(slow_script());
    let out = Collected::new();
    min_watermark_periodic::run(&streaming(1), n, address, out.clone()).unwrap();
    server.join().unwrap();
    check_min_watermark(&out.take(), n, 5 + 1);
}

// ---------------------------------------------------------------------------------------------
// 2. An idle input does not hold back the watermark
// ---------------------------------------------------------------------------------------------

/// Registers an event-time timer at `ts + 5` for each record of the active input (`true`);
/// a firing timer emits its timestamp and whether the idle input's server had resumed.
#[derive(Clone)]
struct TimerProbe {
    resumed: Arc<AtomicBool>,
}

impl KeyedProcessFunction<i64, (bool, i64)> for TimerProbe {
    type State = ();
    type Out = (i64, bool);

    fn process_element(
        &mut self,
        _key: &i64,
        _state: &mut (),
        (active, ts): (bool, i64),
        ctx: &mut KeyedContext<'_, i64, Self::Out>,
    ) {
        if active {
            ctx.register_event_time_timer(ts + 5);
        }
    }

    fn on_timer(
        &mut self,
        _key: &i64,
        _state: &mut (),
        timestamp: Timestamp,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, i64, Self::Out>,
    ) {
        ctx.output((timestamp, self.resumed.load(Ordering::SeqCst)));
    }
}

dataflow! {
    job idle_input(active: String, idle: String, resumed: Arc<AtomicBool>, out: Collected<(i64, bool)>) {
        let a = socket_lines(active)
            .map(|l| (true, l.parse::<i64>().unwrap())).parallelism(1)
            .assign_timestamps(|x| x.1, WatermarkStrategy::punctuated(|_: &_, ts| Some(ts))).parallelism(1);
        let i = socket_lines(idle)
            .map(|l| (false, l.parse::<i64>().unwrap())).parallelism(1)
            .assign_timestamps(
                |x| x.1,
                WatermarkStrategy::punctuated(|_: &_, ts| Some(ts))
                    .with_idleness(Duration::from_millis(50))
                    .with_interval(Duration::from_millis(10)),
            ).parallelism(1);
        a.union(i).key_by(|x| x.1 % 3).process(TimerProbe { resumed }).collect(out);
    }

    job idle_input_after_the_other_ended(
        active: Vec<i64>,
        idle: String,
        resumed: Arc<AtomicBool>,
        out: Collected<(i64, bool)>
    ) {
        let a = from_iter(active)
            .map(|ts| (true, ts)).parallelism(1)
            .assign_timestamps(|x| x.1, WatermarkStrategy::punctuated(|_: &_, ts| Some(ts))).parallelism(1);
        let i = socket_lines(idle)
            .map(|l| (false, l.parse::<i64>().unwrap())).parallelism(1)
            .assign_timestamps(
                |x| x.1,
                WatermarkStrategy::punctuated(|_: &_, ts| Some(ts))
                    .with_idleness(Duration::from_millis(50))
                    .with_interval(Duration::from_millis(10)),
            ).parallelism(1);
        a.union(i).key_by(|x| x.1 % 3).process(TimerProbe { resumed }).collect(out);
    }
}

/// The idle input: one record at 0, then nothing for 500 ms (the flag marks the end of
/// the pause), then the end.
fn idle_script(resumed: &Arc<AtomicBool>) -> Vec<Step> {
    vec![send(0), Step::Wait(500), Step::Set(Arc::clone(resumed))]
}

#[test]
fn an_idle_input_does_not_hold_back_event_time_timers() {
    // The active input: timestamps 0, 10, .., 390, one every 5 ms (about 200 ms).
    let mut active = Vec::new();
    for i in 0..40 {
        if i > 0 {
            active.push(Step::Wait(5));
        }
        active.push(send(i * 10));
    }
    let resumed = Arc::new(AtomicBool::new(false));
    let (active, active_server) = serve(active);
    let (idle, idle_server) = serve(idle_script(&resumed));
    let out = Collected::new();
    idle_input::run(
        &streaming(2),
        active,
        idle,
        Arc::clone(&resumed),
        out.clone(),
    )
    .unwrap();
    active_server.join().unwrap();
    idle_server.join().unwrap();
    let fired = out.take_sorted();
    let timers: Vec<i64> = fired.iter().map(|f| f.0).collect();
    assert_eq!(timers, (0..40).map(|i| i * 10 + 5).collect::<Vec<_>>());
    // Held back by the idle input's watermark (0), every timer would wait for its end.
    let late: Vec<i64> = fired.iter().filter(|f| f.1).map(|f| f.0).collect();
    assert!(
        late.is_empty(),
        "timers {late:?} fired only after the idle input resumed"
    );
}

/// An input that ended sent the final watermark: when the other input then goes idle, nothing
/// active holds the watermark back (Flink's rule), so the ended input's timers fire before
/// the idle input resumes.
#[test]
fn an_input_going_idle_after_the_other_ended_does_not_hold_back_timers() {
    let resumed = Arc::new(AtomicBool::new(false));
    let (idle, idle_server) = serve(idle_script(&resumed));
    let out = Collected::new();
    idle_input_after_the_other_ended::run(
        &streaming(2),
        vec![0, 10, 20, 30],
        idle,
        Arc::clone(&resumed),
        out.clone(),
    )
    .unwrap();
    idle_server.join().unwrap();
    assert_eq!(
        out.take_sorted(),
        vec![(5, false), (15, false), (25, false), (35, false)],
        "the timers should fire once the remaining input is idle (after ~50 ms), before it resumes"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Out-of-order records within the bound are not late
// ---------------------------------------------------------------------------------------------

dataflow! {
    /// Records are `(index, ts)`; punctuation trails the highest timestamp by `lag`.
    job out_of_order_punctuated(events: Vec<(usize, i64)>, lag: i64, out: Collected<(usize, i64, Option<i64>, i64)>) {
        from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(trailing(Some(lag)))).parallelism(1)
            .key_by(|e| e.1 % 3)
            .process(|_key, _s: &mut (), e: (usize, i64), ctx| {
                ctx.output((e.0, e.1, ctx.timestamp(), ctx.current_watermark()))
            })
            .collect(out);
    }

    job out_of_order_periodic(address: String, out: Collected<(i64, Option<i64>, i64)>) {
        socket_lines(address)
            .map(|l| l.parse::<i64>().unwrap())
            .assign_timestamps(
                |ts| *ts,
                WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(10))
                    .with_interval(Duration::from_millis(1)),
            )
            .process(|ts, ctx| ctx.output((ts, ctx.timestamp(), ctx.current_watermark())))
            .collect(out);
    }
}

/// Timestamps at most 10 behind the highest before them, except `LATE` (11 behind).
const DISORDERED: [i64; 16] = [0, 5, 3, 12, 2, 20, 11, 25, 15, 30, 30, 21, 40, 29, 41, 31];
const LATE: i64 = 29;

#[test]
fn out_of_order_records_within_the_bound_are_not_late_with_punctuated_watermarks() {
    let events: Vec<(usize, i64)> = DISORDERED.iter().copied().enumerate().collect();
    for p in [1, 3] {
        let out = Collected::new();
        out_of_order_punctuated::run(&streaming(p), events.clone(), 10 + 1, out.clone()).unwrap();
        let got = out.take_sorted();
        assert_eq!(got.len(), DISORDERED.len());
        let mut max_before = Timestamp::MIN;
        for (&(index, ts, stamp, wm), &expected_ts) in got.iter().zip(&DISORDERED) {
            assert_eq!(
                (ts, stamp),
                (expected_ts, Some(expected_ts)),
                "record {index}"
            );
            // The watermark right after record k-1 is max(ts_0..ts_k-1) - 11, and it reaches
            // every subtask before record k does.
            let expected_wm = max_before.saturating_sub(11);
            assert_eq!(wm, expected_wm, "watermark seen by record {index} (p={p})");
            if ts == LATE && index == 13 {
                assert!(ts <= wm, "{ts} is 11 behind: late");
            } else {
                assert!(
                    ts > wm,
                    "record {index} ({ts}) is within the bound but was late ({wm})"
                );
            }
            max_before = max_before.max(ts);
        }
    }
}

#[test]
fn out_of_order_records_within_the_bound_are_not_late_with_periodic_watermarks() {
    let mut steps = Vec::new();
    for &ts in &DISORDERED {
        // Periodic watermarks (every 1 ms) go out between records; a longer pause before the
        // late record makes sure the watermark after its predecessors went out.
        steps.push(Step::Wait(if ts == LATE { 30 } else { 4 }));
        steps.push(send(ts));
    }
    let (address, server) = serve(steps);
    let out = Collected::new();
    out_of_order_periodic::run(&streaming(1), address, out.clone()).unwrap();
    server.join().unwrap();
    let got = out.take();
    let timestamps: Vec<i64> = got.iter().map(|g| g.0).collect();
    assert_eq!(timestamps, DISORDERED);
    let mut max_before = Timestamp::MIN;
    let mut last = Timestamp::MIN;
    for &(ts, stamp, wm) in &got {
        assert_eq!(stamp, Some(ts));
        assert!(wm >= last, "the watermark went back");
        last = wm;
        assert!(
            wm <= max_before.saturating_sub(11),
            "watermark {wm} is ahead of the records before {ts}"
        );
        if ts == LATE {
            assert_eq!(
                wm,
                40 - 11,
                "after a pause, the watermark covers every record before"
            );
            assert!(ts <= wm, "{ts} is 11 behind: late");
        } else {
            assert!(ts > wm, "{ts} is within the bound but was late ({wm})");
        }
        max_before = max_before.max(ts);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Event-time timers: one per key and timestamp, timestamp order, chains, deletion
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum TimerOp {
    Register(i64),
    Delete(i64),
    /// Registers `first`; each firing registers the next timestamp up to `last`.
    Chain {
        first: i64,
        last: i64,
    },
    /// Registers a timer that re-registers itself one later, forever.
    Forever(i64),
}

/// A record of the timer job: its key, timestamp, the watermark to punctuate after it, and
/// what to do with the key's timers.
#[derive(Clone, Debug)]
struct Cmd {
    key: u64,
    ts: i64,
    wm: Option<i64>,
    ops: Vec<TimerOp>,
}

fn cmd(key: u64, ts: i64, wm: Option<i64>, ops: Vec<TimerOp>) -> Cmd {
    Cmd { key, ts, wm, ops }
}

#[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
struct ChainState {
    chain_last: i64,
    forever: bool,
}

#[derive(Clone)]
struct TimerCommands;

/// `(key, timer timestamp, ctx.timestamp(), watermark when it fired)`.
type Fired = (u64, i64, Option<i64>, i64);

impl KeyedProcessFunction<u64, Cmd> for TimerCommands {
    type State = ChainState;
    type Out = Fired;

    fn process_element(
        &mut self,
        _key: &u64,
        state: &mut ChainState,
        cmd: Cmd,
        ctx: &mut KeyedContext<'_, u64, Fired>,
    ) {
        for op in cmd.ops {
            match op {
                TimerOp::Register(ts) => ctx.register_event_time_timer(ts),
                TimerOp::Delete(ts) => ctx.delete_event_time_timer(ts),
                TimerOp::Chain { first, last } => {
                    state.chain_last = last;
                    ctx.register_event_time_timer(first);
                }
                TimerOp::Forever(first) => {
                    state.forever = true;
                    ctx.register_event_time_timer(first);
                }
            }
        }
    }

    fn on_timer(
        &mut self,
        key: &u64,
        state: &mut ChainState,
        timestamp: Timestamp,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, Fired>,
    ) {
        assert_eq!(domain, TimeDomain::EventTime);
        ctx.output((*key, timestamp, ctx.timestamp(), ctx.current_watermark()));
        if state.forever || timestamp < state.chain_last {
            ctx.register_event_time_timer(timestamp + 1);
        }
    }
}

dataflow! {
    job timers(cmds: Vec<Cmd>, out: Collected<Fired>) {
        from_iter(cmds)
            .assign_timestamps(|c| c.ts, WatermarkStrategy::punctuated(|c: &Cmd, _| c.wm)).parallelism(1)
            .key_by(|c| c.key)
            .process(TimerCommands)
            .collect(out);
    }
}

/// Asserts that timers fired in timestamp order (and watermark order) in the collected order.
fn assert_timestamp_order(fired: &[Fired]) {
    for pair in fired.windows(2) {
        assert!(
            (pair[0].3, pair[0].1) <= (pair[1].3, pair[1].1),
            "timers out of order: {pair:?}"
        );
    }
}

#[test]
fn timers_fire_once_per_key_and_timestamp_in_timestamp_order() {
    use TimerOp::*;
    let cmds = vec![
        cmd(1, 0, Some(0), vec![Register(10)]),
        cmd(2, 0, None, vec![Register(10)]),
        // Registered again, in a later call and twice in one call: still one timer.
        cmd(1, 1, None, vec![Register(10), Register(10)]),
        cmd(3, 1, Some(7), vec![Register(5), Register(20)]),
        cmd(2, 2, None, vec![Register(40), Register(30)]),
        cmd(1, 2, None, vec![Register(40)]),
        // Deleting another key's timestamp leaves key 2's timer alone.
        cmd(4, 3, None, vec![Delete(30)]),
        cmd(1, 3, None, vec![Delete(40)]),
        // Deleted then registered again: fires once.
        cmd(3, 3, None, vec![Delete(20), Register(20)]),
        // Registered then deleted: never fires.
        cmd(5, 4, None, vec![Register(60), Delete(60)]),
        cmd(
            7,
            4,
            None,
            vec![Chain {
                first: 50,
                last: 54,
            }],
        ),
        cmd(6, 5, Some(100), vec![Forever(70)]),
    ];
    let mut expected: Vec<Fired> = vec![(3, 5, Some(5), 7)];
    for (key, ts) in [(1, 10), (2, 10), (3, 20), (2, 30), (2, 40)] {
        expected.push((key, ts, Some(ts), 100));
    }
    // The chain and the self-registering timer fire in the same pass, as long as due.
    expected.extend((50..=54).map(|ts| (7, ts, Some(ts), 100)));
    expected.extend((70..=100).map(|ts| (6, ts, Some(ts), 100)));
    // At the end, the pending timer at 101 fires; the 102 it registers is past the latest
    // timestamp pending when the input ended, so the job ends.
    expected.push((6, 101, Some(101), Timestamp::MAX));

    let out = Collected::new();
    timers::run(&streaming(1), cmds.clone(), out.clone()).unwrap();
    let fired = out.take();
    assert_timestamp_order(&fired);
    assert_eq!(sorted(fired), sorted(expected.clone()), "p=1");

    for p in [2, 3] {
        let out = Collected::new();
        timers::run(&streaming(p), cmds.clone(), out.clone()).unwrap();
        let fired = out.take();
        // Each key fires in timestamp order in its subtask.
        for (key, of_key) in per_key(&fired, |f| f.0) {
            let ts: Vec<i64> = of_key.iter().map(|f| f.1).collect();
            assert!(ts.windows(2).all(|w| w[0] < w[1]), "key {key}: {ts:?}");
        }
        assert_eq!(sorted(fired), sorted(expected.clone()), "p={p}");
    }
}

#[test]
fn without_watermarks_timers_fire_at_the_end_up_to_the_latest_pending_one() {
    use TimerOp::*;
    let cmds = vec![
        cmd(1, 0, None, vec![Forever(3)]),
        cmd(2, 0, None, vec![Register(10), Register(8)]),
        cmd(3, 0, None, vec![Chain { first: 6, last: 20 }]),
    ];
    let out = Collected::new();
    timers::run(&streaming(1), cmds, out.clone()).unwrap();
    let fired = out.take();
    assert_timestamp_order(&fired);
    // Everything fires at the final watermark, up to 10, the latest pending when it came.
    let mut expected: Vec<Fired> = (3..=10)
        .map(|ts| (1, ts, Some(ts), Timestamp::MAX))
        .collect();
    expected.extend([8, 10].map(|ts| (2, ts, Some(ts), Timestamp::MAX)));
    expected.extend((6..=10).map(|ts| (3, ts, Some(ts), Timestamp::MAX)));
    assert_eq!(sorted(fired), sorted(expected));
}

// ---------------------------------------------------------------------------------------------
// 5. Processing-time timers
// ---------------------------------------------------------------------------------------------

/// Registers a processing-time timer `delay` ms after each record (or at `at`, if given);
/// the timer emits `(key, registered for, fired at, ctx.timestamp(), domain is processing
/// time, flag)`.
#[derive(Clone)]
struct ProcessingTimer {
    delay: i64,
    at: Option<i64>,
    flag: Arc<AtomicBool>,
}

type ProcessingFired = (String, i64, i64, Option<i64>, bool, bool);

impl KeyedProcessFunction<String, String> for ProcessingTimer {
    type State = ();
    type Out = ProcessingFired;

    fn process_element(
        &mut self,
        _key: &String,
        _state: &mut (),
        _line: String,
        ctx: &mut KeyedContext<'_, String, ProcessingFired>,
    ) {
        let at = self
            .at
            .unwrap_or_else(|| ctx.current_processing_time() + self.delay);
        ctx.register_processing_time_timer(at);
    }

    fn on_timer(
        &mut self,
        key: &String,
        _state: &mut (),
        timestamp: Timestamp,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, String, ProcessingFired>,
    ) {
        ctx.output((
            key.clone(),
            timestamp,
            ctx.current_processing_time(),
            ctx.timestamp(),
            domain == TimeDomain::ProcessingTime,
            self.flag.load(Ordering::SeqCst),
        ));
    }
}

dataflow! {
    job processing_timers(address: String, flag: Arc<AtomicBool>, out: Collected<ProcessingFired>) {
        socket_lines(address)
            .key_by(|l| l.clone())
            .process(ProcessingTimer { delay: 50, at: None, flag })
            .collect(out);
    }

    job far_processing_timers(keys: Vec<String>, at: i64, flag: Arc<AtomicBool>, out: Collected<ProcessingFired>) {
        from_iter(keys)
            .key_by(|l| l.clone())
            .process(ProcessingTimer { delay: 0, at: Some(at), flag })
            .collect(out);
    }
}

#[test]
fn processing_time_timers_fire_on_the_wall_clock_while_no_records_arrive() {
    let ended = Arc::new(AtomicBool::new(false));
    // One record, then 300 ms of silence before the source ends.
    let (address, server) = serve(vec![
        send("a"),
        Step::Wait(300),
        Step::Set(Arc::clone(&ended)),
    ]);
    let out = Collected::new();
    processing_timers::run(
        &JobConfig::with_parallelism(2),
        address,
        Arc::clone(&ended),
        out.clone(),
    )
    .unwrap();
    server.join().unwrap();
    let fired = out.take();
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (key, at, fired_at, timestamp, processing, source_ended) = fired[0].clone();
    assert_eq!(key, "a");
    assert!(fired_at >= at, "fired at {fired_at}, before its time {at}");
    assert_eq!(
        timestamp, None,
        "a processing-time timer has no event timestamp"
    );
    assert!(processing);
    assert!(!source_ended, "the timer waited for the end of input");
}

#[test]
fn pending_processing_time_timers_fire_at_the_end_in_batch_mode_only() {
    let keys = vec!["a".to_string(), "b".to_string(), "a".to_string()];
    let flag = Arc::new(AtomicBool::new(false));
    // A minute from now: no job here lasts that long.
    let at = processing_time_now() + 60_000;

    let out = Collected::new();
    let report = far_processing_timers::run(
        &streaming(2),
        keys.clone(),
        at,
        Arc::clone(&flag),
        out.clone(),
    )
    .unwrap();
    assert_eq!(report.operator("process").map(|op| op.records_in), Some(3));
    assert_eq!(
        out.take(),
        vec![],
        "streaming: pending processing-time timers are dropped"
    );

    let started = std::time::Instant::now();
    let out = Collected::new();
    far_processing_timers::run(&batch(2), keys, at, Arc::clone(&flag), out.clone()).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "batch mode does not wait for the clock"
    );
    let fired: Vec<(String, i64, Option<i64>, bool)> = out
        .take_sorted()
        .into_iter()
        .map(|f| (f.0, f.1, f.3, f.4))
        .collect();
    // One timer per key and timestamp: "a" registered it twice.
    assert_eq!(
        fired,
        vec![
            ("a".to_string(), at, None, true),
            ("b".to_string(), at, None, true)
        ],
        "batch: every pending processing-time timer fires at the end, once"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Keyed state is per key, whatever the parallelism
// ---------------------------------------------------------------------------------------------

#[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
struct Tally {
    count: ValueState<u64>,
    values: ListState<u64>,
    seen: MapState<u64, u64>,
}

#[derive(Clone)]
struct TallyFn;

/// `(key, count, number of values, sum of values, times this value was seen)`; value 0
/// clears the key's state and emits `(key, 0, 0, 0, 0)`.
type TallyOut = (u64, u64, u64, u64, u64);

impl KeyedProcessFunction<u64, (u64, u64)> for TallyFn {
    type State = Tally;
    type Out = TallyOut;

    fn process_element(
        &mut self,
        key: &u64,
        s: &mut Tally,
        (_, value): (u64, u64),
        ctx: &mut KeyedContext<'_, u64, TallyOut>,
    ) {
        if value == 0 {
            ctx.clear_state();
            ctx.output((*key, 0, 0, 0, 0));
            return;
        }
        let count = s.count.value().copied().unwrap_or(0) + 1;
        s.count.update(count);
        s.values.add(value);
        let seen = s.seen.get(&value).copied().unwrap_or(0) + 1;
        s.seen.put(value, seen);
        let values = s.values.get();
        ctx.output((*key, count, values.len() as u64, values.iter().sum(), seen));
    }
}

dataflow! {
    job tally(records: Vec<(u64, u64)>, out: Collected<TallyOut>, counts: Collected<(u64, u64)>) {
        let keyed = from_iter(records).key_by(|r| r.0);
        keyed.process(TallyFn).collect(out);
        keyed
            .process(|key, n: &mut u64, r: (u64, u64), ctx| {
                if r.1 == 0 {
                    ctx.clear_state();
                } else {
                    *n += 1;
                    ctx.output((*key, *n));
                }
            })
            .collect(counts);
    }
}

/// A key's tally in the model: count, values, times each value was seen.
type TallyModel = (u64, Vec<u64>, HashMap<u64, u64>);

/// The tally computed record by record in plain Rust.
fn tally_model(records: &[(u64, u64)]) -> (Vec<TallyOut>, Vec<(u64, u64)>) {
    let mut state: HashMap<u64, TallyModel> = HashMap::new();
    let mut counts: HashMap<u64, u64> = HashMap::new();
    let (mut out, mut count_out) = (Vec::new(), Vec::new());
    for &(key, value) in records {
        if value == 0 {
            state.remove(&key);
            counts.remove(&key);
            out.push((key, 0, 0, 0, 0));
            continue;
        }
        let (count, values, seen) = state.entry(key).or_default();
        *count += 1;
        values.push(value);
        let times = seen.entry(value).or_default();
        *times += 1;
        out.push((
            key,
            *count,
            values.len() as u64,
            values.iter().sum(),
            *times,
        ));
        let n = counts.entry(key).or_default();
        *n += 1;
        count_out.push((key, *n));
    }
    (out, count_out)
}

#[test]
fn keyed_state_is_isolated_per_key_at_any_parallelism_and_clear_state_resets_a_key() {
    let mut rng = Lcg(7);
    let records: Vec<(u64, u64)> = (0..3000).map(|_| (rng.below(40), rng.below(8))).collect();
    assert!(
        records.iter().any(|r| r.1 == 0),
        "some records clear their key"
    );
    let (expected, expected_counts) = tally_model(&records);
    for p in [1, 2, 4] {
        let (out, counts) = (Collected::new(), Collected::new());
        tally::run(&streaming(p), records.clone(), out.clone(), counts.clone()).unwrap();
        let (got, got_counts) = (out.take(), counts.take());
        // Per key, in order: each key's records reach one subtask in input order.
        assert_eq!(per_key(&got, |o| o.0), per_key(&expected, |o| o.0), "p={p}");
        assert_eq!(
            per_key(&got_counts, |o| o.0),
            per_key(&expected_counts, |o| o.0),
            "closure form, p={p}"
        );
    }
}

#[test]
fn clear_state_starts_the_key_over_from_default() {
    let records = vec![(1, 5), (2, 7), (1, 5), (1, 0), (1, 3), (2, 7), (1, 3)];
    let (out, counts) = (Collected::new(), Collected::new());
    tally::run(&streaming(2), records, out.clone(), counts.clone()).unwrap();
    assert_eq!(
        per_key(&out.take(), |o| o.0),
        per_key(
            &[
                (1, 1, 1, 5, 1),
                (1, 2, 2, 10, 2),
                (1, 0, 0, 0, 0),
                (1, 1, 1, 3, 1),
                (1, 2, 2, 6, 2),
                (2, 1, 1, 7, 1),
                (2, 2, 2, 14, 2),
            ],
            |o| o.0
        )
    );
    assert_eq!(
        sorted(counts.take()),
        vec![(1, 1), (1, 1), (1, 2), (1, 2), (2, 1), (2, 2)]
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Property: a keyed process with timers equals a naive model
// ---------------------------------------------------------------------------------------------

/// Per key: the running maximum of the values; each record registers an event-time timer at
/// `ts + 10`, which emits `(key, timer ts, max, records since the last firing, ctx.timestamp())`.
#[derive(Clone)]
struct RunningMax;

#[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
struct MaxState {
    max: Option<i64>,
    count: u64,
}

type MaxOut = (u64, i64, i64, u64, Option<i64>);

impl KeyedProcessFunction<u64, (u64, i64, i64)> for RunningMax {
    type State = MaxState;
    type Out = MaxOut;

    fn process_element(
        &mut self,
        _key: &u64,
        s: &mut MaxState,
        (_, ts, value): (u64, i64, i64),
        ctx: &mut KeyedContext<'_, u64, MaxOut>,
    ) {
        s.max = Some(s.max.map_or(value, |m| m.max(value)));
        s.count += 1;
        ctx.register_event_time_timer(ts + 10);
    }

    fn on_timer(
        &mut self,
        key: &u64,
        s: &mut MaxState,
        timestamp: Timestamp,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, MaxOut>,
    ) {
        let max = s.max.expect("a timer of a key that saw a record");
        ctx.output((*key, timestamp, max, s.count, ctx.timestamp()));
        s.count = 0;
    }
}

dataflow! {
    job running_max(records: Vec<(u64, i64, i64)>, lag: Option<i64>, out: Collected<MaxOut>) {
        from_iter(records)
            .assign_timestamps(|r| r.1, WatermarkStrategy::punctuated(trailing(lag))).parallelism(1)
            .key_by(|r| r.0)
            .process(RunningMax)
            .collect(out);
    }
}

/// The same computation, single-threaded: records in order, each followed by its
/// punctuation; timers fire when the watermark advances past them, in timestamp order, and all
/// at the end.
fn running_max_model(records: &[(u64, i64, i64)], lag: Option<i64>) -> Vec<MaxOut> {
    let mut state: HashMap<u64, MaxState> = HashMap::new();
    let mut timers: BTreeSet<(i64, u64)> = BTreeSet::new();
    let mut out = Vec::new();
    let mut watermark = Timestamp::MIN;
    let mut max_seen = Timestamp::MIN;
    let mut fire =
        |upto: i64, timers: &mut BTreeSet<(i64, u64)>, state: &mut HashMap<u64, MaxState>| {
            while let Some(&(ts, key)) = timers.first() {
                if ts > upto {
                    break;
                }
                timers.pop_first();
                let s = state.get_mut(&key).unwrap();
                out.push((key, ts, s.max.unwrap(), s.count, Some(ts)));
                s.count = 0;
            }
        };
    for &(key, ts, value) in records {
        let s = state.entry(key).or_default();
        s.max = Some(s.max.map_or(value, |m| m.max(value)));
        s.count += 1;
        timers.insert((ts + 10, key));
        max_seen = max_seen.max(ts);
        if let Some(lag) = lag {
            if max_seen - lag > watermark {
                watermark = max_seen - lag;
                fire(watermark, &mut timers, &mut state);
            }
        }
    }
    fire(Timestamp::MAX, &mut timers, &mut state);
    out
}

#[test]
fn a_keyed_process_with_timers_matches_a_sequential_model() {
    for seed in 1..=6u64 {
        let mut rng = Lcg(seed);
        let keys = 1 + rng.below(8);
        let n = 100 + rng.below(300) as i64;
        // Timestamps drift upwards with random disorder up to 40: with a lag of 15 some
        // records are late, and their timers fire at the next watermark.
        let records: Vec<(u64, i64, i64)> = (0..n)
            .map(|i| {
                let ts = i * 2 + rng.below(40) as i64;
                (rng.below(keys), ts, rng.below(1000) as i64 - 500)
            })
            .collect();
        for lag in [Some(15), Some(0), Some(60), None] {
            let expected = sorted(running_max_model(&records, lag));
            assert!(!expected.is_empty());
            for p in [1, 2, 4] {
                let out = Collected::new();
                running_max::run(&streaming(p), records.clone(), lag, out.clone()).unwrap();
                assert_eq!(
                    out.take_sorted(),
                    expected,
                    "seed {seed}, lag {lag:?}, parallelism {p}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Non-keyed process functions
// ---------------------------------------------------------------------------------------------

/// Emits `value % 3` copies `(value, j, ctx.timestamp())` of each record (none for multiples
/// of 3), each `times` over.
#[derive(Clone)]
struct Explode {
    times: u64,
}

impl ProcessFunction<(u64, i64)> for Explode {
    type Out = (u64, u64, Option<i64>);

    fn process_element(&mut self, (value, _): (u64, i64), ctx: &mut Context<'_, Self::Out>) {
        for j in 0..(value % 3) * self.times {
            ctx.output((value, j, ctx.timestamp()));
        }
    }
}

dataflow! {
    job process_closure(events: Vec<(u64, i64)>, out: Collected<(u64, u64, Option<i64>, Option<i64>)>) {
        from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::no_watermarks()).parallelism(1)
            .process(|e: (u64, i64), ctx| {
                for j in 0..e.0 % 3 {
                    ctx.output((e.0, j, ctx.timestamp()));
                }
            })
            // The outputs carry the timestamp of the record that made them.
            .process(|x: (u64, u64, Option<i64>), ctx| ctx.output((x.0, x.1, x.2, ctx.timestamp())))
            .collect(out);
    }

    job process_struct(events: Vec<(u64, i64)>, times: u64, out: Collected<(u64, u64, Option<i64>)>) {
        from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::no_watermarks()).parallelism(1)
            .process(Explode { times })
            .collect(out);
    }

    job process_without_timestamps(n: u64, out: Collected<(u64, Option<i64>)>) {
        generate(n, |i| i).process(|x, ctx| ctx.output((x, ctx.timestamp()))).collect(out);
    }
}

fn explode_events() -> Vec<(u64, i64)> {
    (0..50u64)
        .map(|v| (v, 1000 + (v as i64 * 7) % 23))
        .collect()
}

#[test]
fn a_non_keyed_process_closure_emits_zero_or_more_records_with_their_timestamp() {
    let events = explode_events();
    let mut expected = Vec::new();
    for &(v, ts) in &events {
        for j in 0..v % 3 {
            expected.push((v, j, Some(ts), Some(ts)));
        }
    }
    assert!(expected.len() < 2 * events.len() && expected.len() > events.len() / 2);
    for p in [1, 3] {
        let out = Collected::new();
        process_closure::run(&streaming(p), events.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), sorted(expected.clone()), "p={p}");
    }
}

#[test]
fn a_process_function_struct_emits_zero_or_more_records_with_their_timestamp() {
    let events = explode_events();
    for times in [0, 2] {
        let mut expected = Vec::new();
        for &(v, ts) in &events {
            for j in 0..(v % 3) * times {
                expected.push((v, j, Some(ts)));
            }
        }
        let out = Collected::new();
        process_struct::run(
            &JobConfig::with_parallelism(2),
            events.clone(),
            times,
            out.clone(),
        )
        .unwrap();
        assert_eq!(out.take_sorted(), sorted(expected), "times={times}");
    }
}

#[test]
fn a_process_function_sees_no_timestamp_on_a_stream_without_event_time() {
    let out = Collected::new();
    process_without_timestamps::run(&JobConfig::with_parallelism(2), 10, out.clone()).unwrap();
    assert_eq!(
        out.take_sorted(),
        (0..10).map(|x| (x, None)).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// 9. State time-to-live
// ---------------------------------------------------------------------------------------------

dataflow! {
    job ttl_event_time(events: Vec<(u64, i64)>, out: Collected<(u64, i64, u64)>) {
        from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(|_: &_, ts| Some(ts))).parallelism(1)
            .key_by(|e| e.0)
            .process(|key, n: &mut u64, e: (u64, i64), ctx| {
                *n += 1;
                ctx.output((*key, e.1, *n));
            })
            .state_ttl_event_time(Duration::from_millis(10))
            .collect(out);
    }

    job ttl_processing_time(address: String, ttl: Duration, out: Collected<(String, u64)>) {
        socket_lines(address)
            .key_by(|l| l.clone())
            .process(|key, n: &mut u64, _line: String, ctx| {
                *n += 1;
                ctx.output((key.clone(), *n));
            })
            .state_ttl(ttl)
            .collect(out);
    }
}

#[test]
fn event_time_ttl_resets_state_the_watermark_left_behind() {
    // Each record is followed by a watermark at its timestamp, so a record sees the
    // previous record's timestamp as the watermark. TTL 10 ms.
    let events = vec![
        (1, 0),
        (1, 5),  // watermark 0, touched at 0: alive
        (2, 9),  //
        (1, 14), // watermark 9, touched at 5: alive (expires at 15)
        (2, 18), // watermark 14, touched at 9: alive (expires at 19)
        (3, 22), //
        (1, 23), // watermark 22, touched at 14: alive (expires at 24)
        (2, 40), // watermark 23, touched at 18: alive (expires at 28)
        (1, 41), // watermark 40, touched at 23: expired at 33
        (3, 42), // watermark 41, touched at 22: expired at 32
        (2, 45), // watermark 42, touched at 40: alive
    ];
    let expected = vec![
        (1, 0, 1),
        (1, 5, 2),
        (1, 14, 3),
        (1, 23, 4),
        (1, 41, 1),
        (2, 9, 1),
        (2, 18, 2),
        (2, 40, 3),
        (2, 45, 4),
        (3, 22, 1),
        (3, 42, 1),
    ];
    for p in [1, 2] {
        let out = Collected::new();
        ttl_event_time::run(&streaming(p), events.clone(), out.clone()).unwrap();
        assert_eq!(
            per_key(&out.take(), |o| o.0),
            per_key(&expected, |o| o.0),
            "p={p}"
        );
    }
}

#[test]
fn processing_time_ttl_resets_state_untouched_for_longer() {
    // "a" and "b", a pause longer than the TTL, then "a" every 120 ms: each access keeps the
    // state alive although they span more than the TTL.
    let script = vec![
        send("a"),
        send("b"),
        send("a"),
        Step::Wait(400),
        send("a"),
        send("b"),
        Step::Wait(120),
        send("a"),
        Step::Wait(120),
        send("a"),
    ];
    let run = |ttl: Duration| {
        let (address, server) = serve(script.clone());
        let out = Collected::new();
        ttl_processing_time::run(&JobConfig::with_parallelism(2), address, ttl, out.clone())
            .unwrap();
        server.join().unwrap();
        per_key(&out.take(), |o| o.0.clone())
    };
    let counts = |of: &[(&str, u64)]| {
        per_key(
            &of.iter()
                .map(|&(k, n)| (k.to_string(), n))
                .collect::<Vec<_>>(),
            |o| o.0.clone(),
        )
    };
    let (short, long) = std::thread::scope(|scope| {
        let short = scope.spawn(|| run(Duration::from_millis(200)));
        let long = scope.spawn(|| run(Duration::from_secs(10)));
        (short.join().unwrap(), long.join().unwrap())
    });
    // 400 ms untouched is more than a 200 ms TTL: both keys start over; 120 ms is not.
    assert_eq!(
        short,
        counts(&[
            ("a", 1),
            ("a", 2),
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("b", 1),
            ("b", 1)
        ])
    );
    // Nothing expires within a 10 s TTL.
    assert_eq!(
        long,
        counts(&[
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("a", 4),
            ("a", 5),
            ("b", 1),
            ("b", 2)
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Ingestion time
// ---------------------------------------------------------------------------------------------

/// Emits `("record", line, ctx.timestamp(), false)` per record and registers an event-time
/// timer 10 ms after it, which emits `("timer", line, timer ts, flag)`.
#[derive(Clone)]
struct IngestionProbe {
    flag: Arc<AtomicBool>,
}

type IngestionOut = (&'static str, String, Option<i64>, bool);

impl KeyedProcessFunction<String, String> for IngestionProbe {
    type State = ();
    type Out = IngestionOut;

    fn process_element(
        &mut self,
        key: &String,
        _state: &mut (),
        _line: String,
        ctx: &mut KeyedContext<'_, String, IngestionOut>,
    ) {
        ctx.output(("record", key.clone(), ctx.timestamp(), false));
        if let Some(ts) = ctx.timestamp() {
            ctx.register_event_time_timer(ts + 10);
        }
    }

    fn on_timer(
        &mut self,
        key: &String,
        _state: &mut (),
        timestamp: Timestamp,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, String, IngestionOut>,
    ) {
        ctx.output((
            "timer",
            key.clone(),
            Some(timestamp),
            self.flag.load(Ordering::SeqCst),
        ));
    }
}

dataflow! {
    job ingestion(n: u64, out: Collected<(u64, Option<i64>)>) {
        generate(n, |i| i)
            .ingestion_time()
            .process(|x, ctx| ctx.output((x, ctx.timestamp())))
            .collect(out);
    }

    job ingestion_timers(address: String, flag: Arc<AtomicBool>, out: Collected<IngestionOut>) {
        socket_lines(address)
            .ingestion_time()
            .key_by(|l| l.clone())
            .process(IngestionProbe { flag })
            .collect(out);
    }
}

#[test]
fn ingestion_time_stamps_records_with_the_wall_clock() {
    let before = processing_time_now();
    let out = Collected::new();
    ingestion::run(&JobConfig::with_parallelism(2), 1000, out.clone()).unwrap();
    let after = processing_time_now();
    let got = out.take_sorted();
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        (0..1000).collect::<Vec<_>>()
    );
    for (x, ts) in got {
        let ts = ts.unwrap_or_else(|| panic!("record {x} has no timestamp"));
        assert!(
            (before..=after).contains(&ts),
            "record {x} stamped {ts}, outside the run [{before}, {after}]"
        );
    }
}

#[test]
fn ingestion_time_follows_the_clock_and_its_watermarks_fire_event_time_timers() {
    let done = Arc::new(AtomicBool::new(false));
    let (address, server) = serve(vec![
        send("a"),
        Step::Wait(80),
        send("b"),
        Step::Wait(400),
        Step::Set(Arc::clone(&done)),
    ]);
    let before = processing_time_now();
    let out = Collected::new();
    ingestion_timers::run(
        &JobConfig::with_parallelism(2),
        address,
        Arc::clone(&done),
        out.clone(),
    )
    .unwrap();
    let after = processing_time_now();
    server.join().unwrap();
    let got = out.take_sorted();
    let stamp = |kind: &str, line: &str| {
        got.iter()
            .find(|g| g.0 == kind && g.1 == line)
            .unwrap_or_else(|| panic!("no {kind} for {line}: {got:?}"))
            .clone()
    };
    assert_eq!(got.len(), 4, "{got:?}");
    let a = stamp("record", "a").2.unwrap();
    let b = stamp("record", "b").2.unwrap();
    assert!(
        before <= a && b <= after,
        "{a} {b} outside [{before}, {after}]"
    );
    assert!(
        b - a >= 40,
        "b came 80 ms after a, but is stamped {} ms later",
        b - a
    );
    // The ingestion watermarks follow the clock (every 200 ms), so the timers fire while the
    // source is still waiting for its server, not only at the end.
    assert_eq!(
        stamp("timer", "a"),
        ("timer", "a".to_string(), Some(a + 10), false)
    );
    assert_eq!(
        stamp("timer", "b"),
        ("timer", "b".to_string(), Some(b + 10), false)
    );
}
