//! Graph algorithms written as `dataflow!` iterations: PageRank (a bulk iteration with the
//! edges as loop-invariant input) and connected components (label propagation, ended by a
//! termination criterion once no label changes). `examples/page_rank.rs` and
//! `examples/connected_components.rs` run them as binaries; `tests/graphs.rs` compares them
//! with plain-Rust references on random graphs.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use crate::prelude::*;

/// The bundled small graph (`examples/data/graph.txt`).
pub const BUNDLED: &str = include_str!("../examples/data/graph.txt");

/// Out-edges per vertex of a generated graph.
pub const GENERATED_DEGREE: u64 = 10;

/// A directed graph's edges: read from a file (`source target` per line, `#` comments), or
/// generated (`N` vertices with [`GENERATED_DEGREE`] pseudo-random out-edges each).
#[derive(Debug, Clone)]
pub enum Graph {
    /// Edges held in memory.
    Edges(Arc<Vec<(u64, u64)>>),
    /// `vertices` vertices; edge `i` goes from `i / GENERATED_DEGREE` to a scrambled vertex.
    Generated {
        /// How many vertices.
        vertices: u64,
    },
}

impl Graph {
    /// The bundled small graph.
    pub fn bundled() -> Graph {
        Graph::parse(BUNDLED).expect("the bundled graph parses")
    }

    /// The edges of a text, one `source target` per line.
    pub fn parse(text: &str) -> std::result::Result<Graph, String> {
        let mut edges = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace().map(u64::from_str);
            match (fields.next(), fields.next(), fields.next()) {
                (Some(Ok(source)), Some(Ok(target)), None) => edges.push((source, target)),
                _ => {
                    return Err(format!(
                        "line {}: `{line}` is not an edge `source target` of two vertex ids",
                        number + 1
                    ))
                }
            }
        }
        Ok(Graph::Edges(Arc::new(edges)))
    }

    /// The edges of a file.
    pub fn load(path: &Path) -> std::result::Result<Graph, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the graph {}: {e}", path.display()))?;
        Graph::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// How many edges.
    pub fn edge_count(&self) -> u64 {
        match self {
            Graph::Edges(edges) => edges.len() as u64,
            Graph::Generated { vertices } => vertices * GENERATED_DEGREE,
        }
    }

    /// Edge `i` (below [`Graph::edge_count`]).
    pub fn edge(&self, i: u64) -> (u64, u64) {
        match self {
            Graph::Edges(edges) => edges[i as usize],
            Graph::Generated { vertices } => {
                let mixed = (i ^ 0x5DEE_CE66).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                (i / GENERATED_DEGREE, (mixed >> 16) % vertices)
            }
        }
    }

    /// All edges, in order.
    pub fn edges(&self) -> Vec<(u64, u64)> {
        (0..self.edge_count()).map(|i| self.edge(i)).collect()
    }
}

/// On the command line: a number of vertices to generate, or a file of edges.
impl FromStr for Graph {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Graph, String> {
        match text.parse::<u64>() {
            Ok(vertices) => Ok(Graph::Generated { vertices }),
            Err(_) => Graph::load(Path::new(text)),
        }
    }
}

/// The graph of a job's `Option<Graph>` parameter (the bundled one by default).
pub fn graph_or_bundled(graph: &Option<Graph>) -> Graph {
    graph.clone().unwrap_or_else(Graph::bundled)
}

/// The damping factor of PageRank.
pub const DAMPING: f64 = 0.85;

