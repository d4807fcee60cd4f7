use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .assign_timestamps(|x| *x as i64, WatermarkStrategy::monotonous())
            .key_by(|x| *x % 2)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
            .sum()
            .allowed_lateness(Duration::from_secs(5))
            .print();
    }
}

fn main() {}
