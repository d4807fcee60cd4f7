//! The built-in sinks: stdout, text files, in-memory collection, and a black hole.

use std::fmt::{Debug, Display, Write as _};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::element::Timestamp;
use crate::error::Result;
use crate::job::TaskContext;
use crate::operator::{Emit, OperatorMetrics, OperatorScope, Produces};
use crate::task::{ChainEnd, ChainEndFactory};

/// Where `write_lines` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineTarget {
    /// Standard output.
    Stdout,
    /// A file at parallelism 1, or a directory of `part-<subtask>` files at parallelism > 1
    /// (Flink's file output layout).
    Path(PathBuf),
}

impl From<PathBuf> for LineTarget {
    fn from(path: PathBuf) -> Self {
        LineTarget::Path(path)
    }
}

impl From<&std::path::Path> for LineTarget {
    fn from(path: &std::path::Path) -> Self {
        LineTarget::Path(path.to_path_buf())
    }
}

impl From<&str> for LineTarget {
    fn from(path: &str) -> Self {
        LineTarget::Path(path.into())
    }
}

impl From<String> for LineTarget {
    fn from(path: String) -> Self {
        LineTarget::Path(path.into())
    }
}

/// `None` writes to standard output: handy for an optional `output` job parameter.
impl<P: Into<LineTarget>> From<Option<P>> for LineTarget {
    fn from(path: Option<P>) -> Self {
        path.map_or(LineTarget::Stdout, Into::into)
    }
}

/// How a sink consumes records.
pub trait RecordWriter<T>: Send + 'static {
    /// Handles one record; text sinks append to `buffer`.
    fn write(&mut self, value: T, buffer: &mut String);
}

/// Formats with `Debug`, prefixed like Flink's `print()` at parallelism > 1.
#[derive(Clone)]
pub struct DebugLines {
    prefix: String,
}

impl<T: Debug> RecordWriter<T> for DebugLines {
    #[inline]
    fn write(&mut self, value: T, buffer: &mut String) {
        // Writing into a String cannot fail.
        let _ = writeln!(buffer, "{}{value:?}", self.prefix);
    }
}

/// Formats with the user's function.
#[derive(Clone)]
pub struct FormattedLines<F>(F);

impl<T, S: Display, F: FnMut(T) -> S + Send + 'static> RecordWriter<T> for FormattedLines<F> {
    #[inline]
    fn write(&mut self, value: T, buffer: &mut String) {
        let _ = writeln!(buffer, "{}", (self.0)(value));
    }
}

/// Keeps records in memory for a [`Collected`] handle.
pub struct Collecting<T> {
    local: Vec<T>,
    /// Records counted (a counting handle).
    counted: u64,
    handle: Collected<T>,
}

impl<T: Send + 'static> RecordWriter<T> for Collecting<T> {
    #[inline]
    fn write(&mut self, value: T, _buffer: &mut String) {
        if self.handle.counting {
            self.counted += 1;
            drop(std::hint::black_box(value));
        } else {
            self.local.push(value);
        }
    }
}

/// Drops records, keeping the optimizer from deleting the work that made them.
#[derive(Clone, Copy)]
pub struct Discarding;

impl<T> RecordWriter<T> for Discarding {
    #[inline(always)]
    fn write(&mut self, value: T, _buffer: &mut String) {
        drop(std::hint::black_box(value));
    }
}

/// A sink: a [`RecordWriter`] plus where its text goes.
pub struct Sink<W> {
    writer: W,
    buffer: String,
    output: Option<Box<dyn Write + Send>>,
    describe: String,
    /// A write error met inside `emit` (which cannot fail), reported by the next flush.
    deferred_error: Option<crate::error::Error>,
    ctx: TaskContext,
    operator: usize,
    /// Under checkpointing, a file sink's output goes through a two-phase commit instead of
    /// `output`; with the last checkpoint it pre-committed.
    transactional: Option<(super::transactional::TransactionalFiles, u64)>,
}

/// Past this much buffered text a sink writes out at once, even in the middle of a batch (a
/// batch-mode aggregate emitting all its keys at end of input): its memory stays bounded.
const WRITE_OUT_AT: usize = 1 << 20;

impl<T, W: RecordWriter<T>> Emit<T> for Sink<W> {
    #[inline(always)]
    fn emit(&mut self, value: T, _timestamp: Option<Timestamp>) {
        let scope = OperatorScope::enter(self.operator);
        self.writer.write(value, &mut self.buffer);
        scope.exit();
        if self.buffer.len() >= WRITE_OUT_AT && self.deferred_error.is_none() {
            self.deferred_error = self.write_out().err();
        }
    }

