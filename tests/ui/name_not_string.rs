use dataflow::prelude::*;

dataflow! {
    job named() {
        generate(10, |i| i).map(|x| x + 1).name(parse).print();
    }
}

fn main() {}
