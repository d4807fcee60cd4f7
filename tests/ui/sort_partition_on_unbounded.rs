use dataflow::prelude::*;

dataflow! {
    job sorted_lines() {
        let lines = socket_lines("localhost:9999");
        lines.map(|l| l.len()).sort_partition(|n| *n).print();
    }
}

fn main() {}
