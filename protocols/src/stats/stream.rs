//! The scan ([`super::scan::scan`]) streamed over the rows in chunks, so that a query's working
//! memory is bounded by a budget rather than by its rows (issue 17: "long jobs stream their
//! rows through the engine in chunks, a chunk size chosen from memory, not from N").
//!
//! Each chunk of consecutive rows runs the whole scan (comparisons, the predicate tree, the row
//! products, the masked sums) and leaves per-group sums and counts, which are added to the
//! previous chunks' locally: sums of sums are the sums, so the outputs are those of one scan over
//! every row, in the same field elements. The working set is `O(chunk × (columns + comparisons
//! + products))` shares beside the stored inputs; only the per-row group weights survive a
//! chunk, and only when the query needs them after the scan (`MIN`/`MAX`, percentiles, a
//! dominance rule). Rounds: every chunk costs the scan's rounds (one `mul` for a plain
//! `AVG`/`STDDEV`; the comparisons, the tree's levels, the products and the sums with a `WHERE`
//! or a `GROUP BY`), so the scan takes `ceil(N / chunk)` times those; one chunk when the rows
//! fit the budget, as before.
//!
//! What it does not do: chunk the order statistics ([`super::order`]) or the dominance rule,
//! which take every row's weights at once.

use super::plan::{Plan, Term};
use super::scan::Scan;
use super::sql::{Predicate, Query};
use super::{Inputs, StatsError, in_step};
use crate::backend::{Backend, Secret};
use mpc::share::Meta;

/// Working memory the scan may hold at once, per party, in bytes (the stored inputs aside):
/// 64 MiB, a quarter of the engine's comparison budget (which bounds each comparison batch on
/// its own, `mpc` `COMPARISON_MEMORY`).
pub(crate) const SCAN_MEMORY: usize = 64 << 20;

/// Bytes of one share.
const SHARE: usize = 32;

/// Shares the scan holds per row of a chunk: the chunk's columns, about six per compared
/// element (both operands, their concatenation, the output and its slice), four per node of
/// the predicate tree, ten per row product (operands, their concatenation, the product, the
/// multiplication's messages) and, for the masked sums, two per (group, term) pair.
fn shares_per_row(plan: &Plan, query: &Query) -> usize {
    let (leaves, nodes) = query.filter.as_ref().map_or((0, 0), tree_size);
    let grouped = query.group_by.is_some();
    let below = plan
        .terms
        .iter()
        .filter(|t| matches!(t, Term::Below(..)))
        .count();
    let compared = leaves + below + if grouped { plan.groups } else { 0 };
    let products = plan
        .terms
        .iter()
        .filter(|t| matches!(t, Term::Square(_) | Term::Cross(..)))
        .count()
        + if grouped && query.filter.is_some() {
            plan.groups
        } else {
            0
        };
    query.schema.columns.len()
        + 6 * compared
        + 4 * nodes
        + 10 * products
        + 2 * plan.groups * (plan.terms.len() + 1)
        + 2
}

/// Leaves and nodes of a predicate tree.
fn tree_size(p: &Predicate) -> (usize, usize) {
    match p {
        Predicate::Compare { .. } => (1, 1),
        Predicate::Const(_) => (0, 1),
        Predicate::And(a, b) | Predicate::Or(a, b) => {
            let ((la, na), (lb, nb)) = (tree_size(a), tree_size(b));
            (la + lb, na + nb + 1)
        }
        Predicate::Not(a) => {
            let (l, n) = tree_size(a);
            (l, n + 1)
        }
    }
}

/// Rows per chunk of `query`'s scan within `budget` bytes (at least one).
pub(crate) fn chunk_rows(plan: &Plan, query: &Query, budget: usize) -> usize {
    (budget / (SHARE * shares_per_row(plan, query))).max(1)
}

/// Runs the scan over `inputs` in chunks of `chunk` rows (see the module doc), keeping the
/// per-row group weights only when `keep_weights`. The inputs' columns are read as integers
/// (their scale dropped chunk by chunk, not copied whole).
pub(crate) async fn scan<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    inputs: &Inputs,
    chunk: usize,
    keep_weights: bool,
    grouping: super::scan::Grouping,
) -> Result<Scan, StatsError> {
    let rows = plan.rows;
    let chunk = chunk.max(1);
    let mut total: Option<Scan> = None;
    // Per group, the weights' shares so far, with the first chunk's facts.
    let mut weights: Vec<(Vec<mpc::Fr>, Meta)> = Vec::new();
    for lo in (0..rows).step_by(chunk) {
        let hi = (lo + chunk).min(rows);
        let part = Inputs {
            columns: inputs
                .columns
                .iter()
                .map(|c| c.slice(lo..hi).with_frac(0))
                .collect(),
            owner_rows: owners_within(&inputs.owner_rows, lo, hi),
        };
        let mut s = super::scan::scan(b, plan, query, &part, grouping).await?;
        if keep_weights {
            let first = weights.is_empty();
            for (g, w) in std::mem::take(&mut s.weights).into_iter().enumerate() {
                if first {
                    let facts = w.facts();
                    weights.push((w.into_shares(), facts));
                } else {
                    weights[g].0.extend(w.into_shares());
                }
            }
        }
        total = Some(match total {
            None => s,
            Some(t) => add(t, s)?,
        });
    }
    let mut total = total.ok_or_else(|| StatsError::Input("a scan over no rows".into()))?;
    total.weights = weights
        .into_iter()
        .map(|(shares, facts)| Secret::from_facts(shares, facts).map_err(in_step("weights")))
        .collect::<Result<_, _>>()?;
    Ok(total)
}

/// Each owner's rows among rows `lo..hi` (owners' rows are consecutive, in owner order).
fn owners_within(owner_rows: &[usize], lo: usize, hi: usize) -> Vec<usize> {
    let mut start = 0;
    owner_rows
        .iter()
        .map(|&r| {
            let (a, b) = (start.max(lo), (start + r).min(hi));
            start += r;
            b.saturating_sub(a)
        })
        .collect()
}

/// Two chunks' sums and counts added; each keeps the bound the plan gives the whole scan's (a
/// sum over all the planned rows), which no partial sum exceeds.
fn add(t: Scan, s: Scan) -> Result<Scan, StatsError> {
    let plus = |x: &Secret, y: &Secret| {
        x.add(y)
            .map(|z| z.assume_bits(x.bits().max(y.bits())))
            .map_err(in_step("chunk sums"))
    };
    Ok(Scan {
        weights: Vec::new(),
        counts: plus(&t.counts, &s.counts)?,
        counts_by_owner: plus(&t.counts_by_owner, &s.counts_by_owner)?,
        sums: t
            .sums
            .iter()
            .zip(&s.sums)
            .map(|(x, y)| plus(x, y))
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::owners_within;

    #[test]
    fn owners_split_across_chunks() {
        assert_eq!(owners_within(&[3, 0, 4], 0, 2), vec![2, 0, 0]);
        assert_eq!(owners_within(&[3, 0, 4], 2, 5), vec![1, 0, 2]);
        assert_eq!(owners_within(&[3, 0, 4], 5, 7), vec![0, 0, 2]);
        assert_eq!(owners_within(&[3, 0, 4], 0, 7), vec![3, 0, 4]);
    }
}
