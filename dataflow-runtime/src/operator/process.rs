//! Process functions: the lowest level of the API. A keyed process function sees each record
//! with its key's state and may register event-time and processing-time timers for the key;
//! a non-keyed one sees records with their time context.

use std::hash::Hash;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::timers::{DueTimer, TimerQueue};
use super::{Emit, Operator, OperatorMetrics, OperatorScope, OutputTag, SideRecord};
use crate::element::{Keyed, Timestamp, MAX_WATERMARK, MIN_WATERMARK};
use crate::job::TaskContext;
use crate::state::{Entry, KeyedStore, NoTtl, StateTtl, TtlPolicy};
use crate::time::{processing_time_now, TimeDomain};

/// What a process function emits, buffered until it returns (so that its signature needs no
/// generic output type).
type Output<O> = Vec<(O, Option<Timestamp>)>;

/// A function over a keyed stream with per-key state and timers (Flink's
/// `KeyedProcessFunction`).
///
/// `State` is created with `Default` the first time a key is seen, handed out as `&mut` on
/// every call for that key, and dropped by [`KeyedContext::clear_state`].
pub trait KeyedProcessFunction<K, I>: Clone + Send + 'static {
    /// The per-key state.
    type State: Default + Clone + Serialize + DeserializeOwned + Send + 'static;
    /// The records emitted.
    type Out: Send + 'static;

    /// Handles one record of key `key`.
    fn process_element(
        &mut self,
        key: &K,
        state: &mut Self::State,
        value: I,
        ctx: &mut KeyedContext<'_, K, Self::Out>,
    );

    /// Whether processing-time timers still pending at the end of a streaming job fire (they
    /// do not by default, as in Flink; windows say yes, so that the last processing-time
    /// windows are not lost).
    fn fires_processing_timers_at_end(&self) -> bool {
        false
    }

    /// A timer of `key` fired: `timestamp` is the time it was registered for.
    fn on_timer(
        &mut self,
        _key: &K,
        _state: &mut Self::State,
        _timestamp: Timestamp,
        _domain: TimeDomain,
        _ctx: &mut KeyedContext<'_, K, Self::Out>,
    ) {
    }
}

/// A function over a non-keyed stream with access to time (Flink's `ProcessFunction`).
pub trait ProcessFunction<I>: Clone + Send + 'static {
    /// The records emitted.
    type Out: Send + 'static;

    /// Handles one record.
    fn process_element(&mut self, value: I, ctx: &mut Context<'_, Self::Out>);
}

/// The timers of a keyed operator subtask, in both domains.
struct Timers<K> {
    event: TimerQueue<K>,
    processing: TimerQueue<K>,
}

/// What a keyed process function can do besides returning: emit, read time, manage timers
/// and its key's state.
pub struct KeyedContext<'a, K, O> {
    key_group: u16,
    key: &'a K,
    timestamp: Option<Timestamp>,
    watermark: Timestamp,
    timers: &'a mut Timers<K>,
    output: &'a mut Output<O>,
    side: &'a mut Vec<SideRecord>,
    clear_state: bool,
}

/// The methods both contexts have: emitting, side outputs, time. (A macro rather than
/// `Deref` from one context to the other: through `DerefMut`, `ctx.output(ctx.timestamp())`
/// would no longer borrow-check.)
macro_rules! common_context_methods {
    () => {
        /// Emits a record; it carries the timestamp of the record (or event-time timer) being
        /// handled.
        #[inline]
        pub fn output(&mut self, value: O) {
            self.output.push((value, self.timestamp));
        }

        /// Emits a record to the side output `tag` (read with `stream.side_output(TAG)`).
        pub fn side_output<T: Send + 'static>(&mut self, tag: &OutputTag<T>, value: T) {
            self.side.push(SideRecord {
                tag: tag.name(),
                value: Box::new(value),
                timestamp: self.timestamp,
            });
        }

        /// The event timestamp of the record being handled, or of the event-time timer firing
        /// (`None` for records without timestamps and for processing-time timers).
        pub fn timestamp(&self) -> Option<Timestamp> {
            self.timestamp
        }

        /// The operator's current watermark (`Timestamp::MIN` before the first).
        pub fn current_watermark(&self) -> Timestamp {
            self.watermark
        }

        /// The wall clock, in milliseconds since the epoch.
        pub fn current_processing_time(&self) -> Timestamp {
            processing_time_now()
        }
    };
}

