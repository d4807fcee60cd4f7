use dataflow::prelude::*;

dataflow! {
    job j() {
        let result = generate(10, |i| i).iterate(5, |s| {
            let doubled = s.map(|x| x * 2);
            doubled.filter(|x| *x < 100)
        });
        result.print();
        doubled.print();
    }
}

fn main() {}
