//! What [`super`] reads and what it must compute: the scan's sums with the columns' widths
//! ([`Sums`]), and the moments, quotients and roots the select list needs ([`Needs`]), each
//! listed once however many select items share it.

use super::super::output::Stats;
use super::super::plan::{Plan, Term};
use super::super::sql::{Aggregate, Query};
use super::batch::push;
use crate::backend::Secret;

/// A quotient the select list needs (step 4, and the correlations' of step 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Q {
    Mean(usize),
    Var { col: usize, sample: bool },
    Covar { y: usize, x: usize, sample: bool },
    Slope { y: usize, x: usize },
}

/// The scan's per-group sums, with the query's columns and the plan's bounds: what every
/// step reads.
pub(super) struct Sums<'a> {
    pub(super) plan: &'a Plan,
    pub(super) query: &'a Query,
    pub(super) stats: &'a Stats,
}

impl Sums<'_> {
    /// `b`: a column's width in bits, as a scaled integer.
    pub(super) fn bits(&self, col: usize) -> i32 {
        self.query.schema.columns[col].ty.bits() as i32
    }

    /// A column's fractional bits (0 for an integer column).
    pub(super) fn frac(&self, col: usize) -> i32 {
        self.query.schema.columns[col].ty.frac() as i32
    }

    /// The number of reported groups: the length of every batch.
    pub(super) fn groups(&self) -> usize {
        self.stats.counts.len()
    }

    /// `L`: the width of a group's row count.
    pub(super) fn count_bits(&self) -> i32 {
        self.plan.count_bits as i32
    }

    /// `n`: each group's row count.
    pub(super) fn count(&self) -> &Secret {
        &self.stats.counts
    }

    /// Each group's sum of one planned term.
    pub(super) fn sum(&self, term: Term) -> Secret {
        self.stats.sums[self.plan.term(&term)].clone()
    }

    /// Noise was added to the sums.
    pub(super) fn noisy(&self) -> bool {
        self.stats.noisy
    }

    /// A quotient's bound: `planned`, from the columns' widths, but the numerator's own width
    /// once noise was added (the data's range no longer bounds it).
    pub(super) fn bound(&self, numerator: &Secret, planned: i32) -> i32 {
        if self.noisy() {
            numerator.bits() as i32
        } else {
            planned
        }
    }

    /// `REGR_SLOPE(y, x) = C / V_x` in one quotient while `V_x` is narrow enough that the
    /// numerator need not be cut (`b_y + 2 b_x + 3L <= 193`: up to 32 bits over 10^7 rows);
    /// wider, through the roots as `CORR` (step 6), where a cut numerator would lose the
    /// slope's significant bits.
    pub(super) fn direct_slope(&self, y: usize, x: usize) -> bool {
        self.bits(y) + 2 * self.bits(x) + 3 * self.count_bits() <= 193
    }
}

/// What the select list needs, each listed once in the order the select list first needs it.
#[derive(Default)]
pub(super) struct Needs {
    /// The quotients of step 4.
    pub(super) quotients: Vec<Q>,
    /// The columns whose `V` is needed.
    pub(super) variances: Vec<usize>,
    /// The pairs `(y, x)` whose `C` is needed.
    pub(super) pairs: Vec<(usize, usize)>,
    /// The indices in `quotients` of the variances whose root is a standard deviation.
    pub(super) stddevs: Vec<usize>,
    /// A sample statistic needs `[n >= 2]` and `n (n - 1)`.
    pub(super) sample: bool,
    /// The pairs `(y, x)` of `CORR`.
    pub(super) correlations: Vec<(usize, usize)>,
    /// The pairs `(y, x)` of slopes too wide for one quotient, computed as `CORR` is.
    pub(super) wide_slopes: Vec<(usize, usize)>,
}

impl Needs {
    /// Lists what `sums.query`'s select list needs.
    pub(super) fn of(sums: &Sums) -> Needs {
        let mut needs = Needs::default();
        for item in &sums.query.select {
            needs.add(sums, &item.aggregate);
        }
        needs
    }

    fn add(&mut self, sums: &Sums, aggregate: &Aggregate) {
        match *aggregate {
            Aggregate::Avg(c) => {
                push(&mut self.quotients, Q::Mean(c));
            }
            Aggregate::Var { col, sample } | Aggregate::Stddev { col, sample } => {
                self.sample |= sample;
                push(&mut self.variances, col);
                let i = push(&mut self.quotients, Q::Var { col, sample });
                if matches!(aggregate, Aggregate::Stddev { .. }) {
                    push(&mut self.stddevs, i);
                }
            }
            Aggregate::Covar {
                cols: (y, x),
                sample,
            } => {
                self.sample |= sample;
                push(&mut self.pairs, (y, x));
                push(&mut self.quotients, Q::Covar { y, x, sample });
            }
            Aggregate::Corr(y, x) => {
                push(&mut self.pairs, (y, x));
                push(&mut self.variances, x);
                push(&mut self.variances, y);
                push(&mut self.correlations, (y, x));
            }
            Aggregate::RegrSlope(y, x) | Aggregate::RegrIntercept(y, x) => {
                push(&mut self.pairs, (y, x));
                push(&mut self.variances, x);
                if sums.direct_slope(y, x) {
                    push(&mut self.quotients, Q::Slope { y, x });
                } else {
                    push(&mut self.wide_slopes, (y, x));
                }
                if matches!(aggregate, Aggregate::RegrIntercept(..)) {
                    push(&mut self.quotients, Q::Mean(x));
                    push(&mut self.quotients, Q::Mean(y));
                }
            }
            _ => {}
        }
    }

    /// A population statistic needs `n²`.
    pub(super) fn n_squared(&self) -> bool {
        self.quotients.iter().any(|q| {
            matches!(
                q,
                Q::Var { sample: false, .. } | Q::Covar { sample: false, .. }
            )
        })
    }
}
