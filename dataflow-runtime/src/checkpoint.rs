//! Checkpoint storage: where snapshots go and how a complete one is told from a broken one.
//!
//! A checkpoint is a directory `chk-<id>/` under the checkpoint root, with one file per
//! piece of state (an operator subtask, a key group, a source position; the caller names
//! them) and a `_metadata` file that lists every file with its length and CRC-32. Each file
//! is written to a temporary name, synced, and renamed into place; `_metadata` is written
//! last the same way, so its presence marks the checkpoint complete. Reading verifies the
//! metadata and every listed file before anything is restored: a checkpoint with a missing
//! or damaged file, or without metadata, is skipped with a message saying why, and the newest
//! complete one before it is used instead. After each completed checkpoint, only the newest
//! `retained` complete ones are kept.
//!
//! Every file is bytes from the [`codec`](crate::codec) behind a small header (magic,
//! format version, length, CRC-32), so a truncated or overwritten file is detected even
//! without the metadata.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codec;

/// The first bytes of every checkpoint file.
const MAGIC: &[u8; 4] = b"DFCK";
/// The format of the files' header and of the metadata.
const FORMAT_VERSION: u32 = 1;
/// The header: magic, format version, payload length, payload CRC-32.
const HEADER_LEN: usize = 4 + 4 + 8 + 4;
/// The name of the file that marks a checkpoint complete.
pub const METADATA_FILE: &str = "_metadata";

/// What can go wrong when writing or reading checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file system call failed.
    #[error("checkpoint I/O on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A checkpoint exists but cannot be used.
    #[error("checkpoint {} is unusable: {reason}", path.display())]
    Corrupt {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No complete checkpoint could be found.
    #[error("no complete checkpoint under {}{}", root.display(), skipped_list(skipped))]
    NoneComplete {
        /// Where the search looked.
        root: PathBuf,
        /// Why each checkpoint found was skipped.
        skipped: Vec<String>,
    },
    /// A file name that would leave the checkpoint directory or clash with the metadata.
    #[error("invalid checkpoint file name `{0}`: use letters, digits, `-`, `_` and `.`")]
    InvalidName(String),
}

fn skipped_list(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(" (skipped: {})", skipped.join("; "))
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file of a checkpoint, as the metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The file's payload length in bytes.
    pub len: u64,
    /// The payload's CRC-32.
    pub crc: u32,
}

/// What a complete checkpoint says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// The checkpoint's id (increasing within a job).
    pub id: u64,
    /// The job's name.
    pub job: String,
    /// The parallelism the job ran with.
    pub parallelism: usize,
    /// The number of key groups.
    pub max_parallelism: usize,
    /// When the checkpoint was triggered, in ms since the epoch.
    pub triggered_at: i64,
    /// Every file of the checkpoint, by name.
    pub files: BTreeMap<String, FileEntry>,
    /// Which file holds the keyed state of `(operator, key group)`.
    pub keyed: BTreeMap<(usize, u16), String>,
    /// Which file holds the state of `(operator, subtask)` (source positions and the like).
    pub subtasks: BTreeMap<(usize, usize), String>,
    /// The operators' state ids (`.uid(..)` or name), each with its index in the plan of the
    /// job that wrote the checkpoint.
    pub operators: BTreeMap<String, usize>,
}

/// Where a job's checkpoints live, and how many complete ones are kept.
#[derive(Debug, Clone)]
pub struct CheckpointStorage {
    root: PathBuf,
    retained: usize,
}

/// A checkpoint being written: files go in one by one, then [`PendingCheckpoint::complete`]
/// makes it visible.
#[derive(Debug)]
pub struct PendingCheckpoint {
    dir: PathBuf,
    id: u64,
    files: BTreeMap<String, FileEntry>,
    keyed: BTreeMap<(usize, u16), String>,
    subtasks: BTreeMap<(usize, usize), String>,
    operators: BTreeMap<String, usize>,
}

/// A complete checkpoint whose files all matched their checksums when it was opened.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
    metadata: CheckpointMetadata,
    /// Task files already read and decoded (a restore asks one per key group).
    decoded: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<TaskFile>>>,
    >,
}

/// What one subtask wrote to a checkpoint: one file, whatever its number of key groups (a
/// file per key group would cost a sync each).
#[derive(Debug, Default, Serialize, Deserialize)]
struct TaskFile {
    keyed: Vec<(usize, u16, Vec<u8>)>,
    operator: Vec<(usize, usize, Vec<u8>)>,
}

/// The directory name of checkpoint `id`.
pub fn checkpoint_dir_name(id: u64) -> String {
    format!("chk-{id}")
}

fn parse_checkpoint_dir(name: &str) -> Option<u64> {
    name.strip_prefix("chk-")?.parse().ok()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != METADATA_FILE
        && !name.starts_with('.')
        && !name.ends_with(".tmp")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Frames a payload with the header.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The payload of a framed file, checked against its header.
fn unframe(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err("not a checkpoint file (bad header)".to_string());
    }
    let field = |range: std::ops::Range<usize>| bytes[range].to_vec();
    let version = u32::from_le_bytes(field(4..8).try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        ));
    }
    let len = u64::from_le_bytes(field(8..16).try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(field(16..20).try_into().expect("4 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(format!(
            "truncated: {} of {len} payload bytes",
            payload.len()
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".to_string());
    }
    Ok(payload)
}

/// Writes `bytes` to `path` durably: a temporary file, synced, renamed into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = fs::File::create(&tmp).map_err(io_error(&tmp))?;
    file.write_all(bytes).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_error(path))
}

