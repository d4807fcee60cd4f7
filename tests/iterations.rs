//! Bulk iterations: supersteps, loop-invariant inputs through joins, termination by the
//! maximum, by an empty superstep and by an empty criterion, at parallelism 1 and 2.

use std::sync::atomic::{AtomicU64, Ordering};

use dataflow::prelude::*;

/// Supersteps times subtasks of `halve_until_empty`'s body.
static HALVINGS: AtomicU64 = AtomicU64::new(0);

fn configs() -> Vec<JobConfig> {
    [1, 2]
        .into_iter()
        .map(|p| JobConfig {
            mode: ExecutionMode::Batch,
            ..JobConfig::with_parallelism(p)
        })
        .collect()
}

dataflow! {
    job add_one_each_step(n: u64, steps: u64, out: Collected<u64>) {
        generate(n, |i| i).iterate(steps, |s| s.map(|x| x + 1)).collect(out);
    }
}

#[test]
fn each_superstep_feeds_the_next() {
    for config in configs() {
        for steps in [1, 5] {
            let out = Collected::new();
            add_one_each_step::run(&config, 100, steps, out.clone()).unwrap();
            let expected: Vec<u64> = (0..100).map(|i| i + steps).collect();
            assert_eq!(out.take_sorted(), expected, "{steps} steps, {config:?}");
        }
    }
}

dataflow! {
    /// Halves every value each superstep and drops zeros: ends when nothing is left. Each
    /// subtask counts its supersteps in `HALVINGS`.
    job halve_until_empty(values: Vec<u64>, out: Collected<u64>) {
        from_iter(values)
            .iterate(1000, |s| {
                s.map(|x| x / 2)
                    .filter(|x| *x > 0)
                    .map_partition(|records: Vec<u64>| {
                        HALVINGS.fetch_add(1, Ordering::SeqCst);
                        records
                    })
            })
            .collect(out);
    }

    /// Counts supersteps with a side counter: each superstep adds one to every record; the
    /// criterion (records still below 10) stops the loop once none is.
    job until_all_reach_ten(values: Vec<u64>, out: Collected<u64>) {
        from_iter(values)
            .iterate(1000, |s| {
                let next = s.map(|x| x + 1);
                let below = next.filter(|x| *x < 10);
                (next, below)
            })
            .collect(out);
    }
}

#[test]
fn an_empty_superstep_ends_the_iteration() {
    for config in configs() {
        HALVINGS.store(0, Ordering::SeqCst);
        let out = Collected::new();
        halve_until_empty::run(&config, vec![1, 100, 1000], out.clone()).unwrap();
        // The last superstep's output: empty, as the loop ran until nothing was left...
        assert_eq!(out.take_sorted(), Vec::<u64>::new(), "{config:?}");
        // ... which took 10 supersteps (1000 halved 10 times is 0), not the maximum.
        assert_eq!(
            HALVINGS.load(Ordering::SeqCst),
            10 * config.parallelism as u64,
            "{config:?}"
        );
    }
}

#[test]
fn an_empty_termination_criterion_ends_the_iteration() {
    for config in configs() {
        let out = Collected::new();
        until_all_reach_ten::run(&config, vec![0, 3, 7], out.clone()).unwrap();
        // Ten supersteps take 0 to 10; after the tenth nothing is below 10.
        assert_eq!(out.take_sorted(), vec![10, 13, 17], "{config:?}");
    }
}

