//! Time: processing time (the wall clock), event time (timestamps carried by records) and the
//! watermarks that say how far event time has progressed.
//!
//! A stream gets event time from `.assign_timestamps(|x| ts, strategy)`, usually right after
//! its source, or ingestion time from `.ingestion_time()` right after the source. The
//! [`WatermarkStrategy`] says how watermarks follow the timestamps: bounded out-of-orderness
//! (`max_seen - bound - 1`), monotonous, none, or a user [`WatermarkGenerator`] (periodic,
//! punctuated or both), optionally with an idleness timeout so that an input without records
//! does not hold back the watermark of the operators after it.

use std::time::Duration;

use crate::element::{Timestamp, MAX_WATERMARK, MIN_WATERMARK};
use crate::job::TaskContext;
use crate::operator::{Emit, Operator, OperatorMetrics, OperatorScope};

/// Processing time: the wall clock in milliseconds since the Unix epoch.
pub fn processing_time_now() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => since.as_millis() as Timestamp,
        Err(before) => -(before.duration().as_millis() as Timestamp),
    }
}

/// Which clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TimeDomain {
    /// Event time: fires when the watermark reaches the timer's timestamp.
    EventTime,
    /// Processing time: fires when the wall clock reaches the timer's timestamp.
    ProcessingTime,
}

/// Decides the watermarks of a stream from the timestamps it sees (Flink's
/// `WatermarkGenerator`).
///
/// A *punctuated* generator returns a watermark from [`WatermarkGenerator::on_event`]; a
/// *periodic* one from [`WatermarkGenerator::on_periodic_emit`], which runs every
/// [`WatermarkStrategy::with_interval`] (200 ms by default). Watermarks that do not advance
/// are ignored, so a generator may return the same one repeatedly.
pub trait WatermarkGenerator<T>: Clone + Send + 'static {
    /// Sees each record and its timestamp; returns a watermark to emit right after it, if any.
    fn on_event(&mut self, event: &T, timestamp: Timestamp) -> Option<Timestamp>;

    /// Called periodically; returns the current watermark, if any.
    fn on_periodic_emit(&mut self) -> Option<Timestamp>;
}

/// Watermarks that trail the highest timestamp seen by a fixed bound:
/// `max_seen - bound - 1`, emitted periodically.
#[derive(Debug, Clone, Copy)]
pub struct BoundedOutOfOrderness {
    bound: Timestamp,
    max_seen: Timestamp,
}

impl BoundedOutOfOrderness {
    /// Records may arrive up to `bound` milliseconds behind the highest timestamp seen.
    pub fn new(bound: Duration) -> Self {
        BoundedOutOfOrderness {
            bound: bound.as_millis().min(i64::MAX as u128) as Timestamp,
            max_seen: MIN_WATERMARK,
        }
    }
}

impl<T> WatermarkGenerator<T> for BoundedOutOfOrderness {
    #[inline(always)]
    fn on_event(&mut self, _event: &T, timestamp: Timestamp) -> Option<Timestamp> {
        self.max_seen = self.max_seen.max(timestamp);
        None
    }

    fn on_periodic_emit(&mut self) -> Option<Timestamp> {
        (self.max_seen > MIN_WATERMARK)
            .then(|| self.max_seen.saturating_sub(self.bound).saturating_sub(1))
    }
}

/// No watermarks but the final one at end of input: event-time work waits for the end.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWatermarks;

impl<T> WatermarkGenerator<T> for NoWatermarks {
    fn on_event(&mut self, _event: &T, _timestamp: Timestamp) -> Option<Timestamp> {
        None
    }

    fn on_periodic_emit(&mut self) -> Option<Timestamp> {
        None
    }
}

/// A punctuated generator from a closure: `|event, timestamp| Some(watermark)` after the
/// records that carry one.
#[derive(Clone)]
pub struct Punctuated<F>(pub F);

impl<T, F> WatermarkGenerator<T> for Punctuated<F>
where
    F: FnMut(&T, Timestamp) -> Option<Timestamp> + Clone + Send + 'static,
{
    #[inline(always)]
    fn on_event(&mut self, event: &T, timestamp: Timestamp) -> Option<Timestamp> {
        (self.0)(event, timestamp)
    }

    fn on_periodic_emit(&mut self) -> Option<Timestamp> {
        None
    }
}