    /// A transactional sink pre-commits what it wrote for this checkpoint.
    fn emit_barrier(&mut self, checkpoint: u64) {
        if self.transactional.is_none() || self.deferred_error.is_some() {
            return;
        }
        let written = self.write_out();
        let (files, last) = self.transactional.as_mut().expect("checked above");
        *last = checkpoint;
        let pre_committed = written.and_then(|()| {
            files
                .pre_commit(checkpoint)
                .map_err(|e| self.ctx.io_error(self.operator, e))
        });
        self.deferred_error = pre_committed.err();
    }
}

impl<W> Sink<W> {
    /// Writes the buffered text out (the only buffering: the output is unbuffered, so
    /// what a flush wrote has reached the file or stream).
    fn write_out(&mut self) -> Result<()> {
        if let Some(error) = self.deferred_error.take() {
            return Err(error);
        }
        let written = match (&mut self.transactional, self.output.as_mut()) {
            _ if self.buffer.is_empty() => Ok(()),
            (Some((files, _)), _) => files.write(self.buffer.as_bytes()),
            (None, Some(output)) => output.write_all(self.buffer.as_bytes()),
            (None, None) => Ok(()),
        };
        self.buffer.clear();
        written.map_err(|e| {
            let e = io::Error::new(
                e.kind(),
                format!("writing to {} failed: {e}", self.describe),
            );
            self.ctx.io_error(self.operator, e)
        })
    }
}

/// Collecting sinks hand their records over at end of input.
trait Finalize {
    fn finalize(&mut self) {}
}

impl<T> Finalize for Collecting<T> {
    fn finalize(&mut self) {
        self.handle
            .counted
            .fetch_add(self.counted, std::sync::atomic::Ordering::Relaxed);
        let mut shared = self
            .handle
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        shared.append(&mut self.local);
    }
}
impl Finalize for DebugLines {}
impl<F> Finalize for FormattedLines<F> {}
impl Finalize for Discarding {}

#[allow(private_bounds)]
impl<T, W: RecordWriter<T> + Finalize> ChainEnd<T> for Sink<W> {
    async fn flush(&mut self, partial: bool) -> Result<()> {
        // Text is written in large pieces: after every input batch once 64 KiB piled up, and
        // whenever the task goes idle.
        if partial || self.buffer.len() >= 64 * 1024 {
            self.write_out()?;
        }
        Ok(())
    }

    fn checkpoint_error(&mut self) -> Result<()> {
        match self.deferred_error.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<()> {
        match &mut self.transactional {
            Some((files, _)) => files
                .commit(checkpoint)
                .map_err(|e| self.ctx.io_error(self.operator, e)),
            None => Ok(()),
        }
    }

    async fn finish(&mut self) -> Result<()> {
        self.write_out()?;
        if let Some((files, last)) = &mut self.transactional {
            // End of input: everything is final, as after a last checkpoint.
            let closing = *last + 1;
            files
                .pre_commit(closing)
                .and_then(|()| files.commit(u64::MAX))
                .map_err(|e| self.ctx.io_error(self.operator, e))?;
        }
        if let Some(output) = self.output.as_mut() {
            output.flush().map_err(|e| {
                self.ctx.io_error(
                    self.operator,
                    io::Error::new(
                        e.kind(),
                        format!("writing to {} failed: {e}", self.describe),
                    ),
                )
            })?;
        }
        self.writer.finalize();
        Ok(())
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) {
        into.push(OperatorMetrics {
            operator: self.operator,
            records_in,
            records_out: 0,
            spilled_bytes: 0,
        });
    }
}

/// Creates a sink per subtask.
#[derive(Clone)]
pub struct SinkFactory<K> {
    operator: usize,
    kind: K,
}

fn sink<W>(
    ctx: &TaskContext,
    operator: usize,
    writer: W,
    output: Option<Box<dyn Write + Send>>,
    describe: String,
) -> Sink<W> {
    Sink {
        writer,
        buffer: String::new(),
        output,
        describe,
        deferred_error: None,
        ctx: ctx.clone(),
        operator,
        transactional: None,
    }
}

/// `print()`: each record's `Debug` form on its own line of standard output, prefixed by
/// `<subtask + 1>> ` when the sink runs at parallelism > 1, as Flink does.
pub fn print<C: Produces>(operator: usize, _upstream: &C) -> impl ChainEndFactory<C::Out>
where
    C::Out: Debug + Send + 'static,
{
    SinkFactory {
        operator,
        kind: PrintSink,
    }
}

/// Marker of [`print`].
#[derive(Clone, Copy)]
pub struct PrintSink;

impl<T: Debug + Send + 'static> ChainEndFactory<T> for SinkFactory<PrintSink> {
    type End = Sink<DebugLines>;
    fn create(&mut self, ctx: &TaskContext) -> Result<Self::End> {
        let prefix = if ctx.parallelism > 1 {
            format!("{}> ", ctx.subtask + 1)
        } else {
            String::new()
        };
        Ok(sink(
            ctx,
            self.operator,
            DebugLines { prefix },
            Some(Box::new(io::stdout())),
            "standard output".into(),
        ))
    }
}

