use dataflow::prelude::*;

dataflow! {
    job bound() {
        let printed = generate(10, |i| i).print();
    }
}

fn main() {}
