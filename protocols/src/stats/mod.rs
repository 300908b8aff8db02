//! Joint statistics: an analyst's SQL question answered over the union of every firm's rows,
//! without anyone seeing the rows.
//!
//! `FROM payroll` means every owner's dataset named `payroll` (one schema). The pipeline:
//! 1. [`sql`]: parse and check the query against the schema; unsupported SQL is refused with
//!    the construct and its position, before anything runs;
//! 2. [`plan`]: the batched scan: a secret 0/1 mask per row for `WHERE`, a secret one-hot per
//!    row for `GROUP BY`, then every per-group masked sum at once, streamed over the rows in
//!    chunks that fit a memory budget ([`stream`]: per-chunk sums added up);
//! 3. [`privacy`]: optional differential-privacy noise on the sums, then the secret
//!    "reported" flag per group (owner and row minimums); only the flags are opened;
//! 4. [`order`] and [`aggregate`]: the aggregates of the reported groups only;
//! 5. one opening of the results, or, when the job names recipients, one private output per
//!    recipient holding the same values ([`run_query_for`], [`QueryResult::reveal`]).
//!
//! A query costs a number of rounds that depends on its shape (the aggregates, the depth of the
//! `WHERE` clause), not on its rows — except `MIN`/`MAX` (`O(log N)`: a tournament),
//! percentiles (`O(max(b, log N))` for `b`-bit values: a radix selection, one step per bit), and
//! the scan once its rows pass one chunk ([`stream`]: its rounds once per chunk).
//! Everything is written against
//! [`Backend`], so it runs on the engine, in the clear, or counted.
//!
//! Not here: which datasets an analyst may query (the policies' `allow_*` clauses are checked by
//! the workers before a job runs) and how shares reach the backend.
//!
//! # The planner's table
//!
//! Every aggregate *fits* (no bound refusal) for every width of the public ladder
//! ([`crate::dataset::WIDTH_LADDER`]), integer or fixed point, at 10^3 to 10^7 rows for 8 to 32
//! bits and 10^3 to 10^5 rows for 48 and 63 bits — alone or together, with `WHERE`, `GROUP BY`
//! and differential privacy (ε from 0.01): `protocols/tests/stats_plan.rs` checks each cell
//! without running the rows ([`fit::fits`]). A query that does not fit is refused before it
//! runs, naming the aggregate and the remedy ([`fit::check`], [`StatsError::TooWide`]).
//!
//! The error bound of each cell, at the largest row count of its width (`rel`: relative to the
//! result; the absolute term is in units of the columns' scaled integers, their last place:
//! multiply by `2^-frac` for fixed point, squared for second moments; derived in
//! [`aggregate`]'s doc):
//!
//! | aggregate | 8 bits (10^7 rows) | 16 bits (10^7) | 32 bits (10^7) | 48 bits (10^5) | 63 bits (10^5) |
//! | --- | --- | --- | --- | --- | --- |
//! | COUNT, SUM, HISTOGRAM, MIN, MAX, MEDIAN, PERCENTILE_CONT | exact | exact | exact | exact | exact |
//! | AVG | 2^-43 rel + 2^-109 | 2^-43 rel + 2^-101 | 2^-43 rel + 2^-85 | 2^-43 rel + 2^-69 | 2^-43 rel + 2^-54 |
//! | VAR_POP, VAR_SAMP | 2^-43 rel + 2^-100 | 2^-43 rel + 2^-84 | 2^-43 rel + 2^-52 | 2^-43 rel + 2^-20 | 2^-43 rel + 2^10 |
//! | STDDEV_POP, STDDEV_SAMP | 2^-42 rel + 2^-50 | 2^-42 rel + 2^-42 | 2^-42 rel + 2^-26 | 2^-42 rel + 2^-10 | 2^-42 rel + 2^5 |
//! | COVAR_POP, COVAR_SAMP | 2^-43 rel + 2^-100 | 2^-43 rel + 2^-84 | 2^-43 rel + 2^-52 | 2^-43 rel + 2^-20 | 2^-43 rel + 2^10 |
//! | REGR_SLOPE | 2^-43 rel + 2^-84 | 2^-43 rel + 2^-76 | 2^-43 rel + 2^-60 | 2^-42 rel + 2^-28 | 2^-42 rel + 2^-13 |
//! | CORR | 2^-41 + tiny-variance term | 2^-41 + tiny-variance term | 2^-41 + tiny-variance term | 2^-41 + tiny-variance term | 2^-41 + tiny-variance term |
//! | REGR_INTERCEPT | 2^-41 rel of its terms + 2^-70 | 2^-41 rel + 2^-54 | 2^-41 rel + 2^-22 | 2^-41 rel of its terms + 2^-28 \|AVG(x)\| + 2^3 | 2^-41 rel of its terms + 2^-13 \|AVG(x)\| + 2^33 |
//!
//! Fewer rows only shrink the absolute terms. Every cell is derived; REGR_INTERCEPT's terms
//! are `|AVG(y)| + |slope AVG(x)|`, and its `|AVG(x)|` term is the slope's absolute term
//! carried through the product (below `2^-29` up to 32 bits, so folded in there; at 48 and 63
//! bits it only matters when `x` is nearly constant). `cargo run --release -p protocols
//! --example stats_at_size -- ROWS BITS PARTIES` measures each moment against `f64` over values
//! drawn across the whole width, beside these bounds (figures in `BENCHMARKS.md`,
//! "Statistics"). The 63-bit column's absolute terms are why a
//! width should be the narrowest that holds the data (the inferred one): the same salaries
//! declared 32 bits wide get the 32-bit column.

