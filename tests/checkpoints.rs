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

/// Streaming mode at parallelism 2 with a checkpoint every 5 ms into `dir`.
fn checkpointed_every_5ms(
    dir: &std::path::Path,
    retained: usize,
    at_least_once: bool,
) -> JobConfig {
    JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: Some(CheckpointConfig {
            interval: Duration::from_millis(5),
            dir: dir.to_path_buf(),
            retained,
            at_least_once,
        }),
        ..JobConfig::with_parallelism(2)
    }
}

/// Runs `job` until a run completed a checkpoint (at most 5 runs) and returns that run's
/// report. Under load (a fresh clone's CI), one source subtask can end before the first
/// checkpoint completes, and none starts after that. `job` checks each run's output itself.
fn until_checkpointed(mut job: impl FnMut() -> JobReport) -> JobReport {
    for _ in 0..5 {
        let report = job();
        if report.checkpoints >= 1 {
            return report;
        }
    }
    panic!("no checkpoint completed in 5 runs");
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
    let config = checkpointed_every_5ms(&dir, 2, false);
    let out = Collected::new();
    until_checkpointed(|| {
        out.take();
        counting::run(&config, n, out.clone()).unwrap()
    });
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

dataflow! {
    /// A rolling count per key, written as `key count` lines.
    job counting_to_files(n: u64, output: PathBuf) {
        generate(n, |i| i % 50)
            .key_by(|k| *k)
            .count()
            .write_lines(output, |(key, count)| format!("{key} {count}"));
    }
}

/// Every line of the visible (committed) files in `dir`.
fn committed_lines(dir: &std::path::Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_str().unwrap().starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines.sort();
    lines
}

#[test]
fn a_job_cancelled_mid_run_and_restored_commits_every_update_exactly_once() {
    let n = 2_000_000;
    let checkpoints = scratch("exactly-once-checkpoints");
    let output = scratch("exactly-once-output");
    let canceller = JobCanceller::default();
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: Some(CheckpointConfig {
            interval: Duration::from_millis(5),
            dir: checkpoints.clone(),
            retained: 3,
            at_least_once: false,
        }),
        canceller: Some(canceller.clone()),
        ..JobConfig::with_parallelism(2)
    };
    // Cancel the job (a crash: nothing is finished or flushed) once a checkpoint completed.
    let watched = checkpoints.clone();
    let killer = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        while Checkpoint::resolve(&watched).is_err() && started.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        canceller.cancel();
    });
    let first = counting_to_files::run(&config, n, output.clone());
    killer.join().unwrap();
    assert!(
        first.is_err(),
        "the job was expected to be cancelled before its end"
    );
    let committed_before = committed_lines(&output).len();

    let restored = JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: Some(CheckpointConfig {
            interval: Duration::from_millis(5),
            dir: checkpoints.clone(),
            retained: 3,
            at_least_once: false,
        }),
        restore: Some(checkpoints.clone()),
        ..JobConfig::with_parallelism(2)
    };
    counting_to_files::run(&restored, n, output.clone()).unwrap();
    let mut expected: Vec<String> = (0..50u64)
        .flat_map(|key| (1..=n / 50).map(move |count| format!("{key} {count}")))
        .collect();
    expected.sort();
    let lines = committed_lines(&output);
    assert_eq!(
        lines.len(),
        expected.len(),
        "committed before the restore: {committed_before}"
    );
    assert_eq!(lines, expected);
    // No uncommitted file is left behind.
    let hidden = std::fs::read_dir(&output)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .starts_with('.')
        })
        .count();
    assert_eq!(hidden, 0);
    std::fs::remove_dir_all(checkpoints).unwrap();
    std::fs::remove_dir_all(output).unwrap();
}

