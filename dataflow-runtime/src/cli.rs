//! The command line of generated job binaries: job parameters as positional arguments, plus
//! `--parallelism`, `--max-parallelism`, `--mode`, `--explain[=text|dot]` and `--help`.

use std::fmt::Display;
use std::str::FromStr;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::error::{Error, Result};
use crate::io::Collected;
use crate::job::{ExecutionMode, JobConfig, JobReport};
use crate::plan::{explain_dot, explain_text, JobPlan, ParallelismSpec};

/// Whether and how a job parameter appears on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgumentKind {
    /// A required positional argument.
    Required,
    /// An optional positional argument (the parameter is an `Option<T>`).
    Optional,
    /// Not on the command line: the binary creates the value (e.g. a [`Collected`] handle).
    NotAnArgument,
}

/// A type a job parameter can have when the job runs as a binary.
pub trait JobParameter: Sized {
    /// How it appears on the command line.
    const KIND: ArgumentKind = ArgumentKind::Required;
    /// Builds the value from its argument (`None` for [`ArgumentKind::NotAnArgument`]).
    fn from_argument(argument: Option<&str>) -> std::result::Result<Self, String>;
}

impl<T: FromStr> JobParameter for T
where
    T::Err: Display,
{
    fn from_argument(argument: Option<&str>) -> std::result::Result<Self, String> {
        let text = argument.ok_or("missing value")?;
        text.parse().map_err(|e: T::Err| format!("`{text}`: {e}"))
    }
}

impl<T> JobParameter for Collected<T> {
    const KIND: ArgumentKind = ArgumentKind::NotAnArgument;
    fn from_argument(_: Option<&str>) -> std::result::Result<Self, String> {
        Ok(Collected::new())
    }
}

/// A job parameter as the generated `main` reads it. A type with a command-line form
/// ([`JobParameter`]) becomes a positional argument ([`CommandLine`]); any other type still
/// compiles ([`NotOnCommandLine`]), and `main` then refuses to run the job with an error
/// saying that `run` must be called from Rust. The choice is made at compile time by method
/// resolution: the generated code calls `(&&Param::<T>::new(..)).spec()`, which finds the
/// `CommandLine` impl on `&Param<T>` when `T: JobParameter`, and the fallback on `Param<T>`
/// otherwise.
pub struct Param<T> {
    name: &'static str,
    type_text: &'static str,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T> Param<T> {
    /// The parameter `name`, of the type written `type_text` in the job.
    pub fn new(name: &'static str, type_text: &'static str) -> Self {
        Param {
            name,
            type_text,
            _type: std::marker::PhantomData,
        }
    }
}

/// A parameter `main` reads from the command line.
pub trait CommandLine<T> {
    /// How it appears on the command line.
    fn spec(&self) -> ParamSpec;
    /// Its value.
    fn value(&self, cli: &JobCli) -> Result<T>;
}

impl<T: JobParameter> CommandLine<T> for &Param<T> {
    fn spec(&self) -> ParamSpec {
        ParamSpec::of::<T>(self.name, self.type_text)
    }
    fn value(&self, cli: &JobCli) -> Result<T> {
        cli.value::<T>(self.name)
    }
}

/// A parameter written `Option<T>`: an optional argument. (A separate type, as `Option<T>`
/// could one day be `FromStr` and clash with [`Param`]'s reading.)
pub struct OptionalParam<T>(Param<T>);

impl<T> OptionalParam<T> {
    /// The parameter `name: Option<T>`, written `type_text` in the job.
    pub fn new(name: &'static str, type_text: &'static str) -> Self {
        OptionalParam(Param::new(name, type_text))
    }
}

impl<T: JobParameter> CommandLine<Option<T>> for &OptionalParam<T> {
    fn spec(&self) -> ParamSpec {
        ParamSpec::optional::<T>(self.0.name, self.0.type_text)
    }
    fn value(&self, cli: &JobCli) -> Result<Option<T>> {
        cli.optional::<T>(self.0.name)
    }
}

/// A parameter with no command-line form (a `Vec`, an `Arc`, ...): `main` cannot run the job.
pub trait NotOnCommandLine<T> {
    /// Not on the command line.
    fn spec(&self) -> ParamSpec;
    /// An error naming the parameter.
    fn value(&self, cli: &JobCli) -> Result<T>;
}

