//! The example binaries, run as a user runs them: exact output on the bundled input, the
//! command line, exit codes, and a streaming job stopped by Ctrl-C.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `cargo test` builds the examples next to the test binaries.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(dir.exists(), "{} is not built: `cargo test --workspace` builds the examples (or run `cargo build --examples` first)", dir.display());
    dir
}

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/sample.txt")
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name)).args(args).output().unwrap()
}

/// Runs an example that must succeed; its stderr is the failure message otherwise.
fn run_ok(name: &str, args: &[&str]) -> Output {
    let output = run(name, args);
    assert!(
        output.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn naive_word_count(text: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_lowercase()).or_default() += 1;
    }
    counts
}

fn parse_counts(text: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for line in text.lines() {
        let (word, n) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line `{line}`"));
        assert!(
            counts
                .insert(word.to_string(), n.parse().unwrap())
                .is_none(),
            "`{word}` twice"
        );
    }
    counts
}

#[test]
fn word_count_on_the_bundled_input_equals_a_naive_count() {
    let expected = naive_word_count(&std::fs::read_to_string(sample()).unwrap());
    for p in ["1", "2", "4"] {
        let output = run_ok("word_count", &["--parallelism", p]);
        assert_eq!(
            parse_counts(&String::from_utf8(output.stdout).unwrap()),
            expected,
            "parallelism {p}"
        );
    }
}

