use dataflow::prelude::*;

dataflow! {
    job merge() {
        let numbers = generate(10, |i| i);
        let words = from_iter(vec!["a", "b"]);
        numbers.union(words).print();
    }
}

fn main() {}
