//! Two-input operators (`a.connect(b)`): `co_map`, `co_flat_map`, `co_process` (plain, keyed
//! with state shared by both inputs, or keyed with a broadcast second input).
//!
//! Both inputs of a two-input chain arrive through one input gate as [`TwoInputs`]; the
//! operator's watermark is the minimum over the channels of both inputs. The operators here
//! adapt the two-input functions to the one-input process operators, so state, timers, side
//! outputs and TTL work the same.

use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::process::{Context, KeyedContext, KeyedProcess, KeyedProcessFunction, ProcessFunction};
use super::{Emit, Operator, OperatorMetrics, SideRecord};
use crate::element::{Keyed, Timestamp, TwoInputs};
use crate::job::TaskContext;
use crate::state::NoTtl;
use crate::time::TimeDomain;

/// A function over two connected streams (Flink's `CoProcessFunction`).
pub trait CoProcessFunction<A, B>: Clone + Send + 'static {
    /// The records emitted.
    type Out: Send + 'static;
    /// Handles a record of the first input.
    fn process_element1(&mut self, value: A, ctx: &mut Context<'_, Self::Out>);
    /// Handles a record of the second input.
    fn process_element2(&mut self, value: B, ctx: &mut Context<'_, Self::Out>);
}

/// A function over two streams keyed by the same key type (Flink's `KeyedCoProcessFunction`):
/// both inputs see the same per-key state and timers.
pub trait KeyedCoProcessFunction<K, A, B>: Clone + Send + 'static {
    /// The per-key state, shared by both inputs.
    type State: Default + Clone + Serialize + DeserializeOwned + Send + 'static;
    /// The records emitted.
    type Out: Send + 'static;
    /// Handles a record of the first input.
    fn process_element1(
        &mut self,
        key: &K,
        state: &mut Self::State,
        value: A,
        ctx: &mut KeyedContext<'_, K, Self::Out>,
    );
    /// Handles a record of the second input.
    fn process_element2(
        &mut self,
        key: &K,
        state: &mut Self::State,
        value: B,
        ctx: &mut KeyedContext<'_, K, Self::Out>,
    );
    /// A timer of `key` fired.
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

/// The broadcast state pattern (Flink's `KeyedBroadcastProcessFunction`): a keyed stream
/// connected to a broadcast stream. Every subtask receives every broadcast record and updates
/// its own copy of the broadcast state with it (so the copies stay equal: the update must
/// depend on the record and the broadcast state only); keyed records read it.
pub trait KeyedBroadcastProcessFunction<K, A, B>: Clone + Send + 'static {
    /// The per-key state of the keyed side.
    type State: Default + Clone + Serialize + DeserializeOwned + Send + 'static;
    /// The replicated state written by the broadcast side.
    type BroadcastState: Default + Clone + Serialize + DeserializeOwned + Send + 'static;
    /// The records emitted.
    type Out: Send + 'static;
    /// Handles a record of the keyed side; the broadcast state is read-only here.
    fn process_element(
        &mut self,
        key: &K,
        state: &mut Self::State,
        value: A,
        broadcast: &Self::BroadcastState,
        ctx: &mut KeyedContext<'_, K, Self::Out>,
    );
    /// Handles a record of the broadcast side.
    fn process_broadcast_element(
        &mut self,
        value: B,
        broadcast: &mut Self::BroadcastState,
        ctx: &mut Context<'_, Self::Out>,
    );
    /// A timer of `key` fired.
    fn on_timer(
        &mut self,
        _key: &K,
        _state: &mut Self::State,
        _broadcast: &Self::BroadcastState,
        _timestamp: Timestamp,
        _domain: TimeDomain,
        _ctx: &mut KeyedContext<'_, K, Self::Out>,
    ) {
    }
}

/// A [`CoProcessFunction`] as a [`ProcessFunction`] over [`TwoInputs`].
#[derive(Clone)]
pub struct CoProcessAdapter<F>(pub F);

impl<A, B, F: CoProcessFunction<A, B>> ProcessFunction<TwoInputs<A, B>> for CoProcessAdapter<F> {
    type Out = F::Out;

    #[inline]
    fn process_element(&mut self, value: TwoInputs<A, B>, ctx: &mut Context<'_, F::Out>) {
        match value {
            TwoInputs::First(a) => self.0.process_element1(a, ctx),
            TwoInputs::Second(b) => self.0.process_element2(b, ctx),
        }
    }
}

/// A [`KeyedCoProcessFunction`] as a [`KeyedProcessFunction`] over [`TwoInputs`].
pub struct KeyedCoAdapter<F, A, B> {
    function: F,
    _inputs: PhantomData<fn(A, B)>,
}

