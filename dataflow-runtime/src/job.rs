//! Running a job: configuration, wiring chains and exchanges, spawning one task per subtask,
//! waiting for them, failing fast, and reporting.

use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::exchange::{Edge, EdgeWriters, ExchangeConfig, InputGate, Partitioner};
use crate::io::SourceFactory;
use crate::keys;
use crate::operator::{Chain, Operator, OperatorMetrics, Produces};
use crate::plan::{JobPlan, ParallelismSpec, Partitioning};
use crate::task::{self, ChainEndFactory};

/// Flink's runtime execution modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutionMode {
    /// Batch if every source is bounded, streaming otherwise.
    #[default]
    Automatic,
    /// Rolling aggregates emit one update per record.
    Streaming,
    /// Rolling aggregates emit only final values; every source must be bounded.
    Batch,
}

impl std::str::FromStr for ExecutionMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "automatic" => Ok(ExecutionMode::Automatic),
            "streaming" => Ok(ExecutionMode::Streaming),
            "batch" => Ok(ExecutionMode::Batch),
            other => Err(format!(
                "unknown mode `{other}`: use automatic, streaming or batch"
            )),
        }
    }
}

/// How to run a job.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Default parallelism of operators that do not set their own.
    pub parallelism: usize,
    /// Number of key groups: the upper bound of any keyed operator's parallelism.
    pub max_parallelism: usize,
    /// Streaming, batch, or decided by the sources.
    pub mode: ExecutionMode,
    /// Batching and channel capacity of exchanges.
    pub exchange: ExchangeConfig,
    /// Threads of the runtime; defaults to the number of cores.
    pub worker_threads: Option<usize>,
    /// Handle Ctrl-C (the generated `main` sets this): an unbounded job stops its sources
    /// and drains; a bounded job is cancelled.
    pub stop_on_ctrl_c: bool,
    /// Lets another thread cancel the job while it runs.
    pub canceller: Option<JobCanceller>,
    /// Periodic checkpoints (streaming mode only; batch jobs recover by running again).
    pub checkpointing: Option<crate::checkpoint::CheckpointConfig>,
    /// Start from a checkpoint: a checkpoint directory root (its newest complete
    /// checkpoint), one `chk-<id>` directory, or a savepoint.
    pub restore: Option<std::path::PathBuf>,
    /// What [`run_with_restarts`] (and so a job's generated `main`) does when the job fails.
    pub restart: RestartStrategy,
    /// Where a clean stop (Ctrl-C, SIGTERM) writes a savepoint before the job ends: a
    /// complete checkpoint that `restore` takes (needs `checkpointing`).
    pub savepoint_dir: Option<std::path::PathBuf>,
    /// Batch mode: the memory each keyed operator subtask may hold before it spills its state
    /// to disk, and where (`None`: everything stays in memory).
    pub spill: Option<crate::spill::SpillConfig>,
    /// Batch mode: a join without a hint broadcasts an input estimated at most this many
    /// bytes (when that moves less data than repartitioning both); 0 never broadcasts.
    pub broadcast_threshold: u64,
}

/// The default [`JobConfig::broadcast_threshold`]: 10 MiB (Spark's default; a broadcast
/// input here is copied once per subtask in one process, not sent over a network).
pub const DEFAULT_BROADCAST_THRESHOLD: u64 = 10 << 20;

/// How a failed job is restarted, from its last complete checkpoint (Flink's restart
/// strategies). Restarts happen in the same process; a job without checkpoints restarts
/// from the beginning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartStrategy {
    /// A failure ends the job.
    #[default]
    None,
    /// Up to `attempts` restarts, `delay` apart.
    FixedDelay {
        /// How many restarts at most.
        attempts: u32,
        /// The wait before each.
        delay: Duration,
    },
    /// Up to `attempts` restarts, waiting `initial`, then twice as long each time, at most
    /// `max`.
    ExponentialBackoff {
        /// How many restarts at most.
        attempts: u32,
        /// The first wait.
        initial: Duration,
        /// The longest wait.
        max: Duration,
    },
}

impl RestartStrategy {
    /// The wait before restart number `restart` (0-based), or `None` if no restart is left.
    pub fn delay(&self, restart: u32) -> Option<Duration> {
        match *self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                (restart < attempts).then_some(delay)
            }
            RestartStrategy::ExponentialBackoff {
                attempts,
                initial,
                max,
            } => (restart < attempts).then(|| {
                initial
                    .saturating_mul(2u32.saturating_pow(restart.min(31)))
                    .min(max)
            }),
        }
    }
}

/// Runs `attempt` (a job's `run`) with `config`, restarting it after a failure as
/// `config.restart` says: from the newest complete checkpoint of `config.checkpointing`'s
/// directory if there is one, otherwise as first configured. Configuration errors and
/// cancellations are not retried.
pub fn run_with_restarts(
    config: &JobConfig,
    mut attempt: impl FnMut(&JobConfig) -> Result<JobReport>,
) -> Result<JobReport> {
    let mut current = config.clone();
    let mut restarts = 0;
    loop {
        let error = match attempt(&current) {
            Ok(report) => return Ok(report),
            Err(error @ (Error::Config(_) | Error::Cancelled { .. })) => return Err(error),
            Err(error) => error,
        };
        let Some(delay) = config.restart.delay(restarts) else {
            return Err(error);
        };
        restarts += 1;
        let checkpoint = config.checkpointing.as_ref().and_then(|c| {
            crate::checkpoint::Checkpoint::resolve(&c.dir)
                .ok()
                .map(|_| c.dir.clone())
        });
        eprintln!(
            "job failed: {error}\nrestart {restarts} in {} ms, {}",
            delay.as_millis(),
            match &checkpoint {
                Some(dir) => format!("from the newest checkpoint in `{}`", dir.display()),
                None => "from the beginning (no complete checkpoint)".to_string(),
            }
        );
        std::thread::sleep(delay);
        current.restore = checkpoint.or_else(|| config.restore.clone());
    }
}