dataflow! {
    /// Sums of neighbours' values over a fixed graph for a few supersteps: the edges are
    /// loop-invariant (joined from outside the body), the values change.
    job spread(values: Vec<(u64, f64)>, edges: Vec<(u64, u64)>, steps: u64, out: Collected<(u64, u64)>) {
        let graph = from_iter(edges);
        from_iter(values)
            .iterate(steps, |s| {
                s.join(graph)
                    .where(|v| v.0)
                    .equal_to(|e| e.0)
                    .apply(|v, e| (e.1, v.1))
                    .key_by(|v| v.0)
                    .reduce(|a, b| (a.0, a.1 + b.1))
            })
            .map(|v| (v.0, v.1 as u64))
            .collect(out);
    }

    /// The same with the loop-invariant edges broadcast to every subtask.
    job spread_broadcast_edges(values: Vec<(u64, f64)>, edges: Vec<(u64, u64)>, steps: u64, out: Collected<(u64, u64)>) {
        let graph = from_iter(edges);
        from_iter(values)
            .iterate(steps, |s| {
                s.join(graph)
                    .where(|v| v.0)
                    .equal_to(|e| e.0)
                    .hint(JoinHint::BroadcastSecond)
                    .apply(|v, e| (e.1, v.1))
                    .key_by(|v| v.0)
                    .reduce(|a, b| (a.0, a.1 + b.1))
            })
            .map(|v| (v.0, v.1 as u64))
            .collect(out);
    }

    /// The same with each superstep's values broadcast and the edges kept where they are.
    job spread_broadcast_values(values: Vec<(u64, f64)>, edges: Vec<(u64, u64)>, steps: u64, out: Collected<(u64, u64)>) {
        let graph = from_iter(edges);
        from_iter(values)
            .iterate(steps, |s| {
                s.join(graph)
                    .where(|v| v.0)
                    .equal_to(|e| e.0)
                    .hint(JoinHint::BroadcastFirst)
                    .apply(|v, e| (e.1, v.1))
                    .key_by(|v| v.0)
                    .reduce(|a, b| (a.0, a.1 + b.1))
            })
            .map(|v| (v.0, v.1 as u64))
            .collect(out);
    }
}

/// The same, by hand.
fn spread_reference(values: &[(u64, f64)], edges: &[(u64, u64)], steps: u64) -> Vec<(u64, u64)> {
    let mut current: std::collections::BTreeMap<u64, f64> = values.iter().copied().collect();
    for _ in 0..steps {
        let mut next = std::collections::BTreeMap::new();
        for (&v, &x) in &current {
            for e in edges.iter().filter(|e| e.0 == v) {
                *next.entry(e.1).or_insert(0.0) += x;
            }
        }
        current = next;
    }
    current.into_iter().map(|(v, x)| (v, x as u64)).collect()
}

#[test]
fn loop_invariant_edges_are_joined_in_every_superstep() {
    let edges: Vec<(u64, u64)> = (0..20)
        .flat_map(|v| [(v, (v + 1) % 20), (v, (v * 7) % 20)])
        .collect();
    let values: Vec<(u64, f64)> = (0..20).map(|v| (v, v as f64)).collect();
    for steps in [1, 3, 6] {
        let expected = spread_reference(&values, &edges, steps);
        for config in configs() {
            type Spread = fn(
                &JobConfig,
                Vec<(u64, f64)>,
                Vec<(u64, u64)>,
                u64,
                Collected<(u64, u64)>,
            ) -> dataflow::Result<JobReport>;
            let jobs: [(Spread, &str); 3] = [
                (spread::run, "repartitioned"),
                (spread_broadcast_edges::run, "edges broadcast"),
                (spread_broadcast_values::run, "values broadcast"),
            ];
            for (run, name) in jobs {
                let out = Collected::new();
                run(&config, values.clone(), edges.clone(), steps, out.clone()).unwrap();
                assert_eq!(
                    out.take_sorted(),
                    expected,
                    "{name}, {steps} steps, {config:?}"
                );
            }
        }
    }
}

#[test]
fn an_iteration_refuses_streaming_mode() {
    let config = JobConfig {
        mode: ExecutionMode::Streaming,
        ..JobConfig::with_parallelism(1)
    };
    let error = add_one_each_step::run(&config, 10, 2, Collected::new()).unwrap_err();
    assert!(error.to_string().contains("batch mode"), "{error}");
}
