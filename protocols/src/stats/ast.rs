//! The checked form of a statistics query ([`Query`]) and the parser's error ([`SqlError`]):
//! plain data, serializable, with columns as schema indices and constants already encoded.
//! [`super::sql`] builds it from SQL text.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dataset::Schema;

/// Where a construct starts in the query text (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

/// Why a query was refused: the construct, its position when known, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub struct SqlError {
    /// The construct at fault (`JOIN`, `subquery`, `function FOO`, `column 'x'`, ...).
    pub construct: String,
    /// Where it starts.
    pub position: Option<Position>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.position {
            write!(f, "{}:{}: ", p.line, p.column)?;
        }
        write!(f, "{}: {}", self.construct, self.message)
    }
}

/// A comparison operator of a `WHERE` clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A `WHERE` clause, on encoded values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Predicate {
    /// `column op value`, the value encoded as the column's are.
    Compare {
        /// Index of the column in the schema.
        column: usize,
        /// The operator.
        op: CmpOp,
        /// The encoded constant.
        value: i128,
    },
    /// A comparison whose answer the constant alone decides (`x = 2.5` on integers).
    Const(bool),
    /// Both.
    And(Box<Predicate>, Box<Predicate>),
    /// Either.
    Or(Box<Predicate>, Box<Predicate>),
    /// Not.
    Not(Box<Predicate>),
}

/// An aggregate of the select list. Columns are schema indices; pairs are `(y, x)` as in SQL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    /// The `GROUP BY` column itself (its value is the group's label).
    GroupKey,
    /// `COUNT(*)` or `COUNT(col)` (there are no NULLs).
    Count,
    /// `SUM(col)`.
    Sum(usize),
    /// `AVG(col)`.
    Avg(usize),
    /// `MIN(col)`.
    Min(usize),
    /// `MAX(col)`.
    Max(usize),
    /// `VAR_SAMP` / `VARIANCE` (sample) or `VAR_POP`.
    Var {
        /// The column.
        col: usize,
        /// Divides by `n - 1`.
        sample: bool,
    },
    /// `STDDEV_SAMP` / `STDDEV` (sample) or `STDDEV_POP`.
    Stddev {
        /// The column.
        col: usize,
        /// Divides by `n - 1`.
        sample: bool,
    },
    /// `PERCENTILE_CONT(num/den) WITHIN GROUP (ORDER BY col)`; `MEDIAN(col)` is `1/2`.
    Percentile {
        /// The column.
        col: usize,
        /// The fraction's numerator.
        num: i128,
        /// The fraction's denominator (a power of ten, or 2).
        den: i128,
    },
    /// `CORR(y, x)`.
    Corr(usize, usize),
    /// `COVAR_SAMP(y, x)` or `COVAR_POP(y, x)`.
    Covar {
        /// `(y, x)`.
        cols: (usize, usize),
        /// Divides by `n - 1`.
        sample: bool,
    },
    /// `REGR_SLOPE(y, x)`.
    RegrSlope(usize, usize),
    /// `REGR_INTERCEPT(y, x)`.
    RegrIntercept(usize, usize),
    /// `HISTOGRAM(col, b1, ..., bk)`: counts of `x < b1`, `b1 <= x < b2`, ..., `x >= bk`
    /// (bounds encoded, strictly increasing).
    Histogram {
        /// The column.
        col: usize,
        /// The public bucket bounds.
        bounds: Vec<i128>,
    },
}

impl Aggregate {
    /// The function's name as policies list it ([`crate::policy::FUNCTIONS`]); `None` for the
    /// group key.
    pub fn function(&self) -> Option<&'static str> {
        Some(match self {
            Aggregate::GroupKey => return None,
            Aggregate::Count => "COUNT",
            Aggregate::Sum(_) => "SUM",
            Aggregate::Avg(_) => "AVG",
            Aggregate::Min(_) => "MIN",
            Aggregate::Max(_) => "MAX",
            Aggregate::Var { .. } => "VARIANCE",
            Aggregate::Stddev { .. } => "STDDEV",
            Aggregate::Percentile { .. } => "PERCENTILE",
            Aggregate::Corr(..) => "CORR",
            Aggregate::Covar { .. } => "COVAR",
            Aggregate::RegrSlope(..) => "REGR_SLOPE",
            Aggregate::RegrIntercept(..) => "REGR_INTERCEPT",
            Aggregate::Histogram { .. } => "HISTOGRAM",
        })
    }

    /// The columns it reads, each once (schema indices; a `(y, x)` pair both).
    pub fn columns(&self) -> Vec<usize> {
        match *self {
            Aggregate::GroupKey | Aggregate::Count => Vec::new(),
            Aggregate::Sum(c)
            | Aggregate::Avg(c)
            | Aggregate::Min(c)
            | Aggregate::Max(c)
            | Aggregate::Var { col: c, .. }
            | Aggregate::Stddev { col: c, .. }
            | Aggregate::Percentile { col: c, .. }
            | Aggregate::Histogram { col: c, .. } => vec![c],
            Aggregate::Corr(y, x)
            | Aggregate::Covar { cols: (y, x), .. }
            | Aggregate::RegrSlope(y, x)
            | Aggregate::RegrIntercept(y, x)
                if y == x =>
            {
                vec![x]
            }
            Aggregate::Corr(y, x)
            | Aggregate::Covar { cols: (y, x), .. }
            | Aggregate::RegrSlope(y, x)
            | Aggregate::RegrIntercept(y, x) => vec![y, x],
        }
    }
}

impl Predicate {
    fn push_columns(&self, out: &mut Vec<usize>) {
        match self {
            Predicate::Compare { column, .. } => out.push(*column),
            Predicate::Const(_) => {}
            Predicate::And(a, b) | Predicate::Or(a, b) => {
                a.push_columns(out);
                b.push_columns(out);
            }
            Predicate::Not(a) => a.push_columns(out),
        }
    }
}

impl Query {
    /// Every column the query reads, in schema order, each once: the aggregates' columns, the
    /// `WHERE` clause's and the `GROUP BY` column. No step of the evaluation touches another
    /// column, so these are the only ones whose owners' inputs need checking
    /// ([`crate::catalog::JobSpec::run_released`]).
    pub fn columns_read(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .select
            .iter()
            .flat_map(|i| i.aggregate.columns())
            .chain(self.group_by)
            .collect();
        if let Some(filter) = &self.filter {
            filter.push_columns(&mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The aggregate functions the query computes, each once, in select order.
    pub fn functions(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for f in self.select.iter().filter_map(|i| i.aggregate.function()) {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }
}

/// One output column: an aggregate and its label (the alias, or the SQL text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectItem {
    /// What to compute.
    pub aggregate: Aggregate,
    /// The output column's name.
    pub label: String,
}

/// A checked query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// The select list.
    pub select: Vec<SelectItem>,
    /// The table (the union of every owner's dataset of that name).
    pub table: String,
    /// The schema the query was checked against.
    pub schema: Schema,
    /// The `WHERE` clause.
    pub filter: Option<Predicate>,
    /// The `GROUP BY` column's index (categorical).
    pub group_by: Option<usize>,
}
