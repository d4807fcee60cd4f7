use dataflow::prelude::*;

const T: OutputTag<u64> = OutputTag::new("t");

dataflow! {
    job side_of_map() {
        generate(10, |i| i).map(|x| x + 1).side_output(T).print();
    }
}

fn main() {}
