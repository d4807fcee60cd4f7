use dataflow::prelude::*;

dataflow! {
    job sums() {
        generate(10, |i| i)
            .key_by(|x| *x % 3)
            .process(|_key, total: &mut u64, x, ctx| {
                *total += x;
                ctx.output(*total);
            })
            .state_ttl_event_time(Duration::from_secs(1))
            .print();
    }
}

fn main() {}
