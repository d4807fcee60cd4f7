use dataflow::prelude::*;

dataflow! {
    job j() {
        let extra = generate(10, |i| i * 100);
        generate(10, |i| i)
            .iterate(5, |s| s.union(extra).map(|x| x + 1))
            .print();
    }
}

fn main() {}
