use dataflow::prelude::*;

dataflow! {
    job zero() {
        generate(10, |i| i).map(|x| x + 1).parallelism(0).print();
    }
}

fn main() {}
