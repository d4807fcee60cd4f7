use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .key_by(|x| *x % 2)
            .count_window(5)
            .trigger(CountTrigger::of(2))
            .sum()
            .print();
    }
}

fn main() {}
