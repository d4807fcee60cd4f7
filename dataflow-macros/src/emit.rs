//! Code generation: one module per job, holding the static plan, `run` and `main`.
//!
//! `run` wires the chains in plan order. Each chain is built front to back with the runtime's
//! `Chain` builder, so every closure's argument type is the type flowing at that point and
//! rustc reports closure errors at the user's tokens; every generated call carries the span
//! of the DSL operator it comes from. Internal names use mixed-site hygiene so they never
//! clash with the user's names.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{Expr, Ident};

use crate::check::CoKind;
use crate::graph::Graph;
use crate::ops::{Family, Partitioning};
use crate::parse::Job;
use crate::plan::{ParallelismSpec, Plan};

fn rt() -> TokenStream {
    quote!(::dataflow::runtime)
}

fn internal(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// Operator ids: one per node, then one per partitioning call that runs a user function.
struct Operators {
    names: Vec<String>,
    kinds: Vec<&'static str>,
    uids: Vec<Option<String>>,
    chains: Vec<usize>,
    /// Whether each can run at parallelism above 1 (from the operator table).
    parallel: Vec<bool>,
    /// Partition use id -> operator id.
    partition_ops: HashMap<usize, usize>,
}

fn operators(graph: &Graph, plan: &Plan) -> Operators {
    let mut chain_of = vec![0; graph.nodes.len()];
    for (c, chain) in plan.chains.iter().enumerate() {
        for &n in &chain.nodes {
            chain_of[n] = c;
        }
    }
    let mut kinds: Vec<&'static str> = Vec::new();
    let mut user_names: Vec<Option<String>> = Vec::new();
    let mut uids = Vec::new();
    let mut chains = Vec::new();
    let mut parallel = Vec::new();
    for (id, node) in graph.nodes.iter().enumerate() {
        kinds.push(node.spec.name);
        parallel.push(!matches!(
            node.spec.family,
            Family::Source {
                parallel: false,
                ..
            }
        ));
        user_names.push(node.settings.name.as_ref().map(syn::LitStr::value));
        uids.push(node.settings.uid.as_ref().map(syn::LitStr::value));
        chains.push(chain_of[id]);
    }
    let mut partition_ops = HashMap::new();
    for edge in &graph.edges {
        if let Some(p) = &edge.partition {
            if matches!(p.kind, Partitioning::Hash | Partitioning::Custom)
                && !partition_ops.contains_key(&p.id)
            {
                partition_ops.insert(p.id, kinds.len());
                kinds.push(if p.kind == Partitioning::Hash {
                    "key_by"
                } else {
                    "partition_custom"
                });
                user_names.push(None);
                uids.push(None);
                chains.push(chain_of[edge.from]);
                parallel.push(true);
            }
        }
    }
    // Default names are the operator's own name, numbered when it occurs more than once.
    let mut total: HashMap<&str, usize> = HashMap::new();
    for (kind, user) in kinds.iter().zip(&user_names) {
        if user.is_none() {
            *total.entry(kind).or_default() += 1;
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let names = kinds
        .iter()
        .zip(user_names)
        .map(|(kind, user)| {
            if let Some(user) = user {
                return user;
            }
            let n = seen.entry(kind).or_default();
            *n += 1;
            if total[kind] > 1 {
                format!("{kind}_{n}")
            } else {
                kind.to_string()
            }
        })
        .collect();
    Operators {
        names,
        kinds,
        uids,
        chains,
        parallel,
        partition_ops,
    }
}

fn spec_tokens(spec: &ParallelismSpec) -> TokenStream {
    let rt = rt();
    match spec {
        ParallelismSpec::Default => quote!(#rt::plan::ParallelismSpec::Default),
        ParallelismSpec::Fixed(n) => quote!(#rt::plan::ParallelismSpec::Fixed(#n)),
        ParallelismSpec::Expr(e) => quote!(#rt::plan::ParallelismSpec::Expr(#e)),
    }
}

fn plan_static(job: &Job, graph: &Graph, plan: &Plan, ops: &Operators) -> TokenStream {
    let rt = rt();
    let name = job.name.to_string();
    let description = doc_text(job);
    let operators = (0..ops.names.len()).map(|id| {
        let (name, kind, chain) = (&ops.names[id], ops.kinds[id], ops.chains[id]);
        let uid = match &ops.uids[id] {
            Some(uid) => quote!(::core::option::Option::Some(#uid)),
            None => quote!(::core::option::Option::None),
        };
        let parallel = ops.parallel[id];
        quote!(#rt::plan::OperatorInfo { name: #name, kind: #kind, uid: #uid, chain: #chain, parallel: #parallel })
    });
    let chains = plan.chains.iter().map(|chain| {
        let nodes = &chain.nodes;
        let parallelism = spec_tokens(&chain.parallelism);
        let inputs = chain.inputs.iter().map(|&x| {
            let exchange = &plan.exchanges[x];
            let from = exchange.from_chain;
            let variant = format_ident!("{}", exchange.partitioning.variant());
            let operator = match graph.edges[exchange.edge].partition.as_ref().and_then(|p| ops.partition_ops.get(&p.id)) {
                Some(op) => quote!(::core::option::Option::Some(#op)),
                None => quote!(::core::option::Option::None),
            };
            let edge = &graph.edges[exchange.edge];
            let second_input = edge.second_input;
            let chosen_at_start = graph.nodes[edge.to].chooses_strategy;
            quote!(#rt::plan::ChainInput { from: #from, partitioning: #rt::plan::Partitioning::#variant, operator: #operator, second_input: #second_input, chosen_at_start: #chosen_at_start })
        });
        // The operators each one feeds inside the chain (the chain is a tree).
        let successors = nodes.iter().map(|&n| {
            let inside = graph.nodes[n].outputs.iter().map(|&e| graph.edges[e].to).filter(|to| nodes.contains(to));
            quote!(&[#(#inside),*])
        });
        quote!(#rt::plan::ChainInfo {
            operators: &[#(#nodes),*],
            successors: &[#(#successors),*],
            parallelism: #parallelism,
            inputs: &[#(#inputs),*],
        })
    });
    let bounded = plan.bounded;
    quote! {
        /// The physical plan `dataflow!` computed for this job.
        pub static PLAN: #rt::plan::JobPlan = #rt::plan::JobPlan {
            name: #name,
            description: #description,
            operators: &[#(#operators),*],
            chains: &[#(#chains),*],
            bounded: #bounded,
        };
    }
}

fn doc_text(job: &Job) -> String {
    job.attrs
        .iter()
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The body of `run`: wiring every chain.
fn wiring(graph: &Graph, plan: &Plan, ops: &Operators) -> TokenStream {
    let rt = rt();
    let job = internal("job");
    let mut wiring = Wiring {
        graph,
        plan,
        ops,
        out: TokenStream::new(),
        defined: Defined::default(),
        exchange_of_edge: plan
            .exchanges
            .iter()
            .enumerate()
            .map(|(x, e)| (e.edge, x))
            .collect(),
        chain_of_node: plan
            .chains
            .iter()
            .enumerate()
            .flat_map(|(c, chain)| chain.nodes.iter().map(move |&n| (n, c)))
            .collect(),
    };
    // Joins whose strategy the plan chooses at start: their input partitioners share a cell
    // that `choose_join` fills once every source is wired (see `choose_joins`).
    for (n, node) in graph.nodes.iter().enumerate() {
        if node.chooses_strategy {
            let cell = internal(&format!("join_strategy_{n}"));
            wiring
                .out
                .extend(quote!(let #cell = #rt::join::JoinStrategyCell::new();));
        }
    }
    for (c, chain) in plan.chains.iter().enumerate() {
        if let Some(expr) = &chain.parallelism_expr {
            let text = expr.to_string();
            wiring.out.extend(quote!(
                #job.set_parallelism(#c, #rt::job::parallelism_value(#expr, #text)?)?;
            ));
        }
    }
    for c in upstream_first(plan) {
        let chain = &plan.chains[c];
        let head = chain.nodes[0];
        let head_node = &graph.nodes[head];
        if matches!(head_node.spec.family, Family::Source { .. }) {
            let source_var = internal(&format!("source_{c}"));
            let name = &head_node.call.name;
            let args = &head_node.call.args;
            wiring.out.extend(
                quote_spanned!(name.span()=> let #source_var = #rt::io::#name(#head, #(#args),*);),
            );
            // The common case, one forward consumer, fuses straight into the chain; a source
            // with several consumers or exchanges feeds them through its chain's end.
            let (chain_var, end_var) = match wiring.single_chained_successor(head) {
                Some(first) => wiring.segment(first, &source_var),
                None => {
                    let chain_var = internal(&format!("segment_source_{c}"));
                    wiring.out.extend(
                        quote!(let #chain_var = #rt::operator::Chain::fed_by(&#source_var);),
                    );
                    let end = wiring.outputs_end(head, &chain_var);
                    let end_var = internal(&format!("end_source_{c}"));
                    wiring.out.extend(quote!(let #end_var = #end;));
                    (chain_var, end_var)
                }
            };
            wiring
                .out
                .extend(quote!(#job.spawn_source_chain(#c, #source_var, #chain_var, #end_var)?;));
        } else {
            if head_node.spec.name == "iterate_delta" {
                wiring.delta_head(c, head);
                continue;
            }
            let first = internal(&format!("exchange_{}", chain.inputs[0]));
            // The first input fixes the chain's input type; a `union`'s other inputs go through
            // the typed guard, spanned at the name the user passed to `union`. The guards come
            // before the chain: a two-input operator's closures need the second input's type.
            let mut others = Vec::new();
            for &x in &chain.inputs[1..] {
                let span = graph.edges[plan.exchanges[x].edge]
                    .via
                    .as_ref()
                    .map_or_else(Span::call_site, Ident::span);
                let located = Span::mixed_site().located_at(span);
                let var = Ident::new(&format!("exchange_{x}"), located);
                let first = Ident::new(&format!("exchange_{}", chain.inputs[0]), located);
                let guarded = internal(&format!("union_{x}"));
                wiring.out.extend(
                    quote_spanned!(span=> let #guarded = #rt::job::union_input(&#first, &mut #var);),
                );
                others.push(guarded);
            }
            if head_node.spec.family == Family::Iterate {
                wiring.iteration_head(c, head, &first, &others);
                continue;
            }
            let (chain_var, end_var) = wiring.segment(head, &first);
            wiring.out.extend(quote!(
                #job.spawn_input_chain(#c, &mut [&mut #first, #(#others),*], #chain_var, #end_var)?;
            ));
        }
    }
    let choices = choose_joins(graph, &wiring.chain_of_node);
    wiring.out.extend(choices);
    wiring.out
}

/// For each join whose strategy the plan chooses at start, the call that chooses it from
/// the estimated sizes of the source chains upstream of each input.
fn choose_joins(graph: &Graph, chain_of_node: &HashMap<usize, usize>) -> TokenStream {
    let rt = rt();
    let job = internal("job");
    let mut out = TokenStream::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        if !node.chooses_strategy {
            continue;
        }
        let [first, second] = [false, true].map(|second| {
            let sources = upstream_sources(
                graph,
                node.inputs
                    .iter()
                    .filter(|&&e| graph.edges[e].second_input == second)
                    .copied(),
            );
            match sources {
                Some(sources) => {
                    let mut chains: Vec<usize> = sources
                        .iter()
                        .filter_map(|source| chain_of_node.get(source).copied())
                        .collect();
                    chains.sort_unstable();
                    chains.dedup();
                    quote!(::core::option::Option::Some(&[#(#chains),*]))
                }
                None => quote!(::core::option::Option::None),
            }
        });
        let allowed = match node.spec.name {
            "batch_left_outer_join" => quote!(Second),
            "batch_right_outer_join" => quote!(First),
            _ => quote!(Either),
        };
        let cell = internal(&format!("join_strategy_{n}"));
        let chain = chain_of_node[&n];
        out.extend(quote!(
            #job.choose_join(&#cell, #n, #chain, [#first, #second], #rt::join::BroadcastAllowed::#allowed);
        ));
    }
    out
}

/// The source nodes upstream of `edges`, if every operator between them and the edges emits
/// at most one record per record it receives (so the sources' size bounds the stream's);
/// `None` if one may emit more (`flat_map`, a join, a window, a process function, ...).
fn upstream_sources(graph: &Graph, edges: impl Iterator<Item = usize>) -> Option<Vec<usize>> {
    let mut seen = vec![false; graph.nodes.len()];
    let mut stack: Vec<usize> = edges.map(|e| graph.edges[e].from).collect();
    let mut sources = Vec::new();
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        let node = &graph.nodes[n];
        match node.spec.family {
            Family::Source { .. } => sources.push(n),
            _ if matches!(
                node.spec.name,
                "map"
                    | "filter"
                    | "assign_timestamps"
                    | "ingestion_time"
                    | "reduce"
                    | "sum"
                    | "min"
                    | "max"
                    | "count"
                    | "min_by"
                    | "max_by"
                    | "distinct"
                    | "first"
                    | "sort_partition"
            ) => {}
            _ => return None,
        }
        stack.extend(node.inputs.iter().map(|&e| graph.edges[e].from));
    }
    Some(sources)
}

/// The chains in an order where every chain comes after the chains feeding it, so that
/// each input's record type is known (from the code feeding it) before the chain's closures
/// are type-checked: a two-input operator's closures need both inputs' types.
fn upstream_first(plan: &Plan) -> Vec<usize> {
    let mut done = vec![false; plan.chains.len()];
    let mut order = Vec::with_capacity(plan.chains.len());
    while order.len() < plan.chains.len() {
        let before = order.len();
        for (c, chain) in plan.chains.iter().enumerate() {
            let ready = chain
                .inputs
                .iter()
                .all(|&x| done[plan.exchanges[x].from_chain]);
            if !done[c] && ready {
                done[c] = true;
                order.push(c);
            }
        }
        if order.len() == before {
            // A cycle (rejected earlier): keep the plan's order for the rest.
            order.extend((0..plan.chains.len()).filter(|&c| !done[c]));
            break;
        }
    }
    order
}

/// State of the code generation of `run`'s body.
struct Wiring<'a> {
    graph: &'a Graph,
    plan: &'a Plan,
    ops: &'a Operators,
    out: TokenStream,
    defined: Defined,
    exchange_of_edge: HashMap<usize, usize>,
    chain_of_node: HashMap<usize, usize>,
}

impl Wiring<'_> {
    /// The chain of a delta iteration's head (node `head`): its meeting point, its solution
    /// set, its two feedback exchanges (deltas and next workset), and its subtasks.
    fn delta_head(&mut self, c: usize, head: usize) {
        let rt = rt();
        let job = internal("job");
        let node = &self.graph.nodes[head];
        let body_end = |name: &str| {
            self.graph
                .nodes
                .iter()
                .position(|n| n.spec.name == name && n.iteration == Some(head))
                .expect("a delta iteration ends in a delta and a next workset")
        };
        let (delta_chain, workset_chain) = (
            self.chain_of_node[&body_end("iteration_delta")],
            self.chain_of_node[&body_end("iteration_feedback")],
        );
        // The input exchanges: the initial solution set, and (the second input) the workset.
        let input = |second: bool| {
            let x = self.plan.chains[c]
                .inputs
                .iter()
                .copied()
                .find(|&x| self.graph.edges[self.plan.exchanges[x].edge].second_input == second)
                .expect("a delta iteration has a solution set and a workset");
            internal(&format!("exchange_{x}"))
        };
        let (solution, workset) = (input(false), input(true));
        let sync = internal(&format!("iteration_sync_{head}"));
        let solution_set = internal(&format!("iteration_solution_{head}"));
        let delta = internal(&format!("iteration_delta_{head}"));
        let next_workset = internal(&format!("iteration_feedback_{head}"));
        let feed = internal(&format!("iteration_feed_{head}"));
        let (max, key) = (&node.call.args[1], &node.call.args[2]);
        let name = &node.call.name;
        self.out.extend(quote_spanned!(name.span()=>
            let #sync = #rt::iterate::IterationSync::new(#rt::iterate::supersteps(#max)?, false);
            let #solution_set = #rt::delta::solution_set(&#solution, #key);
            let mut #delta = #job.connect_feedback(&#solution, #delta_chain, #c)?;
            let mut #next_workset = #job.connect_feedback(&#workset, #workset_chain, #c)?;
            let #feed = #rt::delta::delta_head_feed(&#solution, &#workset);
        ));
        let (chain_var, end_var) = self.segment(head, &feed);
        self.out.extend(quote!(
            #job.spawn_delta_head(#c, &mut #solution, &mut #workset, &mut #delta, &mut #next_workset, #chain_var, #end_var, &#sync, &#solution_set)?;
        ));
    }

    /// The chain of an iteration head (node `head`, fed by the exchange `first` and the
    /// union inputs `others`): its meeting point, its feedback exchange (created here, before
    /// the body's chains that send into it), and its subtasks.
    fn iteration_head(&mut self, c: usize, head: usize, first: &Ident, others: &[Ident]) {
        let rt = rt();
        let job = internal("job");
        let node = &self.graph.nodes[head];
        let body_end = |name: &str| {
            self.graph
                .nodes
                .iter()
                .position(|n| n.spec.name == name && n.iteration == Some(head))
        };
        let tail = body_end("iteration_feedback").expect("an iteration has a feedback sink");
        let has_criterion = body_end("iteration_criterion").is_some();
        let tail_chain = self.chain_of_node[&tail];
        let sync = internal(&format!("iteration_sync_{head}"));
        let feedback = internal(&format!("iteration_feedback_{head}"));
        let feed = internal(&format!("iteration_feed_{head}"));
        let max = &node.call.args[0];
        let name = &node.call.name;
        self.out.extend(quote_spanned!(name.span()=>
            let #sync = #rt::iterate::IterationSync::new(#rt::iterate::supersteps(#max)?, #has_criterion);
            let mut #feedback = #job.connect_feedback(&#first, #tail_chain, #c)?;
            let #feed = #rt::iterate::head_feed(&#first);
        ));
        let (chain_var, end_var) = self.segment(head, &feed);
        self.out.extend(quote!(
            #job.spawn_iteration_head(#c, &mut [&mut #first, #(#others),*], &mut #feedback, #chain_var, #end_var, &#sync)?;
        ));
    }

    /// The node `n` feeds, if it feeds exactly one node and that one is in its chain.
    fn single_chained_successor(&self, n: usize) -> Option<usize> {
        match self.graph.nodes[n].outputs.as_slice() {
            [edge] if !self.exchange_of_edge.contains_key(edge) => Some(self.graph.edges[*edge].to),
            _ => None,
        }
    }

    /// Emits a linear run of fused operators starting at `first`, fed by `feed` (a source,
    /// an exchange, or the chain before a fan-out), and its end: a sink, or the branches and
    /// exchanges its last operator feeds. Returns the names of the chain and of its end.
    fn segment(&mut self, first: usize, feed: &Ident) -> (Ident, Ident) {
        let rt = rt();
        let chain_name = format!("segment_{first}");
        let chain_var = internal(&chain_name);
        self.out
            .extend(quote!(let #chain_var = #rt::operator::Chain::fed_by(&#feed);));
        let mut n = first;
        let end = loop {
            let node = &self.graph.nodes[n];
            if node.spec.family == Family::Sink {
                break sink_call(self.graph, n, &chain_var);
            }
            // One statement per operator, every token of it (the chain variable included,
            // through `located_at`) at the user's operator: rustc then reports a closure that
            // does not fit once, there, and not again at the whole macro.
            let name = &node.call.name;
            let var = Ident::new(&chain_name, Span::mixed_site().located_at(name.span()));
            if node.spec.family == Family::Join
                && (node.window.is_some()
                    || (node.spec.name.starts_with("batch_")
                        && node.spec.name != "batch_cross"
                        && !node.spec.name.starts_with("batch_broadcast_")))
            {
                // A window join's window operator takes both inputs as one keyed stream.
                self.out
                    .extend(quote_spanned!(name.span()=> let #var = #var.merge_keyed();));
            }
            if node.spec.name == "interval_join" {
                let args = &node.call.args;
                let join_fn = internal(&format!("join_fn_{n}"));
                self.out.extend(quote_spanned!(name.span()=>
                    let #join_fn = #rt::join::interval_join(&#var, #(#args),*);
                ));
            }
            if node.window.is_some() {
                // The window function's guard fixes its closure's argument type to the keyed
                // stream's values; it needs the chain before the operator, so it comes first.
                let mut kind = node.spec.name.trim_start_matches("window_").to_string();
                // `reduce(f, p)` and `aggregate(agg, p)` hand results to a process function.
                if node.call.args.len() == 3 {
                    kind.push_str("_process");
                }
                // `window_all`'s process functions take no key.
                if node.window.as_ref().is_some_and(|w| w.all) && kind.ends_with("process") {
                    kind.push_str("_all");
                }
                let kind = Ident::new(&kind, name.span());
                let assigner = &node.call.args[0];
                let v = internal("value");
                // The function: the user's, or (for `sum()` and the like) the value itself.
                let function = match (node.call.args.get(1), node.spec.name) {
                    (Some(f), _) => {
                        let p = node.call.args.get(2).map(|p| quote!(, #p));
                        quote!(, #f #p)
                    }
                    (None, "window_count") => quote!(),
                    (None, _) => quote!(, |#v| #v),
                };
                let window_fn = internal(&format!("window_fn_{n}"));
                let module = if node.spec.family == Family::Join {
                    quote!(join)
                } else {
                    quote!(window)
                };
                // The runtime path at the operator too: a closure of the wrong arity is
                // reported there, not at the whole macro.
                let rt = quote_spanned!(name.span()=> ::dataflow::runtime);
                self.out.extend(quote_spanned!(name.span()=>
                    let #window_fn = #rt::#module::#kind(&#var, #assigner #function);
                ));
            }
            let call = operator_call(self.graph, n);
            self.out
                .extend(quote_spanned!(name.span()=> let #var = #var #call;));
            match self.single_chained_successor(n) {
                Some(next) => n = next,
                None => break self.outputs_end(n, &chain_var),
            }
        };
        let end_var = internal(&format!("end_{first}"));
        self.out.extend(quote!(let #end_var = #end;));
        (chain_var, end_var)
    }

    /// The end of a chain whose last operator `n` feeds several places: a branch per chained
    /// consumer and the writers of each exchange, joined by `Tee`s.
    fn outputs_end(&mut self, n: usize, upstream: &Ident) -> TokenStream {
        let rt = rt();
        let job = internal("job");
        let mut ends = Vec::new();
        for &edge in &self.graph.nodes[n].outputs {
            match self.exchange_of_edge.get(&edge).copied() {
                None => {
                    let (chain_var, end_var) = self.segment(self.graph.edges[edge].to, upstream);
                    ends.push(quote!(#rt::task::BranchFactory::new(#chain_var, #end_var)));
                }
                Some(x) => {
                    let var = internal(&format!("exchange_{x}"));
                    let (from, to) = (self.chain_of_node[&n], self.plan.exchanges[x].to_chain);
                    let partitioner = partitioner(
                        self.graph,
                        self.plan,
                        self.ops,
                        x,
                        upstream,
                        &mut self.out,
                        &mut self.defined,
                    );
                    // The inputs of a two-input operator share one gate: each side's records
                    // are wrapped in `TwoInputs::First` or `Second` as they are sent.
                    let edge = &self.graph.edges[edge];
                    let partitioner = if matches!(
                        self.graph.nodes[edge.to].spec.family,
                        Family::Co | Family::Join
                    ) {
                        let side = if edge.second_input {
                            quote!(SecondInput)
                        } else {
                            quote!(FirstInput)
                        };
                        quote!(#rt::exchange::#side::new(#partitioner))
                    } else {
                        partitioner
                    };
                    self.out.extend(
                        quote!(let mut #var = #job.connect(&#upstream, #from, #to, #partitioner)?;),
                    );
                    ends.push(quote!(#var.writers()));
                }
            }
        }
        let mut end = ends.pop().unwrap_or_else(|| quote!(()));
        while let Some(previous) = ends.pop() {
            end = quote!(#rt::task::Tee(#previous, #end));
        }
        end
    }
}

fn operator_call(graph: &Graph, n: usize) -> TokenStream {
    let node = &graph.nodes[n];
    let name = &node.call.name;
    let args = &node.call.args;
    match node.spec.name {
        // The head's task wraps its records for its two sides.
        "iterate" | "iterate_delta" => return TokenStream::new(),
        "solution_join" => {
            let solution = internal(&format!(
                "iteration_solution_{}",
                node.iteration
                    .expect("a solution join is inside its iteration")
            ));
            return quote_spanned!(name.span()=> .solution_join(#n, &#solution, #(#args),*));
        }
        "iteration_step" => return quote_spanned!(name.span()=> .iteration_step(#n)),
        "iteration_result" => return quote_spanned!(name.span()=> .iteration_result(#n)),
        _ => {}
    }
    if node.spec.family == Family::Keyed {
        // The exchange before a rolling aggregate already applied its projection (and, in
        // batch mode, pre-aggregated): the aggregate folds partials with the same function.
        let v = internal("value");
        return match name.to_string().as_str() {
            "reduce" | "min_by" | "max_by" => {
                let f = internal(&format!("reduce_fn_{n}"));
                quote_spanned!(name.span()=> .reduce(#n, #f))
            }
            "min" => quote_spanned!(name.span()=> .min(#n, |#v| #v)),
            "max" => quote_spanned!(name.span()=> .max(#n, |#v| #v)),
            // `sum` and `count` both add partials up.
            _ => quote_spanned!(name.span()=> .sum(#n, |#v| #v)),
        };
    }
    if node.spec.family == Family::Process {
        return process_call(graph, n);
    }
    if name == "first" && args.len() == 2 {
        return quote_spanned!(name.span()=> .first_by(#n, #(#args),*));
    }
    if node.window.is_some() {
        let rt = rt();
        let window_fn = internal(&format!("window_fn_{n}"));
        let _ = rt;
        if node.spec.family == Family::Join {
            return quote_spanned!(name.span()=> .then_keyed_window(#n, #window_fn));
        }
        return quote_spanned!(name.span()=> .keyed_window(#n, #window_fn));
    }
    if node.chooses_strategy {
        let method = Ident::new(&format!("{}_chosen", node.spec.name), name.span());
        let cell = internal(&format!("join_strategy_{n}"));
        return quote_spanned!(name.span()=> .#method(#n, #(#args,)* &#cell));
    }
    if node.spec.family == Family::Join && node.spec.name.starts_with("batch_") {
        let rt = rt();
        let method = Ident::new(node.spec.name, name.span());
        let side = Ident::new(
            match crate::check::static_side(graph, n) {
                Some(false) => "First",
                Some(true) => "Second",
                None => "None",
            },
            name.span(),
        );
        return quote_spanned!(name.span()=> .#method(#n, #(#args,)* #rt::join::StaticSide::#side));
    }
    if node.spec.name == "interval_join" {
        let rt = rt();
        let join_fn = internal(&format!("join_fn_{n}"));
        return quote_spanned!(name.span()=> .keyed_co_process(#n, #join_fn, #rt::state::NoTtl));
    }
    if name == "co_process" {
        let function = &args[0];
        return match crate::check::co_kind(graph, n) {
            Some(CoKind::Keyed) => {
                let ttl = ttl_tokens(node);
                quote_spanned!(name.span()=> .keyed_co_process(#n, #function, #ttl))
            }
            Some(CoKind::KeyedBroadcast) => {
                quote_spanned!(name.span()=> .keyed_broadcast_process(#n, #function))
            }
            _ => quote_spanned!(name.span()=> .co_process(#n, #function)),
        };
    }
    quote_spanned!(name.span()=> .#name(#n, #(#args),*))
}

/// The TTL policy of a keyed operator: `NoTtl`, or the `StateTtl` of its `state_ttl` setting.
fn ttl_tokens(node: &crate::graph::Node) -> TokenStream {
    let rt = rt();
    match &node.settings.state_ttl {
        Some((duration, event_time, setting)) => {
            let make = if *event_time {
                quote!(event_time_ttl)
            } else {
                quote!(processing_time_ttl)
            };
            quote_spanned!(setting.span()=> #rt::operator::#make(#duration))
        }
        None => quote!(#rt::state::NoTtl),
    }
}

/// `process`: keyed (state, timers, TTL) when fed by `key_by`, plain otherwise; a closure
/// argument takes the closure form, anything else must implement the function trait.
fn process_call(graph: &Graph, n: usize) -> TokenStream {
    let node = &graph.nodes[n];
    let name = &node.call.name;
    let function = &node.call.args[0];
    let closure = matches!(function, Expr::Closure(_));
    if crate::check::keyed_input(graph, n) != Some(true) {
        let method = Ident::new(if closure { "process_fn" } else { "process" }, name.span());
        return quote_spanned!(name.span()=> .#method(#n, #function));
    }
    let ttl = ttl_tokens(node);
    let method = Ident::new(
        if closure {
            "keyed_process_fn"
        } else {
            "keyed_process"
        },
        name.span(),
    );
    quote_spanned!(name.span()=> .#method(#n, #function, #ttl))
}

fn sink_call(graph: &Graph, n: usize, upstream: &Ident) -> TokenStream {
    let rt = rt();
    let node = &graph.nodes[n];
    let name = &node.call.name;
    let args = &node.call.args;
    if name == "collect" {
        let handle = &args[0];
        return quote_spanned!(name.span()=> #rt::io::collect(#n, &#upstream, &(#handle)));
    }
    if let Some(head) = node.iteration {
        match node.spec.name {
            "iteration_feedback" | "iteration_delta" => {
                // Located at the body's result, where a type mismatch is reported.
                let feedback = Ident::new(
                    &format!("{}_{head}", node.spec.name),
                    Span::mixed_site().located_at(name.span()),
                );
                let upstream = Ident::new(
                    &upstream.to_string(),
                    Span::mixed_site().located_at(name.span()),
                );
                return quote_spanned!(name.span()=> #rt::iterate::feedback(&#upstream, &mut #feedback));
            }
            "iteration_criterion" => {
                let sync = internal(&format!("iteration_sync_{head}"));
                return quote_spanned!(name.span()=> #rt::iterate::criterion(&#sync));
            }
            _ => {}
        }
    }
    quote_spanned!(name.span()=> #rt::io::#name(#n, &#upstream, #(#args),*))
}

/// Guard `let`s already emitted: user closures of exchanges are evaluated once and cloned
/// into every exchange that needs them (a `key_by` after a `union` feeds several).
#[derive(Default)]
struct Defined(std::collections::HashSet<String>);

impl Defined {
    /// Emits `let name = value;` the first time `name` is asked for; returns the name.
    fn get(
        &mut self,
        out: &mut TokenStream,
        name: &str,
        span: Span,
        value: impl FnOnce() -> TokenStream,
    ) -> Ident {
        let ident = internal(name);
        if self.0.insert(name.to_string()) {
            let value = value();
            out.extend(quote_spanned!(span=> let #ident = #value;));
        }
        ident
    }
}

fn partitioner(
    graph: &Graph,
    plan: &Plan,
    ops: &Operators,
    x: usize,
    upstream: &Ident,
    out: &mut TokenStream,
    defined: &mut Defined,
) -> TokenStream {
    let rt = rt();
    let exchange = &plan.exchanges[x];
    let partition = graph.edges[exchange.edge].partition.as_ref();
    let (span, op, arg, id) = match partition {
        Some(p) => (
            p.call.name.span(),
            ops.partition_ops.get(&p.id).copied().unwrap_or(0),
            p.call.args.first(),
            p.id,
        ),
        None => (Span::call_site(), 0, None, 0),
    };
    match exchange.partitioning {
        Partitioning::Forward => quote!(#rt::exchange::Forward::default()),
        Partitioning::Rebalance => quote!(#rt::exchange::Rebalance::default()),
        Partitioning::Rescale => quote!(#rt::exchange::Rescale::default()),
        Partitioning::Shuffle => quote!(#rt::exchange::Shuffle::default()),
        Partitioning::Broadcast => quote_spanned!(span=> #rt::exchange::Broadcast),
        Partitioning::Global => quote!(#rt::exchange::Global),
        Partitioning::Custom => {
            let f = defined.get(
                out,
                &format!("partition_fn_{id}"),
                span,
                || quote_spanned!(span=> #rt::exchange::partition_fn(&#upstream, #arg)),
            );
            quote_spanned!(span=> #rt::exchange::Custom::new(#op, #f.clone()))
        }
        Partitioning::Hash => {
            let selector = defined.get(
                out,
                &format!("key_selector_{id}"),
                span,
                || quote_spanned!(span=> #rt::exchange::key_selector(&#upstream, #arg)),
            );
            if !exchange.keep_key {
                return quote_spanned!(span=> #rt::exchange::KeyByValue::new(#op, #selector.clone()));
            }
            let target = exchange_target(graph, plan, x);
            let node = &graph.nodes[target];
            if node.chooses_strategy {
                let cell = internal(&format!("join_strategy_{target}"));
                let second = graph.edges[exchange.edge].second_input;
                return quote_spanned!(span=> #rt::exchange::JoinInput::new(#op, #selector.clone(), #second, &#cell));
            }
            if matches!(
                node.spec.family,
                Family::Process
                    | Family::Grouped
                    | Family::Co
                    | Family::WindowFunction
                    | Family::Join
            ) {
                return quote_spanned!(span=> #rt::exchange::KeyByWithKey::new(#op, #selector.clone()));
            }
            let name = &node.call.name;
            let aggregate = name.span();
            let v = internal("value");
            let (projection, combine) = match name.to_string().as_str() {
                "count" => (
                    quote_spanned!(aggregate=> |_| 1u64),
                    quote!(#rt::operator::SumCombine),
                ),
                kind @ ("reduce" | "min_by" | "max_by") => {
                    let f = defined.get(out, &format!("reduce_fn_{target}"), aggregate, || {
                        let user = &node.call.args[0];
                        match kind {
                            "min_by" => quote_spanned!(aggregate=> #rt::operator::min_by_fn(&#upstream, #user)),
                            "max_by" => quote_spanned!(aggregate=> #rt::operator::max_by_fn(&#upstream, #user)),
                            _ => quote_spanned!(aggregate=> #rt::operator::reduce_fn(&#upstream, #user)),
                        }
                    });
                    // Accumulators of `reduce` are held in `Some` (see `ReduceWith`).
                    (
                        quote!(|#v| ::core::option::Option::Some(#v)),
                        quote!(#rt::operator::ReduceWith(#f.clone())),
                    )
                }
                kind => {
                    let combine = match kind {
                        "min" => quote!(#rt::operator::MinCombine),
                        "max" => quote!(#rt::operator::MaxCombine),
                        _ => quote!(#rt::operator::SumCombine),
                    };
                    match node.call.args.first() {
                        Some(user) => (quote!(#user), combine),
                        None => (quote!(|#v| #v), combine),
                    }
                }
            };
            let project = defined.get(
                out,
                &format!("projection_{target}"),
                aggregate,
                || quote_spanned!(aggregate=> #rt::operator::projection(&#upstream, #projection)),
            );
            quote_spanned!(span=> #rt::exchange::KeyByAggregate::new(
                #op, #selector.clone(), #target, #project.clone(), #combine
            ))
        }
    }
}

/// The operator an exchange feeds.
fn exchange_target(graph: &Graph, plan: &Plan, x: usize) -> usize {
    graph.edges[plan.exchanges[x].edge].to
}

/// A type as a user would write it (`Option<PathBuf>`, not `Option < PathBuf >`).
fn type_text(ty: &syn::Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (spaced, tight) in [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ::", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
        ("& ", "&"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}

/// `Some(T)` if `ty` is written `Option<T>`.
fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            syn::GenericArgument::Type(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

fn main_fn(job: &Job) -> TokenStream {
    let rt = rt();
    let cli = internal("cli");
    let report = internal("report");
    let attempt_config = internal("attempt_config");
    let mut specs = Vec::new();
    let mut values = Vec::new();
    for param in &job.params {
        let name = &param.name;
        let text = name.to_string();
        let ty = &param.ty;
        let type_text = type_text(ty);
        // See `cli::Param`: `&&` lets method resolution pick the command-line reading when the
        // type has one, and the fallback otherwise.
        let probe = match option_inner(ty) {
            Some(inner) => quote_spanned!(first_token_span(ty)=>
                (&&#rt::cli::OptionalParam::<#inner>::new(#text, #type_text))),
            None => quote_spanned!(first_token_span(ty)=>
                (&&#rt::cli::Param::<#ty>::new(#text, #type_text))),
        };
        specs.push(quote!(#probe.spec()));
        values.push(quote_spanned!(first_token_span(ty)=> let #name: #ty = #probe.value(&#cli)?;));
    }
    let names = job.params.iter().map(|p| &p.name);
    quote! {
        /// Runs the job as a command-line program: job parameters are positional arguments;
        /// `--parallelism`, `--max-parallelism`, `--mode`, `--explain[=text|dot]`, the
        /// checkpoint flags (`--checkpoint-interval`, `--checkpoint-dir`, `--restore`,
        /// `--savepoint-dir`, `--restart-strategy`, ...) and `--help` are flags. A failed job
        /// restarts as `--restart-strategy` says, reading its parameters again.
        #[allow(clippy::needless_borrow)]
        pub fn main() -> #rt::Result<()> {
            #[allow(unused_imports)]
            use #rt::cli::{CommandLine as _, NotOnCommandLine as _};
            let ::core::option::Option::Some(#cli) = #rt::cli::JobCli::parse(&PLAN, &[#(#specs),*])? else {
                return ::core::result::Result::Ok(());
            };
            // Each attempt (a restart after a failure) reads its parameters again.
            let #report = #rt::job::run_with_restarts(#cli.config(), |#attempt_config| {
                #(#values)*
                run(#attempt_config, #(#names),*)
            })?;
            #cli.finish(&#report);
            ::core::result::Result::Ok(())
        }
    }
}

/// The span of a type's first token, so trait errors on a parameter point at its type.
fn first_token_span(ty: &syn::Type) -> Span {
    ty.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

/// The module of one checked and planned job.
pub fn emit_job(job: &Job, graph: &Graph, plan: &Plan) -> TokenStream {
    let rt = rt();
    let ops = operators(graph, plan);
    let plan_static = plan_static(job, graph, plan, &ops);
    let body = wiring(graph, plan, &ops);
    let main = main_fn(job);
    let params = job.params.iter().map(|p| {
        let (name, ty) = (&p.name, &p.ty);
        quote!(#name: #ty)
    });
    let job_var = internal("job");
    let config = internal("config");
    module(
        job,
        quote! {
                #plan_static

                /// Runs the job to completion (bounded sources) or until it is stopped, and
                /// returns records in and out per operator.
                #[allow(clippy::too_many_arguments)]
                pub fn run(#config: &#rt::job::JobConfig, #(#params),*) -> #rt::Result<#rt::job::JobReport> {
                    #rt::job::execute(&PLAN, #config, move |#job_var: &mut #rt::job::JobBuilder| -> #rt::Result<()> {
                        #body
                        ::core::result::Result::Ok(())
                    })
                }

                #main
        },
    )
}

/// `mod name` with the job's docs; the body is given by the caller.
fn module(job: &Job, body: TokenStream) -> TokenStream {
    let vis = &job.vis;
    let name = &job.name;
    let docs = job.attrs.iter().filter(|a| a.path().is_ident("doc"));
    quote! {
        #(#docs)*
        #vis mod #name {
            #[allow(unused_imports)]
            use super::*;
            #body
        }
    }
}

/// What stands in for a job with errors, so that its uses (`job::run`, `job::main`) do not
/// add errors of their own to the one that matters.
pub fn stub_job(job: &Job) -> TokenStream {
    let rt = rt();
    let params = job.params.iter().map(|p| {
        let (name, ty) = (&p.name, &p.ty);
        quote!(#name: #ty)
    });
    let config = internal("config");
    module(
        job,
        quote! {
            /// Not generated: `dataflow!` reported an error in this job.
            #[allow(unused_variables, clippy::too_many_arguments)]
            pub fn run(#config: &#rt::job::JobConfig, #(#params),*) -> #rt::Result<#rt::job::JobReport> {
                ::core::unreachable!("dataflow! reported an error in this job")
            }
            /// Not generated: `dataflow!` reported an error in this job.
            #[allow(clippy::needless_borrow)]
        pub fn main() -> #rt::Result<()> {
                ::core::unreachable!("dataflow! reported an error in this job")
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn expand(tokens: proc_macro2::TokenStream) -> syn::File {
        syn::parse2(crate::compile(tokens)).expect("the expansion is valid Rust")
    }

    fn module_items(file: &syn::File) -> Vec<String> {
        let Some(syn::Item::Mod(module)) =
            file.items.iter().find(|i| matches!(i, syn::Item::Mod(_)))
        else {
            panic!("no job module in the expansion");
        };
        let (_, items) = module.content.as_ref().expect("an inline module");
        items
            .iter()
            .filter_map(|item| match item {
                syn::Item::Fn(f) => Some(f.sig.ident.to_string()),
                syn::Item::Static(s) => Some(s.ident.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_job_expands_to_a_module_with_plan_run_and_main() {
        let file = expand(quote! {
            /// Doc.
            pub job wc(input: PathBuf, out: Option<PathBuf>) {
                read_lines(input)
                    .flat_map(|l: String| vec![l])
                    .key_by(|w| w.clone())
                    .count()
                    .write_lines(out, |(w, n)| format!("{w} {n}"));
            }
        });
        assert_eq!(module_items(&file), ["PLAN", "run", "main"]);
        assert!(
            !crate::compile(quote!(job j() { generate(1, |i| i).print(); }))
                .to_string()
                .contains("compile_error")
        );
    }

    #[test]
    fn a_job_with_errors_expands_to_its_errors_and_a_stub() {
        let tokens =
            crate::compile(quote!(job j(n: u64) { generate(n, |i| i).mapp(|x| x).print(); }));
        let text = tokens.to_string();
        assert_eq!(text.matches("compile_error").count(), 1, "{text}");
        let file: syn::File = syn::parse2(tokens).unwrap();
        assert_eq!(module_items(&file), ["run", "main"]);
    }
}
