//! The physical plan the `dataflow!` macro computes at compile time, as static data: which
//! operators exist, how they are fused into chains, and how chains are connected. The runtime
//! reads it to name operators in errors and reports, and `--explain` prints it.

use std::fmt::Write as _;

/// A whole job.
#[derive(Debug)]
pub struct JobPlan {
    /// The job's name.
    pub name: &'static str,
    /// The job's doc comment.
    pub description: &'static str,
    /// Every operator, indexed by the ids the generated code uses.
    pub operators: &'static [OperatorInfo],
    /// The chains, in an order where every chain comes after the chains feeding it.
    pub chains: &'static [ChainInfo],
    /// Whether every source is bounded (the job can run in batch mode).
    pub bounded: bool,
}

/// One operator.
#[derive(Debug)]
pub struct OperatorInfo {
    /// Its name: the user's `.name(..)`, or the operator's own name, numbered if repeated.
    pub name: &'static str,
    /// The DSL operator it comes from (`map`, `key_by`, `print`, ...).
    pub kind: &'static str,
    /// The user's `.uid(..)`, if any.
    pub uid: Option<&'static str>,
    /// The chain it belongs to.
    pub chain: usize,
    /// Whether it can run at parallelism above 1 (a `from_iter` or `socket_lines` cannot).
    pub parallel: bool,
}

impl OperatorInfo {
    /// What its state is known by in a checkpoint: its `.uid(..)`, else its name (unique in
    /// the job), so a job changed elsewhere (an operator added, removed or moved) still
    /// finds its state.
    pub fn state_id(&self) -> &'static str {
        self.uid.unwrap_or(self.name)
    }
}

/// One chain: operators fused into one loop, run as `parallelism` subtasks.
#[derive(Debug)]
pub struct ChainInfo {
    /// The operators in order; the first is a source or reads the inputs.
    pub operators: &'static [usize],
    /// For each of `operators`, the operators of this chain it feeds: a chain is a tree when
    /// an operator has several forward consumers.
    pub successors: &'static [&'static [usize]],
    /// How many subtasks run it.
    pub parallelism: ParallelismSpec,
    /// The exchanges feeding it.
    pub inputs: &'static [ChainInput],
}

/// Where a chain's parallelism comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParallelismSpec {
    /// The job's default (`--parallelism`).
    Default,
    /// A literal in the job (`.parallelism(4)`, or 1 for a non-parallel source).
    Fixed(usize),
    /// An expression in the job, evaluated when the job starts.
    Expr(&'static str),
}

/// One exchange into a chain.
#[derive(Debug)]
pub struct ChainInput {
    /// The chain sending.
    pub from: usize,
    /// How records are distributed.
    pub partitioning: Partitioning,
    /// The operator whose function partitions (`key_by`, `partition_custom`), if any.
    pub operator: Option<usize>,
    /// It is the second input of the chain's two-input operator (`connect`, a join).
    pub second_input: bool,
    /// It feeds a join whose strategy is chosen when the job starts: `Hash` unless the join
    /// broadcasts this input (every subtask) or the other one (records stay local).
    pub chosen_at_start: bool,
}

/// The distribution pattern of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// Subtask i to subtask i.
    Forward,
    /// Round robin over all receivers.
    Rebalance,
    /// Round robin over a local subset of receivers.
    Rescale,
    /// Every record to every receiver.
    Broadcast,
    /// Random receiver.
    Shuffle,
    /// Everything to subtask 0.
    Global,
    /// The user's function picks.
    Custom,
    /// By key group of the key.
    Hash,
}

impl Partitioning {
    /// The name `--explain` prints.
    pub fn name(self) -> &'static str {
        match self {
            Partitioning::Forward => "FORWARD",
            Partitioning::Rebalance => "REBALANCE",
            Partitioning::Rescale => "RESCALE",
            Partitioning::Broadcast => "BROADCAST",
            Partitioning::Shuffle => "SHUFFLE",
            Partitioning::Global => "GLOBAL",
            Partitioning::Custom => "CUSTOM",
            Partitioning::Hash => "HASH",
        }
    }
}

/// Renders a plan; `parallelism(chain)` gives each chain's resolved parallelism (or `None`
/// where it is an expression only known when the job runs).
pub fn explain_text(plan: &JobPlan, mode: &str, parallelism: &dyn Fn(usize) -> String) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "job `{}`: {} operators fused into {} chains, {} mode",
        plan.name,
        // Partitioning functions (`key_by`) run inside exchanges, in no chain.
        plan.chains.iter().map(|c| c.operators.len()).sum::<usize>(),
        plan.chains.len(),
        mode
    );
    for (index, chain) in plan.chains.iter().enumerate() {
        let _ = writeln!(out, "chain {index} (parallelism {})", parallelism(index));
        for input in chain.inputs {
            let by = match input.operator {
                Some(op) => format!(" by `{}`", plan.operators[op].name),
                None => String::new(),
            };
            let chosen = if input.chosen_at_start {
                " (or BROADCAST / kept local: the join's strategy is chosen at start)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    <- chain {} via {}{by}{chosen}",
                input.from,
                input.partitioning.name()
            );
        }
        let _ = writeln!(
            out,
            "    {}",
            layout(chain, chain.operators[0], &|op| describe_operator(plan, op))
        );
    }
    out
}

