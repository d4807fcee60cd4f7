use dataflow::prelude::*;

dataflow! {
    job stamped() {
        generate(10, |i| i).map(|x| x * 2).ingestion_time().print();
    }
}

fn main() {}