#[test]
fn at_least_once_checkpoints_complete_without_alignment_and_lose_nothing() {
    // Long enough that checkpoints complete while both source subtasks run, also when the
    // other tests of this file load both cores.
    let n = 3_000_000;
    let dir = scratch("at-least-once");
    let config = checkpointed_every_5ms(&dir, 1, true);
    let out = Collected::new();
    until_checkpointed(|| {
        out.take();
        counting::run(&config, n, out.clone()).unwrap()
    });
    assert_eq!(final_counts(out.take()), vec![n / KEYS; KEYS as usize]);
    // Restored, nothing is lost (records may count twice: at least once).
    let restored = JobConfig {
        mode: ExecutionMode::Streaming,
        restore: Some(dir.clone()),
        ..JobConfig::with_parallelism(2)
    };
    let out = Collected::new();
    counting::run(&restored, n, out.clone()).unwrap();
    for count in final_counts(out.take()) {
        assert!(count >= n / KEYS, "{count}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_checkpoint_taken_at_parallelism_2_restores_at_1_and_at_4() {
    let n = 2_000_000;
    let dir = scratch("rescale");
    let config = checkpointed_every_5ms(&dir, 1, false);
    until_checkpointed(|| counting::run(&config, n, Collected::new()).unwrap());
    let (checkpoint, _) = Checkpoint::resolve(&dir).unwrap();
    for parallelism in [1, 4] {
        // Keyed state moves by key group, the source's remaining ranges by earlier subtask.
        let restored = JobConfig {
            mode: ExecutionMode::Streaming,
            restore: Some(checkpoint.dir().to_path_buf()),
            ..JobConfig::with_parallelism(parallelism)
        };
        let out = Collected::new();
        counting::run(&restored, n, out.clone()).unwrap();
        let replayed = out.take();
        assert!((replayed.len() as u64) < n, "parallelism {parallelism}");
        assert_eq!(
            final_counts(replayed),
            vec![n / KEYS; KEYS as usize],
            "parallelism {parallelism}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// When the fault-injection job's `map` panics: after this many records (`u64::MAX`: never).
static PANIC_AFTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);
/// Records the `map` saw in this run.
static SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Held by the tests that inject faults: they share the two counters above.
static FAULT_INJECTION: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Counts a record; panics once the injected fault is due.
fn maybe_fail(key: u64) -> u64 {
    use std::sync::atomic::Ordering::Relaxed;
    if SEEN.fetch_add(1, Relaxed) == PANIC_AFTER.load(Relaxed) {
        panic!("injected fault");
    }
    key
}

/// Event `i` of the fault-injection job: a scrambled key among 97, 100 events per ms.
fn fault_event(i: u64) -> (u64, i64) {
    (
        (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 97,
        (i / 100) as i64,
    )
}

dataflow! {
    /// Per key, events counted in 50 ms tumbling event-time windows, written through the
    /// transactional file sink as `key window_end count`; a `map` fails on demand.
    job windowed_counts(n: u64, output: PathBuf) {
        generate(n, fault_event)
            .map(|e| (maybe_fail(e.0), e.1, 1u64))
            .assign_timestamps(|e| e.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(5)))
            .key_by(|e| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(50)))
            .reduce(|a, b| (a.0, a.1, a.2 + b.2), |key, window, total| std::iter::once((*key, window.end, total.2)))
            .write_lines(output, |(key, end, count)| format!("{key} {end} {count}"));
    }
}

#[test]
fn after_an_injected_failure_the_restored_job_commits_exactly_the_failure_free_output() {
    let _exclusive = FAULT_INJECTION.lock().unwrap_or_else(|e| e.into_inner());
    use rand::{Rng, SeedableRng};
    use std::sync::atomic::Ordering::Relaxed;
    let n: u64 = 600_000;
    let mut expected: std::collections::BTreeMap<(u64, i64), u64> = Default::default();
    for i in 0..n {
        let (key, ts) = fault_event(i);
        *expected.entry((key, ts - ts % 50 + 50)).or_default() += 1;
    }
    let mut expected_lines: Vec<String> = expected
        .iter()
        .map(|((key, end), count)| format!("{key} {end} {count}"))
        .collect();
    expected_lines.sort();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let mut restored_runs = 0;
    for seed in 0..30 {
        let checkpoints = scratch(&format!("fault-{seed}-checkpoints"));
        let output = scratch(&format!("fault-{seed}-output"));
        let checkpointing = || CheckpointConfig {
            interval: Duration::from_millis(2),
            dir: checkpoints.clone(),
            retained: 2,
            at_least_once: false,
        };
        let config = JobConfig {
            mode: ExecutionMode::Streaming,
            checkpointing: Some(checkpointing()),
            restart: dataflow::runtime::job::RestartStrategy::FixedDelay {
                attempts: 1,
                delay: Duration::from_millis(1),
            },
            ..JobConfig::with_parallelism(2)
        };
        // The fault strikes anywhere after the first tenth of the first attempt: most runs
        // have a checkpoint by then, some do not and restart from scratch. The restart
        // strategy reruns the job from its last complete checkpoint.
        let fail_at = rng.gen_range(n / 10..n);
        let mut attempts: Vec<(Option<PathBuf>, String)> = Vec::new();
        dataflow::runtime::job::run_with_restarts(&config, |attempt| {
            SEEN.store(0, Relaxed);
            let first = attempts.is_empty();
            PANIC_AFTER.store(if first { fail_at } else { u64::MAX }, Relaxed);
            let result = windowed_counts::run(attempt, n, output.clone());
            let outcome = match &result {
                Ok(_) => "ok".to_string(),
                Err(e) => e.to_string(),
            };
            attempts.push((attempt.restore.clone(), outcome));
            result
        })
        .unwrap();
        PANIC_AFTER.store(u64::MAX, Relaxed);
        assert_eq!(attempts.len(), 2, "seed {seed}: {attempts:?}");
        assert!(
            attempts[0].1.contains("injected fault"),
            "seed {seed}: {attempts:?}"
        );
        restored_runs += usize::from(attempts[1].0.is_some());
        assert_eq!(committed_lines(&output), expected_lines, "seed {seed}");
        std::fs::remove_dir_all(&checkpoints).unwrap();
        std::fs::remove_dir_all(&output).unwrap();
    }
    eprintln!("{restored_runs} of 30 runs restored a checkpoint");
    assert!(
        restored_runs >= 10,
        "only {restored_runs} of 30 runs had a checkpoint to restore"
    );
}

#[test]
fn a_failed_job_restarts_from_its_last_checkpoint_in_the_same_process() {
    let _exclusive = FAULT_INJECTION.lock().unwrap_or_else(|e| e.into_inner());
    use dataflow::runtime::job::{run_with_restarts, RestartStrategy};
    use std::sync::atomic::Ordering::Relaxed;
    let n: u64 = 600_000;
    let checkpoints = scratch("restart-checkpoints");
    let output = scratch("restart-output");
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: Some(CheckpointConfig {
            interval: Duration::from_millis(2),
            dir: checkpoints.clone(),
            retained: 2,
            at_least_once: false,
        }),
        restart: RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(10),
        },
        ..JobConfig::with_parallelism(2)
    };
    let mut attempts = Vec::new();
    let report = run_with_restarts(&config, |attempt| {
        // The first attempt fails three quarters through; the restart runs clean.
        SEEN.store(0, Relaxed);
        let fail_at = if attempts.is_empty() {
            n * 3 / 4
        } else {
            u64::MAX
        };
        PANIC_AFTER.store(fail_at, Relaxed);
        attempts.push(attempt.restore.clone());
        windowed_counts::run(attempt, n, output.clone())
    })
    .unwrap();
    PANIC_AFTER.store(u64::MAX, Relaxed);
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0], None);
    assert_eq!(
        attempts[1],
        Some(checkpoints.clone()),
        "the restart restores the checkpoints"
    );
    let replayed = report.operator("generate").map_or(0, |op| op.records_out);
    assert!(replayed < n, "the restart replayed everything");
    let mut expected: std::collections::BTreeMap<(u64, i64), u64> = Default::default();
    for i in 0..n {
        let (key, ts) = fault_event(i);
        *expected.entry((key, ts - ts % 50 + 50)).or_default() += 1;
    }
    let mut expected: Vec<String> = expected
        .iter()
        .map(|((key, end), count)| format!("{key} {end} {count}"))
        .collect();
    expected.sort();
    assert_eq!(committed_lines(&output), expected);
    // Without a restart strategy, the failure is the job's result.
    SEEN.store(0, Relaxed);
    PANIC_AFTER.store(10, Relaxed);
    let once = JobConfig {
        restart: RestartStrategy::None,
        ..config
    };
    assert!(run_with_restarts(&once, |c| windowed_counts::run(c, n, output.clone())).is_err());
    PANIC_AFTER.store(u64::MAX, Relaxed);
    std::fs::remove_dir_all(checkpoints).unwrap();
    std::fs::remove_dir_all(output).unwrap();
}

