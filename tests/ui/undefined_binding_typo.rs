use dataflow::prelude::*;

dataflow! {
    job typo() {
        let numbers = generate(10, |i| i);
        numbrs.map(|x| x + 1).print();
    }
}

fn main() {}
