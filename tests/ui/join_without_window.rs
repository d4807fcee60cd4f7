use dataflow::prelude::*;

dataflow! {
    job j() {
        let a = socket_lines("localhost:9999").map(|l| (l.len(), l));
        let b = generate(10, |i| (i as usize, i));
        a.join(b)
            .where(|x| x.0)
            .equal_to(|y| y.0)
            .apply(|x, y| (x.1.clone(), y.1))
            .print();
    }
}

fn main() {}
