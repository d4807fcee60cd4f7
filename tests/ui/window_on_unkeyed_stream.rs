use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .assign_timestamps(|x| *x as i64, WatermarkStrategy::monotonous())
            .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
            .reduce(|a, b| a + b)
            .print();
    }
}

fn main() {}
