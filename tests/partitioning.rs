//! Where every partitioner sends records, observed through `write_lines`: at parallelism > 1
//! it writes one `part-<subtask>` file per subtask of the sink, in the order that subtask
//! received its records. `generate` splits `0..n` into contiguous shares (subtask k of p gets
//! `[k*n/p, (k+1)*n/p)`), so a record's value also tells which upstream subtask sent it.
//!
//! Every job runs with the default exchange settings and with batches of one record through
//! channels of capacity one, which makes every record a separate message and exercises
//! backpressure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

mod common;

use common::*;
use dataflow::prelude::*;
use dataflow::runtime::exchange::ExchangeConfig;
use dataflow::runtime::keys::{key_group, subtask_for_key_group};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The job's default parallelism with default and with minimal exchange buffering.
fn configs(parallelism: usize) -> [JobConfig; 2] {
    let tiny = JobConfig {
        exchange: ExchangeConfig {
            batch_size: 1,
            channel_capacity: 1,
            ..Default::default()
        },
        ..JobConfig::with_parallelism(parallelism)
    };
    [JobConfig::with_parallelism(parallelism), tiny]
}

/// Which of `p` generate subtasks produced `x` out of `n` records.
fn producer(x: u64, n: u64, p: u64) -> u64 {
    (0..p)
        .find(|&k| k * n / p <= x && x < (k + 1) * n / p)
        .unwrap()
}

/// Runs `job` (writing into a fresh directory) and returns the sink's part files.
fn run_parts(
    tag: &str,
    p: usize,
    job: impl FnOnce(PathBuf) -> dataflow::Result<JobReport>,
) -> Vec<Vec<u64>> {
    let dir = TempPath::new(tag);
    job(dir.0.clone()).unwrap();
    read_parts(&dir.0, p)
}

fn all_sorted(parts: &[Vec<u64>]) -> Vec<u64> {
    let mut all: Vec<u64> = parts.iter().flatten().copied().collect();
    all.sort_unstable();
    all
}