mod aggregate;
pub mod ast;
pub mod chain;
pub mod cost;
mod dominance;
pub mod fit;
mod functions;
mod numeric;
pub mod order;
mod output;
mod plan;
pub mod privacy;
pub mod query_set;
mod radix;
mod scan;
pub mod sql;
mod stream;

use std::fmt;

use mpc::MpcError;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Secret};
use crate::outcome::{Outcome, PrivateOutput};
pub use dominance::DominanceRule;
pub use output::Decode;
use output::Stats;
use plan::{Plan, Term};
pub use privacy::GroupMinimums;
pub use scan::Grouping;
use sql::Aggregate;
pub use sql::{Query, SqlError, parse};

/// Everything that can stop a query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// The SQL is outside the supported subset (nothing ran).
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// The query would cost more than the cluster's limits (nothing ran).
    #[error(transparent)]
    OverLimit(#[from] cost::OverLimit),
    /// The inputs do not match the query's schema.
    #[error("inputs: {0}")]
    Input(String),
    /// The opened results are not the values the result needs.
    #[error("results: {0}")]
    Reveal(#[from] RevealError),
    /// An aggregate that differential privacy cannot release here (nothing ran).
    #[error("{aggregate}: not available with --epsilon (counts, sums, moments and histograms are)")]
    NotPrivate {
        /// The select item.
        aggregate: String,
    },
    /// The query cannot fit the engine's range at this size (nothing ran): the aggregate, its
    /// columns and what would make it fit ([`fit`]).
    #[error("{aggregate} over {rows} rows does not fit the engine's range ({detail}): {remedy}")]
    TooWide {
        /// The select item.
        aggregate: String,
        /// Rows the query reads.
        rows: usize,
        /// The first bound passed, for the record.
        detail: String,
        /// What to change: narrower declared widths, fewer rows per group.
        remedy: String,
    },
    /// Differential privacy noise outside the sampler's exact range (nothing ran): see
    /// [`privacy`].
    #[error(
        "differential privacy: epsilon {epsilon} for a statistic of sensitivity 2^{log_sensitivity} needs {digits} noise digits, more than the {max} the sampler draws exactly: ask with a larger epsilon, fewer aggregates at once, or declare narrower columns",
        max = privacy::MAX_DIGITS
    )]
    NoiseRange {
        /// The statistic's share of the budget.
        epsilon: f64,
        /// Its sensitivity, as a power of two.
        log_sensitivity: u32,
        /// The digits it would need.
        digits: u32,
    },
    /// The rows a `WHERE` selects are fewer than the minimum query set, or all but fewer
    /// ([`query_set`]): only this pass/fail was opened.
    #[error(
        "min_query_rows: the rows the WHERE clause selects (before grouping) must number at least {min} and leave at least {min} out; this query's do not (only that was opened)"
    )]
    QuerySet {
        /// The minimum query set.
        min: usize,
    },
    /// The computation failed at a step.
    #[error("{step}: {source}")]
    Mpc {
        /// The step (`WHERE comparison`, `quotients`, `MIN/MAX`, ...).
        step: &'static str,
        /// The engine's error.
        source: MpcError,
    },
}

