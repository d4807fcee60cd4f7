//! The per-subtask driver loop: input (a source or an input gate) -> fused chain -> chain end
//! (a sink or the writers of outgoing exchanges).
//!
//! The loop is the only place that awaits. It takes a batch from its input, runs the chain over
//! every record of it synchronously, then ships the batches that filled up (awaiting
//! backpressure there). When its input has nothing ready it first ships partial batches, so a
//! slow stream is not held back, and then waits.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use tokio::sync::watch;

use crate::checkpoint::{Checkpoint, TaskCheckpoints, TaskState};
use crate::element::{Timestamp, MAX_WATERMARK};
use crate::error::{Error, Result};
use crate::exchange::{GateEvent, InputGate};
use crate::io::{Source, SourceStatus};
use crate::job::TaskContext;
use crate::operator::{
    earliest, take_panicked_operator, Chain, Emit, Operator, OperatorMetrics, Pipe,
};
use crate::time::processing_time_now;

/// The end of a chain: a sink, or the writers of the exchanges leaving the chain.
pub trait ChainEnd<T>: Emit<T> + Send + 'static {
    /// Ships what [`Emit::emit`] buffered: full batches always, partial ones if `partial`.
    /// Sinks write out and report the first I/O error they met.
    fn flush(&mut self, partial: bool) -> impl Future<Output = Result<()>> + Send;

    /// End of input, before [`ChainEnd::finish`]: buffers what was held back (partials of a
    /// pre-aggregating exchange). Synchronous, so user code it runs is guarded like the chain.
    fn end_of_input(&mut self) {}

    /// End of input: ships everything and tells the receivers no more data comes.
    fn finish(&mut self) -> impl Future<Output = Result<()>> + Send;

    /// Appends this end's counters, given how many records reached it.
    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>);

    /// Processing time reached [`ChainEnd::next_wakeup`]: the operators of branches fire
    /// their processing-time timers.
    fn on_processing_time(&mut self, _now: Timestamp) {}

    /// When the operators of branches next need [`ChainEnd::on_processing_time`].
    fn next_wakeup(&self) -> Option<Timestamp> {
        None
    }

    /// Adds the state of the operators of branches (and of a sink) to a checkpoint.
    fn snapshot_state(
        &self,
        _subtask: usize,
        _into: &mut TaskState,
    ) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Restores the state of the operators of branches (and of a sink).
    fn restore_state(
        &mut self,
        _from: &Checkpoint,
        _ctx: &TaskContext,
    ) -> std::result::Result<(), String> {
        Ok(())
    }

    /// A sink's failure to pre-commit on the last barrier (it cannot fail in `emit_barrier`).
    fn checkpoint_error(&mut self) -> Result<()> {
        Ok(())
    }

    /// Checkpoint `checkpoint` is complete: transactional sinks commit what it covers.
    fn notify_checkpoint_complete(&mut self, _checkpoint: u64) -> Result<()> {
        Ok(())
    }
}

/// Creates the [`ChainEnd`] of each subtask of a chain.
pub trait ChainEndFactory<T>: Send + 'static {
    /// The per-subtask end.
    type End: ChainEnd<T>;
    /// Creates (and opens, for sinks) the end of one subtask.
    fn create(&mut self, ctx: &TaskContext) -> Result<Self::End>;
}

/// A branch of a chain after a fan-out: operators fused like the chain's first part, ending
/// in their own end. A chain is a tree (Flink chains an operator's several forward
/// consumers too); each branch is reached through a [`Tee`] and runs inline.
pub struct Branch<Op, E> {
    operator: Op,
    end: E,
}

impl<In, Op: Operator<In>, E: ChainEnd<Op::Out>> Emit<In> for Branch<Op, E> {
    #[inline(always)]
    fn emit(&mut self, value: In, timestamp: Option<Timestamp>) {
        self.operator.process(value, timestamp, &mut self.end);
    }

    fn emit_watermark(&mut self, watermark: Timestamp) {
        self.operator.on_watermark(watermark, &mut self.end);
    }

