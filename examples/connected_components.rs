//! Connected components by label propagation: a bulk iteration whose termination criterion
//! (the vertices whose label changed in the superstep) ends it as soon as nothing changes.
//!
//! ```text
//! cargo run --release --example connected_components -- [GRAPH [MAX_ITERATIONS [OUTPUT]]] [--parallelism N]
//! ```
//! GRAPH is a file of edges (`source target` per line, taken as undirected; default: the
//! bundled `examples/data/graph.txt`) or a number `N`: a generated graph of N vertices with
//! 10 edges each. Each line of OUTPUT (default standard output) is `vertex component`, the
//! component named by its smallest vertex. The job is defined in
//! `dataflow::graphs::connected_components`.

fn main() -> dataflow::Result<()> {
    dataflow::graphs::connected_components::main()
}

// A faster allocator than the system's for an engine that allocates per key and per batch
// on several threads (PageRank on 1M vertices: 19% faster; see BENCHMARKS.md section 10).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
