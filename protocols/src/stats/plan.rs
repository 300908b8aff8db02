//! From a [`Query`] to batched work: which masked sums, order statistics and moments a query
//! needs ([`Plan`]). The scan over the rows that computes the masked sums is
//! [`super::scan`]; the arithmetic on the sums, [`super::aggregate`].

use super::sql::{Aggregate, Query};
use crate::backend::Secret;
use crate::dataset::ColumnType;

/// A masked per-group sum `Σ_i r_gi v_i` the query needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Term {
    /// `v = x`.
    Col(usize),
    /// `v = x²`.
    Square(usize),
    /// `v = x y` (columns in increasing order).
    Cross(usize, usize),
    /// `v = [x < bound]`.
    Below(usize, i128),
}

/// The public shape of a query's computation.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Groups: the domain of the `GROUP BY` column, or 1.
    pub groups: usize,
    /// Group labels, in domain order.
    pub labels: Vec<String>,
    /// Masked sums, each a batch over the groups.
    pub terms: Vec<Term>,
    /// Columns whose minimum or maximum is asked: `(column, is_max)`.
    pub extremes: Vec<(usize, bool)>,
    /// Columns with a percentile (each bit-decomposed once).
    pub ranked: Vec<usize>,
    /// Total rows.
    pub rows: usize,
    /// `L`: every count lies in `[0, 2^L)`. Derived from the rows the bounds are planned for
    /// (at least [`Plan::rows`]: [`super::fit`] plans for more rows than it runs on).
    pub count_bits: u32,
}

fn push<T: PartialEq>(v: &mut Vec<T>, t: T) {
    if !v.contains(&t) {
        v.push(t);
    }
}

impl Plan {
    /// The plan of `query` over `rows` rows in all, its bounds those of `bound_rows >= rows`.
    pub(crate) fn new(query: &Query, rows: usize, bound_rows: usize) -> Plan {
        let schema = &query.schema;
        let labels = match query.group_by.map(|c| &schema.columns[c].ty) {
            Some(ColumnType::Categorical { domain }) => domain.clone(),
            _ => vec![String::new()],
        };
        let (mut terms, mut extremes, mut ranked) = (Vec::new(), Vec::new(), Vec::new());
        let count_bits = usize::BITS - rows.max(bound_rows).leading_zeros();
        for item in &query.select {
            match item.aggregate {
                Aggregate::GroupKey | Aggregate::Count => {}
                Aggregate::Sum(c) | Aggregate::Avg(c) => push(&mut terms, Term::Col(c)),
                Aggregate::Min(c) => push(&mut extremes, (c, false)),
                Aggregate::Max(c) => push(&mut extremes, (c, true)),
                Aggregate::Percentile { col, .. } => push(&mut ranked, col),
                Aggregate::Var { col, .. } | Aggregate::Stddev { col, .. } => {
                    push(&mut terms, Term::Col(col));
                    push(&mut terms, Term::Square(col));
                }
                Aggregate::Covar { cols: (y, x), .. }
                | Aggregate::Corr(y, x)
                | Aggregate::RegrSlope(y, x)
                | Aggregate::RegrIntercept(y, x) => {
                    push(&mut terms, Term::Col(y));
                    push(&mut terms, Term::Col(x));
                    push(&mut terms, Term::Cross(y.min(x), y.max(x)));
                    push(&mut terms, Term::Square(x));
                    if matches!(item.aggregate, Aggregate::Corr(..)) {
                        push(&mut terms, Term::Square(y));
                    }
                }
                Aggregate::Histogram { col, ref bounds } => {
                    for &b in bounds {
                        push(&mut terms, Term::Below(col, b));
                    }
                }
            }
        }
        Plan {
            groups: labels.len(),
            labels,
            terms,
            extremes,
            ranked,
            rows,
            count_bits,
        }
    }

    /// The index of `t` among the terms.
    pub(crate) fn term(&self, t: &Term) -> usize {
        self.terms
            .iter()
            .position(|x| x == t)
            .expect("the plan lists every term its aggregates use")
    }
}

/// Re-marks a batch known to hold 0 or 1 (`a + b - ab` of bits, `c_j - c_{j+1}` of a monotone
/// sequence) as boolean.
pub(crate) fn boolean(x: Secret) -> Secret {
    Secret::from_bit_shares(x.into_shares())
}
