use dataflow::prelude::*;

dataflow! {
    job unique() {
        generate(10, |i| i % 3).distinct().print();
    }
}

fn main() {}
