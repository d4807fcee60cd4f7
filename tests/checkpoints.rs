//! Checkpoints end to end: a streaming job writes complete checkpoints while it runs, and a
//! job restored from one resumes with the state and the source positions it recorded, so
//! every record counts exactly once in the restored state.

use std::path::PathBuf;
use std::time::Duration;

use dataflow::prelude::*;
use dataflow::runtime::checkpoint::{Checkpoint, CheckpointConfig};

const KEYS: u64 = 50;

dataflow! {
    /// A rolling count per key over `n` generated records.
    job counting(n: u64, out: Collected<(u64, u64)>) {
        generate(n, |i| i % 50)
            .key_by(|k| *k)
            .count()
            .collect(out);
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dataflow-checkpoints-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The highest count emitted per key.
fn final_counts(out: Vec<(u64, u64)>) -> Vec<u64> {
    let mut counts = vec![0; KEYS as usize];
    for (key, count) in out {
        counts[key as usize] = counts[key as usize].max(count);
    }
    counts
}

#[test]
fn a_restored_job_resumes_from_its_checkpoint_and_counts_every_record_once() {
    let n = 2_000_000;
    let dir = scratch("resume");
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: Some(CheckpointConfig {
            interval: Duration::from_millis(5),
            dir: dir.clone(),
            retained: 2,
        }),
        ..JobConfig::with_parallelism(2)
    };
    let out = Collected::new();
    let report = counting::run(&config, n, out.clone()).unwrap();
    assert!(report.checkpoints >= 1, "no checkpoint completed: {report}");
    assert_eq!(final_counts(out.take()), vec![n / KEYS; KEYS as usize]);
    let (checkpoint, skipped) = Checkpoint::resolve(&dir).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let kept = std::fs::read_dir(&dir).unwrap().count();
    assert!((1..=2).contains(&kept), "retention keeps 2, found {kept}");

    // Restored, the job starts from the checkpoint: it replays only what came after it,
    // and its counts carry on from the checkpointed ones.
    let restored = JobConfig {
        mode: ExecutionMode::Streaming,
        restore: Some(checkpoint.dir().to_path_buf()),
        ..JobConfig::with_parallelism(2)
    };
    let out = Collected::new();
    counting::run(&restored, n, out.clone()).unwrap();
    let replayed = out.take();
    assert!(
        (replayed.len() as u64) < n,
        "the restored job replayed {} of {n} records: it did not resume",
        replayed.len()
    );
    assert_eq!(final_counts(replayed), vec![n / KEYS; KEYS as usize]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn restoring_a_missing_checkpoint_fails_with_a_clear_error() {
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        restore: Some(scratch("missing")),
        ..JobConfig::with_parallelism(1)
    };
    let error = counting::run(&config, 10, Collected::new()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("cannot restore"), "{message}");
}