/// Asserts that within each part, the records of each sender appear in increasing order
/// (each sender's records are increasing; channels are FIFO per sender-receiver pair).
fn assert_per_sender_order(parts: &[Vec<u64>], n: u64, senders: u64, what: &str) {
    for (k, part) in parts.iter().enumerate() {
        let mut last: BTreeMap<u64, u64> = BTreeMap::new();
        for &x in part {
            let s = producer(x, n, senders);
            if let Some(&previous) = last.get(&s) {
                assert!(
                    previous < x,
                    "{what}: part {k} has {x} after {previous} from sender {s}"
                );
            }
            last.insert(s, x);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

dataflow! {
    job forward_chained(n: u64, output: PathBuf) {
        generate(n, |i| i).forward().map(|x| x).write_lines(output, |x| x);
    }

    job forward_exchange(n: u64, output: PathBuf) {
        generate(n, |i| i)
            .forward()
            .map(|x| x).disable_chaining()
            .forward()
            .filter(|_| true).start_new_chain()
            .write_lines(output, |x| x);
    }

    job forward_mismatch(n: u64, output: PathBuf) {
        generate(n, |i| i).parallelism(2).forward().write_lines(output, |x| x);
    }

    job key_by_sink(n: u64, keys: u64, output: PathBuf) {
        generate(n, |i| i).key_by(move |x| x % keys).write_lines(output, |x| x);
    }

    job key_by_map(n: u64, keys: u64, output: PathBuf) {
        generate(n, |i| i).parallelism(3).key_by(move |x| x % keys).map(|x| x).write_lines(output, |x| x);
    }

    job key_by_count(n: u64, keys: u64, out: Collected<(u64, u64)>) {
        generate(n, |i| i).key_by(move |x| x % keys).count().collect(out);
    }

    job broadcast_one_sender(n: u64, output: PathBuf) {
        from_iter(0..n).broadcast().write_lines(output, |x| x);
    }

    job broadcast_two_senders(n: u64, output: PathBuf) {
        generate(n, |i| i).parallelism(2).broadcast().write_lines(output, |x| x);
    }

    job rebalance_one_sender(n: u64, output: PathBuf) {
        from_iter(0..n).rebalance().write_lines(output, |x| x);
    }

    job rebalance_senders(n: u64, senders: usize, output: PathBuf) {
        generate(n, |i| i).parallelism(senders).rebalance().write_lines(output, |x| x);
    }

    job rebalance_implicit(n: u64, output: PathBuf) {
        generate(n, |i| i).parallelism(3).write_lines(output, |x| x);
    }

    job rescale(n: u64, senders: usize, output: PathBuf) {
        generate(n, |i| i).parallelism(senders).rescale().write_lines(output, |x| x);
    }

    job shuffle(n: u64, senders: usize, output: PathBuf) {
        generate(n, |i| i).parallelism(senders).shuffle().write_lines(output, |x| x);
    }

    job global(n: u64, senders: usize, output: PathBuf) {
        generate(n, |i| i).parallelism(senders).global().write_lines(output, |x| x);
    }

    job custom(n: u64, output: PathBuf) {
        generate(n, |i| i).parallelism(2).partition_custom(|x, n| (*x as usize * 7) % n).write_lines(output, |x| x);
    }

    job custom_sees_receiver_count(n: u64, output: PathBuf) {
        generate(n, |i| i).partition_custom(|x, n| if x % 2 == 0 { 0 } else { n - 1 }).write_lines(output, |x| x);
    }

    job custom_then_map(n: u64, output: PathBuf) {
        generate(n, |i| i).partition_custom(|x, n| (*x as usize / 10) % n).map(|x| x * 2).write_lines(output, |x| x);
    }
}

// ---------------------------------------------------------------------------------------------
// forward
// ---------------------------------------------------------------------------------------------

fn assert_forwarded(parts: &[Vec<u64>], n: u64, what: &str) {
    let p = parts.len() as u64;
    for (k, part) in parts.iter().enumerate() {
        let k = k as u64;
        // Exactly the share of upstream subtask k, in the order it produced them.
        let expected: Vec<u64> = (k * n / p..(k + 1) * n / p).collect();
        assert_eq!(part, &expected, "{what}: subtask {k} of {p}");
    }
}

#[test]
fn forward_within_a_chain_keeps_each_subtask_and_its_order() {
    for config in configs(3) {
        let parts = run_parts("forward-chained", 3, |dir| {
            forward_chained::run(&config, 100, dir)
        });
        assert_forwarded(&parts, 100, "chained");
    }
}

#[test]
fn forward_across_exchanges_keeps_each_subtask_and_its_order() {
    for p in [2, 3, 4] {
        for config in configs(p) {
            let parts = run_parts("forward-exchange", p, |dir| {
                forward_exchange::run(&config, 1001, dir)
            });
            assert_forwarded(&parts, 1001, "across exchanges");
        }
    }
}

#[test]
fn forward_between_different_parallelism_fails_at_start() {
    let dir = TempPath::new("forward-mismatch");
    let error =
        forward_mismatch::run(&JobConfig::with_parallelism(3), 10, dir.0.clone()).unwrap_err();
    match error {
        dataflow::Error::Config(message) => {
            assert!(message.contains("forward"), "{message}");
        }
        other => panic!("expected a configuration error, got {other}"),
    }
    // With equal parallelism it runs.
    let parts = run_parts("forward-match", 2, |dir| {
        forward_mismatch::run(&JobConfig::with_parallelism(2), 10, dir)
    });
    assert_forwarded(&parts, 10, "equal parallelism");
}

// ---------------------------------------------------------------------------------------------
// key_by
// ---------------------------------------------------------------------------------------------

#[test]
fn key_by_sends_each_key_to_the_subtask_owning_its_key_group() {
    for p in [2, 3, 4] {
        for config in configs(p) {
            let (n, keys) = (500, 37);
            let parts = run_parts("key-by", p, |dir| key_by_sink::run(&config, n, keys, dir));
            assert_eq!(
                all_sorted(&parts),
                (0..n).collect::<Vec<_>>(),
                "parallelism {p}"
            );
            let mut owner: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
            for (k, part) in parts.iter().enumerate() {
                for &x in part {
                    let key = x % keys;
                    owner.entry(key).or_default().insert(k);
                    // The documented placement: key group = hash % max parallelism,
                    // subtask = key group * parallelism / max parallelism.
                    let group = key_group(&key, config.max_parallelism);
                    assert_eq!(
                        k,
                        subtask_for_key_group(group, p, config.max_parallelism),
                        "key {key} at parallelism {p}"
                    );
                }
            }
            assert!(owner.values().all(|subtasks| subtasks.len() == 1));
            // 37 keys over p subtasks: more than one subtask is used.
            let used: BTreeSet<usize> = owner.values().flatten().copied().collect();
            assert!(used.len() > 1, "all keys on one subtask: {used:?}");
            assert_per_sender_order(&parts, n, p as u64, "key_by");
        }
    }
}

#[test]
fn key_by_uses_the_configured_max_parallelism() {
    let p = 4;
    for max_parallelism in [4, 8, 1000] {
        let config = JobConfig {
            max_parallelism,
            ..JobConfig::with_parallelism(p)
        };
        let parts = run_parts("key-by-max", p, |dir| {
            key_by_sink::run(&config, 300, 50, dir)
        });
        assert_eq!(all_sorted(&parts), (0..300).collect::<Vec<_>>());
        for (k, part) in parts.iter().enumerate() {
            for &x in part {
                let group = key_group(&(x % 50), max_parallelism);
                assert_eq!(
                    k,
                    subtask_for_key_group(group, p, max_parallelism),
                    "max parallelism {max_parallelism}"
                );
            }
        }
    }
}

#[test]
fn key_by_from_several_senders_into_a_non_keyed_operator() {
    for config in configs(4) {
        let parts = run_parts("key-by-map", 4, |dir| {
            key_by_map::run(&config, 600, 13, dir)
        });
        assert_eq!(all_sorted(&parts), (0..600).collect::<Vec<_>>());
        let mut owner: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
        for (k, part) in parts.iter().enumerate() {
            for &x in part {
                owner.entry(x % 13).or_default().insert(k);
            }
        }
        assert_eq!(owner.len(), 13);
        assert!(owner.values().all(|s| s.len() == 1), "{owner:?}");
        assert_per_sender_order(&parts, 600, 3, "key_by from 3 senders");
    }
}

#[test]
fn streaming_count_after_key_by_has_no_gaps_at_parallelism_four() {
    // A rolling count emits 1, 2, .., n for a key only if every record of the key reaches the
    // same subtask (and its state).
    let (n, keys) = (2000u64, 23u64);
    for config in configs(4) {
        let config = JobConfig {
            mode: ExecutionMode::Streaming,
            ..config
        };
        let out = Collected::new();
        key_by_count::run(&config, n, keys, out.clone()).unwrap();
        let mut per_key: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (key, count) in out.take() {
            per_key.entry(key).or_default().push(count);
        }
        assert_eq!(per_key.len() as u64, keys);
        for (key, mut counts) in per_key {
            counts.sort_unstable();
            let expected = (0..n).filter(|x| x % keys == key).count() as u64;
            assert_eq!(counts, (1..=expected).collect::<Vec<_>>(), "key {key}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// broadcast
// ---------------------------------------------------------------------------------------------

#[test]
fn broadcast_sends_every_record_to_every_subtask_in_order() {
    for p in [1, 3] {
        for config in configs(p) {
            if p == 1 {
                // At parallelism 1 write_lines writes a single file.
                let dir = TempPath::new("broadcast-single");
                broadcast_one_sender::run(&config, 5, dir.0.clone()).unwrap();
                assert_eq!(std::fs::read_to_string(&dir.0).unwrap(), "0\n1\n2\n3\n4\n");
                let _ = std::fs::remove_file(&dir.0);
                continue;
            }
            let parts = run_parts("broadcast", p, |dir| {
                broadcast_one_sender::run(&config, 50, dir)
            });
            for (k, part) in parts.iter().enumerate() {
                assert_eq!(part, &(0..50).collect::<Vec<_>>(), "subtask {k}");
            }
        }
    }
}

#[test]
fn broadcast_from_several_senders_delivers_each_record_once_per_subtask() {
    for config in configs(3) {
        let parts = run_parts("broadcast-2", 3, |dir| {
            broadcast_two_senders::run(&config, 101, dir)
        });
        for (k, part) in parts.iter().enumerate() {
            let mut sorted = part.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..101).collect::<Vec<_>>(), "subtask {k}");
        }
        assert_per_sender_order(&parts, 101, 2, "broadcast");
    }
}

// ---------------------------------------------------------------------------------------------
// rebalance
// ---------------------------------------------------------------------------------------------

/// Asserts that the records of each sender are dealt round robin over the parts: per sender,
/// part sizes differ by at most one, and consecutive records of a sender go to consecutive
/// parts.
fn assert_round_robin(parts: &[Vec<u64>], n: u64, senders: u64, what: &str) {
    let p = parts.len();
    let mut part_of = BTreeMap::new();
    for (k, part) in parts.iter().enumerate() {
        for &x in part {
            assert!(
                part_of.insert(x, k).is_none(),
                "{what}: {x} delivered twice"
            );
        }
    }
    assert_eq!(part_of.len() as u64, n, "{what}: every record exactly once");
    for s in 0..senders {
        let share: Vec<u64> = (s * n / senders..(s + 1) * n / senders).collect();
        let mut sizes = vec![0usize; p];
        for window in share.windows(2) {
            let (a, b) = (part_of[&window[0]], part_of[&window[1]]);
            assert_eq!(
                b,
                (a + 1) % p,
                "{what}: sender {s} sent {} to {a} then {} to {b}",
                window[0],
                window[1]
            );
        }
        for x in &share {
            sizes[part_of[x]] += 1;
        }
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "{what}: sender {s} is uneven: {sizes:?}");
    }
    assert_per_sender_order(parts, n, senders, what);
}

#[test]
fn rebalance_deals_records_round_robin_evenly() {
    for p in [2, 3, 4] {
        for config in configs(p) {
            for n in [8u64, 10, 1001] {
                let parts = run_parts("rebalance-1", p, |dir| {
                    rebalance_one_sender::run(&config, n, dir)
                });
                assert_round_robin(&parts, n, 1, &format!("rebalance 1 -> {p}, n = {n}"));
                let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
                let expected_min = n as usize / p;
                assert!(
                    sizes
                        .iter()
                        .all(|&s| s == expected_min || s == expected_min + 1),
                    "{sizes:?}"
                );
            }
        }
    }
}

#[test]
fn rebalance_from_several_senders_is_even_per_sender() {
    for (senders, p) in [(2usize, 3usize), (3, 2), (4, 4), (1, 4)] {
        for config in configs(p) {
            let parts = run_parts("rebalance-n", p, |dir| {
                rebalance_senders::run(&config, 999, senders, dir)
            });
            assert_round_robin(
                &parts,
                999,
                senders as u64,
                &format!("rebalance {senders} -> {p}"),
            );
        }
    }
}

#[test]
fn different_parallelism_without_a_partitioning_rebalances() {
    for config in configs(2) {
        let parts = run_parts("rebalance-implicit", 2, |dir| {
            rebalance_implicit::run(&config, 300, dir)
        });
        assert_round_robin(&parts, 300, 3, "implicit rebalance 3 -> 2");
    }
}

// ---------------------------------------------------------------------------------------------
// rescale
// ---------------------------------------------------------------------------------------------

#[test]
fn rescale_to_more_subtasks_gives_each_sender_its_own_receivers() {
    // 2 -> 4: each sender deals round robin over a slice of two receivers; slices are disjoint.
    for config in configs(4) {
        let n = 1000;
        let parts = run_parts("rescale-up", 4, |dir| rescale::run(&config, n, 2, dir));
        assert_eq!(all_sorted(&parts), (0..n).collect::<Vec<_>>());
        let mut receivers_of: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
        for (k, part) in parts.iter().enumerate() {
            let senders: BTreeSet<u64> = part.iter().map(|&x| producer(x, n, 2)).collect();
            assert_eq!(
                senders.len(),
                1,
                "receiver {k} got records from {senders:?}"
            );
            receivers_of
                .entry(*senders.first().unwrap())
                .or_default()
                .insert(k);
        }
        assert_eq!(receivers_of.len(), 2);
        for (s, receivers) in &receivers_of {
            assert_eq!(receivers.len(), 2, "sender {s} used {receivers:?}");
            let sizes: Vec<usize> = receivers.iter().map(|&k| parts[k].len()).collect();
            assert!(
                sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
                "{sizes:?}"
            );
        }
        assert_per_sender_order(&parts, n, 2, "rescale 2 -> 4");
    }
}

#[test]
fn rescale_to_fewer_subtasks_merges_neighbouring_senders() {
    // 4 -> 2: each sender sends everything to one receiver; each receiver serves two senders.
    for config in configs(2) {
        let n = 1000;
        let parts = run_parts("rescale-down", 2, |dir| rescale::run(&config, n, 4, dir));
        assert_eq!(all_sorted(&parts), (0..n).collect::<Vec<_>>());
        let mut receiver_of: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
        for (k, part) in parts.iter().enumerate() {
            for &x in part {
                receiver_of.entry(producer(x, n, 4)).or_default().insert(k);
            }
        }
        assert!(
            receiver_of.values().all(|r| r.len() == 1),
            "{receiver_of:?}"
        );
        for k in 0..2 {
            let senders = receiver_of.values().filter(|r| r.contains(&k)).count();
            assert_eq!(senders, 2, "receiver {k}");
        }
        assert_per_sender_order(&parts, n, 4, "rescale 4 -> 2");
    }
}

#[test]
fn rescale_with_uneven_ratios_reaches_every_receiver_once_per_record() {
    for (senders, p) in [(2usize, 3usize), (3, 2), (3, 4)] {
        for config in configs(p) {
            let n = 600;
            let parts = run_parts("rescale-uneven", p, |dir| {
                rescale::run(&config, n, senders, dir)
            });
            assert_eq!(
                all_sorted(&parts),
                (0..n).collect::<Vec<_>>(),
                "{senders} -> {p}"
            );
            assert!(
                parts.iter().all(|part| !part.is_empty()),
                "{senders} -> {p}: an idle receiver"
            );
            assert_per_sender_order(&parts, n, senders as u64, "rescale");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// shuffle, global, custom
// ---------------------------------------------------------------------------------------------

#[test]
fn shuffle_delivers_every_record_once_spread_over_all_subtasks() {
    for senders in [1usize, 2] {
        for config in configs(4) {
            let n = 4000;
            let parts = run_parts("shuffle", 4, |dir| shuffle::run(&config, n, senders, dir));
            assert_eq!(all_sorted(&parts), (0..n).collect::<Vec<_>>());
            for (k, part) in parts.iter().enumerate() {
                // Uniform: about 1000 each.
                assert!(
                    part.len() > 700 && part.len() < 1300,
                    "subtask {k} got {}",
                    part.len()
                );
            }
            // Not round robin in disguise: some sender sends consecutive records to one subtask.
            let mut part_of = BTreeMap::new();
            for (k, part) in parts.iter().enumerate() {
                for &x in part {
                    part_of.insert(x, k);
                }
            }
            assert!((1..n).any(|x| part_of[&x] == part_of[&(x - 1)]));
            assert_per_sender_order(&parts, n, senders as u64, "shuffle");
        }
    }
}

#[test]
fn global_sends_everything_to_subtask_zero() {
    for senders in [1usize, 3] {
        for config in configs(3) {
            let parts = run_parts("global", 3, |dir| global::run(&config, 500, senders, dir));
            assert_eq!(all_sorted(&parts[0..1]), (0..500).collect::<Vec<_>>());
            assert!(parts[1].is_empty() && parts[2].is_empty());
            if senders == 1 {
                assert_eq!(parts[0], (0..500).collect::<Vec<_>>());
            }
            assert_per_sender_order(&parts, 500, senders as u64, "global");
        }
    }
}

#[test]
fn partition_custom_puts_each_record_where_the_function_says() {
    for p in [2, 3, 4] {
        for config in configs(p) {
            let parts = run_parts("custom", p, |dir| custom::run(&config, 300, dir));
            assert_eq!(all_sorted(&parts), (0..300).collect::<Vec<_>>());
            for (k, part) in parts.iter().enumerate() {
                for &x in part {
                    assert_eq!((x as usize * 7) % p, k, "record {x} at parallelism {p}");
                }
            }
            assert_per_sender_order(&parts, 300, 2, "partition_custom");
        }
    }
}

#[test]
fn partition_custom_receives_the_number_of_subtasks() {
    for p in [2, 3, 4] {
        for config in configs(p) {
            let parts = run_parts("custom-n", p, |dir| {
                custom_sees_receiver_count::run(&config, 100, dir)
            });
            let evens: Vec<u64> = (0..100).filter(|x| x % 2 == 0).collect();
            let odds: Vec<u64> = (0..100).filter(|x| x % 2 == 1).collect();
            assert_eq!(all_sorted(&parts[0..1]), evens, "parallelism {p}");
            assert_eq!(all_sorted(&parts[p - 1..]), odds, "parallelism {p}");
            assert!(parts[1..p - 1].iter().all(Vec::is_empty));
        }
    }
}

#[test]
fn partition_custom_before_an_operator_routes_to_the_chosen_subtask() {
    for config in configs(3) {
        let parts = run_parts("custom-map", 3, |dir| {
            custom_then_map::run(&config, 90, dir)
        });
        assert_eq!(
            all_sorted(&parts),
            (0..90).map(|x| x * 2).collect::<Vec<_>>()
        );
        for (k, part) in parts.iter().enumerate() {
            for &y in part {
                assert_eq!((y as usize / 2 / 10) % 3, k, "record {}", y / 2);
            }
        }
    }
}