dataflow! {
    /// A slow stream and a fast one merged into one keyed count.
    job skewed(out: Collected<(u64, u64)>) {
        let slow = generate(1200, |i| {
            std::thread::sleep(Duration::from_millis(1));
            i % 50
        });
        generate(3_000_000, |i| i % 50)
            .union(slow)
            .key_by(|k| *k)
            .count()
            .collect(out);
    }
}

#[test]
fn barriers_align_under_skew_and_checkpoints_complete() {
    let dir = scratch("skew");
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: Some(CheckpointConfig {
            interval: Duration::from_millis(10),
            dir: dir.clone(),
            retained: 1,
            at_least_once: false,
        }),
        // Small batches: a source checks for a checkpoint between two batches, and a batch
        // of the slow source takes a millisecond per record.
        exchange: dataflow::runtime::exchange::ExchangeConfig {
            batch_size: 8,
            ..Default::default()
        },
        ..JobConfig::with_parallelism(2)
    };
    let out = Collected::new();
    let report = skewed::run(&config, out.clone()).unwrap();
    // The fast input waits at each barrier for the slow one (its channel is bounded: it
    // is held back, not buffered), and checkpoints still complete.
    eprintln!("{} checkpoints", report.checkpoints);
    assert!(report.checkpoints >= 2, "{report}");
    let total: u64 = final_counts(out.take()).iter().sum();
    assert_eq!(total, 3_001_200);
    std::fs::remove_dir_all(dir).unwrap();
}