    fn emit_idleness(&mut self, idle: bool) {
        self.operator.on_idleness(idle, &mut self.end);
    }

    fn emit_barrier(&mut self, checkpoint: u64) {
        self.operator.on_barrier(checkpoint, &mut self.end);
    }

    fn emit_superstep_end(&mut self, superstep: u64) {
        self.operator.on_superstep_end(superstep, &mut self.end);
    }

    fn emit_side(&mut self, side: &mut Option<crate::operator::SideRecord>) {
        self.operator.on_side_output(side, &mut self.end);
    }
}

impl<In, Op, E> ChainEnd<In> for Branch<Op, E>
where
    In: 'static,
    Op: Operator<In>,
    E: ChainEnd<Op::Out>,
{
    fn flush(&mut self, partial: bool) -> impl Future<Output = Result<()>> + Send {
        self.end.flush(partial)
    }

    fn end_of_input(&mut self) {
        self.operator.end_of_input(&mut self.end);
        self.end.end_of_input();
    }

    fn finish(&mut self) -> impl Future<Output = Result<()>> + Send {
        self.end.finish()
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) {
        let reaching_end = self.operator.collect_metrics(records_in, into);
        self.end.collect_metrics(reaching_end, into);
    }

    fn on_processing_time(&mut self, now: Timestamp) {
        self.operator.on_processing_time(now, &mut self.end);
        self.end.on_processing_time(now);
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        earliest(self.operator.next_wakeup(), self.end.next_wakeup())
    }

    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut TaskState,
    ) -> std::result::Result<(), String> {
        self.operator.snapshot_state(subtask, into)?;
        self.end.snapshot_state(subtask, into)
    }

    fn restore_state(
        &mut self,
        from: &Checkpoint,
        ctx: &TaskContext,
    ) -> std::result::Result<(), String> {
        self.operator.restore_state(from, ctx)?;
        self.end.restore_state(from, ctx)
    }

    fn checkpoint_error(&mut self) -> Result<()> {
        self.end.checkpoint_error()
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<()> {
        self.end.notify_checkpoint_complete(checkpoint)
    }
}

/// Creates the [`Branch`] of each subtask from the branch's chain and its end.
pub struct BranchFactory<In, Op, F> {
    chain: Chain<In, Op>,
    end: F,
}

impl<In, Op, F> BranchFactory<In, Op, F> {
    /// A branch running `chain` into `end`.
    pub fn new(chain: Chain<In, Op>, end: F) -> Self {
        BranchFactory { chain, end }
    }
}

impl<In, Op, F> ChainEndFactory<In> for BranchFactory<In, Op, F>
where
    In: Send + 'static,
    Op: Operator<In> + Clone,
    F: ChainEndFactory<Op::Out>,
{
    type End = Branch<Op, F::End>;

    fn create(&mut self, ctx: &TaskContext) -> Result<Self::End> {
        let mut operator = self.chain.clone().into_operator();
        operator.open(ctx);
        Ok(Branch {
            operator,
            end: self.end.create(ctx)?,
        })
    }
}

/// Fan-out: a chain whose output feeds several consumers; each record is cloned to all.
pub struct Tee<A, B>(pub A, pub B);

impl<T: Clone, A: Emit<T>, B: Emit<T>> Emit<T> for Tee<A, B> {
    #[inline(always)]
    fn emit(&mut self, value: T, timestamp: Option<Timestamp>) {
        self.0.emit(value.clone(), timestamp);
        self.1.emit(value, timestamp);
    }

    fn emit_watermark(&mut self, watermark: Timestamp) {
        self.0.emit_watermark(watermark);
        self.1.emit_watermark(watermark);
    }

    fn emit_idleness(&mut self, idle: bool) {
        self.0.emit_idleness(idle);
        self.1.emit_idleness(idle);
    }

    fn emit_barrier(&mut self, checkpoint: u64) {
        self.0.emit_barrier(checkpoint);
        self.1.emit_barrier(checkpoint);
    }

