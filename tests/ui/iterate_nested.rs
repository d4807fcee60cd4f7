use dataflow::prelude::*;

dataflow! {
    job j() {
        generate(10, |i| i)
            .iterate(5, |s| s.iterate(2, |t| t.map(|x| x + 1)))
            .print();
    }
}

fn main() {}
