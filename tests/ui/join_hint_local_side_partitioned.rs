use dataflow::prelude::*;

dataflow! {
    job j() {
        let big = generate(100, |i| (i % 10, i)).broadcast();
        generate(10, |i| (i, i))
            .join(big)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastFirst)
            .apply(|a, b| (a.1, b.1))
            .print();
    }
}

fn main() {}