/// Cancels a running job from another thread: `run` then returns [`Error::Cancelled`]
/// promptly, and no sink finishes as if the results were complete.
///
/// ```
/// use dataflow_runtime::job::{JobCanceller, JobConfig};
/// let canceller = JobCanceller::default();
/// let config = JobConfig { canceller: Some(canceller.clone()), ..JobConfig::default() };
/// // ... run a job with `config` on one thread, and on another:
/// canceller.cancel();
/// # drop(config);
/// ```
#[derive(Debug, Clone)]
pub struct JobCanceller {
    cancelled: Arc<watch::Sender<bool>>,
}

impl Default for JobCanceller {
    fn default() -> Self {
        JobCanceller {
            cancelled: Arc::new(watch::channel(false).0),
        }
    }
}

impl JobCanceller {
    /// Cancels the job (now, or as soon as it starts).
    pub fn cancel(&self) {
        self.cancelled.send_replace(true);
    }
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            parallelism: available_cores(),
            max_parallelism: keys::DEFAULT_MAX_PARALLELISM,
            mode: ExecutionMode::Automatic,
            exchange: ExchangeConfig::default(),
            worker_threads: None,
            stop_on_ctrl_c: false,
            canceller: None,
            checkpointing: None,
            restore: None,
            restart: RestartStrategy::None,
            savepoint_dir: None,
            spill: None,
            broadcast_threshold: DEFAULT_BROADCAST_THRESHOLD,
        }
    }
}

impl JobConfig {
    /// The default configuration with this default parallelism.
    pub fn with_parallelism(parallelism: usize) -> Self {
        JobConfig {
            parallelism,
            ..JobConfig::default()
        }
    }

