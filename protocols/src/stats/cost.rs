//! What a statistics query will cost one worker, estimated from the checked [`Query`] and the
//! row count before anything runs ([`estimate`]), and the limits a cluster sets on it
//! ([`Limits`], in each worker's config; the client checks the same before it submits).
//!
//! The scan ([`super::plan`]) dominates: every comparison of the `WHERE` clause, every
//! histogram bound and every group of the one-hot `GROUP BY` is one element of a batched
//! comparison per row, and all of one kind run as one batch. A comparison of `k`-bit values
//! holds `O(k)` shares per element at once (the random bits and the carry tree, Catrina and de
//! Hoogh 2010, §3), so the peak memory of a worker is about
//! `rows · Σ_comparisons (k + 1) · `[`BYTES_PER_COMPARED_BIT_SHARE`], plus
//! the inputs (twice: stored, and gathered for the query) and the scan's products and predicate
//! nodes, one share per row each up to the scan's chunk budget (`stream::SCAN_MEMORY`). The factor was
//! measured with `cargo run -p protocols --example where_cost` (peak resident memory
//! of three in-process parties, see BENCHMARKS.md), and the estimate is meant to lie above the
//! measurement, never below. Bytes sent and rounds are coarser (each multiplication or opening
//! sends one share to each other party; rounds count the scan's levels and a fixed allowance
//! for the aggregates): they bound the work, they do not predict it.
//!
//! Not here: measuring a running job (a worker refuses before it runs, and every worker
//! computes the same estimate, so they refuse together).

use serde::{Deserialize, Serialize};

use super::ast::{Aggregate, CmpOp, Predicate, Query};
use crate::dataset::ColumnType;

/// Bytes a worker holds at the peak of a batched comparison, per row, per compared element and
/// per bit of its bound (a share is 32 bytes). Measured: about 19 KiB per compared element of
/// a 32-bit column (33 bits), about 590 bytes a bit, at 1 and 4 comparisons over 9,000 rows and
/// 16 over 2,000 (see BENCHMARKS.md, "Memory at scale"); 768 keeps the estimate about 30 %
/// above that.
pub const BYTES_PER_COMPARED_BIT_SHARE: u64 = 32 * 24;

/// Bytes of one share.
const SHARE: u64 = 32;

/// Rounds allowed for the aggregates after the scan (divisions, roots, the release), whatever
/// the query: the estimate's fixed part.
const AGGREGATE_ROUNDS: u64 = 400;

/// A query's estimated cost to one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Peak memory, in bytes.
    pub memory: u64,
    /// Bytes sent to the other workers.
    pub bytes_sent: u64,
    /// Communication rounds.
    pub rounds: u64,
    /// Elements compared (rows times comparisons), for the message.
    pub comparisons: u64,
}

/// The most a job may cost one worker. In a worker's config as `[limits]` (every key optional,
/// unknown keys refused); the client checks a query against the same defaults before submitting
/// it, the workers against their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Peak memory of one job, MiB. Default 2048: a query over 10,000 rows with up to about
    /// six order comparisons of 32-bit columns (`WHERE` terms, histogram bounds, `MIN`/`MAX`)
    /// and a small `GROUP BY` passes; 300 comparisons over 9,000 rows (about 50 GiB) do not.
    pub max_job_memory_mib: u64,
    /// Bytes one worker sends for one job, MiB. Default 16384.
    pub max_job_sent_mib: u64,
    /// Communication rounds of one job. Default 20000.
    pub max_job_rounds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_job_memory_mib: 2048,
            max_job_sent_mib: 16384,
            max_job_rounds: 20_000,
        }
    }
}

/// A job over a limit: the estimate and the limit, by name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error(
    "refused before running: the query needs an estimated {estimate} {unit} of {what} per worker ({comparisons} comparisons), over the cluster's limit of {limit} {unit} ([limits] {key} in the worker config)"
)]
pub struct OverLimit {
    /// `memory`, `bytes sent` or `rounds`.
    pub what: String,
    /// The config key.
    pub key: String,
    /// `MiB` or `rounds`.
    pub unit: String,
    /// The estimate, in `unit`.
    pub estimate: u64,
    /// The limit, in `unit`.
    pub limit: u64,
    /// Elements compared.
    pub comparisons: u64,
}

