use dataflow::prelude::*;

dataflow! {
    job unused() {
        let evens = generate(10, |i| i).filter(|x| x % 2 == 0);
        generate(3, |i| i).print();
    }
}

fn main() {}
