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
        let output = run("word_count", &["--parallelism", p]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
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
    let output = run(
        "word_count",
        &[
            input.to_str().unwrap(),
            dir.to_str().unwrap(),
            "--parallelism",
            "2",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
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
    let output = run("word_count", &["--explain", "--parallelism", "3"]);
    assert!(output.status.success());
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
    let output = run("socket_word_count", &["--parallelism", "2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
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
