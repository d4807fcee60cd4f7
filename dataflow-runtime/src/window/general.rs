//! The general window operator (Flink's `WindowOperator`): any assigner (session windows
//! that merge, global windows, time windows copied into each window), a trigger deciding
//! when a window fires and purges, an optional evictor, and allowed lateness.
//!
//! Per key the operator keeps its open windows in a small vector: each with its contents
//! (an accumulator, or the records themselves when an evictor needs them), its trigger's
//! state and the timers its trigger asked for. Timers are the keyed process timers of the
//! key; a timer fires the triggers of the windows that registered it, and removes the
//! windows whose cleanup time (end - 1 + allowed lateness) it is.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{late_data, millis, AggregateFunction, Assigner, EventTimeWindows, Finish, Window};
use crate::element::Timestamp;
use crate::operator::{KeyedContext, KeyedProcessFunction};
use crate::time::TimeDomain;

/// Which windows a record belongs to, for the general window operator.
pub trait WindowAssigner<V>: Clone + Send + 'static {
    /// Adds the windows of a record with time `timestamp` to `windows`.
    fn assign(&mut self, value: &V, timestamp: Timestamp, windows: &mut Vec<Window>);
    /// The time the windows are in: event time (records' timestamps, watermarks), processing
    /// time (the clock when a record arrives), or none (global windows).
    fn domain(&self) -> Option<TimeDomain>;
    /// Whether overlapping windows merge into one (session windows).
    fn is_merging(&self) -> bool {
        false
    }
}

impl<V> WindowAssigner<V> for EventTimeWindows {
    fn assign(&mut self, _value: &V, timestamp: Timestamp, windows: &mut Vec<Window>) {
        let mut start = self.last_start(timestamp);
        while start > timestamp - self.size {
            windows.push(Window {
                start,
                end: start + self.size,
            });
            start -= self.slide;
        }
    }

    fn domain(&self) -> Option<TimeDomain> {
        Some(self.domain)
    }
}

/// Global windows (Flink's `GlobalWindows`): one window per key, for all time. It has no
/// default trigger: give it one with `.trigger(..)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalWindows;

impl GlobalWindows {
    /// The global window assigner.
    pub fn create() -> Self {
        GlobalWindows
    }
}

impl<V> WindowAssigner<V> for GlobalWindows {
    fn assign(&mut self, _value: &V, _timestamp: Timestamp, windows: &mut Vec<Window>) {
        windows.push(Window::GLOBAL);
    }

    fn domain(&self) -> Option<TimeDomain> {
        None
    }
}

/// Session windows (Flink's `EventTimeSessionWindows` and `ProcessingTimeSessionWindows`):
/// a record opens the window `[t, t + gap)`; windows that overlap or touch merge, so a
/// session ends after a gap of inactivity. `G` gives the gap: a fixed one, or a function of
/// the record (`with_dynamic_gap`).
#[derive(Debug, Clone, Copy)]
pub struct SessionWindows<G> {
    gap: G,
    domain: TimeDomain,
}

/// A session gap that is the same for every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedGap(Timestamp);

/// A session gap computed from each record.
#[derive(Clone, Copy)]
pub struct DynamicGap<F>(F);

impl<F> std::fmt::Debug for DynamicGap<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynamicGap(..)")
    }
}

/// Event-time session windows.
pub struct EventTimeSessionWindows;

impl EventTimeSessionWindows {
    /// Sessions that end after `gap` of event time without records.
    pub fn with_gap(gap: Duration) -> SessionWindows<FixedGap> {
        SessionWindows {
            gap: FixedGap(millis(gap).max(1)),
            domain: TimeDomain::EventTime,
        }
    }

    /// Sessions whose gap after each record is `gap(&record)`.
    pub fn with_dynamic_gap<V, F>(gap: F) -> SessionWindows<DynamicGap<F>>
    where
        F: FnMut(&V) -> Duration + Clone + Send + 'static,
    {
        SessionWindows {
            gap: DynamicGap(gap),
            domain: TimeDomain::EventTime,
        }
    }
}

/// Processing-time session windows.
pub struct ProcessingTimeSessionWindows;

impl ProcessingTimeSessionWindows {
    /// Sessions that end after `gap` of wall-clock time without records.
    pub fn with_gap(gap: Duration) -> SessionWindows<FixedGap> {
        SessionWindows {
            domain: TimeDomain::ProcessingTime,
            ..EventTimeSessionWindows::with_gap(gap)
        }
    }

    /// Sessions whose gap after each record is `gap(&record)`.
    pub fn with_dynamic_gap<V, F>(gap: F) -> SessionWindows<DynamicGap<F>>
    where
        F: FnMut(&V) -> Duration + Clone + Send + 'static,
    {
        SessionWindows {
            domain: TimeDomain::ProcessingTime,
            ..EventTimeSessionWindows::with_dynamic_gap(gap)
        }
    }
}

impl<V> WindowAssigner<V> for SessionWindows<FixedGap> {
    fn assign(&mut self, _value: &V, timestamp: Timestamp, windows: &mut Vec<Window>) {
        windows.push(Window {
            start: timestamp,
            end: timestamp.saturating_add(self.gap.0),
        });
    }

    fn domain(&self) -> Option<TimeDomain> {
        Some(self.domain)
    }

    fn is_merging(&self) -> bool {
        true
    }
}