/// Concatenates batches for one batched call, an error naming the step.
pub(crate) fn concat<S: std::borrow::Borrow<Secret>>(
    parts: &[S],
    step: &'static str,
) -> Result<Secret, StatsError> {
    let parts: Vec<&Secret> = parts.iter().map(S::borrow).collect();
    Secret::concat(&parts).map_err(in_step(step))
}

/// Wraps an engine error with the step it happened in.
pub(crate) fn in_step(step: &'static str) -> impl Fn(MpcError) -> StatsError + Copy {
    move |source| StatsError::Mpc { step, source }
}

/// The secret inputs: the union of every owner's rows.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// One batch per schema column, every owner's rows concatenated in owner order, holding the
    /// encoded values ([`crate::dataset`]; fixed point as scaled integers).
    pub columns: Vec<Secret>,
    /// Rows per owner, in the same order (public).
    pub owner_rows: Vec<usize>,
}

impl Inputs {
    /// The inputs as the engine's parties hold them once one party, `dealer`, has secret-shared
    /// every column (`(values, bits)`; the values are read at the dealer only): how benchmarks
    /// and tests stand in for the owners' uploads.
    pub async fn dealt<N: mpc::net::Network>(
        e: &mut mpc::Engine<N, mpc::Fr>,
        dealer: mpc::PartyId,
        columns: &[(&[i128], u32)],
        owner_rows: Vec<usize>,
    ) -> Result<Self, MpcError> {
        let mine = e.me() == dealer;
        let mut batches = Vec::with_capacity(columns.len());
        for &(values, bits) in columns {
            let plain = mine.then_some(values);
            batches.push(e.input_ints(dealer, plain, values.len(), bits).await?);
        }
        Ok(Inputs {
            columns: batches,
            owner_rows,
        })
    }

    /// The inputs for the [`crate::backend::Clear`] backend: every owner's table's plain
    /// values, in owner order (the reference a secure run is compared against).
    pub fn clear(
        schema: &crate::dataset::Schema,
        tables: &[crate::dataset::Table],
    ) -> Result<Self, MpcError> {
        use mpc::Field;
        let columns = schema
            .columns
            .iter()
            .enumerate()
            .map(|(c, spec)| {
                let values = tables
                    .iter()
                    .flat_map(|t| t.columns[c].iter().map(|&v| mpc::Fr::from_i128(v)))
                    .collect();
                Secret::from_facts(
                    values,
                    mpc::share::Meta {
                        bits: spec.ty.bits(),
                        frac: 0,
                        boolean: false,
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Inputs {
            columns,
            owner_rows: tables.iter().map(|t| t.rows()).collect(),
        })
    }
}

/// How a query is released.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryOptions {
    /// Minimum owners and rows per reported group.
    pub minimums: GroupMinimums,
    /// Differential privacy budget, when asked (`--epsilon`).
    pub epsilon: Option<f64>,
    /// The dominance rule: no owner may contribute more than this percentage of a reported
    /// column sum ([`dominance`]; the strictest `max_owner_share` of the inputs' policies).
    #[serde(default)]
    pub max_owner_share: Option<u32>,
    /// The minimum query set: a `WHERE` must select at least this many rows and leave at
    /// least this many out ([`query_set`]; the strictest `min_query_rows` of the inputs'
    /// policies); 0 for none.
    #[serde(default)]
    pub min_query_rows: usize,
    /// `n` of the `(n, k)` dominance rule with `k` = `max_owner_share` ([`dominance`]; 0 and
    /// 1: one owner).
    #[serde(default)]
    pub dominance_owners: usize,
    /// The p% dominance rule ([`dominance`]).
    #[serde(default)]
    pub p_percent: Option<u32>,
    /// The rows an owner needs in a group to count towards `minimums.owners` (0 and 1: any).
    #[serde(default)]
    pub min_owner_rows: usize,
    /// How percentiles walk the bits ([`order::Selection`]; default: two bits a step).
    #[serde(default)]
    pub selection: order::Selection,
    /// How the scan computes the `GROUP BY` one-hot ([`Grouping`]; default: in the binary
    /// domain where the backend can).
    #[serde(default)]
    pub grouping: Grouping,
}

impl QueryOptions {
    /// Released under these group minimums and no other rule: no noise, no dominance rule, no
    /// minimum query set, every owner counting. A policy's further clauses are set field by
    /// field (`QueryOptions { epsilon, ..QueryOptions::with_minimums(m) }`).
    pub fn with_minimums(minimums: GroupMinimums) -> Self {
        QueryOptions {
            minimums,
            epsilon: None,
            max_owner_share: None,
            min_query_rows: 0,
            dominance_owners: 1,
            p_percent: None,
            min_owner_rows: 0,
            selection: order::Selection::default(),
            grouping: Grouping::default(),
        }
    }
}

/// One value of a result row. Serialized with its variant's name (`{"Int": 590}`), so that
/// integers stay integers when a result crosses the network as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// An integer (counts; sums, minimums, maximums of integer columns).
    Int(i128),
    /// A real number.
    Float(f64),
    /// Histogram bucket counts.
    Buckets(Vec<i128>),
    /// The group's label.
    Text(String),
    /// Undefined (a sample variance of one row, a correlation with a constant column).
    Null,
}

/// One reported group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// The group's label (`None` without `GROUP BY`).
    pub group: Option<String>,
    /// One value per select item.
    pub values: Vec<Value>,
}

