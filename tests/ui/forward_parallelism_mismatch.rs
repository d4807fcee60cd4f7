use dataflow::prelude::*;

dataflow! {
    job forwarded() {
        generate(10, |i| i).parallelism(2).forward().map(|x| x + 1).parallelism(3).print();
    }
}

fn main() {}
