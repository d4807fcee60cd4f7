use dataflow::prelude::*;

dataflow! {
    job typo() {
        generate(10, |i| i).mapp(|x| x + 1).print();
    }
}

fn main() {}
