//! Bulk iterations: a sub-pipeline whose output feeds its own input, superstep by superstep
//! (Flink's `iterate` / `closeWith`).
//!
//! An iteration is a cycle of tasks inside one job. Its **head** task reads the iteration's
//! initial input, sends it into the body as superstep 0 and closes the superstep with a
//! [`SuperstepEnd`](crate::element::StreamElement::SuperstepEnd) marker. The body's operators
//! align the marker over their inputs like a checkpoint barrier and finish the superstep
//! (batch-mode aggregates, groups and joins emit their results for it, then start afresh; a
//! join keeps its loop-invariant side). The body's output goes back to the head through a
//! **feedback** exchange; once the head has the whole superstep back, the heads agree through
//! an [`IterationSync`] whether to go on (fewer than the maximum supersteps so far, the
//! feedback not empty, and the termination criterion, if any, not empty); the next superstep
//! is the feedback, and the last one's feedback is the iteration's result.
//!
//! Supersteps are synchronized: no head starts superstep `i + 1` before every head and every
//! criterion subtask finished superstep `i`. The feedback channels are unbounded (the head
//! buffers a superstep anyway): the tail never waits for a head busy sending the next
//! superstep, so the cycle cannot deadlock on backpressure.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::element::Timestamp;
use crate::error::{Error, Result};
use crate::exchange::{GateEvent, InputGate};
use crate::job::TaskContext;
use crate::operator::{Emit, Operator, OperatorMetrics, Produces};
use crate::task::{ChainEnd, ChainEndFactory};

/// What an iteration head hands its chain: a record for the body's next superstep, or one of
/// the iteration's final result.
#[derive(Debug, Clone, PartialEq)]
pub enum IterationRecord<T, R = T> {
    /// Input of the body in the current superstep.
    Step(T),
    /// The iteration's result (the last superstep's feedback; a delta iteration's solution
    /// set).
    Done(R),
}

/// The type marker a head's chain is built from: records of type `T` wrapped in
/// [`IterationRecord`].
pub struct HeadFeed<T>(PhantomData<fn() -> T>);

impl<T> Produces for HeadFeed<T> {
    type Out = IterationRecord<T>;
}

/// The head chain's feed, typed by the iteration's initial input.
pub fn head_feed<C: Produces>(_initial: &C) -> HeadFeed<C::Out> {
    HeadFeed(PhantomData)
}

/// The feedback exchange of an iteration whose input is `T`: it takes the body's records only
/// if they are `T` too.
#[diagnostic::on_unimplemented(
    message = "the body of this iteration returns records of type `{T}`, which is not the type of the iteration's input",
    label = "the next superstep's input: it must have the type of the stream `iterate` was called on",
    note = "map the body's result back to the input's type, or map the input to the body's type before `.iterate(..)`"
)]
pub trait FeedbackOf<T> {
    /// The sending ends.
    type Writers;
    /// Takes the sending ends (once).
    fn take_writers(&mut self) -> Self::Writers;
}

impl<W: Send + 'static> FeedbackOf<W> for crate::job::Connection<crate::exchange::Rebalance, W> {
    type Writers = crate::exchange::EdgeWriters<crate::exchange::Rebalance, W>;
    fn take_writers(&mut self) -> Self::Writers {
        self.writers::<W>()
    }
}

/// The typed guard of the feedback: the body's output must have the type of the iteration's
/// input. The generated code calls it spanned at the body's result, so a mismatch is
/// reported there, once.
pub fn feedback<C, Conn>(_body_output: &C, connection: &mut Conn) -> Conn::Writers
where
    C: Produces,
    Conn: FeedbackOf<C::Out>,
{
    connection.take_writers()
}

/// The maximum number of supersteps as given to `iterate` (any integer type; a negative one
/// is an error).
pub fn supersteps<N>(max: N) -> Result<u64>
where
    N: TryInto<u64> + Copy + std::fmt::Display,
{
    max.try_into()
        .map_err(|_| Error::Config(format!("`iterate({max}, ..)`: not a number of supersteps")))
}

/// The body side of a head: the records of each superstep, and its ends.
#[derive(Debug, Clone, Copy)]
pub struct IterationStep {
    operator: usize,
    emitted: u64,
}

impl<T: 'static, R: 'static> Operator<IterationRecord<T, R>> for IterationStep {
    type Out = T;

