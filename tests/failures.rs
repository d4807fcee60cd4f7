//! Failures end the job with an error that names the operator (and subtask) they came from:
//! panics in user closures, I/O errors of sources and sinks, invalid partition indices, and
//! invalid configurations. A failure in a job with a large bounded source returns promptly
//! instead of running the source to its end or hanging.
//!
//! The panicking tests print the panic message to stderr; that is expected.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

mod common;

use common::*;
use dataflow::prelude::*;
use dataflow::runtime::exchange::ExchangeConfig;
use dataflow::Error;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn config(parallelism: usize) -> JobConfig {
    JobConfig::with_parallelism(parallelism)
}

/// The operator, subtask and message of an `OperatorPanicked` error.
#[track_caller]
fn panicked(result: dataflow::Result<JobReport>) -> (String, usize, String) {
    match result {
        Err(Error::OperatorPanicked {
            operator,
            subtask,
            message,
        }) => (operator, subtask, message),
        Err(other) => panic!("expected OperatorPanicked, got: {other}"),
        Ok(report) => panic!("expected OperatorPanicked, the job succeeded:\n{report}"),
    }
}

/// The operator, subtask and I/O error of an `OperatorIo` error.
#[track_caller]
fn io_failure(result: dataflow::Result<JobReport>) -> (String, usize, std::io::Error) {
    match result {
        Err(Error::OperatorIo {
            operator,
            subtask,
            source,
        }) => (operator, subtask, source),
        Err(other) => panic!("expected OperatorIo, got: {other}"),
        Ok(report) => panic!("expected OperatorIo, the job succeeded:\n{report}"),
    }
}

/// The message of a `Config` error.
#[track_caller]
fn config_error(result: dataflow::Result<JobReport>) -> String {
    match result {
        Err(Error::Config(message)) => message,
        Err(other) => panic!("expected a configuration error, got: {other}"),
        Ok(report) => panic!("expected a configuration error, the job succeeded:\n{report}"),
    }
}

#[track_caller]
fn assert_panic_in(result: dataflow::Result<JobReport>, operator: &str, text: &str) -> usize {
    let (name, subtask, message) = panicked(result);
    assert_eq!(name, operator, "panic message: {message}");
    assert!(message.contains(text), "`{message}` lacks `{text}`");
    subtask
}

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

