use dataflow::prelude::*;

dataflow! {
    job undefined() {
        numbers.map(|x| x + 1).print();
    }
}

fn main() {}
