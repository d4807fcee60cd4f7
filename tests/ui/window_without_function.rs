use dataflow::prelude::*;

dataflow! {
    job j() {
        let windowed = generate(10, |i| (i % 3, i as i64))
            .assign_timestamps(|e| e.1, WatermarkStrategy::monotonous())
            .key_by(|e| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(1)));
        windowed.count().print();
    }
}

fn main() {}
