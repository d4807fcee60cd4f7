use dataflow::prelude::*;

dataflow! {
    job j() {
        let edges = generate(10, |i| (i, (i + 1) % 10));
        generate(10, |i| (i, 1.0f64))
            .iterate(3, |edges| {
                edges
                    .join(edges)
                    .where(|r| r.0)
                    .equal_to(|e| e.0)
                    .apply(|r, e| (e.1, r.1))
            })
            .print();
    }
}

fn main() {}