/// A query's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// Output column labels.
    pub columns: Vec<String>,
    /// The grouping column.
    pub group_by: Option<String>,
    /// Reported groups, in domain order.
    pub rows: Vec<ResultRow>,
    /// Labels of the groups withheld for being too small (their size is not revealed).
    pub suppressed: Vec<String>,
    /// The privacy budget spent, when noise was added.
    pub epsilon: Option<f64>,
    /// Set when the values went privately to recipients: the rows then name the reported
    /// groups but carry no values, and each recipient completes them with
    /// [`QueryResult::reveal`] from the values it reconstructs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<PrivateResult>,
}

/// Where a private result's values went and how to read them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivateResult {
    /// Who received the values (each the same values, as its own output).
    pub recipients: Vec<String>,
    /// One entry per select item, in order.
    pub layout: Vec<ItemLayout>,
}

/// How one select item's values are laid out in a private result: `parts` batches over the
/// reported groups, then, when `nullable`, a batch of 0/1 "defined" flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemLayout {
    /// Batches over the reported groups (a histogram has one per bucket, a group key none).
    pub parts: usize,
    /// Whether a batch of "defined" flags follows (`NULL` where 0).
    pub nullable: bool,
    /// How the integers read.
    pub decode: Decode,
}

/// A private result given the wrong number of reconstructed values
/// ([`QueryResult::reveal`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a private result of {groups} groups needs {expected} values, got {got}")]
pub struct RevealError {
    /// The result's reported groups.
    pub groups: usize,
    /// Values it needs.
    pub expected: usize,
    /// Values given.
    pub got: usize,
}

/// The name of a private statistics result among a job's private outputs.
pub const PRIVATE_OUTPUT: &str = "query result";

impl QueryResult {
    /// The number of values a private result's recipient reconstructs (0 for a public one).
    pub fn private_len(&self) -> usize {
        self.private.as_ref().map_or(0, |p| {
            let per_group: usize = p
                .layout
                .iter()
                .map(|l| l.parts + usize::from(l.nullable))
                .sum();
            per_group * self.rows.len()
        })
    }

    /// A private result completed with `values`, the integers its recipient reconstructed
    /// (in the output's order: per select item, each part over the reported groups, then the
    /// item's flags). A public result is returned as it is; a wrong count is an error.
    pub fn reveal(&self, values: &[i128]) -> Result<QueryResult, RevealError> {
        let Some(p) = &self.private else {
            return Ok(self.clone());
        };
        if values.len() != self.private_len() {
            return Err(RevealError {
                groups: self.rows.len(),
                expected: self.private_len(),
                got: values.len(),
            });
        }
        let groups = self.rows.len();
        let mut chunks = values.chunks(groups.max(1));
        let mut take = || chunks.next().unwrap_or(&[]).to_vec();
        let mut columns: Vec<Vec<Value>> = Vec::new();
        for item in &p.layout {
            let parts: Vec<Vec<i128>> = (0..item.parts).map(|_| take()).collect();
            let defined = item.nullable.then(&mut take);
            columns.push(
                (0..groups)
                    .map(|g| {
                        if defined.as_ref().is_some_and(|d| d[g] != 1) {
                            return Value::Null;
                        }
                        let label = self.rows[g].group.as_deref().unwrap_or("");
                        decode(&item.decode, &parts, g, label)
                    })
                    .collect(),
            );
        }
        let mut out = self.clone();
        out.private = None;
        for (g, row) in out.rows.iter_mut().enumerate() {
            row.values = columns.iter().map(|c| c[g].clone()).collect();
        }
        Ok(out)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:.6}"),
            Value::Buckets(b) => write!(f, "{b:?}"),
            Value::Text(t) => write!(f, "{t}"),
            Value::Null => write!(f, "NULL"),
        }
    }
}

