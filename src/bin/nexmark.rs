//! The Nexmark runner: runs queries of `dataflow::nexmark` on generated events into a black
//! hole and reports throughput.
//!
//! ```text
//! cargo run --release --bin nexmark -- --query q5 --events 10000000 --parallelism 2 \
//!     [--checkpoint-interval 10s --checkpoint-dir DIR]
//! cargo run --release --bin nexmark -- --query all --events 10000000 --parallelism 2 \
//!     [--output nexmark.md]
//! ```
//! Prints, per query: events, wall time, events/s, events/s per core, the process's peak
//! memory so far (`VmHWM`) and the number of results, as a Markdown table; `--output FILE`
//! also writes the table to `FILE` (rewritten after each query, so a failed run keeps the rows
//! it finished).

use std::time::Duration;

use dataflow::nexmark::*;
use dataflow::prelude::*;
use dataflow::runtime::checkpoint::CheckpointConfig;

/// The queries the runner knows, in table order.
const QUERIES: [&str; 11] = [
    "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q11", "q12",
];

/// Runs query `name` over `n` events; returns its report and result count.
fn run_query(name: &str, config: &JobConfig, n: u64) -> dataflow::Result<(JobReport, u64)> {
    macro_rules! counted {
        ($job:ident) => {{
            let out = Collected::counting();
            let report = $job::run(config, n, out.clone())?;
            (report, out.count())
        }};
    }
    Ok(match name {
        "q0" => counted!(q0),
        "q1" => counted!(q1),
        "q2" => counted!(q2),
        "q3" => counted!(q3),
        "q4" => counted!(q4),
        "q5" => counted!(q5),
        "q6" => counted!(q6),
        "q7" => counted!(q7),
        "q8" => counted!(q8),
        "q11" => counted!(q11),
        "q12" => counted!(q12),
        other => {
            return Err(dataflow::Error::Config(format!(
                "unknown query `{other}`: use one of {} or all",
                QUERIES.join(", ")
            )))
        }
    })
}

/// The process's peak resident memory so far, in MiB (Linux), if known.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The value after flag `name`, if given.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("bad duration `{text}`"))?;
    match &text[digits.len()..] {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("bad duration `{text}`: use ms, s or m")),
    }
}

fn main() -> dataflow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bad = |message: String| dataflow::Error::Config(message);
    let query = flag(&args, "--query").unwrap_or("all").to_string();
    let events: u64 = match flag(&args, "--events") {
        Some(n) => n.parse().map_err(|_| bad(format!("bad --events `{n}`")))?,
        None => 10_000_000,
    };
    let parallelism: usize = match flag(&args, "--parallelism") {
        Some(p) => p
            .parse()
            .map_err(|_| bad(format!("bad --parallelism `{p}`")))?,
        None => 2,
    };
    let checkpointing = match (
        flag(&args, "--checkpoint-interval"),
        flag(&args, "--checkpoint-dir"),
    ) {
        (Some(interval), Some(dir)) => Some(CheckpointConfig {
            interval: parse_duration(interval).map_err(bad)?,
            dir: dir.into(),
            retained: 2,
            at_least_once: false,
        }),
        (None, None) => None,
        _ => {
            return Err(bad(
                "--checkpoint-interval and --checkpoint-dir go together".into(),
            ))
        }
    };
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        checkpointing: checkpointing.clone(),
        ..JobConfig::with_parallelism(parallelism)
    };
    let queries: Vec<&str> = if query == "all" {
        QUERIES.to_vec()
    } else {
        vec![query.as_str()]
    };
    let output = flag(&args, "--output").map(std::path::PathBuf::from);
    let mut table = String::from(
        "| query | events | parallelism | checkpoints | wall time | events/s | events/s per core | peak memory | results |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    print!("{table}");
    for name in queries {
        let (report, results) = run_query(name, &config, events)?;
        let seconds = report.elapsed.as_secs_f64();
        let rate = events as f64 / seconds;
        let row = format!(
            "| {name} | {events} | {parallelism} | {} | {seconds:.2} s | {:.2} M | {:.2} M | {} | {results} |",
            match &checkpointing {
                Some(c) => format!("every {:?} ({} taken)", c.interval, report.checkpoints),
                None => "off".to_string(),
            },
            rate / 1e6,
            rate / 1e6 / parallelism as f64,
            peak_memory_mib().map_or("?".to_string(), |m| format!("{m:.0} MiB")),
        );
        println!("{row}");
        table.push_str(&row);
        table.push('\n');
        if let Some(path) = &output {
            std::fs::write(path, &table).map_err(|e| {
                dataflow::Error::Config(format!("cannot write --output {}: {e}", path.display()))
            })?;
        }
    }
    Ok(())
}
