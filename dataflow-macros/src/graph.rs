//! The logical graph: operators (nodes) and streams between them (edges), with each edge's
//! partitioning. Built from the syntax tree; names bound with `let` may be used before or
//! after their definition (statements are declarations, as in DFIR), so edges leaving a
//! named stream are resolved once every statement has been read.
//!
//! Errors found while building (unknown operators, wrong argument counts, undefined or
//! duplicate names, operators after a sink) are collected, one per mistake.

use quote::ToTokens;
use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::{Expr, Ident, LitStr};

use crate::ops::{self, Family, OpSpec, Partitioning, Setting};
use crate::parse::{Call, Head, Job, Statement};

/// One operator of the job.
pub struct Node {
    pub spec: &'static OpSpec,
    pub call: Call,
    pub settings: Settings,
    /// Indices into [`Graph::edges`].
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    /// For a window function: the window it computes.
    pub window: Option<WindowInfo>,
    /// The iteration (its head node) whose body this node is part of.
    pub iteration: Option<usize>,
    /// A join of bounded inputs without a hint: the plan chooses at start whether it
    /// repartitions both inputs or broadcasts one.
    pub chooses_strategy: bool,
}

/// How a window function's windows were written.
pub struct WindowInfo {
    /// The assigner as written (`count_window`'s synthesized).
    pub assigner: Expr,
    /// `window_all`: the whole stream, no key.
    pub all: bool,
    /// `count_window(..)`.
    pub count: bool,
}

/// A `window(..)` call and the modifiers after it, before its function.
struct Windowing {
    call: Call,
    assigner: Expr,
    modifiers: Vec<Call>,
    /// The join (`join` or `co_group`) the window is of.
    join: Option<Ident>,
}

/// A join (`join`, `co_group`, `interval_join`) and its modifiers so far.
struct Joining {
    call: Call,
    keyed_first: bool,
    keyed_second: bool,
    /// `between(lower, upper)` and whether each bound is exclusive.
    between: Option<(Expr, Expr)>,
    lower_exclusive: bool,
    upper_exclusive: bool,
    /// A lookup join with a delta iteration's solution set; its `where` key once given.
    solution: Option<Option<Expr>>,
    /// The keys of `where` and `equal_to`, as written.
    keys: [Option<Expr>; 2],
    /// `hint(JoinHint::BroadcastSecond)` (false) or `hint(JoinHint::BroadcastFirst)` (true)
    /// was given.
    broadcast: Option<(Call, bool)>,
    /// `hint(JoinHint::Repartition)` was given.
    repartition: bool,
}

/// The settings attached to an operator.
#[derive(Default)]
pub struct Settings {
    pub parallelism: Option<(Expr, Span)>,
    pub name: Option<LitStr>,
    pub uid: Option<LitStr>,
    pub start_new_chain: bool,
    pub disable_chaining: bool,
    /// The TTL's duration, whether it is in event time, and the setting's name.
    pub state_ttl: Option<(Expr, bool, Ident)>,
}

/// A partitioning call (`key_by(..)`, `rebalance()`, ...) applied to a stream.
#[derive(Clone)]
pub struct PartitionUse {
    pub kind: Partitioning,
    pub call: Call,
    /// Distinguishes calls: one `key_by` after a `union` partitions several edges.
    pub id: usize,
}

/// A stream from one operator to another.
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// `None`: the default (forward where possible).
    pub partition: Option<PartitionUse>,
    /// The stream name through which the edge was made, if any (for cycle errors).
    pub via: Option<Ident>,
    /// The edge is the second input of a two-input operator (the argument of `connect`).
    pub second_input: bool,
}

/// The logical graph of one job.
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// Where one part of a stream comes from, before names are resolved.
#[derive(Clone)]
enum Origin {
    Node(usize),
    Binding(Ident),
}

#[derive(Clone)]
struct Producer {
    origin: Origin,
    partition: Option<PartitionUse>,
    /// Came in through `connect(..)`: the second input of the next operator.
    second_input: bool,
}

/// An operator a stream comes from, with the partitioning and the name it came through.
type ResolvedOrigin = (usize, Option<PartitionUse>, Option<Ident>);

/// An edge whose origin may still be a name.
struct PendingEdge {
    producer: Producer,
    to: usize,
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    pending: Vec<PendingEdge>,
    bindings: HashMap<String, (Ident, Vec<Producer>)>,
    /// Names whose statement had an error: uses of them resolve silently to nothing, so one
    /// mistake gives one error.
    poisoned: HashSet<String>,
    /// Names expanded at least once (so their own errors, such as a cycle, were found).
    resolved: HashSet<String>,
    used: HashSet<String>,
    partition_uses: usize,
    errors: Vec<syn::Error>,
    /// The iteration whose body is being built, if any.
    iteration: Option<usize>,
    /// The name of the solution set of the delta iteration being built, if any.
    solution: Option<String>,
}

fn error(span: Span, message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, message.to_string())
}