impl<V, F> WindowAssigner<V> for SessionWindows<DynamicGap<F>>
where
    F: FnMut(&V) -> Duration + Clone + Send + 'static,
{
    fn assign(&mut self, value: &V, timestamp: Timestamp, windows: &mut Vec<Window>) {
        let gap = millis((self.gap.0)(value)).max(1);
        windows.push(Window {
            start: timestamp,
            end: timestamp.saturating_add(gap),
        });
    }

    fn domain(&self) -> Option<TimeDomain> {
        Some(self.domain)
    }

    fn is_merging(&self) -> bool {
        true
    }
}

/// What a trigger decides for its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerResult {
    /// Nothing happens.
    Continue,
    /// The window's function runs on its contents, which stay.
    Fire,
    /// The window's contents are dropped (the window itself stays until its cleanup time).
    Purge,
    /// Fire, then purge.
    FireAndPurge,
}

impl TriggerResult {
    /// Whether the window's function runs.
    pub fn fires(self) -> bool {
        matches!(self, TriggerResult::Fire | TriggerResult::FireAndPurge)
    }

    /// Whether the window's contents are dropped.
    pub fn purges(self) -> bool {
        matches!(self, TriggerResult::Purge | TriggerResult::FireAndPurge)
    }
}

/// A timer a trigger registered: its domain and time.
type TriggerTimer = (TimeDomain, Timestamp);

/// What a trigger sees of time, and the timers it may register for its window.
pub struct TriggerContext<'a> {
    watermark: Timestamp,
    processing_time: Timestamp,
    timers: &'a mut Vec<TriggerTimer>,
    /// The timers registered during this call, for the key's timer service.
    added: Vec<TriggerTimer>,
}

impl TriggerContext<'_> {
    /// The operator's event-time watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The wall clock, in ms since the epoch.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// Calls the trigger's `on_event_time` for this window when the watermark reaches
    /// `timestamp`.
    pub fn register_event_time_timer(&mut self, timestamp: Timestamp) {
        self.register((TimeDomain::EventTime, timestamp));
    }

    /// Calls the trigger's `on_processing_time` for this window when the clock reaches
    /// `timestamp`.
    pub fn register_processing_time_timer(&mut self, timestamp: Timestamp) {
        self.register((TimeDomain::ProcessingTime, timestamp));
    }

    /// Cancels an event-time timer of this window.
    pub fn delete_event_time_timer(&mut self, timestamp: Timestamp) {
        self.timers
            .retain(|t| *t != (TimeDomain::EventTime, timestamp));
    }

    /// Cancels a processing-time timer of this window.
    pub fn delete_processing_time_timer(&mut self, timestamp: Timestamp) {
        self.timers
            .retain(|t| *t != (TimeDomain::ProcessingTime, timestamp));
    }

    fn register(&mut self, timer: TriggerTimer) {
        if !self.timers.contains(&timer) {
            self.timers.push(timer);
            self.added.push(timer);
        }
    }
}

