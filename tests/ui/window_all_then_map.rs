use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .assign_timestamps(|x| *x as i64, WatermarkStrategy::monotonous())
            .window_all(TumblingEventTimeWindows::of(Duration::from_secs(1)))
            .map(|x| x)
            .print();
    }
}

fn main() {}
