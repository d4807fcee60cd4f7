use dataflow::prelude::*;

dataflow! {
    job cyclic() {
        let a = b;
        let b = a;
        a.print();
    }
}

fn main() {}
