//! PageRank as a bulk iteration: the ranks flow around the loop, the edges are joined in as
//! loop-invariant input (kept by the join across supersteps, not recomputed).
//!
//! ```text
//! cargo run --release --example page_rank -- [GRAPH [ITERATIONS [OUTPUT]]] [--parallelism N]
//! ```
//! GRAPH is a file of edges (`source target` per line; default: the bundled
//! `examples/data/graph.txt`) or a number `N`: a generated graph of N vertices with 10
//! out-edges each. ITERATIONS defaults to 20. Each line of OUTPUT (default standard output)
//! is `vertex rank`. The job is defined in `dataflow::graphs::page_rank`.

fn main() -> dataflow::Result<()> {
    dataflow::graphs::page_rank::main()
}

// A faster allocator than the system's for an engine that allocates per key and per batch
// on several threads (PageRank on 1M vertices: 19% faster; see BENCHMARKS.md section 10).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