    fn emit_superstep_end(&mut self, superstep: u64) {
        self.0.emit_superstep_end(superstep);
        self.1.emit_superstep_end(superstep);
    }

    fn emit_side(&mut self, side: &mut Option<crate::operator::SideRecord>) {
        self.0.emit_side(side);
        if side.is_some() {
            self.1.emit_side(side);
        }
    }
}

impl<T: Clone + Send + 'static, A: ChainEnd<T>, B: ChainEnd<T>> ChainEnd<T> for Tee<A, B> {
    async fn flush(&mut self, partial: bool) -> Result<()> {
        self.0.flush(partial).await?;
        self.1.flush(partial).await
    }

    fn end_of_input(&mut self) {
        self.0.end_of_input();
        self.1.end_of_input();
    }

    async fn finish(&mut self) -> Result<()> {
        self.0.finish().await?;
        self.1.finish().await
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) {
        self.0.collect_metrics(records_in, into);
        self.1.collect_metrics(records_in, into);
    }

    fn on_processing_time(&mut self, now: Timestamp) {
        self.0.on_processing_time(now);
        self.1.on_processing_time(now);
    }

    fn snapshot_state(
        &self,
        subtask: usize,
        into: &mut TaskState,
    ) -> std::result::Result<(), String> {
        self.0.snapshot_state(subtask, into)?;
        self.1.snapshot_state(subtask, into)
    }

    fn restore_state(
        &mut self,
        from: &Checkpoint,
        ctx: &TaskContext,
    ) -> std::result::Result<(), String> {
        self.0.restore_state(from, ctx)?;
        self.1.restore_state(from, ctx)
    }

    fn checkpoint_error(&mut self) -> Result<()> {
        self.0.checkpoint_error()?;
        self.1.checkpoint_error()
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<()> {
        self.0.notify_checkpoint_complete(checkpoint)?;
        self.1.notify_checkpoint_complete(checkpoint)
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        earliest(self.0.next_wakeup(), self.1.next_wakeup())
    }
}

impl<T, A, B> ChainEndFactory<T> for Tee<A, B>
where
    T: Clone + Send + 'static,
    A: ChainEndFactory<T>,
    B: ChainEndFactory<T>,
{
    type End = Tee<A::End, B::End>;
    fn create(&mut self, ctx: &TaskContext) -> Result<Self::End> {
        Ok(Tee(self.0.create(ctx)?, self.1.create(ctx)?))
    }
}

/// When a busy task ships its partial batches: full batches go after every input batch, partial
/// ones once `linger` has passed since they last went (or at once when the task goes idle).
struct Linger {
    last_partial_flush: Instant,
}

impl Linger {
    fn new() -> Self {
        Linger {
            last_partial_flush: Instant::now(),
        }
    }

    async fn flush<T, End: ChainEnd<T>>(&mut self, end: &mut End, ctx: &TaskContext) -> Result<()> {
        if self.last_partial_flush.elapsed() >= ctx.linger {
            self.flush_all(end).await
        } else {
            end.flush(false).await
        }
    }

    async fn flush_all<T, End: ChainEnd<T>>(&mut self, end: &mut End) -> Result<()> {
        self.last_partial_flush = Instant::now();
        end.flush(true).await
    }
}

/// Runs user code, turning a panic into an error that names the operator.
pub(crate) fn guarded<R>(
    ctx: &TaskContext,
    default_operator: usize,
    f: impl FnOnce() -> R,
) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let operator = take_panicked_operator().unwrap_or(default_operator);
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "(non-string panic payload)".to_string()
        };
        Error::OperatorPanicked {
            operator: ctx.operator_name(operator).to_string(),
            subtask: ctx.subtask,
            message,
        }
    })
}

/// Processing-time bookkeeping of a task: when its operators next need the wall clock.
struct Wakeups {
    next: Option<Timestamp>,
    /// In batch mode processing time does not advance during the run: nothing wakes up, and
    /// processing-time timers all fire at end of input.
    batch_mode: bool,
}

