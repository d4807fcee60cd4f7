use dataflow::prelude::*;

dataflow! {
    job sources() {
        let s = generate(10, |i| i);
        s.generate(5, |i| i).print();
    }
}

fn main() {}