impl Builder {
    fn add_node(&mut self, spec: &'static OpSpec, call: &Call, stream: &[Producer]) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            spec,
            call: call.clone(),
            settings: Settings::default(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            window: None,
            iteration: self.iteration,
            chooses_strategy: false,
        });
        for producer in stream {
            self.pending.push(PendingEdge {
                producer: producer.clone(),
                to: id,
            });
        }
        id
    }

    /// An unknown name: at the start of a statement only sources are candidates.
    fn unknown_operator(&mut self, name: &Ident, at_head: bool) {
        let text = name.to_string();
        let candidates: Vec<&str> = ops::OPERATORS
            .iter()
            .filter(|op| matches!(op.family, Family::Source { .. }) == at_head)
            .map(|op| op.name)
            .collect();
        let what = if at_head { "source" } else { "operator" };
        let help = match ops::nearest(&text, candidates.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("the {what}s are: {}", candidates.join(", ")),
        };
        self.errors.push(error(
            name.span(),
            format!("unknown {what} `{text}`\nhelp: {help}"),
        ));
    }

    fn check_arity(&mut self, spec: &OpSpec, call: &Call) -> bool {
        let n = call.args.len();
        if n >= spec.min_args && n <= spec.max_args {
            return true;
        }
        let expected = match (spec.min_args, spec.max_args) {
            (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
            (a, usize::MAX) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
            (a, b) => format!("{a} or {b} arguments"),
        };
        self.errors.push(error(
            call.args_span,
            format!(
                "`{}` takes {expected}, but {n} {} given\nhelp: write it as `{}`",
                spec.name,
                if n == 1 { "was" } else { "were" },
                spec.signature
            ),
        ));
        false
    }

    fn statement(&mut self, statement: &Statement) {
        if let Some(name) = &statement.binding {
            let already = self.bindings.contains_key(&name.to_string());
            self.statement_body(statement);
            if !already && !self.bindings.contains_key(&name.to_string()) {
                self.poisoned.insert(name.to_string());
            }
        } else {
            self.statement_body(statement);
        }
    }

    fn statement_body(&mut self, statement: &Statement) {
        let chain = &statement.chain;
        let mut stream: Vec<Producer>;
        // The operator that settings apply to, if the last call made one.
        let mut last_node: Option<usize> = None;
        let mut last_span;
        match &chain.head {
            Head::Source(call) => {
                last_span = call.name.span();
                match ops::lookup(&call.name.to_string()) {
                    Some(spec) if matches!(spec.family, Family::Source { .. }) => {
                        if !self.check_arity(spec, call) {
                            return;
                        }
                        let id = self.add_node(spec, call, &[]);
                        stream = vec![Producer {
                            origin: Origin::Node(id),
                            partition: None,
                            second_input: false,
                        }];
                        last_node = Some(id);
                    }
                    Some(spec) => {
                        self.errors.push(error(
                            call.name.span(),
                            format!(
                                "`{}` is not a source, so it cannot start a statement\nhelp: start with a source ({}) or a stream name, e.g. `stream.{}`",
                                spec.name,
                                ops::source_names().join(", "),
                                spec.signature
                            ),
                        ));
                        return;
                    }
                    None => {
                        self.unknown_operator(&call.name, true);
                        return;
                    }
                }
            }
            Head::Binding(name) => {
                last_span = name.span();
                self.used.insert(name.to_string());
                stream = vec![Producer {
                    origin: Origin::Binding(name.clone()),
                    partition: None,
                    second_input: false,
                }];
            }
        }
        let mut sink: Option<&Ident> = None;
        let mut connected = false;
        let mut windowed: Option<Windowing> = None;
        let mut joining: Option<Joining> = None;
        for call in &chain.calls {
            let Some(spec) = ops::lookup(&call.name.to_string()) else {
                self.unknown_operator(&call.name, false);
                return;
            };
            // Only settings (`.name(..)`, `.parallelism(..)`, ...) may follow a sink.
            if let (Some(sink_name), false) = (sink, matches!(spec.family, Family::Setting(_))) {
                self.errors.push(error(
                    call.name.span(),
                    format!("`{}` comes after the sink `{sink_name}`, which ends the stream\nhelp: a sink produces no stream; to send one stream to several places, bind it with `let` and use the name in several statements", call.name),
                ));
                return;
            }
            if let Some(join) = &mut joining {
                match self.join_step(join, spec, call, &mut stream) {
                    JoinStep::Continue => continue,
                    JoinStep::Window => {
                        let join = joining.take().map(|j| j.call.name);
                        if !self.check_arity(spec, call) {
                            return;
                        }
                        windowed = Some(Windowing {
                            call: call.clone(),
                            assigner: call.args[0].clone(),
                            modifiers: Vec::new(),
                            join,
                        });
                        last_node = None;
                        continue;
                    }
                    JoinStep::Node(id) => {
                        joining = None;
                        stream = vec![Producer {
                            origin: Origin::Node(id),
                            partition: None,
                            second_input: false,
                        }];
                        last_node = Some(id);
                        continue;
                    }
                    JoinStep::Failed => return,
                }
            }
            if spec.family == Family::JoinModifier {
                self.errors.push(error(
                    call.name.span(),
                    format!("`{}` configures a join, so it goes right after `.join(other)`, `.co_group(other)` or `.interval_join(other)`\nhelp: write e.g. `a.join(b).where(|x| key).equal_to(|y| key).window(assigner).apply(|x, y| ..)`", call.name),
                ));
                return;
            }
            // After `window(..)` a function name means the window function.
            let window_spec = match (&windowed, spec.family) {
                (Some(w), _) if w.join.is_some() && call.name == "apply" => {
                    let name = format!(
                        "window_{}",
                        w.join.as_ref().map(|j| j.to_string()).unwrap_or_default()
                    );
                    ops::JOIN_NODES
                        .iter()
                        .find(|op| op.name == name)
                        .expect("a join node for every join")
                }
                (Some(w), _) if w.join.is_some() && spec.family != Family::WindowModifier => {
                    self.errors.push(error(
                        call.name.span(),
                        format!("a window join ends with `.apply(..)`, not `.{}(..)`\nhelp: write `.window(assigner).apply(|a, b| ..)` (for `co_group`: `|left, right| outputs`)", call.name),
                    ));
                    return;
                }
                (Some(_), Family::WindowModifier) | (None, _) => spec,
                (Some(_), _) => {
                    let name = format!("window_{}", call.name);
                    let Some(window_spec) = ops::WINDOW_FUNCTIONS.iter().find(|op| op.name == name)
                    else {
                        let window = windowed
                            .as_ref()
                            .map(|w| w.call.name.to_string())
                            .unwrap_or_default();
                        let process = if window == "window_all" {
                            "|window, records| .."
                        } else {
                            "|key, window, records| .."
                        };
                        self.errors.push(error(
                            call.name.span(),
                            format!("`{}` cannot follow `{window}(..)`\nhelp: write `.{window}(..)` followed by `.reduce(|a, b| ..)`, `.aggregate(agg)`, `.process({process})`, `.count()`, `.sum(..)`, `.min(..)`, `.max(..)` or `.avg(..)`", call.name),
                        ));
                        return;
                    };
                    window_spec
                }
            };
            if !self.check_arity(window_spec, call) {
                return;
            }
            last_span = call.name.span();
            // `connect` pairs with the two-input operator right after it, and only with one.
            let after_connect = std::mem::take(&mut connected);
            if spec.family == Family::Co && !after_connect {
                self.errors.push(error(
                    call.name.span(),
                    format!(
                        "`{}` needs two connected streams\nhelp: write `first.connect(second).{}`",
                        call.name, spec.signature
                    ),
                ));
                return;
            }
            if after_connect && spec.family != Family::Co {
                self.errors.push(error(
                    call.name.span(),
                    format!("`{}` cannot follow `connect`: connected streams go into a two-input operator\nhelp: write `.co_map(..)`, `.co_flat_map(..)` or `.co_process(..)` right after `connect`; partition each stream before connecting it", call.name),
                ));
                return;
            }
            connected = spec.family == Family::Connect;
            if spec.family == Family::WindowModifier {
                let Some(windowing) = &mut windowed else {
                    self.errors.push(error(
                        call.name.span(),
                        format!("`{}` configures a window, so it goes right after `.window(assigner)`\nhelp: write `.key_by(|x| key).window(assigner).{}` followed by a window function", call.name, spec.signature),
                    ));
                    return;
                };
                if let Some(e) = check_window_modifier(windowing, call) {
                    self.errors.push(e);
                    return;
                }
                windowing.modifiers.push(call.clone());
                continue;
            }
            // After `window(..)`, `reduce`, `aggregate` and the others are window functions:
            // one node whose arguments are the window and the function.
            if let Some(windowing) = windowed.take() {
                if let Some(e) = check_window_complete(&windowing) {
                    self.errors.push(e);
                    return;
                }
                let all = windowing.call.name == "window_all";
                let mut merged = call.clone();
                merged.args = std::iter::once(window_expression(&windowing, all))
                    .chain(call.args.iter().cloned())
                    .collect();
                let id = self.add_node(window_spec, &merged, &stream);
                self.nodes[id].window = Some(WindowInfo {
                    assigner: windowing.assigner,
                    all,
                    count: windowing.call.name == "count_window",
                });
                if all {
                    // All records meet in one subtask.
                    self.nodes[id].settings.parallelism = Some((
                        syn::parse_quote_spanned!(windowing.call.name.span()=> 1),
                        windowing.call.name.span(),
                    ));
                }
                stream = vec![Producer {
                    origin: Origin::Node(id),
                    partition: None,
                    second_input: false,
                }];
                last_node = Some(id);
                continue;
            }
            match spec.family {
                Family::Source { .. } => {
                    self.errors.push(error(
                        call.name.span(),
                        format!("`{}` is a source and cannot follow a stream\nhelp: start a new statement with it: `let s = {};`", spec.name, spec.signature),
                    ));
                    return;
                }
                Family::Window => {
                    let assigner: Expr = if call.name == "count_window" {
                        // The assigner of a count window, from its sizes.
                        let size = &call.args[0];
                        let slide = call.args.get(1).unwrap_or(size);
                        syn::parse_quote_spanned!(call.name.span()=>
                            ::dataflow::runtime::window::CountWindows::new(#size, #slide)
                        )
                    } else {
                        call.args[0].clone()
                    };
                    if call.name == "window_all" {
                        // The whole stream under one key, `()`.
                        // Named after `window_all`, for errors about this partitioning.
                        let key_by = Call {
                            name: call.name.clone(),
                            args: vec![syn::parse_quote_spanned!(call.name.span()=> |_| ())],
                            args_span: call.args_span,
                        };
                        let use_ = PartitionUse {
                            kind: Partitioning::Hash,
                            call: key_by,
                            id: self.partition_uses,
                        };
                        self.partition_uses += 1;
                        for producer in &mut stream {
                            if producer.partition.is_some() {
                                self.errors.push(error(
                                    call.name.span(),
                                    "`window_all` gathers the whole stream into one subtask, so it takes a stream that is not partitioned\nhelp: for windows per key write `.key_by(|x| key).window(assigner)`; otherwise remove the partitioning before `window_all`",
                                ));
                                return;
                            }
                            producer.partition = Some(use_.clone());
                        }
                    }
                    windowed = Some(Windowing {
                        call: call.clone(),
                        assigner,
                        modifiers: Vec::new(),
                        join: None,
                    });
                    last_node = None;
                }
                Family::WindowModifier | Family::JoinModifier => {
                    unreachable!("modifiers are handled above")
                }
                Family::Join => {
                    let Some(other) = stream_name(&call.args[0]) else {
                        if let Some(name) = innermost_name(&call.args[0]) {
                            self.used.insert(name.to_string());
                        }
                        self.errors.push(error(
                            syn::spanned::Spanned::span(&call.args[0]),
                            format!("`{0}` takes the name of a stream\nhelp: bind the other stream with `let other = ...;` and write `.{0}(other)`", call.name),
                        ));
                        return;
                    };
                    self.used.insert(other.to_string());
                    if self.solution.as_ref().is_some_and(|s| other == s.as_str()) {
                        if call.name != "join" {
                            self.errors.push(error(
                                call.name.span(),
                                format!("the solution set `{other}` is read with a lookup `join`, not `{}`\nhelp: write `x.join({other}).where(|x| key).apply(|x, s| out)`", call.name),
                            ));
                            return;
                        }
                        joining = Some(Joining {
                            call: call.clone(),
                            keyed_first: false,
                            keyed_second: false,
                            between: None,
                            lower_exclusive: false,
                            upper_exclusive: false,
                            solution: Some(None),
                            keys: [None, None],
                            broadcast: None,
                            repartition: false,
                        });
                        last_node = None;
                        continue;
                    }
                    let keyed_first = stream.iter().any(|p| p.partition.is_some());
                    let cross = call.name == "cross";
                    if call.name != "interval_join" && !cross && keyed_first {
                        self.errors.push(error(
                            call.name.span(),
                            format!("`{}` partitions both streams by the keys of `where` and `equal_to`, so this stream must not be partitioned before it\nhelp: remove the `key_by` (or other partitioning) before `.{}(..)`", call.name, call.name),
                        ));
                        return;
                    }
                    // A cross product pairs each subtask's share of the first input with all
                    // of the second: the second is broadcast.
                    let partition = cross.then(|| {
                        self.partition_uses += 1;
                        PartitionUse {
                            kind: Partitioning::Broadcast,
                            call: call.clone(),
                            id: self.partition_uses - 1,
                        }
                    });
                    stream.push(Producer {
                        origin: Origin::Binding(other),
                        partition,
                        second_input: true,
                    });
                    joining = Some(Joining {
                        call: call.clone(),
                        keyed_first,
                        keyed_second: false,
                        between: None,
                        lower_exclusive: false,
                        upper_exclusive: false,
                        solution: None,
                        keys: [None, None],
                        broadcast: None,
                        repartition: false,
                    });
                    last_node = None;
                }
                Family::WindowFunction => {
                    self.errors.push(error(
                        call.name.span(),
                        format!("`{}` is a window function: it needs `.window(assigner)` right before it\nhelp: write `.key_by(|x| key).window(TumblingEventTimeWindows::of(d)).{}`; rolling aggregates over a keyed stream are `reduce`, `sum`, `min`, `max` and `count`", call.name, spec.signature),
                    ));
                    return;
                }
                Family::Transform
                | Family::Keyed
                | Family::Grouped
                | Family::Process
                | Family::SideOutput
                | Family::Co
                | Family::Sink => {
                    let id = self.add_node(spec, call, &stream);
                    stream = vec![Producer {
                        origin: Origin::Node(id),
                        partition: None,
                        second_input: false,
                    }];
                    last_node = Some(id);
                    if spec.family == Family::Sink {
                        sink = Some(&call.name);
                    }
                }
                Family::Partition(kind) => {
                    let use_ = PartitionUse {
                        kind,
                        call: call.clone(),
                        id: self.partition_uses,
                    };
                    self.partition_uses += 1;
                    for producer in &mut stream {
                        if let Some(previous) = &producer.partition {
                            self.errors.push(double_partition(&use_, previous));
                            return;
                        }
                        producer.partition = Some(use_.clone());
                    }
                    last_node = None;
                }
                Family::Iterate => {
                    if !self.check_arity(spec, call) {
                        return;
                    }
                    let Some((head, result)) = self.iterate(spec, call, &stream) else {
                        return;
                    };
                    stream = vec![Producer {
                        origin: Origin::Node(result),
                        partition: None,
                        second_input: false,
                    }];
                    // `.name(..)` and `.parallelism(..)` after it set the head's.
                    last_node = Some(head);
                }
                Family::Union | Family::Connect => {
                    for arg in &call.args {
                        match arg {
                            Expr::Path(path) if path.path.get_ident().is_some() => {
                                let name = path
                                    .path
                                    .get_ident()
                                    .cloned()
                                    .unwrap_or_else(|| call.name.clone());
                                self.used.insert(name.to_string());
                                stream.push(Producer {
                                    origin: Origin::Binding(name),
                                    partition: None,
                                    second_input: spec.family == Family::Connect,
                                });
                            }
                            other => {
                                // The stream inside the argument is used, even if wrongly:
                                // do not also call it unused.
                                if let Some(name) = innermost_name(other) {
                                    self.used.insert(name.to_string());
                                }
                                self.errors.push(error(
                                    syn::spanned::Spanned::span(other),
                                    format!("`{0}` takes names of streams\nhelp: bind the other stream with `let other = ...;` and write `.{0}(other)`", spec.name),
                                ));
                                return;
                            }
                        }
                    }
                    last_node = None;
                }
                Family::Setting(setting) => {
                    let Some(node) = last_node else {
                        self.errors.push(error(
                            call.name.span(),
                            format!("`{}` configures the operator before it, but none comes right before it\nhelp: put it right after an operator such as `.map(..)`; partitionings and stream names take no settings", spec.name),
                        ));
                        return;
                    };
                    if let Err(e) = apply_setting(&mut self.nodes[node].settings, setting, call) {
                        self.errors.push(e);
                        return;
                    }
                }
            }
        }
        if let Some(windowing) = windowed {
            self.errors.push(error(
                windowing.call.name.span(),
                format!("`{}(..)` needs its window function right after it (after any `trigger`, `evictor` or `allowed_lateness`)\nhelp: write e.g. `.{}(..).sum(|x| field)`, or bind the result of the window function with `let`", windowing.call.name, windowing.call.name),
            ));
            return;
        }
        if let Some(join) = joining {
            self.errors.push(error(
                join.call.name.span(),
                format!(
                    "this `{}` is not finished\nhelp: {}",
                    join.call.name,
                    join_help(&join.call.name)
                ),
            ));
            return;
        }
        match (&statement.binding, sink) {
            (Some(name), Some(sink_name)) => self.errors.push(error(
                name.span(),
                format!("`{name}` would name the end of a sink (`{sink_name}`), which produces no stream\nhelp: remove `let {name} =`, or bind the stream before the sink"),
            )),
            (Some(name), None) => {
                if let Some((first, _)) = self.bindings.get(&name.to_string()) {
                    let _ = first;
                    self.errors.push(error(
                        name.span(),
                        format!("the stream `{name}` is defined twice\nhelp: give this stream another name"),
                    ));
                } else {
                    self.bindings.insert(name.to_string(), (name.clone(), stream));
                }
            }
            (None, Some(_)) => {}
            (None, None) => self.errors.push(error(
                last_span,
                "this stream reaches no sink, so its results would be lost\nhelp: end it with a sink such as `.print()`, `.write_lines(path, |x| ..)`, `.collect(handle)` or `.discard()`",
            )),
        }
    }

    /// `iterate(max, |s| body)`: the head (fed by `stream`), its body side bound to `s`
    /// while the body's statements are built, the sinks that end the body (feedback and
    /// criterion), and its result side. Returns the head and the result side.
    fn iterate(
        &mut self,
        spec: &'static OpSpec,
        call: &Call,
        stream: &[Producer],
    ) -> Option<(usize, usize)> {
        if let Some(outer) = self.iteration {
            self.errors.push(error(
                call.name.span(),
                format!("iterations cannot be nested: this `iterate` is inside the body of the `iterate` of `{}`\nhelp: run the inner loop as its own job, or unroll it into the outer body", self.nodes[outer].call.name),
            ));
            return None;
        }
        let delta = call.name == "iterate_delta";
        let body = &call.args[if delta { 3 } else { 1 }];
        let param_name = |pat: &syn::Pat| match pat {
            syn::Pat::Ident(p) => Some(p.ident.clone()),
            syn::Pat::Type(t) => match &*t.pat {
                syn::Pat::Ident(p) => Some(p.ident.clone()),
                _ => None,
            },
            _ => None,
        };
        let parsed = match body {
            Expr::Closure(closure) if closure.inputs.len() == 1 + usize::from(delta) => {
                let params: Option<Vec<Ident>> = closure.inputs.iter().map(param_name).collect();
                params.map(|p| (p, &*closure.body))
            }
            _ => None,
        };
        let Some((mut params, body)) = parsed else {
            let help = if delta {
                "`iterate_delta` takes its body as a closure of the solution set and the workset: `|solution, workset| (delta, next_workset)`\nhelp: write `.iterate_delta(workset, max_supersteps, |x| key, |solution, workset| { ...; (delta, next_workset) })`"
            } else {
                "`iterate` takes its body as a closure of one stream: `|s| s.map(..)...`\nhelp: write `.iterate(max_supersteps, |s| { let x = s.map(..); x.filter(..) })`; the closure's value is the next superstep's input"
            };
            self.errors
                .push(error(syn::spanned::Spanned::span(body), help));
            return None;
        };
        let param = params.pop().expect("one or two parameters");
        let solution_param = params.pop();
        let workset = if delta {
            match stream_name(&call.args[0]) {
                Some(name) => {
                    self.used.insert(name.to_string());
                    Some(name)
                }
                None => {
                    self.errors.push(error(
                        syn::spanned::Spanned::span(&call.args[0]),
                        "`iterate_delta` takes the name of the initial workset's stream first\nhelp: bind it with `let workset = ...;` and write `.iterate_delta(workset, max, |x| key, |solution, workset| ..)`",
                    ));
                    return None;
                }
            }
        } else {
            None
        };
        // The body's statements and its value.
        let mut statements = Vec::new();
        let value: Expr = match body {
            Expr::Block(block) => {
                let mut value = None;
                for (i, stmt) in block.block.stmts.iter().enumerate() {
                    let last = i + 1 == block.block.stmts.len();
                    let parsed = match stmt {
                        syn::Stmt::Local(local) => match (&local.pat, &local.init) {
                            (syn::Pat::Ident(name), Some(init)) => {
                                crate::parse::ChainExpr::from_expr((*init.expr).clone()).map(
                                    |chain| {
                                        statements.push(crate::parse::Statement {
                                            binding: Some(name.ident.clone()),
                                            chain,
                                        })
                                    },
                                )
                            }
                            _ => Err(syn::Error::new(
                                syn::spanned::Spanned::span(local),
                                "expected `let name = stream;`",
                            )),
                        },
                        syn::Stmt::Expr(expr, None) if last => {
                            value = Some(expr.clone());
                            Ok(())
                        }
                        syn::Stmt::Expr(expr, _) => {
                            crate::parse::ChainExpr::from_expr(expr.clone()).map(|chain| {
                                statements.push(crate::parse::Statement {
                                    binding: None,
                                    chain,
                                })
                            })
                        }
                        other => Err(syn::Error::new(
                            syn::spanned::Spanned::span(other),
                            "expected `let name = stream;` or a stream",
                        )),
                    };
                    if let Err(e) = parsed {
                        self.errors.push(e);
                        return None;
                    }
                }
                match value {
                    Some(value) => value,
                    None => {
                        self.errors.push(error(
                            block.block.brace_token.span.close(),
                            "the body of `iterate` must end with the stream that feeds the next superstep\nhelp: end the block with that stream, without a `;`",
                        ));
                        return None;
                    }
                }
            }
            other => other.clone(),
        };
        let (next, criterion) = match value {
            Expr::Tuple(tuple) if tuple.elems.len() == 2 => {
                (tuple.elems[0].clone(), Some(tuple.elems[1].clone()))
            }
            other if delta => {
                self.errors.push(error(
                    syn::spanned::Spanned::span(&other),
                    "the body of `iterate_delta` ends with two streams: `(delta, next_workset)`\nhelp: the delta's records replace the solution set's records of their keys; the next workset drives the next superstep (empty: the iteration ends)",
                ));
                return None;
            }
            other => (other, None),
        };
        // A delta iteration's head reads its initial solution set and, second, its workset.
        let mut inputs = stream.to_vec();
        inputs.extend(workset.map(|name| Producer {
            origin: Origin::Binding(name),
            partition: None,
            second_input: true,
        }));
        let head = self.add_node(spec, call, &inputs);
        self.solution = solution_param.as_ref().map(ToString::to_string);
        self.iteration = Some(head);
        let step_call = Call {
            name: call.name.clone(),
            args: Vec::new(),
            args_span: call.args_span,
        };
        let step = self.add_node(
            ops::iteration_node("iteration_step"),
            &step_call,
            &[Producer {
                origin: Origin::Node(head),
                partition: None,
                second_input: false,
            }],
        );
        if self.bindings.contains_key(&param.to_string()) {
            self.errors.push(error(
                param.span(),
                format!("the stream `{param}` is defined twice\nhelp: name the iteration's stream differently from the streams outside it"),
            ));
            self.iteration = None;
            return None;
        }
        self.used.insert(param.to_string());
        self.bindings.insert(
            param.to_string(),
            (
                param.clone(),
                vec![Producer {
                    origin: Origin::Node(step),
                    partition: None,
                    second_input: false,
                }],
            ),
        );
        for statement in &statements {
            self.statement(statement);
        }
        let end_body = |this: &mut Self, expr: Expr, node: &str| -> bool {
            let span = syn::spanned::Spanned::span(&expr);
            let chain = match crate::parse::ChainExpr::from_expr(expr) {
                Ok(chain) => chain,
                Err(e) => {
                    this.errors.push(e);
                    return false;
                }
            };
            let name = Ident::new(&format!("__{node}_{head}"), span);
            let before = this.errors.len();
            this.statement(&crate::parse::Statement {
                binding: Some(name.clone()),
                chain,
            });
            let Some((_, producers)) = this.bindings.remove(&name.to_string()) else {
                return false;
            };
            if this.errors.len() > before {
                return false;
            }
            let sink = Call {
                name: Ident::new(node, span),
                args: Vec::new(),
                args_span: span,
            };
            this.add_node(ops::iteration_node(node), &sink, &producers);
            true
        };
        let ok = match (delta, criterion) {
            (true, Some(next_workset)) => {
                end_body(self, next, "iteration_delta")
                    & end_body(self, next_workset, "iteration_feedback")
            }
            (_, Some(criterion)) => {
                end_body(self, next, "iteration_feedback")
                    & end_body(self, criterion, "iteration_criterion")
            }
            (_, None) => end_body(self, next, "iteration_feedback"),
        };
        self.iteration = None;
        self.solution = None;
        let result = self.add_node(
            ops::iteration_node("iteration_result"),
            &step_call,
            &[Producer {
                origin: Origin::Node(head),
                partition: None,
                second_input: false,
            }],
        );
        ok.then_some((head, result))
    }

    /// Expands a producer through names into operator origins.
    fn resolve(
        &mut self,
        producer: &Producer,
        visiting: &mut Vec<String>,
        via: Option<Ident>,
    ) -> Option<Vec<ResolvedOrigin>> {
        match &producer.origin {
            Origin::Node(id) => Some(vec![(*id, producer.partition.clone(), via)]),
            Origin::Binding(name) => {
                let key = name.to_string();
                self.resolved.insert(key.clone());
                let via = via.or_else(|| Some(name.clone()));
                if self.poisoned.contains(&key) && !self.bindings.contains_key(&key) {
                    return Some(Vec::new());
                }
                if visiting.contains(&key) {
                    self.errors.push(error(
                        name.span(),
                        format!("`{name}` is defined in terms of itself: the streams form a cycle ({} -> {name})\nhelp: cycles are only allowed inside an iteration; make the data flow in one direction", visiting.join(" -> ")),
                    ));
                    return None;
                }
                let Some((_, inner)) = self.bindings.get(&key).cloned() else {
                    let names: Vec<String> = self.bindings.keys().cloned().collect();
                    let help = match ops::nearest(&key, names.iter().map(String::as_str)) {
                        Some(close) => {
                            // The stream the user meant is used, just misspelled.
                            self.used.insert(close.to_string());
                            format!("did you mean `{close}`?")
                        }
                        None => format!("bind it first: `let {name} = ...;`"),
                    };
                    self.errors.push(error(
                        name.span(),
                        format!("no stream named `{name}`\nhelp: {help}"),
                    ));
                    return None;
                };
                visiting.push(key);
                let mut out = Vec::new();
                for inner_producer in &inner {
                    for (node, partition, inner_via) in
                        self.resolve(inner_producer, visiting, via.clone())?
                    {
                        let partition = match (partition, &producer.partition) {
                            (Some(first), Some(second)) => {
                                self.errors.push(double_partition(second, &first));
                                return None;
                            }
                            (first, second) => first.or_else(|| second.clone()),
                        };
                        out.push((node, partition, inner_via));
                    }
                }
                visiting.pop();
                Some(out)
            }
        }
    }
}

/// The stream name at the start of an expression like `odds.map(..)`.
fn innermost_name(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::MethodCall(call) => innermost_name(&call.receiver),
        Expr::Path(path) => path.path.get_ident(),
        Expr::Paren(paren) => innermost_name(&paren.expr),
        _ => None,
    }
}