impl Wakeups {
    fn new(ctx: &TaskContext) -> Self {
        Wakeups {
            next: None,
            batch_mode: ctx.batch_mode,
        }
    }

    /// Asks the chain and its end when they next need to run (once per batch: cheap).
    fn refresh<I, Op: Operator<I>, End: ChainEnd<Op::Out>>(&mut self, chain: &Op, end: &End) {
        if !self.batch_mode {
            self.next = earliest(chain.next_wakeup(), end.next_wakeup());
        }
    }

    /// Fires processing time in the chain if the wall clock has reached the wake-up time.
    fn fire_due<I, Op: Operator<I>, End: ChainEnd<Op::Out>>(
        &mut self,
        ctx: &TaskContext,
        chain: &mut Op,
        end: &mut End,
    ) -> Result<()> {
        // Records just processed may have registered timers: ask again.
        self.refresh(chain, end);
        if let Some(wake) = self.next {
            let now = processing_time_now();
            if now >= wake {
                guarded(ctx, ctx.first_operator(), || {
                    chain.on_processing_time(now, end);
                    end.on_processing_time(now);
                })?;
                self.refresh(chain, end);
            }
        }
        Ok(())
    }

    /// Sleeps until the wake-up time (forever if there is none).
    async fn sleep(&self) {
        match self.next {
            Some(wake) => {
                let wait = wake.saturating_sub(processing_time_now()).max(0) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            None => std::future::pending().await,
        }
    }
}

/// Runs one subtask of a chain that starts at a source.
pub(crate) async fn run_source_task<S, Op, End>(
    ctx: TaskContext,
    mut source: S,
    mut chain: Op,
    mut end: End,
    mut stop: watch::Receiver<bool>,
    mut checkpoints: Option<TaskCheckpoints>,
) -> Result<Vec<OperatorMetrics>>
where
    S: Source,
    Op: Operator<S::Item>,
    End: ChainEnd<Op::Out>,
{
    let head = ctx.first_operator();
    chain.open(&ctx);
    if let Some(checkpoint) = checkpoints.as_ref().and_then(|c| c.restore.clone()) {
        restore(&ctx, &checkpoint, &mut chain, &mut end)?;
        let state_id = ctx.plan.operators[head].state_id();
        let positions = match checkpoint.operator_index(state_id, head) {
            Some(old) => checkpoint
                .subtask_states(old)
                .map_err(|e| checkpoint_error(&ctx, &e.to_string()))?,
            None => Vec::new(),
        };
        if !positions.is_empty() {
            // Earlier subtask `k` goes to subtask `k % parallelism`: the same one at the same
            // parallelism; several, or none, after a rescale.
            let mine: Vec<Vec<u8>> = positions
                .into_iter()
                .filter(|(k, _)| k % ctx.parallelism == ctx.subtask)
                .map(|(_, position)| position)
                .collect();
            source
                .restore_positions(&mine)
                .map_err(|e| ctx.io_error(head, e))?;
        }
    }
    let mut linger = Linger::new();
    let mut wakeups = Wakeups::new(&ctx);
    wakeups.refresh(&chain, &end);
    loop {
        if *stop.borrow() {
            break;
        }
        // A chain fused down to its sink never waits; this yields now and then so that a
        // worker thread is never monopolized (signals, timers and other tasks run).
        tokio::task::consume_budget().await;
        let (source_ref, end_ref) = (&mut source, &mut end);
        let (returned, status) = guarded(&ctx, head, move || {
            // The chain is moved into a local for the batch: its counters and state can then
            // live in registers, which they cannot while the compiler must assume that an
            // opaque sink (I/O, `black_box`) may touch the task's memory.
            let mut local = chain;
            let status = source_ref.poll_batch(
                ctx.batch_size,
                &mut Pipe {
                    operator: &mut local,
                    out: end_ref,
                },
            );
            (local, status)
        })?;
        chain = returned;
        let status = status.map_err(|e| ctx.io_error(head, e))?;
        if let Some(checkpoints) = checkpoints.as_mut() {
            if let Some(id) = checkpoints.triggered() {
                // The source's position starts the checkpoint; the barrier follows the
                // records it produced so far.
                let mut state = TaskState::default();
                match source.position() {
                    Some(position) => state.operator.push((head, ctx.subtask, position)),
                    None => warn_not_replayable(&ctx),
                }
                snapshot(&ctx, checkpoints, id, state, &mut chain, &mut end)?;
            }
        }
        commit_completed(&mut checkpoints, &mut end)?;
        wakeups.fire_due(&ctx, &mut chain, &mut end)?;
        match status {
            SourceStatus::Produced => linger.flush(&mut end, &ctx).await?,
            SourceStatus::Idle => {
                linger.flush_all(&mut end).await?;
                tokio::select! {
                    ready = source.wait_ready() => ready.map_err(|e| ctx.io_error(head, e))?,
                    _ = stop.changed() => {}
                    _ = wakeups.sleep() => {}
                }
            }
            SourceStatus::Ended => break,
        }
    }
    if let Some(checkpoints) = &checkpoints {
        checkpoints.finished();
    }
    let mut metrics = Vec::new();
    let produced = source.collect_metrics(&mut metrics);
    finish_chain(&ctx, chain, end, produced, metrics).await
}

/// A checkpoint problem of this subtask, as a job error.
fn checkpoint_error(ctx: &TaskContext, reason: &str) -> crate::error::Error {
    crate::error::Error::Runtime(format!(
        "checkpoint of `{}` (subtask {}): {reason}",
        ctx.operator_name(ctx.first_operator()),
        ctx.subtask
    ))
}

/// Restores the chain and its end from a checkpoint, after `open`.
fn restore<I, Op: Operator<I>, End: ChainEnd<Op::Out>>(
    ctx: &TaskContext,
    checkpoint: &Checkpoint,
    chain: &mut Op,
    end: &mut End,
) -> Result<()> {
    chain
        .restore_state(checkpoint, ctx)
        .and_then(|()| end.restore_state(checkpoint, ctx))
        .map_err(|reason| checkpoint_error(ctx, &reason))
}

/// Forwards the barrier of checkpoint `id` (sinks pre-commit on it), snapshots the chain and
/// its end (after what `state` already holds), and hands the state to the coordinator. The
/// barrier goes first so that a sink's pre-committed output is durable before the
/// checkpoint can complete; no record is processed in between, so the state is the same.
fn snapshot<I, Op: Operator<I>, End: ChainEnd<Op::Out>>(
    ctx: &TaskContext,
    checkpoints: &TaskCheckpoints,
    id: u64,
    mut state: TaskState,
    chain: &mut Op,
    end: &mut End,
) -> Result<()> {
    guarded(ctx, ctx.first_operator(), || chain.on_barrier(id, end))?;
    end.checkpoint_error()?;
    chain
        .snapshot_state(ctx.subtask, &mut state)
        .and_then(|()| end.snapshot_state(ctx.subtask, &mut state))
        .map_err(|reason| checkpoint_error(ctx, &reason))?;
    checkpoints.acknowledge(id, state);
    Ok(())
}

/// Commits in the sinks what a checkpoint completed since the last look covers.
fn commit_completed<T, E: ChainEnd<T>>(
    checkpoints: &mut Option<TaskCheckpoints>,
    end: &mut E,
) -> Result<()> {
    match checkpoints
        .as_mut()
        .and_then(TaskCheckpoints::newly_completed)
    {
        Some(id) => end.notify_checkpoint_complete(id),
        None => Ok(()),
    }
}

/// A source that cannot replay under checkpointing: its records after the last checkpoint
/// are lost on a restore (at-most-once). Said once per subtask.
fn warn_not_replayable(ctx: &TaskContext) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "warning: `{}` cannot replay its input, so checkpoints give it at-most-once results: records it read after the last checkpoint are lost on a restore",
            ctx.operator_name(ctx.first_operator())
        );
    });
}

