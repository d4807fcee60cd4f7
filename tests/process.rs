//! Side outputs of process functions, and two-input operators (`connect`): `co_map`,
//! `co_flat_map`, keyed `co_process` with shared state, the broadcast state pattern.

use dataflow::prelude::*;

const ODD: OutputTag<String> = OutputTag::new("odd");
const BIG: OutputTag<u64> = OutputTag::new("big");

dataflow! {
    job split(n: u64, evens: Collected<u64>, odds: Collected<String>, bigs: Collected<u64>) {
        let main = generate(n, |i| i)
            .key_by(|x| *x % 3)
            .process(|_key, seen: &mut u64, x, ctx| {
                *seen += 1;
                if x % 2 == 0 {
                    ctx.output(x);
                } else {
                    ctx.side_output(&ODD, format!("odd {x}"));
                }
                if x >= 8 {
                    ctx.side_output(&BIG, x);
                }
            });
        main.collect(evens);
        let odd = main.side_output(ODD);
        odd.collect(odds);
        main.side_output(BIG).map(|x| x * 10).collect(bigs);
    }
}

#[test]
fn side_outputs_reach_their_tag_only() {
    for p in [1, 2] {
        let (evens, odds, bigs) = (Collected::new(), Collected::new(), Collected::new());
        split::run(
            &JobConfig::with_parallelism(p),
            10,
            evens.clone(),
            odds.clone(),
            bigs.clone(),
        )
        .unwrap();
        let mut e = evens.take();
        e.sort();
        assert_eq!(e, vec![0, 2, 4, 6, 8]);
        let mut o = odds.take();
        o.sort();
        assert_eq!(o, vec!["odd 1", "odd 3", "odd 5", "odd 7", "odd 9"]);
        let mut b = bigs.take();
        b.sort();
        assert_eq!(b, vec![80, 90]);
    }
}

dataflow! {
    job only_side(n: u64, out: Collected<u64>) {
        generate(n, |i| i)
            .process(|x, ctx| {
                ctx.output(x);
                if x % 4 == 0 {
                    ctx.side_output(&BIG, x);
                }
            })
            .side_output(BIG)
            .collect(out);
    }
}

#[test]
fn a_side_output_read_right_after_its_process_gets_only_its_records() {
    let out = Collected::new();
    let report = only_side::run(&JobConfig::with_parallelism(2), 10, out.clone()).unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(got, vec![0, 4, 8]);
    let side = report
        .operator("side_output")
        .expect("the side output is in the report");
    assert_eq!(side.records_out, 3);
}

dataflow! {
    job co_maps(words: Vec<String>, numbers: Vec<u64>, mapped: Collected<String>, flat: Collected<String>) {
        let w = from_iter(words);
        let n = from_iter(numbers);
        w.connect(n).co_map(|s| format!("word {s}"), |x| format!("number {x}")).collect(mapped);
        let w2 = from_iter(vec!["a b".to_string()]);
        let n2 = from_iter(vec![3u64]);
        w2.connect(n2)
            .co_flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>(), |x| (0..x).map(|i| i.to_string()))
            .collect(flat);
    }
}

#[test]
fn co_map_and_co_flat_map_apply_each_inputs_function() {
    let (mapped, flat) = (Collected::new(), Collected::new());
    co_maps::run(
        &JobConfig::with_parallelism(2),
        vec!["x".into(), "y".into()],
        vec![1, 2],
        mapped.clone(),
        flat.clone(),
    )
    .unwrap();
    let mut m = mapped.take();
    m.sort();
    assert_eq!(m, ["number 1", "number 2", "word x", "word y"]);
    let mut f = flat.take();
    f.sort();
    assert_eq!(f, ["0", "1", "2", "a", "b"]);
}

/// Orders (account, amount) and payments (account, amount): emits (account, balance owed)
/// after each record; both sides update the same per-key balance.
#[derive(Clone)]
struct Balance;

impl KeyedCoProcessFunction<u32, (u32, i64), (u32, i64)> for Balance {
    type State = i64;
    type Out = (u32, i64);

    fn process_element1(
        &mut self,
        key: &u32,
        owed: &mut i64,
        order: (u32, i64),
        ctx: &mut KeyedContext<'_, u32, (u32, i64)>,
    ) {
        *owed += order.1;
        ctx.output((*key, *owed));
    }

    fn process_element2(
        &mut self,
        key: &u32,
        owed: &mut i64,
        payment: (u32, i64),
        ctx: &mut KeyedContext<'_, u32, (u32, i64)>,
    ) {
        *owed -= payment.1;
        ctx.output((*key, *owed));
    }
}

dataflow! {
    job balances(orders: Vec<(u32, i64)>, payments: Vec<(u32, i64)>, out: Collected<(u32, i64)>) {
        let paid = from_iter(payments).key_by(|p| p.0);
        from_iter(orders).key_by(|o| o.0).connect(paid).co_process(Balance).collect(out);
    }
}

