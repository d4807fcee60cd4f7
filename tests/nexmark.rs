//! Nexmark queries q0-q2 (the stateless ones) on generated events, against plain-Rust
//! references over the same events, at parallelism 1 and 2, streaming and batch.

use dataflow::prelude::*;
use dataflow::runtime::nexmark::{self, Event};

dataflow! {
    /// q0: pass-through (each event's type and timestamp).
    job q0(n: u64, out: Collected<(u8, u64)>) {
        generate(n, nexmark::events(nexmark::config()))
            .map(|e| (e.event_type() as u8, e.timestamp()))
            .collect(out);
    }

    /// q1: bid prices converted from dollars to euros.
    job q1(n: u64, out: Collected<(usize, usize, usize, u64)>) {
        generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Bid(b) => Some((b.auction, b.bidder, b.price * 908 / 1000, b.date_time)),
                _ => None,
            })
            .collect(out);
    }

    /// q2: the bids of a few auctions (auction id divisible by 123).
    job q2(n: u64, out: Collected<(usize, usize)>) {
        generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Bid(b) if b.auction % 123 == 0 => Some((b.auction, b.price)),
                _ => None,
            })
            .collect(out);
    }
}

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

/// Bids as `(auction, bidder, price, timestamp)`.
fn bid_of(e: Event) -> Option<(usize, usize, usize, i64)> {
    match e {
        Event::Bid(b) => Some((b.auction, b.bidder, b.price, b.date_time as i64)),
        _ => None,
    }
}

dataflow! {
    /// q5: hot items: per sliding window of 10 s every 2 s, the auctions with the most bids.
    job q5(n: u64, out: Collected<(i64, usize, u64)>) {
        generate(n, nexmark::events(nexmark::config()))
            .flat_map(bid_of)
            .assign_timestamps(|b| b.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .map(|b| (b.0, 1u64))
            .key_by(|b| b.0)
            .window(SlidingEventTimeWindows::of(Duration::from_secs(10), Duration::from_secs(2)))
            .reduce(|a, b| (a.0, a.1 + b.1), |auction, window, total| std::iter::once((window.end, *auction, total.1)))
            .key_by(|r| r.0)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(2)))
            .process(|_end, _window, counts| {
                let most = counts.iter().map(|c| c.2).max().unwrap_or(0);
                counts.into_iter().filter(move |c| c.2 == most)
            })
            .collect(out);
    }

    /// q7: highest bid: per tumbling 10 s window, the bids at the highest price.
    job q7(n: u64, out: Collected<(i64, usize, usize, usize)>) {
        generate(n, nexmark::events(nexmark::config()))
            .flat_map(bid_of)
            .assign_timestamps(|b| b.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .window_all(TumblingEventTimeWindows::of(Duration::from_secs(10)))
            .process(|window, bids| {
                let highest = bids.iter().map(|b| b.2).max().unwrap_or(0);
                bids.into_iter()
                    .filter(move |b| b.2 == highest)
                    .map(move |b| (window.end, b.0, b.1, b.2))
            })
            .collect(out);
    }

    /// q8: new users: persons who opened an auction in the 10 s window they joined in.
    job q8(n: u64, out: Collected<(usize, usize, i64)>) {
        let persons = generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e { Event::Person(p) => Some((p.id, p.date_time as i64)), _ => None })
            .assign_timestamps(|p| p.1, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)));
        let auctions = generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e { Event::Auction(a) => Some((a.id, a.seller, a.date_time as i64)), _ => None })
            .assign_timestamps(|a| a.2, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)));
        persons
            .join(auctions)
            .where(|p| p.0)
            .equal_to(|a| a.1)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(10)))
            .apply(|p, a| (p.0, a.0, p.1 - p.1.rem_euclid(10_000)))
            .collect(out);
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

/// q3's join: each seller's person record (once it came) and its auctions waiting for it.
#[derive(Clone)]
struct LocalItems;

impl KeyedCoProcessFunction<usize, (usize, String, String), (usize, usize)> for LocalItems {
    type State = (Option<(String, String)>, Vec<usize>);
    type Out = (String, String, usize);

    fn process_element1(
        &mut self,
        _seller: &usize,
        state: &mut Self::State,
        person: (usize, String, String),
        ctx: &mut KeyedContext<'_, usize, Self::Out>,
    ) {
        for auction in std::mem::take(&mut state.1) {
            ctx.output((person.1.clone(), person.2.clone(), auction));
        }
        state.0 = Some((person.1, person.2));
    }

