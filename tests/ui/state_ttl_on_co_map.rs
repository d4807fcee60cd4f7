use dataflow::prelude::*;

dataflow! {
    job co_map_ttl() {
        let a = generate(10, |i| i);
        let b = generate(10, |i| i);
        a.connect(b).co_map(|x| x, |y| y).state_ttl(Duration::from_secs(1)).print();
    }
}

fn main() {}
