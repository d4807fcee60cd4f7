//! Exactly-once files: the two-phase commit protocol of a file sink subtask under
//! checkpointing (Flink's `TwoPhaseCommitSinkFunction` for files).
//!
//! Lines go to a hidden in-progress file. On checkpoint barrier `n` the subtask
//! *pre-commits*: the file is synced and renamed to a hidden pending file tagged `n`, and
//! the next lines start a new in-progress file. When checkpoint `n` is complete, pending
//! files up to `n` are *committed*: renamed to their visible name `<prefix>-<n>` (an atomic
//! rename, so a reader sees a whole file or none). After a failure, the job restores
//! checkpoint `r` and calls [`recover`]: pending files up to `r` belonged to a complete
//! checkpoint and are committed (the commit may have been lost with the process), everything
//! newer or in progress is deleted. Committed output is thus never duplicated and never
//! lost.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// One sink subtask's transactional output in a directory: visible files
/// `<prefix>-<checkpoint>`, plus hidden in-progress and pending ones.
pub struct TransactionalFiles {
    dir: PathBuf,
    prefix: String,
    /// The open in-progress file, if lines were written since the last pre-commit.
    current: Option<(PathBuf, BufWriter<File>)>,
    /// Pre-committed files, waiting for their checkpoint to complete: `(checkpoint, path)`.
    pending: Vec<(u64, PathBuf)>,
}

fn in_progress_name(prefix: &str) -> String {
    format!(".{prefix}.inprogress")
}

fn pending_name(prefix: &str, checkpoint: u64) -> String {
    format!(".{prefix}-{checkpoint}.pending")
}

/// The visible name of the output `prefix` committed with checkpoint `checkpoint`.
pub fn committed_name(prefix: &str, checkpoint: u64) -> String {
    format!("{prefix}-{checkpoint}")
}

fn context<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("cannot {what} `{}`: {e}", path.display()))
}

impl TransactionalFiles {
    /// Output `prefix` (e.g. `part-3`) in `dir`, created if needed. Call [`recover`] first
    /// when restoring.
    pub fn new(dir: impl Into<PathBuf>, prefix: impl Into<String>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(context(&dir, "create directory"))?;
        Ok(TransactionalFiles {
            dir,
            prefix: prefix.into(),
            current: None,
            pending: Vec::new(),
        })
    }

    /// Appends bytes to the open transaction.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.current.is_none() {
            let path = self.dir.join(in_progress_name(&self.prefix));
            let file = File::create(&path).map_err(context(&path, "create"))?;
            self.current = Some((path, BufWriter::new(file)));
        }
        let (path, file) = self.current.as_mut().expect("opened above");
        file.write_all(bytes).map_err(context(path, "write"))
    }

    /// Checkpoint barrier `checkpoint`: what was written so far becomes durable and pending.
    pub fn pre_commit(&mut self, checkpoint: u64) -> io::Result<()> {
        let Some((path, mut file)) = self.current.take() else {
            return Ok(());
        };
        file.flush().map_err(context(&path, "write"))?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all().map_err(context(&path, "sync"))?;
        let pending = self.dir.join(pending_name(&self.prefix, checkpoint));
        fs::rename(&path, &pending).map_err(context(&pending, "pre-commit"))?;
        self.pending.push((checkpoint, pending));
        Ok(())
    }

    /// Checkpoint `checkpoint` is complete: the pending files up to it become visible.
    pub fn commit(&mut self, checkpoint: u64) -> io::Result<()> {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(id, _)| *id <= checkpoint);
        self.pending = later;
        for (id, path) in due {
            let visible = self.dir.join(committed_name(&self.prefix, id));
            fs::rename(&path, &visible).map_err(context(&visible, "commit"))?;
        }
        sync_dir(&self.dir)
    }

    /// The checkpoints with pre-committed, uncommitted files (the state a checkpoint keeps).
    pub fn pending_checkpoints(&self) -> Vec<u64> {
        self.pending.iter().map(|(id, _)| *id).collect()
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir) {
        Ok(handle) => handle.sync_all().map_err(context(dir, "sync")),
        Err(_) => Ok(()),
    }
}