dataflow! {
    /// `counting` with an operator added before the count.
    job counting_changed(n: u64, out: Collected<(u64, u64)>) {
        generate(n, |i| i % 50)
            .map(|k| k)
            .key_by(|k| *k)
            .count()
            .collect(out);
    }
}

#[test]
fn state_is_found_by_operator_name_after_the_job_changed_elsewhere() {
    let n = 2_000_000;
    let dir = scratch("changed-job");
    let config = checkpointed_every_5ms(&dir, 1, false);
    until_checkpointed(|| counting::run(&config, n, Collected::new()).unwrap());
    // A `map` added before the count moves the count in the plan; its state (found by
    // its name, `count`) and the source's position (`generate`) are restored all the same.
    let restored = JobConfig {
        mode: ExecutionMode::Streaming,
        restore: Some(dir.clone()),
        ..JobConfig::with_parallelism(2)
    };
    let out = Collected::new();
    counting_changed::run(&restored, n, out.clone()).unwrap();
    let replayed = out.take();
    assert!((replayed.len() as u64) < n);
    assert_eq!(final_counts(replayed), vec![n / KEYS; KEYS as usize]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Counts each key's records and reports those above the key's limit (broadcast rules).
#[derive(Clone)]
struct Limits;

impl KeyedBroadcastProcessFunction<u64, u64, (u64, u64)> for Limits {
    type State = u64;
    type BroadcastState = std::collections::BTreeMap<u64, u64>;
    type Out = (u64, u64);

    fn process_element(
        &mut self,
        key: &u64,
        seen: &mut u64,
        _item: u64,
        limits: &Self::BroadcastState,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) {
        *seen += 1;
        if limits.get(key).is_some_and(|limit| *seen > *limit) {
            ctx.output((*key, *seen));
        }
    }

    fn process_broadcast_element(
        &mut self,
        (key, limit): (u64, u64),
        limits: &mut Self::BroadcastState,
        _ctx: &mut Context<'_, (u64, u64)>,
    ) {
        limits.insert(key, limit);
    }
}

dataflow! {
    /// Keys over their broadcast limit: the limits arrive first (the items wait for them).
    /// After its 50 limits the limits stream trickles on with limits of keys that do not
    /// occur (a stream of rules stays open: checkpoints need every source running).
    job over_limits(n: u64, out: Collected<(u64, u64)>) {
        let limits = from_iter((0..150u64).map(|k| {
            if k >= 50 {
                std::thread::sleep(Duration::from_millis(10));
            }
            (k, 1000 + k)
        }))
        .broadcast();
        generate(n, move |i| {
            if i == 0 || i == n / 2 {
                std::thread::sleep(Duration::from_millis(50));
            }
            i % 50
        })
            .key_by(|k| *k)
            .connect(limits)
            .co_process(Limits)
            .collect(out);
    }
}

#[test]
fn broadcast_state_and_keyed_state_of_a_co_process_survive_a_restore() {
    let n = 200_000;
    let dir = scratch("broadcast");
    // One record per source poll, so the trickling limits stream passes barriers on.
    let exchange = dataflow::runtime::exchange::ExchangeConfig {
        batch_size: 1,
        ..Default::default()
    };
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: Some(CheckpointConfig {
            interval: Duration::from_millis(5),
            dir: dir.clone(),
            retained: 1,
            at_least_once: false,
        }),
        exchange,
        ..JobConfig::with_parallelism(2)
    };
    let out = Collected::new();
    until_checkpointed(|| {
        out.take();
        over_limits::run(&config, n, out.clone()).unwrap()
    });
    let mut expected: Vec<(u64, u64)> = (0..50u64)
        .flat_map(|k| (1000 + k + 1..=n / 50).map(move |seen| (k, seen)))
        .collect();
    expected.sort_unstable();
    let mut first = out.take();
    first.sort_unstable();
    assert_eq!(first, expected);
    // Restored: the limits (read before the checkpoint, so not replayed) come from the
    // checkpointed broadcast state, the counts from the keyed state.
    let restored = JobConfig {
        mode: ExecutionMode::Streaming,
        restore: Some(dir.clone()),
        exchange,
        ..JobConfig::with_parallelism(2)
    };
    let out = Collected::new();
    over_limits::run(&restored, n, out.clone()).unwrap();
    let replayed = out.take();
    assert!(!replayed.is_empty());
    for (key, seen) in &replayed {
        assert!(*seen > 1000 + key && *seen <= n / 50, "{key} {seen}");
    }
    let last: u64 = replayed
        .iter()
        .filter(|(k, _)| *k == 7)
        .map(|(_, s)| *s)
        .max()
        .unwrap();
    assert_eq!(last, n / 50);
    std::fs::remove_dir_all(dir).unwrap();
}

dataflow! {
    /// A broadcast hash join of bounded inputs: the buffered first input (per subtask) and
    /// the broadcast second input (whole in every subtask) are in its checkpoints.
    job broadcast_joined(n: u64, out: Collected<(u64, u64)>) {
        // As long as the first input, so that both sources run while checkpoints are taken
        // (none starts once a source has finished); only its first 100 records have partners.
        let other = generate(n, |i| (if i < 100 { i } else { u64::MAX - i }, i * 1000));
        generate(n, |i| (i % 100, i))
            .name("first")
            .join(other)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastSecond)
            .apply(|a, b| (a.1, b.1))
            .collect(out);
    }
}