    fn validate(&self) -> Result<()> {
        if self.parallelism == 0 {
            return Err(Error::Config("parallelism must be at least 1".into()));
        }
        if self.max_parallelism == 0 || self.max_parallelism > keys::MAX_MAX_PARALLELISM {
            return Err(Error::Config(format!(
                "max parallelism must be between 1 and {}, got {}",
                keys::MAX_MAX_PARALLELISM,
                self.max_parallelism
            )));
        }
        if self.exchange.batch_size == 0 || self.exchange.channel_capacity == 0 {
            return Err(Error::Config(
                "exchange batch size and channel capacity must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Whether a job with this plan runs in batch mode.
    pub fn batch_mode(&self, plan: &JobPlan) -> Result<bool> {
        match self.mode {
            ExecutionMode::Automatic => Ok(plan.bounded),
            ExecutionMode::Streaming => Ok(false),
            ExecutionMode::Batch if plan.bounded => Ok(true),
            ExecutionMode::Batch => Err(Error::Config(format!(
                "job `{}` reads an unbounded source, so it cannot run in batch mode; \
                 use --mode streaming or automatic",
                plan.name
            ))),
        }
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What one subtask knows about where it runs.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The job's plan.
    pub plan: &'static JobPlan,
    /// The chain this subtask runs.
    pub chain: usize,
    /// This subtask's index, 0-based.
    pub subtask: usize,
    /// The chain's parallelism.
    pub parallelism: usize,
    /// Number of key groups.
    pub max_parallelism: usize,
    /// Whether the job runs in batch mode.
    pub batch_mode: bool,
    /// Records per exchange batch (and per source poll).
    pub batch_size: usize,
    /// How long a busy task may hold a partial batch.
    pub linger: std::time::Duration,
    /// Whether the job takes checkpoints (file sinks then write transactionally).
    pub checkpointing: bool,
    /// The checkpoint the job restored, if any.
    pub restored: Option<u64>,
    /// The memory budget of keyed operators in batch mode (`None` in streaming mode).
    pub spill: Option<crate::spill::SpillConfig>,
}

impl TaskContext {
    /// The display name of an operator.
    pub fn operator_name(&self, operator: usize) -> &'static str {
        self.plan
            .operators
            .get(operator)
            .map_or("<unknown>", |info| info.name)
    }

    /// The first operator of this chain (its source, or the first operator after its inputs).
    pub fn first_operator(&self) -> usize {
        self.plan.chains[self.chain].operators[0]
    }

    /// An I/O error of `operator` in this subtask.
    pub fn io_error(&self, operator: usize, source: std::io::Error) -> Error {
        Error::OperatorIo {
            operator: self.operator_name(operator).to_string(),
            subtask: self.subtask,
            source,
        }
    }
}

/// Totals of one operator over all its subtasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorReport {
    /// The operator's name.
    pub name: &'static str,
    /// Records received (sources: 0).
    pub records_in: u64,
    /// Records emitted (sinks: 0).
    pub records_out: u64,
    /// Bytes of state written to disk over the memory budget (batch mode; usually 0).
    pub spilled_bytes: u64,
}

/// What a finished job reports.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The job's name.
    pub job: &'static str,
    /// Whether it ran in batch mode.
    pub batch_mode: bool,
    /// Per operator, in plan order.
    pub operators: Vec<OperatorReport>,
    /// Wall time from start to the end of the last task.
    pub elapsed: Duration,
    /// Checkpoints completed during the run.
    pub checkpoints: u64,
    /// What each completed checkpoint took.
    pub checkpoint_stats: Vec<crate::checkpoint::CheckpointStats>,
    /// How each join of bounded inputs without a hint ran, as the plan chose at start.
    pub joins: Vec<crate::join::JoinChoice>,
}

impl JobReport {
    /// The totals of the operator named `name`.
    pub fn operator(&self, name: &str) -> Option<&OperatorReport> {
        self.operators.iter().find(|op| op.name == name)
    }

    /// The strategy the join named `name` ran with, if the plan chose it at start.
    pub fn join_strategy(&self, name: &str) -> Option<crate::join::JoinStrategy> {
        self.joins
            .iter()
            .find(|join| join.operator == name)
            .map(|join| join.strategy)
    }
}

impl std::fmt::Display for JobReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "job `{}` finished in {:.3} s ({} mode)",
            self.job,
            self.elapsed.as_secs_f64(),
            if self.batch_mode {
                "batch"
            } else {
                "streaming"
            }
        )?;
        for op in &self.operators {
            write!(
                f,
                "  {:<24} in {:>12}  out {:>12}",
                op.name, op.records_in, op.records_out
            )?;
            if op.spilled_bytes > 0 {
                write!(
                    f,
                    "  spilled {:.1} MiB",
                    op.spilled_bytes as f64 / (1 << 20) as f64
                )?;
            }
            if let Some(join) = self.joins.iter().find(|join| join.operator == op.name) {
                let size = |estimate: Option<u64>| match estimate {
                    Some(bytes) => format!("{:.1} KiB", bytes as f64 / 1024.0),
                    None => "unknown".to_string(),
                };
                write!(
                    f,
                    "  {} (inputs estimated {} and {})",
                    join.strategy,
                    size(join.estimates[0]),
                    size(join.estimates[1])
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The channels of an exchange plus its partitioner, between two chains.
pub struct Connection<P, W> {
    edge: Edge<W>,
    partitioner: Option<P>,
}

impl<P, W> Produces for Connection<P, W> {
    type Out = W;
}

impl<P, W: Send + 'static> Connection<P, W> {
    /// The sending ends, for the upstream chain's subtasks.
    pub fn writers<T>(&mut self) -> EdgeWriters<P, W>
    where
        P: Partitioner<T, Wire = W>,
    {
        let partitioner = self
            .partitioner
            .take()
            .expect("an exchange has one sending chain");
        self.edge.writers(partitioner)
    }
}

/// The receiving side of an exchange, as the downstream chain sees it.
pub trait Inbound<W> {
    /// Takes the channels arriving at subtask `receiver`.
    fn take_receivers(
        &mut self,
        receiver: usize,
    ) -> Vec<tokio::sync::mpsc::Receiver<crate::element::StreamElement<W>>>;
}

impl<P, W: Send + 'static> Inbound<W> for Connection<P, W> {
    fn take_receivers(
        &mut self,
        receiver: usize,
    ) -> Vec<tokio::sync::mpsc::Receiver<crate::element::StreamElement<W>>> {
        self.edge.take_receivers(receiver)
    }
}

/// The typed guard of `union`: another input of a chain must carry the same type as its first
/// input. The generated code calls this at each extra input, spanned at the stream name the
/// user passed to `union`, so a mismatch is reported there and only there.
pub fn union_input<'a, P, Q, W>(
    _first: &P,
    input: &'a mut Connection<Q, W>,
) -> &'a mut dyn Inbound<W>
where
    P: Produces<Out = W>,
    W: Send + 'static,
    Q: 'static,
{
    input
}

/// The value of a `.parallelism(expr)` whose expression is not a literal: any integer that
/// fits a `usize` (a negative one is an error, not a huge parallelism).
pub fn parallelism_value<N>(value: N, expression: &str) -> Result<usize>
where
    N: TryInto<usize> + Copy + std::fmt::Display,
{
    value.try_into().map_err(|_| {
        Error::Config(format!(
            "`.parallelism({expression})` evaluated to {value}, which is not a parallelism"
        ))
    })
}

/// Waits until the job is fully wired (`Err` if wiring failed and the job is going away).
async fn wait_for_start(mut started: watch::Receiver<bool>) -> Result<()> {
    started
        .wait_for(|s| *s)
        .await
        .map(|_| ())
        .map_err(|_| Error::Disconnected)
}

type TaskOutcome = (usize, usize, Result<Vec<OperatorMetrics>>);

/// Wires and spawns a job; the generated `run` drives it.
pub struct JobBuilder {
    plan: &'static JobPlan,
    config: JobConfig,
    batch_mode: bool,
    parallelism: Vec<Option<usize>>,
    parallelism_checked: bool,
    tasks: JoinSet<TaskOutcome>,
    /// Drains an unbounded job: its sources stop, what is in flight flows to the sinks.
    stop: watch::Sender<bool>,
    /// Cancels a bounded job (Ctrl-C): its tasks are dropped, `run` fails.
    interrupt: Arc<Notify>,
    /// Set once every chain is wired: no task runs before the whole job could be built, so a
    /// job that fails to start (a missing input) has written nothing.
    started: watch::Sender<bool>,
    /// Which chain and subtask each task runs, for errors about a task that died.
    task_names: HashMap<tokio::task::Id, (usize, usize)>,
    /// Checkpointing and restoring, if the job does either.
    checkpoints: Option<CheckpointWiring>,
    /// What each source chain estimated it will produce, in bytes.
    source_estimates: HashMap<usize, Option<u64>>,
    /// The strategies chosen for joins of bounded inputs.
    joins: Vec<crate::join::JoinChoice>,
}

/// The job's side of checkpointing: the trigger sources watch, the channel subtasks
/// acknowledge on, and the checkpoint the job starts from.
struct CheckpointWiring {
    trigger: watch::Sender<u64>,
    /// The newest completed checkpoint, for sinks to commit.
    completed: watch::Sender<u64>,
    acks: std::sync::mpsc::Sender<crate::checkpoint::Ack>,
    acks_in: std::sync::mpsc::Receiver<crate::checkpoint::Ack>,
    restore: Option<Arc<crate::checkpoint::Checkpoint>>,
    /// Where savepoints go and the requests for one.
    savepoints: Option<(
        crate::checkpoint::CheckpointStorage,
        std::sync::mpsc::Receiver<crate::checkpoint::SavepointRequest>,
    )>,
    savepoint_requests: Option<std::sync::mpsc::Sender<crate::checkpoint::SavepointRequest>>,
    /// Where to write checkpoints (streaming jobs with an interval).
    storage: Option<(
        crate::checkpoint::CheckpointStorage,
        crate::checkpoint::CheckpointConfig,
    )>,
}

impl CheckpointWiring {
    fn new(config: &JobConfig, batch_mode: bool) -> Result<Option<Self>> {
        let restore = match &config.restore {
            Some(path) => {
                let (checkpoint, skipped) = crate::checkpoint::Checkpoint::resolve(path)
                    .map_err(|e| Error::Config(format!("cannot restore: {e}")))?;
                for reason in skipped {
                    eprintln!("warning: skipped a checkpoint: {reason}");
                }
                Some(Arc::new(checkpoint))
            }
            None => None,
        };
        let storage = match &config.checkpointing {
            // Batch jobs take no checkpoints: they recover by running again.
            Some(checkpointing) if !batch_mode => {
                let storage = crate::checkpoint::CheckpointStorage::new(
                    &checkpointing.dir,
                    checkpointing.retained,
                )
                .map_err(|e| Error::Config(format!("checkpoint directory: {e}")))?;
                Some((storage, checkpointing.clone()))
            }
            _ => None,
        };
        if restore.is_none() && storage.is_none() {
            return Ok(None);
        }
        let (savepoints, savepoint_requests) = match (&config.savepoint_dir, &storage) {
            (Some(dir), Some(_)) => {
                let savepoint_storage = crate::checkpoint::CheckpointStorage::new(dir, usize::MAX)
                    .map_err(|e| Error::Config(format!("savepoint directory: {e}")))?;
                let (requests, received) = std::sync::mpsc::channel();
                (Some((savepoint_storage, received)), Some(requests))
            }
            (Some(_), None) if !batch_mode => {
                return Err(Error::Config(
                    "savepoints need checkpointing: add --checkpoint-interval and --checkpoint-dir"
                        .into(),
                ))
            }
            _ => (None, None),
        };
        let (acks, acks_in) = std::sync::mpsc::channel();
        Ok(Some(CheckpointWiring {
            savepoints,
            savepoint_requests,
            trigger: watch::channel(0).0,
            completed: watch::channel(0).0,
            acks,
            acks_in,
            restore,
            storage,
        }))
    }

