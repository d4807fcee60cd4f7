use dataflow::prelude::*;

dataflow! {
    job inline_connect() {
        let a = generate(10, |i| i);
        a.connect(generate(10, |i| i)).co_map(|x| x, |y| y).print();
    }
}

fn main() {}