dataflow! {
    job panic_in_map(n: u64, bad: u64, out: Collected<u64>) {
        generate(n, |i| i)
            .map(move |x| if x == bad { panic!("map failed on {x}") } else { x })
            .collect(out);
    }

    job panic_in_map_with_parallelism(out: Collected<u64>) {
        generate(30, |i| i).parallelism(3)
            .map(|x| if x == 29 { panic!("map failed on 29") } else { x }).parallelism(3)
            .collect(out);
    }

    job panic_in_first_of_two_maps(out: Collected<u64>) {
        generate(10, |i| i)
            .map(|x| if x == 4 { panic!("first map failed") } else { x })
            .map(|x| x + 1)
            .collect(out);
    }

    job panic_in_second_of_two_maps(out: Collected<u64>) {
        generate(10, |i| i)
            .map(|x| x + 1)
            .map(|x| if x == 4 { panic!("second map failed") } else { x })
            .collect(out);
    }

    job panic_in_named_map(out: Collected<u64>) {
        generate(10, |i| i)
            .map(|x| if x == 6 { panic!("cannot parse {x}") } else { x }).name("parse")
            .map(|x| x * 2).name("double")
            .collect(out);
    }

    job panic_in_filter(out: Collected<u64>) {
        generate(10, |i| i)
            .map(|x| x)
            .filter(|x| if *x == 8 { panic!("filter failed on 8") } else { true })
            .collect(out);
    }

    job panic_in_flat_map_iterator(out: Collected<u64>) {
        generate(10, |i| i)
            .flat_map(|x| (0..x).map(move |j| if x == 9 && j == 3 { panic!("lazy iterator failed") } else { j }))
            .map(|x| x)
            .collect(out);
    }

    job panic_in_key_by(out: Collected<(u64, u64)>) {
        generate(20, |i| i)
            .map(|x| x)
            .key_by(|x| if *x == 7 { panic!("no key for 7") } else { *x % 3 })
            .count()
            .collect(out);
    }

    job panic_in_key_by_before_map(out: Collected<u64>) {
        generate(20, |i| i)
            .key_by(|x| if *x == 7 { panic!("no key for 7") } else { *x % 3 })
            .map(|x| x)
            .collect(out);
    }

    job panic_in_second_key_by(out: Collected<(u64, u64)>) {
        generate(20, |i| i)
            .key_by(|x| *x % 5)
            .map(|x| x)
            .key_by(|x| if *x == 11 { panic!("second key failed") } else { *x % 2 })
            .count()
            .collect(out);
    }

    job panic_in_generate(out: Collected<u64>) {
        generate(10, |i| if i == 5 { panic!("cannot generate 5") } else { i })
            .map(|x| x)
            .collect(out);
    }

    job panic_in_named_generate(out: Collected<u64>) {
        generate(10, |i| if i == 5 { panic!("cannot generate 5") } else { i }).name("numbers")
            .collect(out);
    }

    job panic_in_from_iter(out: Collected<u64>) {
        from_iter((0..10u64).map(|i| if i == 5 { panic!("iterator failed") } else { i }))
            .collect(out);
    }

    job panic_in_reduce(out: Collected<u64>) {
        generate(10, |i| i)
            .key_by(|x| x % 2)
            .reduce(|a, b| if b == 7 { panic!("cannot fold 7") } else { a + b })
            .collect(out);
    }

    job panic_in_sum_projection(out: Collected<(u64, u64)>) {
        generate(10, |i| i)
            .key_by(|x| x % 2)
            .sum(|x| if x == 4 { panic!("cannot project 4") } else { x })
            .collect(out);
    }

    job panic_after_aggregate(out: Collected<u64>) {
        generate(10, |i| i)
            .key_by(|x| x % 2)
            .count()
            .map(|(k, n)| if k == 1 { panic!("after count: {n}") } else { n })
            .collect(out);
    }

    job panic_with_non_string_payload(out: Collected<u64>) {
        generate(10, |i| i)
            .map(|x| if x == 2 { std::panic::panic_any(42u32) } else { x })
            .collect(out);
    }

    job panic_in_write_lines(output: PathBuf) {
        generate(10, |i| i).write_lines(output, |x| if x == 3 { panic!("cannot format 3") } else { x });
    }

    job panic_in_partition_function(out: Collected<u64>) {
        generate(10, |i| i)
            .partition_custom(|x, n| if *x == 6 { panic!("cannot place 6") } else { *x as usize % n })
            .collect(out);
    }

    job partition_out_of_range(out: Collected<u64>) {
        generate(10, |i| i)
            .partition_custom(|x, n| if *x == 5 { n + 2 } else { 0 })
            .collect(out);
    }

    job named_partition_out_of_range(out: Collected<u64>) {
        generate(10, |i| i)
            .map(|x| x)
            .partition_custom(|x, n| if *x == 5 { n } else { 0 })
            .map(|x| x).name("after")
            .collect(out);
    }

    job read(input: PathBuf, out: Collected<String>) {
        read_lines(input).collect(out);
    }

    job write(n: u64, output: PathBuf) {
        generate(n, |i| i).write_lines(output, |x| x);
    }

    job socket(address: String, out: Collected<String>) {
        socket_lines(address).collect(out);
    }

    job socket_counts(address: String, out: Collected<(String, u64)>) {
        socket_lines(address).key_by(|l| l.clone()).count().collect(out);
    }

    job socket_panics_downstream(address: String, out: Collected<String>) {
        socket_lines(address)
            .rebalance()
            .map(|line| if line == "boom" { panic!("bad line: {line}") } else { line }).parallelism(2)
            .collect(out);
    }

    job socket_panics_in_chain(address: String, out: Collected<(String, u64)>) {
        socket_lines(address)
            .map(|line| if line == "boom" { panic!("bad line: {line}") } else { line })
            .key_by(|line| line.clone())
            .count()
            .collect(out);
    }

    job expression_parallelism(p: usize, out: Collected<u64>) {
        generate(10, |i| i).parallelism(p).map(|x| x).collect(out);
    }

    job big_chained(n: u64, out: Collected<u64>) {
        generate(n, |i| i)
            .map(|x| if x == 1000 { panic!("failed at 1000") } else { x })
            .collect(out);
    }

    job big_after_exchange(n: u64, out: Collected<u64>) {
        generate(n, |i| i)
            .rebalance()
            .map(|x| if x == 1000 { panic!("failed at 1000") } else { x })
            .collect(out);
    }

    job big_keyed(n: u64, out: Collected<u64>) {
        generate(n, |i| i)
            .key_by(|x| x % 100)
            .reduce(|a, b| if b == 1000 { panic!("failed at 1000") } else { a.max(b) })
            .collect(out);
    }

    job big_source_before_aggregate(n: u64, out: Collected<(u64, u64)>) {
        generate(n, |i| if i == 1000 { panic!("failed at 1000") } else { i })
            .key_by(|x| x % 100)
            .count()
            .collect(out);
    }

    job big_counted(n: u64, out: Collected<u64>) {
        generate(n, |i| {
            BIG_PRODUCED.fetch_add(1, Ordering::Relaxed);
            i
        })
        .rebalance()
        .map(|x| if x == 1000 { panic!("failed at 1000") } else { x })
        .collect(out);
    }

    job endless(n: u64) {
        generate(n, |i| {
            ENDLESS_PRODUCED.fetch_add(1, Ordering::Relaxed);
            i
        })
        .map(|x| x + 1)
        .discard();
    }

    job big_sink(n: u64, output: PathBuf) {
        generate(n, |i| i)
            .key_by(|x| x % 100)
            .write_lines(output, |x| if x == 1000 { panic!("failed at 1000") } else { x });
    }
}

