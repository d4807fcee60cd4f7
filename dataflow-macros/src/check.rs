//! Structural checks over the logical graph. Each error is spanned at the user's token and
//! says how to fix it; independent mistakes are all reported, each once.

use quote::ToTokens;

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

/// For a two-input node inside an iteration: which input comes from outside it (loop
/// invariant): `Some(false)` the first, `Some(true)` the second.
pub fn static_side(graph: &Graph, n: usize) -> Option<bool> {
    let iteration = graph.nodes[n].iteration?;
    graph.nodes[n].inputs.iter().find_map(|&e| {
        let edge = &graph.edges[e];
        (graph.nodes[edge.from].iteration != Some(iteration)).then_some(edge.second_input)
    })
}

/// The rules of an iteration's body: what runs in supersteps, and how streams cross its
/// border (in through joins, out through the result only).
fn check_iteration_body(graph: &Graph, node: &crate::graph::Node) -> Option<syn::Error> {
    let name = &node.call.name;
    if let Some(head) = node
        .iteration
        .filter(|_| node.spec.name != "iteration_step")
    {
        let allowed = match node.spec.family {
            Family::Transform => !matches!(node.spec.name, "assign_timestamps" | "ingestion_time"),
            Family::Keyed | Family::Grouped | Family::Partition(_) | Family::Union => true,
            Family::Join => node.spec.name.starts_with("batch_"),
            Family::Sink => node.spec.name.starts_with("iteration_"),
            _ => false,
        };
        if !allowed {
            let what = match node.spec.family {
                Family::Source { .. } => "a source".to_string(),
                Family::Sink => "a sink".to_string(),
                Family::WindowFunction => "a window".to_string(),
                _ => format!("`{}`", node.spec.name.trim_start_matches("window_")),
            };
            return Some(error(
                name.span(),
                format!("{what} cannot run inside the body of an iteration, whose supersteps are batches without time\nhelp: inside `iterate` use record-at-a-time operators, keyed aggregates, DataSet operations and joins without windows; read other streams outside the body and join them in; sinks go after the iteration's result"),
            ));
        }
        for &e in &node.inputs {
            let from = &graph.nodes[graph.edges[e].from];
            if from.iteration != Some(head) && node.spec.family != Family::Join {
                let stream = graph.edges[e]
                    .via
                    .as_ref()
                    .map_or_else(|| from.call.name.to_string(), ToString::to_string);
                return Some(error(
                    name.span(),
                    format!("`{}` inside the iteration reads `{stream}`, a stream from outside it\nhelp: bring loop-invariant data into the body through a join (`.join({stream}).where(..).equal_to(..).apply(..)`), which keeps it for every superstep", node.call.name),
                ));
            }
        }
    }
    for &e in &node.outputs {
        let to = &graph.nodes[graph.edges[e].to];
        if node.iteration.is_some() && to.iteration != node.iteration {
            let stream = graph.edges[e]
                .via
                .as_ref()
                .map_or_else(|| node.call.name.to_string(), ToString::to_string);
            return Some(error(
                to.call.name.span(),
                format!("`{}` reads `{stream}`, a stream inside an iteration's body\nhelp: a body's streams exist per superstep; use the iteration's result (the value of `.iterate(..)`) outside it", to.call.name),
            ));
        }
    }
    None
}