/// Makes the directory's entries (renames) durable.
fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    // Directories cannot be opened for syncing on every platform; where they can, a failure
    // is real.
    match fs::File::open(dir) {
        Ok(handle) => handle.sync_all().map_err(io_error(dir)),
        Err(_) => Ok(()),
    }
}

impl CheckpointStorage {
    /// Checkpoints under `root` (created if missing), keeping the newest `retained` complete
    /// ones (at least one).
    pub fn new(root: impl Into<PathBuf>, retained: usize) -> Result<Self, CheckpointError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_error(&root))?;
        Ok(CheckpointStorage {
            root,
            retained: retained.max(1),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts checkpoint `id`: an empty `chk-<id>/` (a leftover from an earlier attempt with
    /// the same id, never completed or not, is removed first).
    pub fn begin(&self, id: u64) -> Result<PendingCheckpoint, CheckpointError> {
        let dir = self.root.join(checkpoint_dir_name(id));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
        }
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(PendingCheckpoint {
            dir,
            id,
            files: BTreeMap::new(),
            keyed: BTreeMap::new(),
            subtasks: BTreeMap::new(),
            operators: BTreeMap::new(),
        })
    }

    /// The ids of the checkpoint directories under the root, ascending (complete or not).
    fn ids(&self) -> Result<Vec<u64>, CheckpointError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_error(&self.root))? {
            let entry = entry.map_err(io_error(&self.root))?;
            if let Some(id) = entry.file_name().to_str().and_then(parse_checkpoint_dir) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The newest complete, undamaged checkpoint, and why each newer one was skipped.
    pub fn latest(&self) -> Result<(Checkpoint, Vec<String>), CheckpointError> {
        let mut skipped = Vec::new();
        for id in self.ids()?.into_iter().rev() {
            match Checkpoint::open(self.root.join(checkpoint_dir_name(id))) {
                Ok(checkpoint) => return Ok((checkpoint, skipped)),
                Err(e) => skipped.push(e.to_string()),
            }
        }
        Err(CheckpointError::NoneComplete {
            root: self.root.clone(),
            skipped,
        })
    }

    /// Deletes complete checkpoints beyond the newest `retained`, and unfinished ones older
    /// than the newest complete one.
    fn prune(&self, newest_complete: u64) -> Result<(), CheckpointError> {
        let mut complete_seen = 0;
        for id in self.ids()?.into_iter().rev() {
            if id > newest_complete {
                // Possibly being written right now.
                continue;
            }
            let dir = self.root.join(checkpoint_dir_name(id));
            let complete = dir.join(METADATA_FILE).exists();
            if complete {
                complete_seen += 1;
            }
            if !complete || complete_seen > self.retained {
                fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
            }
        }
        Ok(())
    }
}

impl PendingCheckpoint {
    /// The checkpoint's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Adds a file named `name` (letters, digits, `-`, `_`, `.`) holding `payload`.
    pub fn write(&mut self, name: &str, payload: &[u8]) -> Result<(), CheckpointError> {
        if !valid_name(name) {
            return Err(CheckpointError::InvalidName(name.to_string()));
        }
        write_atomically(&self.dir.join(name), &frame(payload))?;
        self.files.insert(
            name.to_string(),
            FileEntry {
                len: payload.len() as u64,
                crc: crc32fast::hash(payload),
            },
        );
        Ok(())
    }

    /// Encodes `value` through the codec into file `name`.
    pub fn write_value<T: Serialize>(
        &mut self,
        name: &str,
        value: &T,
    ) -> Result<(), CheckpointError> {
        let payload = codec::encode(value).map_err(|e| CheckpointError::Corrupt {
            path: self.dir.join(name),
            reason: format!("cannot encode: {e}"),
        })?;
        self.write(name, &payload)
    }

    /// Writes the metadata last, which makes the checkpoint complete, then prunes old
    /// checkpoints from `storage`.
    pub fn complete(
        self,
        storage: &CheckpointStorage,
        job: &str,
        parallelism: usize,
        max_parallelism: usize,
        triggered_at: i64,
    ) -> Result<Checkpoint, CheckpointError> {
        let metadata = CheckpointMetadata {
            id: self.id,
            job: job.to_string(),
            parallelism,
            max_parallelism,
            triggered_at,
            files: self.files,
            keyed: self.keyed,
            subtasks: self.subtasks,
            operators: self.operators,
        };
        let path = self.dir.join(METADATA_FILE);
        let payload = codec::encode(&metadata).map_err(|e| CheckpointError::Corrupt {
            path: path.clone(),
            reason: format!("cannot encode the metadata: {e}"),
        })?;
        sync_dir(&self.dir)?;
        write_atomically(&path, &frame(&payload))?;
        sync_dir(&self.dir)?;
        storage.prune(self.id)?;
        Ok(Checkpoint {
            dir: self.dir,
            metadata,
            decoded: Default::default(),
        })
    }
}

impl Checkpoint {
    /// Opens the checkpoint in `dir`, verifying its metadata and every file it lists.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CheckpointError> {
        let dir = dir.into();
        let corrupt = |reason: String| CheckpointError::Corrupt {
            path: dir.clone(),
            reason,
        };
        let path = dir.join(METADATA_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(corrupt(
                    "no metadata: the checkpoint was never completed".to_string(),
                ))
            }
            Err(e) => return Err(io_error(&path)(e)),
        };
        let payload = unframe(&bytes).map_err(|reason| corrupt(format!("metadata: {reason}")))?;
        let metadata: CheckpointMetadata = codec::decode(payload)
            .map_err(|e| corrupt(format!("metadata does not decode: {e}")))?;
        for (name, entry) in &metadata.files {
            let file = dir.join(name);
            let bytes = fs::read(&file).map_err(|e| corrupt(format!("file {name}: {e}")))?;
            let payload =
                unframe(&bytes).map_err(|reason| corrupt(format!("file {name}: {reason}")))?;
            if payload.len() as u64 != entry.len || crc32fast::hash(payload) != entry.crc {
                return Err(corrupt(format!(
                    "file {name} differs from what the metadata recorded"
                )));
            }
        }
        Ok(Checkpoint {
            dir,
            metadata,
            decoded: Default::default(),
        })
    }

    /// Opens what `--restore <path>` names: a checkpoint directory (one with `_metadata`, a
    /// `chk-<id>` or a savepoint), or a checkpoint root, whose newest complete checkpoint is
    /// taken. Also returns why newer checkpoints of a root were skipped.
    pub fn resolve(path: &Path) -> Result<(Self, Vec<String>), CheckpointError> {
        // A root may itself be called `chk-<n>`: it is a root if it holds checkpoints.
        let holds_checkpoints = fs::read_dir(path).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_str()
                    .and_then(parse_checkpoint_dir)
                    .is_some()
            })
        });
        let is_checkpoint = path.join(METADATA_FILE).exists()
            || (!holds_checkpoints
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(parse_checkpoint_dir)
                    .is_some());
        if is_checkpoint {
            return Ok((Checkpoint::open(path)?, Vec::new()));
        }
        if !path.is_dir() {
            return Err(CheckpointError::Io {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotFound, "no such checkpoint directory"),
            });
        }
        let storage = CheckpointStorage {
            root: path.to_path_buf(),
            retained: usize::MAX,
        };
        storage.latest()
    }

    /// The checkpoint's metadata.
    pub fn metadata(&self) -> &CheckpointMetadata {
        &self.metadata
    }

    /// The checkpoint's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The payload of file `name` (verified when the checkpoint was opened, and again now).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::Corrupt {
            path: self.dir.join(name),
            reason,
        };
        if !self.metadata.files.contains_key(name) {
            return Err(corrupt("not part of the checkpoint".to_string()));
        }
        let bytes = fs::read(self.dir.join(name)).map_err(io_error(&self.dir.join(name)))?;
        unframe(&bytes).map(<[u8]>::to_vec).map_err(corrupt)
    }

    /// Decodes file `name` through the codec.
    pub fn read_value<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<T, CheckpointError> {
        let payload = self.read(name)?;
        codec::decode(&payload).map_err(|e| CheckpointError::Corrupt {
            path: self.dir.join(name),
            reason: format!("does not decode: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dataflow-checkpoint-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn complete(storage: &CheckpointStorage, id: u64, state: &[(u64, String)]) -> Checkpoint {
        let mut pending = storage.begin(id).unwrap();
        pending.write_value("op-1-0", &state.to_vec()).unwrap();
        pending.write("source-0", &id.to_le_bytes()).unwrap();
        pending
            .complete(storage, "job", 2, 128, 1000 + id as i64)
            .unwrap()
    }

    #[test]
    fn a_completed_checkpoint_reads_back_what_was_written() {
        let root = scratch("round-trip");
        let storage = CheckpointStorage::new(&root, 3).unwrap();
        let state = vec![(1, "a".to_string()), (2, "b".to_string())];
        complete(&storage, 1, &state);
        let (checkpoint, skipped) = storage.latest().unwrap();
        assert!(skipped.is_empty());
        assert_eq!(checkpoint.metadata().id, 1);
        assert_eq!(checkpoint.metadata().parallelism, 2);
        assert_eq!(
            checkpoint
                .read_value::<Vec<(u64, String)>>("op-1-0")
                .unwrap(),
            state
        );
        assert_eq!(checkpoint.read("source-0").unwrap(), 1u64.to_le_bytes());
        assert!(checkpoint.read("op-9-9").is_err());
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_checkpoint_without_metadata_is_skipped_for_the_previous_one() {
        let root = scratch("partial");
        let storage = CheckpointStorage::new(&root, 3).unwrap();
        complete(&storage, 1, &[(1, "one".into())]);
        // Checkpoint 2 was cut off before its metadata was written.
        let mut pending = storage.begin(2).unwrap();
        pending.write("op-1-0", b"half").unwrap();
        drop(pending);
        let (checkpoint, skipped) = storage.latest().unwrap();
        assert_eq!(checkpoint.metadata().id, 1);
        assert_eq!(skipped.len(), 1);
        assert!(
            skipped[0].contains("chk-2") && skipped[0].contains("never completed"),
            "{skipped:?}"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_damaged_or_truncated_file_is_detected_and_skipped() {
        let root = scratch("corrupt");
        let storage = CheckpointStorage::new(&root, 5).unwrap();
        complete(&storage, 1, &[(1, "one".into())]);
        complete(&storage, 2, &[(2, "two".into())]);
        complete(&storage, 3, &[(3, "three".into())]);
        // Flip a byte of checkpoint 3's state and truncate checkpoint 2's.
        let file = root.join("chk-3").join("op-1-0");
        let mut bytes = fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&file, bytes).unwrap();
        let file = root.join("chk-2").join("op-1-0");
        let bytes = fs::read(&file).unwrap();
        fs::write(&file, &bytes[..bytes.len() - 2]).unwrap();
        let (checkpoint, skipped) = storage.latest().unwrap();
        assert_eq!(checkpoint.metadata().id, 1);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(
            skipped[0].contains("chk-3") && skipped[0].contains("checksum mismatch"),
            "{skipped:?}"
        );
        assert!(
            skipped[1].contains("chk-2") && skipped[1].contains("truncated"),
            "{skipped:?}"
        );
        // A damaged metadata file is detected too.
        let metadata = root.join("chk-1").join(METADATA_FILE);
        let mut bytes = fs::read(&metadata).unwrap();
        bytes[HEADER_LEN] ^= 0x01;
        fs::write(&metadata, bytes).unwrap();
        let error = storage.latest().unwrap_err();
        let message = error.to_string();
        assert!(message.contains("no complete checkpoint"), "{message}");
        assert!(
            message.contains("chk-1") && message.contains("metadata"),
            "{message}"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn only_the_newest_retained_complete_checkpoints_are_kept() {
        let root = scratch("retention");
        let storage = CheckpointStorage::new(&root, 2).unwrap();
        complete(&storage, 1, &[]);
        // An abandoned attempt, older than the next complete checkpoint.
        drop(storage.begin(2).unwrap());
        complete(&storage, 3, &[]);
        complete(&storage, 4, &[]);
        // A checkpoint in progress, newer than the last complete one, is left alone.
        let in_progress = storage.begin(5).unwrap();
        complete(&storage, 4, &[]);
        let mut left: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec!["chk-3", "chk-4", "chk-5"]);
        drop(in_progress);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn restore_paths_name_a_root_a_checkpoint_or_a_savepoint() {
        let root = scratch("resolve");
        let storage = CheckpointStorage::new(&root, 3).unwrap();
        complete(&storage, 7, &[(7, "seven".into())]);
        complete(&storage, 8, &[(8, "eight".into())]);
        let (latest, _) = Checkpoint::resolve(&root).unwrap();
        assert_eq!(latest.metadata().id, 8);
        let (chosen, _) = Checkpoint::resolve(&root.join("chk-7")).unwrap();
        assert_eq!(chosen.metadata().id, 7);
        // A savepoint is a complete checkpoint directory under any name.
        let savepoint = root.join("savepoint-before-upgrade");
        fs::rename(root.join("chk-7"), &savepoint).unwrap();
        let (saved, _) = Checkpoint::resolve(&savepoint).unwrap();
        assert_eq!(saved.metadata().id, 7);
        // A named checkpoint that is broken is an error, not a silent fallback.
        fs::remove_file(root.join("chk-8").join(METADATA_FILE)).unwrap();
        assert!(Checkpoint::resolve(&root.join("chk-8")).is_err());
        assert!(Checkpoint::resolve(&root.join("missing")).is_err());
        // A root that happens to be called `chk-<n>` is still a root.
        let odd_root = root.join("chk-0");
        let storage = CheckpointStorage::new(&odd_root, 3).unwrap();
        complete(&storage, 4, &[]);
        assert_eq!(Checkpoint::resolve(&odd_root).unwrap().0.metadata().id, 4);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn file_names_stay_inside_the_checkpoint() {
        let root = scratch("names");
        let storage = CheckpointStorage::new(&root, 1).unwrap();
        let mut pending = storage.begin(1).unwrap();
        for bad in ["../escape", METADATA_FILE, "", "a/b", "x.tmp", ".hidden"] {
            assert!(
                matches!(
                    pending.write(bad, b"x"),
                    Err(CheckpointError::InvalidName(_))
                ),
                "{bad}"
            );
        }
        fs::remove_dir_all(root).unwrap();
    }
}

/// A subtask of the job: `(chain, subtask)`.
pub type TaskId = (usize, usize);

/// What one subtask contributes to a checkpoint: its operators' keyed state by key group,
/// and their other state (source positions, sink transactions) by subtask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskState {
    /// `(operator, key group, bytes)`.
    pub keyed: Vec<(usize, u16, Vec<u8>)>,
    /// `(operator, subtask, bytes)`.
    pub operator: Vec<(usize, usize, Vec<u8>)>,
}

/// A checkpoint every subtask acknowledged, ready to be written.
#[derive(Debug, Clone)]
pub struct AcknowledgedCheckpoint {
    /// Its id.
    pub id: u64,
    /// When it was triggered (ms since the epoch).
    pub triggered_at: i64,
    /// Every subtask's state.
    pub tasks: std::collections::BTreeMap<TaskId, TaskState>,
}

/// A checkpoint triggered and not yet acknowledged by every subtask.
#[derive(Debug)]
struct InFlight {
    triggered_at: i64,
    acks: std::collections::BTreeMap<TaskId, TaskState>,
}

/// Follows checkpoints from trigger to acknowledgement by every subtask (Flink's
/// `CheckpointCoordinator`, without the I/O): one checkpoint in flight at a time; a
/// checkpoint that times out is aborted; once a subtask has finished, no new checkpoint can
/// complete, so none is triggered.
#[derive(Debug)]
pub struct CheckpointCoordinator {
    tasks: usize,
    next: u64,
    in_flight: std::collections::BTreeMap<u64, InFlight>,
    last_completed: Option<u64>,
    finished: usize,
}

impl CheckpointCoordinator {
    /// A coordinator for a job of `tasks` subtasks whose next checkpoint has id `next`
    /// (after a restore of checkpoint `n`, `n + 1`, so ids keep increasing).
    pub fn new(tasks: usize, next: u64) -> Self {
        CheckpointCoordinator {
            tasks,
            next: next.max(1),
            in_flight: std::collections::BTreeMap::new(),
            last_completed: None,
            finished: 0,
        }
    }

    /// Starts a checkpoint at time `now`, unless one is in flight or a subtask finished.
    pub fn trigger(&mut self, now: i64) -> Option<u64> {
        if !self.in_flight.is_empty() || self.finished > 0 {
            return None;
        }
        let id = self.next;
        self.next += 1;
        self.in_flight.insert(
            id,
            InFlight {
                triggered_at: now,
                acks: std::collections::BTreeMap::new(),
            },
        );
        Some(id)
    }

    /// Subtask `task` snapshotted checkpoint `id`. Returns the checkpoint once every subtask
    /// did; an acknowledgement of an aborted checkpoint is ignored.
    pub fn acknowledge(
        &mut self,
        id: u64,
        task: TaskId,
        state: TaskState,
    ) -> Result<Option<AcknowledgedCheckpoint>, String> {
        let Some(in_flight) = self.in_flight.get_mut(&id) else {
            return Ok(None);
        };
        if in_flight.acks.insert(task, state).is_some() {
            return Err(format!(
                "subtask {} of chain {} acknowledged checkpoint {id} twice",
                task.1, task.0
            ));
        }
        if in_flight.acks.len() < self.tasks {
            return Ok(None);
        }
        let done = self.in_flight.remove(&id).expect("present above");
        self.last_completed = Some(id);
        Ok(Some(AcknowledgedCheckpoint {
            id,
            triggered_at: done.triggered_at,
            tasks: done.acks,
        }))
    }

    /// Aborts the checkpoints in flight for longer than `timeout` ms at `now`; returns them.
    pub fn expire(&mut self, now: i64, timeout: i64) -> Vec<u64> {
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now.saturating_sub(f.triggered_at) > timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.in_flight.remove(id);
        }
        expired
    }

    /// A subtask reached end of input: checkpoints in flight can no longer complete and no
    /// new one starts (the job's final commit happens at its end instead).
    pub fn task_finished(&mut self) -> Vec<u64> {
        self.finished += 1;
        let aborted = self.in_flight.keys().copied().collect();
        self.in_flight.clear();
        aborted
    }

    /// The newest checkpoint every subtask acknowledged.
    pub fn last_completed(&self) -> Option<u64> {
        self.last_completed
    }
}

/// The file of a subtask's state.
fn task_file((chain, subtask): TaskId) -> String {
    format!("task-{chain}-{subtask}")
}

impl AcknowledgedCheckpoint {
    /// Writes the checkpoint to `storage` (a file per subtask, indexed by the metadata) and
    /// completes it (metadata last).
    pub fn write(
        self,
        storage: &CheckpointStorage,
        plan: &crate::plan::JobPlan,
        parallelism: usize,
        max_parallelism: usize,
    ) -> Result<Checkpoint, CheckpointError> {
        let job = plan.name;
        let mut pending = storage.begin(self.id)?;
        for (index, operator) in plan.operators.iter().enumerate() {
            pending
                .operators
                .insert(operator.state_id().to_string(), index);
        }
        for (task, state) in self.tasks {
            if state.keyed.is_empty() && state.operator.is_empty() {
                continue;
            }
            let name = task_file(task);
            for (operator, key_group, _) in &state.keyed {
                pending.keyed.insert((*operator, *key_group), name.clone());
            }
            for (operator, subtask, _) in &state.operator {
                pending.subtasks.insert((*operator, *subtask), name.clone());
            }
            let file = TaskFile {
                keyed: state.keyed,
                operator: state.operator,
            };
            pending.write_value(&name, &file)?;
        }
        pending.complete(
            storage,
            job,
            parallelism,
            max_parallelism,
            self.triggered_at,
        )
    }
}

impl Checkpoint {
    /// The decoded task file `name`, read once.
    fn task_file(&self, name: &str) -> Result<std::sync::Arc<TaskFile>, CheckpointError> {
        let mut decoded = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = decoded.get(name) {
            return Ok(std::sync::Arc::clone(file));
        }
        let file = std::sync::Arc::new(self.read_value::<TaskFile>(name)?);
        decoded.insert(name.to_string(), std::sync::Arc::clone(&file));
        Ok(file)
    }

    /// The index, in the plan of the job that wrote this checkpoint, of the operator whose
    /// state id is `state_id` (checkpoints without ids: `fallback`, the same index).
    pub fn operator_index(&self, state_id: &str, fallback: usize) -> Option<usize> {
        if self.metadata.operators.is_empty() {
            return Some(fallback);
        }
        self.metadata.operators.get(state_id).copied()
    }

    /// Operator `operator`'s state of `key_group`, if it had any.
    pub fn keyed_state(
        &self,
        operator: usize,
        key_group: u16,
    ) -> Result<Option<Vec<u8>>, CheckpointError> {
        let Some(name) = self.metadata.keyed.get(&(operator, key_group)) else {
            return Ok(None);
        };
        let file = self.task_file(name)?;
        Ok(file
            .keyed
            .iter()
            .find(|(o, g, _)| (*o, *g) == (operator, key_group))
            .map(|(_, _, bytes)| bytes.clone()))
    }

    /// Operator `operator`'s state of every subtask that had any, by subtask.
    pub fn subtask_states(
        &self,
        operator: usize,
    ) -> Result<Vec<(usize, Vec<u8>)>, CheckpointError> {
        let mut states = Vec::new();
        for (&(o, subtask), name) in self
            .metadata
            .subtasks
            .range((operator, 0)..=(operator, usize::MAX))
        {
            let file = self.task_file(name)?;
            if let Some((_, _, bytes)) = file
                .operator
                .iter()
                .find(|(fo, fs, _)| (*fo, *fs) == (o, subtask))
            {
                states.push((subtask, bytes.clone()));
            }
        }
        Ok(states)
    }

    /// Operator `operator`'s state of subtask `subtask`, if it had any.
    pub fn subtask_state(
        &self,
        operator: usize,
        subtask: usize,
    ) -> Result<Option<Vec<u8>>, CheckpointError> {
        Ok(self
            .subtask_states(operator)?
            .into_iter()
            .find(|(s, _)| *s == subtask)
            .map(|(_, bytes)| bytes))
    }
}

#[cfg(test)]
mod coordinator_tests {
    use super::*;

    fn state(operator: usize, key_group: u16, subtask: usize) -> TaskState {
        TaskState {
            keyed: vec![(operator, key_group, vec![key_group as u8; 3])],
            operator: vec![(0, subtask, vec![subtask as u8])],
        }
    }

    #[test]
    fn a_checkpoint_completes_when_every_subtask_acknowledged_it() {
        let mut coordinator = CheckpointCoordinator::new(3, 1);
        let id = coordinator.trigger(100).unwrap();
        assert_eq!(id, 1);
        assert_eq!(coordinator.trigger(150), None, "one checkpoint at a time");
        assert!(coordinator
            .acknowledge(id, (0, 0), state(1, 5, 0))
            .unwrap()
            .is_none());
        assert!(coordinator
            .acknowledge(id, (0, 0), TaskState::default())
            .is_err());
        assert!(coordinator
            .acknowledge(id, (1, 0), state(1, 70, 0))
            .unwrap()
            .is_none());
        let done = coordinator
            .acknowledge(id, (1, 1), state(1, 100, 1))
            .unwrap()
            .unwrap();
        assert_eq!((done.id, done.triggered_at, done.tasks.len()), (1, 100, 3));
        assert_eq!(coordinator.last_completed(), Some(1));
        assert_eq!(coordinator.trigger(200), Some(2));
    }

    #[test]
    fn expired_and_interrupted_checkpoints_never_complete() {
        let mut coordinator = CheckpointCoordinator::new(2, 7);
        let first = coordinator.trigger(0).unwrap();
        assert_eq!(coordinator.expire(500, 1000), Vec::<u64>::new());
        assert_eq!(coordinator.expire(1500, 1000), vec![first]);
        // A late acknowledgement of the aborted checkpoint is ignored.
        assert!(coordinator
            .acknowledge(first, (0, 0), TaskState::default())
            .unwrap()
            .is_none());
        assert!(coordinator
            .acknowledge(first, (0, 1), TaskState::default())
            .unwrap()
            .is_none());
        let second = coordinator.trigger(2000).unwrap();
        assert_eq!(second, first + 1);
        coordinator
            .acknowledge(second, (0, 0), TaskState::default())
            .unwrap();
        // A subtask finishes: the checkpoint cannot complete, and no other starts.
        assert_eq!(coordinator.task_finished(), vec![second]);
        assert!(coordinator
            .acknowledge(second, (0, 1), TaskState::default())
            .unwrap()
            .is_none());
        assert_eq!(coordinator.trigger(3000), None);
        assert_eq!(coordinator.last_completed(), None);
    }

    #[test]
    fn an_acknowledged_checkpoint_is_written_and_read_back_by_operator_and_key_group() {
        let root = std::env::temp_dir().join(format!(
            "dataflow-coordinator-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let storage = CheckpointStorage::new(&root, 2).unwrap();
        let mut coordinator = CheckpointCoordinator::new(2, 1);
        let id = coordinator.trigger(10).unwrap();
        coordinator.acknowledge(id, (0, 0), state(4, 3, 0)).unwrap();
        let done = coordinator
            .acknowledge(id, (0, 1), state(4, 90, 1))
            .unwrap()
            .unwrap();
        done.write(&storage, &crate::plan::ONE_SOURCE_PLAN, 2, 128)
            .unwrap();
        let (checkpoint, _) = Checkpoint::resolve(&root).unwrap();
        assert_eq!(checkpoint.keyed_state(4, 3).unwrap(), Some(vec![3; 3]));
        assert_eq!(checkpoint.keyed_state(4, 90).unwrap(), Some(vec![90; 3]));
        assert_eq!(checkpoint.keyed_state(4, 4).unwrap(), None);
        assert_eq!(checkpoint.subtask_state(0, 1).unwrap(), Some(vec![1]));
        assert_eq!(checkpoint.subtask_state(9, 0).unwrap(), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}

/// Periodic checkpoints of a streaming job.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// How often a checkpoint is triggered.
    pub interval: std::time::Duration,
    /// Where checkpoints are written (`chk-<id>/` directories).
    pub dir: PathBuf,
    /// How many complete checkpoints are kept.
    pub retained: usize,
    /// At-least-once instead of exactly-once: tasks with several inputs do not hold inputs
    /// back while a barrier aligns (no alignment delay; records may be counted twice after a
    /// restore).
    pub at_least_once: bool,
}

/// What a subtask tells the coordinator.
#[derive(Debug)]
pub(crate) enum Ack {
    /// The subtask snapshotted checkpoint `id`.
    State {
        id: u64,
        task: TaskId,
        state: TaskState,
    },
    /// The subtask reached end of input.
    Finished(TaskId),
}

/// A subtask's side of checkpointing: the triggers (sources), the acknowledgements, and the
/// checkpoint the job restores.
pub(crate) struct TaskCheckpoints {
    pub(crate) task: TaskId,
    pub(crate) trigger: tokio::sync::watch::Receiver<u64>,
    /// The newest completed checkpoint.
    completed: tokio::sync::watch::Receiver<u64>,
    pub(crate) acks: std::sync::mpsc::Sender<Ack>,
    pub(crate) restore: Option<std::sync::Arc<Checkpoint>>,
    /// The newest checkpoint this source subtask started.
    started: u64,
}

impl TaskCheckpoints {
    pub(crate) fn new(
        task: TaskId,
        trigger: tokio::sync::watch::Receiver<u64>,
        completed: tokio::sync::watch::Receiver<u64>,
        acks: std::sync::mpsc::Sender<Ack>,
        restore: Option<std::sync::Arc<Checkpoint>>,
    ) -> Self {
        let started = *trigger.borrow();
        TaskCheckpoints {
            task,
            trigger,
            completed,
            acks,
            restore,
            started,
        }
    }

    /// A checkpoint triggered since the last call (sources start checkpoints).
    pub(crate) fn triggered(&mut self) -> Option<u64> {
        let id = *self.trigger.borrow();
        (id > self.started).then(|| {
            self.started = id;
            id
        })
    }

    /// A checkpoint completed since the last call: sinks commit what it covers.
    pub(crate) fn newly_completed(&mut self) -> Option<u64> {
        if self.completed.has_changed().unwrap_or(false) {
            Some(*self.completed.borrow_and_update())
        } else {
            None
        }
    }

    /// Hands the subtask's state for checkpoint `id` to the coordinator.
    pub(crate) fn acknowledge(&self, id: u64, state: TaskState) {
        // The coordinator is gone only when the job is ending: nothing left to checkpoint.
        let _ = self.acks.send(Ack::State {
            id,
            task: self.task,
            state,
        });
    }

    /// The subtask reached end of input.
    pub(crate) fn finished(&self) {
        let _ = self.acks.send(Ack::Finished(self.task));
    }
}

/// A request for a savepoint: the reply is the savepoint's directory, or why none was taken.
pub(crate) type SavepointRequest = std::sync::mpsc::Sender<Result<PathBuf, String>>;

/// What the coordinator of a job works with.
pub(crate) struct CoordinatorSetup {
    pub(crate) storage: CheckpointStorage,
    pub(crate) config: CheckpointConfig,
    pub(crate) trigger: tokio::sync::watch::Sender<u64>,
    pub(crate) completed: tokio::sync::watch::Sender<u64>,
    pub(crate) acks: std::sync::mpsc::Receiver<Ack>,
    /// Where savepoints go, and the requests for one (a clean stop).
    pub(crate) savepoints: Option<(
        CheckpointStorage,
        std::sync::mpsc::Receiver<SavepointRequest>,
    )>,
    pub(crate) plan: &'static crate::plan::JobPlan,
    pub(crate) parallelism: usize,
    pub(crate) max_parallelism: usize,
}

/// What one completed checkpoint took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Its id.
    pub id: u64,
    /// From the trigger to the metadata written (ms).
    pub duration_ms: i64,
    /// Its state, in bytes (all files).
    pub bytes: u64,
}

/// Runs the checkpoints of a job on its own thread until every subtask's acknowledgement
/// channel closed: triggers one every `config.interval`, and writes each one every subtask
/// acknowledged (in the background of the job: the subtasks carry on meanwhile). A thread
/// of its own, not a task, so that busy subtasks never delay a trigger. Returns how many
/// checkpoints completed.
pub(crate) fn coordinate(
    mut coordinator: CheckpointCoordinator,
    setup: CoordinatorSetup,
) -> Vec<CheckpointStats> {
    let CoordinatorSetup {
        storage,
        config,
        trigger,
        completed: completed_tx,
        acks,
        savepoints,
        plan,
        parallelism,
        max_parallelism,
    } = setup;
    // A checkpoint that takes ten intervals (at least ten seconds) is given up.
    let timeout = (config.interval.as_millis() as i64 * 10).max(10_000);
    let mut next_tick = std::time::Instant::now() + config.interval;
    let mut completed = Vec::new();
    // A savepoint asked for, and the checkpoint id taking it once triggered.
    let mut savepoint: Option<(SavepointRequest, Option<u64>)> = None;
    // Savepoint requests are looked for this often.
    let poll = std::time::Duration::from_millis(10);
    loop {
        let mut wait = next_tick.saturating_duration_since(std::time::Instant::now());
        if savepoints.is_some() {
            wait = wait.min(poll);
        }
        let received = acks.recv_timeout(wait);
        let now = crate::time::processing_time_now();
        if let Some((_, requests)) = &savepoints {
            if savepoint.is_none() {
                if let Ok(reply) = requests.try_recv() {
                    savepoint = Some((reply, None));
                }
            }
        }
        // A requested savepoint starts as soon as no checkpoint is in flight.
        if let Some((_, started @ None)) = &mut savepoint {
            if let Some(id) = coordinator.trigger(now) {
                *started = Some(id);
                trigger.send_replace(id);
            }
        }
        match received {
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if std::time::Instant::now() < next_tick {
                    continue;
                }
                next_tick += config.interval;
                for id in coordinator.expire(now, timeout) {
                    tracing::warn!(checkpoint = id, "checkpoint timed out and was aborted");
                    if matches!(&savepoint, Some((_, Some(s))) if *s == id) {
                        if let Some((reply, _)) = savepoint.take() {
                            let _ = reply.send(Err(format!("savepoint {id} timed out")));
                        }
                    }
                }
                if let Some(id) = coordinator.trigger(now) {
                    trigger.send_replace(id);
                }
            }
            Ok(Ack::Finished((chain, subtask))) => {
                coordinator.task_finished();
                if let Some((reply, _)) = savepoint.take() {
                    let operator = plan.chains[chain].operators[0];
                    let _ = reply.send(Err(format!(
                        "`{}` (subtask {subtask}) already finished, so no savepoint can complete",
                        plan.operators[operator].name
                    )));
                }
            }
            Ok(Ack::State { id, task, state }) => match coordinator.acknowledge(id, task, state) {
                Ok(Some(done)) => {
                    let is_savepoint = matches!(&savepoint, Some((_, Some(s))) if *s == id);
                    let target = match (&savepoints, is_savepoint) {
                        (Some((savepoint_storage, _)), true) => savepoint_storage,
                        _ => &storage,
                    };
                    let written = done.write(target, plan, parallelism, max_parallelism);
                    if is_savepoint {
                        if let Some((reply, _)) = savepoint.take() {
                            let _ = reply.send(match &written {
                                Ok(checkpoint) => Ok(checkpoint.dir().to_path_buf()),
                                Err(e) => Err(e.to_string()),
                            });
                        }
                    }
                    match written {
                        Ok(checkpoint) => {
                            let metadata = checkpoint.metadata();
                            completed.push(CheckpointStats {
                                id,
                                duration_ms: crate::time::processing_time_now()
                                    - metadata.triggered_at,
                                bytes: metadata.files.values().map(|f| f.len).sum(),
                            });
                            // Sinks commit the output the checkpoint covers.
                            completed_tx.send_replace(id);
                        }
                        Err(e) => {
                            tracing::warn!(checkpoint = id, error = %e, "checkpoint could not be written")
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(checkpoint = id, error = %e, "bad acknowledgement"),
            },
        }
    }
    completed
}
