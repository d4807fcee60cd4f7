use dataflow::prelude::*;

dataflow! {
    job unconnected() {
        generate(10, |i| i).co_map(|x| x, |y| y).print();
    }
}

fn main() {}
