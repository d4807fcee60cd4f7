//! Per-user sessions in event time over out-of-order input: a user's session ends after a gap
//! of inactivity (default 30 s), and is written as `user,start,end,count` once the watermark
//! shows that no event can extend it any more.
//!
//! ```text
//! cargo run --release --example session_timeout -- [INPUT [OUTPUT [GAP]]] [--parallelism N]
//! ```
//! INPUT is a CSV file of `user,timestamp_ms,action` lines after a header (default: the
//! bundled `examples/data/clicks.csv`, made by `examples/data/make_clicks.py`). OUTPUT
//! receives one `user,start,end,count` line per session, `start` and `end` being the
//! timestamps of its first and last event (default, or `-`: standard output; a directory of
//! `part-<subtask>` files at parallelism > 1). GAP is the session gap, as `30s`, `1500ms`,
//! `2m` or a number of seconds.
//!
//! Events of a user belong to one session when they follow each other by less than GAP (as in
//! Flink's event-time session windows). The input may be out of order by up to 10 s
//! (the watermark trails the highest timestamp seen by that much): the bundled file is, and
//! each of its events arrives up to 10 s after its timestamp.
//!
//! The `KeyedProcessFunction` keeps, per user, the sessions still open, each as its start,
//! last activity and event count, and one event-time timer per session at `last + GAP`,
//! moved (deleted and registered again) whenever the session grows. A record that arrives out
//! of order joins every open session it is less than GAP away from, merging them: a late
//! event that falls into the silence between two sessions and is near enough to both turns
//! them into one session; one that is near neither starts a session of its own. When a
//! session's timer fires, the watermark has passed `last + GAP`, so no later event can join it
//! any more: it is emitted and forgotten (the user's state is cleared once no session is
//! open). The result is therefore the same as sessionizing the input sorted by time, whatever
//! the arrival order, the parallelism or the execution mode, as long as no event is later than
//! the bound. An event that is (its timestamp at or behind the watermark) is dropped, as
//! Flink's windows drop late data, since the session it belongs to may already be written.
//!
//! On the bundled input, user `grace` shows the merge: her sessions of 0-10 s and 45-52 s
//! (after `t0` = 1704067320000) are 35 s apart, and an event at 37 s that arrives after the one
//! at 45 s joins them into one session of 5 events. `heidi`'s event at 250 s, late as well but
//! 50 s from her other sessions, is a session of its own; `ivan` has events exactly 30 s
//! apart (two sessions) and 29.999 s apart (one).

use std::str::FromStr;

use dataflow::prelude::*;
use serde::{Deserialize, Serialize};

/// The bundled default input.
const CLICKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/clicks.csv");

/// How far out of order events may arrive.
const OUT_OF_ORDERNESS: Duration = Duration::from_secs(10);

/// The default session gap.
const DEFAULT_GAP: Duration = Duration::from_secs(30);

/// One line of the input.
#[derive(Debug, Clone)]
struct Click {
    user: String,
    timestamp: Timestamp,
}

/// Parses `user,timestamp_ms,action`; panics (failing the job, naming the operator) on a
/// malformed line.
fn parse(line: &str) -> Click {
    let mut fields = line.trim().split(',');
    let (Some(user), Some(timestamp), Some(_action)) =
        (fields.next(), fields.next(), fields.next())
    else {
        panic!("expected `user,timestamp_ms,action`, got `{line}`");
    };
    Click {
        user: user.to_string(),
        timestamp: timestamp
            .parse()
            .unwrap_or_else(|e| panic!("bad timestamp in `{line}`: {e}")),
    }
}

/// Whether a line holds an event (not the header, not blank).
fn is_event(line: &str) -> bool {
    !line.trim().is_empty() && !line.starts_with("user,")
}

/// The session gap on the command line: `30s`, `1500ms`, `2m`, `1h` or seconds.
#[derive(Debug, Clone, Copy)]
struct Gap(Duration);

