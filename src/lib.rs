//! `dataflow`: Apache Flink's dataflow model as a compile-time DSL for Rust.
//!
//! Pipelines are written inside [`dataflow!`]; the macro checks them, fuses chains of operators
//! into monomorphized loops, and generates a module per job with `run` (call it from Rust) and
//! `main` (a command-line program). See the README for the language.

pub use dataflow_macros::dataflow;
pub use dataflow_runtime as runtime;
pub use dataflow_runtime::{Error, Result};

/// What a job file needs: `use dataflow::prelude::*;`.
pub mod prelude {
    pub use crate::dataflow;
    pub use dataflow_runtime::io::Collected;
    pub use dataflow_runtime::job::{ExecutionMode, JobConfig, JobReport};
    pub use std::path::PathBuf;
}
