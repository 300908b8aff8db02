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
//! What the session can run changes the charges ([`Paths`]): with the binary-domain paths
//! (PRSS randomness, either security level) the `GROUP BY` one-hot is one decomposition a row
//! and a demultiplexer of GF(2^8) ANDs inside the scan's chunks (`mpc` `engine/one_hot.rs`),
//! not a field equality per group, and percentiles are the bit-sliced selection (one byte a
//! row per bit plane, `mpc` `engine/bitslice.rs`), not the radix-4 one; each is charged at
//! its measured memory and bytes below.
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

/// What the session can run, which sets what a query costs it. A worker reads it from its
/// engine (`Backend::binary_selection`); the client's pre-check assumes the cluster's default
/// randomness (PRSS, which the engine keeps wherever `C(n, t)` allows: [`Paths::default_for`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paths {
    /// The binary-domain paths: the `GROUP BY` one-hot ([`super::Grouping::Binary`]) and the
    /// bit-sliced percentiles ([`super::order::Selection::BitSliced`]).
    pub binary: bool,
    /// The PRSS key sets `C(n, t)`: the terms of every daBit, whose field XOR tree takes one
    /// product fewer (one daBit per row and group leaves the one-hot).
    pub prss_terms: u64,
}

impl Paths {
    /// The field paths: field equalities for the one-hot, the radix-4 selection.
    pub const FIELD: Paths = Paths {
        binary: false,
        prss_terms: 0,
    };

    /// The binary paths of a session of `params` (`binary`: whether they run there).
    pub fn of(params: mpc::Params, binary: bool) -> Paths {
        let (n, t) = (params.n() as u64, params.t() as u64);
        let terms = (0..t).fold(1u64, |c, i| c * (n - i) / (i + 1));
        Paths {
            binary,
            prss_terms: terms,
        }
    }

    /// What a session of `params` runs with the engine's default randomness: PRSS, hence the
    /// binary paths, wherever `C(n, t)` is small enough (`mpc::engine::prss::supported`).
    pub fn default_for(params: mpc::Params) -> Paths {
        Paths::of(params, mpc::engine::prss::supported(params))
    }
}

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

