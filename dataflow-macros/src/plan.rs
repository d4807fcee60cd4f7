//! The physical plan: operators fused into chains, and the exchanges between chains.
//!
//! Flink's chaining rule: an operator joins the chain of the operator before it when it has
//! exactly one input, that input is a forward stream (no explicit partitioning, or
//! `forward()`), both have the same parallelism, and neither asked not to be chained. An
//! operator feeding several such consumers chains them all: a chain is a tree, run inline. Parallelism left to the job's default is the same
//! everywhere, so such operators chain even though the number is only known at run time.

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::graph::{Graph, Node};
use crate::ops::{Family, Partitioning};

/// Where an operator's parallelism comes from.
#[derive(Clone, Debug)]
pub enum ParallelismSpec {
    Default,
    Fixed(usize),
    /// An expression, compared by its tokens.
    Expr(String),
}

impl PartialEq for ParallelismSpec {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ParallelismSpec::Default, ParallelismSpec::Default) => true,
            (ParallelismSpec::Fixed(a), ParallelismSpec::Fixed(b)) => a == b,
            (ParallelismSpec::Expr(a), ParallelismSpec::Expr(b)) => a == b,
            _ => false,
        }
    }
}

/// The parallelism of an operator as the job states it.
pub fn parallelism_spec(node: &Node) -> ParallelismSpec {
    if let Some((expr, _)) = &node.settings.parallelism {
        if let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) = expr
        {
            if let Ok(n) = int.base10_parse::<usize>() {
                return ParallelismSpec::Fixed(n);
            }
        }
        return ParallelismSpec::Expr(expr.to_token_stream().to_string());
    }
    if matches!(
        node.spec.family,
        Family::Source {
            parallel: false,
            ..
        }
    ) {
        return ParallelismSpec::Fixed(1);
    }
    ParallelismSpec::Default
}

/// A chain: operators run fused in one loop per subtask.
pub struct Chain {
    pub nodes: Vec<usize>,
    pub parallelism: ParallelismSpec,
    /// The parallelism expression's tokens, for `Expr`.
    pub parallelism_expr: Option<TokenStream>,
    /// Indices into [`Plan::exchanges`] feeding the chain.
    pub inputs: Vec<usize>,
}

/// An exchange between two chains.
pub struct Exchange {
    /// The graph edge it implements.
    pub edge: usize,
    pub from_chain: usize,
    pub to_chain: usize,
    pub partitioning: Partitioning,
    /// The receiving operator is keyed, so the key travels with the record.
    pub keep_key: bool,
}

/// The physical plan of one job.
pub struct Plan {
    pub chains: Vec<Chain>,
    pub exchanges: Vec<Exchange>,
    pub bounded: bool,
}

/// Plans a checked graph, whose nodes are given in topological order.
pub fn plan(graph: &Graph, order: &[usize]) -> Plan {
    let mut chain_of = vec![usize::MAX; graph.nodes.len()];
    let mut chains: Vec<Chain> = Vec::new();
    // A side output runs at its `process`'s parallelism, whatever its own default says.
    let mut specs: Vec<ParallelismSpec> = graph.nodes.iter().map(parallelism_spec).collect();
    for &id in order {
        let node = &graph.nodes[id];
        // A side output runs at its `process`'s parallelism, an iteration head's sides at
        // the head's.
        if node.spec.family == Family::SideOutput || is_head_side(node) {
            if let Some(&e) = node.inputs.first() {
                specs[id] = specs[graph.edges[e].from].clone();
            }
        }
        let spec = specs[id].clone();
        let chained_to = chainable_predecessor(graph, id, &spec, &specs);
        match chained_to {
            Some(pred) => {
                let chain = chain_of[pred];
                chains[chain].nodes.push(id);
                chain_of[id] = chain;
            }
            None => {
                chain_of[id] = chains.len();
                let parallelism_expr = match (&spec, &node.settings.parallelism) {
                    (ParallelismSpec::Expr(_), Some((expr, _))) => Some(expr.to_token_stream()),
                    _ => None,
                };
                chains.push(Chain {
                    nodes: vec![id],
                    parallelism: spec,
                    parallelism_expr,
                    inputs: Vec::new(),
                });
            }
        }
    }
    let mut exchanges = Vec::new();
    for (index, edge) in graph.edges.iter().enumerate() {
        let (from_chain, to_chain) = (chain_of[edge.from], chain_of[edge.to]);
        if from_chain == to_chain {
            continue;
        }
        let partitioning = match &edge.partition {
            Some(p) => p.kind,
            None if chains[from_chain].parallelism == chains[to_chain].parallelism => {
                Partitioning::Forward
            }
            None => Partitioning::Rebalance,
        };
        let keep_key = match graph.nodes[edge.to].spec.family {
            Family::Keyed | Family::Grouped | Family::WindowFunction | Family::Join => true,
            Family::Process => partitioning == Partitioning::Hash,
            Family::Co => {
                graph.nodes[edge.to].call.name == "co_process" && partitioning == Partitioning::Hash
            }
            _ => false,
        };
        chains[to_chain].inputs.push(exchanges.len());
        exchanges.push(Exchange {
            edge: index,
            from_chain,
            to_chain,
            partitioning,
            keep_key,
        });
    }
    let bounded = graph
        .nodes
        .iter()
        .all(|n| !matches!(n.spec.family, Family::Source { bounded: false, .. }));
    Plan {
        chains,
        exchanges,
        bounded,
    }
}

