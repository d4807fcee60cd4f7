//! Nexmark, the standard streaming benchmark's events: persons, auctions and bids, from
//! RisingWave's port of the reference generator (the `nexmark` crate), as a deterministic
//! parallel stream: `generate(n, nexmark::events(nexmark::config()))` makes the first `n`
//! events whatever the parallelism (event `i` is always the same event).

pub use ::nexmark::config::NexmarkConfig;
pub use ::nexmark::event::{Auction, Bid, Event, EventType, Person};
use ::nexmark::EventGenerator;

/// The base time of [`config`]'s events (2026-01-01T00:00:00Z, in ms since the epoch): fixed,
/// so runs see the same timestamps (the crate's default is the wall clock at creation).
pub const BASE_TIME: u64 = 1_767_225_600_000;

/// The standard configuration (the 1:3:46 person:auction:bid schedule by event number, hot
/// auctions, bidders and sellers, 10,000 events/s of event time), at [`BASE_TIME`].
pub fn config() -> NexmarkConfig {
    NexmarkConfig {
        base_time: BASE_TIME,
        ..NexmarkConfig::default()
    }
}

/// The function of `generate(n, ..)` making event `i` of the stream `config` describes.
/// Each subtask of `generate` asks for a contiguous range of indexes, so the generator is
/// positioned once per subtask and then steps through its events.
pub fn events(config: NexmarkConfig) -> impl FnMut(u64) -> Event + Clone + Send + 'static {
    let mut generator: Option<EventGenerator> = None;
    move |i| {
        let current = match &mut generator {
            Some(g) if g.offset() == i => g,
            slot => slot.insert(EventGenerator::new(config.clone()).with_offset(i)),
        };
        current
            .next()
            .expect("the Nexmark generator is an endless iterator")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_follow_the_1_3_46_schedule_by_event_number() {
        let mut make = events(config());
        let mut counts = [0u64; 3];
        for i in 0..5000 {
            let event = make(i);
            let expected = match i % 50 {
                0 => EventType::Person,
                1..=3 => EventType::Auction,
                _ => EventType::Bid,
            };
            assert_eq!(event.event_type(), expected, "event {i}");
            counts[match expected {
                EventType::Person => 0,
                EventType::Auction => 1,
                EventType::Bid => 2,
            }] += 1;
        }
        assert_eq!(counts, [100, 300, 4600]);
    }

    #[test]
    fn any_split_of_the_indexes_makes_the_same_events() {
        let sequential: Vec<Event> = {
            let mut make = events(config());
            (0..600).map(&mut make).collect()
        };
        // Three subtasks' contiguous shares, and jumps, with the same function cloned.
        let make = events(config());
        for (from, to) in [(0, 200), (200, 400), (400, 600), (350, 360), (10, 11)] {
            let mut mine = make.clone();
            for i in from..to {
                assert_eq!(mine(i), sequential[i as usize], "event {i}");
            }
        }
        // Event time starts at the base time and does not go back (no out-of-order groups).
        assert!(sequential[0].timestamp() >= BASE_TIME);
        assert!(sequential
            .windows(2)
            .all(|w| w[0].timestamp() <= w[1].timestamp()));
    }

    #[test]
    fn bids_favour_hot_auctions_and_bidders() {
        let mut make = events(config());
        let mut auctions = std::collections::HashMap::<usize, u64>::new();
        let mut bids = 0u64;
        for i in 0..50_000 {
            if let Event::Bid(bid) = make(i) {
                *auctions.entry(bid.auction).or_default() += 1;
                bids += 1;
            }
        }
        // Hot auctions: the busiest auction draws far more than the average share.
        let busiest = auctions.values().copied().max().unwrap();
        let average = bids / auctions.len() as u64;
        assert!(
            busiest > 10 * average,
            "busiest {busiest}, average {average}"
        );
    }
}
