use dataflow::prelude::*;

dataflow! {
    job lengths() {
        generate(10, |i| i).map(|x: String| x.len()).print();
    }
}

fn main() {}
