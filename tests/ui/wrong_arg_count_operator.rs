use dataflow::prelude::*;

dataflow! {
    job arity() {
        generate(10, |i| i).map().print();
    }
}

fn main() {}