fn double_partition(second: &PartitionUse, first: &PartitionUse) -> syn::Error {
    // `window_all`, `where` and `equal_to` partition by key themselves.
    match second.call.name.to_string().as_str() {
        "window_all" => {
            return error(
                second.call.name.span(),
                format!("`window_all` gathers the whole stream into one subtask, so it takes a stream that is not partitioned, but this one is partitioned by `{}`\nhelp: for windows per key write `.key_by(|x| key).window(assigner)`; otherwise remove the `{}`", first.call.name, first.call.name),
            )
        }
        "where" | "equal_to" => {
            return error(
                second.call.name.span(),
                format!("`{}` partitions its stream by the join key, but that stream is already partitioned by `{}`\nhelp: remove the `{}` from the stream's definition", second.call.name, first.call.name, first.call.name),
            )
        }
        _ => {}
    }
    error(
        second.call.name.span(),
        format!(
            "this stream is already partitioned by `{}`; a stream has one partitioning\nhelp: remove one of `{}` and `{}`",
            first.call.name, first.call.name, second.call.name
        ),
    )
}

fn apply_setting(settings: &mut Settings, setting: Setting, call: &Call) -> syn::Result<()> {
    let string_arg = |call: &Call| -> syn::Result<LitStr> {
        match &call.args[0] {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Ok(s.clone()),
            other => Err(error(
                syn::spanned::Spanned::span(other),
                format!(
                    "`{}` takes a string literal\nhelp: write `.{}(\"my-operator\")`",
                    call.name, call.name
                ),
            )),
        }
    };
    let already = match setting {
        Setting::Parallelism => settings.parallelism.is_some(),
        Setting::Name => settings.name.is_some(),
        Setting::Uid => settings.uid.is_some(),
        Setting::StartNewChain => settings.start_new_chain,
        Setting::DisableChaining => settings.disable_chaining,
        Setting::StateTtl { .. } => settings.state_ttl.is_some(),
    };
    if already {
        return Err(error(
            call.name.span(),
            format!(
                "`{}` is set twice on the same operator\nhelp: keep one of them",
                call.name
            ),
        ));
    }
    match setting {
        Setting::Parallelism => {
            settings.parallelism = Some((call.args[0].clone(), call.name.span()))
        }
        Setting::Name => settings.name = Some(string_arg(call)?),
        Setting::Uid => settings.uid = Some(string_arg(call)?),
        Setting::StartNewChain => settings.start_new_chain = true,
        Setting::DisableChaining => settings.disable_chaining = true,
        Setting::StateTtl { event_time } => {
            settings.state_ttl = Some((call.args[0].clone(), event_time, call.name.clone()))
        }
    }
    Ok(())
}

