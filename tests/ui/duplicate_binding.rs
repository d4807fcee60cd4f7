use dataflow::prelude::*;

dataflow! {
    job twice() {
        let numbers = generate(10, |i| i);
        let numbers = generate(5, |i| i * 2);
        numbers.print();
    }
}

fn main() {}
