//! Stateless record-at-a-time operators.

use super::{Emit, Operator, OperatorMetrics, OperatorScope};

fn report(
    operator: usize,
    records_in: u64,
    records_out: u64,
    into: &mut Vec<OperatorMetrics>,
) -> u64 {
    into.push(OperatorMetrics {
        operator,
        records_in,
        records_out,
        spilled_bytes: 0,
    });
    records_out
}
use crate::element::Timestamp;

/// `map`: one output per input.
#[derive(Clone)]
pub struct Map<F> {
    f: F,
    operator: usize,
}

impl<F> Map<F> {
    pub(crate) fn new(operator: usize, f: F) -> Self {
        Map { f, operator }
    }
}

impl<I, O, F: FnMut(I) -> O + Send + 'static> Operator<I> for Map<F> {
    type Out = O;

    #[inline(always)]
    fn process<E: Emit<O>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E) {
        let scope = OperatorScope::enter(self.operator);
        let mapped = (self.f)(value);
        scope.exit();
        out.emit(mapped, timestamp);
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        report(self.operator, records_in, records_in, into)
    }
}

/// `flat_map`: any number of outputs per input; each inherits the input's timestamp.
#[derive(Clone)]
pub struct FlatMap<F> {
    f: F,
    operator: usize,
    emitted: u64,
}

impl<F> FlatMap<F> {
    pub(crate) fn new(operator: usize, f: F) -> Self {
        FlatMap {
            f,
            operator,
            emitted: 0,
        }
    }
}

impl<I, R, F> Operator<I> for FlatMap<F>
where
    F: FnMut(I) -> R + Send + 'static,
    R: IntoIterator,
{
    type Out = R::Item;

    #[inline(always)]
    fn process<E: Emit<R::Item>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E) {
        let scope = OperatorScope::enter(self.operator);
        // The iterator is user code too (a lazy iterator runs the user's logic as it is
        // drained), so the scope covers draining it.
        for item in (self.f)(value) {
            self.emitted += 1;
            out.emit(item, timestamp);
        }
        scope.exit();
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        report(self.operator, records_in, self.emitted, into)
    }
}

/// `filter`: keeps the records for which the predicate holds.
#[derive(Clone)]
pub struct Filter<F> {
    f: F,
    operator: usize,
    passed: u64,
}

impl<F> Filter<F> {
    pub(crate) fn new(operator: usize, f: F) -> Self {
        Filter {
            f,
            operator,
            passed: 0,
        }
    }
}

impl<I, F: FnMut(&I) -> bool + Send + 'static> Operator<I> for Filter<F> {
    type Out = I;

    #[inline(always)]
    fn process<E: Emit<I>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E) {
        let scope = OperatorScope::enter(self.operator);
        let keep = (self.f)(&value);
        scope.exit();
        if keep {
            self.passed += 1;
            out.emit(value, timestamp);
        }
    }

    fn collect_metrics(&self, records_in: u64, into: &mut Vec<OperatorMetrics>) -> u64 {
        report(self.operator, records_in, self.passed, into)
    }
}
