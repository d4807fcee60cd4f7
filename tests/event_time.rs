//! Event time, watermarks, keyed state, process functions and timers: exact outputs.

use dataflow::prelude::*;

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