/// When a window fires (Flink's `Trigger`). Each window has its own `State`, created with
/// `Default` and merged when session windows merge.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a window trigger for records of type `{V}`",
    note = "global windows have no default trigger: write `.window(GlobalWindows::create()).trigger(CountTrigger::of(n))` (or another trigger)"
)]
pub trait Trigger<V>: Clone + Send + 'static {
    /// The trigger's state per window.
    type State: Default + Clone + Serialize + DeserializeOwned + Send + 'static;

    /// A record (with time `timestamp`) was added to `window`.
    fn on_element(
        &mut self,
        value: &V,
        timestamp: Timestamp,
        window: Window,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;

    /// An event-time timer this window registered fired.
    fn on_event_time(
        &mut self,
        _time: Timestamp,
        _window: Window,
        _state: &mut Self::State,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    /// A processing-time timer this window registered fired.
    fn on_processing_time(
        &mut self,
        _time: Timestamp,
        _window: Window,
        _state: &mut Self::State,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    /// Windows merged into `window` (session windows): `state` is fresh, `merged` holds the
    /// states of the windows it replaces. The merged windows' timers are gone; register
    /// what `window` needs.
    fn on_merge(
        &mut self,
        _window: Window,
        _state: &mut Self::State,
        _merged: &[Self::State],
        _ctx: &mut TriggerContext<'_>,
    ) {
    }
}

/// The default trigger of time windows: fires when time passes the window's end (the
/// watermark in event time, the clock in processing time), and at once for a late record
/// within the allowed lateness (Flink's `EventTimeTrigger` and `ProcessingTimeTrigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeTrigger {
    domain: TimeDomain,
}

/// Flink's `EventTimeTrigger`.
pub struct EventTimeTrigger;

impl EventTimeTrigger {
    /// Fires when the watermark passes the window's end.
    pub fn create() -> TimeTrigger {
        TimeTrigger {
            domain: TimeDomain::EventTime,
        }
    }
}

/// Flink's `ProcessingTimeTrigger`.
pub struct ProcessingTimeTrigger;

impl ProcessingTimeTrigger {
    /// Fires when the clock passes the window's end.
    pub fn create() -> TimeTrigger {
        TimeTrigger {
            domain: TimeDomain::ProcessingTime,
        }
    }
}

impl TimeTrigger {
    fn register(&self, window: Window, ctx: &mut TriggerContext<'_>) -> TriggerResult {
        match self.domain {
            TimeDomain::EventTime if window.max_timestamp() <= ctx.watermark => TriggerResult::Fire,
            TimeDomain::EventTime => {
                ctx.register_event_time_timer(window.max_timestamp());
                TriggerResult::Continue
            }
            // Processing-time windows fire once the clock reached their end (as in Flink, a
            // millisecond after their last one), so a record arriving at `end - 1` still
            // finds its window open.
            TimeDomain::ProcessingTime => {
                ctx.register_processing_time_timer(window.end);
                TriggerResult::Continue
            }
        }
    }
}

impl<V> Trigger<V> for TimeTrigger {
    type State = ();

    fn on_element(
        &mut self,
        _value: &V,
        _timestamp: Timestamp,
        window: Window,
        _state: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        self.register(window, ctx)
    }

    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: Window,
        _state: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if self.domain == TimeDomain::EventTime && time == window.max_timestamp() {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn on_processing_time(
        &mut self,
        time: Timestamp,
        window: Window,
        _state: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if self.domain == TimeDomain::ProcessingTime && time == window.end {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn on_merge(
        &mut self,
        window: Window,
        _state: &mut (),
        _merged: &[()],
        ctx: &mut TriggerContext<'_>,
    ) {
        // A merged window already past the watermark fires with the next record (which is
        // always there: merging happens when a record arrives).
        if self.domain == TimeDomain::ProcessingTime || window.max_timestamp() > ctx.watermark {
            self.register(window, ctx);
        }
    }
}

/// Fires every `n` records of a window (Flink's `CountTrigger`); the count restarts after
/// each firing. Wrap it in [`PurgingTrigger`] to drop the window's contents when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountTrigger {
    count: u64,
}

impl CountTrigger {
    /// Fires every `count` records.
    pub fn of(count: u64) -> Self {
        CountTrigger {
            count: count.max(1),
        }
    }
}

impl<V> Trigger<V> for CountTrigger {
    type State = u64;

    fn on_element(
        &mut self,
        _value: &V,
        _timestamp: Timestamp,
        _window: Window,
        seen: &mut u64,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        *seen += 1;
        if *seen >= self.count {
            *seen = 0;
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn on_merge(
        &mut self,
        _window: Window,
        seen: &mut u64,
        merged: &[u64],
        _ctx: &mut TriggerContext<'_>,
    ) {
        *seen = merged.iter().sum();
    }
}

/// Makes every firing of `T` also purge the window (Flink's `PurgingTrigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgingTrigger<T>(T);

impl<T> PurgingTrigger<T> {
    /// `trigger`, purging when it fires.
    pub fn of(trigger: T) -> Self {
        PurgingTrigger(trigger)
    }
}

fn purging(result: TriggerResult) -> TriggerResult {
    if result.fires() {
        TriggerResult::FireAndPurge
    } else {
        result
    }
}

impl<V, T: Trigger<V>> Trigger<V> for PurgingTrigger<T> {
    type State = T::State;

    fn on_element(
        &mut self,
        value: &V,
        timestamp: Timestamp,
        window: Window,
        state: &mut T::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.0.on_element(value, timestamp, window, state, ctx))
    }

    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: Window,
        state: &mut T::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.0.on_event_time(time, window, state, ctx))
    }

    fn on_processing_time(
        &mut self,
        time: Timestamp,
        window: Window,
        state: &mut T::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.0.on_processing_time(time, window, state, ctx))
    }

    fn on_merge(
        &mut self,
        window: Window,
        state: &mut T::State,
        merged: &[T::State],
        ctx: &mut TriggerContext<'_>,
    ) {
        self.0.on_merge(window, state, merged, ctx);
    }
}

/// Fires early and repeatedly, every `interval` of time, and at the window's end (Flink's
/// `ContinuousEventTimeTrigger` and `ContinuousProcessingTimeTrigger`): results of a long
/// window as it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContinuousTrigger {
    interval: Timestamp,
    domain: TimeDomain,
}

/// Flink's `ContinuousEventTimeTrigger`.
pub struct ContinuousEventTimeTrigger;

impl ContinuousEventTimeTrigger {
    /// Fires every `interval` of event time (as the watermark passes it) and at the end.
    pub fn of(interval: Duration) -> ContinuousTrigger {
        ContinuousTrigger {
            interval: millis(interval).max(1),
            domain: TimeDomain::EventTime,
        }
    }
}

/// Flink's `ContinuousProcessingTimeTrigger`.
pub struct ContinuousProcessingTimeTrigger;

impl ContinuousProcessingTimeTrigger {
    /// Fires every `interval` of wall-clock time and at the end.
    pub fn of(interval: Duration) -> ContinuousTrigger {
        ContinuousTrigger {
            interval: millis(interval).max(1),
            domain: TimeDomain::ProcessingTime,
        }
    }
}

impl ContinuousTrigger {
    /// Registers the next early firing after `time` (never past the window's end), unless
    /// one is pending; remembers it in `next`.
    fn schedule(
        &self,
        time: Timestamp,
        window: Window,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) {
        if next.is_some() {
            return;
        }
        let at = (time - time.rem_euclid(self.interval))
            .saturating_add(self.interval)
            .min(window.max_timestamp());
        *next = Some(at);
        match self.domain {
            TimeDomain::EventTime => ctx.register_event_time_timer(at),
            TimeDomain::ProcessingTime => ctx.register_processing_time_timer(at),
        }
    }

    fn on_time(
        &self,
        time: Timestamp,
        window: Window,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            return TriggerResult::Fire;
        }
        if *next == Some(time) {
            *next = None;
            self.schedule(time, window, next, ctx);
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }
}

