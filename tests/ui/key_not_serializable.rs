use dataflow::prelude::*;

/// A key without `Serialize`/`Deserialize`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Account(u64);

dataflow! {
    job j() {
        generate(10, |i| (Account(i % 3), 1u64))
            .key_by(|e| e.0.clone())
            .reduce(|a, b| (a.0, a.1 + b.1))
            .print();
    }
}

fn main() {}
