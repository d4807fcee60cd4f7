//! Nexmark queries written in `dataflow!` in the DataStream style (as in the Beam and
//! Renoir formulations): each job reads the first `n` generated events and sends its
//! results to a [`Collected`] handle (`Collected::counting()` makes it a black hole for the
//! runner, `cargo run --release --bin nexmark`). Tested against plain-Rust references in
//! `tests/nexmark.rs`.

use std::time::Duration;

use crate::prelude::*;
use crate::runtime::nexmark::{self, Event};

dataflow! {
    /// q0: pass-through (each event's type and timestamp).
    pub job q0(n: u64, out: Collected<(u8, u64)>) {
        generate(n, nexmark::events(nexmark::config()))
            .map(|e| (e.event_type() as u8, e.timestamp()))
            .collect(out);
    }

    /// q1: bid prices converted from dollars to euros.
    pub job q1(n: u64, out: Collected<(usize, usize, usize, u64)>) {
        generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Bid(b) => Some((b.auction, b.bidder, b.price * 908 / 1000, b.date_time)),
                _ => None,
            })
            .collect(out);
    }

    /// q2: the bids of a few auctions (auction id divisible by 123).
    pub job q2(n: u64, out: Collected<(usize, usize)>) {
        generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Bid(b) if b.auction % 123 == 0 => Some((b.auction, b.price)),
                _ => None,
            })
            .collect(out);
    }
}

/// Bids as `(auction, bidder, price, timestamp)`.
pub fn bid_of(e: Event) -> Option<(usize, usize, usize, i64)> {
    match e {
        Event::Bid(b) => Some((b.auction, b.bidder, b.price, b.date_time as i64)),
        _ => None,
    }
}

dataflow! {
    /// q5: hot items: per sliding window of 10 s every 2 s, the auctions with the most bids.
    pub job q5(n: u64, out: Collected<(i64, usize, u64)>) {
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
    pub job q7(n: u64, out: Collected<(i64, usize, usize, usize)>) {
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
    pub job q8(n: u64, out: Collected<(usize, usize, i64)>) {
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

/// q3's join: each seller's person record (once it came) and its auctions waiting for it.
#[derive(Clone)]
pub struct LocalItems;

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
    pub job q3(n: u64, out: Collected<(String, String, usize)>) {
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
    pub job q11(n: u64, out: Collected<(usize, i64, i64, u64)>) {
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

/// Winning bids: per auction, the highest bid placed between its opening and its expiry,
/// emitted as `(category, seller, expires, price)` when the auction expires (an event-time
/// timer). Auctions come as `(id, category, seller, opened, expires)`, bids as
/// `(auction, price, timestamp)`.
#[derive(Clone)]
pub struct WinningBids;

/// An auction's `(category, seller, opened, expires)`, once seen; its best valid bid; bids
/// that came before it.
pub type AuctionState = (
    Option<(usize, usize, i64, i64)>,
    Option<usize>,
    Vec<(usize, i64)>,
);

impl KeyedCoProcessFunction<usize, (usize, usize, usize, i64, i64), (usize, usize, i64)>
    for WinningBids
{
    type State = AuctionState;
    type Out = (usize, usize, i64, usize);

    fn process_element1(
        &mut self,
        _auction: &usize,
        state: &mut AuctionState,
        (_, category, seller, opened, expires): (usize, usize, usize, i64, i64),
        ctx: &mut KeyedContext<'_, usize, Self::Out>,
    ) {
        state.0 = Some((category, seller, opened, expires));
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
        _ctx: &mut KeyedContext<'_, usize, Self::Out>,
    ) {
        match state.0 {
            Some((_, _, opened, expires)) if (opened..=expires).contains(&at) => {
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
        ctx: &mut KeyedContext<'_, usize, Self::Out>,
    ) {
        if let (Some((category, seller, _, expires)), Some(price)) = (state.0, state.1) {
            ctx.output((category, seller, expires, price));
        }
    }
}

dataflow! {
    /// q4: average closing price per category (a rolling `(category, sum, count)`).
    pub job q4(n: u64, out: Collected<(usize, usize, u64)>) {
        let auctions = generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Auction(a) => Some((a.id, a.category, a.seller, a.date_time as i64, a.expires as i64)),
                _ => None,
            })
            .assign_timestamps(|a| a.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .key_by(|a| a.0);
        let bids = generate(n, nexmark::events(nexmark::config()))
            .flat_map(bid_of)
            .assign_timestamps(|b| b.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .map(|b| (b.0, b.2, b.3))
            .key_by(|b| b.0);
        auctions
            .connect(bids)
            .co_process(WinningBids)
            .map(|(category, _, _, price)| (category, price, 1u64))
            .key_by(|w| w.0)
            .reduce(|a, b| (a.0, a.1 + b.1, a.2 + b.2))
            .collect(out);
    }
}

dataflow! {
    /// q12: bids per bidder in 10 s tumbling processing-time windows (the wall clock when a
    /// bid arrives, not its event time).
    pub job q12(n: u64, out: Collected<(usize, u64)>) {
        generate(n, nexmark::events(nexmark::config()))
            .flat_map(bid_of)
            .key_by(|b| b.1)
            .window(TumblingProcessingTimeWindows::of(Duration::from_secs(10)))
            .count()
            .collect(out);
    }
}

dataflow! {
    /// q6: average selling price by seller: per seller, after each of its auctions closes,
    /// the sum and number of the final prices of its last (at most) 10 closed auctions.
    pub job q6(n: u64, out: Collected<(usize, usize, usize)>) {
        let auctions = generate(n, nexmark::events(nexmark::config()))
            .flat_map(|e| match e {
                Event::Auction(a) => Some((a.id, a.category, a.seller, a.date_time as i64, a.expires as i64)),
                _ => None,
            })
            .assign_timestamps(|a| a.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .key_by(|a| a.0);
        let bids = generate(n, nexmark::events(nexmark::config()))
            .flat_map(bid_of)
            .assign_timestamps(|b| b.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_millis(100)))
            .map(|b| (b.0, b.2, b.3))
            .key_by(|b| b.0);
        auctions
            .connect(bids)
            .co_process(WinningBids)
            .map(|(_, seller, expires, price)| (seller, expires, price))
            .key_by(|w| w.0)
            .process(|seller: &usize, last: &mut Vec<(i64, usize)>, (_, expires, price): (usize, i64, usize), ctx: &mut KeyedContext<'_, usize, (usize, usize, usize)>| {
                // The 10 latest closings (by expiry, then price), whatever order they came in.
                last.push((expires, price));
                last.sort_unstable_by(|a, b| b.cmp(a));
                last.truncate(10);
                ctx.output((*seller, last.iter().map(|l| l.1).sum(), last.len()));
            })
            .collect(out);
    }
}