impl<V> Trigger<V> for ContinuousTrigger {
    /// The next early firing.
    type State = Option<Timestamp>;

    fn on_element(
        &mut self,
        _value: &V,
        timestamp: Timestamp,
        window: Window,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        match self.domain {
            TimeDomain::EventTime => {
                if window.max_timestamp() <= ctx.watermark {
                    return TriggerResult::Fire;
                }
                if window != Window::GLOBAL {
                    ctx.register_event_time_timer(window.max_timestamp());
                }
                self.schedule(timestamp, window, next, ctx);
            }
            TimeDomain::ProcessingTime => {
                let now = ctx.processing_time;
                if window != Window::GLOBAL {
                    ctx.register_processing_time_timer(window.max_timestamp());
                }
                self.schedule(now, window, next, ctx);
            }
        }
        TriggerResult::Continue
    }

    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: Window,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if self.domain != TimeDomain::EventTime {
            return TriggerResult::Continue;
        }
        self.on_time(time, window, next, ctx)
    }

    fn on_processing_time(
        &mut self,
        time: Timestamp,
        window: Window,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if self.domain != TimeDomain::ProcessingTime {
            return TriggerResult::Continue;
        }
        self.on_time(time, window, next, ctx)
    }

    fn on_merge(
        &mut self,
        window: Window,
        next: &mut Option<Timestamp>,
        merged: &[Option<Timestamp>],
        ctx: &mut TriggerContext<'_>,
    ) {
        if let Some(earliest) = merged.iter().flatten().min() {
            *next = Some(*earliest);
            match self.domain {
                TimeDomain::EventTime => ctx.register_event_time_timer(*earliest),
                TimeDomain::ProcessingTime => ctx.register_processing_time_timer(*earliest),
            }
        }
        if window.max_timestamp() > ctx.watermark || self.domain == TimeDomain::ProcessingTime {
            match self.domain {
                TimeDomain::EventTime => ctx.register_event_time_timer(window.max_timestamp()),
                TimeDomain::ProcessingTime => {
                    ctx.register_processing_time_timer(window.max_timestamp())
                }
            }
        }
    }
}

/// The trigger of a window assigner without one (global windows): not a [`Trigger`], so a
/// global window without `.trigger(..)` does not compile.
#[derive(Debug, Clone, Copy)]
pub struct NoDefaultTrigger;

/// The records of a window, with their timestamps, as an evictor sees them (in arrival
/// order).
pub type Records<V> = Vec<(V, Timestamp)>;

/// Removes records from a window before and/or after its function runs (Flink's
/// `Evictor`). A window with an evictor keeps its records, so its aggregation is not
/// incremental.
pub trait Evictor<V>: Clone + Send + 'static {
    /// Runs before the window function.
    fn evict_before(&mut self, _records: &mut Records<V>, _window: Window) {}
    /// Runs after the window function.
    fn evict_after(&mut self, _records: &mut Records<V>, _window: Window) {}
}

/// Keeps only the last `n` records of a window (Flink's `CountEvictor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountEvictor {
    keep: usize,
    after: bool,
}

impl CountEvictor {
    /// Keeps the last `count` records, evicting before the window function runs.
    pub fn of(count: usize) -> Self {
        CountEvictor {
            keep: count,
            after: false,
        }
    }

    /// Evicts after the window function instead (it sees all records first).
    pub fn evict_after_function(self) -> Self {
        CountEvictor {
            after: true,
            ..self
        }
    }

    fn evict<V>(&self, records: &mut Records<V>) {
        let excess = records.len().saturating_sub(self.keep);
        records.drain(..excess);
    }
}

impl<V: Clone + Send + 'static> Evictor<V> for CountEvictor {
    fn evict_before(&mut self, records: &mut Records<V>, _window: Window) {
        if !self.after {
            self.evict(records);
        }
    }
    fn evict_after(&mut self, records: &mut Records<V>, _window: Window) {
        if self.after {
            self.evict(records);
        }
    }
}

/// Keeps only the records within `keep` of the newest record's timestamp (Flink's
/// `TimeEvictor`): a record at `t` stays if `t > newest - keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEvictor {
    keep: Timestamp,
    after: bool,
}

impl TimeEvictor {
    /// Keeps the records of the last `keep` of time, evicting before the window function.
    pub fn of(keep: Duration) -> Self {
        TimeEvictor {
            keep: millis(keep),
            after: false,
        }
    }

    /// Evicts after the window function instead.
    pub fn evict_after_function(self) -> Self {
        TimeEvictor {
            after: true,
            ..self
        }
    }

    fn evict<V>(&self, records: &mut Records<V>) {
        if let Some(newest) = records.iter().map(|(_, ts)| *ts).max() {
            let cutoff = newest.saturating_sub(self.keep);
            records.retain(|(_, ts)| *ts > cutoff);
        }
    }
}

impl<V: Clone + Send + 'static> Evictor<V> for TimeEvictor {
    fn evict_before(&mut self, records: &mut Records<V>, _window: Window) {
        if !self.after {
            self.evict(records);
        }
    }
    fn evict_after(&mut self, records: &mut Records<V>, _window: Window) {
        if self.after {
            self.evict(records);
        }
    }
}

