//! Sources and sinks.
//!
//! A source is created once per subtask by its [`SourceFactory`] and produces records in
//! batches without blocking; an unbounded source that has nothing to read says so
//! ([`SourceStatus::Idle`]) and the task waits in [`Source::wait_ready`]. Sinks are chain ends
//! ([`crate::task::ChainEnd`]): they format records into a buffer per batch and write it out
//! when the task flushes, so the per-record path does no I/O call.

mod sinks;
mod sources;
pub mod transactional;

use std::future::Future;
use std::io;

pub use sinks::{
    collect, discard, print, write_lines, Collected, LineTarget, RecordWriter, Sink, SinkFactory,
};
pub use sources::{
    from_iter, generate, read_lines, socket_lines, FromIter, Generate, ReadLines, SocketLines,
};

use crate::error::Result;
use crate::job::TaskContext;
use crate::operator::{Emit, OperatorMetrics};

/// What one call to [`Source::poll_batch`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// Records were produced; call again.
    Produced,
    /// Nothing to read right now; wait in [`Source::wait_ready`].
    Idle,
    /// The source is exhausted.
    Ended,
}

/// One subtask's share of a source.
pub trait Source: Send + 'static {
    /// The records produced.
    type Item: Send + 'static;

    /// Produces up to `max` records into `out` without blocking.
    fn poll_batch<E: Emit<Self::Item>>(
        &mut self,
        max: usize,
        out: &mut E,
    ) -> io::Result<SourceStatus>;

    /// Waits until [`Source::poll_batch`] may produce again (only after `Idle`).
    fn wait_ready(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }

    /// Appends the source's counters; returns how many records it produced.
    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) -> u64;

    /// Where this subtask of the source is, for a checkpoint: enough to resume right after
    /// the last record it produced, encoded by the source. `None`: it cannot replay (a
    /// socket), so a restored job gives at-most-once results for it.
    fn position(&self) -> Option<Vec<u8>> {
        None
    }

    /// Resumes at a position [`Source::position`] recorded (of the same subtask, at the
    /// same parallelism).
    fn seek(&mut self, _position: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this source cannot resume from a checkpoint",
        ))
    }

    /// Resumes the work of the earlier subtasks whose positions are given, in their order
    /// (after a restore at another parallelism a subtask may take over several, or none).
    /// By default a source takes exactly one position: it cannot be rescaled.
    fn restore_positions(&mut self, positions: &[Vec<u8>]) -> io::Result<()> {
        match positions {
            [position] => self.seek(position),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "this source cannot take over {} positions of a checkpoint: restore it at the parallelism it was checkpointed with",
                    positions.len()
                ),
            )),
        }
    }
}

/// Decodes a source position, as an I/O error if it is not one.
fn decode_position<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    crate::codec::decode(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a position of this source: {e}"),
        )
    })
}

/// Encodes a source position (a few integers: encoding cannot fail).
fn encode_position<T: serde::Serialize>(position: &T) -> Option<Vec<u8>> {
    crate::codec::encode(position).ok()
}

/// Creates the [`Source`] of each subtask.
pub trait SourceFactory: Send + 'static {
    /// The per-subtask source.
    type Source: Source;
    /// Creates (and opens) the source of one subtask.
    fn create(&mut self, ctx: &TaskContext) -> Result<Self::Source>;

    /// How many bytes the whole source will produce, if it can tell before it starts (a
    /// collection's length, a file's size). The plan uses it to choose how a join runs;
    /// `None` (the default) means unknown, which never leads to a broadcast.
    fn estimated_bytes(&self) -> Option<u64> {
        None
    }
}
