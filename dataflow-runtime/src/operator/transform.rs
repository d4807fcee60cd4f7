//! Stateless record-at-a-time operators.

use super::{Emit, Operator, OperatorMetrics, OperatorScope};
use crate::element::Timestamp;

/// `map`: one output per input.
#[derive(Clone)]
pub struct Map<F> {
    f: F,
    metrics: OperatorMetrics,
}

impl<F> Map<F> {
    pub(crate) fn new(operator: usize, f: F) -> Self {
        Map {
            f,
            metrics: OperatorMetrics::new(operator),
        }
    }
}

impl<I, O, F: FnMut(I) -> O + Send + 'static> Operator<I> for Map<F> {
    type Out = O;

    #[inline(always)]
    fn process<E: Emit<O>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E) {
        self.metrics.records_in += 1;
        let scope = OperatorScope::enter(self.metrics.operator);
        let mapped = (self.f)(value);
        scope.exit();
        self.metrics.records_out += 1;
        out.emit(mapped, timestamp);
    }

    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) {
        into.push(self.metrics);
    }
}

/// `flat_map`: any number of outputs per input; each inherits the input's timestamp.
#[derive(Clone)]
pub struct FlatMap<F> {
    f: F,
    metrics: OperatorMetrics,
}

impl<F> FlatMap<F> {
    pub(crate) fn new(operator: usize, f: F) -> Self {
        FlatMap {
            f,
            metrics: OperatorMetrics::new(operator),
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
        self.metrics.records_in += 1;
        let scope = OperatorScope::enter(self.metrics.operator);
        // The iterator is user code too (a lazy iterator runs the user's logic as it is
        // drained), so the scope covers draining it.
        for item in (self.f)(value) {
            self.metrics.records_out += 1;
            out.emit(item, timestamp);
        }
        scope.exit();
    }

    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) {
        into.push(self.metrics);
    }
}

/// `filter`: keeps the records for which the predicate holds.
#[derive(Clone)]
pub struct Filter<F> {
    f: F,
    metrics: OperatorMetrics,
}

impl<F> Filter<F> {
    pub(crate) fn new(operator: usize, f: F) -> Self {
        Filter {
            f,
            metrics: OperatorMetrics::new(operator),
        }
    }
}

impl<I, F: FnMut(&I) -> bool + Send + 'static> Operator<I> for Filter<F> {
    type Out = I;

    #[inline(always)]
    fn process<E: Emit<I>>(&mut self, value: I, timestamp: Option<Timestamp>, out: &mut E) {
        self.metrics.records_in += 1;
        let scope = OperatorScope::enter(self.metrics.operator);
        let keep = (self.f)(&value);
        scope.exit();
        if keep {
            self.metrics.records_out += 1;
            out.emit(value, timestamp);
        }
    }

    fn collect_metrics(&self, into: &mut Vec<OperatorMetrics>) {
        into.push(self.metrics);
    }
}