impl<K: Hash + Eq + Clone, O> KeyedContext<'_, K, O> {
    common_context_methods!();

    /// Emits a record with the given timestamp (window results carry their window's
    /// `end - 1`, whichever clock fired them).
    pub(crate) fn output_at(&mut self, value: O, timestamp: Timestamp) {
        self.output.push((value, Some(timestamp)));
    }

    /// The key being handled.
    pub fn current_key(&self) -> &K {
        self.key
    }

    /// Calls `on_timer` for this key once the watermark reaches `timestamp` (once per key and
    /// timestamp, however often registered).
    pub fn register_event_time_timer(&mut self, timestamp: Timestamp) {
        self.timers
            .event
            .register(timestamp, self.key_group, self.key);
    }

    /// Calls `on_timer` for this key once the wall clock reaches `timestamp`.
    pub fn register_processing_time_timer(&mut self, timestamp: Timestamp) {
        self.timers
            .processing
            .register(timestamp, self.key_group, self.key);
    }

    /// Deletes this key's event-time timer at `timestamp`, if registered.
    pub fn delete_event_time_timer(&mut self, timestamp: Timestamp) {
        self.timers.event.delete(timestamp, self.key);
    }

    /// Deletes this key's processing-time timer at `timestamp`, if registered.
    pub fn delete_processing_time_timer(&mut self, timestamp: Timestamp) {
        self.timers.processing.delete(timestamp, self.key);
    }

    /// Drops this key's state when the call returns; the next call for the key gets a fresh
    /// `Default` state.
    pub fn clear_state(&mut self) {
        self.clear_state = true;
    }
}

/// What a non-keyed process function can do besides returning.
pub struct Context<'a, O> {
    timestamp: Option<Timestamp>,
    watermark: Timestamp,
    output: &'a mut Output<O>,
    side: &'a mut Vec<SideRecord>,
}

impl<O> Context<'_, O> {
    common_context_methods!();
}

/// The closure form of a keyed process function: `|key, state: &mut S, value, ctx| ...`
/// (no timers fire into it: use the trait for `on_timer`).
pub struct KeyedProcessFn<F, S, O> {
    f: F,
    _types: PhantomData<fn() -> (S, O)>,
}

impl<F: Clone, S, O> Clone for KeyedProcessFn<F, S, O> {
    fn clone(&self) -> Self {
        KeyedProcessFn {
            f: self.f.clone(),
            _types: PhantomData,
        }
    }
}