/// How a stream's watermarks are generated: a [`WatermarkGenerator`], how often periodic
/// watermarks go out, and after how long without records the stream counts as idle.
#[derive(Debug, Clone)]
pub struct WatermarkStrategy<G> {
    generator: G,
    interval: Duration,
    idleness: Option<Duration>,
}

/// The default interval of periodic watermarks (Flink's `autoWatermarkInterval`).
pub const DEFAULT_WATERMARK_INTERVAL: Duration = Duration::from_millis(200);

impl WatermarkStrategy<BoundedOutOfOrderness> {
    /// Records may arrive up to `bound` late: the watermark is `max_seen - bound - 1`.
    pub fn bounded_out_of_orderness(bound: Duration) -> Self {
        WatermarkStrategy::with_generator(BoundedOutOfOrderness::new(bound))
    }

    /// Timestamps only grow: the watermark is `max_seen - 1`.
    pub fn monotonous() -> Self {
        WatermarkStrategy::bounded_out_of_orderness(Duration::ZERO)
    }
}

impl WatermarkStrategy<NoWatermarks> {
    /// Timestamps without watermarks: event-time timers fire only at end of input.
    pub fn no_watermarks() -> Self {
        WatermarkStrategy::with_generator(NoWatermarks)
    }
}

impl<F> WatermarkStrategy<Punctuated<F>> {
    /// A punctuated strategy: `f(event, timestamp)` returns the watermark to emit after a
    /// record, if any. (The bound gives the closure its signature where it is written, so
    /// `|_, ts| Some(ts)` needs no annotation.)
    pub fn punctuated<T>(f: F) -> Self
    where
        F: FnMut(&T, Timestamp) -> Option<Timestamp>,
    {
        WatermarkStrategy::with_generator(Punctuated(f))
    }
}

impl<G> WatermarkStrategy<G> {
    /// A strategy around a user generator.
    pub fn with_generator(generator: G) -> Self {
        WatermarkStrategy {
            generator,
            interval: DEFAULT_WATERMARK_INTERVAL,
            idleness: None,
        }
    }

    /// Marks the stream idle after `timeout` without records, so it does not hold back the
    /// watermark of operators that also read other inputs; the next record makes it active.
    pub fn with_idleness(mut self, timeout: Duration) -> Self {
        self.idleness = Some(timeout);
        self
    }

    /// How often periodic watermarks are emitted.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
}

fn millis(d: Duration) -> Timestamp {
    d.as_millis().clamp(1, i64::MAX as u128) as Timestamp
}

/// `.assign_timestamps(f, strategy)`: stamps each record with `f(&record)` and emits the
/// strategy's watermarks. Watermarks from upstream are replaced by its own, except the final
/// one at end of input.
#[derive(Clone)]
pub struct AssignTimestamps<F, G> {
    operator: usize,
    extract: F,
    generator: G,
    interval: Timestamp,
    idleness: Option<Timestamp>,
    /// The highest watermark emitted.
    watermark: Timestamp,
    next_periodic: Timestamp,
    /// Processing time of the last check that saw records.
    last_active: Timestamp,
    saw_records: bool,
    idle: bool,
    batch_mode: bool,
}

impl<F, G> AssignTimestamps<F, G> {
    /// The operator with plan index `operator`.
    pub fn new(operator: usize, extract: F, strategy: WatermarkStrategy<G>) -> Self {
        AssignTimestamps {
            operator,
            extract,
            generator: strategy.generator,
            interval: millis(strategy.interval),
            idleness: strategy.idleness.map(millis),
            watermark: MIN_WATERMARK,
            next_periodic: 0,
            last_active: 0,
            saw_records: false,
            idle: false,
            batch_mode: false,
        }
    }

    fn advance<O, E: Emit<O>>(&mut self, watermark: Timestamp, out: &mut E) {
        if watermark > self.watermark {
            self.watermark = watermark;
            out.emit_watermark(watermark);
        }
    }
}

