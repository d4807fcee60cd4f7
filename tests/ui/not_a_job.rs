use dataflow::prelude::*;

dataflow! {
    fn helper() {}
}

fn main() {}
