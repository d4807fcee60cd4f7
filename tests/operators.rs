//! Exact results of every operator: sources, transforms, keyed rolling aggregates (streaming
//! and batch), union, fan-out, per-operator parallelism, and the job report's record counts.
//!
//! Inputs are small and deterministic; where the order across subtasks is not defined the
//! results are compared sorted (as multisets).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;

use common::*;
use dataflow::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn config(parallelism: usize) -> JobConfig {
    JobConfig::with_parallelism(parallelism)
}

fn streaming(parallelism: usize) -> JobConfig {
    JobConfig {
        mode: ExecutionMode::Streaming,
        ..JobConfig::with_parallelism(parallelism)
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn s(x: &str) -> String {
    x.to_string()
}

/// A deterministic pseudo-random generator (Knuth's MMIX LCG), so no test depends on a seed
/// source or a crate's algorithm.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A closure that tags each record with the id of the operator copy (= subtask) it runs in.
/// Every subtask gets its own clone of the closure before any record flows, so the first
/// record a clone sees draws a fresh id from the shared counter.
fn tagger<T: 'static>(
    counter: &Arc<AtomicUsize>,
) -> impl FnMut(T) -> (usize, T) + Clone + Send + 'static {
    let counter = Arc::clone(counter);
    let mut id: Option<usize> = None;
    move |x| {
        let id = *id.get_or_insert_with(|| counter.fetch_add(1, Ordering::SeqCst));
        (id, x)
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

dataflow! {
    /// A parameter of any type: `run` takes it from Rust (it has no command-line form).
    job from_vec(data: Vec<u64>, out: Collected<u64>) {
        from_iter(data).map(|x| x * 2).collect(out);
    }
}

#[test]
fn a_job_takes_parameters_of_any_type_from_rust() {
    let out = Collected::new();
    from_vec::run(&JobConfig::with_parallelism(2), vec![1, 2, 3], out.clone()).unwrap();
    assert_eq!(out.take_sorted(), vec![2, 4, 6]);
}

dataflow! {
    job map_job(n: u64, out: Collected<u64>) {
        generate(n, |i| i).map(|x| x * 3 + 1).collect(out);
    }

    job map_changes_type(out: Collected<String>) {
        from_iter(vec![1u32, 2, 3]).map(|x| format!("#{x}")).collect(out);
    }

    job flat_map_vec(out: Collected<u64>) {
        generate(5, |i| i).flat_map(|x| vec![x; x as usize]).collect(out);
    }

    job flat_map_option(out: Collected<u64>) {
        generate(10, |i| i).flat_map(|x| if x % 3 == 0 { Some(x * 10) } else { None }).collect(out);
    }

    job flat_map_iterator(out: Collected<(u64, u64)>) {
        generate(5, |i| i).flat_map(|x| (0..x).map(move |j| (x, j))).collect(out);
    }

    job filter_job(n: u64, out: Collected<u64>) {
        generate(n, |i| i).filter(|x| x % 3 == 0).collect(out);
    }

    job transforms_chained(n: u64, out: Collected<String>) {
        generate(n, |i| i)
            .map(|x| x + 1)
            .filter(|x| x % 2 == 0)
            .flat_map(|x| vec![x, x * 100])
            .map(|x| format!("v{x}"))
            .collect(out);
    }

    job from_iter_job(items: Vec<String>, out: Collected<String>) {
        from_iter(items).collect(out);
    }

    job generate_collect(n: u64, out: Collected<u64>) {
        generate(n, |i| i).collect(out);
    }

    job generate_parts(n: u64, output: PathBuf) {
        generate(n, |i| i).write_lines(output, |x| x);
    }

    job read_lines_job(input: PathBuf, out: Collected<String>) {
        read_lines(input).collect(out);
    }

    job socket_job(address: String, out: Collected<String>) {
        socket_lines(address).collect(out);
    }

    job socket_count(address: String, out: Collected<(String, u64)>) {
        socket_lines(address).key_by(|w| w.clone()).count().collect(out);
    }

    job rolling_sum_projected(items: Vec<(String, u64)>, out: Collected<(String, u64)>) {
        from_iter(items).key_by(|x| x.0.clone()).sum(|x| x.1).collect(out);
    }

    job rolling_sum(items: Vec<u64>, out: Collected<(u64, u64)>) {
        from_iter(items).key_by(|x| x % 3).sum().collect(out);
    }

    job rolling_min(items: Vec<i64>, out: Collected<(bool, i64)>) {
        from_iter(items).key_by(|x| *x >= 0).min().collect(out);
    }

    job rolling_max(items: Vec<i64>, out: Collected<(bool, i64)>) {
        from_iter(items).key_by(|x| *x >= 0).max().collect(out);
    }

    job rolling_min_projected(items: Vec<(String, i64)>, out: Collected<(String, i64)>) {
        from_iter(items).key_by(|x| x.0.clone()).min(|x| x.1).collect(out);
    }

    job rolling_max_projected(items: Vec<(String, i64)>, out: Collected<(String, i64)>) {
        from_iter(items).key_by(|x| x.0.clone()).max(|x| x.1).collect(out);
    }

    job rolling_count(items: Vec<String>, out: Collected<(String, u64)>) {
        from_iter(items).key_by(|w| w.clone()).count().collect(out);
    }

    job rolling_reduce(items: Vec<(String, String)>, out: Collected<(String, String)>) {
        from_iter(items).key_by(|x| x.0.clone()).reduce(|a, b| (a.0, a.1 + &b.1)).collect(out);
    }

    job keyed_parallel_source(n: u64, keys: u64, out: Collected<(u64, u64)>) {
        generate(n, |i| i).key_by(move |x| x % keys).sum().collect(out);
    }

    job union_two(out: Collected<u64>) {
        let a = generate(5, |i| i);
        let b = from_iter(vec![100u64, 101, 102]);
        a.union(b).collect(out);
    }

    job union_three(out: Collected<u64>) {
        let a = generate(5, |i| i);
        let b = generate(4, |i| i + 100).parallelism(3);
        let c = from_iter(vec![1000u64, 1001]);
        a.union(b, c).map(|x| x + 1).collect(out);
    }

    job union_keyed(out: Collected<(u64, u64)>) {
        let a = generate(10, |i| i);
        let b = from_iter(vec![1u64, 3, 5]);
        a.union(b).key_by(|x| x % 2).count().collect(out);
    }

    job union_with_itself(out: Collected<u64>) {
        let a = generate(6, |i| i);
        a.union(a).collect(out);
    }

    job fan_out(n: u64, first: Collected<u64>, second: Collected<u64>, counts: Collected<(u64, u64)>) {
        let s = generate(n, |i| i).map(|x| x * 10);
        s.collect(first);
        s.collect(second);
        s.key_by(|x| x % 3).count().collect(counts);
    }

    job fan_out_of_source(n: u64, first: Collected<u64>, second: Collected<u64>) {
        let s = generate(n, |i| i);
        s.filter(|x| x % 2 == 0).collect(first);
        s.map(|x| x + 1000).collect(second);
    }

    job mixed_parallelism(
        n: u64,
        source_ids: Arc<AtomicUsize>,
        map_ids: Arc<AtomicUsize>,
        out: Collected<(usize, usize, u64)>
    ) {
        generate(n, tagger::<u64>(&source_ids)).parallelism(3)
            .map(tagger::<(usize, u64)>(&map_ids)).parallelism(2)
            .map(|(m, (g, x))| (g, m, x))
            .filter(|t| t.2 % 5 != 0)
            .collect(out);
    }

    job keyed_parallelism(n: u64, ids: Arc<AtomicUsize>, out: Collected<(usize, u64)>) {
        generate(n, |i| i % 10)
            .key_by(|x| *x)
            .count().parallelism(3)
            .map(tagger::<(u64, u64)>(&ids)).parallelism(3)
            .map(|(id, (k, _))| (id, k))
            .collect(out);
    }

    job expression_parallelism(n: u64, p: usize, ids: Arc<AtomicUsize>, out: Collected<(usize, u64)>) {
        generate(n, tagger::<u64>(&ids)).parallelism(p).collect(out);
    }

    job word_count(input: PathBuf, out: Collected<(String, u64)>) {
        read_lines(input)
            .flat_map(|line| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
            .key_by(|word| word.clone())
            .count()
            .collect(out);
    }

    job two_pipelines(n: u64, first: Collected<u64>, second: Collected<String>) {
        generate(n, |i| i).collect(first);
        from_iter(vec!["x", "y"]).map(|s| s.to_uppercase()).collect(second);
    }

    job used_before_defined(n: u64, out: Collected<u64>) {
        numbers.map(|x| x + 1).collect(out);
        let numbers = generate(n, |i| i);
    }

    job diamond(n: u64, out: Collected<u64>) {
        let s = generate(n, |i| i);
        let evens = s.filter(|x| x % 2 == 0);
        let tens = s.map(|x| x * 10);
        evens.union(tens).collect(out);
    }

    job chained_aggregates(words: Vec<String>, out: Collected<(u64, u64)>) {
        from_iter(words)
            .key_by(|w| w.clone())
            .count()
            .key_by(|(_, n)| *n)
            .count()
            .collect(out);
    }

    job fan_out_after_aggregate(words: Vec<String>, counts: Collected<(String, u64)>, totals: Collected<u64>) {
        let counted = from_iter(words).key_by(|w| w.clone()).count();
        counted.collect(counts);
        counted.map(|(_, n)| n).key_by(|_| 0u8).sum().map(|(_, total)| total).collect(totals);
    }

    job big_flat_map(n: u64, per: u64, out: Collected<u64>) {
        generate(n, |i| i).flat_map(move |x| (0..per).map(move |j| x * per + j)).rebalance().filter(|_| true).collect(out);
    }

    job sinks(n: u64, out: Collected<u64>) {
        let s = generate(n, |i| i);
        s.discard();
        s.print();
        s.collect(out);
    }

    job settings_keep_results(n: u64, out: Collected<u64>) {
        generate(n, |i| i).uid("numbers-v1")
            .map(|x| x + 1).name("inc").uid("inc-v1")
            .filter(|x| x % 2 == 1).start_new_chain()
            .map(|x| x * 2).disable_chaining()
            .collect(out);
    }

    job slow_stream(address: String, seen: std::sync::mpsc::Sender<String>, out: Collected<(String, u64)>) {
        socket_lines(address)
            .rebalance()
            .map(|line| line.to_uppercase()).parallelism(2)
            .key_by(|line| line.clone())
            .count()
            .map(move |update| {
                let _ = seen.send(update.0.clone());
                update
            })
            .collect(out);
    }

    job keyed_fan_out(n: u64, counts: Collected<(u64, u64)>, sums: Collected<(u64, u64)>) {
        let keyed = generate(n, |i| i).key_by(|x| x % 3);
        keyed.count().collect(counts);
        keyed.sum().collect(sums);
    }

    job report_job(out: Collected<u64>) {
        from_iter(1..=10u64)
            .map(|x| x * 2)
            .filter(|x| x % 3 == 0)
            .flat_map(|x| vec![x, x + 1])
            .map(|x| x + 100)
            .collect(out);
    }

    job report_keyed(words: Vec<String>, out: Collected<(String, u64)>) {
        from_iter(words).key_by(|w| w.clone()).count().collect(out);
    }

    job report_exchanges(n: u64, out: Collected<u64>) {
        generate(n, |i| i).parallelism(2)
            .rebalance()
            .filter(|x| x % 4 == 0).parallelism(3)
            .map(|x| x / 4)
            .collect(out);
    }
}

// ---------------------------------------------------------------------------------------------
// map, flat_map, filter
// ---------------------------------------------------------------------------------------------

#[test]
fn map_applies_the_closure_to_every_record() {
    for p in 1..=4 {
        let out = Collected::new();
        map_job::run(&config(p), 20, out.clone()).unwrap();
        let expected: Vec<u64> = (0..20).map(|x| x * 3 + 1).collect();
        assert_eq!(out.take_sorted(), expected, "parallelism {p}");
    }
}

#[test]
fn map_may_change_the_record_type() {
    let out = Collected::new();
    map_changes_type::run(&config(2), out.clone()).unwrap();
    assert_eq!(out.take_sorted(), vec![s("#1"), s("#2"), s("#3")]);
}

#[test]
fn flat_map_with_a_vec_emits_every_element() {
    for p in 1..=3 {
        let out = Collected::new();
        flat_map_vec::run(&config(p), out.clone()).unwrap();
        // 0 appears 0 times, 1 once, ..., 4 four times.
        assert_eq!(
            out.take_sorted(),
            vec![1, 2, 2, 3, 3, 3, 4, 4, 4, 4],
            "parallelism {p}"
        );
    }
}

#[test]
fn flat_map_with_an_option_emits_zero_or_one() {
    let out = Collected::new();
    flat_map_option::run(&config(2), out.clone()).unwrap();
    assert_eq!(out.take_sorted(), vec![0, 30, 60, 90]);
}

#[test]
fn flat_map_with_a_lazy_iterator_emits_every_item() {
    let out = Collected::new();
    flat_map_iterator::run(&config(2), out.clone()).unwrap();
    let expected: Vec<(u64, u64)> = (0..5u64)
        .flat_map(|x| (0..x).map(move |j| (x, j)))
        .collect();
    assert_eq!(out.take_sorted(), sorted(expected));
}

#[test]
fn filter_keeps_exactly_the_matching_records() {
    for p in 1..=4 {
        let out = Collected::new();
        filter_job::run(&config(p), 31, out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            vec![0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30],
            "parallelism {p}"
        );
    }
}

#[test]
fn fused_transforms_compose_like_iterator_adapters() {
    let out = Collected::new();
    transforms_chained::run(&config(3), 10, out.clone()).unwrap();
    let expected: Vec<String> = (0..10u64)
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .flat_map(|x| vec![x, x * 100])
        .map(|x| format!("v{x}"))
        .collect();
    assert_eq!(out.take_sorted(), sorted(expected));
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

#[test]
fn from_iter_emits_the_collection_in_order_at_parallelism_one() {
    let items: Vec<String> = (0..50).map(|i| format!("item-{i}")).collect();
    let out = Collected::new();
    from_iter_job::run(&config(1), items.clone(), out.clone()).unwrap();
    assert_eq!(out.take(), items);
}

#[test]
fn from_iter_emits_every_item_once_whatever_the_downstream_parallelism() {
    let items: Vec<String> = (0..50).map(|i| format!("item-{i:02}")).collect();
    for p in 2..=4 {
        let out = Collected::new();
        from_iter_job::run(&config(p), items.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), items, "parallelism {p}");
    }
    let out = Collected::new();
    from_iter_job::run(&config(3), Vec::new(), out.clone()).unwrap();
    assert!(out.take().is_empty());
}

#[test]
fn generate_produces_zero_to_n_exactly_once_at_any_parallelism() {
    // Includes n not divisible by p, n < p, n = 0 and n = 1.
    for p in 1..=4 {
        for n in [0u64, 1, 2, 3, 5, 7, 10, 101, 1000] {
            let out = Collected::new();
            generate_collect::run(&config(p), n, out.clone()).unwrap();
            assert_eq!(
                out.take_sorted(),
                (0..n).collect::<Vec<_>>(),
                "n = {n}, parallelism {p}"
            );
        }
    }
}

#[test]
fn generate_gives_subtask_k_the_contiguous_share_k_n_over_p() {
    // write_lines at parallelism > 1 writes one part file per subtask, which shows each
    // subtask's share and its order.
    for p in 2..=4usize {
        for n in [2u64, 3, 7, 10, 101] {
            let dir = TempPath::new("generate-parts");
            generate_parts::run(&config(p), n, dir.0.clone()).unwrap();
            let parts = read_parts::<String>(&dir.0, p);
            for (k, part) in parts.iter().enumerate() {
                let (k, p64) = (k as u64, p as u64);
                let expected: Vec<String> = (k * n / p64..(k + 1) * n / p64)
                    .map(|x| x.to_string())
                    .collect();
                assert_eq!(part, &expected, "subtask {k} of {p}, n = {n}");
            }
        }
    }
    // At parallelism 1 the output is a single file.
    let file = TempPath::new("generate-single");
    generate_parts::run(&config(1), 4, file.0.clone()).unwrap();
    assert_eq!(std::fs::read_to_string(&file.0).unwrap(), "0\n1\n2\n3\n");
}

/// Runs `read_lines` over `content` at parallelism 1..=max and checks every line arrives once.
fn check_read_lines(tag: &str, content: &[u8], expected: &[&str], max_parallelism: usize) {
    let file = TempPath::with_content(tag, content);
    let expected = sorted(expected.iter().map(|l| l.to_string()).collect::<Vec<_>>());
    for p in 1..=max_parallelism {
        let out = Collected::new();
        read_lines_job::run(&config(p), file.0.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "{tag} at parallelism {p}");
    }
}

#[test]
fn read_lines_reads_every_line_once_with_a_trailing_newline() {
    check_read_lines(
        "trailing",
        b"alpha\nbeta\ngamma\ndelta\n",
        &["alpha", "beta", "gamma", "delta"],
        4,
    );
}

#[test]
fn read_lines_reads_the_last_line_without_a_trailing_newline() {
    check_read_lines(
        "no-trailing",
        b"alpha\nbeta\ngamma",
        &["alpha", "beta", "gamma"],
        4,
    );
    check_read_lines("single-no-newline", b"only", &["only"], 4);
}

#[test]
fn read_lines_strips_crlf_line_ends() {
    check_read_lines(
        "crlf",
        b"one\r\ntwo\r\n\r\nthree\r\nfour",
        &["one", "two", "", "three", "four"],
        4,
    );
}

#[test]
fn read_lines_keeps_empty_lines() {
    check_read_lines(
        "empty-lines",
        b"\na\n\n\nb\n\n",
        &["", "a", "", "", "b", ""],
        4,
    );
    check_read_lines("only-newlines", b"\n\n\n", &["", "", ""], 4);
    check_read_lines("one-newline", b"\n", &[""], 4);
}

#[test]
fn read_lines_of_an_empty_file_is_empty() {
    check_read_lines("empty", b"", &[], 4);
}

#[test]
fn read_lines_reads_lines_longer_than_a_split_once() {
    let long_x = "x".repeat(10_000);
    let long_y = "y".repeat(4_999);
    let content = format!("short\n{long_x}\nmid\n{long_y}\n\nend");
    check_read_lines(
        "long-lines",
        content.as_bytes(),
        &["short", &long_x, "mid", &long_y, "", "end"],
        4,
    );
    // One line much longer than every split, at the start and at the end.
    let content = format!("{long_x}\na\nb\n{long_y}");
    check_read_lines(
        "long-edges",
        content.as_bytes(),
        &[&long_x, "a", "b", &long_y],
        4,
    );
}

#[test]
fn read_lines_with_more_subtasks_than_bytes() {
    check_read_lines("tiny", b"a\nb", &["a", "b"], 8);
}

#[test]
fn read_lines_splits_inside_multibyte_characters_safely() {
    let mut content = String::new();
    let mut expected = Vec::new();
    for i in 0..200 {
        let line = format!("{i}: héllo wörld — 日本語テキスト ✓");
        content.push_str(&line);
        content.push('\n');
        expected.push(line);
    }
    let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
    check_read_lines("utf8", content.as_bytes(), &refs, 4);
}

#[test]
fn read_lines_matches_str_lines_on_random_files() {
    let mut rng = Lcg(7);
    for round in 0..5 {
        let mut content = String::new();
        for _ in 0..(50 + rng.below(400)) {
            let len = match rng.below(10) {
                0 => 0,
                1 => 200 + rng.below(2000),
                _ => rng.below(40),
            };
            for _ in 0..len {
                content.push((b'a' + rng.below(26) as u8) as char);
            }
            content.push_str(if rng.below(3) == 0 { "\r\n" } else { "\n" });
        }
        if round % 2 == 1 {
            content.push_str("no newline at the end");
        }
        let expected: Vec<&str> = content.lines().collect();
        check_read_lines(&format!("random-{round}"), content.as_bytes(), &expected, 8);
    }
}

/// Serves `payload` to the first connection, then closes it.
fn serve_once(payload: &'static [u8]) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(payload).unwrap();
    });
    (address, server)
}

#[test]
fn socket_lines_emits_each_line_in_order_until_the_server_closes() {
    let (address, server) = serve_once(b"alpha\nbeta\r\n\ngamma");
    let out = Collected::new();
    let report = socket_job::run(&config(1), address, out.clone()).unwrap();
    server.join().unwrap();
    assert_eq!(out.take(), vec![s("alpha"), s("beta"), s(""), s("gamma")]);
    assert!(
        !report.batch_mode,
        "an unbounded source runs in streaming mode"
    );
}

#[test]
fn automatic_mode_with_an_unbounded_source_emits_rolling_counts() {
    let (address, server) = serve_once(b"a\nb\na\na\n");
    let out = Collected::new();
    socket_count::run(&config(1), address, out.clone()).unwrap();
    server.join().unwrap();
    assert_eq!(
        out.take(),
        vec![(s("a"), 1), (s("b"), 1), (s("a"), 2), (s("a"), 3)]
    );
}

// ---------------------------------------------------------------------------------------------
// Keyed rolling aggregates
// ---------------------------------------------------------------------------------------------

fn pairs(items: &[(&str, u64)]) -> Vec<(String, u64)> {
    items.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

#[test]
fn streaming_sum_emits_every_rolling_value_in_order() {
    let items = pairs(&[("k", 3), ("k", 1), ("k", 4), ("k", 1), ("k", 5)]);
    let out = Collected::new();
    rolling_sum_projected::run(&streaming(1), items, out.clone()).unwrap();
    assert_eq!(
        out.take(),
        pairs(&[("k", 3), ("k", 4), ("k", 8), ("k", 9), ("k", 14)])
    );
}

#[test]
fn streaming_min_and_max_emit_every_rolling_value_in_order() {
    let items = vec![5i64, 7, 3, 3, 9, 1, 2];
    let out = Collected::new();
    rolling_min::run(&streaming(1), items.clone(), out.clone()).unwrap();
    let mins: Vec<i64> = out.take().into_iter().map(|(_, v)| v).collect();
    assert_eq!(mins, vec![5, 5, 3, 3, 3, 1, 1]);

    let out = Collected::new();
    rolling_max::run(&streaming(1), items, out.clone()).unwrap();
    let maxes: Vec<i64> = out.take().into_iter().map(|(_, v)| v).collect();
    assert_eq!(maxes, vec![5, 7, 7, 7, 9, 9, 9]);
}

#[test]
fn streaming_min_max_with_a_projection() {
    let items: Vec<(String, i64)> = [("k", 4), ("k", -2), ("k", 10), ("k", 0)]
        .iter()
        .map(|&(k, v)| (s(k), v))
        .collect();
    let out = Collected::new();
    rolling_min_projected::run(&streaming(1), items.clone(), out.clone()).unwrap();
    assert_eq!(
        out.take(),
        vec![(s("k"), 4), (s("k"), -2), (s("k"), -2), (s("k"), -2)]
    );
    let out = Collected::new();
    rolling_max_projected::run(&streaming(1), items, out.clone()).unwrap();
    assert_eq!(
        out.take(),
        vec![(s("k"), 4), (s("k"), 4), (s("k"), 10), (s("k"), 10)]
    );
}

#[test]
fn streaming_count_emits_one_to_n() {
    let items: Vec<String> = vec![s("w"); 6];
    let out = Collected::new();
    rolling_count::run(&streaming(1), items, out.clone()).unwrap();
    assert_eq!(out.take(), (1..=6).map(|n| (s("w"), n)).collect::<Vec<_>>());
}

#[test]
fn streaming_reduce_folds_in_arrival_order() {
    // String concatenation is not commutative, so the result shows the order of folding.
    let items: Vec<(String, String)> = ["a", "b", "c", "d"]
        .iter()
        .map(|v| (s("k"), s(v)))
        .collect();
    let out = Collected::new();
    rolling_reduce::run(&streaming(1), items, out.clone()).unwrap();
    let values: Vec<String> = out.take().into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, vec![s("a"), s("ab"), s("abc"), s("abcd")]);
}

#[test]
fn streaming_aggregates_keep_each_key_separate_at_any_parallelism() {
    let items = pairs(&[
        ("a", 1),
        ("b", 10),
        ("a", 2),
        ("c", 100),
        ("b", 20),
        ("a", 3),
        ("c", 200),
        ("b", 30),
    ]);
    for p in 1..=4 {
        let out = Collected::new();
        rolling_sum_projected::run(&streaming(p), items.clone(), out.clone()).unwrap();
        // Rolling sums of positive values increase, so per key the sorted outputs are the
        // exact sequence of rolling values.
        assert_eq!(
            out.take_sorted(),
            pairs(&[
                ("a", 1),
                ("a", 3),
                ("a", 6),
                ("b", 10),
                ("b", 30),
                ("b", 60),
                ("c", 100),
                ("c", 300)
            ]),
            "parallelism {p}"
        );
    }
}

#[test]
fn streaming_sum_emits_one_record_per_input_record() {
    let items: Vec<u64> = (1..=30).collect();
    for p in 1..=4 {
        let out = Collected::new();
        rolling_sum::run(&streaming(p), items.clone(), out.clone()).unwrap();
        let mut expected = Vec::new();
        let mut sums = [0u64; 3];
        for &x in &items {
            sums[(x % 3) as usize] += x;
            expected.push((x % 3, sums[(x % 3) as usize]));
        }
        assert_eq!(out.take_sorted(), sorted(expected), "parallelism {p}");
    }
}

#[test]
fn batch_aggregates_emit_exactly_one_final_value_per_key() {
    let items = pairs(&[
        ("a", 1),
        ("b", 10),
        ("a", 2),
        ("c", 100),
        ("b", 20),
        ("a", 3),
    ]);
    for p in 1..=4 {
        // The default mode: every source is bounded, so the job runs as a batch job.
        let out = Collected::new();
        let report = rolling_sum_projected::run(&config(p), items.clone(), out.clone()).unwrap();
        assert!(report.batch_mode);
        assert_eq!(
            out.take_sorted(),
            pairs(&[("a", 6), ("b", 30), ("c", 100)]),
            "sum, parallelism {p}"
        );

        let out = Collected::new();
        let explicit = JobConfig {
            mode: ExecutionMode::Batch,
            ..config(p)
        };
        rolling_sum_projected::run(&explicit, items.clone(), out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            pairs(&[("a", 6), ("b", 30), ("c", 100)]),
            "explicit batch mode, parallelism {p}"
        );

        let out = Collected::new();
        let words: Vec<String> = ["x", "y", "x", "z", "x", "y"]
            .iter()
            .map(|w| s(w))
            .collect();
        rolling_count::run(&config(p), words, out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            pairs(&[("x", 3), ("y", 2), ("z", 1)]),
            "count, parallelism {p}"
        );

        let values = vec![4i64, -3, 8, -1, 0, 2, -7];
        let out = Collected::new();
        rolling_min::run(&config(p), values.clone(), out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            vec![(false, -7), (true, 0)],
            "min, parallelism {p}"
        );
        let out = Collected::new();
        rolling_max::run(&config(p), values, out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            vec![(false, -1), (true, 8)],
            "max, parallelism {p}"
        );

        let pieces: Vec<(String, String)> =
            [("k", "a"), ("j", "1"), ("k", "b"), ("j", "2"), ("k", "c")]
                .iter()
                .map(|&(k, v)| (s(k), s(v)))
                .collect();
        let out = Collected::new();
        rolling_reduce::run(&config(p), pieces, out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            vec![(s("j"), s("12")), (s("k"), s("abc"))],
            "reduce, parallelism {p}"
        );
    }
}

#[test]
fn batch_sum_over_a_parallel_source_matches_a_reference() {
    for p in 1..=4 {
        for keys in [1u64, 7] {
            let out = Collected::new();
            keyed_parallel_source::run(&config(p), 1000, keys, out.clone()).unwrap();
            let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
            for x in 0..1000u64 {
                *expected.entry(x % keys).or_default() += x;
            }
            assert_eq!(
                out.take_sorted(),
                expected.into_iter().collect::<Vec<_>>(),
                "parallelism {p}, {keys} keys"
            );
        }
    }
}

#[test]
fn aggregates_of_an_empty_input_emit_nothing() {
    for config in [config(2), streaming(2)] {
        let out = Collected::new();
        rolling_count::run(&config, Vec::new(), out.clone()).unwrap();
        assert!(out.take().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// union, fan-out, parallelism
// ---------------------------------------------------------------------------------------------

#[test]
fn union_of_two_streams_has_every_record_of_both() {
    for p in 1..=3 {
        let out = Collected::new();
        union_two::run(&config(p), out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            vec![0, 1, 2, 3, 4, 100, 101, 102],
            "parallelism {p}"
        );
    }
}

#[test]
fn union_of_three_streams_of_different_parallelism() {
    for p in 1..=3 {
        let out = Collected::new();
        union_three::run(&config(p), out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            vec![1, 2, 3, 4, 5, 101, 102, 103, 104, 1001, 1002],
            "parallelism {p}"
        );
    }
}

#[test]
fn union_then_key_by_aggregates_over_both_inputs() {
    for p in 1..=3 {
        let out = Collected::new();
        union_keyed::run(&config(p), out.clone()).unwrap();
        // 0..10 has five evens and five odds; 1, 3, 5 add three odds.
        assert_eq!(out.take_sorted(), vec![(0, 5), (1, 8)], "parallelism {p}");
    }
}

#[test]
fn union_of_a_stream_with_itself_has_every_record_twice() {
    // As in Flink: "If you union a data stream with itself you will get each element twice".
    let out = Collected::new();
    union_with_itself::run(&config(2), out.clone()).unwrap();
    assert_eq!(out.take_sorted(), vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
}

#[test]
fn fan_out_gives_every_consumer_every_record() {
    for p in 1..=3 {
        let (first, second, counts) = (Collected::new(), Collected::new(), Collected::new());
        fan_out::run(
            &config(p),
            30,
            first.clone(),
            second.clone(),
            counts.clone(),
        )
        .unwrap();
        let all: Vec<u64> = (0..30).map(|x| x * 10).collect();
        assert_eq!(first.take_sorted(), all, "first sink, parallelism {p}");
        assert_eq!(second.take_sorted(), all, "second sink, parallelism {p}");
        assert_eq!(
            counts.take_sorted(),
            vec![(0, 10), (1, 10), (2, 10)],
            "parallelism {p}"
        );
    }
}

#[test]
fn fan_out_of_a_source_feeds_each_branch_everything() {
    for p in 1..=3 {
        let (first, second) = (Collected::new(), Collected::new());
        fan_out_of_source::run(&config(p), 10, first.clone(), second.clone()).unwrap();
        assert_eq!(first.take_sorted(), vec![0, 2, 4, 6, 8], "parallelism {p}");
        assert_eq!(
            second.take_sorted(),
            (1000..1010).collect::<Vec<_>>(),
            "parallelism {p}"
        );
    }
}

#[test]
fn a_keyed_stream_bound_with_let_feeds_several_aggregates() {
    for p in 1..=3 {
        let (counts, sums) = (Collected::new(), Collected::new());
        keyed_fan_out::run(&config(p), 10, counts.clone(), sums.clone()).unwrap();
        assert_eq!(
            counts.take_sorted(),
            vec![(0, 4), (1, 3), (2, 3)],
            "parallelism {p}"
        );
        // 0+3+6+9, 1+4+7, 2+5+8
        assert_eq!(
            sums.take_sorted(),
            vec![(0, 18), (1, 12), (2, 15)],
            "parallelism {p}"
        );
    }
}

#[test]
fn each_operator_runs_at_its_own_parallelism() {
    for p in 1..=4 {
        let (source_ids, map_ids) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let out = Collected::new();
        mixed_parallelism::run(
            &config(p),
            300,
            source_ids.clone(),
            map_ids.clone(),
            out.clone(),
        )
        .unwrap();
        let records = out.take();
        let values = sorted(records.iter().map(|r| r.2).collect::<Vec<_>>());
        assert_eq!(
            values,
            (0..300).filter(|x| x % 5 != 0).collect::<Vec<_>>(),
            "parallelism {p}"
        );
        // generate ran as 3 subtasks, each producing a contiguous third; the map as 2.
        assert_eq!(
            source_ids.load(Ordering::SeqCst),
            3,
            "generate subtasks, default {p}"
        );
        assert_eq!(
            map_ids.load(Ordering::SeqCst),
            2,
            "map subtasks, default {p}"
        );
        let mut ranges: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
        for &(g, _, x) in &records {
            ranges.entry(g).or_default().insert(x / 100);
        }
        for (g, thirds) in ranges {
            assert_eq!(
                thirds.len(),
                1,
                "generate subtask {g} produced more than its share"
            );
        }
    }
}

#[test]
fn a_keyed_operator_runs_at_its_own_parallelism_and_owns_its_keys() {
    for p in [1, 2, 4] {
        let ids = Arc::new(AtomicUsize::new(0));
        let out = Collected::new();
        let config = JobConfig {
            mode: ExecutionMode::Streaming,
            ..config(p)
        };
        keyed_parallelism::run(&config, 200, ids.clone(), out.clone()).unwrap();
        let records = out.take();
        assert_eq!(records.len(), 200);
        assert!(
            ids.load(Ordering::SeqCst) <= 3,
            "at most 3 subtasks of the map"
        );
        // The map is chained to the count (equal parallelism, forward), so each key is seen
        // by exactly one map subtask.
        let mut owner: HashMap<u64, BTreeSet<usize>> = HashMap::new();
        for (id, k) in records {
            owner.entry(k).or_default().insert(id);
        }
        assert_eq!(owner.len(), 10);
        assert!(owner.values().all(|ids| ids.len() == 1), "{owner:?}");
    }
}

#[test]
fn parallelism_may_be_an_expression_over_job_parameters() {
    for q in 1..=4usize {
        let ids = Arc::new(AtomicUsize::new(0));
        let out = Collected::new();
        expression_parallelism::run(&config(2), 40, q, ids.clone(), out.clone()).unwrap();
        assert_eq!(ids.load(Ordering::SeqCst), q);
        let records = out.take();
        assert_eq!(
            sorted(records.iter().map(|r| r.1).collect::<Vec<_>>()),
            (0..40).collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Word count against a reference
// ---------------------------------------------------------------------------------------------

fn random_text(seed: u64, lines: usize) -> String {
    let vocabulary = [
        "the",
        "The",
        "THE",
        "flink",
        "Rust",
        "stream",
        "batch",
        "window",
        "key",
        "state",
        "a",
        "an",
        "of",
        "to",
        "data",
        "flow",
        "dataflow",
        "operator",
        "x",
        "Ünïcode",
        "straße",
    ];
    let separators = [" ", "  ", "\t", " \t "];
    let mut rng = Lcg(seed);
    let mut text = String::new();
    for _ in 0..lines {
        let words = rng.below(12);
        if rng.below(4) == 0 {
            text.push_str(separators[rng.below(4) as usize]);
        }
        for w in 0..words {
            if w > 0 {
                text.push_str(separators[rng.below(4) as usize]);
            }
            // Skewed: low indices are frequent.
            let a = rng.below(vocabulary.len() as u64);
            let b = rng.below(vocabulary.len() as u64);
            text.push_str(vocabulary[a.min(b) as usize]);
        }
        text.push_str(if rng.below(5) == 0 { "\r\n" } else { "\n" });
    }
    text
}

fn reference_word_count(text: &str) -> Vec<(String, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in text.lines() {
        for word in line.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
    }
    sorted(counts.into_iter().collect())
}

#[test]
fn word_count_matches_a_naive_hash_map_count() {
    for seed in [1u64, 2, 3] {
        let text = random_text(seed, 400);
        let expected = reference_word_count(&text);
        let file = TempPath::with_content("words", text.as_bytes());
        for p in [1, 2, 4] {
            let out = Collected::new();
            word_count::run(&config(p), file.0.clone(), out.clone()).unwrap();
            assert_eq!(out.take_sorted(), expected, "seed {seed}, parallelism {p}");
        }
    }
}

#[test]
fn streaming_word_count_ends_at_the_reference_count() {
    let text = random_text(9, 300);
    let expected = reference_word_count(&text);
    let total: u64 = expected.iter().map(|(_, n)| n).sum();
    let file = TempPath::with_content("words-streaming", text.as_bytes());
    for p in [1, 2, 4] {
        let out = Collected::new();
        word_count::run(&streaming(p), file.0.clone(), out.clone()).unwrap();
        let updates = out.take();
        assert_eq!(
            updates.len() as u64,
            total,
            "one update per word, parallelism {p}"
        );
        // Per word, the updates are exactly 1, 2, ..., final count.
        let mut per_word: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (word, n) in updates {
            per_word.entry(word).or_default().push(n);
        }
        let finals: Vec<(String, u64)> = per_word
            .into_iter()
            .map(|(word, counts)| {
                let counts = sorted(counts);
                assert_eq!(
                    counts,
                    (1..=counts.len() as u64).collect::<Vec<_>>(),
                    "{word}"
                );
                (word, counts.len() as u64)
            })
            .collect();
        assert_eq!(finals, expected, "parallelism {p}");
    }
}

// ---------------------------------------------------------------------------------------------
// The job report
// ---------------------------------------------------------------------------------------------

fn in_out(report: &JobReport, name: &str) -> (u64, u64) {
    let op = report
        .operator(name)
        .unwrap_or_else(|| panic!("no operator `{name}` in {report}"));
    (op.records_in, op.records_out)
}

#[test]
fn report_counts_records_in_and_out_per_operator() {
    for p in [1, 3] {
        let out = Collected::new();
        let report = report_job::run(&config(p), out.clone()).unwrap();
        // 2, 4, .., 20 -> 6, 12, 18 pass the filter -> six records after flat_map.
        assert_eq!(out.take_sorted(), vec![106, 107, 112, 113, 118, 119]);
        assert_eq!(report.job, "report_job");
        assert!(report.batch_mode);
        assert_eq!(in_out(&report, "from_iter"), (0, 10), "{report}");
        assert_eq!(in_out(&report, "map_1"), (10, 10), "{report}");
        assert_eq!(in_out(&report, "filter"), (10, 3), "{report}");
        assert_eq!(in_out(&report, "flat_map"), (3, 6), "{report}");
        assert_eq!(in_out(&report, "map_2"), (6, 6), "{report}");
        assert_eq!(in_out(&report, "collect"), (6, 0), "{report}");
        assert!(
            report.operator("map").is_none(),
            "repeated names are numbered"
        );
        let names: Vec<&str> = report.operators.iter().map(|op| op.name).collect();
        assert_eq!(
            names,
            [
                "from_iter",
                "map_1",
                "filter",
                "flat_map",
                "map_2",
                "collect"
            ],
            "plan order"
        );
    }
}

#[test]
fn report_counts_keyed_aggregates_per_mode() {
    let words: Vec<String> = ["a", "b", "a", "c", "a", "b", "d"]
        .iter()
        .map(|w| s(w))
        .collect();
    for p in [1, 2] {
        let out = Collected::new();
        let report = report_keyed::run(&config(p), words.clone(), out.clone()).unwrap();
        assert_eq!(in_out(&report, "from_iter"), (0, 7), "{report}");
        assert_eq!(
            in_out(&report, "count"),
            (7, 4),
            "batch: one per key\n{report}"
        );
        assert_eq!(in_out(&report, "collect"), (4, 0), "{report}");
        assert!(
            report.operator("key_by").is_none(),
            "partitioning functions have no counts of their own"
        );

        let out = Collected::new();
        let report = report_keyed::run(&streaming(p), words.clone(), out.clone()).unwrap();
        assert!(!report.batch_mode);
        assert_eq!(
            in_out(&report, "count"),
            (7, 7),
            "streaming: one per record\n{report}"
        );
        assert_eq!(in_out(&report, "collect"), (7, 0), "{report}");
    }
}

#[test]
fn report_sums_counts_over_subtasks_and_exchanges() {
    for p in [1, 2, 4] {
        let out = Collected::new();
        let report = report_exchanges::run(&config(p), 100, out.clone()).unwrap();
        assert_eq!(out.take_sorted(), (0..25).collect::<Vec<_>>());
        assert_eq!(in_out(&report, "generate"), (0, 100), "{report}");
        assert_eq!(in_out(&report, "filter"), (100, 25), "{report}");
        assert_eq!(in_out(&report, "map"), (25, 25), "{report}");
        assert_eq!(in_out(&report, "collect"), (25, 0), "{report}");
    }
}

#[test]
fn report_counts_every_branch_of_a_fan_out_and_every_input_of_a_union() {
    for p in [1, 3] {
        let (first, second, counts) = (Collected::new(), Collected::new(), Collected::new());
        let report = fan_out::run(
            &config(p),
            30,
            first.clone(),
            second.clone(),
            counts.clone(),
        )
        .unwrap();
        assert_eq!(in_out(&report, "generate"), (0, 30), "{report}");
        assert_eq!(in_out(&report, "map"), (30, 30), "{report}");
        assert_eq!(in_out(&report, "collect_1"), (30, 0), "{report}");
        assert_eq!(in_out(&report, "collect_2"), (30, 0), "{report}");
        assert_eq!(in_out(&report, "count"), (30, 3), "{report}");
        assert_eq!(in_out(&report, "collect_3"), (3, 0), "{report}");

        let out = Collected::new();
        let report = union_three::run(&config(p), out.clone()).unwrap();
        assert_eq!(in_out(&report, "generate_1"), (0, 5), "{report}");
        assert_eq!(in_out(&report, "generate_2"), (0, 4), "{report}");
        assert_eq!(in_out(&report, "from_iter"), (0, 2), "{report}");
        assert_eq!(in_out(&report, "map"), (11, 11), "{report}");
        assert_eq!(in_out(&report, "collect"), (11, 0), "{report}");
    }
}

// ---------------------------------------------------------------------------------------------
// Job structure: several pipelines, names, diamonds, chained aggregates, sinks, settings
// ---------------------------------------------------------------------------------------------

fn tiny_exchanges(parallelism: usize) -> JobConfig {
    JobConfig {
        exchange: dataflow::runtime::exchange::ExchangeConfig {
            batch_size: 1,
            channel_capacity: 1,
            ..Default::default()
        },
        ..config(parallelism)
    }
}

#[test]
fn a_job_runs_all_of_its_independent_pipelines() {
    let (first, second) = (Collected::new(), Collected::new());
    two_pipelines::run(&config(2), 4, first.clone(), second.clone()).unwrap();
    assert_eq!(first.take_sorted(), vec![0, 1, 2, 3]);
    assert_eq!(second.take_sorted(), vec![s("X"), s("Y")]);
}

#[test]
fn a_stream_name_may_be_used_before_its_definition() {
    let out = Collected::new();
    used_before_defined::run(&config(2), 5, out.clone()).unwrap();
    assert_eq!(out.take_sorted(), vec![1, 2, 3, 4, 5]);
}

#[test]
fn a_diamond_fan_out_then_union_has_both_branches() {
    for config in [config(1), config(3), tiny_exchanges(3)] {
        let out = Collected::new();
        diamond::run(&config, 200, out.clone()).unwrap();
        let mut expected: Vec<u64> = (0..200).filter(|x| x % 2 == 0).collect();
        expected.extend((0..200).map(|x| x * 10));
        assert_eq!(out.take_sorted(), sorted(expected));
    }
}

#[test]
fn batch_aggregates_can_be_chained_through_key_by() {
    // Word frequencies, then how many words have each frequency.
    let words: Vec<String> = "a b a c a b d e e e e".split(' ').map(s).collect();
    for config in [config(1), config(2), config(4), tiny_exchanges(3)] {
        let out = Collected::new();
        chained_aggregates::run(&config, words.clone(), out.clone()).unwrap();
        // a: 3, b: 2, c: 1, d: 1, e: 4 -> frequency 1 twice, 2 once, 3 once, 4 once.
        assert_eq!(out.take_sorted(), vec![(1, 2), (2, 1), (3, 1), (4, 1)]);
    }
}

#[test]
fn fan_out_after_a_batch_aggregate_feeds_every_branch_the_final_values() {
    let words: Vec<String> = "x y x z x y".split(' ').map(s).collect();
    for config in [config(1), config(3), tiny_exchanges(2)] {
        let (counts, totals) = (Collected::new(), Collected::new());
        fan_out_after_aggregate::run(&config, words.clone(), counts.clone(), totals.clone())
            .unwrap();
        assert_eq!(counts.take_sorted(), pairs(&[("x", 3), ("y", 2), ("z", 1)]));
        assert_eq!(totals.take(), vec![6]);
    }
}

#[test]
fn a_flat_map_emitting_many_batches_per_record_loses_nothing() {
    for config in [config(2), tiny_exchanges(2)] {
        let out = Collected::new();
        let (n, per) = (
            4u64,
            if config.exchange.batch_size == 1 {
                500
            } else {
                5000
            },
        );
        big_flat_map::run(&config, n, per, out.clone()).unwrap();
        assert_eq!(out.take_sorted(), (0..n * per).collect::<Vec<_>>());
    }
}

#[test]
fn discard_and_print_consume_every_record() {
    let out = Collected::new();
    let report = sinks::run(&config(2), 3, out.clone()).unwrap();
    assert_eq!(out.take_sorted(), vec![0, 1, 2]);
    assert_eq!(in_out(&report, "discard"), (3, 0), "{report}");
    assert_eq!(in_out(&report, "print"), (3, 0), "{report}");
    assert_eq!(in_out(&report, "collect"), (3, 0), "{report}");
}

#[test]
fn uid_and_chaining_settings_do_not_change_results() {
    for config in [config(1), config(3)] {
        let out = Collected::new();
        let report = settings_keep_results::run(&config, 20, out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            (0..20)
                .filter(|x| x % 2 == 0)
                .map(|x| (x + 1) * 2)
                .collect::<Vec<_>>()
        );
        assert_eq!(in_out(&report, "inc"), (20, 20), "{report}");
    }
}

#[test]
fn keyed_and_union_jobs_with_one_record_batches() {
    let text = random_text(11, 200);
    let expected = reference_word_count(&text);
    let file = TempPath::with_content("words-tiny", text.as_bytes());
    for p in [1, 3] {
        let out = Collected::new();
        word_count::run(&tiny_exchanges(p), file.0.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "parallelism {p}");
        let out = Collected::new();
        union_three::run(&tiny_exchanges(p), out.clone()).unwrap();
        assert_eq!(
            out.take_sorted(),
            vec![1, 2, 3, 4, 5, 101, 102, 103, 104, 1001, 1002]
        );
    }
}

#[test]
fn write_lines_into_a_previous_output_directory_leaves_only_the_new_output() {
    // Flink either refuses an existing output path (NO_OVERWRITE, its default) or replaces
    // it (OVERWRITE). Either way, reading the directory afterwards never yields records of an
    // earlier run.
    let dir = TempPath::new("rerun");
    generate_parts::run(&config(4), 8, dir.0.clone()).unwrap();
    match generate_parts::run(&config(2), 4, dir.0.clone()) {
        Err(error) => assert!(error.to_string().contains("write_lines"), "{error}"),
        Ok(_) => {
            let parts = read_parts::<String>(&dir.0, 2);
            assert_eq!(parts, vec![vec![s("0"), s("1")], vec![s("2"), s("3")]]);
            let mut names: Vec<_> = std::fs::read_dir(&dir.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            assert_eq!(
                names,
                ["part-0", "part-1"],
                "no part file of the earlier run survives"
            );
        }
    }
}

/// Serves `pieces` to the first connection with a pause between them, then closes it.
fn serve_slowly(pieces: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        for piece in pieces {
            stream.write_all(&piece).unwrap();
            stream.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
    });
    (address, server)
}

#[test]
fn socket_lines_reassembles_lines_split_across_reads() {
    let long = "z".repeat(200_000);
    let pieces: Vec<Vec<u8>> = vec![
        b"hel".to_vec(),
        b"lo\r".to_vec(),
        b"\nwor".to_vec(),
        b"ld\n".to_vec(),
        long.as_bytes().to_vec(),
        b"\nlast".to_vec(),
    ];
    let (address, server) = serve_slowly(pieces);
    let out = Collected::new();
    socket_job::run(&config(1), address, out.clone()).unwrap();
    server.join().unwrap();
    assert_eq!(out.take(), vec![s("hello"), s("world"), long, s("last")]);
}

#[test]
fn records_of_an_open_stream_cross_exchanges_without_waiting_for_a_full_batch() {
    // The server sends one line and keeps the connection open until the pipeline's last
    // operator has seen that line's rolling count (or 10 s pass). Partial batches must be
    // shipped when a task runs out of input, and a streaming count must emit per record, so
    // the line gets through while the stream is still open.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<String>();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"ping\n").unwrap();
        let first = seen_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .ok();
        stream.write_all(b"pong\n").unwrap();
        first
    });
    let out = Collected::new();
    let config = JobConfig {
        worker_threads: Some(2),
        ..config(2)
    };
    slow_stream::run(&config, address, seen_tx, out.clone()).unwrap();
    let first = server.join().unwrap();
    assert_eq!(
        first.as_deref(),
        Some("PING"),
        "the first line waited for the end of the stream"
    );
    assert_eq!(out.take_sorted(), pairs(&[("PING", 1), ("PONG", 1)]));
}

#[test]
fn jobs_run_on_a_single_worker_thread() {
    let text = random_text(5, 100);
    let expected = reference_word_count(&text);
    let file = TempPath::with_content("words-one-thread", text.as_bytes());
    for p in [1, 4] {
        let one = JobConfig {
            worker_threads: Some(1),
            ..tiny_exchanges(p)
        };
        let out = Collected::new();
        word_count::run(&one, file.0.clone(), out.clone()).unwrap();
        assert_eq!(out.take_sorted(), expected, "parallelism {p}");
        let out = Collected::new();
        diamond::run(&one, 100, out.clone()).unwrap();
        assert_eq!(out.take().len(), 150);
    }
}