    /// A subtask's handle.
    fn task(&self, chain: usize, subtask: usize) -> crate::checkpoint::TaskCheckpoints {
        crate::checkpoint::TaskCheckpoints::new(
            (chain, subtask),
            self.trigger.subscribe(),
            self.completed.subscribe(),
            self.acks.clone(),
            self.restore.clone(),
        )
    }
}

impl JobBuilder {
    fn new(plan: &'static JobPlan, config: &JobConfig) -> Result<Self> {
        let parallelism = plan
            .chains
            .iter()
            .map(|chain| match chain.parallelism {
                ParallelismSpec::Default => Some(config.parallelism),
                ParallelismSpec::Fixed(n) => Some(n),
                ParallelismSpec::Expr(_) => None,
            })
            .collect();
        Ok(JobBuilder {
            plan,
            batch_mode: config.batch_mode(plan)?,
            config: config.clone(),
            parallelism,
            parallelism_checked: false,
            tasks: JoinSet::new(),
            stop: watch::channel(false).0,
            interrupt: Arc::new(Notify::new()),
            started: watch::channel(false).0,
            task_names: HashMap::new(),
            checkpoints: CheckpointWiring::new(config, config.batch_mode(plan)?)?,
            source_estimates: HashMap::new(),
            joins: Vec::new(),
        })
    }

    /// Starts the checkpoint coordinator once every task is spawned; returns it, to be
    /// awaited for the number of completed checkpoints after the tasks ended.
    fn start_checkpoints(
        &mut self,
    ) -> Result<Option<std::thread::JoinHandle<Vec<crate::checkpoint::CheckpointStats>>>> {
        let Some(wiring) = self.checkpoints.take() else {
            return Ok(None);
        };
        let Some((storage, config)) = wiring.storage else {
            return Ok(None);
        };
        // After a restore of checkpoint `n`, ids go on from `n + 1`.
        let next = wiring.restore.as_ref().map_or(1, |c| c.metadata().id + 1);
        let coordinator =
            crate::checkpoint::CheckpointCoordinator::new(self.task_names.len(), next);
        let setup = crate::checkpoint::CoordinatorSetup {
            storage,
            config,
            trigger: wiring.trigger,
            completed: wiring.completed,
            acks: wiring.acks_in,
            savepoints: wiring.savepoints,
            plan: self.plan,
            parallelism: self.config.parallelism,
            max_parallelism: self.config.max_parallelism,
        };
        // The coordinator's channel closes when the last subtask drops its sender.
        drop(wiring.acks);
        std::thread::Builder::new()
            .name(format!("dataflow-{}-checkpoints", self.plan.name))
            .spawn(move || crate::checkpoint::coordinate(coordinator, setup))
            .map(Some)
            .map_err(|e| Error::Runtime(format!("cannot start the checkpoint coordinator: {e}")))
    }