/// A chain from `op` on: `a -> b` for a line, `a -> { b | c -> d }` where `a` fans out.
fn layout(chain: &ChainInfo, op: usize, name: &dyn Fn(usize) -> String) -> String {
    let position = chain.operators.iter().position(|&o| o == op);
    let successors = position
        .and_then(|p| chain.successors.get(p))
        .copied()
        .unwrap_or(&[]);
    let text = name(op);
    match successors {
        [] => text,
        [one] => format!("{text} -> {}", layout(chain, *one, name)),
        many => {
            let branches: Vec<String> = many.iter().map(|&s| layout(chain, s, name)).collect();
            format!("{text} -> {{ {} }}", branches.join(" | "))
        }
    }
}

fn describe_operator(plan: &JobPlan, op: usize) -> String {
    let info = &plan.operators[op];
    let mut text = if info.name == info.kind {
        info.name.to_string()
    } else {
        format!("{} [{}]", info.name, info.kind)
    };
    if let Some(uid) = info.uid {
        let _ = write!(text, " (uid {uid})");
    }
    text
}

/// Renders a plan as a Graphviz digraph: one node per chain, one edge per exchange.
pub fn explain_dot(plan: &JobPlan, parallelism: &dyn Fn(usize) -> String) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(plan.name));
    let _ = writeln!(out, "    rankdir=LR;");
    let _ = writeln!(out, "    node [shape=box];");
    for (index, chain) in plan.chains.iter().enumerate() {
        let tree = layout(chain, chain.operators[0], &|op| {
            escape(&describe_operator(plan, op))
        });
        let _ = writeln!(
            out,
            "    chain{index} [label=\"chain {index} (parallelism {})\\n{}\"];",
            escape(&parallelism(index)),
            tree
        );
        for input in chain.inputs {
            let _ = writeln!(
                out,
                "    chain{} -> chain{index} [label=\"{}\"];",
                input.from,
                input.partitioning.name()
            );
        }
    }
    out.push_str("}\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A job of one source in one chain, for the runtime's unit tests.
#[cfg(test)]
pub(crate) static ONE_SOURCE_PLAN: JobPlan = JobPlan {
    name: "j",
    description: "A job.",
    operators: &[OperatorInfo {
        name: "generate",
        kind: "generate",
        uid: None,
        chain: 0,
        parallel: true,
    }],
    chains: &[ChainInfo {
        operators: &[0],
        successors: &[&[]],
        parallelism: ParallelismSpec::Default,
        inputs: &[],
    }],
    bounded: true,
};

#[cfg(test)]
mod tests {
    use super::*;

    const fn op(name: &'static str, kind: &'static str, uid: Option<&'static str>) -> OperatorInfo {
        OperatorInfo {
            name,
            kind,
            uid,
            chain: 0,
            parallel: true,
        }
    }

    static PLAN: JobPlan = JobPlan {
        name: "tree",
        description: "",
        operators: &[
            op("generate", "generate", None),
            op("parse", "map", Some("parse-v1")),
            op("print", "print", None),
            op("filter", "filter", None),
            op("discard", "discard", None),
            op("count", "count", None),
            op("key_by", "key_by", None),
        ],
        chains: &[
            ChainInfo {
                operators: &[0, 1, 2, 3, 4],
                successors: &[&[1], &[2, 3], &[], &[4], &[]],
                parallelism: ParallelismSpec::Default,
                inputs: &[],
            },
            ChainInfo {
                operators: &[5],
                successors: &[&[]],
                parallelism: ParallelismSpec::Expr("p"),
                inputs: &[ChainInput {
                    from: 0,
                    partitioning: Partitioning::Hash,
                    operator: Some(6),
                    second_input: false,
                    chosen_at_start: false,
                }],
            },
        ],
        bounded: true,
    };

    #[test]
    fn explain_prints_chains_as_trees_with_their_exchanges() {
        let text = explain_text(&PLAN, "batch", &|chain| {
            if chain == 0 {
                "4".into()
            } else {
                "`p`".into()
            }
        });
        assert_eq!(
            text,
            "job `tree`: 6 operators fused into 2 chains, batch mode\n\
             chain 0 (parallelism 4)\n    generate -> parse [map] (uid parse-v1) -> { print | filter -> discard }\n\
             chain 1 (parallelism `p`)\n    <- chain 0 via HASH by `key_by`\n    count\n"
        );
        let dot = explain_dot(&PLAN, &|_| "2".into());
        assert!(dot.contains("chain0 -> chain1 [label=\"HASH\"];"), "{dot}");
        assert!(dot.contains("{ print | filter -> discard }"), "{dot}");
    }
}
