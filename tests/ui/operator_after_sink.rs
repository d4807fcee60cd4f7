use dataflow::prelude::*;

dataflow! {
    job after() {
        generate(10, |i| i).print().map(|x| x + 1);
    }
}

fn main() {}
