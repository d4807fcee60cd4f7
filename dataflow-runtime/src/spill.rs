//! Spilling keyed state to disk in batch mode, so inputs larger than memory work.
//!
//! The keyed operators of a bounded job hold their state until the input ends: an aggregate
//! per key (`reduce`, `sum`, ...), all values of a key (`group_reduce`), both sides of a
//! join. With a memory budget ([`SpillConfig`], `--memory-budget`), each such operator
//! subtask estimates what its state takes and, when that passes the budget, writes all of it
//! out as `(key, state)` entries into [`SpillFiles`]: up to [`FANOUT`] anonymous temporary files,
//! an entry going to the file its key's hash picks (a grace hash partitioning), and starts
//! afresh. At end of input the rest of the state follows it, and [`merge_spilled`] reads the
//! files back one at a time, merging the entries of each key in the order they were written
//! (so `group_reduce` still sees values in arrival order and ties of `min` still go to the
//! earlier record). A file whose merged state again passes the budget is partitioned once
//! more, by other bits of the hash, up to [`MAX_LEVEL`] times.
//!
//! The estimate is the encoded size of what was added (measured on every 64th value and
//! assumed for the others) plus the in-memory size of the types: an approximation, not an
//! accounting of the allocator. Inside an iteration, spilled state is read back at the end of
//! every superstep (iteration state must fit in memory).
//!
//! Files are anonymous (unlinked at creation): nothing is left behind, even by a crash. A
//! spilling operator subtask holds up to [`FANOUT`] files open while it writes, and one more
//! set per level of re-partitioning while it reads back; their buffers (up to 64 KiB each,
//! less for small budgets) come on top of the budget. An external sort merges at most
//! [`MERGE_WIDTH`] runs at a time, in several passes if it has more.

use std::fs::File;
use std::hash::Hash;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How many files one spill writes (one per value of 5 bits of the key's hash).
pub const FANOUT: usize = 32;

/// How often a file is partitioned again when its keys still do not fit (each level uses the
/// next 5 bits of the hash; the key group uses the lowest bits, so they never overlap).
pub const MAX_LEVEL: u32 = 5;

/// How many sorted runs one merge pass reads at once.
pub const MERGE_WIDTH: usize = 32;

/// The buffer of each spill file: 64 KiB, less for a small budget (every file's buffer
/// counts against the memory the budget is meant to protect).
fn buffer_size(config: &SpillConfig) -> usize {
    (config.budget / (4 * FANOUT)).clamp(4 << 10, 64 << 10)
}

/// The memory budget of a keyed operator subtask in batch mode, and where it spills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpillConfig {
    /// Bytes of state an operator subtask may hold before it spills (estimated).
    pub budget: usize,
    /// The directory of the temporary files.
    pub dir: Arc<PathBuf>,
}

impl SpillConfig {
    /// A budget of `budget` bytes per operator subtask, spilling into the system's temporary
    /// directory.
    pub fn new(budget: usize) -> Self {
        SpillConfig {
            budget,
            dir: Arc::new(std::env::temp_dir()),
        }
    }

    /// Spills into `dir` instead.
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Arc::new(dir.into());
        self
    }
}

/// What an operator that may spill keeps beside its state: the budget, the estimated bytes
/// its state holds, the sampler of sizes, what it wrote out so far (`W`: its [`SpillFiles`]
/// or its [`Run`]s) and the bytes written, for the job's report.
pub struct Spilling<W> {
    /// The budget and the directory.
    pub config: SpillConfig,
    /// Estimated bytes held since the last spill.
    pub held: usize,
    /// Measures the encoded size of a sample of values.
    pub sampler: SizeSampler,
    /// What was written out.
    pub written: W,
    /// Bytes written to disk so far.
    pub spilled_bytes: u64,
}

/// The spilling of keyed state: hash-partitioned files, made at the first spill.
pub type SpillingKeyed<K, S> = Spilling<Option<SpillFiles<K, S>>>;

