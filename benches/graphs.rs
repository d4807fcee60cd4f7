//! Iterations on a generated graph: PageRank (20 supersteps of a bulk iteration) and connected
//! components (a delta iteration), against hand-written single-threaded Rust over the same
//! edges. `GRAPH_VERTICES` (default 1,000,000; 10 out-edges each) sets the size.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::graphs::{connected_components, page_rank, Graph, DAMPING};
use dataflow::prelude::*;

fn vertices() -> u64 {
    std::env::var("GRAPH_VERTICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// PageRank by hand: the edges in a compressed adjacency array, then 20 rounds of pushing
/// each vertex's share along its out-edges (the same definition as `graphs::page_rank`).
fn page_rank_by_hand(graph: &Graph, iterations: usize) -> f64 {
    let Graph::Generated { vertices } = *graph else {
        unreachable!("generated graphs only")
    };
    let n = vertices as usize;
    let edges = graph.edge_count();
    let mut degree = vec![0u32; n];
    let mut targets = Vec::with_capacity(edges as usize);
    for i in 0..edges {
        let (source, target) = graph.edge(i);
        degree[source as usize] += 1;
        targets.push((source as u32, target as u32));
    }
    let mut ranks = vec![1.0f64; n];
    let mut sums = vec![0.0f64; n];
    for _ in 0..iterations {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for &(source, target) in &targets {
            sums[target as usize] += ranks[source as usize] / degree[source as usize] as f64;
        }
        for (rank, sum) in ranks.iter_mut().zip(&sums) {
            *rank = (1.0 - DAMPING) + DAMPING * sum;
        }
    }
    ranks.iter().sum()
}

/// Connected components by hand: union-find with path halving over the edges.
fn components_by_hand(graph: &Graph) -> usize {
    let Graph::Generated { vertices } = *graph else {
        unreachable!("generated graphs only")
    };
    let mut parent: Vec<u32> = (0..vertices as u32).collect();
    fn find(parent: &mut [u32], mut v: u32) -> u32 {
        while parent[v as usize] != v {
            parent[v as usize] = parent[parent[v as usize] as usize];
            v = parent[v as usize];
        }
        v
    }
    for i in 0..graph.edge_count() {
        let (a, b) = graph.edge(i);
        let (ra, rb) = (find(&mut parent, a as u32), find(&mut parent, b as u32));
        if ra != rb {
            parent[ra.max(rb) as usize] = ra.min(rb);
        }
    }
    (0..vertices as u32)
        .filter(|&v| find(&mut parent, v) == v)
        .count()
}

/// Connected components the way the dataflow job computes them, by hand: label propagation
/// as a delta iteration over an undirected adjacency array (each superstep, the vertices
/// whose label changed offer it to their neighbours). The same algorithm as
/// `graphs::connected_components`, without the engine; returns the number of components.
fn components_by_label_propagation(graph: &Graph) -> usize {
    let Graph::Generated { vertices } = *graph else {
        unreachable!("generated graphs only")
    };
    let n = vertices as usize;
    let mut degree = vec![0u32; n + 1];
    for i in 0..graph.edge_count() {
        let (a, b) = graph.edge(i);
        degree[a as usize] += 1;
        degree[b as usize] += 1;
    }
    let mut offsets = vec![0usize; n + 1];
    for v in 0..n {
        offsets[v + 1] = offsets[v] + degree[v] as usize;
    }
    let mut fill = offsets.clone();
    let mut neighbours = vec![0u32; offsets[n]];
    for i in 0..graph.edge_count() {
        let (a, b) = graph.edge(i);
        neighbours[fill[a as usize]] = b as u32;
        fill[a as usize] += 1;
        neighbours[fill[b as usize]] = a as u32;
        fill[b as usize] += 1;
    }
    let mut labels: Vec<u32> = (0..n as u32).collect();
    let mut workset: Vec<u32> = (0..n as u32).collect();
    let mut offered = vec![u32::MAX; n];
    let mut touched = Vec::new();
    while !workset.is_empty() {
        for &v in &workset {
            let label = labels[v as usize];
            for &w in &neighbours[offsets[v as usize]..offsets[v as usize + 1]] {
                if label < offered[w as usize] {
                    if offered[w as usize] == u32::MAX {
                        touched.push(w);
                    }
                    offered[w as usize] = label;
                }
            }
        }
        workset.clear();
        for w in touched.drain(..) {
            if offered[w as usize] < labels[w as usize] {
                labels[w as usize] = offered[w as usize];
                workset.push(w);
            }
            offered[w as usize] = u32::MAX;
        }
    }
    (0..n).filter(|&v| labels[v] == v as u32).count()
}

fn bench(c: &mut Criterion) {
    let graph = Graph::Generated {
        vertices: vertices(),
    };
    // One output path per parallelism: a file at p = 1, a directory of parts above.
    let out_path = |p: usize| {
        std::env::temp_dir().join(format!("dataflow-bench-graphs-{}-p{p}", std::process::id()))
    };
    let mut group = c.benchmark_group(format!("graph_{}_vertices", vertices()));
    group.sample_size(10);
    group.throughput(Throughput::Elements(graph.edge_count()));
    group.bench_function("page_rank_20_by_hand", |b| {
        b.iter(|| page_rank_by_hand(black_box(&graph), 20))
    });
    group.bench_function("connected_components_by_hand", |b| {
        b.iter(|| components_by_hand(black_box(&graph)))
    });
    assert_eq!(
        components_by_label_propagation(&graph),
        components_by_hand(&graph),
        "label propagation and union-find disagree"
    );
    group.bench_function("connected_components_label_propagation_by_hand", |b| {
        b.iter(|| components_by_label_propagation(black_box(&graph)))
    });
    for p in [1, 2] {
        let out = out_path(p);
        let config = JobConfig {
            mode: ExecutionMode::Batch,
            ..JobConfig::with_parallelism(p)
        };
        group.bench_function(format!("page_rank_20_dataflow_p{p}"), |b| {
            b.iter(|| {
                page_rank::run(&config, Some(graph.clone()), Some(20), Some(out.clone())).unwrap()
            })
        });
        group.bench_function(format!("connected_components_dataflow_p{p}"), |b| {
            b.iter(|| {
                connected_components::run(&config, Some(graph.clone()), None, Some(out.clone()))
                    .unwrap()
            })
        });
    }
    group.finish();
    for p in [1, 2] {
        let _ = std::fs::remove_dir_all(out_path(p));
        let _ = std::fs::remove_file(out_path(p));
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
