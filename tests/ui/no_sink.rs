use dataflow::prelude::*;

dataflow! {
    job lost() {
        generate(10, |i| i).map(|x| x + 1);
    }
}

fn main() {}