/// The spilling of an external sort: its sorted runs.
pub type SpillingRuns<T> = Spilling<Vec<Run<T>>>;

impl<K, S> SpillingKeyed<K, S>
where
    K: Hash + Eq + Serialize + DeserializeOwned,
    S: Serialize + DeserializeOwned,
{
    /// The estimate passed the budget: `write` puts the whole state into the files, and
    /// counting starts afresh.
    #[cold]
    pub fn spill(&mut self, write: impl FnOnce(&mut SpillFiles<K, S>)) {
        let config = &self.config;
        write(
            self.written
                .get_or_insert_with(|| SpillFiles::new(config.clone())),
        );
        self.held = 0;
    }

    /// The state is complete (end of input, or of a superstep): hands every key's state to
    /// `finish`, the state in memory (`rest`) merged with what was spilled before it. With
    /// nothing spilled, `rest` goes to `finish` as it is.
    pub fn finish_all(
        &mut self,
        rest: impl IntoIterator<Item = (K, S)>,
        merge: impl FnMut(&mut S, S),
        mut finish: impl FnMut(K, S),
    ) {
        self.held = 0;
        let Some(mut files) = self.written.take() else {
            rest.into_iter().for_each(|(key, state)| finish(key, state));
            return;
        };
        for (key, state) in rest {
            files.write(&key, &state);
        }
        let written = files.bytes();
        self.spilled_bytes += written + merge_spilled(files, merge, finish);
    }
}

impl<W: Default> Spilling<W> {
    /// Nothing held, nothing written.
    pub fn new(config: SpillConfig) -> Self {
        Spilling {
            config,
            held: 0,
            sampler: SizeSampler::default(),
            written: W::default(),
            spilled_bytes: 0,
        }
    }
}

impl<W> Spilling<W> {
    /// Counts `bytes` more; returns whether the state is now over the budget.
    #[inline]
    pub fn add(&mut self, bytes: usize) -> bool {
        self.held += bytes;
        self.held > self.config.budget
    }
}

/// Parses a size such as `512m`, `2g`, `64k` or `1000000` (bytes; suffixes are powers of
/// 1024, upper or lower case, with an optional `b` or `ib`).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let number = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &lower[number.len()..];
    let scale: usize = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: the unit must be k, m, g or t (powers of 1024)"
            ))
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 512m, 2g or 1000000"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("`{text}`: a memory budget must be more than 0"));
    }
    Ok((value * scale as f64) as usize)
}

/// Estimates the memory a value takes: its encoded size, measured on every 64th call and
/// assumed for the calls between, plus the size of its type.
#[derive(Debug, Default, Clone)]
pub struct SizeSampler {
    until_next: u32,
    last: usize,
}

impl SizeSampler {
    /// The estimated bytes of `value`.
    #[inline]
    pub fn estimate<T: Serialize>(&mut self, value: &T) -> usize {
        if self.until_next == 0 {
            self.until_next = 63;
            self.last = crate::codec::encoded_len(value) + std::mem::size_of::<T>();
        } else {
            self.until_next -= 1;
        }
        self.last
    }
}

/// Why spilling failed: the job fails with it (naming the operator), nothing is dropped.
fn fail(doing: &str, dir: &std::path::Path, error: impl std::fmt::Display) -> ! {
    panic!(
        "spilling state to disk in {}: {doing} failed: {error} (set another directory with \
         --spill-dir, or a larger --memory-budget)",
        dir.display()
    )
}

/// The partition of a key's hash at `level`: 5 bits, from the top down.
#[inline]
fn partition_of(hash: u64, level: u32) -> usize {
    ((hash >> (59 - 5 * level)) & (FANOUT as u64 - 1)) as usize
}

struct PartitionFile {
    writer: BufWriter<File>,
    entries: u64,
}

/// `(key, state)` entries written out, in [`FANOUT`] files by the key's hash.
pub struct SpillFiles<K, S> {
    config: SpillConfig,
    level: u32,
    files: Vec<Option<PartitionFile>>,
    entries: u64,
    bytes: u64,
    _entries: PhantomData<fn(K, S)>,
}

