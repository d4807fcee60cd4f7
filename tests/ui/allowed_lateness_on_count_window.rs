use dataflow::prelude::*;

dataflow! {
    job windows() {
        generate(10, |i| i)
            .key_by(|x| *x % 2)
            .count_window(5)
            .allowed_lateness(Duration::from_secs(1))
            .sum()
            .print();
    }
}

fn main() {}