impl fmt::Display for QueryResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The group's label leads each row unless the query selected the grouping column itself.
        let lead = self.group_by.as_ref().filter(|g| !self.columns.contains(g));
        let mut header: Vec<String> = lead.cloned().into_iter().collect();
        header.extend(self.columns.iter().cloned());
        writeln!(f, "{}", header.join(" | "))?;
        if let Some(p) = &self.private {
            let groups: Vec<&str> = self
                .rows
                .iter()
                .filter_map(|r| r.group.as_deref())
                .collect();
            writeln!(
                f,
                "values private to {} ({} reported group{}{}{})",
                p.recipients.join(", "),
                self.rows.len(),
                if self.rows.len() == 1 { "" } else { "s" },
                if groups.is_empty() { "" } else { ": " },
                groups.join(", ")
            )?;
        }
        for row in self.rows.iter().filter(|_| self.private.is_none()) {
            let mut cells: Vec<String> = if lead.is_some() {
                row.group.iter().cloned().collect()
            } else {
                Vec::new()
            };
            cells.extend(row.values.iter().map(|v| v.to_string()));
            writeln!(f, "{}", cells.join(" | "))?;
        }
        if !self.suppressed.is_empty() {
            writeln!(
                f,
                "suppressed (too few owners or rows): {}",
                self.suppressed.join(", ")
            )?;
        }
        if let Some(e) = self.epsilon {
            writeln!(f, "differential privacy: epsilon = {e}")?;
        }
        Ok(())
    }
}

fn check_inputs(
    query: &Query,
    inputs: &Inputs,
    options: &QueryOptions,
) -> Result<usize, StatsError> {
    let schema = &query.schema;
    if inputs.columns.len() != schema.columns.len() {
        return Err(StatsError::Input(format!(
            "{} column batches for a schema of {} columns",
            inputs.columns.len(),
            schema.columns.len()
        )));
    }
    let rows: usize = inputs.owner_rows.iter().sum();
    for (c, spec) in inputs.columns.iter().zip(&schema.columns) {
        if c.len() != rows {
            return Err(StatsError::Input(format!(
                "column '{}' has {} rows, the owners {rows}",
                spec.name,
                c.len()
            )));
        }
        if c.bits() > spec.ty.bits() {
            return Err(StatsError::Input(format!(
                "column '{}' is declared with {} bits, its batch with {}",
                spec.name,
                spec.ty.bits(),
                c.bits()
            )));
        }
    }
    if let Some(e) = options.epsilon {
        if !(e.is_finite() && e > 0.0) {
            return Err(StatsError::Input(format!(
                "epsilon must be a positive number, not {e}"
            )));
        }
        for item in &query.select {
            if matches!(
                item.aggregate,
                Aggregate::Min(_) | Aggregate::Max(_) | Aggregate::Percentile { .. }
            ) {
                return Err(StatsError::NotPrivate {
                    aggregate: item.label.clone(),
                });
            }
        }
    }
    Ok(rows)
}

/// Runs `query` over `inputs` on backend `b` (see the module doc); the answer is opened to
/// everyone.
pub async fn run_query<B: Backend>(
    b: &mut B,
    query: &Query,
    inputs: &Inputs,
    options: &QueryOptions,
) -> Result<QueryResult, StatsError> {
    Ok(run_query_for(b, query, inputs, options, &[]).await?.public)
}

/// Runs `query` and gives its values to `recipients` only (opened to everyone when there are
/// none). Which groups are reported or suppressed is public either way: it is opened before
/// the aggregates are computed. Each recipient receives every value as one private output
/// ([`PRIVATE_OUTPUT`]) and reads it with [`QueryResult::reveal`].
pub async fn run_query_for<B: Backend>(
    b: &mut B,
    query: &Query,
    inputs: &Inputs,
    options: &QueryOptions,
    recipients: &[String],
) -> Result<Outcome<QueryResult>, StatsError> {
    let rows = check_inputs(query, inputs, options)?;
    // Refused before anything runs, naming the aggregate and what to change.
    fit::check(query, rows, options.epsilon)?;
    run_planned(b, query, inputs, options, recipients, rows, None).await
}

