//! The built-in sources: collections, generators, files and sockets.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Source, SourceFactory, SourceStatus};
use crate::error::Result;
use crate::job::TaskContext;
use crate::operator::{Emit, OperatorMetrics, OperatorScope, Produces};

/// `from_iter(collection)`: a bounded source over any iterable, at parallelism 1.
pub fn from_iter<I>(operator: usize, items: I) -> FromIter<I::IntoIter>
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    FromIter {
        items: Some(items.into_iter()),
        metrics: OperatorMetrics::new(operator),
    }
}

/// The source (and factory) of [`from_iter`].
pub struct FromIter<It> {
    items: Option<It>,
    metrics: OperatorMetrics,
}

impl<It: Iterator> Produces for FromIter<It> {
    type Out = It::Item;
}

impl<It> SourceFactory for FromIter<It>
where
    It: Iterator + Send + 'static,
    It::Item: Send + 'static,
{
    type Source = FromIter<It>;

    fn create(&mut self, _ctx: &TaskContext) -> Result<Self::Source> {
        // The plan gives this source parallelism 1, so only subtask 0 exists; a second call
        // would find the collection taken and produce nothing, which the plan rules out.
        Ok(FromIter {
            items: self.items.take(),
            metrics: self.metrics,
        })
    }

    /// The collection's length (when its iterator knows it exactly) times the size of an
    /// item. Unknown for items that need dropping: they may own heap data (`String`s) that
    /// the size of the type does not count.
    fn estimated_bytes(&self) -> Option<u64> {
        if std::mem::needs_drop::<It::Item>() {
            return None;
        }
        let (lower, upper) = self.items.as_ref()?.size_hint();
        (upper == Some(lower))
            .then(|| (lower as u64).saturating_mul(std::mem::size_of::<It::Item>().max(1) as u64))
    }
}

impl<It> Source for FromIter<It>
where
    It: Iterator + Send + 'static,
    It::Item: Send + 'static,
{
    type Item = It::Item;

    fn poll_batch<E: Emit<It::Item>>(
        &mut self,
        max: usize,
        out: &mut E,
    ) -> io::Result<SourceStatus> {
        let Some(items) = self.items.as_mut() else {
            return Ok(SourceStatus::Ended);
        };
        let scope = OperatorScope::enter(self.metrics.operator);
        for _ in 0..max {
            match items.next() {
                Some(item) => {
                    self.metrics.records_out += 1;
                    out.emit(item, None);
                }
                None => {
                    scope.exit();
                    self.items = None;
                    return Ok(SourceStatus::Ended);
                }
            }
        }
        scope.exit();
        Ok(SourceStatus::Produced)
    }

    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(self.metrics);
        self.metrics.records_out
    }

    /// How many items were produced (the collection is made again by the restored job).
    fn position(&self) -> Option<Vec<u8>> {
        super::encode_position(&self.metrics.records_out)
    }

    fn seek(&mut self, position: &[u8]) -> io::Result<()> {
        let produced: u64 = super::decode_position(position)?;
        if let Some(items) = self.items.as_mut() {
            for _ in 0..produced {
                if items.next().is_none() {
                    self.items = None;
                    break;
                }
            }
        }
        self.metrics.records_out = produced;
        Ok(())
    }
}

/// `generate(n, f)`: a bounded parallel source of `f(0) .. f(n-1)`; subtask `k` of `p`
/// produces the contiguous share `[k*n/p, (k+1)*n/p)`.
pub fn generate<T, F>(operator: usize, n: u64, f: F) -> Generate<F>
where
    F: FnMut(u64) -> T + Clone + Send + 'static,
    T: Send + 'static,
{
    Generate {
        f,
        next: 0,
        end: n,
        more: Vec::new(),
        total: n,
        metrics: OperatorMetrics::new(operator),
    }
}

/// The source (and factory) of [`generate`].
#[derive(Clone)]
pub struct Generate<F> {
    f: F,
    /// The range being produced, `next..end`.
    next: u64,
    end: u64,
    /// Ranges still to produce after it (a subtask restored at a lower parallelism takes
    /// over the ranges of several earlier subtasks).
    more: Vec<(u64, u64)>,
    /// `n`: every index is below it.
    total: u64,
    metrics: OperatorMetrics,
}

impl<T, F: FnMut(u64) -> T> Produces for Generate<F> {
    type Out = T;
}

