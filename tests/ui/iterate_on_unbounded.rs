use dataflow::prelude::*;

dataflow! {
    job j() {
        socket_lines("localhost:9999")
            .map(|l| l.len())
            .iterate(5, |s| s.map(|x| x / 2))
            .print();
    }
}

fn main() {}