// ---------------------------------------------------------------------------------------------
// Panics in user code
// ---------------------------------------------------------------------------------------------

#[test]
fn a_panic_in_map_names_map_and_carries_the_message() {
    for p in 1..=3 {
        let result = panic_in_map::run(&config(p), 10, 4, Collected::new());
        assert_panic_in(result, "map", "map failed on 4");
    }
}

#[test]
fn a_panic_names_the_subtask_it_happened_in() {
    // generate splits 0..40 contiguously over 4 subtasks; 35 belongs to subtask 3.
    let result = panic_in_map::run(&config(4), 40, 35, Collected::new());
    assert_eq!(assert_panic_in(result, "map", "map failed on 35"), 3);
    let result = panic_in_map::run(&config(4), 40, 0, Collected::new());
    assert_eq!(assert_panic_in(result, "map", "map failed on 0"), 0);
    // `.parallelism(3)` wins over the default of 1: 29 of 0..30 is in subtask 2 of 3.
    let result = panic_in_map_with_parallelism::run(&config(1), Collected::new());
    assert_eq!(assert_panic_in(result, "map", "map failed on 29"), 2);
}

#[test]
fn repeated_operators_are_numbered_in_order() {
    let result = panic_in_first_of_two_maps::run(&config(2), Collected::new());
    assert_panic_in(result, "map_1", "first map failed");
    let result = panic_in_second_of_two_maps::run(&config(2), Collected::new());
    assert_panic_in(result, "map_2", "second map failed");
}

#[test]
fn a_name_setting_overrides_the_default_name() {
    let result = panic_in_named_map::run(&config(2), Collected::new());
    assert_panic_in(result, "parse", "cannot parse 6");
    let result = panic_in_named_generate::run(&config(2), Collected::new());
    assert_panic_in(result, "numbers", "cannot generate 5");
}

#[test]
fn a_panic_in_filter_names_filter() {
    let result = panic_in_filter::run(&config(2), Collected::new());
    assert_panic_in(result, "filter", "filter failed on 8");
}

#[test]
fn a_panic_while_draining_a_flat_map_iterator_names_flat_map() {
    let result = panic_in_flat_map_iterator::run(&config(2), Collected::new());
    assert_panic_in(result, "flat_map", "lazy iterator failed");
}