/// The name of an unbounded source upstream of `node`, if any.
fn unbounded_source_before(graph: &Graph, node: &crate::graph::Node) -> Option<String> {
    let mut seen = vec![false; graph.nodes.len()];
    let mut stack: Vec<usize> = node.inputs.iter().map(|&e| graph.edges[e].from).collect();
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        let upstream = &graph.nodes[n];
        if matches!(upstream.spec.family, Family::Source { bounded: false, .. }) {
            return Some(upstream.call.name.to_string());
        }
        stack.extend(upstream.inputs.iter().map(|&e| graph.edges[e].from));
    }
    None
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
        if crate::ops::emits_at_end_of_input(node.spec.name, node.call.args.len()) {
            if let Some(source) = unbounded_source_before(graph, node) {
                let help = if node.spec.name.starts_with("batch_") {
                    "on unbounded streams, join within windows: put `.window(assigner)` right before `.apply(..)`"
                } else {
                    "use it on streams from bounded sources (`from_iter`, `generate`, `read_lines`); on an unbounded stream, use a window (`.window(..).process(..)`) or a keyed `process`"
                };
                errors.push(error(
                    node.call.name.span(),
                    format!("`{}` sees its input only when it has ended, but this stream never ends: it reads the unbounded source `{source}`\nhelp: {help}",
                        node.spec.signature),
                ));
            }
        }
        if let Some(e) = check_iteration_body(graph, node) {
            errors.push(e);
        }
        if matches!(node.spec.family, Family::Keyed | Family::Grouped) {
            let keyed = node.inputs.iter().all(
                |&e| matches!(&graph.edges[e].partition, Some(p) if p.kind == Partitioning::Hash),
            );
            if !keyed {
                errors.push(error(
                    node.call.name.span(),
                    format!("`{}` needs a keyed stream, but this stream is not partitioned by key\nhelp: call `.key_by(|x| key)` right before `.{}`",
                        node.call.name, node.spec.signature),
                ));
            }
        }
    }
    // The input a broadcast join leaves in place must reach each subtask's share once, as
    // plain records: a partitioning in its binding would repeat it or key it.
    for node in &graph.nodes {
        let name = node.spec.name;
        if !name.starts_with("batch_broadcast_") {
            continue;
        }
        let broadcast_first = name.starts_with("batch_broadcast_first_");
        for &e in &node.inputs {
            let edge = &graph.edges[e];
            if edge.second_input != broadcast_first {
                continue;
            }
            if let Some(p) = &edge.partition {
                if matches!(p.kind, Partitioning::Hash | Partitioning::Broadcast) {
                    errors.push(error(
                        p.call.name.span(),
                        format!("`{}` partitions the input that this broadcast join leaves where it is: every subtask must see only its own share of it, as plain records\nhelp: remove `.{}({})` from this stream (the join's keys come from `where` and `equal_to`), or use `JoinHint::Repartition`",
                            p.call.name, p.call.name, if p.call.args.is_empty() { "" } else { ".." }),
                    ));
                }
            }
        }
    }
    // A uid is the operator's identity for its state across versions: it must be unique.
    let mut uids: std::collections::HashMap<String, &syn::LitStr> =
        std::collections::HashMap::new();
    for node in &graph.nodes {
        if let Some(uid) = &node.settings.uid {
            if uids.insert(uid.value(), uid).is_some() {
                errors.push(error(
                    uid.span(),
                    format!("the uid \"{}\" is given to two operators\nhelp: a uid identifies one operator's state across versions of the job; give each operator its own", uid.value()),
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
    let order = graph.topological_order().map_err(|edge| {
        let edge = &graph.edges[edge];
        let span = edge.via.as_ref().map_or_else(|| graph.nodes[edge.to].call.name.span(), |via| via.span());
        let what = edge.via.as_ref().map_or_else(|| "this stream".to_string(), |via| format!("`{via}`"));
        vec![error(
            span,
            format!("{what} closes a cycle: it feeds an operator that feeds back into it\nhelp: cycles are only allowed inside an iteration; make the data flow in one direction"),
        )]
    })?;
    let errors = check_time_and_state(graph, &order);
    if errors.is_empty() {
        Ok(order)
    } else {
        Err(errors)
    }
}

/// Whether the stream into node `n` is keyed: `Some(true)` if every input is partitioned by
/// key, `Some(false)` if none is, `None` if the inputs disagree.
pub fn keyed_input(graph: &Graph, n: usize) -> Option<bool> {
    let hashed =
        |&e: &usize| matches!(&graph.edges[e].partition, Some(p) if p.kind == Partitioning::Hash);
    let inputs = &graph.nodes[n].inputs;
    if inputs.iter().all(hashed) {
        Some(true)
    } else if inputs.iter().any(hashed) {
        None
    } else {
        Some(false)
    }
}

/// What a `co_process` is, from how its two inputs are partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoKind {
    /// Neither input keyed: a `CoProcessFunction`.
    Plain,
    /// Both inputs keyed: a `KeyedCoProcessFunction` with shared keyed state.
    Keyed,
    /// Keyed first input, broadcast second input: a `KeyedBroadcastProcessFunction`.
    KeyedBroadcast,
}

/// The kind of the two-input operator `n`, or `None` if its inputs do not make one.
pub fn co_kind(graph: &Graph, n: usize) -> Option<CoKind> {
    let side = |second: bool| -> Vec<Option<Partitioning>> {
        graph.nodes[n]
            .inputs
            .iter()
            .map(|&e| &graph.edges[e])
            .filter(|e| e.second_input == second)
            .map(|e| e.partition.as_ref().map(|p| p.kind))
            .collect()
    };
    let (first, second) = (side(false), side(true));
    let all =
        |side: &[Option<Partitioning>], kind: Partitioning| side.iter().all(|p| *p == Some(kind));
    let none_hashed =
        |side: &[Option<Partitioning>]| side.iter().all(|p| *p != Some(Partitioning::Hash));
    if first.is_empty() || second.is_empty() {
        return None;
    }
    if all(&first, Partitioning::Hash) && all(&second, Partitioning::Hash) {
        Some(CoKind::Keyed)
    } else if all(&first, Partitioning::Hash) && all(&second, Partitioning::Broadcast) {
        Some(CoKind::KeyedBroadcast)
    } else if none_hashed(&first) && none_hashed(&second) {
        Some(CoKind::Plain)
    } else {
        None
    }
}

/// Whether a window assigner is written as one of the processing-time ones (which need no
/// timestamps): the macro sees the expression, not its type.
fn processing_time_assigner(assigner: &syn::Expr) -> bool {
    let text = assigner.to_token_stream().to_string();
    // Count windows (made by `count_window`) and global windows need no time at all.
    text.contains("ProcessingTime")
        || text.contains("CountWindows")
        || text.contains("GlobalWindows")
}

/// `side_output(TAG)` reads the `process` right before it, inside its chain, once per tag.
fn check_side_output(graph: &Graph, n: usize) -> Option<syn::Error> {
    let node = &graph.nodes[n];
    let name = &node.call.name;
    let producer = match node.inputs.as_slice() {
        [e] if graph.edges[*e].partition.is_none() => Some(graph.edges[*e].from),
        _ => None,
    };
    let emits_side_outputs = |p: usize| {
        let producer = &graph.nodes[p];
        matches!(
            producer.spec.family,
            Family::Process | Family::WindowFunction | Family::Join
        ) || producer.call.name == "co_process"
    };
    let Some(producer) = producer.filter(|&p| emits_side_outputs(p)) else {
        return Some(error(
            name.span(),
            "`side_output` reads the side output of a `process` or `co_process`, but the stream before it does not come straight from one\nhelp: write `let main = stream.process(f);` and read `main.side_output(TAG)`, with no partitioning or `union` in between",
        ));
    };
    let settings = &node.settings;
    if let Some((_, span)) = &settings.parallelism {
        return Some(error(
            *span,
            "a side output runs with its `process` operator and has its parallelism\nhelp: set the parallelism on the `process`, or on the operator after `side_output`",
        ));
    }
    if settings.start_new_chain || settings.disable_chaining {
        return Some(error(
            name.span(),
            "a side output is read inside its `process` operator's chain, so it cannot start a new one\nhelp: put `.start_new_chain()` on the operator after `side_output`",
        ));
    }
    let tag = node.call.args[0].to_token_stream().to_string();
    let first = graph.nodes[producer]
        .outputs
        .iter()
        .map(|&e| graph.edges[e].to)
        .find(|&other| {
            graph.nodes[other].spec.family == Family::SideOutput
                && graph.nodes[other].call.args[0]
                    .to_token_stream()
                    .to_string()
                    == tag
        });
    (first != Some(n)).then(|| {
        error(
            name.span(),
            format!("the side output `{tag}` of this `process` is read twice\nhelp: read it once, `let side = main.side_output({tag});`, and use `side` in several statements"),
        )
    })
}

/// Event time and keyed state: what needs timestamps gets a stream that has them, keyed
/// settings sit on keyed operators, ingestion time is taken at the source.
fn check_time_and_state(graph: &Graph, order: &[usize]) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    let mut timestamped = vec![false; graph.nodes.len()];
    for &n in order {
        let node = &graph.nodes[n];
        let inputs_timestamped = !node.inputs.is_empty()
            && node
                .inputs
                .iter()
                .all(|&e| timestamped[graph.edges[e].from]);
        timestamped[n] = match node.call.name.to_string().as_str() {
            "assign_timestamps" | "ingestion_time" => true,
            _ => inputs_timestamped,
        };
        if node.call.name == "ingestion_time" {
            let at_source = match node.inputs.as_slice() {
                [e] => {
                    let edge = &graph.edges[*e];
                    edge.partition.is_none()
                        && matches!(graph.nodes[edge.from].spec.family, Family::Source { .. })
                }
                _ => false,
            };
            if !at_source {
                errors.push(error(
                    node.call.name.span(),
                    "`ingestion_time` stamps records as they enter the job, so it must come right after a source\nhelp: move `.ingestion_time()` right after the source call",
                ));
            }
        }
        if node.spec.family == Family::SideOutput {
            errors.extend(check_side_output(graph, n));
        }
        if let Some(info) = &node.window {
            // Errors point at the assigner, the argument of `window(..)`.
            let span = syn::spanned::Spanned::span(&info.assigner);
            if keyed_input(graph, n) != Some(true) {
                let window = if info.count { "count_window" } else { "window" };
                errors.push(error(
                    span,
                    format!("`{window}` needs a keyed stream, but this stream is not partitioned by key\nhelp: call `.key_by(|x| key)` right before `.{window}(..)`"),
                ));
            } else if !inputs_timestamped && !processing_time_assigner(&info.assigner) {
                errors.push(error(
                    span,
                    "an event-time window needs timestamps, but this stream has none\nhelp: call `.assign_timestamps(|x| ts, WatermarkStrategy::bounded_out_of_orderness(..))` (or `.ingestion_time()`) after the source",
                ));
            }
        }
        if node.spec.name == "interval_join" {
            let name = node.call.name.span();
            if co_kind(graph, n) != Some(CoKind::Keyed) {
                errors.push(error(
                    name,
                    "`interval_join` joins two keyed streams, but not both of these are partitioned by key\nhelp: call `.key_by(|a| key)` before `.interval_join(other)`, and define `other` with `.key_by(|b| key)` at its end",
                ));
            } else if !inputs_timestamped {
                errors.push(error(
                    name,
                    "`interval_join` compares timestamps, but not both streams have them\nhelp: call `.assign_timestamps(|x| ts, strategy)` on each stream after its source",
                ));
            }
        }
        let keyed = keyed_input(graph, n);
        let co = (node.spec.family == Family::Co).then(|| co_kind(graph, n));
        if node.call.name == "co_process" && co == Some(None) {
            errors.push(error(
                node.call.name.span(),
                "`co_process` needs both inputs keyed (`key_by` on each), the first keyed and the second `broadcast()`, or neither keyed\nhelp: partition both streams with `.key_by(..)` before `connect`, or make the second one `.broadcast()`",
            ));
        }
        if node.spec.family == Family::Process && keyed.is_none() {
            errors.push(error(
                node.call.name.span(),
                "`process` is fed by both keyed and non-keyed streams\nhelp: partition every input the same way: `.key_by(..)` each stream before the `union`, or none",
            ));
        }
        if let Some((_, event_time, setting)) = &node.settings.state_ttl {
            let keyed_state = (node.spec.family == Family::Process && keyed == Some(true))
                || (node.call.name == "co_process" && co == Some(Some(CoKind::Keyed)));
            if !keyed_state {
                errors.push(error(
                    setting.span(),
                    format!("`{setting}` configures keyed state, but `{}` has none\nhelp: put `.{setting}(..)` right after a `.process(..)` that follows `.key_by(..)`, or after a `co_process` of two keyed streams", node.call.name),
                ));
            } else if *event_time && !inputs_timestamped {
                errors.push(error(
                    setting.span(),
                    format!("`{setting}` needs event time, but this stream has no timestamps\nhelp: call `.assign_timestamps(|x| ts, WatermarkStrategy::bounded_out_of_orderness(..))` (or `.ingestion_time()`) after the source, or use `.state_ttl(..)` for processing time"),
                ));
            }
        }
    }
    errors
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

#[cfg(test)]
mod tests {
    use crate::parse::Jobs;

    /// The messages of the errors the graph builder and the checker report for a job.
    fn errors(source: &str) -> Vec<String> {
        let jobs: Jobs = syn::parse_str(source).unwrap();
        let job = &jobs.jobs[0];
        let result = super::check_job(job)
            .and_then(|()| crate::graph::build(job))
            .and_then(|graph| super::check_graph(&graph).map(|_| ()));
        match result {
            Ok(()) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn one_error(source: &str, expected: &str) {
        let found = errors(source);
        assert_eq!(found.len(), 1, "expected one error, found {found:?}");
        assert!(
            found[0].contains(expected),
            "`{}` does not contain `{expected}`",
            found[0]
        );
        assert!(
            found[0].contains("help: "),
            "no help line in `{}`",
            found[0]
        );
    }

    #[test]
    fn valid_jobs_have_no_errors() {
        assert!(errors(
            "job j() { let a = generate(3, |i| i); a.key_by(|x| *x).sum().print(); a.discard(); }"
        )
        .is_empty());
        one_error(
            "job j() { generate(3, |i| i).map(|x| x).parallelism(2).parallelism(3).print(); }",
            "`parallelism` is set twice",
        );
        one_error(
            "job j() { generate(3, |i| i).map(|x| x).uid(\"a\").map(|x| x).uid(\"a\").print(); }",
            "is given to two operators",
        );
        one_error(
            "job j() { let a = b; let b = a; generate(1, |i| i).print(); }",
            "cycle",
        );
        // Settings may follow a sink: they configure the sink.
        assert!(
            errors("job j() { generate(3, |i| i).print().name(\"out\").parallelism(1); }")
                .is_empty()
        );
        // Names may be used before their definition.
        assert!(errors("job j() { a.print(); let a = generate(3, |i| i); }").is_empty());
    }

    #[test]
    fn each_structural_mistake_gives_one_error() {
        one_error("job j() { }", "the job `j` is empty");
        one_error(
            "job j() { generate(3, |i| i).mapp(|x| x).print(); }",
            "did you mean `map`?",
        );
        one_error(
            "job j() { generate(3, |i| i).zzzzzz().print(); }",
            "unknown operator `zzzzzz`",
        );
        one_error(
            "job j() { generate(3, |i| i).count().print(); }",
            "`count` needs a keyed stream",
        );
        one_error(
            "job j() { generate(3, |i| i).map(|x| x); }",
            "reaches no sink",
        );
        one_error(
            "job j() { let a = generate(3, |i| i); }",
            "`a` is never used",
        );
        one_error(
            "job j() { let a = generate(3, |i| i); let a = generate(3, |i| i); a.print(); }",
            "defined twice",
        );
        one_error(
            "job j() { let abc = generate(3, |i| i); abd.print(); abc.print(); }",
            "did you mean `abc`?",
        );
        one_error(
            "job j() { generate(3, |i| i).parallelism(0).print(); }",
            "at least 1",
        );
        one_error(
            "job j() { generate(3, |i| i).map().print(); }",
            "`map` takes 1 argument, but 0 were given",
        );
        one_error(
            "job j() { generate(3, |i| i).print().map(|x| x); }",
            "comes after the sink `print`",
        );
        one_error(
            "job j() { let a = b.map(|x| x); let b = a.map(|x| x); a.print(); b.print(); generate(1, |i| i).print(); }",
            "cycle",
        );
        one_error(
            "job j() { let a = generate(3, |i| i); a.generate(3, |i| i).print(); }",
            "is a source",
        );
        one_error("job j() { map(|x| x).print(); }", "is not a source");
        one_error(
            "job j() { generate(3, |i| i).key_by(|x| *x).rebalance().print(); }",
            "already partitioned",
        );
        one_error(
            "job j() { generate(3, |i| i).union(generate(1, |i| i)).print(); }",
            "`union` takes names",
        );
        one_error(
            "job j() { generate(3, |i| i).key_by(|x| *x).parallelism(2).print(); }",
            "configures the operator before it",
        );
        one_error(
            "job j() { generate(3, |i| i).parallelism(2).forward().map(|x| x).parallelism(3).print(); }",
            "`forward` needs equal parallelism",
        );
        one_error(
            "job j() { from_iter(v).parallelism(4).print(); }",
            "not a parallel source",
        );
        one_error(
            "job j() { let a = generate(3, |i| i).print(); }",
            "produces no stream",
        );
        one_error("job j() { let a = generate(3, |i| i).key_by(|x| *x); a.key_by(|x| *x).count().print(); }", "already partitioned");
    }

    #[test]
    fn follow_on_errors_are_suppressed() {
        // A failed `let` does not make its later uses "undefined".
        one_error(
            "job j() { let a = generate(3, |i| i).mapp(|x| x); a.print(); }",
            "did you mean `map`?",
        );
        // A misspelled use does not make the intended stream "unused".
        one_error(
            "job j() { let numbers = generate(3, |i| i); numbrs.print(); }",
            "did you mean `numbers`?",
        );
        // A stream passed wrongly to `union` is not "unused" as well.
        one_error(
            "job j() { let a = generate(3, |i| i); let b = generate(3, |i| i); a.union(b.map(|x| x)).print(); }",
            "`union` takes names",
        );
        one_error(
            "job j() { generat(3, |i| i).print(); }",
            "unknown source `generat`",
        );
    }

    #[test]
    fn time_state_connect_and_side_output_mistakes() {
        let keyed_process =
            "generate(3, |i| i).key_by(|x| *x).process(|k, s: &mut u64, x, ctx| ctx.output(x))";
        assert!(errors(&format!(
            "job j() {{ {keyed_process}.state_ttl(d).print(); }}"
        ))
        .is_empty());
        one_error(
            &format!("job j() {{ {keyed_process}.state_ttl_event_time(d).print(); }}"),
            "needs event time, but this stream has no timestamps",
        );
        assert!(errors("job j() { generate(3, |i| i).assign_timestamps(|x| *x as i64, s).key_by(|x| *x).process(f).state_ttl_event_time(d).print(); }").is_empty());
        // Timestamps survive transformations and a union of stamped streams, not an unstamped input.
        assert!(errors("job j() { let a = generate(3, |i| i).ingestion_time(); let b = generate(3, |i| i).assign_timestamps(|x| 0, s); a.map(|x| x).union(b).key_by(|x| *x).process(f).state_ttl_event_time(d).print(); }").is_empty());
        one_error(
            "job j() { let a = generate(3, |i| i).ingestion_time(); let b = generate(3, |i| i); a.union(b).key_by(|x| *x).process(f).state_ttl_event_time(d).print(); }",
            "no timestamps",
        );
        one_error(
            "job j() { generate(3, |i| i).map(|x| x).state_ttl(d).print(); }",
            "configures keyed state, but `map` has none",
        );
        one_error(
            "job j() { generate(3, |i| i).rebalance().ingestion_time().print(); }",
            "right after a source",
        );
        one_error(
            "job j() { let a = generate(3, |i| i); let b = generate(3, |i| i); a.key_by(|x| *x).union(b).process(f).print(); }",
            "both keyed and non-keyed",
        );
        // connect
        let two = "let a = generate(3, |i| i); let b = generate(3, |i| i);";
        assert!(errors(&format!(
            "job j() {{ {two} a.connect(b).co_map(|x| x, |y| y).print(); }}"
        ))
        .is_empty());
        assert!(errors(&format!("job j() {{ {two} let kb = b.key_by(|y| *y); a.key_by(|x| *x).connect(kb).co_process(f).state_ttl(d).print(); }}")).is_empty());
        assert!(errors(&format!("job j() {{ {two} let bb = b.broadcast(); a.key_by(|x| *x).connect(bb).co_process(f).print(); }}")).is_empty());
        one_error(
            &format!("job j() {{ {two} a.co_map(|x| x, |y| y).print(); b.print(); }}"),
            "needs two connected streams",
        );
        one_error(
            &format!("job j() {{ {two} a.connect(b).map(|x| x).print(); }}"),
            "cannot follow `connect`",
        );
        one_error(
            &format!("job j() {{ {two} let rb = b.rebalance(); a.key_by(|x| *x).connect(rb).co_process(f).print(); }}"),
            "`co_process` needs both inputs keyed",
        );
        one_error(
            &format!("job j() {{ {two} a.connect(b).co_map(|x| x, |y| y).state_ttl(d).print(); }}"),
            "configures keyed state",
        );
        // side outputs
        assert!(errors("job j() { let m = generate(3, |i| i).process(f); m.print(); m.side_output(T).print(); m.side_output(U).print(); }").is_empty());
        one_error(
            "job j() { generate(3, |i| i).map(|x| x).side_output(T).print(); }",
            "does not come straight from one",
        );
        one_error(
            "job j() { let m = generate(3, |i| i).process(f); m.side_output(T).print(); m.side_output(T).print(); }",
            "is read twice",
        );
        one_error(
            "job j() { generate(3, |i| i).process(f).side_output(T).parallelism(2).print(); }",
            "runs with its `process` operator",
        );
    }

    #[test]
    fn independent_mistakes_are_all_reported() {
        let found = errors("job j() { generate(3, |i| i).mapp(|x| x).print(); generate(3, |i| i).count().print(); }");
        assert_eq!(
            found.len(),
            1,
            "graph errors stop before the checks: {found:?}"
        );
        let found = errors("job j() { generate(3, |i| i).mapp(|x| x).print(); generate(3, |i| i).fliter(|x| true).print(); }");
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