impl<F, A, B> KeyedCoAdapter<F, A, B> {
    /// Adapts `function`.
    pub fn new(function: F) -> Self {
        KeyedCoAdapter {
            function,
            _inputs: PhantomData,
        }
    }
}

impl<F: Clone, A, B> Clone for KeyedCoAdapter<F, A, B> {
    fn clone(&self) -> Self {
        KeyedCoAdapter {
            function: self.function.clone(),
            _inputs: PhantomData,
        }
    }
}

impl<K, A, B, F> KeyedProcessFunction<K, TwoInputs<A, B>> for KeyedCoAdapter<F, A, B>
where
    A: 'static,
    B: 'static,
    F: KeyedCoProcessFunction<K, A, B>,
{
    type State = F::State;
    type Out = F::Out;

    #[inline]
    fn process_element(
        &mut self,
        key: &K,
        state: &mut F::State,
        value: TwoInputs<A, B>,
        ctx: &mut KeyedContext<'_, K, F::Out>,
    ) {
        match value {
            TwoInputs::First(a) => self.function.process_element1(key, state, a, ctx),
            TwoInputs::Second(b) => self.function.process_element2(key, state, b, ctx),
        }
    }

    fn on_timer(
        &mut self,
        key: &K,
        state: &mut F::State,
        timestamp: Timestamp,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, K, F::Out>,
    ) {
        self.function.on_timer(key, state, timestamp, domain, ctx);
    }
}

/// Turns the two keyed inputs of a keyed `co_process` into one keyed stream of [`TwoInputs`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MergeKeyed;

impl<K: 'static, A: 'static, B: 'static> Operator<TwoInputs<Keyed<K, A>, Keyed<K, B>>>
    for MergeKeyed
{
    type Out = Keyed<K, TwoInputs<A, B>>;

    #[inline(always)]
    fn process<E: Emit<Self::Out>>(
        &mut self,
        value: TwoInputs<Keyed<K, A>, Keyed<K, B>>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        let merged = match value {
            TwoInputs::First(k) => Keyed {
                key_group: k.key_group,
                key: k.key,
                value: TwoInputs::First(k.value),
            },
            TwoInputs::Second(k) => Keyed {
                key_group: k.key_group,
                key: k.key,
                value: TwoInputs::Second(k.value),
            },
        };
        out.emit(merged, timestamp);
    }

    fn collect_metrics(&self, _records_in: u64, _into: &mut Vec<OperatorMetrics>) -> u64 {
        _records_in
    }
}

/// The keyed side's function of a [`KeyedBroadcastProcessFunction`], holding this subtask's
/// copy of the broadcast state.
pub struct BroadcastAdapter<F: KeyedBroadcastProcessFunction<K, A, B>, K, A, B> {
    function: F,
    broadcast: F::BroadcastState,
    _types: PhantomData<fn(K, A, B)>,
}

impl<F: KeyedBroadcastProcessFunction<K, A, B>, K, A, B> Clone for BroadcastAdapter<F, K, A, B> {
    fn clone(&self) -> Self {
        BroadcastAdapter {
            function: self.function.clone(),
            broadcast: F::BroadcastState::default(),
            _types: PhantomData,
        }
    }
}

impl<K, A, B, F> KeyedProcessFunction<K, A> for BroadcastAdapter<F, K, A, B>
where
    K: 'static,
    A: 'static,
    B: 'static,
    F: KeyedBroadcastProcessFunction<K, A, B>,
{
    type State = F::State;
    type Out = F::Out;

    #[inline]
    fn process_element(
        &mut self,
        key: &K,
        state: &mut F::State,
        value: A,
        ctx: &mut KeyedContext<'_, K, F::Out>,
    ) {
        self.function
            .process_element(key, state, value, &self.broadcast, ctx);
    }

    fn on_timer(
        &mut self,
        key: &K,
        state: &mut F::State,
        timestamp: Timestamp,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, K, F::Out>,
    ) {
        self.function
            .on_timer(key, state, &self.broadcast, timestamp, domain, ctx);
    }
}

/// `co_process` of a keyed stream connected to a broadcast stream.
pub struct KeyedBroadcastProcess<K: 'static, A: 'static, B: 'static, F>
where
    F: KeyedBroadcastProcessFunction<K, A, B>,
{
    inner: KeyedProcess<K, A, BroadcastAdapter<F, K, A, B>>,
}

