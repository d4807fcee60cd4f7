//! Nexmark queries against hand-written single-threaded implementations over the same
//! generated events (the physical reference: how close is the engine to the best code one
//! could write by hand?). 2M events; dataflow at parallelism 1 and 2 into a black hole.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::nexmark::*;
use dataflow::prelude::*;
use dataflow::runtime::nexmark::{self, Event};

const N: u64 = 2_000_000;

/// The bids of the first `n` events, made one by one.
fn each_bid(n: u64, mut f: impl FnMut(usize, usize, usize, i64)) {
    let mut make = nexmark::events(nexmark::config());
    for i in 0..n {
        if let Event::Bid(b) = make(i) {
            f(b.auction, b.bidder, b.price, b.date_time as i64);
        }
    }
}

fn q0_by_hand(n: u64) -> u64 {
    let mut make = nexmark::events(nexmark::config());
    (0..n)
        .map(|i| {
            let e = make(i);
            black_box((e.event_type() as u8, e.timestamp()));
        })
        .count() as u64
}

fn q2_by_hand(n: u64) -> u64 {
    let mut out = 0;
    each_bid(n, |auction, _, price, _| {
        if auction % 123 == 0 {
            black_box((auction, price));
            out += 1;
        }
    });
    out
}

fn q3_by_hand(n: u64) -> u64 {
    // Sellers seen so far (OR, ID, CA) and auctions of category 10 waiting for theirs.
    let mut sellers: HashMap<usize, (String, String)> = HashMap::new();
    let mut waiting: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut out = 0;
    let mut make = nexmark::events(nexmark::config());
    for i in 0..n {
        match make(i) {
            Event::Person(p) if ["or", "id", "ca"].contains(&p.state.as_str()) => {
                for auction in waiting.remove(&p.id).unwrap_or_default() {
                    black_box((&p.city, &p.state, auction));
                    out += 1;
                }
                sellers.insert(p.id, (p.city, p.state));
            }
            Event::Auction(a) if a.category == 10 => match sellers.get(&a.seller) {
                Some(s) => {
                    black_box((s, a.id));
                    out += 1;
                }
                None => waiting.entry(a.seller).or_default().push(a.id),
            },
            _ => {}
        }
    }
    out
}

fn q8_by_hand(n: u64) -> u64 {
    // Per 10 s window: its new persons and the sellers of its auctions.
    let mut persons: HashMap<(i64, usize), ()> = HashMap::new();
    let mut auctions: Vec<(i64, usize, usize)> = Vec::new();
    let mut make = nexmark::events(nexmark::config());
    for i in 0..n {
        match make(i) {
            Event::Person(p) => {
                let t = p.date_time as i64;
                persons.insert((t - t.rem_euclid(10_000), p.id), ());
            }
            Event::Auction(a) => {
                let t = a.date_time as i64;
                auctions.push((t - t.rem_euclid(10_000), a.seller, a.id));
            }
            _ => {}
        }
    }
    let mut out = 0;
    for (window, seller, auction) in auctions {
        if persons.contains_key(&(window, seller)) {
            black_box((seller, auction, window));
            out += 1;
        }
    }
    out
}

/// Winning bids of the first `n` events, as `(category, seller, expires, price)` in expiry
/// order: each auction's highest bid between its opening and its expiry, emitted once event
/// time passes the expiry (the generator's event time only grows).
fn winning_bids_by_hand(n: u64, mut f: impl FnMut(usize, usize, i64, usize)) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Open auctions: (category, seller, opened, expires, best price); bids before their auction.
    let mut open: HashMap<usize, (usize, usize, i64, i64, Option<usize>)> = HashMap::new();
    let mut early: HashMap<usize, Vec<(usize, i64)>> = HashMap::new();
    let mut expiring: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    let mut close = |open: &mut HashMap<_, _>, id| {
        if let Some((category, seller, _, expires, Some(price))) = open.remove(&id) {
            f(category, seller, expires, price);
        }
    };
    let mut make = nexmark::events(nexmark::config());
    for i in 0..n {
        let event = make(i);
        let now = event.timestamp() as i64;
        while let Some(&Reverse((expires, id))) = expiring.peek() {
            if expires >= now {
                break;
            }
            expiring.pop();
            close(&mut open, id);
        }
        match event {
            Event::Auction(a) => {
                let (opened, expires) = (a.date_time as i64, a.expires as i64);
                let best = early
                    .remove(&a.id)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(_, at)| (opened..=expires).contains(at))
                    .map(|(price, _)| price)
                    .max();
                open.insert(a.id, (a.category, a.seller, opened, expires, best));
                expiring.push(Reverse((expires, a.id)));
            }
            Event::Bid(b) => {
                let at = b.date_time as i64;
                match open.get_mut(&b.auction) {
                    Some(a) if (a.2..=a.3).contains(&at) => a.4 = a.4.max(Some(b.price)),
                    Some(_) => {}
                    None => early.entry(b.auction).or_default().push((b.price, at)),
                }
            }
            Event::Person(_) => {}
        }
    }
    while let Some(Reverse((_, id))) = expiring.pop() {
        close(&mut open, id);
    }
}