/// The estimated cost of `query` over `rows` rows (every owner's) to one of `parties` workers
/// running `paths`.
pub fn estimate(query: &Query, rows: u64, parties: usize, paths: Paths) -> Cost {
    let schema = &query.schema;
    let bits = |c: usize| schema.columns[c].ty.bits();
    let groups = match query.group_by.map(|c| &schema.columns[c].ty) {
        Some(ColumnType::Categorical { domain }) => domain.len() as u64,
        _ => 1,
    };
    let f = filter_of(query);
    let (mut lt, mut lt_bits) = (f.lt, f.lt_bits);
    let (mut eq, mut eq_bits) = (f.eq, f.eq_bits);
    // The one-hot's groups: field equalities, or one binary-domain call.
    let mut hot = OneHot::default();
    match query.group_by {
        Some(g) if paths.binary => {
            hot = OneHot {
                groups,
                width: u64::from(bits(g).max(64 - groups.leading_zeros())) + 1,
                dabit_products: paths.prss_terms.saturating_sub(1),
            }
        }
        Some(g) => {
            eq += groups;
            eq_bits = eq_bits.max(bits(g));
        }
        None => {}
    }
    // Per row: masked sums and products (each aggregate's terms, in every group), order
    // statistics (a tournament or a radix selection: about one comparison per row and bit).
    let (mut terms, mut ordered_bits) = (0u64, 0u64);
    // On the binary paths, the `MIN`/`MAX` tournaments' edaBits comparisons, over every row.
    let mut tournament_bits = 0u64;
    // Percentiles: the ranked columns' decomposed bit planes, one candidate flag per row and
    // selection; held as field shares by the radix-4 selection (one reported group), as bytes
    // by the bit-sliced one (`order::Selection::BitSliced`, whenever `paths.binary`, under
    // either security level, one call per reported group and column).
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
            Aggregate::Min(c) | Aggregate::Max(c) if paths.binary => {
                tournament_bits += groups * (u64::from(bits(*c)) + 1);
            }
            Aggregate::Min(c) | Aggregate::Max(c) => {
                lt += groups;
                lt_bits = lt_bits.max(bits(*c));
            }
            Aggregate::Percentile { col, .. } if query.group_by.is_none() || paths.binary => {
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
    let (lt_compared, eq_compared) = (lt * u64::from(lt_bits + 1), eq * u64::from(eq_bits + 1));
    let compared_bits = lt_compared + eq_compared + ordered_bits;
    let products = f.joins + groups * (1 + terms) + terms;
    let columns = schema.columns.len() as u64;
    let (selection_memory, selection_sent) = match paths.binary {
        true => (
            bitsliced_memory(rows, planes, selections).saturating_add(match planes {
                0 => 0,
                // The reported groups' weights, kept whole for the selections.
                _ => rows.saturating_mul(groups * SHARE),
            }),
            rows.saturating_mul(bitsliced_sent(planes, selections) * groups),
        ),
        false => (
            selection_memory(rows, planes, selections),
            rows.saturating_mul(selection_products(planes, selections) * SHARE),
        ),
    };
    // The scan's products and predicate nodes stream in chunks within the scan's budget
    // (`super::stream`); the inputs stay whole (stored, and read as one batch per column). On
    // the field paths the comparisons are still charged per row: an over-estimate (the engine
    // runs them in chunks of its own budget), kept until it is measured again. On the binary
    // paths (PRSS) they are charged for one chunk of the scan (at most the rows the scan's
    // budget takes at six shares a compared element), order comparisons at the edaBits
    // path's measured bytes a bit ([`EDABITS_BYTES_PER_COMPARED_BIT`]), equalities at the
    // field path's; the tournaments of `MIN`/`MAX` over every row.
    // The scan's compared elements as `stream::chunk_rows` counts them (the groups included).
    let scan_compared = lt + eq + u64::from(query.group_by.is_some()) * groups;
    let compared_memory = match paths.binary {
        false => rows.saturating_mul(compared_bits * BYTES_PER_COMPARED_BIT_SHARE),
        true => {
            let chunk =
                super::stream::SCAN_MEMORY as u64 / (SHARE * (columns + 6 * scan_compared + 2));
            rows.min(chunk)
                .saturating_mul(
                    lt_compared * EDABITS_BYTES_PER_COMPARED_BIT
                        + eq_compared * BYTES_PER_COMPARED_BIT_SHARE,
                )
                .saturating_add(
                    rows.saturating_mul(tournament_bits * EDABITS_BYTES_PER_COMPARED_BIT),
                )
        }
    };
    let streamed = rows
        .saturating_mul((products + f.depth + hot.shares_per_row()) * SHARE)
        .min(super::stream::SCAN_MEMORY as u64)
        .saturating_add(hot.decomposition_memory());
    let memory = rows
        .saturating_mul(2 * columns * SHARE)
        .saturating_add(compared_memory)
        .saturating_add(streamed)
        .saturating_add(selection_memory);
    // Every compared bit and every product sends about one share to each other party (an
    // edaBits comparison about 16 bytes a bit: 500 B for 32 bits, BENCHMARKS.md "Comparisons").
    let others = parties.saturating_sub(1) as u64;
    let compared_sent = match paths.binary {
        false => compared_bits * 4 * SHARE,
        true => (lt_compared + tournament_bits) * 16 + (eq_compared + ordered_bits) * 4 * SHARE,
    };
    let bytes_sent = rows
        .saturating_mul(compared_sent + products * SHARE + hot.sent_per_row())
        .saturating_add(selection_sent)
        .saturating_mul(others);
    let widest = u64::from(lt_bits.max(eq_bits).max(1));
    let rounds = 2 * (64 - widest.leading_zeros() as u64)
        + 8
        + f.depth
        + (ordered_bits + planes).min(256) * 4
        + hot.rounds()
        + AGGREGATE_ROUNDS;
    Cost {
        memory,
        bytes_sent,
        rounds,
        comparisons: rows.saturating_mul(lt + eq),
    }
}

/// Bytes a party holds per compared element and bit on the edaBits path (PRSS): measured
/// 92 MB a party at the peak of 10^5 32-bit comparisons (`throughput --op lt --n 100000
/// --randomness prss`, BENCHMARKS.md "Comparisons"), about 28 bytes a bit with the process's
/// base; 48 keeps the estimate well above.
pub const EDABITS_BYTES_PER_COMPARED_BIT: u64 = 48;

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

/// The `GROUP BY` one-hot in the binary domain (`mpc` `engine/one_hot.rs`), when the session
/// runs it: `groups` (0: not run), the decomposed width `max(w, ceil(log2 groups)) + 1` and
/// the field products of each daBit.
#[derive(Default)]
struct OneHot {
    groups: u64,
    width: u64,
    dabit_products: u64,
}

impl OneHot {
    /// Shares held per row of a scan chunk: per group the output and the daBit's terms and
    /// tree (`prss_terms + 3`), which the chunk's budget bounds (`stream::chunk_rows` sizes
    /// chunks at six shares a group: exact at `n = 3`).
    fn shares_per_row(&self) -> u64 {
        self.groups * (self.dabit_products + 4)
    }

    /// The decomposition's working memory (`mpc` `bitslice.rs` `DECOMPOSE_MEMORY`), once.
    fn decomposition_memory(&self) -> u64 {
        match self.groups {
            0 => 0,
            _ => BINARY_DECOMPOSE_MEMORY,
        }
    }

    /// Bytes sent to each other party per row: the masked opening (one share), about four
    /// one-byte ANDs per decomposed bit, about two ANDs and one opened byte per group, and
    /// each daBit's field products. Measured for a whole 8-group `GROUP BY` with a `WHERE` at
    /// 10^5 rows in memory: 2,779 bytes a row sent by party 0 (12,871 with field
    /// equalities), 201 MB peak for the three parties (860 MB): `stats_bench 100000
    /// groupby8_where_avg grr [equality]`, BENCHMARKS.md "Statistics".
    fn sent_per_row(&self) -> u64 {
        match self.groups {
            0 => 0,
            g => SHARE + 4 * self.width + 3 * g + g * self.dabit_products * SHARE,
        }
    }

    /// Rounds per scan chunk: the decomposition's carry-save layers and ripple adder (about
    /// `width + 4`), the demultiplexer's levels, the daBits' tree and the opening.
    fn rounds(&self) -> u64 {
        match self.groups {
            0 => 0,
            _ => self.width + 16,
        }
    }
}

/// `mpc`'s binary decomposition budget (`bitslice.rs` `DECOMPOSE_MEMORY`).
const BINARY_DECOMPOSE_MEMORY: u64 = 64 << 20;

/// Bytes per row the bit-sliced percentiles hold, beyond one byte a bit plane and eight a
/// selection: the ranked column gathered and read as integers, the row weights, the members'
/// flags and the masked values of the decomposition (six shares). Calibrated on the measured
/// `MEDIAN` over 10^6 rows on a 3-worker cluster, 436 MB a worker at most (BENCHMARKS.md,
/// "Median and percentiles"): the estimate, inputs included, is 440 MB there.
const BITSLICED_SHARES_PER_ROW: u64 = 6;

/// Peak memory of the bit-sliced percentiles (`mpc` `engine/bitslice.rs`) over `rows` rows.
fn bitsliced_memory(rows: u64, planes: u64, selections: u64) -> u64 {
    if planes == 0 {
        return 0;
    }
    rows.saturating_mul(planes + 8 * selections + BITSLICED_SHARES_PER_ROW * SHARE)
        .saturating_add(2 * BINARY_DECOMPOSE_MEMORY)
}

/// Bytes per row the bit-sliced percentiles send each other party: the masked opening, and
/// about twelve bytes a plane and selection (three ANDs a bit and selection, with the
/// decomposition's). Measured: 656 bytes a row sent by party 0 for a `MEDIAN` of a 32-bit
/// column at 10^5 rows (BENCHMARKS.md, "Selection in the binary domain"); charged
/// `2 x (32 + 12 x 33) = 856` there.
fn bitsliced_sent(planes: u64, selections: u64) -> u64 {
    match planes {
        0 => 0,
        _ => SHARE + 12 * planes * selections.div_ceil(2),
    }
}

/// Products (and random bits, about one product each) per row of the radix-4 percentiles: the
/// decomposition's two per bit, then per two bits one for the digit's indicator and two per
/// selection.
fn selection_products(planes: u64, selections: u64) -> u64 {
    2 * planes + planes.div_ceil(2) * (1 + 2 * selections)
}
