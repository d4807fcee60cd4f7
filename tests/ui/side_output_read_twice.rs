use dataflow::prelude::*;

const T: OutputTag<u64> = OutputTag::new("t");

dataflow! {
    job side_twice() {
        let m = generate(10, |i| i).process(|x, ctx| {
            ctx.output(x);
            ctx.side_output(&T, x);
        });
        m.print();
        m.side_output(T).print();
        m.side_output(T).print();
    }
}

fn main() {}