dataflow! {
    /// PageRank: each vertex's rank, `(1 - d) + d * sum(rank(u) / outdegree(u))` over its
    /// in-neighbours `u`, after ITERATIONS supersteps (default 20) from rank 1 everywhere
    /// (ranks sum to the number of vertices; the rank of vertices without out-edges is not
    /// passed on). Lines of OUTPUT are `vertex rank`.
    pub job page_rank(graph: Option<Graph>, iterations: Option<u64>, output: Option<PathBuf>) {
        let edges = generate(graph_or_bundled(&graph).edge_count(), {
            let graph = graph_or_bundled(&graph);
            move |i| graph.edge(i)
        });
        let vertices = edges
            .flat_map(|e| [e.0, e.1])
            .key_by(|v| *v)
            .distinct();
        // (source, target, share of the source's rank): each out-edge gets 1 / outdegree; a
        // self-entry with share 0 keeps every vertex in the ranks.
        let shares = edges
            .key_by(|e| e.0)
            .group_reduce(|source, targets| {
                let (source, share) = (*source, 1.0 / targets.len() as f64);
                targets.into_iter().map(move |t| (source, t.1, share))
            });
        let links = vertices.map(|v| (v, v, 0.0)).union(shares);
        vertices
            .map(|v| (v, 1.0))
            .iterate(iterations.unwrap_or(20), |ranks| {
                ranks
                    .join(links)
                    .where(|r| r.0)
                    .equal_to(|l| l.0)
                    .apply(|r, l| (l.1, r.1 * l.2))
                    .key_by(|c| c.0)
                    .sum(|c| c.1)
                    .map(|(v, sum)| (v, (1.0 - DAMPING) + DAMPING * sum))
            })
            .write_lines(output, |(v, rank)| format!("{v} {rank:.6}"));
    }

    /// Connected components (edges taken as undirected) as a delta iteration: every vertex's
    /// component is its smallest vertex id. The solution set holds each vertex's label; the
    /// workset holds the vertices whose label just changed, which offer it to their
    /// neighbours; a neighbour whose label improves joins the delta and the next workset. It
    /// ends when no label changes (or after MAX_ITERATIONS supersteps, default 1000). Lines of
    /// OUTPUT are `vertex component`.
    pub job connected_components(graph: Option<Graph>, max_iterations: Option<u64>, output: Option<PathBuf>) {
        let edges = generate(graph_or_bundled(&graph).edge_count(), {
            let graph = graph_or_bundled(&graph);
            move |i| graph.edge(i)
        });
        let vertices = edges
            .flat_map(|e| [e.0, e.1])
            .key_by(|v| *v)
            .distinct();
        let neighbours = edges.flat_map(|e| [(e.0, e.1), (e.1, e.0)]);
        let labels = vertices.map(|v| (v, v));
        let changed = vertices.map(|v| (v, v));
        labels
            .iterate_delta(changed, max_iterations.unwrap_or(1000), |l| l.0, |solution, workset| {
                // The smallest label offered to each neighbour of a changed vertex...
                let offered = workset
                    .join(neighbours)
                    .where(|c| c.0)
                    .equal_to(|n| n.0)
                    .apply(|c, n| (n.1, c.1))
                    .key_by(|o| o.0)
                    .min_by(|o| o.1);
                // ... where it beats the vertex's label.
                let improved = offered
                    .join(solution)
                    .where(|o| o.0)
                    .apply(|o, label| (o.0, o.1, o.1 < label.1))
                    .filter(|o| o.2)
                    .map(|o| (o.0, o.1));
                (improved, improved)
            })
            .write_lines(output, |(v, component)| format!("{v} {component}"));
    }

    /// Connected components by label propagation as a bulk iteration: every superstep
    /// recomputes every vertex's label, and a termination criterion (the labels that changed)
    /// ends it once none does (or after MAX_ITERATIONS supersteps, default 1000). The same
    /// result as [`connected_components`], with more work per superstep.
    pub job label_propagation(graph: Option<Graph>, max_iterations: Option<u64>, output: Option<PathBuf>) {
        let edges = generate(graph_or_bundled(&graph).edge_count(), {
            let graph = graph_or_bundled(&graph);
            move |i| graph.edge(i)
        });
        let vertices = edges
            .flat_map(|e| [e.0, e.1])
            .key_by(|v| *v)
            .distinct();
        // Both directions, and each vertex to itself (so it keeps its own label).
        let itself = vertices.map(|v| (v, v));
        let neighbours = edges
            .flat_map(|e| [(e.0, e.1), (e.1, e.0)])
            .union(itself);
        vertices
            .map(|v| (v, v))
            .iterate(max_iterations.unwrap_or(1000), |labels| {
                let smallest = labels
                    .join(neighbours)
                    .where(|l| l.0)
                    .equal_to(|n| n.0)
                    .apply(|l, n| (n.1, l.1))
                    .key_by(|c| c.0)
                    .min_by(|c| c.1);
                let changed = smallest
                    .join(labels)
                    .where(|s| s.0)
                    .equal_to(|l| l.0)
                    .apply(|s, l| (s.0, s.1 < l.1))
                    .filter(|c| c.1);
                (smallest, changed)
            })
            .write_lines(output, |(v, component)| format!("{v} {component}"));
    }
}
