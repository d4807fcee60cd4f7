use dataflow::prelude::*;

dataflow! {
    job lengths() {
        socket_lines("localhost:9999")
            .key_by(|line| line.len())
            .group_reduce(|len, lines| Some((*len, lines.len())))
            .print();
    }
}

fn main() {}
