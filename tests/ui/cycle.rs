use dataflow::prelude::*;

dataflow! {
    job cyclic() {
        let a = b.map(|x: u64| x + 1);
        let b = a.map(|x: u64| x * 2);
        a.print();
    }
}

fn main() {}
