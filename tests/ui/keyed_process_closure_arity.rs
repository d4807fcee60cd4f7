use dataflow::prelude::*;

dataflow! {
    job sums() {
        generate(10, |i| i)
            .key_by(|x| *x % 3)
            .process(|x, ctx| ctx.output(x))
            .print();
    }
}

fn main() {}