/// End of input for a chain: in batch mode processing time jumps to the end, its operators
/// emit what they held back (batch-mode results), a final watermark completes all event-time
/// work, the end ships everything and signals end of input; then the counters are
/// collected.
pub(crate) async fn finish_chain<I, Op, End>(
    ctx: &TaskContext,
    mut chain: Op,
    mut end: End,
    records_in: u64,
    mut metrics: Vec<OperatorMetrics>,
) -> Result<Vec<OperatorMetrics>>
where
    Op: Operator<I>,
    End: ChainEnd<Op::Out>,
{
    guarded(ctx, ctx.first_operator(), || {
        if ctx.batch_mode {
            chain.on_processing_time(Timestamp::MAX, &mut end);
            end.on_processing_time(Timestamp::MAX);
        }
        chain.end_of_input(&mut end);
        end.end_of_input();
        // Last, so that it follows everything `end_of_input` emitted (batch-mode results,
        // pre-aggregated partials), and timers those records register still fire.
        chain.on_watermark(MAX_WATERMARK, &mut end);
    })?;
    end.finish().await?;
    let reaching_end = chain.collect_metrics(records_in, &mut metrics);
    end.collect_metrics(reaching_end, &mut metrics);
    Ok(metrics)
}

/// Runs one subtask of a chain fed by exchanges.
pub(crate) async fn run_input_task<I, Op, End>(
    ctx: TaskContext,
    mut gate: InputGate<I>,
    mut chain: Op,
    mut end: End,
    mut checkpoints: Option<TaskCheckpoints>,
) -> Result<Vec<OperatorMetrics>>
where
    I: Send + 'static,
    Op: Operator<I>,
    End: ChainEnd<Op::Out>,
{
    let head = ctx.first_operator();
    chain.open(&ctx);
    if let Some(checkpoint) = checkpoints.as_ref().and_then(|c| c.restore.clone()) {
        restore(&ctx, &checkpoint, &mut chain, &mut end)?;
    }
    let mut received = 0u64;
    let mut linger = Linger::new();
    let mut wakeups = Wakeups::new(&ctx);
    wakeups.refresh(&chain, &end);
    loop {
        let event = match gate.try_next()? {
            Some(event) => event,
            None => {
                // Nothing ready: ship partial batches before sleeping so that downstream
                // never waits on data that sits in our buffers.
                linger.flush_all(&mut end).await?;
                tokio::select! {
                    event = gate.next() => event?,
                    _ = wakeups.sleep() => {
                        wakeups.fire_due(&ctx, &mut chain, &mut end)?;
                        continue;
                    }
                }
            }
        };
        tokio::task::consume_budget().await;
        match event {
            GateEvent::Records(batch) => {
                received += batch.len() as u64;
                let end_ref = &mut end;
                chain = guarded(&ctx, head, move || {
                    // Moved into a local for the batch, as in `run_source_task`.
                    let mut local = chain;
                    for record in batch {
                        let (value, timestamp) = record.into_parts();
                        local.process(value, timestamp, end_ref);
                    }
                    local
                })?;
            }
            GateEvent::Marked(batch, marks, channel) => {
                received += batch.len() as u64;
                let (end_ref, gate_ref) = (&mut end, &mut gate);
                chain = guarded(&ctx, head, move || {
                    let mut local = chain;
                    let mut records = batch.into_iter();
                    let mut done = 0;
                    for (at, watermark) in marks {
                        for record in records.by_ref().take(at as usize - done) {
                            let (value, timestamp) = record.into_parts();
                            local.process(value, timestamp, end_ref);
                        }
                        done = at as usize;
                        if let Some(watermark) = gate_ref.channel_watermark(channel, watermark) {
                            local.on_watermark(watermark, end_ref);
                        }
                    }
                    for record in records {
                        let (value, timestamp) = record.into_parts();
                        local.process(value, timestamp, end_ref);
                    }
                    local
                })?;
            }
            GateEvent::Watermark(watermark) => {
                guarded(&ctx, head, || chain.on_watermark(watermark, &mut end))?;
            }
            GateEvent::Idleness(idle) => {
                guarded(&ctx, head, || chain.on_idleness(idle, &mut end))?;
            }
            GateEvent::SideEnded(second) => {
                guarded(&ctx, head, || chain.on_side_ended(second, &mut end))?;
            }
            GateEvent::Barrier(checkpoint) => match &checkpoints {
                Some(checkpoints) => snapshot(
                    &ctx,
                    checkpoints,
                    checkpoint,
                    TaskState::default(),
                    &mut chain,
                    &mut end,
                )?,
                None => guarded(&ctx, head, || chain.on_barrier(checkpoint, &mut end))?,
            },
            GateEvent::SuperstepEnd(superstep) => {
                guarded(&ctx, head, || chain.on_superstep_end(superstep, &mut end))?;
                // The superstep's results go out now: the iteration waits for them.
                linger.flush_all(&mut end).await?;
            }
            GateEvent::Ended => {
                if let Some(checkpoints) = &checkpoints {
                    checkpoints.finished();
                }
                break;
            }
        }
        commit_completed(&mut checkpoints, &mut end)?;
        wakeups.fire_due(&ctx, &mut chain, &mut end)?;
        linger.flush(&mut end, &ctx).await?;
    }
    finish_chain(&ctx, chain, end, received, Vec::new()).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::operator::Identity;

    use crate::plan::ONE_SOURCE_PLAN as PLAN;

    /// A source that always has data, slowly: one record per poll, 2 ms apart.
    struct Busy(u64);

    impl Source for Busy {
        type Item = u64;
        fn poll_batch<E: Emit<u64>>(
            &mut self,
            _max: usize,
            out: &mut E,
        ) -> std::io::Result<SourceStatus> {
            if self.0 == 0 {
                return Ok(SourceStatus::Ended);
            }
            std::thread::sleep(Duration::from_millis(2));
            out.emit(self.0, None);
            self.0 -= 1;
            Ok(SourceStatus::Produced)
        }
        fn collect_metrics(&self, _into: &mut Vec<OperatorMetrics>) -> u64 {
            0
        }
    }

    /// Counts the flushes that ship partial batches.
    struct Flushes(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Emit<u64> for Flushes {
        fn emit(&mut self, _value: u64, _timestamp: Option<Timestamp>) {}
    }

    impl ChainEnd<u64> for Flushes {
        async fn flush(&mut self, partial: bool) -> Result<()> {
            self.0
                .fetch_add(usize::from(partial), std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        async fn finish(&mut self) -> Result<()> {
            Ok(())
        }
        fn collect_metrics(&self, _records_in: u64, _into: &mut Vec<OperatorMetrics>) {}
    }

    async fn partial_flushes_of_a_busy_task(linger: Duration) -> usize {
        let ctx = TaskContext {
            plan: &PLAN,
            chain: 0,
            subtask: 0,
            parallelism: 1,
            max_parallelism: 128,
            batch_mode: false,
            batch_size: 1024,
            linger,
            checkpointing: false,
            restored: None,
            spill: None,
        };
        let partial = std::sync::Arc::default();
        let (_stop_tx, stop) = watch::channel(false);
        let end = Flushes(std::sync::Arc::clone(&partial));
        run_source_task(ctx, Busy(10), Identity, end, stop, None)
            .await
            .unwrap();
        partial.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_busy_task_ships_partial_batches_once_the_linger_has_passed() {
        // Never idle: without the linger, partial batches would wait for the end.
        assert_eq!(
            partial_flushes_of_a_busy_task(Duration::from_secs(3600)).await,
            0
        );
        assert!(partial_flushes_of_a_busy_task(Duration::from_millis(1)).await >= 5);
    }
}