impl<T> NotOnCommandLine<T> for Param<T> {
    fn spec(&self) -> ParamSpec {
        ParamSpec {
            name: self.name,
            kind: ArgumentKind::NotAnArgument,
            type_text: self.type_text,
        }
    }
    fn value(&self, cli: &JobCli) -> Result<T> {
        Err(Error::Config(format!(
            "job `{job}` takes `{}: {}`, which has no command-line form (it is not `FromStr`); \
             run the job from Rust with `{job}::run`",
            self.name,
            self.type_text,
            job = cli.plan.name,
        )))
    }
}

impl<T> NotOnCommandLine<Option<T>> for OptionalParam<T> {
    fn spec(&self) -> ParamSpec {
        NotOnCommandLine::<T>::spec(&self.0)
    }
    fn value(&self, cli: &JobCli) -> Result<Option<T>> {
        NotOnCommandLine::<T>::value(&self.0, cli).map(Some)
    }
}

/// One job parameter as `main` declares it.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    name: &'static str,
    kind: ArgumentKind,
    /// The parameter's type as written in the job, for `--help`.
    type_text: &'static str,
}

impl ParamSpec {
    /// A parameter of type `T`, written `type_text` in the job.
    pub fn of<T: JobParameter>(name: &'static str, type_text: &'static str) -> Self {
        ParamSpec {
            name,
            kind: T::KIND,
            type_text,
        }
    }

    /// A parameter of type `Option<T>`, written `type_text` in the job.
    pub fn optional<T: JobParameter>(name: &'static str, type_text: &'static str) -> Self {
        let kind = match T::KIND {
            ArgumentKind::NotAnArgument => ArgumentKind::NotAnArgument,
            _ => ArgumentKind::Optional,
        };
        ParamSpec {
            name,
            kind,
            type_text,
        }
    }
}

/// The parsed command line of a job binary.
pub struct JobCli {
    plan: &'static JobPlan,
    matches: ArgMatches,
    config: JobConfig,
}

impl JobCli {
    /// Parses `std::env::args()`. Prints help or usage errors and exits, as clap does; prints
    /// the plan and returns `None` for `--explain`.
    pub fn parse(plan: &'static JobPlan, params: &[ParamSpec]) -> Result<Option<Self>> {
        Self::parse_from(plan, params, std::env::args_os())
    }

    /// [`JobCli::parse`] over given arguments (the first is the program name).
    pub fn parse_from<I, A>(
        plan: &'static JobPlan,
        params: &[ParamSpec],
        args: I,
    ) -> Result<Option<Self>>
    where
        I: IntoIterator<Item = A>,
        A: Into<std::ffi::OsString> + Clone,
    {
        let command = command(plan, params);
        let matches = command
            .try_get_matches_from(args)
            .unwrap_or_else(|e| e.exit());
        let mut config = JobConfig::default();
        if let Some(&p) = matches.get_one::<usize>("parallelism") {
            config.parallelism = p;
        }
        if let Some(&p) = matches.get_one::<usize>("max-parallelism") {
            config.max_parallelism = p;
        }
        if let Some(&mode) = matches.get_one::<ExecutionMode>("mode") {
            config.mode = mode;
        }
        if let (Some(&interval), Some(dir)) = (
            matches.get_one::<std::time::Duration>("checkpoint-interval"),
            matches.get_one::<std::path::PathBuf>("checkpoint-dir"),
        ) {
            config.checkpointing = Some(crate::checkpoint::CheckpointConfig {
                interval,
                dir: dir.clone(),
                retained: matches
                    .get_one::<usize>("checkpoints-retained")
                    .copied()
                    .unwrap_or(3),
                at_least_once: matches
                    .get_one::<String>("checkpoint-mode")
                    .is_some_and(|m| m == "at-least-once"),
            });
        }
        config.restore = matches.get_one::<std::path::PathBuf>("restore").cloned();
        config.savepoint_dir = matches
            .get_one::<std::path::PathBuf>("savepoint-dir")
            .cloned();
        let attempts = matches
            .get_one::<u32>("restart-attempts")
            .copied()
            .unwrap_or(3);
        let delay = matches
            .get_one::<std::time::Duration>("restart-delay")
            .copied()
            .unwrap_or(std::time::Duration::from_secs(1));
        config.restart = match matches
            .get_one::<String>("restart-strategy")
            .map(String::as_str)
        {
            Some("fixed-delay") => crate::job::RestartStrategy::FixedDelay { attempts, delay },
            Some("exponential-backoff") => crate::job::RestartStrategy::ExponentialBackoff {
                attempts,
                initial: delay,
                max: std::time::Duration::from_secs(60).max(delay),
            },
            _ => crate::job::RestartStrategy::None,
        };
        if let Some(&budget) = matches.get_one::<usize>("memory-budget") {
            let mut spill = crate::spill::SpillConfig::new(budget);
            if let Some(dir) = matches.get_one::<std::path::PathBuf>("spill-dir") {
                spill = spill.in_dir(dir.clone());
            }
            config.spill = Some(spill);
        }
        if let Some(&threshold) = matches.get_one::<usize>("broadcast-threshold") {
            config.broadcast_threshold = threshold as u64;
        }
        config.stop_on_ctrl_c = true;
        if let Some(format) = matches.get_one::<String>("explain") {
            let parallelism = |chain: usize| match plan.chains[chain].parallelism {
                ParallelismSpec::Default => config.parallelism.to_string(),
                ParallelismSpec::Fixed(n) => n.to_string(),
                ParallelismSpec::Expr(expr) => format!("`{expr}`"),
            };
            let text = if format == "dot" {
                explain_dot(plan, &parallelism)
            } else {
                let mode = match config.batch_mode(plan) {
                    Ok(true) => "batch",
                    Ok(false) => "streaming",
                    Err(e) => return Err(e),
                };
                explain_text(plan, mode, &parallelism)
            };
            print!("{text}");
            return Ok(None);
        }
        Ok(Some(JobCli {
            plan,
            matches,
            config,
        }))
    }