fn q4_by_hand(n: u64) -> u64 {
    let mut averages: HashMap<usize, (usize, u64)> = HashMap::new();
    let mut out = 0;
    winning_bids_by_hand(n, |category, _, _, price| {
        let a = averages.entry(category).or_default();
        *a = (a.0 + price, a.1 + 1);
        black_box((category, *a));
        out += 1;
    });
    out
}

fn q6_by_hand(n: u64) -> u64 {
    // Per seller: the final prices of its last 10 closed auctions, oldest first.
    let mut last: HashMap<usize, std::collections::VecDeque<usize>> = HashMap::new();
    let mut out = 0;
    winning_bids_by_hand(n, |_, seller, _, price| {
        let prices = last.entry(seller).or_default();
        if prices.len() == 10 {
            prices.pop_front();
        }
        prices.push_back(price);
        black_box((seller, prices.iter().sum::<usize>(), prices.len()));
        out += 1;
    });
    out
}

fn q12_by_hand(n: u64) -> u64 {
    // Bids per bidder in 10 s windows of the wall clock, read every 1024 bids.
    let window = |now: std::time::SystemTime| {
        now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 10
    };
    let mut current = window(std::time::SystemTime::now());
    let mut counts: HashMap<usize, u64> = HashMap::new();
    let mut out = 0;
    let mut bids = 0u64;
    let mut emit = |counts: &mut HashMap<usize, u64>| {
        for record in counts.drain() {
            black_box(record);
            out += 1;
        }
    };
    each_bid(n, |_, bidder, _, _| {
        bids += 1;
        if bids % 1024 == 0 {
            let now = window(std::time::SystemTime::now());
            if now != current {
                emit(&mut counts);
                current = now;
            }
        }
        *counts.entry(bidder).or_default() += 1;
    });
    emit(&mut counts);
    out
}

fn q1_by_hand(n: u64) -> u64 {
    let mut out = 0;
    each_bid(n, |auction, bidder, price, t| {
        black_box((auction, bidder, price * 908 / 1000, t));
        out += 1;
    });
    out
}

fn q5_by_hand(n: u64) -> u64 {
    let mut counts: HashMap<(i64, usize), u64> = HashMap::new();
    each_bid(n, |auction, _, _, t| {
        let first_end = t - t.rem_euclid(2000) + 2000;
        for k in 0..5 {
            *counts.entry((first_end + k * 2000, auction)).or_default() += 1;
        }
    });
    let mut most: HashMap<i64, u64> = HashMap::new();
    for (&(end, _), &c) in &counts {
        let m = most.entry(end).or_default();
        *m = (*m).max(c);
    }
    let mut hottest = 0;
    for record in counts.iter().filter(|((end, _), c)| most[end] == **c) {
        black_box(record);
        hottest += 1;
    }
    hottest
}

fn q7_by_hand(n: u64) -> u64 {
    // Per window end: the highest price and its bids.
    let mut windows: HashMap<i64, (usize, Vec<(usize, usize)>)> = HashMap::new();
    each_bid(n, |auction, bidder, price, t| {
        let end = t - t.rem_euclid(10_000) + 10_000;
        let w = windows.entry(end).or_insert((0, Vec::new()));
        if price > w.0 {
            *w = (price, vec![(auction, bidder)]);
        } else if price == w.0 {
            w.1.push((auction, bidder));
        }
    });
    windows.values().map(|w| black_box(w).1.len() as u64).sum()
}

fn q11_by_hand(n: u64) -> u64 {
    // Per bidder: the open session's start, last bid and count; a gap closes it.
    let mut open: HashMap<usize, (i64, i64, u64)> = HashMap::new();
    let mut sessions = 0;
    each_bid(n, |_, bidder, _, t| match open.get_mut(&bidder) {
        Some(s) if t <= s.1 + 10_000 => {
            s.1 = t;
            s.2 += 1;
        }
        Some(s) => {
            black_box((bidder, s.0, s.1 + 10_000, s.2));
            sessions += 1;
            *s = (t, t, 1);
        }
        None => {
            open.insert(bidder, (t, t, 1));
        }
    });
    sessions + open.values().map(|s| black_box(s).2.min(1)).sum::<u64>()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("nexmark_2m_events");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N));
    let streaming = |p| JobConfig {
        mode: ExecutionMode::Streaming,
        ..JobConfig::with_parallelism(p)
    };
    macro_rules! query {
        ($name:literal, $job:ident, $by_hand:ident) => {
            group.bench_function(concat!($name, "_by_hand"), |b| {
                b.iter(|| $by_hand(black_box(N)))
            });
            for p in [1, 2] {
                group.bench_function(format!("{}_dataflow_p{p}", $name), |b| {
                    b.iter(|| {
                        let out = Collected::counting();
                        $job::run(&streaming(p), black_box(N), out.clone()).unwrap();
                        out.count()
                    })
                });
            }
        };
    }
    query!("q0", q0, q0_by_hand);
    query!("q1", q1, q1_by_hand);
    query!("q2", q2, q2_by_hand);
    query!("q3", q3, q3_by_hand);
    query!("q4", q4, q4_by_hand);
    query!("q5", q5, q5_by_hand);
    query!("q6", q6, q6_by_hand);
    query!("q7", q7, q7_by_hand);
    query!("q8", q8, q8_by_hand);
    query!("q11", q11, q11_by_hand);
    query!("q12", q12, q12_by_hand);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
