use dataflow::prelude::*;

dataflow! {
    job nothing() {}
}

fn main() {}