    fn process_element2(
        &mut self,
        _seller: &usize,
        state: &mut Self::State,
        auction: (usize, usize),
        ctx: &mut KeyedContext<'_, usize, Self::Out>,
    ) {
        match &state.0 {
            Some((city, us_state)) => ctx.output((city.clone(), us_state.clone(), auction.0)),
            None => state.1.push(auction.0),
        }
    }
}

dataflow! {
    /// q3: local item suggestion: auctions of category 10 by sellers in OR, ID or CA, with
    /// the seller's city and state (an incremental join on keyed state).
    job q3(n: u64, out: Collected<(String, String, usize)>) {
        let persons = generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Person(p) if ["or", "id", "ca"].contains(&p.state.as_str()) => Some((p.id, p.city, p.state)),
                _ => None,
            })
            .key_by(|p| p.0);
        let auctions = generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Auction(a) if a.category == 10 => Some((a.id, a.seller)),
                _ => None,
            })
            .key_by(|a| a.1);
        persons.connect(auctions).co_process(LocalItems).collect(out);
    }

    /// q11: user sessions: per bidder, bids in sessions that end after 10 s without a bid.
    job q11(n: u64, out: Collected<(usize, i64, i64, u64)>) {
        generate(n, nexmark::events(nexmark::config()))
            .flat_map(bid_of)
            .assign_timestamps(|b| b.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .map(|b| (b.1, 1u64))
            .key_by(|b| b.0)
            .window(EventTimeSessionWindows::with_gap(Duration::from_secs(10)))
            .reduce(|a, b| (a.0, a.1 + b.1), |bidder, window, total| std::iter::once((*bidder, window.start, window.end, total.1)))
            .collect(out);
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

/// Winning bids: per auction, the highest bid placed between its opening and its expiry,
/// emitted as `(category, price)` when the auction expires (an event-time timer).
#[derive(Clone)]
struct WinningBids;

/// An auction's `(category, opened, expires)`, once seen; its best valid bid; bids that
/// came before it.
type AuctionState = (Option<(usize, i64, i64)>, Option<usize>, Vec<(usize, i64)>);

impl KeyedCoProcessFunction<usize, (usize, usize, i64, i64), (usize, usize, i64)> for WinningBids {
    type State = AuctionState;
    type Out = (usize, usize);

    fn process_element1(
        &mut self,
        _auction: &usize,
        state: &mut AuctionState,
        (_, category, opened, expires): (usize, usize, i64, i64),
        ctx: &mut KeyedContext<'_, usize, (usize, usize)>,
    ) {
        state.0 = Some((category, opened, expires));
        for (price, at) in std::mem::take(&mut state.2) {
            if (opened..=expires).contains(&at) {
                state.1 = state.1.max(Some(price));
            }
        }
        ctx.register_event_time_timer(expires);
    }

    fn process_element2(
        &mut self,
        _auction: &usize,
        state: &mut AuctionState,
        (_, price, at): (usize, usize, i64),
        _ctx: &mut KeyedContext<'_, usize, (usize, usize)>,
    ) {
        match state.0 {
            Some((_, opened, expires)) if (opened..=expires).contains(&at) => {
                state.1 = state.1.max(Some(price));
            }
            Some(_) => {}
            None => state.2.push((price, at)),
        }
    }

    fn on_timer(
        &mut self,
        _auction: &usize,
        state: &mut AuctionState,
        _timestamp: Timestamp,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, usize, (usize, usize)>,
    ) {
        if let (Some((category, _, _)), Some(price)) = (state.0, state.1) {
            ctx.output((category, price));
        }
    }
}

dataflow! {
    /// q4: average closing price per category (a rolling `(category, sum, count)`).
    job q4(n: u64, out: Collected<(usize, usize, u64)>) {
        let auctions = generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Auction(a) => Some((a.id, a.category, a.date_time as i64, a.expires as i64)),
                _ => None,
            })
            .assign_timestamps(|a| a.2, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .key_by(|a| a.0);
        let bids = generate(n, nexmark::events(nexmark::config()))
            .flat_map(bid_of)
            .assign_timestamps(|b| b.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .map(|b| (b.0, b.2, b.3))
            .key_by(|b| b.0);
        auctions
            .connect(bids)
            .co_process(WinningBids)
            .map(|(category, price)| (category, price, 1u64))
            .key_by(|w| w.0)
            .reduce(|a, b| (a.0, a.1 + b.1, a.2 + b.2))
            .collect(out);
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
