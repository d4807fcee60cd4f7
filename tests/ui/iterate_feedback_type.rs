use dataflow::prelude::*;

dataflow! {
    job j() {
        generate(10, |i| i)
            .iterate(5, |s| s.map(|x| format!("{x}")))
            .print();
    }
}

fn main() {}