impl<K, A, B, F> Clone for KeyedBroadcastProcess<K, A, B, F>
where
    K: Hash + Eq + Clone + 'static,
    A: 'static,
    B: 'static,
    F: KeyedBroadcastProcessFunction<K, A, B>,
{
    fn clone(&self) -> Self {
        KeyedBroadcastProcess {
            inner: self.inner.clone(),
        }
    }
}

impl<K, A, B, F> KeyedBroadcastProcess<K, A, B, F>
where
    K: Hash + Eq + Clone + 'static,
    A: 'static,
    B: 'static,
    F: KeyedBroadcastProcessFunction<K, A, B>,
{
    pub(crate) fn new(operator: usize, function: F) -> Self {
        KeyedBroadcastProcess {
            inner: KeyedProcess::new(
                operator,
                BroadcastAdapter {
                    function,
                    broadcast: F::BroadcastState::default(),
                    _types: PhantomData,
                },
                NoTtl,
            ),
        }
    }
}

impl<K, A, B, F> Operator<TwoInputs<Keyed<K, A>, B>> for KeyedBroadcastProcess<K, A, B, F>
where
    K: crate::keys::Key,
    A: 'static,
    B: 'static,
    F: KeyedBroadcastProcessFunction<K, A, B>,
{
    /// The keyed side's state per key group, and this subtask's copy of the broadcast
    /// state (all copies are equal).
    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut crate::checkpoint::TaskState,
    ) -> Result<(), String> {
        Operator::<Keyed<K, A>>::snapshot_state(&self.inner, subtask, into)?;
        let broadcast = crate::codec::encode(&self.inner.function().broadcast)
            .map_err(|e| format!("the broadcast state does not encode: {e}"))?;
        into.operator
            .push((self.inner.operator(), subtask, broadcast));
        Ok(())
    }

    /// The keyed side's key groups of this subtask; the broadcast state from any earlier
    /// subtask's copy.
    fn restore_state(
        &mut self,
        from: &crate::checkpoint::Checkpoint,
        ctx: &TaskContext,
    ) -> Result<(), String> {
        Operator::<Keyed<K, A>>::restore_state(&mut self.inner, from, ctx)?;
        let operator = self.inner.operator();
        let state_id = ctx.plan.operators[operator].state_id();
        let Some(old) = from.operator_index(state_id, operator) else {
            return Ok(());
        };
        let copies = from.subtask_states(old).map_err(|e| e.to_string())?;
        if let Some((_, bytes)) = copies.first() {
            self.inner.function_mut().broadcast = crate::codec::decode(bytes)
                .map_err(|e| format!("the broadcast state does not decode: {e}"))?;
        }
        Ok(())
    }

    type Out = F::Out;

    fn open(&mut self, ctx: &TaskContext) {
        Operator::<Keyed<K, A>>::open(&mut self.inner, ctx);
    }

    #[inline]
    fn process<E: Emit<F::Out>>(
        &mut self,
        value: TwoInputs<Keyed<K, A>, B>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        match value {
            TwoInputs::First(keyed) => self.inner.process(keyed, timestamp, out),
            TwoInputs::Second(b) => self.inner.process_unkeyed(timestamp, out, |adapter, ctx| {
                adapter
                    .function
                    .process_broadcast_element(b, &mut adapter.broadcast, ctx);
            }),
        }
    }

    fn on_watermark<E: Emit<F::Out>>(&mut self, watermark: Timestamp, out: &mut E) {
        Operator::<Keyed<K, A>>::on_watermark(&mut self.inner, watermark, out);
    }

    fn on_side_output<E: Emit<F::Out>>(&mut self, _side: &mut Option<SideRecord>, _out: &mut E) {}

    fn on_processing_time<E: Emit<F::Out>>(&mut self, now: Timestamp, out: &mut E) {
        Operator::<Keyed<K, A>>::on_processing_time(&mut self.inner, now, out);
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        Operator::<Keyed<K, A>>::next_wakeup(&self.inner)
    }

    fn end_of_input<E: Emit<F::Out>>(&mut self, out: &mut E) {
        Operator::<Keyed<K, A>>::end_of_input(&mut self.inner, out);
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        Operator::<Keyed<K, A>>::collect_metrics(&self.inner, records_in, into)
    }
}

/// The output of `co_flat_map`: the iterator of whichever side's function ran.
pub enum EitherIter<L, R> {
    /// From the first input's function.
    Left(L),
    /// From the second input's function.
    Right(R),
}

impl<T, L: Iterator<Item = T>, R: Iterator<Item = T>> Iterator for EitherIter<L, R> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        match self {
            EitherIter::Left(l) => l.next(),
            EitherIter::Right(r) => r.next(),
        }
    }
}
