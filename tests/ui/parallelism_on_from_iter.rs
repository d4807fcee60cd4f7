use dataflow::prelude::*;

dataflow! {
    job sequential() {
        from_iter(vec![1, 2, 3]).parallelism(4).print();
    }
}

fn main() {}
