use dataflow::prelude::*;

dataflow! {
    job counted() {
        generate(10, |i| i).count_window(3).sum().print();
    }
}

fn main() {}