impl<T, F> SourceFactory for Generate<F>
where
    F: FnMut(u64) -> T + Clone + Send + 'static,
    T: Send + 'static,
{
    type Source = Generate<F>;

    fn create(&mut self, ctx: &TaskContext) -> Result<Self::Source> {
        let n = self.end as u128;
        let (k, p) = (ctx.subtask as u128, ctx.parallelism as u128);
        Ok(Generate {
            f: self.f.clone(),
            next: (k * n / p) as u64,
            end: ((k + 1) * n / p) as u64,
            more: Vec::new(),
            total: self.total,
            metrics: self.metrics,
        })
    }

    /// `n` records of the size of one (unknown for records that may own heap data, as for
    /// [`FromIter`]).
    fn estimated_bytes(&self) -> Option<u64> {
        if std::mem::needs_drop::<T>() {
            return None;
        }
        Some(
            self.total
                .saturating_mul(std::mem::size_of::<T>().max(1) as u64),
        )
    }
}

impl<T, F> Source for Generate<F>
where
    F: FnMut(u64) -> T + Clone + Send + 'static,
    T: Send + 'static,
{
    type Item = T;

    #[inline]
    fn poll_batch<E: Emit<T>>(&mut self, max: usize, out: &mut E) -> io::Result<SourceStatus> {
        while self.next == self.end {
            match self.more.pop() {
                Some((next, end)) => (self.next, self.end) = (next, end),
                None => return Ok(SourceStatus::Ended),
            }
        }
        let stop = self.end.min(self.next.saturating_add(max as u64));
        let scope = OperatorScope::enter(self.metrics.operator);
        for i in self.next..stop {
            out.emit((self.f)(i), None);
        }
        scope.exit();
        self.metrics.records_out += stop - self.next;
        self.next = stop;
        Ok(if self.next == self.end && self.more.is_empty() {
            SourceStatus::Ended
        } else {
            SourceStatus::Produced
        })
    }

    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(self.metrics);
        self.metrics.records_out
    }

    /// The ranges of indexes still to produce.
    fn position(&self) -> Option<Vec<u8>> {
        let mut ranges = vec![(self.next, self.end)];
        ranges.extend(self.more.iter().rev().copied());
        ranges.retain(|(next, end)| next < end);
        super::encode_position(&ranges)
    }

    fn seek(&mut self, position: &[u8]) -> io::Result<()> {
        self.restore_positions(&[position.to_vec()])
    }

    /// Takes over the remaining ranges of the earlier subtasks given (any number: the
    /// parallelism may have changed).
    fn restore_positions(&mut self, positions: &[Vec<u8>]) -> io::Result<()> {
        let mut ranges = Vec::new();
        for position in positions {
            let mut more: Vec<(u64, u64)> = super::decode_position(position)?;
            if let Some(&(next, end)) = more.iter().find(|(n, e)| n > e || *e > self.total) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "the position {next}..{end} is not a range of this source (0..{}): was the checkpoint taken with another `n`?",
                        self.total
                    ),
                ));
            }
            ranges.append(&mut more);
        }
        // Produced in order: the first range last in `more`.
        ranges.reverse();
        self.next = 0;
        self.end = 0;
        self.more = ranges;
        Ok(())
    }
}

/// `read_lines(path)`: a bounded parallel source of the lines of a UTF-8 text file.
///
/// The file is split into `p` byte ranges; a line belongs to the range holding its first
/// byte, so every line is read exactly once whatever the parallelism (as Hadoop's and
/// Flink's text input formats do). Line ends (`\n` or `\r\n`) are removed.
pub fn read_lines(operator: usize, path: impl AsRef<Path>) -> ReadLines {
    ReadLines {
        path: path.as_ref().to_path_buf(),
        operator,
        length: None,
    }
}

/// The factory of [`read_lines`].
#[derive(Clone)]
pub struct ReadLines {
    path: PathBuf,
    operator: usize,
    /// The file's length, read once for all subtasks: splits computed from different
    /// lengths (a file that grows meanwhile) would overlap or leave gaps.
    length: Option<u64>,
}

impl Produces for ReadLines {
    type Out = String;
}

/// One subtask's byte range of a file.
pub struct FileSplit {
    reader: BufReader<File>,
    path: PathBuf,
    /// Offset of the next unread byte.
    position: u64,
    /// Lines starting at or after this offset belong to the next split.
    end: u64,
    /// Byte ranges still to read after this one (a subtask restored at a lower parallelism
    /// takes over those of several earlier subtasks), the next one last.
    more: Vec<(u64, u64)>,
    buffer: Vec<u8>,
    metrics: OperatorMetrics,
}

impl SourceFactory for ReadLines {
    type Source = FileSplit;