/// How a window keeps its contents: an accumulator ([`Incremental`]) or its records, for
/// an evictor ([`Evicting`]).
pub trait Contents<V>: Clone + Send + 'static {
    /// A window's contents.
    type Data: Clone + Serialize + DeserializeOwned + Send + 'static;
    /// The window function's result.
    type Result;
    /// Contents with one record.
    fn first(&mut self, value: V, timestamp: Timestamp) -> Self::Data;
    /// Adds a record.
    fn add(&mut self, data: &mut Self::Data, value: V, timestamp: Timestamp);
    /// Merges `other` into `data` (session windows).
    fn merge(&mut self, data: &mut Self::Data, other: Self::Data);
    /// The window's result, if it has records (an evictor may have removed them all).
    fn result(&mut self, data: &mut Self::Data, window: Window) -> Option<Self::Result>;
}

/// Aggregates each record into the window's accumulator as it arrives.
#[derive(Clone)]
pub struct Incremental<G>(G);

impl<V, G: AggregateFunction<V>> Contents<V> for Incremental<G> {
    type Data = G::Acc;
    type Result = G::Out;

    fn first(&mut self, value: V, _timestamp: Timestamp) -> G::Acc {
        let mut acc = self.0.create_accumulator();
        self.0.add(&mut acc, value);
        acc
    }

    #[inline]
    fn add(&mut self, acc: &mut G::Acc, value: V, _timestamp: Timestamp) {
        self.0.add(acc, value);
    }

    fn merge(&mut self, acc: &mut G::Acc, other: G::Acc) {
        self.0.merge(acc, &other);
    }

    fn result(&mut self, acc: &mut G::Acc, _window: Window) -> Option<G::Out> {
        Some(self.0.result(acc))
    }
}

/// Keeps the window's records; when it fires, the evictor runs, then the aggregate over
/// what is left, then the evictor again.
#[derive(Clone)]
pub struct Evicting<G, E> {
    aggregate: G,
    evictor: E,
}

impl<V, G, E> Contents<V> for Evicting<G, E>
where
    V: Clone + Serialize + DeserializeOwned + Send + 'static,
    G: AggregateFunction<V>,
    E: Evictor<V>,
{
    type Data = Records<V>;
    type Result = G::Out;

    fn first(&mut self, value: V, timestamp: Timestamp) -> Records<V> {
        vec![(value, timestamp)]
    }

    fn add(&mut self, records: &mut Records<V>, value: V, timestamp: Timestamp) {
        records.push((value, timestamp));
    }

    fn merge(&mut self, records: &mut Records<V>, other: Records<V>) {
        records.extend(other);
    }

    fn result(&mut self, records: &mut Records<V>, window: Window) -> Option<G::Out> {
        self.evictor.evict_before(records, window);
        let result = if records.is_empty() {
            None
        } else {
            let mut acc = self.aggregate.create_accumulator();
            for (value, _) in records.iter() {
                self.aggregate.add(&mut acc, value.clone());
            }
            Some(self.aggregate.result(&acc))
        };
        self.evictor.evict_after(records, window);
        result
    }
}

/// No evictor: aggregation is incremental.
#[derive(Debug, Clone, Copy)]
pub struct NoEvictor;

/// An evictor given with `.evictor(..)`.
#[derive(Debug, Clone, Copy)]
pub struct WithEvictor<E>(E);

/// Where a window specification's evictor decides how windows keep their contents.
pub trait EvictorChoice: Send + 'static {
    /// The contents of windows aggregated by `G`.
    type Contents<G>;
    /// The contents of windows aggregated by `aggregate`.
    fn contents<G>(self, aggregate: G) -> Self::Contents<G>;
}

impl EvictorChoice for NoEvictor {
    type Contents<G> = Incremental<G>;
    fn contents<G>(self, aggregate: G) -> Incremental<G> {
        Incremental(aggregate)
    }
}

impl<E: Send + 'static> EvictorChoice for WithEvictor<E> {
    type Contents<G> = Evicting<G, E>;
    fn contents<G>(self, aggregate: G) -> Evicting<G, E> {
        Evicting {
            aggregate,
            evictor: self.0,
        }
    }
}

/// An assigner with its default trigger: time windows and sessions fire when time passes
/// their end; global windows have none.
pub trait DefaultTrigger {
    /// The trigger.
    type Trigger;
    /// The trigger.
    fn default_trigger(&self) -> Self::Trigger;
}

impl DefaultTrigger for EventTimeWindows {
    type Trigger = TimeTrigger;
    fn default_trigger(&self) -> TimeTrigger {
        TimeTrigger {
            domain: self.domain,
        }
    }
}

impl<G> DefaultTrigger for SessionWindows<G> {
    type Trigger = TimeTrigger;
    fn default_trigger(&self) -> TimeTrigger {
        TimeTrigger {
            domain: self.domain,
        }
    }
}

impl DefaultTrigger for GlobalWindows {
    type Trigger = NoDefaultTrigger;
    fn default_trigger(&self) -> NoDefaultTrigger {
        NoDefaultTrigger
    }
}

/// A window specification: an assigner with a trigger, an evictor and allowed lateness,
/// as `.window(a).trigger(t).evictor(e).allowed_lateness(d)` writes it.
#[derive(Debug, Clone, Copy)]
pub struct WindowSpec<A, T, E> {
    assigner: A,
    trigger: T,
    evictor: E,
    lateness: Timestamp,
}

impl<A: DefaultTrigger> WindowSpec<A, A::Trigger, NoEvictor> {
    /// `assigner` with its default trigger, no evictor and no allowed lateness.
    pub fn new(assigner: A) -> Self {
        WindowSpec {
            trigger: assigner.default_trigger(),
            assigner,
            evictor: NoEvictor,
            lateness: 0,
        }
    }
}

