use dataflow::prelude::*;

dataflow! {
    job typo() {
        let doubled = generate(10, |i| i).mapp(|x| x * 2);
        doubled.print();
    }
}

fn main() {}
