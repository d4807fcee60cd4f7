//! Structural checks over the logical graph. Each error is spanned at the user's token and
//! says how to fix it; independent mistakes are all reported, each once.

use crate::graph::Graph;
use crate::ops::{Family, Partitioning};
use crate::parse::Job;
use crate::plan::{parallelism_spec, ParallelismSpec};

fn error(span: proc_macro2::Span, message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, message.to_string())
}

/// Checks that need only the parsed job.
pub fn check_job(job: &Job) -> Result<(), Vec<syn::Error>> {
    if job.statements.is_empty() {
        return Err(vec![error(
            job.name.span(),
            format!("the job `{}` is empty\nhelp: add a pipeline from a source to a sink, e.g. `generate(10, |i| i).print();`", job.name),
        )]);
    }
    Ok(())
}

/// Checks the graph; returns the topological order of its nodes when all is well.
pub fn check_graph(graph: &Graph) -> Result<Vec<usize>, Vec<syn::Error>> {
    let mut errors = Vec::new();
    for node in &graph.nodes {
        if let Some((expr, _)) = &node.settings.parallelism {
            match parallelism_spec(node) {
                ParallelismSpec::Fixed(0) => errors.push(error(
                    syn::spanned::Spanned::span(expr),
                    "parallelism must be at least 1\nhelp: use `.parallelism(1)` or more, or remove the setting to use the job's default",
                )),
                ParallelismSpec::Fixed(n) if n > 1 && is_non_parallel_source(node) => errors.push(error(
                    syn::spanned::Spanned::span(expr),
                    format!("`{}` is not a parallel source; it always runs at parallelism 1\nhelp: remove `.parallelism({n})`, and set the parallelism of the operators after it", node.call.name),
                )),
                _ => {}
            }
        }
        if node.spec.family == Family::Keyed {
            let keyed = node.inputs.iter().all(
                |&e| matches!(&graph.edges[e].partition, Some(p) if p.kind == Partitioning::Hash),
            );
            if !keyed {
                errors.push(error(
                    node.call.name.span(),
                    format!("`{}` needs a keyed stream, but this stream is not partitioned by key\nhelp: call `.key_by(|x| key)` right before `.{}(..)`", node.call.name, node.call.name),
                ));
            }
        }
    }
    for edge in &graph.edges {
        if let Some(p) = &edge.partition {
            if p.kind == Partitioning::Forward {
                let from = parallelism_spec(&graph.nodes[edge.from]);
                let to = parallelism_spec(&graph.nodes[edge.to]);
                if let (ParallelismSpec::Fixed(a), ParallelismSpec::Fixed(b)) = (&from, &to) {
                    if a != b {
                        errors.push(error(
                            p.call.name.span(),
                            format!("`forward` needs equal parallelism on both sides, but they are {a} and {b}\nhelp: use `.rebalance()` or `.rescale()` to connect operators of different parallelism"),
                        ));
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    graph.topological_order().map_err(|edge| {
        let edge = &graph.edges[edge];
        let span = edge.via.as_ref().map_or_else(|| graph.nodes[edge.to].call.name.span(), |via| via.span());
        let what = edge.via.as_ref().map_or_else(|| "this stream".to_string(), |via| format!("`{via}`"));
        vec![error(
            span,
            format!("{what} closes a cycle: it feeds an operator that feeds back into it\nhelp: cycles are only allowed inside an iteration; make the data flow in one direction"),
        )]
    })
}

fn is_non_parallel_source(node: &crate::graph::Node) -> bool {
    matches!(
        node.spec.family,
        Family::Source {
            parallel: false,
            ..
        }
    )
}