impl<T, F, G> Operator<T> for AssignTimestamps<F, G>
where
    T: 'static,
    F: FnMut(&T) -> Timestamp + Send + 'static,
    G: WatermarkGenerator<T>,
{
    type Out = T;

    fn open(&mut self, ctx: &TaskContext) {
        self.batch_mode = ctx.batch_mode;
        let now = processing_time_now();
        self.next_periodic = now + self.interval;
        self.last_active = now;
    }

    #[inline(always)]
    fn process<E: Emit<T>>(&mut self, value: T, _timestamp: Option<Timestamp>, out: &mut E) {
        let scope = OperatorScope::enter(self.operator);
        let timestamp = (self.extract)(&value);
        let punctuation = self.generator.on_event(&value, timestamp);
        scope.exit();
        if self.idle {
            self.idle = false;
            out.emit_idleness(false);
        }
        self.saw_records = true;
        out.emit(value, Some(timestamp));
        // In batch mode only the final watermark counts (all timers fire at end of input).
        if let Some(watermark) = punctuation.filter(|_| !self.batch_mode) {
            self.advance(watermark, out);
        }
    }

    fn on_watermark<E: Emit<T>>(&mut self, watermark: Timestamp, out: &mut E) {
        if watermark == MAX_WATERMARK {
            self.advance(MAX_WATERMARK, out);
        }
    }

    fn on_idleness<E: Emit<T>>(&mut self, _idle: bool, _out: &mut E) {
        // This operator decides the stream's idleness itself.
    }

    fn on_processing_time<E: Emit<T>>(&mut self, now: Timestamp, out: &mut E) {
        if self.batch_mode || now < self.next_periodic {
            return;
        }
        self.next_periodic = now + self.interval;
        let scope = OperatorScope::enter(self.operator);
        let periodic = self.generator.on_periodic_emit();
        scope.exit();
        if let Some(watermark) = periodic {
            self.advance(watermark, out);
        }
        if let Some(timeout) = self.idleness {
            if std::mem::take(&mut self.saw_records) {
                self.last_active = now;
            } else if !self.idle && now - self.last_active >= timeout {
                self.idle = true;
                out.emit_idleness(true);
            }
        }
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        (!self.batch_mode).then_some(self.next_periodic)
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: records_in,
            spilled_bytes: 0,
        });
        records_in
    }
}

/// `.ingestion_time()`: stamps each record with the wall clock as it enters the stream, and
/// emits watermarks that follow the clock.
#[derive(Clone)]
pub struct IngestionTime {
    operator: usize,
    interval: Timestamp,
    next_periodic: Timestamp,
    watermark: Timestamp,
    batch_mode: bool,
}

impl IngestionTime {
    /// The operator with plan index `operator`; watermarks every
    /// [`DEFAULT_WATERMARK_INTERVAL`].
    pub fn new(operator: usize) -> Self {
        IngestionTime {
            operator,
            interval: millis(DEFAULT_WATERMARK_INTERVAL),
            next_periodic: 0,
            watermark: MIN_WATERMARK,
            batch_mode: false,
        }
    }
}

impl<T: 'static> Operator<T> for IngestionTime {
    type Out = T;

    fn open(&mut self, ctx: &TaskContext) {
        self.batch_mode = ctx.batch_mode;
        self.next_periodic = processing_time_now() + self.interval;
    }

    #[inline(always)]
    fn process<E: Emit<T>>(&mut self, value: T, _timestamp: Option<Timestamp>, out: &mut E) {
        out.emit(value, Some(processing_time_now()));
    }

    fn on_watermark<E: Emit<T>>(&mut self, watermark: Timestamp, out: &mut E) {
        if watermark == MAX_WATERMARK && self.watermark < MAX_WATERMARK {
            self.watermark = MAX_WATERMARK;
            out.emit_watermark(MAX_WATERMARK);
        }
    }

    fn on_processing_time<E: Emit<T>>(&mut self, now: Timestamp, out: &mut E) {
        if self.batch_mode || now < self.next_periodic {
            return;
        }
        self.next_periodic = now + self.interval;
        // Records stamped later carry at least `now`; the clock is the watermark.
        if now - 1 > self.watermark {
            self.watermark = now - 1;
            out.emit_watermark(now - 1);
        }
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        (!self.batch_mode).then_some(self.next_periodic)
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: records_in,
            spilled_bytes: 0,
        });
        records_in
    }
}
