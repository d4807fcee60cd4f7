use dataflow::prelude::*;

dataflow! {
    job j() {
        let small = generate(10, |i| (i, i)).assign_timestamps(|x| x.0 as i64, WatermarkStrategy::monotonous());
        generate(100, |i| (i % 10, i))
            .assign_timestamps(|x| x.1 as i64, WatermarkStrategy::monotonous())
            .join(small)
            .where(|a| a.0)
            .equal_to(|b| b.0)
            .hint(JoinHint::BroadcastSecond)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .apply(|a, b| (a.1, b.1))
            .print();
    }
}

fn main() {}