    /// Sets the parallelism of a chain whose `.parallelism(expr)` is an expression.
    pub fn set_parallelism(&mut self, chain: usize, parallelism: usize) -> Result<()> {
        if parallelism == 0 {
            let op = self.plan.chains[chain].operators[0];
            return Err(Error::Config(format!(
                "operator `{}` has parallelism 0; it must be at least 1",
                self.plan.operators[op].name
            )));
        }
        let head = &self.plan.operators[self.plan.chains[chain].operators[0]];
        if parallelism > 1 && !head.parallel {
            return Err(Error::Config(format!(
                "`{}` is not a parallel source, but its parallelism evaluated to {parallelism}; it must be 1",
                head.name
            )));
        }
        self.parallelism[chain] = Some(parallelism);
        Ok(())
    }

    /// The parallelism a chain runs with.
    pub fn parallelism(&self, chain: usize) -> usize {
        self.parallelism[chain].expect("the generated code sets every expression parallelism first")
    }

    /// Checks every chain's parallelism against its exchanges, once all are known.
    fn check_parallelism(&mut self) -> Result<()> {
        if self.parallelism_checked {
            return Ok(());
        }
        self.parallelism_checked = true;
        for (chain, info) in self.plan.chains.iter().enumerate() {
            let p = self.parallelism(chain);
            if p > self.config.max_parallelism {
                return Err(Error::Config(format!(
                    "chain {chain} (`{}`) has parallelism {p}, above the max parallelism {}; raise --max-parallelism",
                    self.plan.operators[info.operators[0]].name,
                    self.config.max_parallelism
                )));
            }
            for input in info.inputs {
                let upstream = self.parallelism(input.from);
                if input.partitioning == Partitioning::Forward && upstream != p {
                    return Err(Error::Config(format!(
                        "`forward` connects `{}` (parallelism {upstream}) to `{}` (parallelism {p}); \
                         forward needs equal parallelism, use rebalance or rescale instead",
                        self.plan.operators[*self.plan.chains[input.from].operators.last().unwrap_or(&0)].name,
                        self.plan.operators[info.operators[0]].name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Creates the exchange from chain `from` (whose records `upstream` describes) to `to`.
    pub fn connect<C, P>(
        &mut self,
        _upstream: &C,
        from: usize,
        to: usize,
        partitioner: P,
    ) -> Result<Connection<P, P::Wire>>
    where
        C: Produces,
        P: Partitioner<C::Out>,
    {
        self.check_parallelism()?;
        let edge = Edge::new(
            self.parallelism(from),
            self.parallelism(to),
            self.config.exchange.channel_capacity,
        );
        Ok(Connection {
            edge,
            partitioner: Some(partitioner),
        })
    }

    fn task_context(&self, chain: usize, subtask: usize) -> TaskContext {
        TaskContext {
            plan: self.plan,
            chain,
            subtask,
            parallelism: self.parallelism(chain),
            max_parallelism: self.config.max_parallelism,
            batch_mode: self.batch_mode,
            batch_size: self.config.exchange.batch_size,
            linger: self.config.exchange.linger,
            checkpointing: self
                .checkpoints
                .as_ref()
                .is_some_and(|c| c.storage.is_some()),
            restored: self
                .checkpoints
                .as_ref()
                .and_then(|c| c.restore.as_ref())
                .map(|c| c.metadata().id),
            spill: self.config.spill.clone().filter(|_| self.batch_mode),
        }
    }

    /// Spawns the subtasks of a chain that starts at a source.
    pub fn spawn_source_chain<S, Op, E>(
        &mut self,
        chain: usize,
        mut source: S,
        operators: Chain<<S::Source as crate::io::Source>::Item, Op>,
        mut end: E,
    ) -> Result<()>
    where
        S: SourceFactory,
        Op: Operator<<S::Source as crate::io::Source>::Item> + Clone,
        E: ChainEndFactory<Op::Out>,
    {
        self.check_parallelism()?;
        self.source_estimates
            .insert(chain, source.estimated_bytes());
        for subtask in 0..self.parallelism(chain) {
            let ctx = self.task_context(chain, subtask);
            let source = source.create(&ctx)?;
            let end = end.create(&ctx)?;
            let op = operators.clone().into_operator();
            let stop = self.stop.subscribe();
            let started = self.started.subscribe();
            let checkpoints = self.checkpoints.as_ref().map(|c| c.task(chain, subtask));
            let handle = self.tasks.spawn(async move {
                let result = match wait_for_start(started).await {
                    Ok(()) => task::run_source_task(ctx, source, op, end, stop, checkpoints).await,
                    Err(e) => Err(e),
                };
                (chain, subtask, result)
            });
            self.task_names.insert(handle.id(), (chain, subtask));
        }
        Ok(())
    }

    /// The feedback exchange of an iteration: from the chain ending the body (`from`) back to
    /// the head (`to`), typed by the iteration's input (`initial`). Its channels are
    /// unbounded (see [`crate::iterate`]), and records go round robin to the heads (which
    /// do not care how their input is partitioned).
    pub fn connect_feedback<C: Produces>(
        &mut self,
        _initial: &C,
        from: usize,
        to: usize,
    ) -> Result<Connection<crate::exchange::Rebalance, C::Out>>
    where
        C::Out: Send + 'static,
    {
        self.check_parallelism()?;
        // Effectively unbounded: tokio's largest channel.
        let unbounded = usize::MAX >> 4;
        Ok(Connection {
            edge: Edge::new(self.parallelism(from), self.parallelism(to), unbounded),
            partitioner: Some(crate::exchange::Rebalance::default()),
        })
    }

    /// Chooses how the join `operator` (in chain `chain`) runs, from the estimated sizes of
    /// the source chains upstream of its first and second inputs (`None`: an operator on the
    /// way may make the input larger than its sources, so its size is unknown), and tells its
    /// input partitioners through `strategy`. Called once every source is wired, before any
    /// task starts.
    pub fn choose_join(
        &mut self,
        strategy: &crate::join::JoinStrategyCell,
        operator: usize,
        chain: usize,
        sources: [Option<&[usize]>; 2],
        allowed: crate::join::BroadcastAllowed,
    ) {
        let estimate = |sources: Option<&[usize]>| -> Option<u64> {
            sources?.iter().try_fold(0u64, |total, source| {
                Some(total.saturating_add((*self.source_estimates.get(source)?)?))
            })
        };
        let estimates = sources.map(estimate);
        // A restored job finds the join's state by key group, as the hash join keeps it (a
        // checkpoint is taken in streaming mode, which always repartitions).
        let threshold = if self.config.restore.is_some() {
            0
        } else {
            self.config.broadcast_threshold
        };
        let chosen = crate::join::choose_join_strategy(
            estimates,
            allowed,
            self.parallelism(chain),
            threshold,
            self.batch_mode,
        );
        strategy.set(chosen);
        let name = self.plan.operators[operator].name;
        tracing::debug!(join = name, ?estimates, strategy = %chosen, "join strategy chosen");
        self.joins.push(crate::join::JoinChoice {
            operator: name,
            strategy: chosen,
            estimates,
        });
    }

    /// Spawns the subtasks of an iteration head: `initial` feeds superstep 0, `feedback`
    /// brings each superstep's result back, the heads meet at `sync`.
    pub fn spawn_iteration_head<W, Op, E>(
        &mut self,
        chain: usize,
        initial: &mut [&mut dyn Inbound<W>],
        feedback: &mut dyn Inbound<W>,
        operators: Chain<crate::iterate::IterationRecord<W>, Op>,
        mut end: E,
        sync: &Arc<crate::iterate::IterationSync>,
    ) -> Result<()>
    where
        W: Send + 'static,
        Op: Operator<crate::iterate::IterationRecord<W>> + Clone,
        E: ChainEndFactory<Op::Out>,
    {
        self.check_iteration(chain, sync)?;
        let parallelism = self.parallelism(chain);
        sync.add_heads(parallelism);
        for subtask in 0..parallelism {
            let ctx = self.task_context(chain, subtask);
            let initial_receivers = initial
                .iter_mut()
                .flat_map(|input| input.take_receivers(subtask))
                .collect();
            let feedback_receivers = feedback.take_receivers(subtask);
            let end = end.create(&ctx)?;
            let op = operators.clone().into_operator();
            let started = self.started.subscribe();
            let sync = Arc::clone(sync);
            let handle = self.tasks.spawn(async move {
                let result = match wait_for_start(started).await {
                    Ok(()) => {
                        crate::iterate::run_iteration_head_task(
                            ctx,
                            InputGate::new(initial_receivers),
                            InputGate::new(feedback_receivers),
                            op,
                            end,
                            sync,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                };
                (chain, subtask, result)
            });
            self.task_names.insert(handle.id(), (chain, subtask));
        }
        Ok(())
    }

    /// Spawns the subtasks of a delta iteration's head: `solution` and `workset` feed the
    /// initial solution set and workset, `delta` and `next_workset` bring each superstep's
    /// back; the heads meet at `sync` and share `solution_set`.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_delta_head<K, V, W, Op, E>(
        &mut self,
        chain: usize,
        solution: &mut dyn Inbound<V>,
        workset: &mut dyn Inbound<W>,
        delta: &mut dyn Inbound<V>,
        next_workset: &mut dyn Inbound<W>,
        operators: Chain<crate::iterate::IterationRecord<W, V>, Op>,
        mut end: E,
        sync: &Arc<crate::iterate::IterationSync>,
        solution_set: &Arc<crate::delta::SolutionSet<K, V>>,
    ) -> Result<()>
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Send + Sync + 'static,
        W: Send + 'static,
        Op: Operator<crate::iterate::IterationRecord<W, V>> + Clone,
        E: ChainEndFactory<Op::Out>,
    {
        self.check_iteration(chain, sync)?;
        let parallelism = self.parallelism(chain);
        sync.add_heads(parallelism);
        for subtask in 0..parallelism {
            let ctx = self.task_context(chain, subtask);
            let gates = crate::delta::DeltaGates {
                solution: InputGate::new(solution.take_receivers(subtask)),
                workset: InputGate::new(workset.take_receivers(subtask)),
                delta: InputGate::new(delta.take_receivers(subtask)),
                next_workset: InputGate::new(next_workset.take_receivers(subtask)),
            };
            let end = end.create(&ctx)?;
            let op = operators.clone().into_operator();
            let started = self.started.subscribe();
            let (sync, solution_set) = (Arc::clone(sync), Arc::clone(solution_set));
            let handle = self.tasks.spawn(async move {
                let result = match wait_for_start(started).await {
                    Ok(()) => {
                        crate::delta::run_delta_head_task(ctx, gates, op, end, sync, solution_set)
                            .await
                    }
                    Err(e) => Err(e),
                };
                (chain, subtask, result)
            });
            self.task_names.insert(handle.id(), (chain, subtask));
        }
        Ok(())
    }

    /// An iteration runs in batch mode, at least one superstep.
    fn check_iteration(
        &mut self,
        chain: usize,
        sync: &crate::iterate::IterationSync,
    ) -> Result<()> {
        self.check_parallelism()?;
        let name = self.plan.operators[self.plan.chains[chain].operators[0]].name;
        if !self.batch_mode {
            return Err(Error::Config(format!(
                "the iteration `{name}` runs in batch mode only (its supersteps end with their input); run the job with `--mode batch` or `automatic`"
            )));
        }
        if sync.max_supersteps() == 0 {
            return Err(Error::Config(format!(
                "the iteration `{name}` must run at least one superstep"
            )));
        }
        Ok(())
    }

    /// Spawns the subtasks of a chain fed by exchanges (several for a `union`).
    pub fn spawn_input_chain<W, Op, E>(
        &mut self,
        chain: usize,
        inputs: &mut [&mut dyn Inbound<W>],
        operators: Chain<W, Op>,
        mut end: E,
    ) -> Result<()>
    where
        W: Send + 'static,
        Op: Operator<W> + Clone,
        E: ChainEndFactory<Op::Out>,
    {
        self.check_parallelism()?;
        let input_info = self.plan.chains[chain].inputs;
        // The generated code passes the chain's inputs in the plan's order (zipped below).
        debug_assert_eq!(inputs.len(), input_info.len(), "chain {chain}'s inputs");
        let two_inputs = input_info.iter().any(|input| input.second_input);
        for subtask in 0..self.parallelism(chain) {
            let ctx = self.task_context(chain, subtask);
            let mut receivers = Vec::new();
            let mut sides = Vec::new();
            for (input, info) in inputs.iter_mut().zip(input_info) {
                let taken = input.take_receivers(subtask);
                sides.extend(std::iter::repeat_n(info.second_input, taken.len()));
                receivers.extend(taken);
            }
            let end = end.create(&ctx)?;
            let op = operators.clone().into_operator();
            let started = self.started.subscribe();
            let checkpoints = self.checkpoints.as_ref().map(|c| c.task(chain, subtask));
            let at_least_once = self
                .config
                .checkpointing
                .as_ref()
                .is_some_and(|c| c.at_least_once);
            let handle = self.tasks.spawn(async move {
                let result = match wait_for_start(started).await {
                    Ok(()) => {
                        let mut gate = InputGate::new(receivers).at_least_once(at_least_once);
                        if two_inputs {
                            gate = gate.with_sides(sides);
                        }
                        task::run_input_task(ctx, gate, op, end, checkpoints).await
                    }
                    Err(e) => Err(e),
                };
                (chain, subtask, result)
            });
            self.task_names.insert(handle.id(), (chain, subtask));
        }
        Ok(())
    }

    async fn wait(mut self, started: Instant) -> Result<JobReport> {
        let mut first_error: Option<Error> = None;
        let mut disconnected = false;
        let mut totals: Vec<OperatorMetrics> = (0..self.plan.operators.len())
            .map(OperatorMetrics::new)
            .collect();
        let interrupt = Arc::clone(&self.interrupt);
        loop {
            let joined = tokio::select! {
                joined = self.tasks.join_next_with_id() => match joined {
                    Some(joined) => joined,
                    None => break,
                },
                () = interrupt.notified(), if first_error.is_none() => {
                    first_error = Some(Error::Cancelled { job: self.plan.name });
                    self.tasks.abort_all();
                    continue;
                }
            };
            match joined {
                Ok((_, (_, _, Ok(metrics)))) => {
                    for m in metrics {
                        totals[m.operator].records_in += m.records_in;
                        totals[m.operator].records_out += m.records_out;
                        totals[m.operator].spilled_bytes += m.spilled_bytes;
                    }
                }
                Ok((_, (_, _, Err(Error::Disconnected)))) => disconnected = true,
                Ok((_, (chain, subtask, Err(error)))) => {
                    tracing::debug!(chain, subtask, %error, "task failed");
                    if first_error.is_none() {
                        // Fail fast: the other tasks are dropped where they wait, so no sink
                        // writes results that would look complete.
                        first_error = Some(error);
                        self.tasks.abort_all();
                    }
                }
                Err(join_error) if join_error.is_cancelled() => {}
                Err(join_error) => {
                    if first_error.is_none() {
                        let (chain, subtask) = self
                            .task_names
                            .get(&join_error.id())
                            .copied()
                            .unwrap_or_default();
                        first_error = Some(Error::Runtime(format!(
                            "the task of chain {chain} subtask {subtask} died: {join_error}"
                        )));
                        self.tasks.abort_all();
                    }
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        if disconnected {
            return Err(Error::Runtime(
                "a task lost its connection without any task failing".into(),
            ));
        }
        Ok(JobReport {
            job: self.plan.name,
            batch_mode: self.batch_mode,
            // Partitioning functions (`key_by`, ...) run inside the exchange and have no
            // record counts of their own; nor do an iteration's own nodes (the head and the
            // feedback edge), whose records `iteration_step` and `iteration_result` count.
            operators: totals
                .into_iter()
                .filter(|m| {
                    !matches!(
                        self.plan.operators[m.operator].kind,
                        "key_by"
                            | "partition_custom"
                            | "iterate"
                            | "iterate_delta"
                            | "iteration_feedback"
                            | "iteration_delta"
                    )
                })
                .map(|m| OperatorReport {
                    name: self.plan.operators[m.operator].name,
                    records_in: m.records_in,
                    records_out: m.records_out,
                    spilled_bytes: m.spilled_bytes,
                })
                .collect(),
            elapsed: started.elapsed(),
            checkpoints: 0,
            checkpoint_stats: Vec::new(),
            joins: std::mem::take(&mut self.joins),
        })
    }
}

/// Runs a job: `build` (generated by `dataflow!`) wires and spawns its chains, then this waits
/// until every task has ended or one has failed.
pub fn execute(
    plan: &'static JobPlan,
    config: &JobConfig,
    build: impl FnOnce(&mut JobBuilder) -> Result<()>,
) -> Result<JobReport> {
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads.unwrap_or_else(available_cores).max(1))
        .thread_name(format!("dataflow-{}", plan.name))
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the runtime: {e}")))?;
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let mut job = JobBuilder::new(plan, config)?;
        if let Err(error) = build(&mut job) {
            job.tasks.abort_all();
            return Err(error);
        }
        // The handler is installed before any task starts: a Ctrl-C that comes right away
        // must stop the job, not kill the process (the default action).
        let interrupts = if config.stop_on_ctrl_c {
            Some(Interrupts::install()?)
        } else {
            None
        };
        let savepoint_requests = job
            .checkpoints
            .as_mut()
            .and_then(|wiring| wiring.savepoint_requests.take());
        job.started.send_replace(true);
        if let Some(canceller) = &config.canceller {
            let mut cancelled = canceller.cancelled.subscribe();
            let interrupt = Arc::clone(&job.interrupt);
            tokio::spawn(async move {
                if cancelled.wait_for(|c| *c).await.is_ok() {
                    interrupt.notify_one();
                }
            });
        }
        if let Some(mut interrupts) = interrupts {
            // An unbounded job is stopped by design: Ctrl-C drains it and it ends normally.
            // A bounded job stopped early has incomplete results: Ctrl-C cancels it.
            let (stop, interrupt, bounded) =
                (job.stop.clone(), Arc::clone(&job.interrupt), plan.bounded);
            tokio::spawn(async move {
                let mut presses = 0;
                while interrupts.next().await {
                    presses += 1;
                    if presses == 1 {
                        if let Some(requests) = &savepoint_requests {
                            take_savepoint(requests).await;
                        }
                    }
                    match presses {
                        1 if !bounded => {
                            tracing::info!("Ctrl-C: stopping the sources and draining");
                            let _ = stop.send(true);
                        }
                        // A bounded job, or a drain that did not finish: cancel.
                        1 | 2 => {
                            tracing::info!("Ctrl-C: cancelling the job");
                            interrupt.notify_one();
                        }
                        // Something does not let go (a closure that never returns): leave.
                        _ => {
                            eprintln!("interrupted");
                            std::process::exit(130);
                        }
                    }
                }
            });
        }
        let coordinator = job.start_checkpoints()?;
        let mut report = job.wait(started).await?;
        if let Some(coordinator) = coordinator {
            // Every subtask has ended: the coordinator's channel is closed, it returns.
            report.checkpoint_stats = coordinator.join().unwrap_or_default();
            report.checkpoints = report.checkpoint_stats.len() as u64;
        }
        Ok(report)
    });
    // Every task has ended or was dropped at an await; a task stuck in user code that never
    // returns must not hold `run` (or the binary's exit) hostage, so nothing is waited for.
    runtime.shutdown_background();
    outcome
}

/// Asks the coordinator for a savepoint and waits for it (a minute at most), saying where
/// it went or why there is none.
async fn take_savepoint(requests: &std::sync::mpsc::Sender<crate::checkpoint::SavepointRequest>) {
    let (reply, replied) = std::sync::mpsc::channel();
    if requests.send(reply).is_err() {
        eprintln!("no savepoint: the job is ending");
        return;
    }
    eprintln!("taking a savepoint before stopping");
    let outcome =
        tokio::task::spawn_blocking(move || replied.recv_timeout(Duration::from_secs(60))).await;
    match outcome {
        Ok(Ok(Ok(dir))) => eprintln!("savepoint written to `{}`", dir.display()),
        Ok(Ok(Err(reason))) => eprintln!("no savepoint: {reason}"),
        _ => eprintln!("no savepoint: it did not complete within a minute"),
    }
}

/// Ctrl-C presses (and SIGTERM), listened to from the moment of [`Interrupts::install`].
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Installs the handler now (on Unix; elsewhere on the first wait).
    fn install() -> Result<Self> {
        #[cfg(unix)]
        {
            let listen = |kind| {
                tokio::signal::unix::signal(kind)
                    .map_err(|e| Error::Runtime(format!("cannot listen for Ctrl-C: {e}")))
            };
            Ok(Interrupts {
                signal: listen(tokio::signal::unix::SignalKind::interrupt())?,
                terminate: listen(tokio::signal::unix::SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Interrupts {})
    }

    /// The next press; `false` if no more can come.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            tokio::select! {
                pressed = self.signal.recv() => pressed.is_some(),
                terminated = self.terminate.recv() => terminated.is_some(),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_strategies_space_and_bound_their_restarts() {
        assert_eq!(RestartStrategy::None.delay(0), None);
        let fixed = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(30),
        };
        assert_eq!(fixed.delay(0), Some(Duration::from_millis(30)));
        assert_eq!(fixed.delay(1), Some(Duration::from_millis(30)));
        assert_eq!(fixed.delay(2), None);
        let backoff = RestartStrategy::ExponentialBackoff {
            attempts: 10,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let delays: Vec<u128> = (0..5)
            .map(|i| backoff.delay(i).unwrap().as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        assert_eq!(backoff.delay(10), None);
    }
}