impl<K, I, F, S, O> KeyedProcessFunction<K, I> for KeyedProcessFn<F, S, O>
where
    F: FnMut(&K, &mut S, I, &mut KeyedContext<'_, K, O>) + Clone + Send + 'static,
    S: Default + Clone + Serialize + DeserializeOwned + Send + 'static,
    O: Send + 'static,
{
    type State = S;
    type Out = O;

    #[inline(always)]
    fn process_element(
        &mut self,
        key: &K,
        state: &mut S,
        value: I,
        ctx: &mut KeyedContext<'_, K, O>,
    ) {
        (self.f)(key, state, value, ctx);
    }
}

/// The closure form of a non-keyed process function: `|value, ctx| ...`.
pub struct ProcessFn<F, O> {
    f: F,
    _out: PhantomData<fn() -> O>,
}

impl<F: Clone, O> Clone for ProcessFn<F, O> {
    fn clone(&self) -> Self {
        ProcessFn {
            f: self.f.clone(),
            _out: PhantomData,
        }
    }
}

impl<I, F, O> ProcessFunction<I> for ProcessFn<F, O>
where
    F: FnMut(I, &mut Context<'_, O>) + Clone + Send + 'static,
    O: Send + 'static,
{
    type Out = O;

    #[inline(always)]
    fn process_element(&mut self, value: I, ctx: &mut Context<'_, O>) {
        (self.f)(value, ctx);
    }
}

/// Wraps a closure as a keyed process function, fixing its argument types.
pub fn keyed_process_fn<K, I, S, O, F>(f: F) -> KeyedProcessFn<F, S, O>
where
    F: FnMut(&K, &mut S, I, &mut KeyedContext<'_, K, O>) + Clone + Send + 'static,
{
    KeyedProcessFn {
        f,
        _types: PhantomData,
    }
}

/// Wraps a closure as a process function, fixing its argument types.
pub fn process_fn<I, O, F>(f: F) -> ProcessFn<F, O>
where
    F: FnMut(I, &mut Context<'_, O>) + Clone + Send + 'static,
{
    ProcessFn {
        f,
        _out: PhantomData,
    }
}

/// Hands what a process function emitted to the rest of the chain: main records, then side
/// output records (offered to the side output consumers).
#[inline]
fn ship<O, E: Emit<O>>(
    output: &mut Output<O>,
    side: &mut Vec<SideRecord>,
    emitted: &mut u64,
    out: &mut E,
) {
    *emitted += output.len() as u64;
    for (value, timestamp) in output.drain(..) {
        out.emit(value, timestamp);
    }
    if !side.is_empty() {
        for record in side.drain(..) {
            out.emit_side(&mut Some(record));
        }
    }
}

/// `.process(f)` on a keyed stream; `T` says whether its state expires.
pub struct KeyedProcess<K, V, F: KeyedProcessFunction<K, V>, T: TtlPolicy = NoTtl> {
    operator: usize,
    function: F,
    ttl: T,
    store: KeyedStore<K, F::State, T::Touch>,
    timers: Timers<K>,
    watermark: Timestamp,
    /// When expired state was last swept (processing time or watermark, as the TTL says).
    last_sweep: Timestamp,
    output: Output<F::Out>,
    side: Vec<SideRecord>,
    emitted: u64,
    _input: PhantomData<fn(V)>,
}

impl<K, V, F, T> Clone for KeyedProcess<K, V, F, T>
where
    K: Hash + Eq + Clone,
    F: KeyedProcessFunction<K, V>,
    T: TtlPolicy,
{
    /// Clones the operator's definition; state is never shared between subtasks.
    fn clone(&self) -> Self {
        KeyedProcess::new(self.operator, self.function.clone(), self.ttl)
    }
}

impl<K, V, F, T> KeyedProcess<K, V, F, T>
where
    K: Hash + Eq + Clone,
    F: KeyedProcessFunction<K, V>,
    T: TtlPolicy,
{
    /// The function (the broadcast side of a broadcast `co_process` keeps its state there).
    pub(crate) fn function_mut(&mut self) -> &mut F {
        &mut self.function
    }

    /// The function.
    pub(crate) fn function(&self) -> &F {
        &self.function
    }

    /// The operator's number in the job.
    pub(crate) fn operator(&self) -> usize {
        self.operator
    }

    pub(crate) fn new(operator: usize, function: F, ttl: T) -> Self {
        KeyedProcess {
            operator,
            function,
            ttl,
            store: KeyedStore::new(),
            timers: Timers {
                event: TimerQueue::new(),
                processing: TimerQueue::new(),
            },
            watermark: MIN_WATERMARK,
            last_sweep: MIN_WATERMARK,
            output: Vec::new(),
            side: Vec::new(),
            emitted: 0,
            _input: PhantomData,
        }
    }

    /// The time state was touched at, in the TTL's domain.
    fn touch_time(&self, timestamp: Option<Timestamp>) -> Timestamp {
        match self.ttl.config() {
            Some(StateTtl::ProcessingTime(_)) => processing_time_now(),
            Some(StateTtl::EventTime(_)) => timestamp.unwrap_or(self.watermark),
            None => 0,
        }
    }

    /// Whether state touched at `touched` has expired by `now` (in the TTL's domain).
    fn expired(ttl: Option<StateTtl>, touched: Timestamp, now: Timestamp) -> bool {
        match ttl {
            Some(StateTtl::ProcessingTime(ttl)) | Some(StateTtl::EventTime(ttl)) => {
                touched.saturating_add(ttl) <= now
            }
            None => false,
        }
    }

    /// The current time in the TTL's domain.
    fn ttl_now(&self) -> Timestamp {
        match self.ttl.config() {
            Some(StateTtl::ProcessingTime(_)) => processing_time_now(),
            _ => self.watermark,
        }
    }

    /// Runs the user's function on `key`'s state, then applies `clear_state` and ships the
    /// output.
    #[inline]
    fn with_state<E: Emit<F::Out>>(
        &mut self,
        key_group: u16,
        key: &K,
        timestamp: Option<Timestamp>,
        out: &mut E,
        call: impl FnOnce(&mut F, &mut F::State, &mut KeyedContext<'_, K, F::Out>),
    ) {
        let touched = T::stamp(self.touch_time(timestamp));
        let ttl = self.ttl.config();
        let now = if ttl.is_some() { self.ttl_now() } else { 0 };
        let entry = self.store.get_or_insert(key_group, key, || Entry {
            key: key.clone(),
            state: F::State::default(),
            touched,
        });
        // Expired state is never handed out, even before the sweep removes it.
        if Self::expired(ttl, T::touched(&entry.touched), now) {
            entry.state = F::State::default();
        }
        // Out-of-order records do not move the last touch back.
        entry.touched = T::latest(entry.touched, touched);
        let mut ctx = KeyedContext {
            key_group,
            key,
            timestamp,
            watermark: self.watermark,
            timers: &mut self.timers,
            output: &mut self.output,
            side: &mut self.side,
            clear_state: false,
        };
        let scope = OperatorScope::enter(self.operator);
        call(&mut self.function, &mut entry.state, &mut ctx);
        scope.exit();
        if ctx.clear_state {
            self.store.remove(key_group, key);
        }
        ship(&mut self.output, &mut self.side, &mut self.emitted, out);
    }

    /// Runs the function outside any key (the broadcast side of a broadcast `co_process`).
    pub(crate) fn process_unkeyed<E: Emit<F::Out>>(
        &mut self,
        timestamp: Option<Timestamp>,
        out: &mut E,
        call: impl FnOnce(&mut F, &mut Context<'_, F::Out>),
    ) {
        let mut ctx = Context {
            timestamp,
            watermark: self.watermark,
            output: &mut self.output,
            side: &mut self.side,
        };
        let scope = OperatorScope::enter(self.operator);
        call(&mut self.function, &mut ctx);
        scope.exit();
        ship(&mut self.output, &mut self.side, &mut self.emitted, out);
    }

    fn fire<E: Emit<F::Out>>(&mut self, timer: DueTimer<K>, domain: TimeDomain, out: &mut E) {
        let timestamp = (domain == TimeDomain::EventTime).then_some(timer.timestamp);
        self.with_state(
            timer.key_group,
            &timer.key,
            timestamp,
            out,
            |function, state, ctx| {
                let key = ctx.key;
                function.on_timer(key, state, timer.timestamp, domain, ctx);
            },
        );
    }

    /// Fires the timers of `domain` due at `time`. At the end of time (end of input) only the
    /// timers due up to the latest one registered before it fire, so a timer that keeps
    /// registering a later one cannot run forever.
    fn fire_due<E: Emit<F::Out>>(&mut self, domain: TimeDomain, time: Timestamp, out: &mut E) {
        fn queue<K>(timers: &mut Timers<K>, domain: TimeDomain) -> &mut TimerQueue<K> {
            match domain {
                TimeDomain::EventTime => &mut timers.event,
                TimeDomain::ProcessingTime => &mut timers.processing,
            }
        }
        let limit = if time == Timestamp::MAX {
            match queue(&mut self.timers, domain).latest() {
                Some(latest) => latest,
                None => return,
            }
        } else {
            time
        };
        while let Some(timer) = queue(&mut self.timers, domain).pop_due(limit) {
            self.fire(timer, domain, out);
        }
        if time == Timestamp::MAX {
            queue(&mut self.timers, domain).clear();
        }
    }

    /// Removes expired state once the TTL's clock moved on by a TTL since the last sweep.
    fn sweep_expired(&mut self, now: Timestamp) {
        let (Some(StateTtl::ProcessingTime(ttl)) | Some(StateTtl::EventTime(ttl))) =
            self.ttl.config()
        else {
            return;
        };
        if self.last_sweep != MIN_WATERMARK && now < self.last_sweep.saturating_add(ttl) {
            return;
        }
        self.last_sweep = now;
        let ttl_setting = self.ttl.config();
        self.store
            .retain(|e| !Self::expired(ttl_setting, T::touched(&e.touched), now));
    }
}

/// One key group's share of a keyed operator's state, as a checkpoint stores it: every key's
/// state (with its last touch, for TTL) and its timers, in firing order.
#[derive(Serialize, serde::Deserialize)]
#[serde(bound(
    serialize = "K: Serialize, S: Serialize, T: Serialize",
    deserialize = "K: DeserializeOwned, S: DeserializeOwned, T: DeserializeOwned"
))]
struct KeyGroupSnapshot<K, S, T> {
    entries: Vec<(K, S, T)>,
    event_timers: Vec<(Timestamp, K)>,
    processing_timers: Vec<(Timestamp, K)>,
}

impl<K, V, F, T> KeyedProcess<K, V, F, T>
where
    K: Hash + Eq + Clone + Serialize + DeserializeOwned,
    F: KeyedProcessFunction<K, V>,
    T: TtlPolicy,
    T::Touch: Serialize + DeserializeOwned,
{
    /// The operator's state, one encoded blob per owned key group that holds any, so a
    /// restore at another parallelism can hand each key group to its new subtask. The
    /// watermark is not part of it: after a restore the inputs re-establish it.
    pub fn snapshot(&self) -> Result<std::collections::BTreeMap<u16, Vec<u8>>, String> {
        let mut groups: std::collections::BTreeMap<u16, KeyGroupSnapshot<K, F::State, T::Touch>> =
            std::collections::BTreeMap::new();
        let empty = || KeyGroupSnapshot {
            entries: Vec::new(),
            event_timers: Vec::new(),
            processing_timers: Vec::new(),
        };
        for (key_group, table) in self.store.key_groups() {
            for entry in table.iter() {
                groups.entry(key_group).or_insert_with(empty).entries.push((
                    entry.key.clone(),
                    entry.state.clone(),
                    entry.touched,
                ));
            }
        }
        for (timestamp, key_group, key) in self.timers.event.live_in_order() {
            let group = groups.entry(key_group).or_insert_with(empty);
            group.event_timers.push((timestamp, key.clone()));
        }
        for (timestamp, key_group, key) in self.timers.processing.live_in_order() {
            let group = groups.entry(key_group).or_insert_with(empty);
            group.processing_timers.push((timestamp, key.clone()));
        }
        groups
            .into_iter()
            .map(|(key_group, group)| {
                crate::codec::encode(&group)
                    .map(|bytes| (key_group, bytes))
                    .map_err(|e| format!("key group {key_group} does not encode: {e}"))
            })
            .collect()
    }

    /// Adds the state of `key_group` from a snapshot (the store must own it: open the
    /// operator first).
    pub fn restore(&mut self, key_group: u16, bytes: &[u8]) -> Result<(), String> {
        if !self.store.owns(key_group) {
            return Err(format!(
                "key group {key_group} does not belong to this subtask"
            ));
        }
        let group: KeyGroupSnapshot<K, F::State, T::Touch> = crate::codec::decode(bytes)
            .map_err(|e| format!("key group {key_group} does not decode: {e}"))?;
        for (key, state, touched) in group.entries {
            let entry = self.store.get_or_insert(key_group, &key, || Entry {
                key: key.clone(),
                state: F::State::default(),
                touched,
            });
            entry.state = state;
            entry.touched = touched;
        }
        for (timestamp, key) in group.event_timers {
            self.timers.event.register(timestamp, key_group, &key);
        }
        for (timestamp, key) in group.processing_timers {
            self.timers.processing.register(timestamp, key_group, &key);
        }
        Ok(())
    }
}

impl<K, V, F, T> Operator<Keyed<K, V>> for KeyedProcess<K, V, F, T>
where
    K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
    V: 'static,
    F: KeyedProcessFunction<K, V>,
    T: TtlPolicy,
    T::Touch: Serialize + DeserializeOwned,
{
    type Out = F::Out;

    fn snapshot_state(
        &self,
        _subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        for (key_group, bytes) in self.snapshot()? {
            into.keyed.push((self.operator, key_group, bytes));
        }
        Ok(())
    }

    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &TaskContext,
    ) -> Result<(), String> {
        let operator = self.operator;
        super::restore_key_groups(operator, from, ctx, |group, bytes| {
            self.restore(group, bytes)
        })
    }

    fn open(&mut self, ctx: &TaskContext) {
        self.store.open(crate::keys::key_groups_of_subtask(
            ctx.subtask,
            ctx.parallelism,
            ctx.max_parallelism,
        ));
        if matches!(self.ttl.config(), Some(StateTtl::ProcessingTime(_))) {
            // The first sweep is due one TTL from now.
            self.last_sweep = processing_time_now();
        }
    }

    #[inline]
    fn process<E: Emit<F::Out>>(
        &mut self,
        record: Keyed<K, V>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        let Keyed {
            key_group,
            key,
            value,
        } = record;
        self.with_state(key_group, &key, timestamp, out, |function, state, ctx| {
            let key = ctx.key;
            function.process_element(key, state, value, ctx);
        });
    }

    fn on_watermark<E: Emit<F::Out>>(&mut self, watermark: Timestamp, out: &mut E) {
        // The final watermark may come twice (from the inputs, then at the end of the task):
        // the second fires the timers that records arriving in between registered (results
        // of upstream batch aggregates, emitted at their end of input).
        if watermark < self.watermark || (watermark == self.watermark && watermark != MAX_WATERMARK)
        {
            return;
        }
        self.watermark = watermark;
        self.fire_due(TimeDomain::EventTime, watermark, out);
        if matches!(self.ttl.config(), Some(StateTtl::EventTime(_))) {
            self.sweep_expired(watermark);
        }
        out.emit_watermark(watermark);
    }

    fn on_processing_time<E: Emit<F::Out>>(&mut self, now: Timestamp, out: &mut E) {
        self.fire_due(TimeDomain::ProcessingTime, now, out);
        if matches!(self.ttl.config(), Some(StateTtl::ProcessingTime(_))) && now != Timestamp::MAX {
            self.sweep_expired(now);
        }
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        let sweep = match self.ttl.config() {
            Some(StateTtl::ProcessingTime(ttl)) if self.store.len() > 0 => {
                Some(self.last_sweep.saturating_add(ttl))
            }
            _ => None,
        };
        super::earliest(self.timers.processing.next_timestamp(), sweep)
    }

    fn end_of_input<E: Emit<F::Out>>(&mut self, out: &mut E) {
        // Processing-time timers still pending at the end of a streaming job do not fire
        // (as in Flink) unless the function asks (windows); in batch mode the task already
        // fired them at the end of time.
        if self.function.fires_processing_timers_at_end() {
            self.fire_due(TimeDomain::ProcessingTime, Timestamp::MAX, out);
        }
        self.timers.processing.clear();
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: self.emitted,
            spilled_bytes: 0,
        });
        self.emitted
    }
}

