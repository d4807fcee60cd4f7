use dataflow::prelude::*;

dataflow! {
    job mixed() {
        let a = generate(10, |i| i);
        let b = generate(10, |i| i);
        a.key_by(|x| *x).union(b).process(|x, ctx| ctx.output(x)).print();
    }
}

fn main() {}
