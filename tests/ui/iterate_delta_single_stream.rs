use dataflow::prelude::*;

dataflow! {
    job j() {
        let labels = generate(10, |i| (i, i));
        let changed = generate(10, |i| (i, i));
        labels
            .iterate_delta(changed, 10, |l| l.0, |solution, workset| {
                workset.join(solution).where(|w| w.0).apply(|w, s| (w.0, s.1.min(w.1)))
            })
            .print();
    }
}

fn main() {}