#[test]
fn a_panic_in_a_key_selector_names_key_by() {
    for p in 1..=3 {
        let result = panic_in_key_by::run(&config(p), Collected::new());
        assert_panic_in(result, "key_by", "no key for 7");
        let result = panic_in_key_by_before_map::run(&config(p), Collected::new());
        assert_panic_in(result, "key_by", "no key for 7");
    }
    let result = panic_in_second_key_by::run(&config(2), Collected::new());
    assert_panic_in(result, "key_by_2", "second key failed");
}

#[test]
fn a_panic_in_a_source_closure_names_the_source() {
    for p in 1..=3 {
        let result = panic_in_generate::run(&config(p), Collected::new());
        assert_panic_in(result, "generate", "cannot generate 5");
    }
    let result = panic_in_from_iter::run(&config(2), Collected::new());
    assert_panic_in(result, "from_iter", "iterator failed");
}

#[test]
fn a_panic_in_reduce_names_reduce() {
    // Batch mode (the default here) and streaming mode fold the same way.
    for mode in [ExecutionMode::Automatic, ExecutionMode::Streaming] {
        for p in 1..=2 {
            let config = JobConfig { mode, ..config(p) };
            let result = panic_in_reduce::run(&config, Collected::new());
            assert_panic_in(result, "reduce", "cannot fold 7");
        }
    }
}

#[test]
fn a_panic_in_an_aggregate_projection_names_the_aggregate() {
    let result = panic_in_sum_projection::run(&config(2), Collected::new());
    assert_panic_in(result, "sum", "cannot project 4");
}

#[test]
fn a_panic_after_a_batch_aggregate_names_the_operator_after_it() {
    // In batch mode the count emits at end of input; the map's panic happens then.
    let result = panic_after_aggregate::run(&config(2), Collected::new());
    assert_panic_in(result, "map", "after count: 5");
}

#[test]
fn a_panic_with_a_non_string_payload_still_names_the_operator() {
    let (operator, _, _) = panicked(panic_with_non_string_payload::run(
        &config(1),
        Collected::new(),
    ));
    assert_eq!(operator, "map");
}

#[test]
fn a_panic_in_a_sink_format_closure_names_write_lines() {
    let output = TempPath::new("panic-sink");
    let result = panic_in_write_lines::run(&config(1), output.0.clone());
    assert_panic_in(result, "write_lines", "cannot format 3");
}

#[test]
fn a_panic_in_a_partition_function_names_partition_custom() {
    let result = panic_in_partition_function::run(&config(2), Collected::new());
    assert_panic_in(result, "partition_custom", "cannot place 6");
}

#[test]
fn an_out_of_range_partition_index_fails_naming_partition_custom() {
    for p in 1..=3 {
        let (operator, _, message) =
            panicked(partition_out_of_range::run(&config(p), Collected::new()));
        assert_eq!(operator, "partition_custom", "{message}");
        assert!(message.contains(&format!("{}", p + 2)), "{message}");
    }
    let (operator, _, message) = panicked(named_partition_out_of_range::run(
        &config(2),
        Collected::new(),
    ));
    assert_eq!(operator, "partition_custom", "{message}");
}

// ---------------------------------------------------------------------------------------------
// I/O errors
// ---------------------------------------------------------------------------------------------

#[test]
fn a_missing_input_file_fails_naming_read_lines_and_the_path() {
    let missing = TempPath::new("missing-input");
    for p in 1..=2 {
        let (operator, _, source) =
            io_failure(read::run(&config(p), missing.0.clone(), Collected::new()));
        assert_eq!(operator, "read_lines");
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        let text = missing.0.display().to_string();
        assert!(
            source.to_string().contains(&text),
            "`{source}` lacks the path"
        );
        let error = read::run(&config(p), missing.0.clone(), Collected::new()).unwrap_err();
        assert!(error.to_string().contains("read_lines"), "{error}");
        assert!(error.to_string().contains(&text), "{error}");
    }
}

#[test]
fn a_directory_as_input_fails_naming_read_lines() {
    let dir = TempPath::new("input-dir");
    std::fs::create_dir_all(&dir.0).unwrap();
    let (operator, _, source) = io_failure(read::run(&config(2), dir.0.clone(), Collected::new()));
    assert_eq!(operator, "read_lines");
    assert!(
        source.to_string().contains(&dir.0.display().to_string()),
        "{source}"
    );
}

