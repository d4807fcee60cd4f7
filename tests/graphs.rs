//! PageRank and connected components (`dataflow::graphs`, bulk iterations) against plain-Rust
//! references on random graphs, at parallelism 1 and 2; and on the bundled graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use dataflow::graphs::{connected_components, label_propagation, page_rank, Graph, DAMPING};
use dataflow::prelude::*;

fn config(parallelism: usize) -> JobConfig {
    JobConfig {
        mode: ExecutionMode::Batch,
        ..JobConfig::with_parallelism(parallelism)
    }
}

/// A random graph of `vertices` vertices and `edges` edges (Knuth's MMIX LCG).
fn random_graph(vertices: u64, edges: usize, seed: u64) -> Vec<(u64, u64)> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..edges)
        .map(|_| (next() % vertices, next() % vertices))
        .collect()
}

/// The output file of one run, read back as `(vertex, value)` lines.
struct Output(PathBuf);

impl Output {
    fn new(name: &str) -> Output {
        Output(std::env::temp_dir().join(format!("dataflow-graphs-{name}-{}", std::process::id())))
    }

    /// Lines of every part (one file at parallelism 1, a directory above).
    fn lines(&self) -> Vec<(u64, String)> {
        let mut text = String::new();
        if self.0.is_dir() {
            for entry in std::fs::read_dir(&self.0).unwrap() {
                text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
        } else {
            text = std::fs::read_to_string(&self.0).unwrap();
        }
        let mut lines: Vec<(u64, String)> = text
            .lines()
            .map(|l| {
                let (v, value) = l.split_once(' ').unwrap();
                (v.parse().unwrap(), value.to_string())
            })
            .collect();
        lines.sort();
        lines
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// PageRank by power iteration over the same definition: rank 1 everywhere, then
/// `(1 - d) + d * sum(rank(u) / outdegree(u))` over in-neighbours, `iterations` times.
fn page_rank_reference(edges: &[(u64, u64)], iterations: u64) -> BTreeMap<u64, f64> {
    let vertices: BTreeSet<u64> = edges.iter().flat_map(|e| [e.0, e.1]).collect();
    let mut degree: BTreeMap<u64, usize> = BTreeMap::new();
    for e in edges {
        *degree.entry(e.0).or_default() += 1;
    }
    let mut ranks: BTreeMap<u64, f64> = vertices.iter().map(|&v| (v, 1.0)).collect();
    for _ in 0..iterations {
        let mut sums: BTreeMap<u64, f64> = vertices.iter().map(|&v| (v, 0.0)).collect();
        for e in edges {
            *sums.get_mut(&e.1).unwrap() += ranks[&e.0] / degree[&e.0] as f64;
        }
        ranks = sums
            .into_iter()
            .map(|(v, s)| (v, (1.0 - DAMPING) + DAMPING * s))
            .collect();
    }
    ranks
}

/// Components by union-find: each vertex's smallest connected vertex.
fn components_reference(edges: &[(u64, u64)]) -> BTreeMap<u64, u64> {
    let mut parent: BTreeMap<u64, u64> = BTreeMap::new();
    fn find(parent: &mut BTreeMap<u64, u64>, v: u64) -> u64 {
        let p = parent[&v];
        if p == v {
            return v;
        }
        let root = find(parent, p);
        parent.insert(v, root);
        root
    }
    for e in edges {
        parent.entry(e.0).or_insert(e.0);
        parent.entry(e.1).or_insert(e.1);
    }
    for e in edges {
        let (a, b) = (find(&mut parent, e.0), find(&mut parent, e.1));
        // The smaller root wins, so each root is its component's smallest vertex.
        parent.insert(a.max(b), a.min(b));
    }
    let vertices: Vec<u64> = parent.keys().copied().collect();
    vertices
        .into_iter()
        .map(|v| (v, find(&mut parent, v)))
        .collect()
}

fn check_page_rank(edges: Vec<(u64, u64)>, iterations: u64, parallelism: usize) {
    check_page_rank_with(edges, iterations, &config(parallelism));
}

fn check_page_rank_with(edges: Vec<(u64, u64)>, iterations: u64, config: &JobConfig) -> JobReport {
    let expected = page_rank_reference(&edges, iterations);
    let out = Output::new(&format!("pr-{}-{iterations}", config.parallelism));
    let report = page_rank::run(
        config,
        Some(Graph::Edges(edges.into())),
        Some(iterations),
        Some(out.0.clone()),
    )
    .unwrap();
    let found = out.lines();
    assert_eq!(found.len(), expected.len(), "one rank per vertex");
    for ((v, rank), (ev, erank)) in found.iter().zip(&expected) {
        assert_eq!(v, ev);
        let rank: f64 = rank.parse().unwrap();
        assert!((rank - erank).abs() < 1e-5, "vertex {v}: {rank} vs {erank}");
    }
    report
}

#[test]
fn iterations_under_a_small_memory_budget_spill_and_give_the_same_results() {
    // 4 KiB per operator subtask: the set-up (`distinct`, `group_reduce`) and the join and
    // sum inside the iteration spill; state spilled within a superstep is read back at its
    // end.
    let spill_dir = std::env::temp_dir();
    let config = JobConfig {
        spill: Some(SpillConfig::new(4 << 10).in_dir(&spill_dir)),
        ..config(2)
    };
    let report = check_page_rank_with(random_graph(400, 3000, 11), 5, &config);
    let spilled: u64 = report.operators.iter().map(|op| op.spilled_bytes).sum();
    assert!(spilled > 0, "nothing spilled:\n{report}");
    let edges = random_graph(300, 250, 12);
    let expected: Vec<(u64, String)> = components_reference(&edges)
        .into_iter()
        .map(|(v, c)| (v, c.to_string()))
        .collect();
    let out = Output::new("lp-spill");
    let report = label_propagation::run(
        &config,
        Some(Graph::Edges(edges.into())),
        None,
        Some(out.0.clone()),
    )
    .unwrap();
    assert_eq!(out.lines(), expected);
    let spilled: u64 = report.operators.iter().map(|op| op.spilled_bytes).sum();
    assert!(spilled > 0, "nothing spilled:\n{report}");
}

#[test]
fn page_rank_equals_power_iteration_on_random_graphs() {
    for (seed, parallelism) in [(1, 1), (2, 2), (3, 2)] {
        // Sparse enough that some vertices have no out-edges (their rank is not passed on).
        check_page_rank(random_graph(60, 150, seed), 10, parallelism);
    }
    check_page_rank(random_graph(30, 200, 4), 1, 2);
}

#[test]
fn connected_components_delta_and_bulk_equal_union_find_on_random_graphs() {
    for (seed, parallelism) in [(5, 1), (6, 2), (7, 2)] {
        // About as many edges as vertices: many components of all sizes.
        let edges = random_graph(200, 150, seed);
        let expected: Vec<(u64, String)> = components_reference(&edges)
            .into_iter()
            .map(|(v, c)| (v, c.to_string()))
            .collect();
        assert!(
            expected.iter().map(|e| &e.1).collect::<BTreeSet<_>>().len() > 10,
            "several components"
        );
        let graph = Graph::Edges(edges.into());
        let out = Output::new(&format!("cc-{seed}"));
        connected_components::run(
            &config(parallelism),
            Some(graph.clone()),
            None,
            Some(out.0.clone()),
        )
        .unwrap();
        assert_eq!(
            out.lines(),
            expected,
            "delta: seed {seed}, p = {parallelism}"
        );
        let out = Output::new(&format!("lp-{seed}"));
        label_propagation::run(&config(parallelism), Some(graph), None, Some(out.0.clone()))
            .unwrap();
        assert_eq!(
            out.lines(),
            expected,
            "bulk: seed {seed}, p = {parallelism}"
        );
    }
}

#[test]
fn the_bundled_graph_has_two_components() {
    let out = Output::new("cc-bundled");
    connected_components::run(&config(2), None, None, Some(out.0.clone())).unwrap();
    let components: BTreeSet<String> = out.lines().into_iter().map(|l| l.1).collect();
    assert_eq!(
        components,
        BTreeSet::from(["1".to_string(), "10".to_string()])
    );
    check_page_rank(Graph::bundled().edges(), 20, 2);
}

#[test]
fn a_malformed_graph_file_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!("dataflow-bad-graph-{}", std::process::id()));
    std::fs::write(&path, "1 2\n2 x\n").unwrap();
    let error = Graph::load(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(error.contains("line 2: `2 x`"), "{error}");
    let missing = Graph::load(std::path::Path::new("/no/such/graph")).unwrap_err();
    assert!(missing.contains("cannot read the graph"), "{missing}");
}