impl<K, S> SpillFiles<K, S>
where
    K: Hash + Eq + Serialize + DeserializeOwned,
    S: Serialize + DeserializeOwned,
{
    /// No files yet (they are created as entries arrive).
    pub fn new(config: SpillConfig) -> Self {
        Self::at_level(config, 0)
    }

    fn at_level(config: SpillConfig, level: u32) -> Self {
        SpillFiles {
            config,
            level,
            files: (0..FANOUT).map(|_| None).collect(),
            entries: 0,
            bytes: 0,
            _entries: PhantomData,
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The budget it was made with.
    pub fn config(&self) -> &SpillConfig {
        &self.config
    }

    /// Writes one entry into the file of its key's hash.
    pub fn write(&mut self, key: &K, state: &S) {
        let partition = partition_of(crate::keys::stable_hash(key), self.level);
        let dir = &self.config.dir;
        let buffer = buffer_size(&self.config);
        let file = self.files[partition].get_or_insert_with(|| {
            let file = tempfile::tempfile_in(dir.as_path())
                .unwrap_or_else(|e| fail("creating a file", dir, e));
            PartitionFile {
                writer: BufWriter::with_capacity(buffer, file),
                entries: 0,
            }
        });
        let written = crate::codec::encode_into(&(key, state), &mut file.writer)
            .unwrap_or_else(|e| fail("writing", dir, e));
        file.entries += 1;
        self.entries += 1;
        self.bytes += written as u64;
    }

    /// Writes every entry of a map and empties it.
    pub fn write_all(&mut self, map: &mut FxHashMap<K, S>) {
        for (key, state) in map.drain() {
            self.write(&key, &state);
        }
    }

    /// The files, flushed, with their entry counts, in partition order (a reader and its
    /// buffer are made only when a file's turn comes).
    fn into_files(self) -> (SpillConfig, u32, Vec<(File, u64)>) {
        let dir = self.config.dir.clone();
        let files = self
            .files
            .into_iter()
            .flatten()
            .map(|partition| {
                let file = partition
                    .writer
                    .into_inner()
                    .unwrap_or_else(|e| fail("writing", &dir, e.error()));
                (file, partition.entries)
            })
            .collect();
        (self.config, self.level, files)
    }
}

/// Counts the bytes read through it (the encoded size of each entry read back).
struct CountingReader<R> {
    inner: R,
    read: usize,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

/// Reads one partition's entries back, in the order they were written.
struct PartitionReader<K, S> {
    reader: CountingReader<BufReader<File>>,
    remaining: u64,
    _entries: PhantomData<fn() -> (K, S)>,
}

impl<K: DeserializeOwned, S: DeserializeOwned> PartitionReader<K, S> {
    /// Rewinds `file` and reads its `entries` entries.
    fn open(mut file: File, entries: u64, config: &SpillConfig) -> Self {
        file.seek(SeekFrom::Start(0))
            .unwrap_or_else(|e| fail("rewinding a file", &config.dir, e));
        PartitionReader {
            reader: CountingReader {
                inner: BufReader::with_capacity(buffer_size(config), file),
                read: 0,
            },
            remaining: entries,
            _entries: PhantomData,
        }
    }

    /// The next entry and its encoded size.
    fn next_entry(&mut self, dir: &std::path::Path) -> Option<(K, S, usize)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let before = self.reader.read;
        let (key, state): (K, S) = crate::codec::decode_from(&mut self.reader)
            .unwrap_or_else(|e| fail("reading back", dir, e));
        Some((key, state, self.reader.read - before))
    }
}

/// Reads spilled entries back a file at a time, merges the entries of each key in the order
/// they were written (`merge(earlier, later)`), and hands every key's merged state to
/// `finish`. A file whose keys pass the budget again is partitioned once more. Returns the
/// bytes written by those partitionings.
pub fn merge_spilled<K, S>(
    files: SpillFiles<K, S>,
    mut merge: impl FnMut(&mut S, S),
    mut finish: impl FnMut(K, S),
) -> u64
where
    K: Hash + Eq + Serialize + DeserializeOwned,
    S: Serialize + DeserializeOwned,
{
    merge_level(files, &mut merge, &mut finish)
}

fn merge_level<K, S, M, F>(files: SpillFiles<K, S>, merge: &mut M, finish: &mut F) -> u64
where
    K: Hash + Eq + Serialize + DeserializeOwned,
    S: Serialize + DeserializeOwned,
    M: FnMut(&mut S, S),
    F: FnMut(K, S),
{
    let mut rewritten = 0;
    let (config, level, files) = files.into_files();
    let entry_size = std::mem::size_of::<(K, S)>() + 16;
    for (file, entries) in files {
        let mut reader = PartitionReader::<K, S>::open(file, entries, &config);
        let mut table: FxHashMap<K, S> = FxHashMap::default();
        let mut held = 0usize;
        let mut deeper: Option<SpillFiles<K, S>> = None;
        while let Some((key, state, encoded)) = reader.next_entry(&config.dir) {
            match table.get_mut(&key) {
                Some(merged) => merge(merged, state),
                None => {
                    table.insert(key, state);
                }
            }
            held += encoded + entry_size;
            // One key alone over the budget cannot be split further: it stays in memory.
            if held > config.budget && level < MAX_LEVEL && table.len() > 1 {
                deeper
                    .get_or_insert_with(|| SpillFiles::at_level(config.clone(), level + 1))
                    .write_all(&mut table);
                held = 0;
            }
        }
        match deeper {
            Some(mut deeper) => {
                deeper.write_all(&mut table);
                rewritten += deeper.bytes();
                rewritten += merge_level(deeper, merge, finish);
            }
            None => {
                for (key, state) in table.drain() {
                    finish(key, state);
                }
            }
        }
    }
    rewritten
}

/// Records written one after another into an anonymous file and read back in that order: a
/// sorted run of an external sort. The file stays closed to reading (no buffer) until the
/// first record is asked for.
pub struct Run<T> {
    file: Option<File>,
    reader: Option<BufReader<File>>,
    remaining: u64,
    bytes: u64,
    config: SpillConfig,
    _records: PhantomData<fn() -> T>,
}

/// Writes a [`Run`] record by record.
struct RunWriter<T> {
    writer: BufWriter<File>,
    records: u64,
    bytes: u64,
    config: SpillConfig,
    _records: PhantomData<fn(T)>,
}

impl<T: Serialize> RunWriter<T> {
    fn new(config: &SpillConfig) -> Self {
        let file = tempfile::tempfile_in(config.dir.as_path())
            .unwrap_or_else(|e| fail("creating a file", &config.dir, e));
        RunWriter {
            writer: BufWriter::with_capacity(buffer_size(config), file),
            records: 0,
            bytes: 0,
            config: config.clone(),
            _records: PhantomData,
        }
    }

    fn push(&mut self, record: &T) {
        self.bytes += crate::codec::encode_into(record, &mut self.writer)
            .unwrap_or_else(|e| fail("writing", &self.config.dir, e)) as u64;
        self.records += 1;
    }

    fn finish(self) -> Run<T> {
        let file = self
            .writer
            .into_inner()
            .unwrap_or_else(|e| fail("writing", &self.config.dir, e.error()));
        Run {
            file: Some(file),
            reader: None,
            remaining: self.records,
            bytes: self.bytes,
            config: self.config,
            _records: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Run<T> {
    /// Writes `records` out.
    pub fn write(config: &SpillConfig, records: impl IntoIterator<Item = T>) -> Run<T> {
        let mut writer = RunWriter::new(config);
        for record in records {
            writer.push(&record);
        }
        writer.finish()
    }
}

impl<T> Run<T> {
    /// The bytes the run took on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl<T: DeserializeOwned> Iterator for Run<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            self.reader = None;
            return None;
        }
        self.remaining -= 1;
        let config = &self.config;
        let reader = match &mut self.reader {
            Some(reader) => reader,
            None => {
                let mut file = self.file.take().expect("an unread run keeps its file");
                file.seek(SeekFrom::Start(0))
                    .unwrap_or_else(|e| fail("rewinding a file", &config.dir, e));
                self.reader
                    .insert(BufReader::with_capacity(buffer_size(config), file))
            }
        };
        Some(
            crate::codec::decode_from(reader)
                .unwrap_or_else(|e| fail("reading back", &config.dir, e)),
        )
    }
}

/// Merges runs, each sorted by `sort_key`, into one sorted sequence; records with equal sort
/// keys come in run order, then in their order within the run (a stable sort when the runs
/// hold consecutive stretches of the input in order). More than [`MERGE_WIDTH`] runs are
/// merged in passes, [`MERGE_WIDTH`] neighbouring runs into one (which keeps that order).
/// Returns the bytes the intermediate passes wrote.
pub fn merge_sorted_runs<T, S, F>(
    mut runs: Vec<Run<T>>,
    mut sort_key: F,
    mut emit: impl FnMut(T),
) -> u64
where
    T: Serialize + DeserializeOwned,
    S: Ord,
    F: FnMut(&T) -> S,
{
    let mut rewritten = 0;
    while runs.len() > MERGE_WIDTH {
        let config = runs[0].config.clone();
        let mut merged = Vec::with_capacity(runs.len().div_ceil(MERGE_WIDTH));
        let mut rest = runs.into_iter();
        loop {
            let mut group: Vec<Run<T>> = rest.by_ref().take(MERGE_WIDTH).collect();
            match group.len() {
                0 => break,
                1 => merged.extend(group.pop()),
                _ => {
                    let mut writer = RunWriter::new(&config);
                    merge_pass(group, &mut sort_key, &mut |record: T| writer.push(&record));
                    let run = writer.finish();
                    rewritten += run.bytes();
                    merged.push(run);
                }
            }
        }
        runs = merged;
    }
    merge_pass(runs, &mut sort_key, &mut emit);
    rewritten
}

/// One merge of runs through a heap of their heads (ties go to the earlier run).
fn merge_pass<T, S, F>(mut runs: Vec<Run<T>>, sort_key: &mut F, emit: &mut impl FnMut(T))
where
    T: DeserializeOwned,
    S: Ord,
    F: FnMut(&T) -> S,
{
    use std::cmp::Reverse;
    let mut heads: Vec<Option<T>> = Vec::with_capacity(runs.len());
    let mut heap = std::collections::BinaryHeap::with_capacity(runs.len());
    for (index, run) in runs.iter_mut().enumerate() {
        let head = run.next();
        if let Some(record) = &head {
            heap.push(Reverse((sort_key(record), index)));
        }
        heads.push(head);
    }
    while let Some(Reverse((_, index))) = heap.pop() {
        let record = heads[index].take().expect("a run in the heap has a head");
        if let Some(next) = runs[index].next() {
            heap.push(Reverse((sort_key(&next), index)));
            heads[index] = Some(next);
        }
        emit(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(budget: usize) -> SpillConfig {
        SpillConfig::new(budget)
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("64k").unwrap(), 64 << 10);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn merging_keeps_the_order_of_writing_per_key_and_loses_nothing() {
        // Values of 500 keys written in 20 spills; each key's values come back in order.
        let mut files: SpillFiles<String, Vec<u32>> = SpillFiles::new(tiny(1 << 30));
        for round in 0..20u32 {
            let mut map = FxHashMap::default();
            for key in 0..500u32 {
                map.insert(format!("k{key}"), vec![round * 1000 + key]);
            }
            files.write_all(&mut map);
            assert!(map.is_empty());
        }
        assert_eq!(files.entries(), 10_000);
        let mut out = Vec::new();
        let rewritten = merge_spilled(
            files,
            |a: &mut Vec<u32>, b| a.extend(b),
            |k, v| out.push((k, v)),
        );
        assert_eq!(rewritten, 0, "the budget holds every file");
        out.sort();
        assert_eq!(out.len(), 500);
        for (key, values) in out {
            let k: u32 = key[1..].parse().unwrap();
            let expected: Vec<u32> = (0..20).map(|round| round * 1000 + k).collect();
            assert_eq!(values, expected, "{key}");
        }
    }

    #[test]
    fn a_partition_over_budget_is_partitioned_again() {
        // A budget of 1 KiB: files are partitioned again, level after level.
        let mut files: SpillFiles<u64, Vec<u64>> = SpillFiles::new(tiny(1024));
        for round in 0..3u64 {
            let mut map: FxHashMap<u64, Vec<u64>> =
                (0..20_000u64).map(|k| (k, vec![k + round])).collect();
            files.write_all(&mut map);
        }
        let mut merged = FxHashMap::default();
        let rewritten = merge_spilled(
            files,
            |a: &mut Vec<u64>, b| a.extend(b),
            |k, v| assert!(merged.insert(k, v).is_none(), "key {k} finished twice"),
        );
        assert!(rewritten > 0, "no file was partitioned again");
        assert_eq!(merged.len(), 20_000);
        // Each key's entries merged in the order they were written.
        assert!(merged.iter().all(|(&k, v)| *v == [k, k + 1, k + 2]));
    }

    #[test]
    fn an_unwritable_directory_fails_with_a_message_naming_it() {
        let config = SpillConfig::new(1).in_dir("/nonexistent/spill/dir");
        let result = std::panic::catch_unwind(|| {
            let mut files: SpillFiles<u64, u64> = SpillFiles::new(config);
            files.write(&1, &1);
        });
        let message = *result.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("/nonexistent/spill/dir"), "{message}");
        assert!(message.contains("creating a file"), "{message}");
    }

    #[test]
    fn merged_runs_are_sorted_and_stable() {
        // Records (sort key, arrival): three runs of consecutive arrivals, each sorted.
        let config = tiny(1);
        let records: Vec<(u8, u32)> = (0..3000u32).map(|i| ((i * 7 % 13) as u8, i)).collect();
        let runs = records
            .chunks(1000)
            .map(|chunk| {
                let mut chunk = chunk.to_vec();
                chunk.sort_by_key(|r| r.0);
                Run::write(&config, chunk)
            })
            .collect();
        let mut merged = Vec::new();
        let rewritten = merge_sorted_runs(runs, |r: &(u8, u32)| r.0, |r| merged.push(r));
        assert_eq!(rewritten, 0, "three runs merge in one pass");
        let mut expected = records.clone();
        expected.sort_by_key(|r| r.0);
        assert_eq!(merged, expected);
        // 100 runs of 30: merged in passes of MERGE_WIDTH, still sorted and stable.
        let runs: Vec<Run<(u8, u32)>> = records
            .chunks(30)
            .map(|chunk| {
                let mut chunk = chunk.to_vec();
                chunk.sort_by_key(|r| r.0);
                Run::write(&config, chunk)
            })
            .collect();
        assert!(runs.len() > MERGE_WIDTH * 2);
        let mut merged = Vec::new();
        let rewritten = merge_sorted_runs(runs, |r: &(u8, u32)| r.0, |r| merged.push(r));
        assert!(rewritten > 0, "more runs than MERGE_WIDTH need a pass");
        assert_eq!(merged, expected);
    }

    #[test]
    fn the_sampler_measures_every_64th_value() {
        let mut sampler = SizeSampler::default();
        let long = "x".repeat(1000);
        let first = sampler.estimate(&long);
        assert!(first >= 1000, "{first}");
        // The next 63 calls reuse the measurement, the 64th measures again.
        for _ in 0..63 {
            assert_eq!(sampler.estimate(&String::new()), first);
        }
        assert!(sampler.estimate(&String::new()) < 100);
    }
}
