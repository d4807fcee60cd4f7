//! Delta iterations (Flink's `iterateDelta`): a keyed **solution set** updated in place by
//! each superstep's **delta**, and a **workset** that drives the next superstep; the iteration
//! ends when the workset is empty (or after the maximum number of supersteps) and its result
//! is the solution set.
//!
//! Work per superstep follows what changed, not the whole data: in connected components the
//! workset is the vertices whose label just changed, so late supersteps touch a few vertices.
//!
//! The solution set lives in memory shared by the job's tasks (all subtasks of a job run in
//! one process), sharded by key. The body reads it through a lookup join
//! (`x.join(solution).where(|x| key).apply(|x, s| ..)`, [`SolutionJoin`]) and never writes it:
//! the heads collect the superstep's delta and apply it once every subtask finished the
//! superstep and before any starts the next, so every lookup of a superstep sees the solution
//! set as it was when the superstep started.

use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use crate::element::Timestamp;
use crate::error::{Error, Result};
use crate::exchange::{GateEvent, InputGate};
use crate::iterate::{IterationRecord, IterationSync};
use crate::job::TaskContext;
use crate::operator::{Chain, Emit, Operator, OperatorMetrics, OperatorScope, Produces};
use crate::task::ChainEnd;

/// Shards of the solution set: enough that heads applying deltas rarely meet on a lock.
const SHARDS: usize = 64;

/// The solution set of a delta iteration: records of type `V` by key `K`.
pub struct SolutionSet<K, V> {
    key: Box<dyn Fn(&V) -> K + Send + Sync>,
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: Hash + Eq, V> SolutionSet<K, V> {
    fn shard(&self, key: &K) -> &Mutex<HashMap<K, V>> {
        &self.shards[crate::state::hash_key(key) as usize % SHARDS]
    }

    /// Adds or replaces the record of `value`'s key.
    pub fn upsert(&self, value: V) {
        let key = (self.key)(&value);
        self.shard(&key)
            .lock()
            .expect("solution set poisoned")
            .insert(key, value);
    }

    /// Runs `f` on the record of `key`, if there is one.
    pub fn with<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.shard(key)
            .lock()
            .expect("solution set poisoned")
            .get(key)
            .map(f)
    }

    /// Takes the records of the shards `subtask` owns among `parallelism` (shard `s` belongs
    /// to subtask `s % parallelism`).
    fn take_shards(&self, subtask: usize, parallelism: usize) -> Vec<V> {
        let mut values = Vec::new();
        for shard in self.shards.iter().skip(subtask).step_by(parallelism) {
            values.extend(
                std::mem::take(&mut *shard.lock().expect("solution set poisoned")).into_values(),
            );
        }
        values
    }
}

/// The solution set of the iteration whose initial solution is `initial`, keyed by `key`.
pub fn solution_set<C, K, F>(_initial: &C, key: F) -> Arc<SolutionSet<K, C::Out>>
where
    C: Produces,
    K: Hash + Eq,
    F: Fn(&C::Out) -> K + Send + Sync + 'static,
{
    Arc::new(SolutionSet {
        key: Box::new(key),
        shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
    })
}

/// The type marker a delta head's chain is built from: workset records `W` for the body,
/// solution records `V` for the result.
pub struct DeltaHeadFeed<W, V>(PhantomData<fn() -> (W, V)>);

impl<W, V> Produces for DeltaHeadFeed<W, V> {
    type Out = IterationRecord<W, V>;
}

/// The delta head chain's feed, typed by the initial solution set and workset.
pub fn delta_head_feed<S: Produces, W: Produces>(
    _solution: &S,
    _workset: &W,
) -> DeltaHeadFeed<W::Out, S::Out> {
    DeltaHeadFeed(PhantomData)
}

/// `x.join(solution).where(|x| key).apply(|x, s| out)`: looks each record's key up in the
/// solution set as it was when the superstep started; records without a solution record emit
/// nothing.
pub struct SolutionJoin<K, V, KF, F> {
    solution: Arc<SolutionSet<K, V>>,
    key: KF,
    f: F,
    operator: usize,
    emitted: u64,
}

impl<K, V, KF: Clone, F: Clone> Clone for SolutionJoin<K, V, KF, F> {
    fn clone(&self) -> Self {
        SolutionJoin {
            solution: Arc::clone(&self.solution),
            key: self.key.clone(),
            f: self.f.clone(),
            operator: self.operator,
            emitted: 0,
        }
    }
}

