use dataflow::prelude::*;

dataflow! {
    job merge() {
        let evens = generate(10, |i| i * 2);
        evens.union(generate(10, |i| i * 2 + 1)).print();
    }
}

fn main() {}