/// [`run_query`] with the scan in chunks of `chunk_rows` rows, instead of as many as
/// [`stream::SCAN_MEMORY`] holds: the same outputs, whatever the chunk (what tests and
/// benchmarks vary; a worker runs [`run_query_for`]).
pub async fn run_query_in_chunks<B: Backend>(
    b: &mut B,
    query: &Query,
    inputs: &Inputs,
    options: &QueryOptions,
    chunk_rows: usize,
) -> Result<QueryResult, StatsError> {
    let rows = check_inputs(query, inputs, options)?;
    fit::check(query, rows, options.epsilon)?;
    let run = run_planned(b, query, inputs, options, &[], rows, Some(chunk_rows)).await?;
    Ok(run.public)
}

/// [`run_query_for`] with the bounds planned for `bound_rows` rows (at least the inputs'), the
/// scan in chunks of `chunk_rows` rows (`None`: as many as [`stream::SCAN_MEMORY`] holds).
pub(crate) async fn run_planned<B: Backend>(
    b: &mut B,
    query: &Query,
    inputs: &Inputs,
    options: &QueryOptions,
    recipients: &[String],
    bound_rows: usize,
    chunk_rows: Option<usize>,
) -> Result<Outcome<QueryResult>, StatsError> {
    let rows = check_inputs(query, inputs, options)?;
    let plan = Plan::new(query, rows, bound_rows);
    let mut result = QueryResult {
        columns: query.select.iter().map(|i| i.label.clone()).collect(),
        group_by: query.group_by.map(|g| query.schema.columns[g].name.clone()),
        rows: Vec::new(),
        suppressed: Vec::new(),
        epsilon: options.epsilon,
        private: None,
    };
    if rows == 0 {
        result.suppressed = plan.labels.clone();
        return Ok(Outcome::public(result));
    }
    let rule = DominanceRule {
        max_share: options.max_owner_share,
        top_owners: options.dominance_owners,
        p_percent: options.p_percent,
    };
    // The per-row weights and the columns as integers outlive the scan only for what takes
    // every row at once: order statistics and the dominance rule.
    let whole_rows = !plan.extremes.is_empty() || !plan.ranked.is_empty() || rule.is_set();
    let chunk = chunk_rows.unwrap_or_else(|| stream::chunk_rows(&plan, query, stream::SCAN_MEMORY));
    let scan = stream::scan(b, &plan, query, inputs, chunk, whole_rows, options.grouping).await?;
    let inputs = Inputs {
        columns: match whole_rows {
            true => inputs
                .columns
                .iter()
                .map(|c| c.clone().with_frac(0))
                .collect(),
            false => Vec::new(),
        },
        owner_rows: inputs.owner_rows.clone(),
    };
    query_set::check(b, query, &scan.counts, rows, options.min_query_rows).await?;
    let (mut counts, mut sums) = (scan.counts.clone(), scan.sums.clone());
    if let Some(epsilon) = options.epsilon {
        add_noise(b, &plan, query, epsilon, &mut counts, &mut sums).await?;
    }
    let is_reported = reported_groups(b, &plan, &scan, &counts, &inputs, options, rule).await?;
    let reported: Vec<usize> = (0..plan.groups).filter(|&g| is_reported[g]).collect();
    result.suppressed = (0..plan.groups)
        .filter(|&g| !is_reported[g])
        .map(|g| plan.labels[g].clone())
        .collect();
    if reported.is_empty() {
        return Ok(Outcome::public(result));
    }
    // None without order statistics (the scan kept no weights: nothing below reads them).
    let weights: Vec<Secret> = match whole_rows {
        true => reported.iter().map(|&g| scan.weights[g].clone()).collect(),
        false => Vec::new(),
    };
    let reported_counts = scan.counts.gather(&reported);
    let order_values = order_statistics(
        b,
        &plan,
        query,
        &inputs,
        &weights,
        &reported_counts,
        options.selection,
    )
    .await?;
    let stats = Stats {
        counts: counts.gather(&reported),
        sums: sums.iter().map(|s| s.gather(&reported)).collect(),
        noisy: options.epsilon.is_some(),
    };
    let outputs = aggregate::evaluate(b, &plan, query, &stats, order_values).await?;
    deliver(b, &plan, query, result, &outputs, &reported, recipients).await
}

