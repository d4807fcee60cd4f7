use dataflow::prelude::*;

dataflow! {
    /// Smoke.
    pub job squares(n: u64, out: Collected<u64>) {
        generate(n, |i| i).map(|x| x * x).filter(|x| x % 2 == 0).collect(out);
    }

    job counts(out: Collected<(String, u64)>) {
        let words = from_iter(vec!["a b", "b c", "c c"]).flat_map(|l: &str| l.split(' ').map(str::to_string).collect::<Vec<_>>());
        words.key_by(|w| w.clone()).count().collect(out);
    }
}

#[test]
fn smoke() {
    let out = Collected::new();
    squares::run(&JobConfig::with_parallelism(2), 10, out.clone()).unwrap();
    assert_eq!(out.take_sorted(), vec![0, 4, 16, 36, 64]);
    let out = Collected::new();
    counts::run(&JobConfig::with_parallelism(2), out.clone()).unwrap();
    assert_eq!(
        out.take_sorted(),
        vec![
            ("a".to_string(), 1),
            ("b".to_string(), 2),
            ("c".to_string(), 3)
        ]
    );
}