impl FromStr for Gap {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let number: u64 = digits
            .parse()
            .map_err(|_| "expected a duration such as 30s, 1500ms or 2m".to_string())?;
        let gap = match &text[digits.len()..] {
            "ms" => Duration::from_millis(number),
            "" | "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            unit => return Err(format!("unknown unit `{unit}` (use ms, s, m or h)")),
        };
        if gap.is_zero() {
            return Err("the gap must be positive".to_string());
        }
        Ok(Gap(gap))
    }
}

/// One session of a user.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Session {
    start: Timestamp,
    last: Timestamp,
    count: u64,
}

/// A closed session: (user, start, end, count).
type SessionOut = (String, Timestamp, Timestamp, u64);

/// The sessions of a user that are still open: ordered by start, at least a gap apart.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct OpenSessions {
    open: Vec<Session>,
}

/// Sessionizes each user's events; see the module documentation.
#[derive(Clone)]
struct Sessionizer {
    /// The gap in ms.
    gap: Timestamp,
}

impl KeyedProcessFunction<String, Click> for Sessionizer {
    type State = OpenSessions;
    type Out = SessionOut;

    fn process_element(
        &mut self,
        _user: &String,
        state: &mut OpenSessions,
        click: Click,
        ctx: &mut KeyedContext<'_, String, SessionOut>,
    ) {
        let ts = click.timestamp;
        if ts <= ctx.current_watermark() {
            // Later than the bound allows: its session may be written already.
            if state.open.is_empty() {
                ctx.clear_state();
            }
            return;
        }
        let gap = self.gap;
        let mut session = Session {
            start: ts,
            last: ts,
            count: 1,
        };
        // Every open session less than a gap away joins this event's session.
        state.open.retain(|s| {
            let joins = ts - s.last < gap && s.start - ts < gap;
            if joins {
                ctx.delete_event_time_timer(s.last + gap);
                session.start = session.start.min(s.start);
                session.last = session.last.max(s.last);
                session.count += s.count;
            }
            !joins
        });
        ctx.register_event_time_timer(session.last + gap);
        let at = state.open.partition_point(|s| s.start < session.start);
        state.open.insert(at, session);
    }

    fn on_timer(
        &mut self,
        user: &String,
        state: &mut OpenSessions,
        timestamp: Timestamp,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, String, SessionOut>,
    ) {
        // The watermark passed `last + gap`: the session can no longer grow.
        if let Some(i) = state
            .open
            .iter()
            .position(|s| s.last + self.gap == timestamp)
        {
            let s = state.open.remove(i);
            ctx.output((user.clone(), s.start, s.last, s.count));
        }
        if state.open.is_empty() {
            ctx.clear_state();
        }
    }
}

dataflow! {
    /// Per-user sessions in event time: a session ends after a gap of inactivity.
    pub job session_timeout(input: Option<PathBuf>, output: Option<PathBuf>, gap: Option<Gap>) {
        read_lines(input.unwrap_or_else(|| PathBuf::from(CLICKS)))
            .filter(|line| is_event(line))
            .map(|line| parse(&line))
            .assign_timestamps(|c| c.timestamp, WatermarkStrategy::bounded_out_of_orderness(OUT_OF_ORDERNESS))
            .key_by(|c| c.user.clone())
            .process(Sessionizer {
                gap: gap.map_or(DEFAULT_GAP, |g| g.0).as_millis() as Timestamp,
            }).name("sessionizer")
            .write_lines(
                output.filter(|path| path.as_os_str() != "-"),
                |(user, start, end, count)| format!("{user},{start},{end},{count}"),
            );
    }
}

fn main() -> dataflow::Result<()> {
    session_timeout::main()
}

// A faster allocator than the system's for an engine that allocates per key and per batch
// on several threads (PageRank on 1M vertices: 19% faster; see BENCHMARKS.md section 10).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
