use dataflow::prelude::*;

dataflow! {
    job j() {
        let a = generate(10, |i| (i % 3, i as i64))
            .assign_timestamps(|e| e.1, WatermarkStrategy::monotonous());
        let b = generate(10, |i| (i % 3, i as i64))
            .assign_timestamps(|e| e.1, WatermarkStrategy::monotonous());
        a.join(b)
            .where(|x| x.0)
            .equal_to(|y| y.0)
            .apply(|x, y| (x.1, y.1))
            .print();
    }
}

fn main() {}