#[test]
fn invalid_utf8_input_fails_naming_read_lines() {
    let file = TempPath::new("invalid-utf8");
    std::fs::File::create(&file.0)
        .and_then(|mut f| f.write_all(b"fine\nbad \xff\xfe bytes\nfine again\n"))
        .unwrap();
    for p in 1..=2 {
        let (operator, _, source) =
            io_failure(read::run(&config(p), file.0.clone(), Collected::new()));
        assert_eq!(operator, "read_lines");
        assert_eq!(source.kind(), std::io::ErrorKind::InvalidData, "{source}");
    }
}

#[test]
fn an_output_path_in_a_missing_directory_fails_naming_write_lines() {
    let dir = TempPath::new("no-such-dir");
    let path = dir.0.join("out.txt");
    let (operator, _, source) = io_failure(write::run(&config(1), 5, path.clone()));
    assert_eq!(operator, "write_lines");
    assert!(
        source.to_string().contains(&path.display().to_string()),
        "{source}"
    );
}

#[test]
fn an_existing_directory_as_output_file_fails_naming_write_lines() {
    let dir = TempPath::new("output-is-dir");
    std::fs::create_dir_all(&dir.0).unwrap();
    let (operator, _, source) = io_failure(write::run(&config(1), 5, dir.0.clone()));
    assert_eq!(operator, "write_lines");
    assert!(
        source.to_string().contains(&dir.0.display().to_string()),
        "{source}"
    );
}

#[test]
fn an_existing_file_as_output_directory_fails_naming_write_lines() {
    // At parallelism > 1 the output is a directory of part files.
    let file = TempPath::new("output-is-file");
    std::fs::write(&file.0, "not a directory").unwrap();
    let (operator, _, source) = io_failure(write::run(&config(2), 5, file.0.clone()));
    assert_eq!(operator, "write_lines");
    assert!(
        source.to_string().contains(&file.0.display().to_string()),
        "{source}"
    );
    assert_eq!(std::fs::read_to_string(&file.0).unwrap(), "not a directory");
}

#[cfg(target_os = "linux")]
#[test]
fn a_failing_write_fails_naming_write_lines() {
    // Every write to /dev/full fails with "no space left on device".
    if std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .is_err()
    {
        return;
    }
    let (operator, _, source) =
        io_failure(write::run(&config(1), 1000, PathBuf::from("/dev/full")));
    assert_eq!(operator, "write_lines");
    assert!(source.to_string().contains("/dev/full"), "{source}");
}

#[test]
fn a_refused_connection_fails_naming_socket_lines_and_the_address() {
    // A port that was just free: bind, read the address, close.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let (operator, _, source) =
        io_failure(socket::run(&config(1), address.clone(), Collected::new()));
    assert_eq!(operator, "socket_lines");
    assert!(source.to_string().contains(&address), "{source}");
}

// ---------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------

#[test]
fn batch_mode_with_an_unbounded_source_is_a_configuration_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    // Should the job connect anyway, it meets a server that closes at once, so a wrong
    // result shows up as a failed assertion rather than a hang.
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            if let Ok((stream, _)) = listener.accept() {
                drop(stream);
            }
        }
    });
    let batch = JobConfig {
        mode: ExecutionMode::Batch,
        ..config(1)
    };
    let message = config_error(socket::run(&batch, address.clone(), Collected::new()));
    assert!(message.contains("batch"), "{message}");
    assert!(message.contains("unbounded"), "{message}");
    let message = config_error(socket_counts::run(
        &batch,
        address.clone(),
        Collected::new(),
    ));
    assert!(
        message.contains("socket_counts"),
        "names the job: {message}"
    );
    // Unblock the server thread if the job never connected.
    for _ in 0..2 {
        let _ = std::net::TcpStream::connect(&address);
    }
    server.join().unwrap();
}