impl<A, T, E> WindowSpec<A, T, E> {
    /// Replaces the trigger.
    pub fn trigger<T2>(self, trigger: T2) -> WindowSpec<A, T2, E> {
        WindowSpec {
            assigner: self.assigner,
            trigger,
            evictor: self.evictor,
            lateness: self.lateness,
        }
    }

    /// Sets an evictor; windows then keep their records.
    pub fn evictor<E2>(self, evictor: E2) -> WindowSpec<A, T, WithEvictor<E2>> {
        WindowSpec {
            assigner: self.assigner,
            trigger: self.trigger,
            evictor: WithEvictor(evictor),
            lateness: self.lateness,
        }
    }

    /// Keeps event-time windows for `lateness` after they fire: a late record within it
    /// re-fires its window with the updated result; later ones go to the late-data side
    /// output.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.lateness = millis(lateness);
        self
    }
}

impl<A: Send + 'static, T: Send + 'static, E: EvictorChoice> Assigner for WindowSpec<A, T, E> {
    type Operator<G, V, Fin> = WindowOperator<A, T, E::Contents<G>, Fin, V>;
    fn operator<G, V, Fin>(self, aggregate: G, finish: Fin) -> Self::Operator<G, V, Fin> {
        WindowOperator {
            assigner: self.assigner,
            trigger: self.trigger,
            contents: self.evictor.contents(aggregate),
            finish,
            lateness: self.lateness,
            assigned: Vec::new(),
            _value: PhantomData,
        }
    }
}

impl<G: Send + 'static> Assigner for SessionWindows<G> {
    type Operator<Agg, V, Fin> = WindowOperator<Self, TimeTrigger, Incremental<Agg>, Fin, V>;
    fn operator<Agg, V, Fin>(self, aggregate: Agg, finish: Fin) -> Self::Operator<Agg, V, Fin> {
        WindowSpec::new(self).operator(aggregate, finish)
    }
}

/// An open window of a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "D: Serialize, S: Serialize",
    deserialize = "D: DeserializeOwned, S: DeserializeOwned"
))]
pub struct OpenWindow<D, S> {
    window: Window,
    /// `None` once purged.
    contents: Option<D>,
    trigger: S,
    timers: Vec<TriggerTimer>,
}

/// A key's open windows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "D: Serialize, S: Serialize",
    deserialize = "D: DeserializeOwned, S: DeserializeOwned"
))]
pub struct OpenWindows<D, S> {
    windows: Vec<OpenWindow<D, S>>,
}

impl<D, S> Default for OpenWindows<D, S> {
    fn default() -> Self {
        OpenWindows {
            windows: Vec::new(),
        }
    }
}

/// The general keyed window operator.
pub struct WindowOperator<A, T, C, Fin, V> {
    assigner: A,
    trigger: T,
    contents: C,
    finish: Fin,
    lateness: Timestamp,
    /// The windows of the record at hand (reused).
    assigned: Vec<Window>,
    _value: PhantomData<fn(V)>,
}

impl<A: Clone, T: Clone, C: Clone, Fin: Clone, V> Clone for WindowOperator<A, T, C, Fin, V> {
    fn clone(&self) -> Self {
        WindowOperator {
            assigner: self.assigner.clone(),
            trigger: self.trigger.clone(),
            contents: self.contents.clone(),
            finish: self.finish.clone(),
            lateness: self.lateness,
            assigned: Vec::new(),
            _value: PhantomData,
        }
    }
}

impl<A, T, C, Fin, V> WindowOperator<A, T, C, Fin, V>
where
    V: Clone + Send + 'static,
    A: WindowAssigner<V>,
    T: Trigger<V>,
    C: Contents<V>,
{
    /// When `window`'s state goes: for event time after the allowed lateness, for
    /// processing time at its end; never for global windows.
    fn cleanup_time(&self, window: Window) -> Option<(TimeDomain, Timestamp)> {
        if window.end == Timestamp::MAX {
            return None;
        }
        match self.assigner.domain()? {
            TimeDomain::EventTime => Some((
                TimeDomain::EventTime,
                window.max_timestamp().saturating_add(self.lateness),
            )),
            TimeDomain::ProcessingTime => Some((TimeDomain::ProcessingTime, window.end)),
        }
    }

    /// Whether `window` is past its cleanup time already (too late for any record).
    fn is_late(&self, window: Window, watermark: Timestamp) -> bool {
        self.assigner.domain() == Some(TimeDomain::EventTime)
            && self
                .cleanup_time(window)
                .is_some_and(|(_, cleanup)| cleanup <= watermark)
    }

    fn register_cleanup<K: std::hash::Hash + Eq + Clone>(
        &self,
        window: Window,
        ctx: &mut KeyedContext<'_, K, Fin::Out>,
    ) where
        Fin: Finish<K, C::Result>,
    {
        match self.cleanup_time(window) {
            Some((TimeDomain::EventTime, at)) => ctx.register_event_time_timer(at),
            Some((TimeDomain::ProcessingTime, at)) => ctx.register_processing_time_timer(at),
            None => {}
        }
    }
}

