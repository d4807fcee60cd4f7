use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .key_by(|x| *x % 2)
            .window(GlobalWindows::create())
            .sum()
            .print();
    }
}

fn main() {}