#[test]
fn invalid_parallelism_settings_are_configuration_errors() {
    config_error(panic_in_map::run(&config(0), 10, 99, Collected::new()));
    let message = config_error(expression_parallelism::run(&config(2), 0, Collected::new()));
    assert!(message.contains("parallelism"), "{message}");
    let too_high = JobConfig {
        max_parallelism: 4,
        ..config(8)
    };
    let message = config_error(panic_in_map::run(&too_high, 10, 99, Collected::new()));
    assert!(message.contains("max parallelism"), "{message}");
    for max_parallelism in [0, 1 << 16] {
        let invalid = JobConfig {
            max_parallelism,
            ..config(1)
        };
        config_error(panic_in_map::run(&invalid, 10, 99, Collected::new()));
    }
    for exchange in [
        ExchangeConfig {
            batch_size: 0,
            channel_capacity: 8,
            ..Default::default()
        },
        ExchangeConfig {
            batch_size: 8,
            channel_capacity: 0,
            ..Default::default()
        },
    ] {
        let invalid = JobConfig {
            exchange,
            ..config(1)
        };
        config_error(panic_in_map::run(&invalid, 10, 99, Collected::new()));
    }
}

// ---------------------------------------------------------------------------------------------
// Failing fast with a large bounded source
// ---------------------------------------------------------------------------------------------

const BIG: u64 = 10_000_000;

/// Records the source of `big_counted` produced.
static BIG_PRODUCED: AtomicU64 = AtomicU64::new(0);
/// Records the source of `endless` produced.
static ENDLESS_PRODUCED: AtomicU64 = AtomicU64::new(0);

#[test]
fn a_failure_stops_the_sources_instead_of_letting_them_run_to_the_end() {
    let result = big_counted::run(&config(2), BIG, Collected::new());
    assert_panic_in(result, "map", "failed at 1000");
    // Backpressure holds the sources a few batches ahead of the failing map, and the failure
    // drops them where they wait.
    let produced = BIG_PRODUCED.load(Ordering::Relaxed);
    assert!(
        produced < BIG / 10,
        "the sources produced {produced} of {BIG} records"
    );
}

#[test]
fn a_cancelled_job_fails_promptly_with_cancelled() {
    let canceller = dataflow::runtime::job::JobCanceller::default();
    let config = JobConfig {
        canceller: Some(canceller.clone()),
        ..config(2)
    };
    let job = std::thread::spawn(move || endless::run(&config, u64::MAX));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while ENDLESS_PRODUCED.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    canceller.cancel();
    match job.join().unwrap() {
        Err(Error::Cancelled { job }) => assert_eq!(job, "endless"),
        other => panic!("expected Cancelled, got {other:?}"),
    }
}

#[test]
fn a_failure_in_the_source_chain_stops_a_big_job() {
    for p in [1, 2] {
        let result = big_chained::run(&config(p), BIG, Collected::new());
        assert_panic_in(result, "map", "failed at 1000");
    }
}

#[test]
fn a_failure_after_an_exchange_stops_a_big_job() {
    for p in [1, 2, 3] {
        let result = big_after_exchange::run(&config(p), BIG, Collected::new());
        assert_panic_in(result, "map", "failed at 1000");
    }
}

#[test]
fn a_failure_in_a_keyed_operator_stops_a_big_job() {
    for mode in [ExecutionMode::Automatic, ExecutionMode::Streaming] {
        let config = JobConfig { mode, ..config(2) };
        let result = big_keyed::run(&config, BIG, Collected::new());
        assert_panic_in(result, "reduce", "failed at 1000");
    }
}

#[test]
fn a_failure_in_the_source_stops_a_job_waiting_for_end_of_input() {
    // The batch-mode count waits for end of input, which never comes.
    let result = big_source_before_aggregate::run(&config(2), BIG, Collected::new());
    assert_panic_in(result, "generate", "failed at 1000");
}

#[test]
fn a_failure_in_a_sink_stops_a_big_job() {
    let output = TempPath::new("big-sink");
    let result = big_sink::run(&config(2), BIG, output.0.clone());
    assert_panic_in(result, "write_lines", "failed at 1000");
}

