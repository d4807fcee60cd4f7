use dataflow::prelude::*;

#[derive(Clone)]
struct Pair;

impl CoProcessFunction<u64, u64> for Pair {
    type Out = u64;
    fn process_element1(&mut self, value: u64, ctx: &mut Context<'_, u64>) {
        ctx.output(value);
    }
    fn process_element2(&mut self, value: u64, ctx: &mut Context<'_, u64>) {
        ctx.output(value);
    }
}

dataflow! {
    job mixed_co() {
        let a = generate(10, |i| i);
        let b = generate(10, |i| i).rebalance();
        a.key_by(|x| *x).connect(b).co_process(Pair).print();
    }
}

fn main() {}