/// After a failure, for output `prefix` in `dir` restored to checkpoint `restored` (`None`:
/// no checkpoint, a fresh start): commits the pending files of checkpoints up to it and
/// deletes what is newer or still in progress. Returns the checkpoints it committed.
pub fn recover(dir: &Path, prefix: &str, restored: Option<u64>) -> io::Result<Vec<u64>> {
    let mut committed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(committed),
        Err(e) => return Err(context(dir, "read directory")(e)),
    };
    let pending_prefix = format!(".{prefix}-");
    for entry in entries {
        let entry = entry.map_err(context(dir, "read directory"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name == in_progress_name(prefix) {
            fs::remove_file(&path).map_err(context(&path, "discard"))?;
        } else if let Some(id) = name
            .strip_prefix(&pending_prefix)
            .and_then(|rest| rest.strip_suffix(".pending"))
            .and_then(|id| id.parse::<u64>().ok())
        {
            if restored.is_some_and(|r| id <= r) {
                let visible = dir.join(committed_name(prefix, id));
                fs::rename(&path, &visible).map_err(context(&visible, "commit"))?;
                committed.push(id);
            } else {
                fs::remove_file(&path).map_err(context(&path, "discard"))?;
            }
        }
    }
    committed.sort_unstable();
    sync_dir(dir)?;
    Ok(committed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dataflow-2pc-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn visible(dir: &Path) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_name().to_str().unwrap().starts_with('.'))
            .map(|e| {
                (
                    e.file_name().into_string().unwrap(),
                    fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn output_becomes_visible_only_when_its_checkpoint_completes() {
        let dir = scratch("commit");
        let mut out = TransactionalFiles::new(&dir, "part-0").unwrap();
        out.write(b"a\nb\n").unwrap();
        out.pre_commit(1).unwrap();
        out.write(b"c\n").unwrap();
        out.pre_commit(2).unwrap();
        out.write(b"d\n").unwrap();
        assert!(
            visible(&dir).is_empty(),
            "nothing before a checkpoint completes"
        );
        assert_eq!(out.pending_checkpoints(), [1, 2]);
        out.commit(1).unwrap();
        assert_eq!(visible(&dir), [("part-0-1".into(), "a\nb\n".into())]);
        // "d" belongs to checkpoint 3; a barrier with nothing written since (4) pre-commits
        // nothing.
        out.pre_commit(3).unwrap();
        out.pre_commit(4).unwrap();
        out.commit(4).unwrap();
        assert_eq!(
            visible(&dir),
            [
                ("part-0-1".into(), "a\nb\n".into()),
                ("part-0-2".into(), "c\n".into()),
                ("part-0-3".into(), "d\n".into()),
            ]
        );
        assert!(out.pending_checkpoints().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn recovery_commits_what_a_complete_checkpoint_covered_and_discards_the_rest() {
        let dir = scratch("recover");
        let mut out = TransactionalFiles::new(&dir, "part-1").unwrap();
        out.write(b"one\n").unwrap();
        out.pre_commit(5).unwrap();
        out.write(b"two\n").unwrap();
        out.pre_commit(6).unwrap();
        out.write(b"three, never checkpointed\n").unwrap();
        out.current.as_mut().unwrap().1.flush().unwrap();
        // The process dies: checkpoint 5 completed (its commit was lost), 6 did not.
        drop(out);
        // Another subtask's files are not touched.
        fs::write(dir.join(".part-10-6.pending"), "other").unwrap();
        assert_eq!(recover(&dir, "part-1", Some(5)).unwrap(), [5]);
        assert_eq!(visible(&dir), [("part-1-5".into(), "one\n".into())]);
        assert!(dir.join(".part-10-6.pending").exists());
        assert!(!dir.join(".part-1.inprogress").exists());
        assert!(!dir.join(".part-1-6.pending").exists());
        // Recovering again (a second failure right after) changes nothing.
        assert_eq!(recover(&dir, "part-1", Some(5)).unwrap(), Vec::<u64>::new());
        assert_eq!(visible(&dir), [("part-1-5".into(), "one\n".into())]);
        // A fresh start without a checkpoint keeps nothing uncommitted.
        assert_eq!(recover(&dir, "part-10", None).unwrap(), Vec::<u64>::new());
        assert!(!dir.join(".part-10-6.pending").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
