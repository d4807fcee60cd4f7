use dataflow::prelude::*;

dataflow! {
    job arity() {
        generate(10).print();
    }
}

fn main() {}
