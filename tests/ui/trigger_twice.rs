use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .key_by(|x| *x % 2)
            .window(GlobalWindows::create())
            .trigger(CountTrigger::of(2))
            .trigger(CountTrigger::of(3))
            .sum()
            .print();
    }
}

fn main() {}
