use dataflow::prelude::*;

#[derive(Clone)]
struct Doubler;

dataflow! {
    job doubled() {
        generate(10, |i| i).key_by(|x| *x % 3).process(Doubler).print();
    }
}

fn main() {}