/// `.process(f)` on a non-keyed stream.
pub struct Process<I, F: ProcessFunction<I>> {
    operator: usize,
    function: F,
    watermark: Timestamp,
    output: Output<F::Out>,
    side: Vec<SideRecord>,
    emitted: u64,
    _input: PhantomData<fn(I)>,
}

impl<I, F: ProcessFunction<I>> Clone for Process<I, F> {
    fn clone(&self) -> Self {
        Process::new(self.operator, self.function.clone())
    }
}

impl<I, F: ProcessFunction<I>> Process<I, F> {
    pub(crate) fn new(operator: usize, function: F) -> Self {
        Process {
            operator,
            function,
            watermark: MIN_WATERMARK,
            output: Vec::new(),
            side: Vec::new(),
            emitted: 0,
            _input: PhantomData,
        }
    }
}

impl<I: 'static, F: ProcessFunction<I>> Operator<I> for Process<I, F> {
    type Out = F::Out;

    #[inline]
    fn process<E: Emit<F::Out>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E) {
        let mut ctx = Context {
            timestamp,
            watermark: self.watermark,
            output: &mut self.output,
            side: &mut self.side,
        };
        let scope = OperatorScope::enter(self.operator);
        self.function.process_element(value, &mut ctx);
        scope.exit();
        ship(&mut self.output, &mut self.side, &mut self.emitted, out);
    }

    fn on_watermark<E: Emit<F::Out>>(&mut self, watermark: Timestamp, out: &mut E) {
        if watermark > self.watermark {
            self.watermark = watermark;
            out.emit_watermark(watermark);
        }
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: self.emitted,
            spilled_bytes: 0,
        });
        self.emitted
    }
}

