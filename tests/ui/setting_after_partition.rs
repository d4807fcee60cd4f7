use dataflow::prelude::*;

dataflow! {
    job settings() {
        generate(10, |i| i).key_by(|x| *x).parallelism(2).count().print();
    }
}

fn main() {}
