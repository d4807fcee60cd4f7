use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .key_by(|x| *x % 2)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
            .reduce(|a, b| a + b)
            .print();
    }
}

fn main() {}