/// Builds the graph of one job.
pub fn build(job: &Job) -> Result<Graph, Vec<syn::Error>> {
    let mut builder = Builder::default();
    for statement in &job.statements {
        builder.statement(statement);
    }
    let pending = std::mem::take(&mut builder.pending);
    let mut edges = Vec::new();
    for PendingEdge { producer, to } in pending {
        let Some(origins) = builder.resolve(&producer, &mut Vec::new(), None) else {
            continue;
        };
        for (from, partition, via) in origins {
            edges.push(Edge {
                from,
                to,
                partition,
                via,
                second_input: producer.second_input,
            });
        }
    }
    // Names that no operator reads were not expanded above; expand them once too, so that a
    // cycle of names (`let a = b; let b = a;`) is reported even when nothing consumes it.
    let mut unexpanded: Vec<Ident> = builder
        .bindings
        .iter()
        .filter(|(key, _)| !builder.resolved.contains(*key))
        .map(|(_, (name, _))| name.clone())
        .collect();
    unexpanded.sort_by_key(ToString::to_string);
    for name in unexpanded {
        if !builder.resolved.contains(&name.to_string()) {
            let producer = Producer {
                origin: Origin::Binding(name),
                partition: None,
                second_input: false,
            };
            let _ = builder.resolve(&producer, &mut Vec::new(), None);
        }
    }
    // Names that nothing reads: their stream reaches no sink. Only reported when nothing else
    // went wrong: a stream left unread because its reader failed to build is a consequence
    // of that error, not a second mistake.
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    let mut unused: Vec<Ident> = builder
        .bindings
        .values()
        .filter(|(name, _)| !builder.used.contains(&name.to_string()))
        .map(|(name, _)| name.clone())
        .collect();
    unused.sort_by_key(|name| name.to_string());
    for name in unused {
        builder.errors.push(error(
            name.span(),
            format!("the stream `{name}` is never used, so it reaches no sink\nhelp: use it (`{name}.print();`) or remove it"),
        ));
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    let mut nodes = builder.nodes;
    for (index, edge) in edges.iter().enumerate() {
        nodes[edge.from].outputs.push(index);
        nodes[edge.to].inputs.push(index);
    }
    Ok(Graph { nodes, edges })
}

impl Graph {
    /// Node indices in an order where every edge goes forward (Kahn's algorithm, always taking
    /// the ready node the user wrote first, so plans follow the source), or the index of an
    /// edge that closes a cycle.
    pub fn topological_order(&self) -> Result<Vec<usize>, usize> {
        let mut remaining: Vec<usize> = self.nodes.iter().map(|n| n.inputs.len()).collect();
        let mut ready: std::collections::BTreeSet<usize> = (0..self.nodes.len())
            .filter(|&n| remaining[n] == 0)
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(node) = ready.pop_first() {
            order.push(node);
            for &edge in &self.nodes[node].outputs {
                let to = self.edges[edge].to;
                remaining[to] -= 1;
                if remaining[to] == 0 {
                    ready.insert(to);
                }
            }
        }
        if order.len() == self.nodes.len() {
            return Ok(order);
        }
        // An edge between two nodes left over closes a cycle; prefer one made through a name,
        // which is where the user can break it.
        let placed: HashSet<usize> = order.into_iter().collect();
        let in_cycle = |e: &&Edge| !placed.contains(&e.from) && !placed.contains(&e.to);
        let edge = self
            .edges
            .iter()
            .position(|e| in_cycle(&e) && e.via.is_some())
            .or_else(|| self.edges.iter().position(|e| in_cycle(&e)))
            .unwrap_or(0);
        Err(edge)
    }
}

/// A modifier after `window(..)`: not on count windows (their trigger and evictor are the
/// count), at most once each.
fn check_window_modifier(windowing: &Windowing, call: &Call) -> Option<syn::Error> {
    if windowing.call.name == "count_window" {
        let message = if call.name == "allowed_lateness" {
            "count windows do not follow time, so they take no `allowed_lateness`\nhelp: remove `.allowed_lateness(..)`; for lateness use time windows".to_string()
        } else {
            let written = if call.name == "trigger" {
                ".trigger(CountTrigger::of(n))".to_string()
            } else {
                format!(".trigger(CountTrigger::of(n)).{}(..)", call.name)
            };
            format!("`count_window` already has its trigger and evictor (the count), so it takes no `{}`\nhelp: for other triggers or evictors write `.window(GlobalWindows::create()){written}`", call.name)
        };
        return Some(error(call.name.span(), message));
    }
    let assigner = windowing.assigner.to_token_stream().to_string();
    if call.name == "allowed_lateness"
        && (assigner.contains("ProcessingTime") || assigner.contains("GlobalWindows"))
    {
        return Some(error(
            call.name.span(),
            "allowed lateness is measured against the watermark, so it applies to event-time windows only; these windows do not follow event time\nhelp: remove `.allowed_lateness(..)`, or use an event-time assigner such as `TumblingEventTimeWindows::of(d)`",
        ));
    }
    if windowing.modifiers.iter().any(|m| m.name == call.name) {
        return Some(error(
            call.name.span(),
            format!(
                "this window already has a `{}`\nhelp: keep one `.{}(..)`",
                call.name, call.name
            ),
        ));
    }
    None
}

/// Before the window function: global windows need a trigger.
fn check_window_complete(windowing: &Windowing) -> Option<syn::Error> {
    let global = windowing
        .assigner
        .to_token_stream()
        .to_string()
        .contains("GlobalWindows");
    let triggered = windowing.modifiers.iter().any(|m| m.name == "trigger");
    (global && !triggered).then(|| {
        error(
            syn::spanned::Spanned::span(&windowing.assigner),
            "global windows never fire on their own: they need a trigger\nhelp: add one after the window, e.g. `.window(GlobalWindows::create()).trigger(CountTrigger::of(100))`",
        )
    })
}

/// The window a function computes: the assigner, wrapped in a `WindowSpec` with the
/// modifiers if there are any, and in `AllWindows` for `window_all`.
fn window_expression(windowing: &Windowing, all: bool) -> Expr {
    let assigner = &windowing.assigner;
    let span = syn::spanned::Spanned::span(assigner);
    let mut expr = assigner.clone();
    if !windowing.modifiers.is_empty() {
        expr =
            syn::parse_quote_spanned!(span=> ::dataflow::runtime::window::WindowSpec::new(#expr));
        for modifier in &windowing.modifiers {
            let name = &modifier.name;
            let arg = &modifier.args[0];
            expr = syn::parse_quote_spanned!(name.span()=> #expr.#name(#arg));
        }
    }
    if all {
        expr = syn::parse_quote_spanned!(span=> ::dataflow::runtime::window::AllWindows(#expr));
    }
    expr
}

/// What a call after `join`, `co_group` or `interval_join` did.
enum JoinStep {
    /// A modifier, recorded.
    Continue,
    /// The join's `window(..)`: windowing starts.
    Window,
    /// The join is complete: its node.
    Node(usize),
    /// An error was reported.
    Failed,
}

/// How to finish a join.
fn join_help(join: &Ident) -> &'static str {
    if join == "interval_join" {
        "write `a.key_by(..).interval_join(b).between(lower_ms, upper_ms).process(|a, b| out)`, `b` keyed too"
    } else if join == "cross" {
        "write `a.cross(b).apply(|a, b| out)`"
    } else {
        "write `a.join(b).where(|a| key).equal_to(|b| key).window(assigner).apply(|a, b| out)`, or without `.window(..)` on bounded streams"
    }
}

/// The stream name in `join(name)`.
fn stream_name(arg: &Expr) -> Option<Ident> {
    match arg {
        Expr::Path(path) => path.path.get_ident().cloned(),
        _ => None,
    }
}

impl Builder {
    /// A call after a join: its modifiers, its `window`, its final `process`.
    fn join_step(
        &mut self,
        join: &mut Joining,
        spec: &'static OpSpec,
        call: &Call,
        stream: &mut [Producer],
    ) -> JoinStep {
        let interval = join.call.name == "interval_join";
        let name = call.name.to_string();
        let misplaced = |this: &mut Self| {
            this.errors.push(error(
                call.name.span(),
                format!(
                    "`{}` cannot come here in a `{}`\nhelp: {}",
                    call.name,
                    join.call.name,
                    join_help(&join.call.name)
                ),
            ));
            JoinStep::Failed
        };
        if spec.family == Family::JoinModifier && !self.check_arity(spec, call) {
            return JoinStep::Failed;
        }
        if let Some(key) = &mut join.solution {
            return match (name.as_str(), key.as_ref()) {
                ("where", None) => {
                    *key = Some(call.args[0].clone());
                    JoinStep::Continue
                }
                ("apply", Some(key)) => {
                    if !self.check_arity(spec, call) {
                        return JoinStep::Failed;
                    }
                    let mut merged = call.clone();
                    merged.args = vec![key.clone(), call.args[0].clone()];
                    JoinStep::Node(self.add_node(
                        ops::iteration_node("solution_join"),
                        &merged,
                        stream,
                    ))
                }
                _ => {
                    self.errors.push(error(
                        call.name.span(),
                        "a join with the solution set is a lookup by key\nhelp: write `x.join(solution).where(|x| key).apply(|x, s| out)`",
                    ));
                    JoinStep::Failed
                }
            };
        }
        match name.as_str() {
            "where" | "equal_to" if !interval && join.call.name != "cross" => {
                let second = name == "equal_to";
                let done = if second {
                    join.keyed_second
                } else {
                    join.keyed_first
                };
                if done || (second && !join.keyed_first) {
                    return misplaced(self);
                }
                // Named after `where` or `equal_to`, for errors about this partitioning.
                let key_by = Call {
                    name: call.name.clone(),
                    args: call.args.clone(),
                    args_span: call.args_span,
                };
                let use_ = PartitionUse {
                    kind: Partitioning::Hash,
                    call: key_by,
                    id: self.partition_uses,
                };
                self.partition_uses += 1;
                for producer in stream.iter_mut().filter(|p| p.second_input == second) {
                    producer.partition = Some(use_.clone());
                }
                join.keys[usize::from(second)] = Some(call.args[0].clone());
                if second {
                    join.keyed_second = true;
                } else {
                    join.keyed_first = true;
                }
                JoinStep::Continue
            }
            "hint"
                if !interval
                    && join.keyed_first
                    && join.keyed_second
                    && join.broadcast.is_none()
                    && matches!(
                        join.call.name.to_string().as_str(),
                        "join" | "left_outer_join" | "right_outer_join"
                    ) =>
            {
                // `BroadcastSecond` or `JoinHint::BroadcastSecond` (any path ending so).
                let last = match &call.args[0] {
                    Expr::Path(path) => {
                        let segments: Vec<&Ident> =
                            path.path.segments.iter().map(|s| &s.ident).collect();
                        match segments.as_slice() {
                            [.., parent, _] if *parent != "JoinHint" => None,
                            [.., variant] => Some(*variant),
                            [] => None,
                        }
                    }
                    _ => None,
                };
                let hint = last.map(ToString::to_string);
                // Errors point at the variant (`BroadcastFirst`), not at `JoinHint`.
                let hint_span = last.map_or_else(
                    || syn::spanned::Spanned::span(&call.args[0]),
                    proc_macro2::Ident::span,
                );
                let kind = join.call.name.to_string();
                match (hint.as_deref(), kind.as_str()) {
                    (Some("BroadcastSecond"), "join" | "left_outer_join") => {
                        join.broadcast = Some((call.clone(), false));
                        JoinStep::Continue
                    }
                    (Some("BroadcastFirst"), "join" | "right_outer_join") => {
                        join.broadcast = Some((call.clone(), true));
                        JoinStep::Continue
                    }
                    (Some("Repartition"), _) => {
                        join.repartition = true;
                        JoinStep::Continue
                    }
                    (Some(side @ ("BroadcastFirst" | "BroadcastSecond")), _) => {
                        let (kept, other) = if kind == "left_outer_join" {
                            ("first", "BroadcastSecond")
                        } else {
                            ("second", "BroadcastFirst")
                        };
                        self.errors.push(error(
                            hint_span,
                            format!(
                                "`JoinHint::{side}` cannot run a `{kind}`: it keeps the unmatched records of the {kind_side} input, which must then not be broadcast (each subtask would emit them again)\nhelp: use `JoinHint::{other}` (broadcast the {other_side} input) or `JoinHint::Repartition`",
                                kind_side = kept,
                                other_side = if kept == "first" { "second" } else { "first" },
                            ),
                        ));
                        JoinStep::Failed
                    }
                    _ => {
                        self.errors.push(error(
                            hint_span,
                            "a join hint is `JoinHint::Repartition` (both inputs partitioned by key, the default), `JoinHint::BroadcastSecond` or `JoinHint::BroadcastFirst` (that input sent whole to every subtask, the other not shuffled)",
                        ));
                        JoinStep::Failed
                    }
                }
            }
            "hint"
                if !interval
                    && join.keyed_first
                    && join.keyed_second
                    && matches!(
                        join.call.name.to_string().as_str(),
                        "full_outer_join" | "co_group"
                    ) =>
            {
                self.errors.push(error(
                    call.name.span(),
                    format!(
                        "a `{}` keeps the records of both inputs that find no partner, so neither input may be broadcast: it is always a hash join\nhelp: remove `.hint(..)`",
                        join.call.name
                    ),
                ));
                JoinStep::Failed
            }
            "window"
                if !interval
                    && join.keyed_first
                    && join.keyed_second
                    && join.call.name != "cross" =>
            {
                if let Some((hint, _)) = &join.broadcast {
                    self.errors.push(error(
                        hint.name.span(),
                        "a join hint chooses how a join without a window runs; a window join always partitions both inputs by key\nhelp: remove `.hint(..)`, or remove `.window(..)` for a join of the whole bounded inputs",
                    ));
                    return JoinStep::Failed;
                }
                JoinStep::Window
            }
            // Without a window: a join of bounded inputs, at end of input.
            "apply"
                if (!interval && join.keyed_first && join.keyed_second)
                    || (join.call.name == "cross" && !join.keyed_second) =>
            {
                if !self.check_arity(spec, call) {
                    return JoinStep::Failed;
                }
                if let Some((hint, first)) = &join.broadcast {
                    // One input goes to every subtask; the other stays where it is.
                    let broadcast = PartitionUse {
                        kind: Partitioning::Broadcast,
                        call: hint.clone(),
                        id: self.partition_uses,
                    };
                    self.partition_uses += 1;
                    for producer in stream.iter_mut() {
                        producer.partition =
                            (producer.second_input != *first).then(|| broadcast.clone());
                    }
                    let name = if *first {
                        format!("batch_broadcast_first_{}", join.call.name)
                    } else {
                        format!("batch_broadcast_{}", join.call.name)
                    };
                    let node_spec = ops::JOIN_NODES
                        .iter()
                        .find(|op| op.name == name)
                        .expect("a broadcast node for each join a hint allows");
                    let mut merged = call.clone();
                    merged.args = join
                        .keys
                        .iter()
                        .flatten()
                        .cloned()
                        .chain(call.args.iter().cloned())
                        .collect();
                    return JoinStep::Node(self.add_node(node_spec, &merged, stream));
                }
                let name = format!("batch_{}", join.call.name);
                let node_spec = ops::JOIN_NODES
                    .iter()
                    .find(|op| op.name == name)
                    .expect("a batch node for every join");
                let node = self.add_node(node_spec, call, stream);
                // Inside an iteration, sizes per superstep are unknown at start: repartition.
                self.nodes[node].chooses_strategy = !join.repartition
                    && self.iteration.is_none()
                    && matches!(
                        join.call.name.to_string().as_str(),
                        "join" | "left_outer_join" | "right_outer_join"
                    );
                JoinStep::Node(node)
            }
            "between" if interval && join.between.is_none() => {
                join.between = Some((call.args[0].clone(), call.args[1].clone()));
                JoinStep::Continue
            }
            "lower_bound_exclusive"
                if interval && join.between.is_some() && !join.lower_exclusive =>
            {
                join.lower_exclusive = true;
                JoinStep::Continue
            }
            "upper_bound_exclusive"
                if interval && join.between.is_some() && !join.upper_exclusive =>
            {
                join.upper_exclusive = true;
                JoinStep::Continue
            }
            "process" if interval && join.between.is_some() => {
                if !self.check_arity(spec, call) {
                    return JoinStep::Failed;
                }
                let (lower, upper) = join.between.clone().expect("checked");
                let (lower_exclusive, upper_exclusive) =
                    (join.lower_exclusive, join.upper_exclusive);
                // The node is named after `interval_join`, where its errors point.
                let mut merged = call.clone();
                merged.name = join.call.name.clone();
                merged.args = vec![
                    lower,
                    upper,
                    syn::parse_quote!(#lower_exclusive),
                    syn::parse_quote!(#upper_exclusive),
                    call.args[0].clone(),
                ];
                let node_spec = ops::JOIN_NODES
                    .iter()
                    .find(|op| op.name == "interval_join")
                    .expect("the interval join node");
                JoinStep::Node(self.add_node(node_spec, &merged, stream))
            }
            _ => misplaced(self),
        }
    }
}
