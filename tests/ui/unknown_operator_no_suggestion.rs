use dataflow::prelude::*;

dataflow! {
    job unknown() {
        generate(10, |i| i).frobnicate(|x| x + 1).print();
    }
}

fn main() {}
