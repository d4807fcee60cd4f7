use dataflow::prelude::*;

dataflow! {
    job evens() {
        generate(10, |i| i).filter(|x: u64| x % 2 == 0).print();
    }
}

fn main() {}
