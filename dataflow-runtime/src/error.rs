//! The job's error type: every failure names the operator and subtask it came from.

use std::fmt;

/// Everything that can make a job fail.
///
/// `Debug` prints the same text as `Display`, so a generated `main` that returns this
/// error prints one readable line instead of a struct dump.
#[derive(thiserror::Error)]
pub enum Error {
    /// A user closure panicked inside an operator.
    #[error("operator `{operator}` (subtask {subtask}) panicked: {message}")]
    OperatorPanicked {
        /// The operator's name, as shown by `--explain`.
        operator: String,
        /// The subtask index, 0-based.
        subtask: usize,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// An I/O call made by an operator failed (missing input, unwritable output, closed socket).
    #[error("operator `{operator}` (subtask {subtask}) failed: {source}")]
    OperatorIo {
        /// The operator's name.
        operator: String,
        /// The subtask index, 0-based.
        subtask: usize,
        /// The underlying error; its message says what the operator was doing.
        #[source]
        source: std::io::Error,
    },
    /// A bounded job was interrupted (Ctrl-C) before it finished: its results are incomplete.
    #[error("job `{job}` was cancelled before it finished; its output is incomplete")]
    Cancelled {
        /// The job's name.
        job: &'static str,
    },
    /// The job's configuration or parameters are invalid.
    #[error("invalid job configuration: {0}")]
    Config(String),
    /// A task stopped because a task it exchanges data with failed first. The job reports the
    /// first failure instead, so `run` never returns this.
    #[error("a connected subtask stopped")]
    Disconnected,
    /// The runtime could not be started or a task was lost.
    #[error("runtime failure: {0}")]
    Runtime(String),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
