use dataflow::prelude::*;

dataflow! {
    job stamped() {
        generate(10, |i| i)
            .assign_timestamps(|e| e.to_string(), WatermarkStrategy::monotonous())
            .print();
    }
}

fn main() {}
