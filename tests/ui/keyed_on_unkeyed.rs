use dataflow::prelude::*;

dataflow! {
    job counts() {
        generate(10, |i| i % 3).count().print();
    }
}

fn main() {}