#[test]
fn word_count_writes_part_files_at_parallelism_above_one() {
    let dir = std::env::temp_dir().join(format!("dataflow-example-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let input = sample();
    run_ok(
        "word_count",
        &[
            input.to_str().unwrap(),
            dir.to_str().unwrap(),
            "--parallelism",
            "2",
        ],
    );
    let mut text = String::new();
    for part in ["part-0", "part-1"] {
        text += &std::fs::read_to_string(dir.join(part)).unwrap();
    }
    assert_eq!(
        parse_counts(&text),
        naive_word_count(&std::fs::read_to_string(input).unwrap())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explain_prints_the_plan_and_runs_nothing() {
    let output = run_ok("word_count", &["--explain", "--parallelism", "3"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("chain 0 (parallelism 3)\n    read_lines -> flat_map"),
        "{text}"
    );
    assert!(
        text.contains("<- chain 0 via HASH by `key_by`\n    count -> write_lines"),
        "{text}"
    );
    assert!(text.contains("batch mode"), "{text}");
    let dot = String::from_utf8(run("word_count", &["--explain=dot"]).stdout).unwrap();
    assert!(
        dot.starts_with("digraph \"word_count\" {")
            && dot.contains("chain0 -> chain1 [label=\"HASH\"]"),
        "{dot}"
    );
    let streaming =
        String::from_utf8(run("word_count", &["--explain", "--mode", "streaming"]).stdout).unwrap();
    assert!(streaming.contains("streaming mode"), "{streaming}");
}

#[test]
fn failures_exit_non_zero_with_the_operator_named() {
    let output = run("word_count", &["/definitely/not/here.txt"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "operator `read_lines` (subtask 0) failed: cannot open `/definitely/not/here.txt`"
        ),
        "{stderr}"
    );

    let output = run("word_count", &["--parallelism", "0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("parallelism must be at least 1"));

    let output = run("socket_word_count", &["127.0.0.1:1", "--mode", "batch"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot run in batch mode"));

    let output = run("word_count", &["--no-such-flag"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "usage errors exit with 2, as clap does"
    );
}

#[test]
fn socket_word_count_runs_by_itself_on_its_bundled_input() {
    let output = run_ok("socket_word_count", &["--parallelism", "2"]);
    // Streaming mode: one updated count per word occurrence, the last of each word its total.
    let expected = naive_word_count(&std::fs::read_to_string(sample()).unwrap());
    let lines = String::from_utf8(output.stdout).unwrap();
    assert_eq!(lines.lines().count() as u64, expected.values().sum::<u64>());
    assert!(lines.contains(&format!("(\"the\", {})", expected["the"])));
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_streaming_job_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut child = Command::new(example("socket_word_count"))
        .args([address.as_str(), "--parallelism", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut connection, _) = listener.accept().unwrap();
    connection.write_all(b"to be or not to be\n").unwrap();
    // The job keeps running (the connection stays open); wait for the updates to appear.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the job ended early: {seen:?}"
        );
        seen.push(line.trim_end().to_string());
    }
    assert!(seen.contains(&"(\"be\", 2)".to_string()), "{seen:?}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "an unbounded job must keep running"
    );
    let (status, stderr) = interrupt(&mut child);
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("job `socket_word_count` finished"),
        "{stderr}"
    );
    drop(connection);
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_a_bounded_job_and_writes_no_results() {
    // A bounded job long enough to be interrupted: the sample, 100 times over.
    let dir = std::env::temp_dir().join(format!("dataflow-example-cancel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("big.txt");
    let text = std::fs::read(sample()).unwrap();
    let mut file = std::fs::File::create(&input).unwrap();
    for _ in 0..100 {
        file.write_all(&text).unwrap();
    }
    drop(file);
    let output = dir.join("counts.txt");
    let mut child = Command::new(example("word_count"))
        .args([
            input.to_str().unwrap(),
            output.to_str().unwrap(),
            "--parallelism",
            "1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give the job time to start (and install its Ctrl-C handler), not to finish.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the job finished before it could be interrupted"
    );
    let (status, stderr) = interrupt(&mut child);
    assert!(
        !status.success(),
        "an interrupted bounded job must not exit 0: {stderr}"
    );
    assert!(
        stderr.contains("was cancelled before it finished"),
        "{stderr}"
    );
    let written = std::fs::metadata(&output).map_or(0, |m| m.len());
    assert_eq!(written, 0, "no counts that look complete");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sends Ctrl-C (SIGINT) to `child` and waits (at most 20 s) for it to exit; returns its
/// status and what it wrote to standard error.
#[cfg(unix)]
fn interrupt(child: &mut std::process::Child) -> (std::process::ExitStatus, String) {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the job did not stop after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

fn data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(file)
}

/// The lines the binary wrote to standard output, sorted; fails on a non-zero exit.
fn sorted_stdout(name: &str, args: &[&str]) -> Vec<String> {
    let output = run_ok(name, args);
    let mut lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// The fraud rule over the CSV in file order, with "within one minute" always true (the job
/// runs in far less than its processing-time minute): a transaction above 500.00 right after
/// one below 1.00 of the same account is an alert.
fn naive_fraud_alerts(csv: &str) -> Vec<String> {
    let mut last_was_small = HashMap::new();
    let mut alerts = Vec::new();
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let account: u64 = fields[0].parse().unwrap();
        let amount: f64 = fields[1].parse().unwrap();
        if last_was_small.insert(account, amount < 1.0) == Some(true) && amount > 500.0 {
            alerts.push(format!(
                "alert: account {account}, amount {}, timestamp {}",
                fields[1], fields[2]
            ));
        }
    }
    alerts.sort();
    alerts
}

#[test]
fn fraud_detection_alerts_on_small_then_large_on_the_bundled_input() {
    let expected = naive_fraud_alerts(&std::fs::read_to_string(data("transactions.csv")).unwrap());
    // The planted frauds (see examples/data/make_transactions.py), and only those.
    let accounts: Vec<&str> = expected
        .iter()
        .map(|a| a.split(',').next().unwrap())
        .collect();
    assert_eq!(expected.len(), 6, "{expected:?}");
    for account in ["3", "7", "11", "15", "2"] {
        assert!(
            accounts.contains(&format!("alert: account {account}").as_str()),
            "{expected:?}"
        );
    }
    for args in [
        &["--parallelism", "1"][..],
        &["--parallelism", "2"],
        &["--parallelism", "2", "--mode", "streaming"],
        &[],
    ] {
        assert_eq!(
            sorted_stdout("fraud_detection", args),
            expected,
            "fraud_detection {args:?}"
        );
    }
}

#[test]
fn fraud_detection_writes_alerts_to_a_file() {
    let dir = std::env::temp_dir().join(format!("dataflow-example-fraud-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("transactions.csv");
    // Account 1: small, large (alert); account 2: small, then large on account 3 (none);
    // account 4: small, medium, large (none); account 5: large, small (none).
    std::fs::write(
        &input,
        "account_id,amount,timestamp\n1,0.50,1000\n2,0.10,2000\n3,900.00,3000\n4,0.99,4000\n\
         5,600.00,4500\n1,501.00,5000\n4,20.00,6000\n4,700.00,7000\n5,0.01,8000\n",
    )
    .unwrap();
    let output = dir.join("alerts.txt");
    run_ok(
        "fraud_detection",
        &[input.to_str().unwrap(), output.to_str().unwrap(), "-p", "1"],
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "alert: account 1, amount 501.00, timestamp 5000\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sessions of a `user,timestamp_ms,action` CSV computed offline: each user's events sorted
/// by time, cut wherever two follow each other by `gap` ms or more; as the example writes
/// them (`user,start,end,count`), sorted.
fn naive_sessions(csv: &str, gap: i64) -> Vec<String> {
    let mut by_user: HashMap<&str, Vec<i64>> = HashMap::new();
    for line in csv.lines().skip(1) {
        let mut fields = line.split(',');
        let user = fields.next().unwrap();
        by_user
            .entry(user)
            .or_default()
            .push(fields.next().unwrap().parse().unwrap());
    }
    let mut sessions = Vec::new();
    for (user, mut stamps) in by_user {
        stamps.sort();
        let (mut start, mut last, mut count) = (stamps[0], stamps[0], 0);
        for ts in stamps {
            if ts - last >= gap {
                sessions.push(format!("{user},{start},{last},{count}"));
                (start, count) = (ts, 0);
            }
            last = ts;
            count += 1;
        }
        sessions.push(format!("{user},{start},{last},{count}"));
    }
    sessions.sort();
    sessions
}

#[test]
fn session_timeout_equals_an_offline_sessionization_of_the_bundled_input() {
    let clicks = data("clicks.csv");
    let csv = std::fs::read_to_string(&clicks).unwrap();
    // The bundled input is out of order, but by at most the example's bound of 10 s.
    let mut highest = i64::MIN;
    let mut out_of_order = 0;
    for line in csv.lines().skip(1) {
        let ts: i64 = line.split(',').nth(1).unwrap().parse().unwrap();
        assert!(ts >= highest.saturating_sub(10_000), "{line}");
        out_of_order += usize::from(ts < highest);
        highest = highest.max(ts);
    }
    assert!(out_of_order > 10);
    let expected = naive_sessions(&csv, 30_000);
    // The planted cases of examples/data/make_clicks.py.
    let t0 = 1704067320000i64;
    for session in [
        format!("grace,{t0},{},5", t0 + 52_000),
        format!("heidi,{},{},1", t0 + 250_000, t0 + 250_000),
        format!("ivan,{},{},1", t0 + 430_000, t0 + 430_000),
        format!("ivan,{},{},2", t0 + 600_000, t0 + 629_999),
    ] {
        assert!(expected.contains(&session), "{session} in {expected:?}");
    }
    for args in [
        &["--parallelism", "1"][..],
        &["--parallelism", "2"],
        &["--parallelism", "2", "--mode", "streaming"],
        &[],
    ] {
        assert_eq!(
            sorted_stdout("session_timeout", args),
            expected,
            "session_timeout {args:?}"
        );
    }
    let path = clicks.to_str().unwrap();
    assert_eq!(
        sorted_stdout("session_timeout", &[path, "-", "45s", "-p", "2"]),
        naive_sessions(&csv, 45_000)
    );
    assert_eq!(
        sorted_stdout("session_timeout", &[path, "-", "1500ms", "-p", "2"]),
        naive_sessions(&csv, 1_500)
    );
    let output = run("session_timeout", &[path, "-", "0s"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("the gap must be positive"));
}

/// A larger out-of-order input, long enough that periodic watermarks close sessions while
/// records still arrive: timers fire mid-stream and later records must not disturb them.
#[test]
fn session_timeout_closes_sessions_mid_stream_on_a_long_out_of_order_input() {
    let dir =
        std::env::temp_dir().join(format!("dataflow-example-sessions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("clicks.csv");
    // Event i has time 7 i + jitter, jitter below 9 s: out of order, within the 10 s bound.
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut csv = String::from("user,timestamp_ms,action\n");
    for i in 0..300_000i64 {
        let user = next() % 400;
        let jitter = if next() % 4 == 0 { next() % 9_000 } else { 0 };
        csv += &format!("u{user},{},view\n", 1_000_000 + 7 * i + jitter as i64);
    }
    std::fs::write(&input, &csv).unwrap();
    let expected = naive_sessions(&csv, 2_000);
    assert!(expected.len() > 10_000, "{}", expected.len());
    for p in ["1", "3"] {
        let output = dir.join(format!("sessions-{p}"));
        let started = Instant::now();
        run_ok(
            "session_timeout",
            &[
                input.to_str().unwrap(),
                output.to_str().unwrap(),
                "2s",
                "--mode",
                "streaming",
                "-p",
                p,
            ],
        );
        eprintln!("parallelism {p}: {:?}", started.elapsed());
        let text = if p == "1" {
            std::fs::read_to_string(&output).unwrap()
        } else {
            (0..3)
                .map(|k| std::fs::read_to_string(output.join(format!("part-{k}"))).unwrap())
                .collect()
        };
        let mut got: Vec<String> = text.lines().map(str::to_string).collect();
        got.sort();
        assert_eq!(got.len(), expected.len(), "parallelism {p}");
        assert!(got == expected, "parallelism {p}: sessions differ");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The windowed word count's input, as the example defines it (event `i`: a word and its
/// timestamp), counted per 5 s window offline.
fn windowed_word_count_model(events: u64) -> Vec<String> {
    const WORDS: [&str; 12] = [
        "stream",
        "batch",
        "window",
        "event",
        "time",
        "state",
        "key",
        "watermark",
        "timer",
        "operator",
        "sink",
        "source",
    ];
    let mut counts: std::collections::BTreeMap<(i64, &str), u64> = Default::default();
    for i in 0..events {
        let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let word = WORDS[((mixed >> 40) % WORDS.len() as u64) as usize];
        let ts = (i as i64 - ((mixed >> 20) % 2000) as i64).max(0);
        *counts.entry((ts - ts % 5000 + 5000, word)).or_default() += 1;
    }
    let mut lines: Vec<String> = counts
        .into_iter()
        .map(|((end, word), n)| format!("{end} {word} {n}"))
        .collect();
    lines.sort();
    lines
}

#[test]
fn windowed_word_count_counts_each_word_per_event_time_window() {
    let expected = windowed_word_count_model(200_000);
    assert_eq!(expected.len(), 480);
    for args in [
        &[][..],
        &["--parallelism", "2"][..],
        &["50000", "--mode", "batch"][..],
    ] {
        let lines = sorted_stdout("windowed_word_count", args);
        let expected = if args.first() == Some(&"50000") {
            windowed_word_count_model(50_000)
        } else {
            expected.clone()
        };
        assert_eq!(lines, expected, "{args:?}");
    }
}

/// Top auctions by nested loops over the generated bids: per sliding window end, each
/// auction's bids; an auction's counts join its description while the window ends within
/// its 10 s slot; the most bids win, then the smaller id. Written from the example's
/// description, sharing only its generator.
fn top_auctions_model(bids: u64) -> Vec<String> {
    const SLOT: i64 = 10_000;
    let mut counts: std::collections::BTreeMap<(i64, u64), u64> = Default::default();
    for i in 0..bids {
        let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let ts = (i as i64 * 2 - ((mixed >> 20) % 500) as i64).max(0);
        let pick = (mixed >> 40) % 64;
        let auction = (ts / SLOT) as u64 * 8 + (pick * pick) / 512;
        // The sliding windows (10 s every 2 s) holding `ts` end at the next 2 s boundaries.
        let first_end = ts - ts.rem_euclid(2000) + 2000;
        for end in (first_end..first_end + SLOT).step_by(2000) {
            *counts.entry((end, auction)).or_default() += 1;
        }
    }
    let mut top: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
    for ((end, auction), n) in counts {
        // The auction opened in slot `auction / 8`; the count's timestamp is `end - 1`.
        if (end - 1).div_euclid(SLOT) != (auction / 8) as i64 {
            continue;
        }
        let best = top.entry(end).or_insert((auction, n));
        if n > best.1 || (n == best.1 && auction < best.0) {
            *best = (auction, n);
        }
    }
    let mut lines: Vec<String> = top
        .into_iter()
        .map(|(end, (auction, n))| format!("{end} {auction} {} {n}", auction % 5))
        .collect();
    lines.sort();
    lines
}

#[test]
fn top_auctions_finds_the_most_bid_auction_of_each_sliding_window() {
    for args in [
        &[][..],
        &["--parallelism", "2"][..],
        &["60000", "--mode", "batch", "--parallelism", "2"][..],
    ] {
        let bids = if args.first() == Some(&"60000") {
            60_000
        } else {
            200_000
        };
        let expected = top_auctions_model(bids);
        assert!(expected.len() > 50);
        assert_eq!(sorted_stdout("top_auctions", args), expected, "{args:?}");
    }
}

/// The visible (committed) lines of an output directory.
fn committed_output(dir: &std::path::Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_str().unwrap().starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

#[test]
fn word_count_killed_and_restored_commits_every_rolling_update_exactly_once() {
    use rand::{Rng, SeedableRng};
    let base = std::env::temp_dir().join(format!("dataflow-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    // 1.8 million words over 40 distinct ones, 12 per line: a run of a second or more.
    let input = base.join("input.txt");
    let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut text = String::new();
    let mut expected: HashMap<String, u64> = HashMap::new();
    for line in 0..150_000 {
        for _ in 0..12 {
            let word = &words[rng.gen_range(0..words.len())];
            text.push_str(word);
            text.push(' ');
            *expected.entry(word.clone()).or_default() += 1;
        }
        if line % 2 == 0 {
            text.push('\n');
        } else {
            text.push_str("\r\n");
        }
    }
    std::fs::write(&input, text).unwrap();
    let mut restored = 0;
    for iteration in 0..3 {
        let output = base.join(format!("out-{iteration}"));
        let checkpoints = base.join(format!("checkpoints-{iteration}"));
        let args = |restore: bool| {
            let mut args: Vec<std::ffi::OsString> = vec![
                input.clone().into(),
                output.clone().into(),
                "--mode".into(),
                "streaming".into(),
                "--parallelism".into(),
                "2".into(),
                "--checkpoint-interval".into(),
                "20ms".into(),
                "--checkpoint-dir".into(),
                checkpoints.clone().into(),
            ];
            if restore {
                args.extend(["--restore".into(), checkpoints.clone().into()]);
            }
            args
        };
        let mut child = Command::new(example("word_count"))
            .args(args(false))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill -9 at a random moment after the first complete checkpoint.
        let started = Instant::now();
        let mut finished = false;
        while dataflow::runtime::checkpoint::Checkpoint::resolve(&checkpoints).is_err() {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no checkpoint in 60 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..40)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if finished || status.success() {
            // It completed before the kill: the run is not a restore test, but its output
            // must still be exact.
            eprintln!("iteration {iteration}: finished before the kill");
        } else {
            run_ok_os("word_count", &args(true));
            restored += 1;
        }
        let mut counts: HashMap<String, Vec<u64>> = HashMap::new();
        for line in committed_output(&output) {
            let (word, n) = line.split_once(' ').unwrap();
            counts
                .entry(word.to_string())
                .or_default()
                .push(n.parse().unwrap());
        }
        assert_eq!(counts.len(), expected.len(), "iteration {iteration}");
        for (word, mut seen) in counts {
            seen.sort_unstable();
            let n = expected[&word];
            assert_eq!(
                seen,
                (1..=n).collect::<Vec<_>>(),
                "iteration {iteration}: `{word}`"
            );
        }
    }
    assert!(restored > 0, "every run finished before it could be killed");
    std::fs::remove_dir_all(base).unwrap();
}

/// Runs an example with these arguments; it must succeed.
fn run_ok_os(name: &str, args: &[std::ffi::OsString]) {
    let output = Command::new(example(name)).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn ctrl_c_takes_a_savepoint_that_a_later_run_resumes_from() {
    let base = std::env::temp_dir().join(format!("dataflow-savepoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let input = base.join("input.txt");
    let mut text = String::new();
    let mut expected: HashMap<String, u64> = HashMap::new();
    for i in 0..3_600_000u64 {
        let word = format!("w{}", (i * 7919) % 40);
        text.push_str(&word);
        text.push(if i % 12 == 11 { '\n' } else { ' ' });
        *expected.entry(word).or_default() += 1;
    }
    std::fs::write(&input, text).unwrap();
    let output = base.join("out");
    let savepoints = base.join("savepoints");
    let args = |restore: Option<&std::path::Path>| {
        let mut args: Vec<std::ffi::OsString> = vec![
            input.clone().into(),
            output.clone().into(),
            "--mode".into(),
            "streaming".into(),
            "--parallelism".into(),
            "2".into(),
            "--checkpoint-interval".into(),
            "1h".into(),
            "--checkpoint-dir".into(),
            base.join("checkpoints").into(),
            "--savepoint-dir".into(),
            savepoints.clone().into(),
        ];
        if let Some(path) = restore {
            args.extend(["--restore".into(), path.into()]);
        }
        args
    };
    let child = Command::new(example("word_count"))
        .args(args(None))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop it as soon as it writes output (it is then well into its input).
    let started = Instant::now();
    while !output.join(".part-0.inprogress").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no output in 60 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let stopped = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(
        !stopped.status.success(),
        "the bounded job was cancelled: {stderr}"
    );
    assert!(stderr.contains("savepoint written to"), "{stderr}");
    let (savepoint, _) = dataflow::runtime::checkpoint::Checkpoint::resolve(&savepoints).unwrap();
    run_ok_os("word_count", &args(Some(savepoint.dir())));
    let mut counts: HashMap<String, Vec<u64>> = HashMap::new();
    for line in committed_output(&output) {
        let (word, n) = line.split_once(' ').unwrap();
        counts
            .entry(word.to_string())
            .or_default()
            .push(n.parse().unwrap());
    }
    assert_eq!(counts.len(), expected.len());
    for (word, mut seen) in counts {
        seen.sort_unstable();
        assert_eq!(seen, (1..=expected[&word]).collect::<Vec<_>>(), "`{word}`");
    }
    std::fs::remove_dir_all(base).unwrap();
}

/// Every example whose sources are bounded gives the same final results in batch mode as in
/// streaming mode (streaming's rolling updates reduced to the last one per key).
#[test]
fn bounded_examples_give_the_same_final_results_in_batch_and_streaming_mode() {
    let in_mode = |name: &str, args: &[&str], mode: &str| {
        let mut args = args.to_vec();
        args.extend(["--mode", mode, "--parallelism", "2"]);
        sorted_stdout(name, &args)
    };
    // Rolling counts: the last (largest) count of each word is its final count.
    let final_counts = |lines: Vec<String>| -> Vec<(String, u64)> {
        let mut last: std::collections::BTreeMap<String, u64> = Default::default();
        for line in lines {
            let (word, n) = line.split_once(' ').unwrap();
            let n: u64 = n.parse().unwrap();
            let entry = last.entry(word.to_string()).or_default();
            *entry = (*entry).max(n);
        }
        last.into_iter().collect()
    };
    let batch = in_mode("word_count", &[], "batch");
    let streaming = in_mode("word_count", &[], "streaming");
    assert!(
        streaming.len() > batch.len(),
        "streaming emits rolling updates"
    );
    assert_eq!(final_counts(batch.clone()), final_counts(streaming));
    assert_eq!(
        final_counts(batch.clone()).len(),
        batch.len(),
        "one final count per word"
    );
    for (name, args) in [
        ("windowed_word_count", vec!["20000"]),
        ("top_auctions", vec!["20000"]),
        ("session_timeout", vec![]),
        ("fraud_detection", vec![]),
    ] {
        let batch = in_mode(name, &args, "batch");
        assert!(!batch.is_empty(), "{name} has results");
        assert_eq!(batch, in_mode(name, &args, "streaming"), "{name}");
    }
}