dataflow! {
    /// The join of `broadcast_joined` without a hint: the plan chooses its strategy at start.
    job chosen_joined(n: u64, out: Collected<(u64, u64)>) {
        let other = generate(n, |i| (if i < 100 { i } else { u64::MAX - i }, i * 1000));
        generate(n, |i| (i % 100, i))
            .name("first")
            .join(other)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .apply(|a, b| (a.1, b.1))
            .collect(out);
    }
}

/// A checkpoint holds the hash join's state by key group; a restore that runs in batch mode
/// (bounded sources, automatic mode) must not choose a broadcast, which would not read it.
#[test]
fn a_join_restored_in_batch_mode_keeps_its_checkpointed_state() {
    let n = 400_000;
    let dir = scratch("chosen-join");
    let config = checkpointed_every_5ms(&dir, 1, false);
    let expected: Vec<(u64, u64)> = (0..n).map(|i| (i, (i % 100) * 1000)).collect();
    until_checkpointed(|| {
        let out = Collected::new();
        let report = chosen_joined::run(&config, n, out.clone()).unwrap();
        assert_eq!(
            report.join_strategy("batch_join"),
            Some(JoinStrategy::Repartition)
        );
        assert_eq!(out.take_sorted(), expected);
        report
    });
    let (checkpoint, _) = Checkpoint::resolve(&dir).unwrap();
    let restored = JobConfig {
        mode: ExecutionMode::Automatic,
        restore: Some(checkpoint.dir().to_path_buf()),
        ..JobConfig::with_parallelism(2)
    };
    let out = Collected::new();
    let report = chosen_joined::run(&restored, n, out.clone()).unwrap();
    assert!(report.batch_mode, "{report}");
    assert_eq!(
        report.join_strategy("batch_join"),
        Some(JoinStrategy::Repartition),
        "{report}"
    );
    let replayed = report.operator("first").unwrap().records_out;
    assert!(replayed < n, "nothing was restored: {report}");
    assert_eq!(out.take_sorted(), expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_broadcast_join_restores_at_another_parallelism_without_losing_or_repeating_pairs() {
    let n = 400_000;
    let dir = scratch("broadcast-join");
    let config = checkpointed_every_5ms(&dir, 1, false);
    let expected: Vec<(u64, u64)> = (0..n).map(|i| (i, (i % 100) * 1000)).collect();
    until_checkpointed(|| {
        let out = Collected::new();
        let report = broadcast_joined::run(&config, n, out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected);
        report
    });
    let (checkpoint, _) = Checkpoint::resolve(&dir).unwrap();
    for parallelism in [1, 4] {
        // The join emits only at end of input, so the restored run emits every pair: those
        // of the first input's records buffered in the checkpoint and of those replayed.
        let restored = JobConfig {
            mode: ExecutionMode::Streaming,
            restore: Some(checkpoint.dir().to_path_buf()),
            ..JobConfig::with_parallelism(parallelism)
        };
        let out = Collected::new();
        let report = broadcast_joined::run(&restored, n, out.clone()).unwrap();
        let replayed = report.operator("first").unwrap().records_out;
        assert!(replayed < n, "nothing was restored: {report}");
        assert_eq!(out.take_sorted(), expected, "parallelism {parallelism}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
