//! The Nexmark queries of `dataflow::nexmark` on generated events, each against a
//! plain-Rust reference over the same events, at parallelism 1 and 2, streaming and batch.

use dataflow::nexmark::*;
use dataflow::prelude::*;
use dataflow::runtime::nexmark::{self, Event};

const N: u64 = 20_000;

/// The first `N` events, made sequentially.
fn reference_events() -> Vec<Event> {
    let mut make = nexmark::events(nexmark::config());
    (0..N).map(&mut make).collect()
}

fn configs() -> Vec<JobConfig> {
    let mut configs = Vec::new();
    for p in [1, 2] {
        for mode in [ExecutionMode::Streaming, ExecutionMode::Batch] {
            configs.push(JobConfig {
                mode,
                ..JobConfig::with_parallelism(p)
            });
        }
    }
    configs
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn q0_passes_every_event_through() {
    let expected = sorted(
        reference_events()
            .iter()
            .map(|e| (e.event_type() as u8, e.timestamp()))
            .collect(),
    );
    for config in configs() {
        let out = Collected::new();
        q0::run(&config, N, out.clone()).unwrap();
        assert_eq!(sorted(out.take()), expected, "{config:?}");
    }
}

#[test]
fn q1_converts_every_bid_price() {
    let expected = sorted(
        reference_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some((b.auction, b.bidder, b.price * 908 / 1000, b.date_time)),
                _ => None,
            })
            .collect(),
    );
    assert_eq!(expected.len() as u64, N / 50 * 46);
    for config in configs() {
        let out = Collected::new();
        q1::run(&config, N, out.clone()).unwrap();
        assert_eq!(sorted(out.take()), expected, "{config:?}");
    }
}

#[test]
fn q2_selects_the_bids_of_some_auctions() {
    let expected = sorted(
        reference_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) if b.auction % 123 == 0 => Some((b.auction, b.price)),
                _ => None,
            })
            .collect(),
    );
    assert!(!expected.is_empty());
    for config in configs() {
        let out = Collected::new();
        q2::run(&config, N, out.clone()).unwrap();
        assert_eq!(sorted(out.take()), expected, "{config:?}");
    }
}

const WINDOWED_N: u64 = 200_000;

fn windowed_reference_events() -> Vec<Event> {
    let mut make = nexmark::events(nexmark::config());
    (0..WINDOWED_N).map(&mut make).collect()
}

#[test]
fn q5_finds_the_hottest_auctions_of_each_sliding_window() {
    let mut counts: std::collections::BTreeMap<(i64, usize), u64> = Default::default();
    for (auction, _, _, ts) in windowed_reference_events().into_iter().filter_map(bid_of) {
        // The 10 s windows every 2 s that hold `ts` end at the next five 2 s boundaries.
        let first_end = ts - ts.rem_euclid(2000) + 2000;
        for k in 0..5 {
            *counts.entry((first_end + k * 2000, auction)).or_default() += 1;
        }
    }
    let mut most: std::collections::BTreeMap<i64, u64> = Default::default();
    for (&(end, _), &n) in &counts {
        let m = most.entry(end).or_default();
        *m = (*m).max(n);
    }
    let expected = sorted(
        counts
            .iter()
            .filter(|((end, _), n)| most[end] == **n)
            .map(|(&(end, auction), &n)| (end, auction, n))
            .collect(),
    );
    assert!(expected.len() > 10);
    for config in configs() {
        let out = Collected::new();
        q5::run(&config, WINDOWED_N, out.clone()).unwrap();
        assert_eq!(sorted(out.take()), expected, "{config:?}");
    }
}

#[test]
fn q7_finds_the_highest_bids_of_each_window() {
    let bids: Vec<_> = windowed_reference_events()
        .into_iter()
        .filter_map(bid_of)
        .collect();
    let mut highest: std::collections::BTreeMap<i64, usize> = Default::default();
    for &(_, _, price, ts) in &bids {
        let end = ts - ts.rem_euclid(10_000) + 10_000;
        let h = highest.entry(end).or_default();
        *h = (*h).max(price);
    }
    let expected = sorted(
        bids.iter()
            .filter_map(|&(auction, bidder, price, ts)| {
                let end = ts - ts.rem_euclid(10_000) + 10_000;
                (highest[&end] == price).then_some((end, auction, bidder, price))
            })
            .collect(),
    );
    for config in configs() {
        let out = Collected::new();
        q7::run(&config, WINDOWED_N, out.clone()).unwrap();
        assert_eq!(sorted(out.take()), expected, "{config:?}");
    }
}