#[test]
fn a_keyed_co_process_shares_state_between_its_inputs() {
    for p in [1, 2, 4] {
        let out = Collected::new();
        let orders = vec![(1, 100), (2, 50), (1, 30)];
        let payments = vec![(1, 20), (2, 50), (3, 5)];
        balances::run(
            &JobConfig::with_parallelism(p),
            orders.clone(),
            payments.clone(),
            out.clone(),
        )
        .unwrap();
        // The final balance per account is the last output of its key (records of one key
        // reach one subtask; the interleaving of the two inputs varies, the final sum does not).
        let mut last = std::collections::BTreeMap::new();
        let got = out.take();
        assert_eq!(got.len(), 6, "one output per input record at p = {p}");
        for (account, owed) in got {
            last.insert(account, owed);
        }
        // Outputs of one key are emitted in order by one subtask; the collected order per key
        // is that order, so the last one is the final balance.
        assert_eq!(
            last,
            [(1, 110), (2, 0), (3, -5)].into_iter().collect(),
            "p = {p}"
        );
    }
}

/// Rules are thresholds per category, broadcast; items (category, value) above their
/// category's threshold at the time they arrive are flagged.
#[derive(Clone)]
struct Thresholds;

impl KeyedBroadcastProcessFunction<String, (String, u64), (String, u64)> for Thresholds {
    type State = u64;
    type BroadcastState = std::collections::BTreeMap<String, u64>;
    type Out = String;

    fn process_element(
        &mut self,
        key: &String,
        seen: &mut u64,
        item: (String, u64),
        rules: &Self::BroadcastState,
        ctx: &mut KeyedContext<'_, String, String>,
    ) {
        *seen += 1;
        if let Some(limit) = rules.get(key) {
            if item.1 > *limit {
                ctx.output(format!("{key} #{seen}: {} > {limit}", item.1));
            }
        }
    }

    fn process_broadcast_element(
        &mut self,
        rule: (String, u64),
        rules: &mut Self::BroadcastState,
        _ctx: &mut Context<'_, String>,
    ) {
        rules.insert(rule.0, rule.1);
    }
}

fn item(i: u64) -> (String, u64) {
    (["a", "b", "c"][(i % 3) as usize].to_string(), i * 7)
}

