use dataflow::prelude::*;

dataflow! {
    job merge() {
        let evens = generate(10, |i| i * 2);
        let odds = generate(10, |i| i * 2 + 1);
        evens.union(odds.map(|x| x * 10)).print();
    }
}

fn main() {}
