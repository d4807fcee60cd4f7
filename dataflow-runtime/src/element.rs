//! What flows along a stream: records with optional event timestamps, in batches, followed by
//! control elements.
//!
//! Records cross an exchange in batches (`StreamElement::Records`) so that the channel cost is
//! paid once per batch, not once per record. Control elements are never batched: a sender
//! flushes its partial batch before it sends one, which keeps them in order with the records.

/// Event time in milliseconds since the epoch.
pub type Timestamp = i64;

/// The watermark before any was received: every event time is still possible.
pub const MIN_WATERMARK: Timestamp = Timestamp::MIN;

/// The watermark at end of input: all event-time work completes.
pub const MAX_WATERMARK: Timestamp = Timestamp::MAX;

/// One record and its event timestamp (`None` until a timestamp assigner runs), as it
/// crosses an exchange.
///
/// The timestamp is stored as a plain `i64` with `Timestamp::MIN` meaning "none" (8 bytes
/// instead of an `Option`'s 16: records cross exchanges by the billion); a record stamped
/// exactly `Timestamp::MIN` arrives stamped `Timestamp::MIN + 1`, so it keeps a timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    /// The user's value.
    pub value: T,
    timestamp: Timestamp,
}

impl<T> Record<T> {
    /// A record with its event time, if any.
    #[inline(always)]
    pub fn new(value: T, timestamp: Option<Timestamp>) -> Self {
        Record {
            value,
            timestamp: timestamp.map_or(Timestamp::MIN, |t| t.max(Timestamp::MIN + 1)),
        }
    }

    /// Its event time, if any.
    #[inline(always)]
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.timestamp != Timestamp::MIN).then_some(self.timestamp)
    }

    /// The value and its event time.
    #[inline(always)]
    pub fn into_parts(self) -> (T, Option<Timestamp>) {
        let timestamp = self.timestamp();
        (self.value, timestamp)
    }
}

/// The unit sent over one exchange channel.
#[derive(Debug)]
pub enum StreamElement<T> {
    /// A batch of records, in the order the sender produced them.
    Records(Vec<Record<T>>),
    /// A batch of records with watermarks between them: `(i, w)` means watermark `w` follows
    /// the first `i` records (`i` may be the batch's length). Watermarks travel inside the
    /// batch at their exact position, so a watermark per record costs no flush.
    Marked(Vec<Record<T>>, Vec<(u32, Timestamp)>),
    /// No record with a timestamp at or below this will follow from this sender.
    Watermark(Timestamp),
    /// The sender is idle (`true`: it sends no records for now, so it must not hold back the
    /// receiver's watermark) or active again (`false`).
    Idleness(bool),
    /// Checkpoint barrier `n`: the sender's state for checkpoint `n` covers exactly the
    /// records before it. A receiver with several inputs holds back each input the barrier
    /// arrived on until it arrived on all (alignment), then snapshots and forwards it.
    Barrier(u64),
    /// Superstep `n` of an iteration ends here: the sender sent all its records of superstep
    /// `n` before it, and sends those of superstep `n + 1` after. A receiver aligns it over its
    /// inputs like a checkpoint barrier (inputs from outside the iteration count once they
    /// ended), then its operators finish the superstep.
    SuperstepEnd(u64),
    /// The sender has no more data: it sends nothing after this.
    EndOfInput,
}

/// A record of a keyed stream as it crosses a `key_by` exchange: the key is computed once by
/// the sender, and its key group travels along so keyed state can be stored per key group
/// without hashing the key again.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyed<K, V> {
    /// `hash(key) % max_parallelism`.
    pub key_group: u16,
    /// The key the user's selector returned.
    pub key: K,
    /// The record itself.
    pub value: V,
}

/// A record of a two-input operator (`connect`): from its first or its second input.
#[derive(Debug, Clone, PartialEq)]
pub enum TwoInputs<A, B> {
    /// From the first input (the stream `connect` was called on).
    First(A),
    /// From the second input (the argument of `connect`).
    Second(B),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_whether_it_has_a_timestamp() {
        assert_eq!(Record::new(1, None).into_parts(), (1, None));
        assert_eq!(Record::new(1, Some(-5)).into_parts(), (1, Some(-5)));
        // The smallest timestamp is the marker of "none": it moves up by one millisecond.
        assert_eq!(
            Record::new(1, Some(Timestamp::MIN)).into_parts(),
            (1, Some(Timestamp::MIN + 1))
        );
    }
}