dataflow! {
    job flagged(rules: Vec<(String, u64)>, n: u64, out: Collected<String>) {
        let all_rules = from_iter(rules).broadcast();
        generate(n, |i| {
            // The items wait for the two rules to reach every subtask first.
            if i == 0 {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            item(i)
        })
        .parallelism(1)
        .key_by(|i| i.0.clone())
        .connect(all_rules)
        .co_process(Thresholds)
        .collect(out);
    }
}

#[test]
fn the_broadcast_side_writes_state_every_keyed_subtask_reads() {
    let rules = vec![("a".to_string(), 10), ("b".to_string(), 100)];
    let mut expected: Vec<String> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (k, v) in (0..40).map(item) {
        let n = seen.entry(k.clone()).or_insert(0u64);
        *n += 1;
        let limit = match k.as_str() {
            "a" => Some(10),
            "b" => Some(100),
            _ => None,
        };
        if let Some(limit) = limit.filter(|limit| v > *limit) {
            expected.push(format!("{k} #{n}: {v} > {limit}"));
        }
    }
    expected.sort();
    assert!(expected.len() > 10);
    for p in [1, 3] {
        let out = Collected::new();
        flagged::run(
            &JobConfig::with_parallelism(p),
            rules.clone(),
            40,
            out.clone(),
        )
        .unwrap();
        let mut got = out.take();
        got.sort();
        assert_eq!(got, expected, "p = {p}");
    }
}

dataflow! {
    job stamped(n: u64, out: Collected<Option<Timestamp>>) {
        generate(n, |i| i)
            .ingestion_time()
            .assign_timestamps(|x| *x as i64, WatermarkStrategy::monotonous())
            .assign_timestamps(|x| *x as i64, WatermarkStrategy::punctuated(|_, ts| Some(ts)))
            .process(|_x, ctx| ctx.output(ctx.timestamp()))
            .collect(out);
    }
}

#[test]
fn time_operators_stamp_records_and_are_counted_in_the_report() {
    let out = Collected::new();
    let report = stamped::run(&JobConfig::with_parallelism(1), 5, out.clone()).unwrap();
    assert_eq!(out.take(), (0..5).map(Some).collect::<Vec<_>>());
    for name in [
        "ingestion_time",
        "assign_timestamps_1",
        "assign_timestamps_2",
        "process",
    ] {
        let op = report.operator(name).unwrap();
        assert_eq!((op.records_in, op.records_out), (5, 5), "{name}");
    }
}

#[derive(Clone)]
struct FailsOnTimer;

impl KeyedProcessFunction<u64, u64> for FailsOnTimer {
    type State = ();
    type Out = u64;

    fn process_element(
        &mut self,
        _key: &u64,
        _state: &mut (),
        x: u64,
        ctx: &mut KeyedContext<'_, u64, u64>,
    ) {
        ctx.register_event_time_timer(x as i64 + 10);
        ctx.output(x);
    }

    fn on_timer(
        &mut self,
        key: &u64,
        _state: &mut (),
        ts: Timestamp,
        _domain: TimeDomain,
        _ctx: &mut KeyedContext<'_, u64, u64>,
    ) {
        panic!("timer of key {key} at {ts} failed");
    }
}

dataflow! {
    job failing_timer(n: u64, out: Collected<u64>) {
        generate(n, |i| i)
            .assign_timestamps(|x| *x as i64, WatermarkStrategy::monotonous())
            .key_by(|x| *x % 2)
            .process(FailsOnTimer)
            .name("timers")
            .collect(out);
    }
}

#[test]
fn a_panic_in_on_timer_fails_the_job_naming_the_operator() {
    let out = Collected::new();
    let error =
        failing_timer::run(&JobConfig::with_parallelism(2), 4, out).expect_err("the timer panics");
    let text = error.to_string();
    assert!(text.contains("`timers`"), "{text}");
    assert!(text.contains("failed"), "{text}");
}

#[test]
fn explain_shows_a_two_input_chain_with_both_exchanges() {
    let text = dataflow::runtime::plan::explain_text(&balances::PLAN, "streaming", &|_| "2".into());
    assert!(text.contains("co_process"), "{text}");
    assert_eq!(text.matches("via HASH").count(), 2, "{text}");
}

/// Registers an event-time timer at 0 for each key it sees; the timer emits the key.
#[derive(Clone)]
struct TimerAtZero;

impl KeyedProcessFunction<u64, (u64, u64)> for TimerAtZero {
    type State = ();
    type Out = u64;

    fn process_element(
        &mut self,
        _key: &u64,
        _state: &mut (),
        _x: (u64, u64),
        ctx: &mut KeyedContext<'_, u64, u64>,
    ) {
        ctx.register_event_time_timer(0);
    }

    fn on_timer(
        &mut self,
        key: &u64,
        _state: &mut (),
        _ts: Timestamp,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, u64>,
    ) {
        ctx.output(*key);
    }
}

dataflow! {
    job timers_after_batch_counts(n: u64, out: Collected<u64>) {
        from_iter(0..n)
            .key_by(|x| *x % 4)
            .count()
            .key_by(|c| c.0)
            .process(TimerAtZero)
            .collect(out);
    }
}

#[test]
fn timers_registered_by_batch_results_emitted_at_end_of_input_still_fire() {
    for p in [1, 2] {
        for mode in [ExecutionMode::Batch, ExecutionMode::Streaming] {
            let out = Collected::new();
            let config = JobConfig {
                mode,
                ..JobConfig::with_parallelism(p)
            };
            timers_after_batch_counts::run(&config, 40, out.clone()).unwrap();
            let mut keys = out.take();
            keys.sort();
            assert_eq!(keys, [0, 1, 2, 3], "p = {p}, {mode:?}");
        }
    }
}

dataflow! {
    job ttl_out_of_order(events: Vec<(u64, i64, i64)>, out: Collected<(u64, i64, u64)>) {
        from_iter(events)
            .assign_timestamps(|e| e.1, WatermarkStrategy::punctuated(|e: &(u64, i64, i64), _| Some(e.2)))
            .parallelism(1)
            .key_by(|e| e.0)
            .process(|key, count: &mut u64, e: (u64, i64, i64), ctx| {
                *count += 1;
                ctx.output((*key, e.1, *count));
            })
            .state_ttl_event_time(Duration::from_millis(10))
            .collect(out);
    }
}

#[test]
fn an_out_of_order_record_does_not_move_the_last_touch_of_event_time_ttl_back() {
    // (key, timestamp, watermark after it): the record at 85 is not late (watermark 80) and
    // must not make the state look last touched at 85: at watermark 96 it was touched at 100
    // and lives on. Key 2 then takes the watermark to 150, past 101 + 10: key 1 starts over.
    let events = vec![
        (1, 100, 80),
        (1, 85, 80),
        (1, 101, 96),
        (2, 150, 150),
        (1, 200, 190),
    ];
    let out = Collected::new();
    let streaming = JobConfig {
        mode: ExecutionMode::Streaming,
        ..JobConfig::with_parallelism(1)
    };
    ttl_out_of_order::run(&streaming, events, out.clone()).unwrap();
    assert_eq!(
        out.take(),
        [
            (1, 100, 1),
            (1, 85, 2),
            (1, 101, 3),
            (2, 150, 1),
            (1, 200, 1)
        ]
    );
}
