use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .assign_timestamps(|x| *x as i64, WatermarkStrategy::monotonous())
            .key_by(|x| *x % 2)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
            .process(|window, records| [(window.start, records.len() as u64)])
            .print();
    }
}

fn main() {}