#[test]
fn q8_pairs_new_persons_with_the_auctions_they_opened_in_the_same_window() {
    let events = windowed_reference_events();
    let window = |ts: i64| ts - ts.rem_euclid(10_000);
    let persons: Vec<(usize, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Person(p) => Some((p.id, p.date_time as i64)),
            _ => None,
        })
        .collect();
    let auctions: Vec<(usize, usize, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some((a.id, a.seller, a.date_time as i64)),
            _ => None,
        })
        .collect();
    let mut expected = Vec::new();
    for &(person, pt) in &persons {
        for &(auction, seller, at) in &auctions {
            if person == seller && window(pt) == window(at) {
                expected.push((person, auction, window(pt)));
            }
        }
    }
    let expected = sorted(expected);
    assert!(!expected.is_empty());
    for config in configs() {
        let out = Collected::new();
        q8::run(&config, WINDOWED_N, out.clone()).unwrap();
        assert_eq!(sorted(out.take()), expected, "{config:?}");
    }
}

#[test]
fn q3_suggests_the_local_items_of_category_10() {
    let events = windowed_reference_events();
    let mut sellers: std::collections::HashMap<usize, (String, String)> = Default::default();
    for e in &events {
        if let Event::Person(p) = e {
            if ["or", "id", "ca"].contains(&p.state.as_str()) {
                sellers.insert(p.id, (p.city.clone(), p.state.clone()));
            }
        }
    }
    let expected = sorted(
        events
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) if a.category == 10 => sellers
                    .get(&a.seller)
                    .map(|(city, state)| (city.clone(), state.clone(), a.id)),
                _ => None,
            })
            .collect(),
    );
    assert!(!expected.is_empty());
    for config in configs() {
        let out = Collected::new();
        q3::run(&config, WINDOWED_N, out.clone()).unwrap();
        assert_eq!(sorted(out.take()), expected, "{config:?}");
    }
}

#[test]
fn q11_counts_each_bidders_bids_per_session() {
    let mut times: std::collections::BTreeMap<usize, Vec<i64>> = Default::default();
    for (_, bidder, _, ts) in windowed_reference_events().into_iter().filter_map(bid_of) {
        times.entry(bidder).or_default().push(ts);
    }
    let gap = 10_000;
    let mut expected = Vec::new();
    for (bidder, mut ts) in times {
        ts.sort_unstable();
        let (mut start, mut last, mut count) = (ts[0], ts[0], 0u64);
        for t in ts {
            // Windows [t, t + gap) merge when they overlap or touch.
            if t > last + gap {
                expected.push((bidder, start, last + gap, count));
                (start, count) = (t, 0);
            }
            last = t;
            count += 1;
        }
        expected.push((bidder, start, last + gap, count));
    }
    let expected = sorted(expected);
    for config in configs() {
        let out = Collected::new();
        q11::run(&config, WINDOWED_N, out.clone()).unwrap();
        assert_eq!(sorted(out.take()), expected, "{config:?}");
    }
}

#[test]
fn q4_averages_the_closing_prices_per_category() {
    let events = windowed_reference_events();
    let mut best: std::collections::HashMap<usize, usize> = Default::default();
    let auctions: Vec<(usize, usize, i64, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some((a.id, a.category, a.date_time as i64, a.expires as i64)),
            _ => None,
        })
        .collect();
    let opened: std::collections::HashMap<usize, (i64, i64)> =
        auctions.iter().map(|&(id, _, o, x)| (id, (o, x))).collect();
    for (auction, _, price, at) in events.iter().cloned().filter_map(bid_of) {
        if let Some(&(o, x)) = opened.get(&auction) {
            if (o..=x).contains(&at) {
                let b = best.entry(auction).or_default();
                *b = (*b).max(price);
            }
        }
    }
    let mut expected: std::collections::BTreeMap<usize, (usize, u64)> = Default::default();
    for (id, category, _, _) in auctions {
        if let Some(&price) = best.get(&id) {
            let e = expected.entry(category).or_default();
            e.0 += price;
            e.1 += 1;
        }
    }
    assert!(!expected.is_empty());
    for config in configs() {
        let out = Collected::new();
        q4::run(&config, WINDOWED_N, out.clone()).unwrap();
        // The last update per category is its final sum and count.
        let mut last: std::collections::BTreeMap<usize, (usize, u64)> = Default::default();
        for (category, sum, count) in out.take() {
            last.insert(category, (sum, count));
        }
        assert_eq!(last, expected, "{config:?}");
    }
}

