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