/// Registers with the key's timers what a trigger call added to its window's timers.
fn register_new<K: std::hash::Hash + Eq + Clone, O>(
    added: &[TriggerTimer],
    ctx: &mut KeyedContext<'_, K, O>,
) {
    for &(domain, at) in added {
        match domain {
            TimeDomain::EventTime => ctx.register_event_time_timer(at),
            TimeDomain::ProcessingTime => ctx.register_processing_time_timer(at),
        }
    }
}

impl<K, V, A, T, C, Fin> KeyedProcessFunction<K, V> for WindowOperator<A, T, C, Fin, V>
where
    K: std::hash::Hash + Eq + Clone,
    V: Clone + Send + 'static,
    A: WindowAssigner<V>,
    T: Trigger<V>,
    C: Contents<V>,
    Fin: Finish<K, C::Result>,
{
    type State = OpenWindows<C::Data, T::State>;
    type Out = Fin::Out;

    fn fires_processing_timers_at_end(&self) -> bool {
        self.assigner.domain() == Some(TimeDomain::ProcessingTime)
    }

    fn process_element(
        &mut self,
        key: &K,
        state: &mut Self::State,
        value: V,
        ctx: &mut KeyedContext<'_, K, Fin::Out>,
    ) {
        let now = ctx.current_processing_time();
        let watermark = ctx.current_watermark();
        let timestamp = match self.assigner.domain() {
            Some(TimeDomain::EventTime) => match ctx.timestamp() {
                Some(ts) => ts,
                None => panic!("an event-time window needs records with timestamps: call `.assign_timestamps(..)` before it"),
            },
            Some(TimeDomain::ProcessingTime) => now,
            None => ctx.timestamp().unwrap_or(now),
        };
        let mut assigned = std::mem::take(&mut self.assigned);
        assigned.clear();
        self.assigner.assign(&value, timestamp, &mut assigned);
        if assigned.is_empty() {
            // Between windows (a slide longer than the size): in none.
            self.assigned = assigned;
            return;
        }
        let value = if self.assigner.is_merging() {
            // The new window (one per record) merges with the open windows it overlaps or
            // touches.
            let new = assigned[0];
            let overlaps = |w: &Window| w.start <= new.end && new.start <= w.end;
            let cover = state
                .windows
                .iter()
                .map(|open| open.window)
                .filter(overlaps)
                .fold(new, |a, b| Window {
                    start: a.start.min(b.start),
                    end: a.end.max(b.end),
                });
            assigned.clear();
            if !self.is_late(cover, watermark) {
                let mut merged = Vec::new();
                let mut i = 0;
                while i < state.windows.len() {
                    if overlaps(&state.windows[i].window) {
                        merged.push(state.windows.swap_remove(i));
                    } else {
                        i += 1;
                    }
                }
                let index = match merged.as_slice() {
                    // Inside an open window: nothing merges.
                    [only] if only.window == cover => {
                        state.windows.extend(merged);
                        state.windows.len() - 1
                    }
                    _ => self.merge_into(cover, merged, state, watermark, now, ctx),
                };
                self.assigned = assigned;
                self.add_to(index, value, timestamp, key, state, watermark, now, ctx);
                return;
            }
            self.assigned = assigned;
            value
        } else {
            assigned.retain(|w| !self.is_late(*w, watermark));
            let mut value = Some(value);
            for (n, &window) in assigned.iter().enumerate() {
                let index = match state.windows.iter().position(|open| open.window == window) {
                    Some(i) => i,
                    None => {
                        self.register_cleanup(window, ctx);
                        state.windows.push(OpenWindow {
                            window,
                            contents: None,
                            trigger: T::State::default(),
                            timers: Vec::new(),
                        });
                        state.windows.len() - 1
                    }
                };
                // The last window takes the record, the others a copy.
                let record = if n + 1 == assigned.len() {
                    value.take()
                } else {
                    value.clone()
                };
                if let Some(record) = record {
                    self.add_to(index, record, timestamp, key, state, watermark, now, ctx);
                }
            }
            self.assigned = assigned;
            match value {
                Some(value) => value,
                None => return,
            }
        };
        // Every window of the record is past its allowed lateness.
        ctx.side_output(&late_data::<V>(), value);
    }

    fn on_timer(
        &mut self,
        key: &K,
        state: &mut Self::State,
        time: Timestamp,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, K, Fin::Out>,
    ) {
        let watermark = ctx.current_watermark();
        let now = ctx.current_processing_time();
        let mut i = 0;
        while i < state.windows.len() {
            let open = &mut state.windows[i];
            let window = open.window;
            if let Some(at) = open.timers.iter().position(|t| *t == (domain, time)) {
                open.timers.swap_remove(at);
                let mut trigger_ctx = TriggerContext {
                    watermark,
                    processing_time: now,
                    timers: &mut open.timers,
                    added: Vec::new(),
                };
                let result = match domain {
                    TimeDomain::EventTime => self.trigger.on_event_time(
                        time,
                        window,
                        &mut open.trigger,
                        &mut trigger_ctx,
                    ),
                    TimeDomain::ProcessingTime => self.trigger.on_processing_time(
                        time,
                        window,
                        &mut open.trigger,
                        &mut trigger_ctx,
                    ),
                };
                register_new(&trigger_ctx.added, ctx);
                self.act(result, i, key, state, time, ctx);
            }
            if self.cleanup_time(window) == Some((domain, time)) {
                state.windows.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if state.windows.is_empty() {
            ctx.clear_state();
        }
    }
}

impl<A, T, C, Fin, V> WindowOperator<A, T, C, Fin, V>
where
    V: Clone + Send + 'static,
    A: WindowAssigner<V>,
    T: Trigger<V>,
    C: Contents<V>,
{
    /// Replaces `merged` (taken out of `state`) by one window `cover`, merging contents
    /// and trigger states; returns its index.
    #[allow(clippy::too_many_arguments)]
    fn merge_into<K: std::hash::Hash + Eq + Clone>(
        &mut self,
        cover: Window,
        merged: Vec<OpenWindow<C::Data, T::State>>,
        state: &mut OpenWindows<C::Data, T::State>,
        watermark: Timestamp,
        now: Timestamp,
        ctx: &mut KeyedContext<'_, K, Fin::Out>,
    ) -> usize
    where
        Fin: Finish<K, C::Result>,
    {
        let mut contents: Option<C::Data> = None;
        let mut trigger_states = Vec::with_capacity(merged.len());
        for open in merged {
            if let Some(data) = open.contents {
                match &mut contents {
                    Some(into) => self.contents.merge(into, data),
                    None => contents = Some(data),
                }
            }
            trigger_states.push(open.trigger);
        }
        let mut open = OpenWindow {
            window: cover,
            contents,
            trigger: T::State::default(),
            timers: Vec::new(),
        };
        if !trigger_states.is_empty() {
            let mut trigger_ctx = TriggerContext {
                watermark,
                processing_time: now,
                timers: &mut open.timers,
                added: Vec::new(),
            };
            self.trigger
                .on_merge(cover, &mut open.trigger, &trigger_states, &mut trigger_ctx);
            register_new(&trigger_ctx.added, ctx);
        }
        self.register_cleanup(cover, ctx);
        state.windows.push(open);
        state.windows.len() - 1
    }

    /// Adds a record to window `index` and runs its trigger.
    #[allow(clippy::too_many_arguments)]
    fn add_to<K: std::hash::Hash + Eq + Clone>(
        &mut self,
        index: usize,
        value: V,
        timestamp: Timestamp,
        key: &K,
        state: &mut OpenWindows<C::Data, T::State>,
        watermark: Timestamp,
        now: Timestamp,
        ctx: &mut KeyedContext<'_, K, Fin::Out>,
    ) where
        Fin: Finish<K, C::Result>,
    {
        let open = &mut state.windows[index];
        let mut trigger_ctx = TriggerContext {
            watermark,
            processing_time: now,
            timers: &mut open.timers,
            added: Vec::new(),
        };
        let result = self.trigger.on_element(
            &value,
            timestamp,
            open.window,
            &mut open.trigger,
            &mut trigger_ctx,
        );
        register_new(&trigger_ctx.added, ctx);
        match &mut open.contents {
            Some(data) => self.contents.add(data, value, timestamp),
            None => open.contents = Some(self.contents.first(value, timestamp)),
        }
        self.act(result, index, key, state, timestamp, ctx);
    }

    /// Fires and/or purges window `index` as its trigger decided. `time` is the time of
    /// the firing: the result's timestamp for a global window (others carry `end - 1`).
    fn act<K: std::hash::Hash + Eq + Clone>(
        &mut self,
        result: TriggerResult,
        index: usize,
        key: &K,
        state: &mut OpenWindows<C::Data, T::State>,
        time: Timestamp,
        ctx: &mut KeyedContext<'_, K, Fin::Out>,
    ) where
        Fin: Finish<K, C::Result>,
    {
        let open = &mut state.windows[index];
        if result.fires() {
            if let Some(data) = &mut open.contents {
                if let Some(output) = self.contents.result(data, open.window) {
                    let at = if open.window.end == Timestamp::MAX {
                        time
                    } else {
                        open.window.max_timestamp()
                    };
                    self.finish
                        .finish(key, open.window, output, |o| ctx.output_at(o, at));
                }
            }
        }
        if result.purges() {
            open.contents = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_windows_assign_every_window_holding_the_record() {
        let sliding = super::super::SlidingEventTimeWindows::of(
            Duration::from_millis(10),
            Duration::from_millis(4),
        );
        let mut windows = Vec::new();
        WindowAssigner::<u8>::assign(&mut sliding.clone(), &0, 17, &mut windows);
        windows.sort();
        assert_eq!(
            windows,
            vec![
                Window { start: 8, end: 18 },
                Window { start: 12, end: 22 },
                Window { start: 16, end: 26 }
            ]
        );
    }

    #[test]
    fn continuous_trigger_fires_every_interval_and_at_the_end() {
        let mut trigger = ContinuousEventTimeTrigger::of(Duration::from_millis(10));
        let window = Window { start: 0, end: 35 };
        let mut timers = Vec::new();
        let mut next = None;
        let mut ctx = TriggerContext {
            watermark: -1,
            processing_time: 0,
            timers: &mut timers,
            added: Vec::new(),
        };
        let first = Trigger::<u8>::on_element(&mut trigger, &0, 3, window, &mut next, &mut ctx);
        assert_eq!(first, TriggerResult::Continue);
        assert_eq!(next, Some(10));
        let mut fired = Vec::new();
        for time in [10, 20, 30, 34] {
            let mut ctx = TriggerContext {
                watermark: time,
                processing_time: 0,
                timers: &mut timers,
                added: Vec::new(),
            };
            if Trigger::<u8>::on_event_time(&mut trigger, time, window, &mut next, &mut ctx).fires()
            {
                fired.push(time);
            }
        }
        assert_eq!(fired, vec![10, 20, 30, 34]);
    }
}
