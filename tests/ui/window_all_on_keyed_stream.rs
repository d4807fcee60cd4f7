use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .assign_timestamps(|x| *x as i64, WatermarkStrategy::monotonous())
            .key_by(|x| *x % 2)
            .window_all(TumblingEventTimeWindows::of(Duration::from_secs(1)))
            .sum()
            .print();
    }
}

fn main() {}