/// `write_lines(target, format)`: one line per record, `format(record)` followed by `\n`.
pub fn write_lines<C, F, S>(
    operator: usize,
    _upstream: &C,
    target: impl Into<LineTarget>,
    format: F,
) -> impl ChainEndFactory<C::Out>
where
    C: Produces,
    C::Out: Send + 'static,
    S: Display,
    F: FnMut(C::Out) -> S + Clone + Send + 'static,
{
    SinkFactory {
        operator,
        kind: WriteLinesSink {
            target: target.into(),
            format,
        },
    }
}

/// Settings of [`write_lines`].
#[derive(Clone)]
pub struct WriteLinesSink<F> {
    target: LineTarget,
    format: F,
}

impl<T, S, F> ChainEndFactory<T> for SinkFactory<WriteLinesSink<F>>
where
    T: Send + 'static,
    S: Display,
    F: FnMut(T) -> S + Clone + Send + 'static,
{
    type End = Sink<FormattedLines<F>>;
    fn create(&mut self, ctx: &TaskContext) -> Result<Self::End> {
        let writer = FormattedLines(self.kind.format.clone());
        if let (LineTarget::Path(dir), true) = (
            &self.kind.target,
            ctx.checkpointing || ctx.restored.is_some(),
        ) {
            // Exactly once: a directory of `part-<subtask>-<checkpoint>` files, each made
            // visible when its checkpoint completes.
            let files =
                transactional_output(dir, ctx).map_err(|e| ctx.io_error(self.operator, e))?;
            let mut sink = sink(
                ctx,
                self.operator,
                writer,
                None,
                format!("`{}`", dir.display()),
            );
            sink.transactional = Some((files, ctx.restored.unwrap_or(0)));
            return Ok(sink);
        }
        let (output, describe): (Box<dyn Write + Send>, String) = match &self.kind.target {
            LineTarget::Stdout => (Box::new(io::stdout()), "standard output".into()),
            LineTarget::Path(path) => {
                let file = if ctx.parallelism == 1 {
                    path.clone()
                } else {
                    fs::create_dir_all(path).map_err(|e| {
                        ctx.io_error(
                            self.operator,
                            io::Error::new(
                                e.kind(),
                                format!("cannot create directory `{}`: {e}", path.display()),
                            ),
                        )
                    })?;
                    if ctx.subtask == 0 {
                        // Output replaces the previous run's, as a file at parallelism 1 is
                        // truncated: part files of a run at higher parallelism must not
                        // survive. Subtask 0's sink is created before any subtask runs.
                        remove_part_files(path).map_err(|e| ctx.io_error(self.operator, e))?;
                    }
                    path.join(format!("part-{}", ctx.subtask))
                };
                let opened = File::create(&file).map_err(|e| {
                    ctx.io_error(
                        self.operator,
                        io::Error::new(
                            e.kind(),
                            format!("cannot create `{}`: {e}", file.display()),
                        ),
                    )
                })?;
                (Box::new(opened), format!("`{}`", file.display()))
            }
        };
        Ok(sink(ctx, self.operator, writer, Some(output), describe))
    }
}

/// Opens subtask `ctx.subtask`'s transactional output in `dir`. Subtask 0 (whose sink is
/// created before any subtask runs) settles what earlier runs left, for every subtask of
/// theirs (the parallelism may have changed): after a restore of checkpoint `r`, output
/// pending for checkpoints up to `r` is committed and everything newer discarded; without a
/// restore, earlier output is removed.
fn transactional_output(
    dir: &std::path::Path,
    ctx: &TaskContext,
) -> io::Result<super::transactional::TransactionalFiles> {
    fs::create_dir_all(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create directory `{}`: {e}", dir.display()),
        )
    })?;
    if ctx.subtask == 0 {
        settle_earlier_output(dir, ctx.restored)?;
    }
    super::transactional::TransactionalFiles::new(dir, format!("part-{}", ctx.subtask))
}