    /// The file's size (unknown if it cannot be read; `create` then reports why).
    fn estimated_bytes(&self) -> Option<u64> {
        let metadata = std::fs::metadata(&self.path).ok()?;
        metadata.is_file().then_some(metadata.len())
    }

    fn create(&mut self, ctx: &TaskContext) -> Result<FileSplit> {
        let mut open = || -> io::Result<FileSplit> {
            let file = File::open(&self.path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot open `{}`: {e}", self.path.display()),
                )
            })?;
            let metadata = file.metadata()?;
            if metadata.is_dir() {
                return Err(io::Error::other(format!(
                    "`{}` is a directory, not a file",
                    self.path.display()
                )));
            }
            let length = *self.length.get_or_insert(metadata.len());
            let (k, p) = (ctx.subtask as u64, ctx.parallelism as u64);
            let start = k * length / p;
            let end = (k + 1) * length / p;
            let mut reader = BufReader::with_capacity(256 * 1024, file);
            let mut position = start;
            if start > 0 {
                // Skip the line that started in the previous split: seek one byte back so a
                // line starting exactly at `start` (previous byte is '\n') stays ours.
                reader.seek(SeekFrom::Start(start - 1))?;
                let mut skipped = Vec::new();
                position = start - 1 + reader.read_until(b'\n', &mut skipped)? as u64;
            }
            Ok(FileSplit {
                reader,
                path: self.path.clone(),
                position,
                end,
                more: Vec::new(),
                buffer: Vec::new(),
                metrics: OperatorMetrics::new(self.operator),
            })
        };
        open().map_err(|e| ctx.io_error(self.operator, e))
    }
}

impl Source for FileSplit {
    type Item = String;

    fn poll_batch<E: Emit<String>>(&mut self, max: usize, out: &mut E) -> io::Result<SourceStatus> {
        for _ in 0..max {
            self.buffer.clear();
            let read = if self.position >= self.end {
                0
            } else {
                self.reader.read_until(b'\n', &mut self.buffer)?
            };
            if read == 0 {
                // This range is done: on to the next one taken over from a checkpoint.
                match self.more.pop() {
                    Some((offset, end)) => {
                        self.reader.seek(SeekFrom::Start(offset))?;
                        (self.position, self.end) = (offset, end);
                        continue;
                    }
                    None => return Ok(SourceStatus::Ended),
                }
            }
            let line_start = self.position;
            self.position += read as u64;
            if self.buffer.last() == Some(&b'\n') {
                self.buffer.pop();
                if self.buffer.last() == Some(&b'\r') {
                    self.buffer.pop();
                }
            }
            // The read buffer is reused; each line gets one allocation of its exact size.
            let line = std::str::from_utf8(&self.buffer)
                .map(str::to_owned)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "`{}`: the line at byte offset {line_start} is not valid UTF-8 ({e})",
                            self.path.display(),
                        ),
                    )
                })?;
            self.metrics.records_out += 1;
            out.emit(line, None);
        }
        Ok(SourceStatus::Produced)
    }

    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(self.metrics);
        self.metrics.records_out
    }

    /// The byte ranges still to read (from the next line on), and the lines read so far.
    fn position(&self) -> Option<Vec<u8>> {
        let mut ranges = vec![(self.position, self.end)];
        ranges.extend(self.more.iter().rev().copied());
        ranges.retain(|(start, end)| start < end);
        super::encode_position(&(ranges, self.metrics.records_out))
    }

    /// Takes over the remaining ranges of the earlier subtasks given.
    fn restore_positions(&mut self, positions: &[Vec<u8>]) -> io::Result<()> {
        let mut ranges = Vec::new();
        let mut produced = 0;
        for position in positions {
            let (mut more, lines): (Vec<(u64, u64)>, u64) = super::decode_position(position)?;
            ranges.append(&mut more);
            produced += lines;
        }
        ranges.reverse();
        // Nothing of this subtask's own split is left unless a position gave it back.
        self.end = self.position;
        self.more = ranges;
        self.metrics.records_out = produced;
        Ok(())
    }

    fn seek(&mut self, position: &[u8]) -> io::Result<()> {
        self.restore_positions(&[position.to_vec()])
    }
}

/// `socket_lines(addr)`: an unbounded source of the UTF-8 lines a TCP server sends, at
/// parallelism 1. It ends when the server closes the connection (after emitting a last
/// unterminated line, if any); a connection error fails the job.
pub fn socket_lines(operator: usize, address: impl ToString) -> SocketLines {
    SocketLines {
        address: address.to_string(),
        operator,
    }
}