#[test]
fn q12_counts_every_bid_once_in_windows_of_the_clock() {
    let mut expected: std::collections::BTreeMap<usize, u64> = Default::default();
    for (_, bidder, _, _) in reference_events().into_iter().filter_map(bid_of) {
        *expected.entry(bidder).or_default() += 1;
    }
    for config in configs() {
        let out = Collected::new();
        q12::run(&config, N, out.clone()).unwrap();
        // The windows follow the wall clock, so how bids split between them varies; each bid
        // counts in exactly one.
        let mut totals: std::collections::BTreeMap<usize, u64> = Default::default();
        for (bidder, count) in out.take() {
            *totals.entry(bidder).or_default() += count;
        }
        assert_eq!(totals, expected, "{config:?}");
    }
}

#[test]
fn q6_averages_each_sellers_last_ten_closing_prices() {
    let events = windowed_reference_events();
    let auctions: Vec<(usize, usize, i64, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some((a.id, a.seller, a.date_time as i64, a.expires as i64)),
            _ => None,
        })
        .collect();
    let times: std::collections::HashMap<usize, (i64, i64)> =
        auctions.iter().map(|&(id, _, o, x)| (id, (o, x))).collect();
    let mut best: std::collections::HashMap<usize, usize> = Default::default();
    for (auction, _, price, at) in events.iter().cloned().filter_map(bid_of) {
        if let Some(&(o, x)) = times.get(&auction) {
            if (o..=x).contains(&at) {
                let b = best.entry(auction).or_default();
                *b = (*b).max(price);
            }
        }
    }
    let mut closed: std::collections::BTreeMap<usize, Vec<(i64, usize)>> = Default::default();
    for (id, seller, _, expires) in auctions {
        if let Some(&price) = best.get(&id) {
            closed.entry(seller).or_default().push((expires, price));
        }
    }
    let expected: std::collections::BTreeMap<usize, (usize, usize)> = closed
        .into_iter()
        .map(|(seller, mut prices)| {
            prices.sort_unstable_by(|a, b| b.cmp(a));
            prices.truncate(10);
            (seller, (prices.iter().map(|p| p.1).sum(), prices.len()))
        })
        .collect();
    assert!(!expected.is_empty());
    for config in configs() {
        let out = Collected::new();
        q6::run(&config, WINDOWED_N, out.clone()).unwrap();
        // The last update per seller covers all its closed auctions.
        let mut last: std::collections::BTreeMap<usize, (usize, usize)> = Default::default();
        for (seller, sum, count) in out.take() {
            last.insert(seller, (sum, count));
        }
        assert_eq!(last, expected, "{config:?}");
    }
}

/// The runner binary, as a user runs it (a debug build: correctness, not speed).
fn runner(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nexmark"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_runner_runs_the_suite_and_writes_its_table() {
    let table = std::env::temp_dir().join(format!("dataflow-nexmark-{}.md", std::process::id()));
    let output = runner(&[
        "--query",
        "all",
        "--events",
        "5000",
        "--parallelism",
        "2",
        "--output",
        table.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written = std::fs::read_to_string(&table).unwrap();
    std::fs::remove_file(&table).unwrap();
    assert_eq!(written, String::from_utf8_lossy(&output.stdout));
    let rows: Vec<Vec<&str>> = written
        .lines()
        .skip(2)
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    let queries: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(
        queries,
        ["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q11", "q12"]
    );
    // The result column counts what reached the black hole: q0 passes every event, q1 every bid.
    let events: Vec<Event> = {
        let mut make = nexmark::events(nexmark::config());
        (0..5000).map(&mut make).collect()
    };
    let bids = events.iter().filter(|e| matches!(e, Event::Bid(_))).count();
    assert_eq!(rows[0][9], "5000");
    assert_eq!(rows[1][9], bids.to_string());
    for row in &rows {
        assert_eq!(row[2], "5000");
        assert_eq!(row[3], "2");
        assert!(row[6].ends_with(" M"), "events/s in {row:?}");
    }
}

#[test]
fn the_runner_names_an_unknown_query() {
    let output = runner(&["--query", "q99", "--events", "10"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown query `q99`"), "{stderr}");
}
