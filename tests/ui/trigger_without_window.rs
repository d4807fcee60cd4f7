use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .key_by(|x| *x % 2)
            .trigger(CountTrigger::of(2))
            .sum()
            .print();
    }
}

fn main() {}