/// A state time-to-live in processing time, from a `Duration`.
pub fn processing_time_ttl(ttl: Duration) -> StateTtl {
    StateTtl::ProcessingTime(ttl.as_millis().min(i64::MAX as u128) as Timestamp)
}

/// A state time-to-live in event time, from a `Duration`.
pub fn event_time_ttl(ttl: Duration) -> StateTtl {
    StateTtl::EventTime(ttl.as_millis().min(i64::MAX as u128) as Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{key_group, subtask_for_key_group};
    use crate::plan::ONE_SOURCE_PLAN;

    /// Gathers what an operator emits.
    struct Collect<O>(Vec<(O, Option<Timestamp>)>);

    impl<O> Emit<O> for Collect<O> {
        fn emit(&mut self, value: O, timestamp: Option<Timestamp>) {
            self.0.push((value, timestamp));
        }
    }

    fn ctx(subtask: usize, parallelism: usize) -> TaskContext {
        TaskContext {
            plan: &ONE_SOURCE_PLAN,
            chain: 0,
            subtask,
            parallelism,
            max_parallelism: 128,
            batch_mode: false,
            batch_size: 16,
            linger: Duration::from_secs(1),
            checkpointing: false,
            restored: None,
            spill: None,
        }
    }

    /// Counts each key's records and, 10 ms after each, reports the count so far.
    #[derive(Clone)]
    struct CountAndRemind;

    impl KeyedProcessFunction<u64, i64> for CountAndRemind {
        type State = u64;
        type Out = (u64, u64, i64);

        fn process_element(
            &mut self,
            _key: &u64,
            count: &mut u64,
            timestamp: i64,
            ctx: &mut KeyedContext<'_, u64, (u64, u64, i64)>,
        ) {
            *count += 1;
            ctx.register_event_time_timer(timestamp + 10);
            // A timer deleted and registered again is restored once.
            ctx.delete_event_time_timer(timestamp + 10);
            ctx.register_event_time_timer(timestamp + 10);
        }

        fn on_timer(
            &mut self,
            key: &u64,
            count: &mut u64,
            timestamp: Timestamp,
            _domain: TimeDomain,
            ctx: &mut KeyedContext<'_, u64, (u64, u64, i64)>,
        ) {
            ctx.output((*key, *count, timestamp));
        }
    }

    type Counting = KeyedProcess<u64, i64, CountAndRemind>;

    fn operator(subtask: usize, parallelism: usize) -> Counting {
        let mut op = KeyedProcess::new(1, CountAndRemind, NoTtl);
        op.open(&ctx(subtask, parallelism));
        op
    }

    /// Feeds records `(key, timestamp)`, each followed by a watermark 5 ms behind it, to the
    /// operator (of `ops`, one per subtask) that owns its key group.
    fn feed(ops: &mut [Counting], records: &[(u64, i64)], out: &mut Collect<(u64, u64, i64)>) {
        let parallelism = ops.len();
        for &(key, timestamp) in records {
            let group = key_group(&key, 128);
            let subtask = subtask_for_key_group(group, parallelism, 128);
            ops[subtask].process(
                Keyed {
                    key_group: group,
                    key,
                    value: timestamp,
                },
                Some(timestamp),
                out,
            );
            for op in ops.iter_mut() {
                op.on_watermark(timestamp - 5, out);
            }
        }
    }

    fn sorted(out: Collect<(u64, u64, i64)>) -> Vec<((u64, u64, i64), Option<Timestamp>)> {
        let mut v = out.0;
        v.sort();
        v
    }

    #[test]
    fn keyed_state_and_timers_restore_at_the_same_or_another_parallelism() {
        let records: Vec<(u64, i64)> = (0..400).map(|i| ((i * 7919) % 37, i as i64 * 3)).collect();
        let (before, after) = records.split_at(200);
        // The reference: one operator through all records, outputs after the cut.
        let mut reference = [operator(0, 1)];
        feed(&mut reference, before, &mut Collect(Vec::new()));
        let snapshot = reference[0].snapshot().unwrap();
        assert!(snapshot.len() > 1, "state spreads over key groups");
        let mut expected = Collect(Vec::new());
        feed(&mut reference, after, &mut expected);
        reference[0].on_watermark(MAX_WATERMARK, &mut expected);
        let expected = sorted(expected);
        assert!(expected.len() > 200);
        for parallelism in [1, 2, 3] {
            let mut ops: Vec<Counting> =
                (0..parallelism).map(|s| operator(s, parallelism)).collect();
            for (&group, bytes) in &snapshot {
                let subtask = subtask_for_key_group(group, parallelism, 128);
                ops[subtask].restore(group, bytes).unwrap();
            }
            let mut out = Collect(Vec::new());
            feed(&mut ops, after, &mut out);
            for op in &mut ops {
                op.on_watermark(MAX_WATERMARK, &mut out);
            }
            assert_eq!(sorted(out), expected, "parallelism {parallelism}");
        }
        // A key group goes only to the subtask that owns it.
        let mut wrong = operator(1, 2);
        let foreign = snapshot
            .keys()
            .copied()
            .find(|&g| subtask_for_key_group(g, 2, 128) == 0)
            .unwrap();
        assert!(wrong.restore(foreign, &snapshot[&foreign]).is_err());
        assert!(operator(0, 1).restore(0, b"not a snapshot").is_err());
    }
}