/// Serves `payload` and keeps the connection open until `run` has returned (or 10 s pass);
/// returns whether the server had to give up waiting.
fn open_stream_server(
    payload: &'static [u8],
) -> (
    String,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<bool>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(payload).unwrap();
        let gave_up = done_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_err();
        drop(stream);
        gave_up
    });
    (address, done_tx, server)
}

#[test]
fn a_failure_ends_a_job_whose_unbounded_source_is_still_open() {
    // The job must fail while the server still holds the connection open: an idle unbounded
    // source must not keep a failed job alive.
    let (address, done, server) = open_stream_server(b"fine\nboom\nfine\n");
    let result = socket_panics_downstream::run(&config(2), address, Collected::new());
    let _ = done.send(());
    let gave_up = server.join().unwrap();
    assert_panic_in(result, "map", "bad line: boom");
    assert!(
        !gave_up,
        "the job only ended when the server closed the connection"
    );

    let (address, done, server) = open_stream_server(b"fine\nboom\n");
    let result = socket_panics_in_chain::run(&config(2), address, Collected::new());
    let _ = done.send(());
    let gave_up = server.join().unwrap();
    assert_panic_in(result, "map", "bad line: boom");
    assert!(
        !gave_up,
        "the job only ended when the server closed the connection"
    );
}

// ---------------------------------------------------------------------------------------------
// Batch mode: recovery is re-execution
// ---------------------------------------------------------------------------------------------

/// The record at which `fails_once` panics, until a test lowers it to `u64::MAX`.
static FAIL_AT: AtomicU64 = AtomicU64::new(u64::MAX);

dataflow! {
    job fails_once(n: u64, out: Collected<(u64, u64)>) {
        generate(n, |i| i)
            .map(|i| {
                if i == FAIL_AT.load(Ordering::Relaxed) {
                    FAIL_AT.store(u64::MAX, Ordering::Relaxed);
                    panic!("injected fault at {i}");
                }
                (i % 10, i)
            })
            .key_by(|p| p.0)
            .sum(|p| p.1)
            .collect(out);
    }
}

#[test]
fn a_failed_batch_job_reruns_from_the_beginning_without_taking_checkpoints() {
    use dataflow::runtime::checkpoint::CheckpointConfig;
    use dataflow::runtime::job::{run_with_restarts, RestartStrategy};
    let n = 200_000u64;
    let checkpoints = TempPath::new("batch-rerun-checkpoints");
    let config = JobConfig {
        mode: ExecutionMode::Batch,
        // Configured but not used: batch mode takes no checkpoints.
        checkpointing: Some(CheckpointConfig {
            interval: std::time::Duration::from_millis(1),
            dir: checkpoints.0.clone(),
            retained: 2,
            at_least_once: false,
        }),
        restart: RestartStrategy::FixedDelay {
            attempts: 1,
            delay: std::time::Duration::from_millis(1),
        },
        ..JobConfig::with_parallelism(2)
    };
    FAIL_AT.store(n / 2, Ordering::Relaxed);
    let mut attempts = Vec::new();
    let report = run_with_restarts(&config, |attempt| {
        let out = Collected::new();
        let result = fails_once::run(attempt, n, out.clone());
        attempts.push((
            attempt.restore.clone(),
            result.as_ref().err().map(ToString::to_string),
            out.take_sorted(),
        ));
        result
    })
    .unwrap();
    assert_eq!(attempts.len(), 2, "one failure, one rerun");
    assert!(attempts[0].1.as_ref().unwrap().contains("injected fault"));
    // The rerun starts from nothing (there is no checkpoint to restore) and gives the whole,
    // exact result; the failed attempt emitted no final value.
    assert_eq!(attempts[1].0, None);
    assert!(attempts[0].2.is_empty(), "{:?}", attempts[0].2);
    let expected: Vec<(u64, u64)> = (0..10)
        .map(|k| (k, (0..n).filter(|i| i % 10 == k).sum()))
        .collect();
    assert_eq!(attempts[1].2, expected);
    assert!(report.batch_mode);
    assert_eq!(report.checkpoints, 0);
    let written = std::fs::read_dir(&checkpoints.0).map_or(0, |dir| dir.count());
    assert_eq!(written, 0, "batch mode wrote checkpoint files");
}
