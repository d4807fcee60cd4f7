use dataflow::prelude::*;

dataflow! {
    job headless() {
        map(|x: u64| x + 1).print();
    }
}

fn main() {}