    /// The configuration the flags describe.
    pub fn config(&self) -> &JobConfig {
        &self.config
    }

    /// The value of parameter `name`.
    pub fn value<T: JobParameter>(&self, name: &str) -> Result<T> {
        let argument = self
            .matches
            .try_get_one::<String>(&argument_id(name))
            .ok()
            .flatten();
        T::from_argument(argument.map(String::as_str))
            .map_err(|e| Error::Config(format!("job `{}`: argument <{name}>: {e}", self.plan.name)))
    }

    /// The value of an optional parameter `name`.
    pub fn optional<T: JobParameter>(&self, name: &str) -> Result<Option<T>> {
        if T::KIND == ArgumentKind::NotAnArgument {
            return self.value(name).map(Some);
        }
        match self
            .matches
            .try_get_one::<String>(&argument_id(name))
            .ok()
            .flatten()
        {
            None => Ok(None),
            Some(_) => self.value(name).map(Some),
        }
    }

    /// Prints the report summary to standard error.
    pub fn finish(&self, report: &JobReport) {
        eprint!("{report}");
    }
}

/// A duration written as a number and a unit: `ms`, `s`, `m` or `h` (`250ms`, `10s`).
fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` needs a unit: ms, s, m or h (e.g. 500ms)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let millis = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ms, s, m or h"
            ))
        }
    };
    if millis == 0 {
        return Err("the interval must be above zero".to_string());
    }
    Ok(std::time::Duration::from_millis(millis))
}

/// The clap id of a job parameter: prefixed, so a parameter may be called `mode` or
/// `parallelism` without clashing with the flags.
fn argument_id(name: &str) -> String {
    format!("param:{name}")
}

fn command(plan: &'static JobPlan, params: &[ParamSpec]) -> Command {
    let mut command = Command::new(plan.name)
        .about(plan.description.trim().to_string())
        .arg(
            Arg::new("parallelism")
                .long("parallelism")
                .short('p')
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .help("Default parallelism of operators [default: number of cores]"),
        )
        .arg(
            Arg::new("max-parallelism")
                .long("max-parallelism")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .help("Number of key groups, the upper bound of any parallelism [default: 128]"),
        )
        .arg(
            Arg::new("mode")
                .long("mode")
                .value_name("MODE")
                .value_parser(|s: &str| s.parse::<ExecutionMode>())
                .help("Execution mode: automatic (batch if all sources are bounded), streaming or batch"),
        )
        .arg(
            Arg::new("explain")
                .long("explain")
                .value_name("FORMAT")
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("text")
                .value_parser(["text", "dot"])
                .action(ArgAction::Set)
                .help("Print the physical plan (chains, parallelism, exchanges) and exit"),
        )
        .arg(
            Arg::new("checkpoint-interval")
                .long("checkpoint-interval")
                .value_name("DURATION")
                .value_parser(parse_duration)
                .requires("checkpoint-dir")
                .help("Take a checkpoint this often (e.g. 500ms, 10s, 1m; streaming mode)"),
        )
        .arg(
            Arg::new("checkpoint-dir")
                .long("checkpoint-dir")
                .value_name("PATH")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .requires("checkpoint-interval")
                .help("Where checkpoints go (chk-<id> directories)"),
        )
        .arg(
            Arg::new("checkpoints-retained")
                .long("checkpoints-retained")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .requires("checkpoint-dir")
                .help("How many complete checkpoints to keep [default: 3]"),
        )
        .arg(
            Arg::new("checkpoint-mode")
                .long("checkpoint-mode")
                .value_name("MODE")
                .value_parser(["exactly-once", "at-least-once"])
                .requires("checkpoint-dir")
                .help("exactly-once (aligned barriers) or at-least-once (no alignment) [default: exactly-once]"),
        )
        .arg(
            Arg::new("restart-strategy")
                .long("restart-strategy")
                .value_name("STRATEGY")
                .value_parser(["none", "fixed-delay", "exponential-backoff"])
                .help("After a failure, restart from the last checkpoint: none, fixed-delay or exponential-backoff [default: none]"),
        )
        .arg(
            Arg::new("restart-attempts")
                .long("restart-attempts")
                .value_name("N")
                .value_parser(clap::value_parser!(u32))
                .requires("restart-strategy")
                .help("Restarts at most [default: 3]"),
        )
        .arg(
            Arg::new("restart-delay")
                .long("restart-delay")
                .value_name("DURATION")
                .value_parser(parse_duration)
                .requires("restart-strategy")
                .help("Wait before a restart (the first, for exponential-backoff, which doubles it up to 1m) [default: 1s]"),
        )
        .arg(
            Arg::new("savepoint-dir")
                .long("savepoint-dir")
                .value_name("PATH")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .requires("checkpoint-dir")
                .help("On Ctrl-C or SIGTERM, write a savepoint here before stopping"),
        )
        .arg(
            Arg::new("memory-budget")
                .long("memory-budget")
                .value_name("SIZE")
                .value_parser(crate::spill::parse_size)
                .help("Batch mode: memory each keyed operator subtask may hold (512m, 2g, ...) before it spills its state to disk [default: no limit]"),
        )
        .arg(
            Arg::new("broadcast-threshold")
                .long("broadcast-threshold")
                .value_name("SIZE")
                .value_parser(|text: &str| match text.trim() {
                    "0" => Ok(0),
                    _ => crate::spill::parse_size(text),
                })
                .help("Batch mode: a join without a hint broadcasts an input whose sources are estimated at most this size (0: never) [default: 10m]"),
        )
        .arg(
            Arg::new("spill-dir")
                .long("spill-dir")
                .value_name("PATH")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .requires("memory-budget")
                .help("Where state over the memory budget goes [default: the system's temporary directory]"),
        )
        .arg(
            Arg::new("restore")
                .long("restore")
                .value_name("PATH")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .help("Start from a checkpoint: a checkpoint directory (its newest complete checkpoint), one chk-<id>, or a savepoint"),
        );
    for param in params {
        let required = match param.kind {
            ArgumentKind::Required => true,
            ArgumentKind::Optional => false,
            ArgumentKind::NotAnArgument => continue,
        };
        command = command.arg(
            Arg::new(argument_id(param.name))
                .value_name(param.name.to_uppercase())
                .help(format!(
                    "Job parameter `{}: {}`",
                    param.name, param.type_text
                ))
                .required(required),
        );
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::ONE_SOURCE_PLAN as PLAN;

    #[test]
    fn parameters_named_like_flags_do_not_clash() {
        let params = [
            ParamSpec::of::<String>("mode", "String"),
            ParamSpec::optional::<u64>("parallelism", "Option<u64>"),
        ];
        let cli = JobCli::parse_from(
            &PLAN,
            &params,
            ["j", "fast", "7", "--mode", "streaming", "-p", "3"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(cli.value::<String>("mode").unwrap(), "fast");
        assert_eq!(cli.optional::<u64>("parallelism").unwrap(), Some(7));
        assert_eq!(cli.config().parallelism, 3);
        assert_eq!(cli.config().mode, ExecutionMode::Streaming);
        let cli = JobCli::parse_from(&PLAN, &params, ["j", "slow"])
            .unwrap()
            .unwrap();
        assert_eq!(cli.optional::<u64>("parallelism").unwrap(), None);
    }

    #[test]
    fn memory_budget_flags_configure_spilling() {
        let cli = JobCli::parse_from(
            &PLAN,
            &[],
            ["j", "--memory-budget", "64m", "--spill-dir", "/tmp/spill"],
        )
        .unwrap()
        .unwrap();
        let spill = cli.config().spill.clone().unwrap();
        assert_eq!(spill.budget, 64 << 20);
        assert_eq!(*spill.dir, std::path::PathBuf::from("/tmp/spill"));
        let cli = JobCli::parse_from(&PLAN, &[], ["j"]).unwrap().unwrap();
        assert_eq!(cli.config().spill, None);
    }

    #[test]
    fn the_broadcast_threshold_flag_sets_the_join_threshold() {
        let cli = JobCli::parse_from(&PLAN, &[], ["j", "--broadcast-threshold", "1m"])
            .unwrap()
            .unwrap();
        assert_eq!(cli.config().broadcast_threshold, 1 << 20);
        let cli = JobCli::parse_from(&PLAN, &[], ["j", "--broadcast-threshold", "0"])
            .unwrap()
            .unwrap();
        assert_eq!(cli.config().broadcast_threshold, 0);
        let cli = JobCli::parse_from(&PLAN, &[], ["j"]).unwrap().unwrap();
        assert_eq!(
            cli.config().broadcast_threshold,
            crate::job::DEFAULT_BROADCAST_THRESHOLD
        );
    }

    #[test]
    fn checkpoint_flags_configure_checkpointing_and_restore() {
        let cli = JobCli::parse_from(
            &PLAN,
            &[],
            [
                "j",
                "--checkpoint-interval",
                "250ms",
                "--checkpoint-dir",
                "/tmp/chk",
                "--checkpoints-retained",
                "5",
                "--checkpoint-mode",
                "at-least-once",
                "--restore",
                "/tmp/chk/chk-3",
            ],
        )
        .unwrap()
        .unwrap();
        let checkpointing = cli.config().checkpointing.clone().unwrap();
        assert_eq!(
            checkpointing.interval,
            std::time::Duration::from_millis(250)
        );
        assert_eq!(checkpointing.dir, std::path::PathBuf::from("/tmp/chk"));
        assert_eq!(checkpointing.retained, 5);
        assert!(checkpointing.at_least_once);
        assert_eq!(
            cli.config().restore,
            Some(std::path::PathBuf::from("/tmp/chk/chk-3"))
        );
        let plain = JobCli::parse_from(&PLAN, &[], ["j"]).unwrap().unwrap();
        assert!(plain.config().checkpointing.is_none() && plain.config().restore.is_none());
        assert_eq!(
            parse_duration("10s"),
            Ok(std::time::Duration::from_secs(10))
        );
        assert_eq!(
            parse_duration("2m"),
            Ok(std::time::Duration::from_secs(120))
        );
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0ms").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    // The `&&` is how the generated `main` picks a reading (see `Param`).
    #[allow(clippy::needless_borrow)]
    fn parameters_without_a_command_line_form_compile_and_refuse_at_run_time() {
        let specs = [
            (&&Param::<Vec<u64>>::new("data", "Vec<u64>")).spec(),
            (&&OptionalParam::<Vec<u64>>::new("more", "Option<Vec<u64>>")).spec(),
            (&&Param::<u64>::new("n", "u64")).spec(),
        ];
        let kinds: Vec<ArgumentKind> = specs.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                ArgumentKind::NotAnArgument,
                ArgumentKind::NotAnArgument,
                ArgumentKind::Required
            ]
        );
        let cli = JobCli::parse_from(&PLAN, &specs, ["j", "5"])
            .unwrap()
            .unwrap();
        assert_eq!((&&Param::<u64>::new("n", "u64")).value(&cli).unwrap(), 5);
        let error = (&&Param::<Vec<u64>>::new("data", "Vec<u64>"))
            .value(&cli)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`data: Vec<u64>`") && error.contains("j::run"),
            "{error}"
        );
    }

    #[test]
    fn unparsable_arguments_name_the_parameter() {
        let params = [ParamSpec::of::<u64>("count", "u64")];
        let cli = JobCli::parse_from(&PLAN, &params, ["j", "many"])
            .unwrap()
            .unwrap();
        let error = cli.value::<u64>("count").unwrap_err().to_string();
        assert!(
            error.contains("<count>") && error.contains("`many`"),
            "{error}"
        );
    }
}
