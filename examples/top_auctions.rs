//! Top auctions: the auction with the most bids in each sliding 10-second window, with its
//! category, from a generated auction site (in the spirit of Nexmark's "hot items").
//!
//! ```text
//! cargo run --release --example top_auctions -- [BIDS [OUTPUT]] [--parallelism N]
//! ```
//! Two generated streams: BIDS bids (default 200,000; one every 2 ms of event time, up to
//! 500 ms out of order) and the auctions they are for (8 open at the start of every 10 s
//! slot and take bids during it). The job
//! 1. counts each auction's bids in sliding windows of 10 s every 2 s (`reduce` with a
//!    process function that adds the window's end),
//! 2. joins those counts with the auctions in tumbling 10 s windows (a window join on the
//!    auction id: counts of windows that end while the auction is open find it),
//! 3. keeps the top auction per sliding window (most bids, then the smaller id).
//!
//! Each line of OUTPUT (default standard output) is `window_end auction category bids`.

use dataflow::prelude::*;

/// Auctions opening at the start of each 10 s slot.
pub const AUCTIONS_PER_SLOT: u64 = 8;
/// The auctions' lifetime, and the slot length.
pub const SLOT_MS: i64 = 10_000;

/// Bid `i`: `(auction, bidder, price, timestamp)`. Bids come every 2 ms of event time and lag
/// up to 500 ms; a bid goes to an auction of its slot, low auction numbers more often (hot
/// auctions).
pub fn bid(i: u64) -> (u64, u64, u64, i64) {
    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let ts = (i as i64 * 2 - ((mixed >> 20) % 500) as i64).max(0);
    let slot = (ts / SLOT_MS) as u64;
    let pick = (mixed >> 40) % 64;
    let auction = slot * AUCTIONS_PER_SLOT + (pick * pick) / (64 * 64 / AUCTIONS_PER_SLOT);
    (auction, (mixed >> 8) % 1000, 10 + (mixed >> 30) % 90, ts)
}

/// Auction `k`: `(id, seller, category, opening time)`.
pub fn auction(k: u64) -> (u64, u64, u64, i64) {
    let slot = (k / AUCTIONS_PER_SLOT) as i64;
    (
        k,
        k % 37,
        k % 5,
        slot * SLOT_MS + (k % AUCTIONS_PER_SLOT) as i64 * 10,
    )
}

/// How many auctions cover the slots of `bids` bids.
pub fn auctions_for(bids: u64) -> u64 {
    (bids as i64 * 2 / SLOT_MS + 1) as u64 * AUCTIONS_PER_SLOT
}

dataflow! {
    /// The top auction of each sliding window, with its category.
    pub job top_auctions(bids: Option<u64>, output: Option<PathBuf>) {
        let placed = generate(bids.unwrap_or(200_000), bid)
            .assign_timestamps(|b| b.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_secs(1)));
        let auctions = generate(auctions_for(bids.unwrap_or(200_000)), auction)
            .assign_timestamps(|a| a.3, WatermarkStrategy::bounded_out_of_orderness(Duration::from_secs(1)));
        // (auction, window end, bids in the window)
        let hot = placed
            .map(|b| (b.0, 1u64))
            .key_by(|b| b.0)
            .window(SlidingEventTimeWindows::of(Duration::from_secs(10), Duration::from_secs(2)))
            .reduce(
                |a, b| (a.0, a.1 + b.1),
                |auction, window, total| std::iter::once((*auction, window.end, total.1)),
            );
        // (window end, auction, category, bids)
        let described = hot
            .join(auctions)
            .where(|h| h.0)
            .equal_to(|a| a.0)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(10)))
            .apply(|h, a| (h.1, h.0, a.2, h.2));
        described
            .key_by(|d| d.0)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(10)))
            .reduce(|a, b| if (b.3, std::cmp::Reverse(b.1)) > (a.3, std::cmp::Reverse(a.1)) { b } else { a })
            .write_lines(output, |(end, auction, category, bids)| format!("{end} {auction} {category} {bids}"));
    }
}

fn main() -> dataflow::Result<()> {
    top_auctions::main()
}

// A faster allocator than the system's for an engine that allocates per key and per batch
// on several threads (PageRank on 1M vertices: 19% faster; see BENCHMARKS.md section 10).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
