use dataflow::prelude::*;

dataflow! {
    job twice() {
        generate(10, |i| i).key_by(|x| *x).rebalance().print();
    }
}

fn main() {}
