use dataflow::prelude::*;

dataflow! {
    job j() {
        let labels = generate(10, |i| (i, i));
        let changed = generate(10, |i| (i, i));
        labels
            .iterate_delta(changed, 10, |l| l.0, |solution, workset| {
                let better = workset
                    .left_outer_join(solution)
                    .where(|w| w.0)
                    .equal_to(|s| s.0)
                    .apply(|w, s| (w.0, w.1));
                (better, better)
            })
            .print();
    }
}

fn main() {}