/// How long `socket_lines` waits for its server to accept the connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The factory of [`socket_lines`].
#[derive(Clone)]
pub struct SocketLines {
    address: String,
    operator: usize,
}

impl Produces for SocketLines {
    type Out = String;
}

/// The connected reader of [`socket_lines`].
pub struct SocketReader {
    stream: tokio::net::TcpStream,
    address: String,
    /// Bytes received; those before `line_start` are already emitted.
    pending: Vec<u8>,
    /// Where the next line starts in `pending`.
    line_start: usize,
    /// Up to where `pending` is known to hold no newline, so each byte is scanned once.
    scanned: usize,
    chunk: Box<[u8]>,
    closed: bool,
    metrics: OperatorMetrics,
}

impl SourceFactory for SocketLines {
    type Source = SocketReader;

    fn create(&mut self, ctx: &TaskContext) -> Result<SocketReader> {
        let connect = || -> io::Result<tokio::net::TcpStream> {
            let connect_to = |address: std::net::SocketAddr| {
                std::net::TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)
            };
            let addresses = std::net::ToSocketAddrs::to_socket_addrs(self.address.as_str());
            let stream = addresses
                .and_then(|mut all| {
                    all.next().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing")
                    })
                })
                .and_then(connect_to)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot connect to `{}`: {e}", self.address),
                    )
                })?;
            stream.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(stream)
        };
        let stream = connect().map_err(|e| ctx.io_error(self.operator, e))?;
        Ok(SocketReader {
            stream,
            address: self.address.clone(),
            pending: Vec::new(),
            line_start: 0,
            scanned: 0,
            chunk: vec![0; 64 * 1024].into_boxed_slice(),
            closed: false,
            metrics: OperatorMetrics::new(self.operator),
        })
    }
}

impl SocketReader {
    /// Emits `pending[line_start..end]` (without a trailing `\r`) as a line.
    fn emit_line<E: Emit<String>>(&mut self, end: usize, out: &mut E) -> io::Result<()> {
        let mut bytes = &self.pending[self.line_start..end];
        if bytes.last() == Some(&b'\r') {
            bytes = &bytes[..bytes.len() - 1];
        }
        let line = std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "`{}` sent a line that is not valid UTF-8 ({e})",
                    self.address
                ),
            )
        })?;
        self.metrics.records_out += 1;
        out.emit(line, None);
        Ok(())
    }
}

impl Source for SocketReader {
    type Item = String;

