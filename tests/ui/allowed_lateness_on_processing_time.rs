use dataflow::prelude::*;

dataflow! {
    job j() {
        generate(10, |i| (i % 3, i))
            .key_by(|e| e.0)
            .window(TumblingProcessingTimeWindows::of(Duration::from_secs(1)))
            .allowed_lateness(Duration::from_secs(5))
            .count()
            .print();
    }
}

fn main() {}