/// The body or result side of an iteration head.
fn is_head_side(node: &crate::graph::Node) -> bool {
    matches!(node.spec.name, "iteration_step" | "iteration_result")
}

/// The node `id` chains onto, if Flink's chaining rule allows it.
fn chainable_predecessor(
    graph: &Graph,
    id: usize,
    spec: &ParallelismSpec,
    specs: &[ParallelismSpec],
) -> Option<usize> {
    let node = &graph.nodes[id];
    // An iteration head reads its initial input and its feedback from exchanges; its body
    // and result sides run in its task.
    if node.spec.family == Family::Iterate {
        return None;
    }
    if node.spec.family == Family::SideOutput || is_head_side(node) {
        // A side output is read inside its process operator's chain (checked to follow it).
        return node.inputs.first().map(|&e| graph.edges[e].from);
    }
    if node.inputs.len() != 1 || node.settings.start_new_chain || node.settings.disable_chaining {
        return None;
    }
    let edge = &graph.edges[node.inputs[0]];
    let forward = edge
        .partition
        .as_ref()
        .is_none_or(|p| p.kind == Partitioning::Forward);
    let pred = &graph.nodes[edge.from];
    let ok = forward
        && pred.spec.family != Family::Sink
        && !pred.settings.disable_chaining
        && specs[edge.from] == *spec;
    ok.then_some(edge.from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Jobs;

    fn plan_of(source: &str) -> (Graph, Plan) {
        let jobs: Jobs = syn::parse_str(source).unwrap();
        let job = &jobs.jobs[0];
        let graph = crate::graph::build(job).unwrap_or_else(|_| panic!("graph errors"));
        let order = crate::check::check_graph(&graph).unwrap_or_else(|_| panic!("check errors"));
        let plan = plan(&graph, &order);
        (graph, plan)
    }

    fn chain_names(graph: &Graph, plan: &Plan) -> Vec<Vec<String>> {
        plan.chains
            .iter()
            .map(|c| {
                c.nodes
                    .iter()
                    .map(|&n| graph.nodes[n].call.name.to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn side_outputs_run_in_their_process_chain_and_connect_makes_two_exchanges() {
        let (graph, plan) = plan_of(
            "job j() { let m = generate(10, |i| i).process(f).parallelism(3); m.print(); m.side_output(T).map(|x| x).discard(); }",
        );
        // `print` and `map` have the default parallelism, not the `process`'s 3: they do not
        // chain; the side output does.
        assert_eq!(
            chain_names(&graph, &plan),
            [
                vec!["generate"],
                vec!["process", "side_output"],
                vec!["print"],
                vec!["map", "discard"]
            ]
        );
        let (graph, plan) = plan_of(
            "job j() { let b = generate(10, |i| i).key_by(|x| *x); generate(10, |i| i).key_by(|x| *x).connect(b).co_process(f).print(); }",
        );
        let co = plan
            .chains
            .iter()
            .position(|c| graph.nodes[c.nodes[0]].call.name == "co_process")
            .unwrap();
        assert_eq!(plan.chains[co].inputs.len(), 2);
        for &x in &plan.chains[co].inputs {
            assert!(plan.exchanges[x].keep_key);
        }
        let seconds: Vec<bool> = plan.chains[co]
            .inputs
            .iter()
            .map(|&x| graph.edges[plan.exchanges[x].edge].second_input)
            .collect();
        assert_eq!(seconds.iter().filter(|s| **s).count(), 1);
    }

    #[test]
    fn forward_operators_of_equal_parallelism_fuse() {
        let (graph, plan) = plan_of(
            "job j() { generate(10, |i| i).map(|x| x).filter(|x| true).map(|x| x).discard(); }",
        );
        assert_eq!(
            chain_names(&graph, &plan),
            vec![vec!["generate", "map", "filter", "map", "discard"]]
        );
        assert!(plan.exchanges.is_empty());
        assert!(plan.bounded);
    }

    #[test]
    fn key_by_starts_a_chain_with_a_keyed_hash_exchange() {
        let (graph, plan) =
            plan_of("job j() { read_lines(p).flat_map(|l| vec![l]).key_by(|w| w.clone()).count().print(); }");
        assert_eq!(
            chain_names(&graph, &plan),
            vec![vec!["read_lines", "flat_map"], vec!["count", "print"]]
        );
        assert_eq!(plan.exchanges.len(), 1);
        assert_eq!(plan.exchanges[0].partitioning, Partitioning::Hash);
        assert!(plan.exchanges[0].keep_key);
    }

    #[test]
    fn key_by_before_an_ordinary_operator_does_not_keep_the_key() {
        let (_, plan) =
            plan_of("job j() { generate(10, |i| i).key_by(|x| *x).map(|x| x).print(); }");
        assert_eq!(plan.exchanges[0].partitioning, Partitioning::Hash);
        assert!(!plan.exchanges[0].keep_key);
    }

    #[test]
    fn different_parallelism_breaks_the_chain_with_rebalance() {
        let (graph, plan) = plan_of(
            "job j() { generate(10, |i| i).map(|x| x).parallelism(2).map(|x| x).print(); }",
        );
        assert_eq!(
            chain_names(&graph, &plan),
            vec![vec!["generate"], vec!["map"], vec!["map", "print"]]
        );
        assert!(plan
            .exchanges
            .iter()
            .all(|x| x.partitioning == Partitioning::Rebalance));
        assert_eq!(plan.chains[1].parallelism, ParallelismSpec::Fixed(2));
    }

    #[test]
    fn non_parallel_sources_run_at_parallelism_one() {
        let (graph, plan) = plan_of("job j() { from_iter(v).map(|x| x).print(); }");
        assert_eq!(
            chain_names(&graph, &plan),
            vec![vec!["from_iter"], vec!["map", "print"]]
        );
        assert_eq!(plan.chains[0].parallelism, ParallelismSpec::Fixed(1));
        assert_eq!(plan.exchanges[0].partitioning, Partitioning::Rebalance);
    }

    #[test]
    fn fan_out_chains_as_a_tree_and_chaining_settings_break_chains() {
        let (graph, plan) = plan_of(
            "job j() { let s = generate(10, |i| i).map(|x| x); s.print(); s.map(|x| x).start_new_chain().filter(|x| true).disable_chaining().discard(); }",
        );
        assert_eq!(
            chain_names(&graph, &plan),
            vec![
                vec!["generate", "map", "print"],
                vec!["map"],
                vec!["filter"],
                vec!["discard"]
            ]
        );
        assert!(plan
            .exchanges
            .iter()
            .all(|x| x.partitioning == Partitioning::Forward));
        let (graph, plan) =
            plan_of("job j() { let s = generate(10, |i| i); s.print(); s.map(|x| x).discard(); }");
        assert_eq!(
            chain_names(&graph, &plan),
            vec![vec!["generate", "print", "map", "discard"]]
        );
        assert!(plan.exchanges.is_empty());
    }

    #[test]
    fn union_feeds_one_chain_from_several_exchanges() {
        let (graph, plan) = plan_of(
            "job j() { let a = generate(3, |i| i); let b = generate(3, |i| i); a.union(b).map(|x| x).print(); }",
        );
        assert_eq!(
            chain_names(&graph, &plan),
            vec![vec!["generate"], vec!["generate"], vec!["map", "print"]]
        );
        assert_eq!(plan.chains[2].inputs.len(), 2);
    }

    #[test]
    fn unbounded_sources_make_the_job_unbounded() {
        let (_, plan) = plan_of("job j() { socket_lines(a).print(); }");
        assert!(!plan.bounded);
    }

    #[test]
    fn expression_parallelism_chains_with_equal_expressions_only() {
        let (graph, plan) = plan_of(
            "job j(p: usize) { generate(10, |i| i).parallelism(p).map(|x| x).parallelism(p).map(|x| x).print(); }",
        );
        assert_eq!(
            chain_names(&graph, &plan),
            vec![vec!["generate", "map"], vec!["map", "print"]]
        );
        assert_eq!(
            plan.chains[0].parallelism,
            ParallelismSpec::Expr("p".into())
        );
        assert!(plan.chains[0].parallelism_expr.is_some());
    }
}