    fn poll_batch<E: Emit<String>>(&mut self, max: usize, out: &mut E) -> io::Result<SourceStatus> {
        if self.closed {
            return Ok(SourceStatus::Ended);
        }
        let mut produced = 0;
        while produced < max {
            if let Some(offset) = self.pending[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
            {
                let newline = self.scanned + offset;
                self.emit_line(newline, out)?;
                self.line_start = newline + 1;
                self.scanned = self.line_start;
                produced += 1;
                continue;
            }
            self.scanned = self.pending.len();
            // Drop the emitted lines once per read, not once per line.
            self.pending.drain(..self.line_start);
            self.scanned -= self.line_start;
            self.line_start = 0;
            match self.stream.try_read(&mut self.chunk) {
                Ok(0) => {
                    self.closed = true;
                    if !self.pending.is_empty() {
                        self.emit_line(self.pending.len(), out)?;
                        self.pending.clear();
                    }
                    return Ok(SourceStatus::Ended);
                }
                Ok(n) => self.pending.extend_from_slice(&self.chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(if produced > 0 {
                        SourceStatus::Produced
                    } else {
                        SourceStatus::Idle
                    });
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("reading from `{}` failed: {e}", self.address),
                    ))
                }
            }
        }
        Ok(SourceStatus::Produced)
    }

    async fn wait_ready(&mut self) -> io::Result<()> {
        self.stream.readable().await
    }

    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) -> u64 {
        into.push(self.metrics);
        self.metrics.records_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gathers what a source emits.
    struct Collect<T>(Vec<T>);

    impl<T> Emit<T> for Collect<T> {
        fn emit(&mut self, value: T, _timestamp: Option<crate::element::Timestamp>) {
            self.0.push(value);
        }
    }

    fn ctx(subtask: usize, parallelism: usize) -> TaskContext {
        TaskContext {
            plan: &crate::plan::ONE_SOURCE_PLAN,
            chain: 0,
            subtask,
            parallelism,
            max_parallelism: 128,
            batch_mode: false,
            batch_size: 16,
            linger: std::time::Duration::from_secs(1),
            checkpointing: false,
            restored: None,
            spill: None,
        }
    }

    /// What a source made by factory `F` produces.
    type Items<F> = Vec<<<F as SourceFactory>::Source as Source>::Item>;

    /// Everything a source produces after `polls` batches of 3, when a fresh source resumes
    /// from the position taken then; and what an uninterrupted source produces.
    fn resumed<F: SourceFactory>(
        mut factory: impl FnMut() -> F,
        ctx: &TaskContext,
        polls: usize,
    ) -> (Items<F>, Items<F>) {
        let drain = |source: &mut F::Source, out: &mut Collect<_>| {
            while source.poll_batch(3, out).unwrap() != SourceStatus::Ended {}
        };
        let mut whole = Collect(Vec::new());
        drain(&mut factory().create(ctx).unwrap(), &mut whole);
        let mut first = factory().create(ctx).unwrap();
        let mut out = Collect(Vec::new());
        for _ in 0..polls {
            first.poll_batch(3, &mut out).unwrap();
        }
        let position = first.position().expect("a replayable source");
        let mut second = factory().create(ctx).unwrap();
        second.seek(&position).unwrap();
        drain(&mut second, &mut out);
        (out.0, whole.0)
    }

    #[test]
    fn replayable_sources_resume_right_after_their_recorded_position() {
        let (got, whole) = resumed(|| from_iter(0, 0..20u64), &ctx(0, 1), 2);
        assert_eq!(got, whole);
        for subtask in 0..3 {
            let (got, whole) = resumed(|| generate(0, 40, |i| i * 10), &ctx(subtask, 3), 2);
            assert_eq!(got, whole, "subtask {subtask}");
        }
        let path = std::env::temp_dir().join(format!("dataflow-resume-{}.txt", std::process::id()));
        let text: String = (0..50).map(|i| format!("line {i}\r\n")).collect();
        std::fs::write(&path, text).unwrap();
        for subtask in 0..2 {
            let (got, whole) = resumed(|| read_lines(0, &path), &ctx(subtask, 2), 3);
            assert_eq!(got, whole, "subtask {subtask}");
            assert!(whole.len() > 10);
        }
        // Rescaled: the positions of 3 subtasks taken over by 2, or by 4 (one of which
        // gets none); every index or line comes out exactly once.
        for to in [2, 4] {
            let (got, whole) = rescaled(|| generate(0, 40, |i| i * 10), 3, to);
            assert_eq!(got, whole, "generate 3 -> {to}");
            let (got, whole) = rescaled(|| read_lines(0, &path), 3, to);
            assert_eq!(got, whole, "read_lines 3 -> {to}");
        }
        // A position of a source with another `n` is refused.
        let other = generate(0, 40, |i| i)
            .create(&ctx(1, 2))
            .unwrap()
            .position()
            .unwrap();
        let mut small = generate(0, 10, |i| i).create(&ctx(0, 1)).unwrap();
        assert!(small.seek(&other).is_err());
        std::fs::remove_file(path).unwrap();
    }

    /// What `from` subtasks produce in one batch of 3 each, then `to` subtasks resuming
    /// from their positions (earlier subtask `k` to `k % to`), sorted; and what one
    /// uninterrupted subtask produces, sorted.
    fn rescaled<F: SourceFactory>(
        mut factory: impl FnMut() -> F,
        from: usize,
        to: usize,
    ) -> (Items<F>, Items<F>)
    where
        <F::Source as Source>::Item: Ord,
    {
        let mut whole = Collect(Vec::new());
        let mut single = factory().create(&ctx(0, 1)).unwrap();
        while single.poll_batch(3, &mut whole).unwrap() != SourceStatus::Ended {}
        let mut out = Collect(Vec::new());
        let mut positions = Vec::new();
        for k in 0..from {
            let mut source = factory().create(&ctx(k, from)).unwrap();
            source.poll_batch(3, &mut out).unwrap();
            positions.push(source.position().unwrap());
        }
        for j in 0..to {
            let mut source = factory().create(&ctx(j, to)).unwrap();
            let mine: Vec<Vec<u8>> = positions
                .iter()
                .enumerate()
                .filter(|(k, _)| k % to == j)
                .map(|(_, p)| p.clone())
                .collect();
            source.restore_positions(&mine).unwrap();
            while source.poll_batch(3, &mut out).unwrap() != SourceStatus::Ended {}
        }
        let (mut got, mut whole) = (out.0, whole.0);
        got.sort();
        whole.sort();
        (got, whole)
    }
}
