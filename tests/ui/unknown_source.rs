use dataflow::prelude::*;

dataflow! {
    job typo() {
        generat(10, |i| i).print();
    }
}

fn main() {}
