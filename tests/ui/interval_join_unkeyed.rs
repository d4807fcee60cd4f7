use dataflow::prelude::*;

dataflow! {
    job j() {
        let a = generate(10, |i| (i % 3, i as i64))
            .assign_timestamps(|e| e.1, WatermarkStrategy::monotonous());
        let b = generate(10, |i| (i % 3, i as i64))
            .assign_timestamps(|e| e.1, WatermarkStrategy::monotonous());
        a.key_by(|x| x.0)
            .interval_join(b)
            .between(-5, 5)
            .process(|x, y| (x.1, y.1))
            .print();
    }
}

fn main() {}