/// The subtask number of a part file name (`part-3-7`, `.part-3-7.pending`,
/// `.part-3.inprogress`).
fn part_prefix(name: &str) -> Option<String> {
    let rest = name
        .strip_prefix('.')
        .unwrap_or(name)
        .strip_prefix("part-")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("part-{digits}"))
}

/// Commits or discards what earlier runs left in `dir` (see [`transactional_output`]).
fn settle_earlier_output(dir: &std::path::Path, restored: Option<u64>) -> io::Result<()> {
    let mut prefixes = std::collections::BTreeSet::new();
    for entry in fs::read_dir(dir)? {
        if let Some(prefix) = entry?.file_name().to_str().and_then(part_prefix) {
            prefixes.insert(prefix);
        }
    }
    for prefix in prefixes {
        super::transactional::recover(dir, &prefix, restored)?;
        let committed = format!("{prefix}-");
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&committed))
                .and_then(|id| id.parse::<u64>().ok())
            else {
                continue;
            };
            // Committed by a later checkpoint than the restored one (or by an earlier run).
            if restored.is_none_or(|r| id > r) {
                fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

/// Removes the `part-<n>` files of an earlier run from an output directory.
fn remove_part_files(dir: &std::path::Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_part = name
            .to_str()
            .and_then(|n| n.strip_prefix("part-"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_part {
            fs::remove_file(entry.path()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot replace `{}`: {e}", entry.path().display()),
                )
            })?;
        }
    }
    Ok(())
}

/// `collect(handle)`: gathers every record into `handle` (a job parameter), for tests and
/// small results. Each subtask hands its records over at end of input.
pub fn collect<C, T>(
    operator: usize,
    _upstream: &C,
    handle: &Collected<T>,
) -> impl ChainEndFactory<T>
where
    C: Produces<Out = T>,
    T: Send + 'static,
{
    SinkFactory {
        operator,
        kind: handle.clone(),
    }
}

impl<T: Send + 'static> ChainEndFactory<T> for SinkFactory<Collected<T>> {
    type End = Sink<Collecting<T>>;
    fn create(&mut self, ctx: &TaskContext) -> Result<Self::End> {
        let writer = Collecting {
            local: Vec::new(),
            counted: 0,
            handle: self.kind.clone(),
        };
        Ok(sink(
            ctx,
            self.operator,
            writer,
            None,
            "a collect handle".into(),
        ))
    }
}

/// `discard()`: a black hole, for benchmarks.
pub fn discard<C: Produces>(operator: usize, _upstream: &C) -> impl ChainEndFactory<C::Out>
where
    C::Out: Send + 'static,
{
    SinkFactory {
        operator,
        kind: Discarding,
    }
}

impl<T: Send + 'static> ChainEndFactory<T> for SinkFactory<Discarding> {
    type End = Sink<Discarding>;
    fn create(&mut self, ctx: &TaskContext) -> Result<Self::End> {
        Ok(sink(ctx, self.operator, Discarding, None, "nothing".into()))
    }
}

/// A shared handle a `collect` sink fills; pass it to the job as a parameter and read it after
/// `run` returns.
///
/// ```
/// let handle = dataflow_runtime::io::Collected::<u64>::new();
/// assert!(handle.take().is_empty());
/// ```
pub struct Collected<T> {
    records: Arc<Mutex<Vec<T>>>,
    /// Counting only: records are counted and dropped (a benchmark's black hole).
    counting: bool,
    counted: Arc<std::sync::atomic::AtomicU64>,
}

impl<T> Clone for Collected<T> {
    fn clone(&self) -> Self {
        Collected {
            records: Arc::clone(&self.records),
            counting: self.counting,
            counted: Arc::clone(&self.counted),
        }
    }
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Collected {
            records: Arc::new(Mutex::new(Vec::new())),
            counting: false,
            counted: Arc::default(),
        }
    }
}

impl<T> Collected<T> {
    /// An empty handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle that only counts the records (and drops them): the same job as with
    /// [`Collected::new`], as a black hole for benchmarks.
    pub fn counting() -> Self {
        Collected {
            counting: true,
            ..Self::default()
        }
    }

    /// How many records reached the sink: counted, or collected so far.
    pub fn count(&self) -> u64 {
        if self.counting {
            self.counted.load(std::sync::atomic::Ordering::Relaxed)
        } else {
            self.records.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
        }
    }

    /// Takes the records collected so far (in no defined order across subtasks).
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes the records collected so far, sorted.
    pub fn take_sorted(&self) -> Vec<T>
    where
        T: Ord,
    {
        let mut records = self.take();
        records.sort();
        records
    }
}

impl<T> Debug for Collected<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collected").finish_non_exhaustive()
    }
}