impl Limits {
    /// Refuses a cost over any limit, naming the estimate and the limit.
    pub fn check(&self, cost: &Cost) -> Result<(), OverLimit> {
        let mib = |b: u64| b.div_ceil(1 << 20);
        let over = |what: &str, key: &str, unit: &str, estimate: u64, limit: u64| {
            (estimate > limit).then(|| OverLimit {
                what: what.into(),
                key: key.into(),
                unit: unit.into(),
                estimate,
                limit,
                comparisons: cost.comparisons,
            })
        };
        let refusal = over(
            "memory",
            "max_job_memory_mib",
            "MiB",
            mib(cost.memory),
            self.max_job_memory_mib,
        )
        .or_else(|| {
            over(
                "bytes sent",
                "max_job_sent_mib",
                "MiB",
                mib(cost.bytes_sent),
                self.max_job_sent_mib,
            )
        })
        .or_else(|| {
            over(
                "rounds",
                "max_job_rounds",
                "rounds",
                cost.rounds,
                self.max_job_rounds,
            )
        });
        refusal.map_or(Ok(()), Err)
    }
}

/// What the `WHERE` clause asks, counted without recursion.
#[derive(Default)]
struct Filter {
    /// Order comparisons, and the widest column they compare.
    lt: u64,
    lt_bits: u32,
    /// Equalities, and the widest column.
    eq: u64,
    eq_bits: u32,
    /// `AND`/`OR` nodes (one product per row each).
    joins: u64,
    depth: u64,
}

fn filter_of(query: &Query) -> Filter {
    let mut f = Filter::default();
    let Some(root) = &query.filter else {
        return f;
    };
    let bits = |c: usize| query.schema.columns[c].ty.bits();
    let mut todo = vec![(root, 1u64)];
    while let Some((p, d)) = todo.pop() {
        f.depth = f.depth.max(d);
        match p {
            Predicate::Compare { column, op, .. } => {
                if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    f.eq += 1;
                    f.eq_bits = f.eq_bits.max(bits(*column));
                } else {
                    f.lt += 1;
                    f.lt_bits = f.lt_bits.max(bits(*column));
                }
            }
            Predicate::Const(_) => {}
            Predicate::And(a, b) | Predicate::Or(a, b) => {
                f.joins += 1;
                todo.push((a, d + 1));
                todo.push((b, d + 1));
            }
            Predicate::Not(a) => todo.push((a, d + 1)),
        }
    }
    f
}