impl<X, K, V, KF, F, O> Operator<X> for SolutionJoin<K, V, KF, F>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    KF: FnMut(&X) -> K + Send + 'static,
    F: FnMut(&X, &V) -> O + Send + 'static,
{
    type Out = O;

    #[inline]
    fn process<E: Emit<O>>(&mut self, value: X, timestamp: Option<Timestamp>, out: &mut E) {
        let scope = OperatorScope::enter(self.operator);
        let key = (self.key)(&value);
        let f = &mut self.f;
        let joined = self.solution.with(&key, |s| f(&value, s));
        scope.exit();
        if let Some(joined) = joined {
            self.emitted += 1;
            out.emit(joined, timestamp);
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

impl<In, Op: Operator<In> + Clone> Chain<In, Op> {
    /// Appends a lookup join with a delta iteration's solution set.
    pub fn solution_join<K, V, KF, F, O>(
        self,
        operator: usize,
        solution: &Arc<SolutionSet<K, V>>,
        key: KF,
        f: F,
    ) -> Chain<In, impl Operator<In, Out = O> + Clone>
    where
        K: Hash + Eq + Send + 'static,
        V: Send + 'static,
        KF: FnMut(&Op::Out) -> K + Clone + Send + 'static,
        F: FnMut(&Op::Out, &V) -> O + Clone + Send + 'static,
    {
        self.then(SolutionJoin {
            solution: Arc::clone(solution),
            key,
            f,
            operator,
            emitted: 0,
        })
    }
}

/// One superstep's records from a feedback gate, up to its end marker.
async fn superstep_of<T: Send + 'static>(
    gate: &mut InputGate<T>,
    into: &mut Vec<T>,
    ctx: &TaskContext,
    superstep: u64,
) -> Result<()> {
    loop {
        match gate.next().await? {
            GateEvent::Records(batch) | GateEvent::Marked(batch, _, _) => {
                into.extend(batch.into_iter().map(|r| r.into_parts().0));
            }
            GateEvent::SuperstepEnd(_) => return Ok(()),
            GateEvent::Ended => {
                return Err(Error::Runtime(format!(
                    "the iteration `{}` lost its feedback in superstep {superstep}",
                    ctx.operator_name(ctx.first_operator())
                )))
            }
            _ => {}
        }
    }
}

/// Reads a gate to its end.
async fn drain<T: Send + 'static>(gate: &mut InputGate<T>) -> Result<()> {
    loop {
        if let GateEvent::Ended = gate.next().await? {
            return Ok(());
        }
    }
}

/// The gates of a delta head: its initial solution set and workset, and the feedback of
/// deltas and of the next workset.
pub(crate) struct DeltaGates<V, W> {
    pub(crate) solution: InputGate<V>,
    pub(crate) workset: InputGate<W>,
    pub(crate) delta: InputGate<V>,
    pub(crate) next_workset: InputGate<W>,
}

/// Runs one subtask of a delta iteration's head.
pub(crate) async fn run_delta_head_task<K, V, W, Op, End>(
    ctx: TaskContext,
    mut gates: DeltaGates<V, W>,
    mut chain: Op,
    mut end: End,
    sync: Arc<IterationSync>,
    solution: Arc<SolutionSet<K, V>>,
) -> Result<Vec<OperatorMetrics>>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    W: Send + 'static,
    Op: Operator<IterationRecord<W, V>>,
    End: ChainEnd<Op::Out>,
{
    let head = ctx.first_operator();
    chain.open(&ctx);
    let mut received = 0u64;
    // The initial solution set goes in before any of the body runs; the initial workset,
    // which may come from the same upstream, waits meanwhile (reading only the solution
    // could stall an upstream blocked on the workset's channel).
    let mut workset = Vec::new();
    let (mut solution_open, mut workset_open) = (true, true);
    while solution_open {
        tokio::select! {
            event = gates.solution.next() => match event? {
                GateEvent::Records(batch) | GateEvent::Marked(batch, _, _) => {
                    received += batch.len() as u64;
                    for record in batch {
                        solution.upsert(record.into_parts().0);
                    }
                }
                GateEvent::Ended => solution_open = false,
                _ => {}
            },
            event = gates.workset.next(), if workset_open => match event? {
                GateEvent::Records(batch) | GateEvent::Marked(batch, _, _) => {
                    workset.extend(batch.into_iter().map(|r| r.into_parts().0));
                }
                GateEvent::Ended => workset_open = false,
                _ => {}
            },
        }
    }
    // Every head loaded its share of the solution set before the body looks anything up.
    sync.all_heads(u64::MAX).await;
    let mut superstep = 0;
    loop {
        received += workset.len() as u64;
        let mut records = std::mem::take(&mut workset).into_iter().peekable();
        while records.peek().is_some() {
            crate::task::guarded(&ctx, head, || {
                for value in records.by_ref().take(ctx.batch_size) {
                    chain.process(IterationRecord::Step(value), None, &mut end);
                }
            })?;
            end.flush(false).await?;
        }
        while superstep == 0 && workset_open {
            match gates.workset.next().await? {
                GateEvent::Records(batch) | GateEvent::Marked(batch, _, _) => {
                    received += batch.len() as u64;
                    crate::task::guarded(&ctx, head, || {
                        for record in batch {
                            let value = record.into_parts().0;
                            chain.process(IterationRecord::Step(value), None, &mut end);
                        }
                    })?;
                    end.flush(false).await?;
                }
                GateEvent::Ended => workset_open = false,
                _ => {}
            }
        }
        crate::task::guarded(&ctx, head, || chain.on_superstep_end(superstep, &mut end))?;
        end.flush(true).await?;
        let mut delta = Vec::new();
        superstep_of(&mut gates.delta, &mut delta, &ctx, superstep).await?;
        superstep_of(&mut gates.next_workset, &mut workset, &ctx, superstep).await?;
        let go_on = sync.head_finished(superstep, workset.len() as u64).await;
        // Every subtask finished the superstep: its lookups are done, the delta goes in.
        for value in delta {
            solution.upsert(value);
        }
        sync.all_heads(superstep).await;
        if !go_on {
            break;
        }
        superstep += 1;
    }
    // The result: this subtask's share of the solution set.
    let result = solution.take_shards(ctx.subtask, ctx.parallelism);
    let mut result = result.into_iter().peekable();
    while result.peek().is_some() {
        crate::task::guarded(&ctx, head, || {
            for value in result.by_ref().take(ctx.batch_size) {
                chain.process(IterationRecord::Done(value), None, &mut end);
            }
        })?;
        end.flush(false).await?;
    }
    let metrics = crate::task::finish_chain(&ctx, chain, end, received, Vec::new()).await?;
    drain(&mut gates.delta).await?;
    drain(&mut gates.next_workset).await?;
    Ok(metrics)
}
