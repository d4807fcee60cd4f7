use dataflow::prelude::*;

dataflow! {
    job sessions() {
        generate(10, |i| i)
            .key_by(|x| *x % 2)
            .window(EventTimeSessionWindows::with_gap(Duration::from_secs(1)))
            .count()
            .print();
    }
}

fn main() {}