/// Which groups are reported, opened (one opening): those the minimums of [`privacy`] allow
/// on the (noisy) `counts`, and, when the dominance rule is set, that it does not refuse.
async fn reported_groups<B: Backend>(
    b: &mut B,
    plan: &Plan,
    scan: &scan::Scan,
    counts: &Secret,
    inputs: &Inputs,
    options: &QueryOptions,
    rule: DominanceRule,
) -> Result<Vec<bool>, StatsError> {
    let flags = privacy::reported(
        b,
        counts,
        &scan.counts_by_owner,
        inputs.owner_rows.len(),
        options.minimums,
        options.min_owner_rows,
    )
    .await?;
    let flags = match rule.is_set() {
        true => without_dominated(b, plan, scan, inputs, rule, flags).await?,
        false => flags,
    };
    let open = b.open(&flags).await.map_err(in_step("suppression"))?;
    Ok((0..plan.groups).map(|g| open[g] == 1).collect())
}

/// `flags` times `[not dominated]` ([`dominance::dominated`] on every summed column and one
/// `mul`), or `flags` unchanged when the query sums no column.
async fn without_dominated<B: Backend>(
    b: &mut B,
    plan: &Plan,
    scan: &scan::Scan,
    inputs: &Inputs,
    rule: DominanceRule,
    flags: Secret,
) -> Result<Secret, StatsError> {
    let (mut columns, mut totals) = (Vec::new(), Vec::new());
    for (i, term) in plan.terms.iter().enumerate() {
        if let Term::Col(c) = *term {
            columns.push(&inputs.columns[c]);
            totals.push(&scan.sums[i]);
        }
    }
    if columns.is_empty() {
        return Ok(flags);
    }
    let dominated = dominance::dominated(
        b,
        &scan.weights,
        &columns,
        &totals,
        &inputs.owner_rows,
        rule,
    )
    .await?;
    let free = dominated.not().map_err(in_step("dominance rule"))?;
    b.mul(&flags, &free)
        .await
        .map_err(in_step("dominance rule"))
}

/// The order statistics of the reported groups (`weights`, `counts`), one per select item
/// that is one (`MIN`, `MAX`, a percentile), `None` for the others, in select order.
async fn order_statistics<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    inputs: &Inputs,
    weights: &[Secret],
    counts: &Secret,
    selection: order::Selection,
) -> Result<Vec<Option<Secret>>, StatsError> {
    let extremes = order::extremes(b, query, inputs, weights, &plan.extremes).await?;
    let items: Vec<order::PercentileItem> = query
        .select
        .iter()
        .filter_map(|i| match i.aggregate {
            Aggregate::Percentile { col, num, den } => Some((col, num, den)),
            _ => None,
        })
        .collect();
    let mut percentiles = order::percentiles(b, plan, inputs, weights, counts, &items, selection)
        .await?
        .into_iter();
    let extreme = |e: (usize, bool)| {
        let i = plan.extremes.iter().position(|x| *x == e).expect("planned");
        extremes[i].clone()
    };
    Ok(query
        .select
        .iter()
        .map(|item| match item.aggregate {
            Aggregate::Min(c) => Some(extreme((c, false))),
            Aggregate::Max(c) => Some(extreme((c, true))),
            Aggregate::Percentile { .. } => Some(percentiles.next().expect("one per item")),
            _ => None,
        })
        .collect())
}

/// Every value of the reported groups and every NULL flag, in the layout's order: one
/// opening, or one private output per recipient.
async fn deliver<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    mut result: QueryResult,
    outputs: &[output::Output],
    reported: &[usize],
    recipients: &[String],
) -> Result<Outcome<QueryResult>, StatsError> {
    let mut parts: Vec<Secret> = Vec::new();
    for o in outputs {
        parts.extend(o.parts.iter().map(|p| p.clone().with_frac(0)));
        parts.extend(o.defined.iter().cloned());
    }
    let refs: Vec<&Secret> = parts.iter().collect();
    let values = concat(&refs, "results")?;
    for &g in reported {
        result.rows.push(ResultRow {
            group: query.group_by.map(|_| plan.labels[g].clone()),
            values: Vec::new(),
        });
    }
    result.private = Some(PrivateResult {
        recipients: recipients.to_vec(),
        layout: outputs
            .iter()
            .map(|o| ItemLayout {
                parts: o.parts.len(),
                nullable: o.defined.is_some(),
                decode: o.decode.clone(),
            })
            .collect(),
    });
    if recipients.is_empty() {
        let opened = b.open(&values).await.map_err(in_step("results"))?;
        let public = result.reveal(&opened)?;
        return Ok(Outcome::public(public));
    }
    let labels = private_labels(&result);
    let private = recipients
        .iter()
        .map(|r| PrivateOutput {
            recipient: r.clone(),
            name: PRIVATE_OUTPUT.into(),
            labels: labels.clone(),
            values: values.clone(),
        })
        .collect();
    Ok(Outcome {
        public: result,
        private,
        updates: Vec::new(),
    })
}

