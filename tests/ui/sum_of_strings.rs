use dataflow::prelude::*;

dataflow! {
    job sums() {
        from_iter(vec!["a".to_string(), "b".to_string()]).key_by(|s| s.clone()).sum().print();
    }
}

fn main() {}
