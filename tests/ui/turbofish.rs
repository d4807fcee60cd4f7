use dataflow::prelude::*;

dataflow! {
    job generic() {
        generate(10, |i| i).map::<u64>(|x| x + 1).print();
    }
}

fn main() {}