    #[inline]
    fn process<E: Emit<T>>(
        &mut self,
        value: IterationRecord<T, R>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        if let IterationRecord::Step(value) = value {
            self.emitted += 1;
            out.emit(value, timestamp);
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

/// The result side of a head: the iteration's final records. Superstep ends stay inside the
/// iteration.
#[derive(Debug, Clone, Copy)]
pub struct IterationResult {
    operator: usize,
    emitted: u64,
}

impl<T: 'static, R: 'static> Operator<IterationRecord<T, R>> for IterationResult {
    type Out = R;

    #[inline]
    fn process<E: Emit<R>>(
        &mut self,
        value: IterationRecord<T, R>,
        timestamp: Option<Timestamp>,
        out: &mut E,
    ) {
        if let IterationRecord::Done(value) = value {
            self.emitted += 1;
            out.emit(value, timestamp);
        }
    }

    fn on_superstep_end<E: Emit<R>>(&mut self, _superstep: u64, _out: &mut E) {}

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

impl<In, Op: Operator<In> + Clone> crate::operator::Chain<In, Op> {
    /// Appends the body side of an iteration head.
    pub fn iteration_step<T, R>(
        self,
        operator: usize,
    ) -> crate::operator::Chain<In, impl Operator<In, Out = T> + Clone>
    where
        T: 'static,
        R: 'static,
        Op: Operator<In, Out = IterationRecord<T, R>>,
    {
        self.then(IterationStep {
            operator,
            emitted: 0,
        })
    }

    /// Appends the result side of an iteration head.
    pub fn iteration_result<T, R>(
        self,
        operator: usize,
    ) -> crate::operator::Chain<In, impl Operator<In, Out = R> + Clone>
    where
        T: 'static,
        R: 'static,
        Op: Operator<In, Out = IterationRecord<T, R>>,
    {
        self.then(IterationResult {
            operator,
            emitted: 0,
        })
    }
}

/// What the subtasks of one iteration reported for a superstep.
#[derive(Debug, Default)]
struct Report {
    heads: usize,
    feedback: u64,
    criteria: usize,
    criterion: u64,
}

/// Where the heads (and termination-criterion subtasks) of one iteration meet after each
/// superstep to decide together whether another one runs. All subtasks of a job run in one
/// process, so this is shared memory, set up before the job starts.
pub struct IterationSync {
    max_supersteps: u64,
    has_criterion: bool,
    heads: AtomicUsize,
    criteria: AtomicUsize,
    state: Mutex<(BTreeMap<u64, Report>, BTreeMap<u64, bool>)>,
    decided: tokio::sync::Notify,
    /// Heads arrived at each [`IterationSync::all_heads`] meeting.
    meetings: Mutex<BTreeMap<u64, usize>>,
    met: tokio::sync::Notify,
}

impl IterationSync {
    /// The meeting point of an iteration of at most `max_supersteps` supersteps, with a
    /// termination criterion or not.
    pub fn new(max_supersteps: u64, has_criterion: bool) -> Arc<Self> {
        Arc::new(IterationSync {
            max_supersteps,
            has_criterion,
            heads: AtomicUsize::new(0),
            criteria: AtomicUsize::new(0),
            state: Mutex::new((BTreeMap::new(), BTreeMap::new())),
            decided: tokio::sync::Notify::new(),
            meetings: Mutex::new(BTreeMap::new()),
            met: tokio::sync::Notify::new(),
        })
    }

    /// The most supersteps the iteration runs.
    pub fn max_supersteps(&self) -> u64 {
        self.max_supersteps
    }

    pub(crate) fn add_heads(&self, n: usize) {
        self.heads.fetch_add(n, Ordering::SeqCst);
    }

    fn add_criterion_subtask(&self) {
        self.criteria.fetch_add(1, Ordering::SeqCst);
    }

    /// Records one report and decides the superstep once everyone reported.
    fn report(&self, superstep: u64, update: impl FnOnce(&mut Report)) {
        let mut guard = self.state.lock().expect("iteration sync poisoned");
        let (reports, decisions) = &mut *guard;
        let report = reports.entry(superstep).or_default();
        update(report);
        let heads = self.heads.load(Ordering::SeqCst);
        let criteria = self.criteria.load(Ordering::SeqCst);
        if report.heads == heads && report.criteria == criteria {
            let go_on = superstep + 1 < self.max_supersteps
                && report.feedback > 0
                && (!self.has_criterion || report.criterion > 0);
            decisions.insert(superstep, go_on);
            reports.remove(&superstep);
            drop(guard);
            self.decided.notify_waiters();
        }
    }

    /// A head has all of superstep `superstep`'s feedback (`feedback` records): waits until
    /// every head and criterion subtask finished it, and says whether another superstep runs.
    pub(crate) async fn head_finished(&self, superstep: u64, feedback: u64) -> bool {
        self.report(superstep, |r| {
            r.heads += 1;
            r.feedback += feedback;
        });
        loop {
            // Created before the check, so a decision made in between still wakes it.
            let decided = self.decided.notified();
            if let Some(&go_on) = self
                .state
                .lock()
                .expect("iteration sync poisoned")
                .1
                .get(&superstep)
            {
                return go_on;
            }
            decided.await;
        }
    }

    /// Waits until every head arrived at meeting `id` (a barrier among the heads).
    pub(crate) async fn all_heads(&self, id: u64) {
        let heads = self.heads.load(Ordering::SeqCst);
        {
            let mut meetings = self.meetings.lock().expect("iteration sync poisoned");
            *meetings.entry(id).or_default() += 1;
        }
        self.met.notify_waiters();
        loop {
            let met = self.met.notified();
            if self
                .meetings
                .lock()
                .expect("iteration sync poisoned")
                .get(&id)
                .is_some_and(|&n| n >= heads)
            {
                return;
            }
            met.await;
        }
    }

    fn criterion_finished(&self, superstep: u64, records: u64) {
        self.report(superstep, |r| {
            r.criteria += 1;
            r.criterion += records;
        });
    }
}

/// The sink of an iteration's termination criterion: counts its records per superstep; the
/// iteration stops after a superstep in which no subtask saw one.
pub struct CriterionSink {
    sync: Arc<IterationSync>,
    count: u64,
    total: u64,
}

/// Creates a [`CriterionSink`] per subtask.
pub struct CriterionFactory {
    sync: Arc<IterationSync>,
}

/// The termination criterion sink of the iteration that meets at `sync`.
pub fn criterion(sync: &Arc<IterationSync>) -> CriterionFactory {
    CriterionFactory {
        sync: Arc::clone(sync),
    }
}

impl<T: Send + 'static> ChainEndFactory<T> for CriterionFactory {
    type End = CriterionSink;

    fn create(&mut self, _ctx: &TaskContext) -> Result<CriterionSink> {
        self.sync.add_criterion_subtask();
        Ok(CriterionSink {
            sync: Arc::clone(&self.sync),
            count: 0,
            total: 0,
        })
    }
}

impl<T> Emit<T> for CriterionSink {
    #[inline]
    fn emit(&mut self, _value: T, _timestamp: Option<Timestamp>) {
        self.count += 1;
    }

    fn emit_superstep_end(&mut self, superstep: u64) {
        self.total += self.count;
        self.sync
            .criterion_finished(superstep, std::mem::take(&mut self.count));
    }
}

impl<T: Send + 'static> ChainEnd<T> for CriterionSink {
    async fn flush(&mut self, _partial: bool) -> Result<()> {
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    fn collect_metrics(&self, _records_in: u64, _into: &mut Vec<OperatorMetrics>) {}
}

/// Runs one subtask of an iteration head: superstep 0 from `initial`, each next one from
/// the whole previous superstep's `feedback`, the result when the heads stop.
pub(crate) async fn run_iteration_head_task<T, Op, End>(
    ctx: TaskContext,
    mut initial: InputGate<T>,
    mut feedback: InputGate<T>,
    mut chain: Op,
    mut end: End,
    sync: Arc<IterationSync>,
) -> Result<Vec<OperatorMetrics>>
where
    T: Send + 'static,
    Op: Operator<IterationRecord<T>>,
    End: ChainEnd<Op::Out>,
{
    let head = ctx.first_operator();
    chain.open(&ctx);
    let mut received = 0u64;
    // Superstep 0: the initial input, as it comes.
    loop {
        let batch = match initial.next().await? {
            GateEvent::Records(batch) | GateEvent::Marked(batch, _, _) => batch,
            GateEvent::Ended => break,
            // Batch mode: no watermarks or barriers of interest; nested iterations do not
            // exist.
            _ => continue,
        };
        received += batch.len() as u64;
        crate::task::guarded(&ctx, head, || {
            for record in batch {
                let (value, timestamp) = record.into_parts();
                chain.process(IterationRecord::Step(value), timestamp, &mut end);
            }
        })?;
        end.flush(false).await?;
    }
    let mut superstep = 0;
    let mut next: Vec<T> = Vec::new();
    loop {
        crate::task::guarded(&ctx, head, || chain.on_superstep_end(superstep, &mut end))?;
        end.flush(true).await?;
        // The superstep's feedback, whole.
        loop {
            match feedback.next().await? {
                GateEvent::Records(batch) | GateEvent::Marked(batch, _, _) => {
                    next.extend(batch.into_iter().map(|r| r.into_parts().0));
                }
                GateEvent::SuperstepEnd(_) => break,
                GateEvent::Ended => {
                    return Err(Error::Runtime(format!(
                        "the iteration `{}` lost its feedback in superstep {superstep}",
                        ctx.operator_name(head)
                    )))
                }
                _ => {}
            }
        }
        received += next.len() as u64;
        let go_on = sync.head_finished(superstep, next.len() as u64).await;
        let wrap = if go_on {
            IterationRecord::Step
        } else {
            IterationRecord::Done
        };
        // Sent in batches, so the body starts on the superstep while the head still sends.
        let mut records = std::mem::take(&mut next).into_iter().peekable();
        while records.peek().is_some() {
            crate::task::guarded(&ctx, head, || {
                for value in records.by_ref().take(ctx.batch_size) {
                    chain.process(wrap(value), None, &mut end);
                }
            })?;
            end.flush(false).await?;
        }
        if !go_on {
            break;
        }
        superstep += 1;
    }
    let metrics = crate::task::finish_chain(&ctx, chain, end, received, Vec::new()).await?;
    // The body ends after the head: what it still sends back is nothing, then its end.
    loop {
        if let GateEvent::Ended = feedback.next().await? {
            break;
        }
    }
    Ok(metrics)
}
