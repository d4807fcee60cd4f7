use dataflow::prelude::*;

dataflow! {
    job doubled() {
        generate(10, |i| i).map(|x| x * 2).state_ttl(Duration::from_secs(1)).print();
    }
}

fn main() {}
