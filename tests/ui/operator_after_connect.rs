use dataflow::prelude::*;

dataflow! {
    job mapped_connection() {
        let a = generate(10, |i| i);
        let b = generate(10, |i| i);
        a.connect(b).map(|x| x).print();
    }
}

fn main() {}