/// One label per value of a private result, in its order: `group: column` (a histogram's
/// parts numbered, the flags marked `defined`).
fn private_labels(result: &QueryResult) -> Vec<String> {
    let mut labels = Vec::new();
    let Some(p) = &result.private else {
        return labels;
    };
    for (item, column) in p.layout.iter().zip(&result.columns) {
        let mut names: Vec<String> = (0..item.parts)
            .map(|k| match item.parts {
                1 => column.clone(),
                _ => format!("{column} [{k}]"),
            })
            .collect();
        if item.nullable {
            names.push(format!("{column} defined"));
        }
        for name in names {
            for row in &result.rows {
                labels.push(match &row.group {
                    Some(g) => format!("{g}: {name}"),
                    None => name.clone(),
                });
            }
        }
    }
    labels
}

fn decode(d: &Decode, values: &[Vec<i128>], g: usize, label: &str) -> Value {
    let v = || values[0][g];
    match *d {
        Decode::Count | Decode::Scaled(0) => Value::Int(v()),
        Decode::Scaled(f) => Value::Float(v() as f64 / (f as f64).exp2()),
        Decode::Float(f) => Value::Float(v() as f64 / (f as f64).exp2()),
        Decode::Percentile(den, f) => Value::Float(v() as f64 / den as f64 / (f as f64).exp2()),
        Decode::Buckets => Value::Buckets(values.iter().map(|p| p[g]).collect()),
        Decode::Key => Value::Text(label.to_string()),
    }
}

/// Adds discrete Laplace noise to the counts and every sum (see [`privacy`]).
async fn add_noise<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    epsilon: f64,
    counts: &mut Secret,
    sums: &mut [Secret],
) -> Result<(), StatsError> {
    let bits = |c: usize| query.schema.columns[c].ty.bits();
    let g = plan.groups;
    // Statistics: the counts, each moment sum, and each histogrammed column's cells.
    let mut hist_cols: Vec<usize> = Vec::new();
    let mut requests = vec![(g, 0u32)];
    for t in &plan.terms {
        match *t {
            Term::Col(c) => requests.push((g, bits(c))),
            Term::Square(c) => requests.push((g, 2 * bits(c))),
            Term::Cross(c, d) => requests.push((g, bits(c) + bits(d))),
            Term::Below(c, _) => {
                if !hist_cols.contains(&c) {
                    hist_cols.push(c);
                }
            }
        }
    }
    // Per histogrammed column: its bounds in increasing order; a noise value per cell below
    // each bound, accumulated.
    let mut cells = Vec::new();
    for &c in &hist_cols {
        let mut bounds: Vec<(i128, usize)> = plan
            .terms
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match *t {
                Term::Below(col, bd) if col == c => Some((bd, i)),
                _ => None,
            })
            .collect();
        bounds.sort();
        requests.push((g * bounds.len(), 0));
        cells.push(bounds);
    }
    let per = epsilon / (requests.len() - cells.len() + cells.len()) as f64;
    let reqs: Vec<(usize, u32, f64)> = requests.iter().map(|&(len, s)| (len, s, per)).collect();
    let noise = privacy::discrete_laplace(b, &reqs).await?;
    let step = in_step("DP noise");
    *counts = counts.add(&noise[0]).map_err(step)?;
    let mut k = 1;
    for (i, t) in plan.terms.iter().enumerate() {
        if !matches!(t, Term::Below(..)) {
            sums[i] = sums[i].add(&noise[k]).map_err(step)?;
            k += 1;
        }
    }
    for bounds in &cells {
        let z = &noise[k];
        k += 1;
        let mut acc: Option<Secret> = None;
        for (j, &(_, term)) in bounds.iter().enumerate() {
            let cell = z.slice(j * g..(j + 1) * g);
            let a = match acc {
                None => cell,
                Some(a) => a.add(&cell).map_err(step)?,
            };
            sums[term] = sums[term].add(&a).map_err(step)?;
            acc = Some(a);
        }
    }
    Ok(())
}