/// The estimated cost of `query` over `rows` rows (every owner's) to one of `parties` workers.
pub fn estimate(query: &Query, rows: u64, parties: usize) -> Cost {
    let schema = &query.schema;
    let bits = |c: usize| schema.columns[c].ty.bits();
    let groups = match query.group_by.map(|c| &schema.columns[c].ty) {
        Some(ColumnType::Categorical { domain }) => domain.len() as u64,
        _ => 1,
    };
    let f = filter_of(query);
    let (mut lt, mut lt_bits) = (f.lt, f.lt_bits);
    let (mut eq, mut eq_bits) = (f.eq, f.eq_bits);
    if let Some(g) = query.group_by {
        eq += groups;
        eq_bits = eq_bits.max(bits(g));
    }
    // Per row: masked sums and products (each aggregate's terms, in every group), order
    // statistics (a tournament or a radix selection: about one comparison per row and bit).
    let (mut terms, mut ordered_bits) = (0u64, 0u64);
    // Percentiles of one reported group (no GROUP BY) are charged as the radix-4 selection:
    // the ranked columns' decomposed bit planes, one candidate flag per row and selection. The
    // default bit-sliced selection (`order::Selection::BitSliced`) holds less (one byte a row
    // per plane and flag, its decomposition in chunks of `mpc`'s `DECOMPOSE_MEMORY`), but the
    // estimate does not know the session's security level and a malicious session runs the
    // radix-4 one, so this charge stays the bound of both.
    let (mut ranked, mut selections, mut planes) = (Vec::new(), 0u64, 0u64);
    for item in &query.select {
        match &item.aggregate {
            Aggregate::GroupKey | Aggregate::Count => {}
            Aggregate::Sum(_) | Aggregate::Avg(_) => terms += 1,
            Aggregate::Var { .. } | Aggregate::Stddev { .. } => terms += 2,
            Aggregate::Corr(..)
            | Aggregate::Covar { .. }
            | Aggregate::RegrSlope(..)
            | Aggregate::RegrIntercept(..) => terms += 5,
            Aggregate::Min(c) | Aggregate::Max(c) => {
                lt += groups;
                lt_bits = lt_bits.max(bits(*c));
            }
            Aggregate::Percentile { col, .. } if query.group_by.is_none() => {
                selections += 2;
                if !ranked.contains(col) {
                    ranked.push(*col);
                    planes += u64::from(bits(*col)) + 1;
                }
            }
            Aggregate::Percentile { col, .. } => ordered_bits += u64::from(bits(*col)) * groups,
            Aggregate::Histogram { col, bounds } => {
                lt += bounds.len() as u64;
                lt_bits = lt_bits.max(bits(*col));
            }
        }
    }
    let compared_bits = lt * u64::from(lt_bits + 1) + eq * u64::from(eq_bits + 1) + ordered_bits;
    let products = f.joins + groups * (1 + terms) + terms;
    // The scan's products and predicate nodes stream in chunks within the scan's budget
    // (`super::stream`); the inputs stay whole (stored, and read as one batch per column). The
    // comparisons are still charged per row: an over-estimate (the engine runs them in chunks
    // of its own budget), kept until it is measured again.
    let streamed = rows
        .saturating_mul((products + f.depth) * SHARE)
        .min(super::stream::SCAN_MEMORY as u64);
    let memory = rows
        .saturating_mul(
            compared_bits * BYTES_PER_COMPARED_BIT_SHARE + 2 * schema.columns.len() as u64 * SHARE,
        )
        .saturating_add(streamed)
        .saturating_add(selection_memory(rows, planes, selections));
    // Every compared bit and every product sends about one share to each other party.
    let others = parties.saturating_sub(1) as u64;
    let bytes_sent = rows
        .saturating_mul(compared_bits * 4 + products + selection_products(planes, selections))
        .saturating_mul(SHARE * others);
    let widest = u64::from(lt_bits.max(eq_bits).max(1));
    let rounds = 2 * (64 - widest.leading_zeros() as u64)
        + 8
        + f.depth
        + (ordered_bits + planes).min(256) * 4
        + AGGREGATE_ROUNDS;
    Cost {
        memory,
        bytes_sent,
        rounds,
        comparisons: rows.saturating_mul(lt + eq),
    }
}

/// Working memory of the engine's bit decomposition, which runs long batches in chunks within
/// it (`mpc` `COMPARISON_MEMORY`, `bits.rs` `decompose_chunk`).
const DECOMPOSE_MEMORY: u64 = 256 << 20;

/// Peak memory of the radix-4 percentiles ([`super::radix`]) over `rows` rows: the `planes`
/// decomposed bit planes, the candidates of every selection and the group's weights (one share
/// per row each), the decomposition's working memory and one chunk of the search. Measured on
/// a cluster (BENCHMARKS.md, "Median and percentiles").
fn selection_memory(rows: u64, planes: u64, selections: u64) -> u64 {
    if planes == 0 {
        return 0;
    }
    rows.saturating_mul((planes + selections + 2) * SHARE)
        .saturating_add(DECOMPOSE_MEMORY + super::radix::SELECT_MEMORY as u64)
}

/// Products (and random bits, about one product each) per row of the radix-4 percentiles: the
/// decomposition's two per bit, then per two bits one for the digit's indicator and two per
/// selection.
fn selection_products(planes: u64, selections: u64) -> u64 {
    2 * planes + planes.div_ceil(2) * (1 + 2 * selections)
}
