use dataflow::prelude::*;

dataflow! {
    job j() {
        let small = generate(10, |i| (i, i));
        generate(100, |i| (i % 20, i))
            .full_outer_join(small)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastSecond)
            .apply(|a, b| (a.map(|a| a.1), b.map(|b| b.1)))
            .print();
    }
}

fn main() {}
