use dataflow::prelude::*;

dataflow! {
    job j() {
        let a = generate(10, |i| i);
        let b = generate(10, |i| i);
        a.cross(b).where(|x| *x).apply(|x, y| x + y).print();
    }
}

fn main() {}
