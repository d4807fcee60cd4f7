//! Benchmark 2: word count on ~100 MB of generated text (`WORD_COUNT_MB` sets the size; the
//! batch issue measures 1024) at parallelism 1 and 2, in batch and streaming mode, against a
//! single-threaded hand-written `HashMap` word count. Targets: parallelism 1 within 1.5x of
//! the hand-written version, parallelism 2 faster than it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::prelude::*;

/// The input's size in MiB.
fn megabytes() -> usize {
    std::env::var("WORD_COUNT_MB")
        .ok()
        .and_then(|mb| mb.parse().ok())
        .unwrap_or(100)
}

dataflow! {
    job word_count(input: PathBuf) {
        read_lines(input)
            .flat_map(|line| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
            .key_by(|word| word.clone())
            .count()
            .discard();
    }
}

/// What a Rust programmer writes by hand.
fn baseline(path: &Path) -> usize {
    let reader = BufReader::new(std::fs::File::open(path).unwrap());
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in reader.lines() {
        for word in line.unwrap().split_whitespace() {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts.len()
}

/// ~100 MB of text over a 50,000-word vocabulary with a Zipf-like distribution (LCG-driven,
/// so every run reads the same bytes).
fn generate_text(path: &Path, bytes: usize) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() as usize >= bytes) {
        return;
    }
    let vocabulary: Vec<String> = (0..50_000u64)
        .map(|i| {
            let mut word = String::new();
            let mut x = i * 2_654_435_761 + 7;
            for _ in 0..(3 + i % 7) {
                word.push((b'a' + (x % 26) as u8) as char);
                x /= 26;
                x += i;
            }
            if i % 5 == 0 {
                word[..1].make_ascii_uppercase();
            }
            word
        })
        .collect();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0;
    while written < bytes {
        let words = 5 + next() % 15;
        let mut line = String::new();
        for w in 0..words {
            // Squaring a uniform variable skews towards small ranks: frequent words dominate.
            let u = (next() % 10_000) as usize;
            let rank = u * u / (10_000 * 10_000 / vocabulary.len()).max(1);
            if w > 0 {
                line.push(' ');
            }
            line.push_str(&vocabulary[rank.min(vocabulary.len() - 1)]);
        }
        line.push('\n');
        written += line.len();
        out.write_all(line.as_bytes()).unwrap();
    }
    out.flush().unwrap();
}

fn bench(c: &mut Criterion) {
    let mb = megabytes();
    let path: PathBuf = std::env::temp_dir().join(format!("dataflow-bench-words-{mb}mb.txt"));
    generate_text(&path, mb * 1024 * 1024);
    let mut group = c.benchmark_group(format!("word_count_{mb}mb"));
    group.sample_size(10);
    group.throughput(Throughput::Bytes(std::fs::metadata(&path).unwrap().len()));
    group.bench_function("hand_written_hashmap", |b| b.iter(|| baseline(&path)));
    // Batch mode (the default for a bounded job): the sending side pre-aggregates per key.
    for p in [1, 2] {
        let config = JobConfig::with_parallelism(p);
        group.bench_function(format!("dataflow_p{p}"), |b| {
            b.iter(|| word_count::run(&config, path.clone()).unwrap())
        });
    }
    // Streaming mode: one rolling update per word crosses the exchange and is emitted.
    for p in [1, 2] {
        let config = JobConfig {
            mode: ExecutionMode::Streaming,
            ..JobConfig::with_parallelism(p)
        };
        group.bench_function(format!("dataflow_p{p}_streaming"), |b| {
            b.iter(|| word_count::run(&config, path.clone()).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
