use dataflow::prelude::*;

dataflow! {
    job j() {
        generate(10, |i| (i % 2, i))
            .iterate(5, |s| {
                s.key_by(|x| x.0)
                    .window(TumblingProcessingTimeWindows::of(std::time::Duration::from_secs(1)))
                    .reduce(|a, b| (a.0, a.1 + b.1))
            })
            .print();
    }
}

fn main() {}
