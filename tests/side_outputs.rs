//! Side outputs of process functions.

use dataflow::prelude::*;

const ODD: OutputTag<String> = OutputTag::new("odd");
const BIG: OutputTag<u64> = OutputTag::new("big");

dataflow! {
    job split(n: u64, evens: Collected<u64>, odds: Collected<String>, bigs: Collected<u64>) {
        let main = generate(n, |i| i)
            .key_by(|x| *x % 3)
            .process(|_key, seen: &mut u64, x, ctx| {
                *seen += 1;
                if x % 2 == 0 {
                    ctx.output(x);
                } else {
                    ctx.side_output(&ODD, format!("odd {x}"));
                }
                if x >= 8 {
                    ctx.side_output(&BIG, x);
                }
            });
        main.collect(evens);
        let odd = main.side_output(ODD);
        odd.collect(odds);
        main.side_output(BIG).map(|x| x * 10).collect(bigs);
    }
}

#[test]
fn side_outputs_reach_their_tag_only() {
    for p in [1, 2] {
        let (evens, odds, bigs) = (Collected::new(), Collected::new(), Collected::new());
        split::run(
            &JobConfig::with_parallelism(p),
            10,
            evens.clone(),
            odds.clone(),
            bigs.clone(),
        )
        .unwrap();
        let mut e = evens.take();
        e.sort();
        assert_eq!(e, vec![0, 2, 4, 6, 8]);
        let mut o = odds.take();
        o.sort();
        assert_eq!(o, vec!["odd 1", "odd 3", "odd 5", "odd 7", "odd 9"]);
        let mut b = bigs.take();
        b.sort();
        assert_eq!(b, vec![80, 90]);
    }
}

dataflow! {
    job only_side(n: u64, out: Collected<u64>) {
        generate(n, |i| i)
            .process(|x, ctx| {
                ctx.output(x);
                if x % 4 == 0 {
                    ctx.side_output(&BIG, x);
                }
            })
            .side_output(BIG)
            .collect(out);
    }
}

#[test]
fn a_side_output_read_right_after_its_process_gets_only_its_records() {
    let out = Collected::new();
    let report = only_side::run(&JobConfig::with_parallelism(2), 10, out.clone()).unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(got, vec![0, 4, 8]);
    let side = report
        .operator("side_output")
        .expect("the side output is in the report");
    assert_eq!(side.records_out, 3);
}
