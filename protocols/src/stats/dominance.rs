//! The dominance rules inside the computation: a group's sums are reported only if no few
//! owners dominate any reported column sum. Two rules of statistical disclosure control
//! (Hundepool et al., *Statistical Disclosure Control*, 2012, §4.2.2):
//!
//! - the `(n, k)` rule: the `n` largest owners' contributions together are at most `k`% of the
//!   group's sum (`max_owner_share = k`, `dominance_owners = n`, default 1: the `(1, k)` rule);
//! - the p% rule: the sum minus its two largest contributions is at least `p`% of the largest
//!   (`p_percent = p`), so the second-largest contributor cannot estimate the largest to
//!   within `p`%.
//!
//! The owner minimum counts owners with rows; these rules weigh what they bring, so owners
//! whose rows add nothing (the "dummy co-owners": three rows of zeros each) do not unlock a sum
//! that is one firm's alone.
//!
//! Per (group, column, owner), the owner's exact sum `s` over its rows in the group (one `mul`
//! of the row weights with the column, then local sums over each owner's slice of rows). The
//! `(1, k)` rule alone: one `lt` for every `[k·S < 100·s]` (`S` the group's exact sum). Otherwise
//! the owners are ranked inside the computation: one `lt` per pair of owners (ties broken by
//! owner order, so ranks are a permutation), each rank a local sum of those bits, one `lt` for
//! `[rank < m]` (`m` = `n`, and 1 and 2 for the p% rule), one `mul` to keep the top-`m`
//! contributions, local sums `T_m`, and one `lt` per rule: `[k·S < 100·T_n]`,
//! `[100·(S - T_2) < p·T_1]`. Finally one `lt` for `[0 < violations]` per group: the group is
//! *dominated*. Only the final reported flag is opened (the same documented leak as the owner
//! and row minimums). Meant for non-negative columns: with negative values an owner's share is
//! not bounded by 100%, and a group whose sum is negative is dominated as soon as one owner's
//! sum is above `k`% of it.
//!
//! Not here: which columns a query sums ([`super::plan`]), the minimums
//! ([`super::privacy::reported`]).

use serde::{Deserialize, Serialize};

use super::{StatsError, concat, in_step};
use crate::backend::{Backend, Secret};

/// The dominance rules a query is held to (the strictest of its inputs' policies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DominanceRule {
    /// `k` of the `(n, k)` rule, in %; `None`: no `(n, k)` rule.
    pub max_share: Option<u32>,
    /// `n` of the `(n, k)` rule (0 and 1 both mean one owner).
    pub top_owners: usize,
    /// `p` of the p% rule, in %; `None`: no p% rule.
    pub p_percent: Option<u32>,
}

impl DominanceRule {
    /// Whether the rule asks for anything.
    pub fn is_set(&self) -> bool {
        self.max_share.is_some() || self.p_percent.is_some()
    }
}

/// Per group, the secret flag `1` when `rule` finds some column of `columns` dominated
/// (`totals[c]`: a batch over the groups of column `c`'s sums).
pub(crate) async fn dominated<B: Backend>(
    b: &mut B,
    weights: &[Secret],
    columns: &[&Secret],
    totals: &[&Secret],
    owner_rows: &[usize],
    rule: DominanceRule,
) -> Result<Secret, StatsError> {
    const STEP: &str = "dominance rule";
    let (groups, owners) = (weights.len(), owner_rows.len());
    let shares = owner_sums(b, weights, columns, owner_rows).await?;
    // One total per (group, column) pair, group-major.
    let pairs: Vec<Secret> = (0..groups)
        .flat_map(|g| totals.iter().map(move |t| t.slice(g..g + 1)))
        .collect();
    let refs: Vec<&Secret> = pairs.iter().collect();
    let sums = concat(&refs, STEP)?;
    let top = rule.top_owners.max(1);
    let over = if rule.p_percent.is_none() && top == 1 {
        // The (1, k) rule: every owner's own sum against k% of the total.
        let percent = rule.max_share.unwrap_or(100);
        let bounds = sums.gather(
            &(0..sums.len())
                .flat_map(|p| std::iter::repeat_n(p, owners))
                .collect::<Vec<_>>(),
        );
        let hundred = shares
            .scale_each(&vec![100; shares.len()])
            .map_err(in_step(STEP))?;
        let cap = bounds
            .scale_each(&vec![percent as i128; bounds.len()])
            .map_err(in_step(STEP))?;
        b.lt(&cap, &hundred).await.map_err(in_step(STEP))?
    } else {
        ranked_violations(b, &shares, &sums, owners, top, rule).await?
    };
    let per_group = over
        .sum_chunks(over.len() / groups.max(1))
        .map_err(in_step(STEP))?;
    let zeros = b.constant(&vec![0; groups]).map_err(in_step(STEP))?;
    b.lt(&zeros, &per_group).await.map_err(in_step(STEP))
}

/// Each owner's sum of each column in each group: `(group, column, owner)`, group-major.
async fn owner_sums<B: Backend>(
    b: &mut B,
    weights: &[Secret],
    columns: &[&Secret],
    owner_rows: &[usize],
) -> Result<Secret, StatsError> {
    const STEP: &str = "dominance rule";
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for w in weights {
        for &c in columns {
            xs.push(w);
            ys.push(c);
        }
    }
    let products = b
        .mul(&concat(&xs, STEP)?, &concat(&ys, STEP)?)
        .await
        .map_err(in_step(STEP))?;
    let rows: usize = owner_rows.iter().sum();
    let row_bits = usize::BITS - rows.leading_zeros();
    let mut shares = Vec::with_capacity(weights.len() * columns.len() * owner_rows.len());
    for (pair, &c) in (0..weights.len()).flat_map(|_| columns.iter()).enumerate() {
        let mut start = pair * rows;
        for &r in owner_rows {
            let s = products
                .slice(start..start + r)
                .sum()
                .map_err(in_step(STEP))?
                .assume_bits(c.bits() + row_bits);
            shares.push(s);
            start += r;
        }
    }
    let refs: Vec<&Secret> = shares.iter().collect();
    concat(&refs, STEP)
}

/// The `(n, k)` and p% rules over ranked owners (module doc): per (group, column) pair, one
/// bit per rule set, 1 when it is violated.
async fn ranked_violations<B: Backend>(
    b: &mut B,
    shares: &Secret,
    sums: &Secret,
    owners: usize,
    top: usize,
    rule: DominanceRule,
) -> Result<Secret, StatsError> {
    const STEP: &str = "dominance rule";
    let pairs = sums.len();
    // Unordered owner pairs (i < j) of each (group, column) pair: a = [s_i < s_j].
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for p in 0..pairs {
        for i in 0..owners {
            for j in i + 1..owners {
                left.push(p * owners + i);
                right.push(p * owners + j);
            }
        }
    }
    let per = owners * owners.saturating_sub(1) / 2;
    let ranks = if per == 0 {
        b.constant(&vec![0; pairs * owners])
            .map_err(in_step(STEP))?
    } else {
        let below = b
            .lt(&shares.gather(&left), &shares.gather(&right))
            .await
            .map_err(in_step(STEP))?;
        // Owner j outranks i: [s_i < s_j] when j > i, [s_j >= s_i] = 1 - [s_j < s_i] when j < i.
        let both = concat(&[&below, &below.not().map_err(in_step(STEP))?], STEP)?;
        let index = |i: usize, j: usize| {
            let (a, b) = (i.min(j), i.max(j));
            // Position of pair (a, b) among the unordered pairs of one block.
            a * owners - a * (a + 1) / 2 + (b - a - 1)
        };
        let mut picks = Vec::with_capacity(pairs * owners * (owners - 1));
        for p in 0..pairs {
            for i in 0..owners {
                for j in (0..owners).filter(|&j| j != i) {
                    let k = p * per + index(i, j);
                    picks.push(if j > i { k } else { below.len() + k });
                }
            }
        }
        both.gather(&picks)
            .sum_chunks(owners - 1)
            .map_err(in_step(STEP))?
    };
    // [rank < m] for each m the rules need, then the top-m sums T_m.
    let mut tops: Vec<usize> = Vec::new();
    if rule.max_share.is_some() {
        tops.push(top);
    }
    if rule.p_percent.is_some() {
        tops.extend([1, 2]);
    }
    let repeated: Vec<&Secret> = tops.iter().map(|_| &ranks).collect();
    let bounds: Vec<i128> = tops
        .iter()
        .flat_map(|&m| std::iter::repeat_n(m as i128, ranks.len()))
        .collect();
    let bounds = b.constant(&bounds).map_err(in_step(STEP))?;
    let kept = b
        .lt(&concat(&repeated, STEP)?, &bounds)
        .await
        .map_err(in_step(STEP))?;
    let values: Vec<&Secret> = tops.iter().map(|_| shares).collect();
    let top_sums = b
        .mul(&kept, &concat(&values, STEP)?)
        .await
        .map_err(in_step(STEP))?
        .sum_chunks(owners)
        .map_err(in_step(STEP))?;
    let t = |slot: usize| top_sums.slice(slot * pairs..(slot + 1) * pairs);
    // One comparison per rule: left < right means violated.
    let (mut lhs, mut rhs) = (Vec::new(), Vec::new());
    let mut slot = 0;
    if let Some(k) = rule.max_share {
        lhs.push(sums.scale(k as i128).map_err(in_step(STEP))?);
        rhs.push(t(slot).scale(100).map_err(in_step(STEP))?);
        slot += 1;
    }
    if let Some(p) = rule.p_percent {
        let (t1, t2) = (t(slot), t(slot + 1));
        lhs.push(
            sums.sub(&t2)
                .map_err(in_step(STEP))?
                .scale(100)
                .map_err(in_step(STEP))?,
        );
        rhs.push(t1.scale(p as i128).map_err(in_step(STEP))?);
    }
    let rules = lhs.len();
    let lhs: Vec<&Secret> = lhs.iter().collect();
    let rhs: Vec<&Secret> = rhs.iter().collect();
    let violated = b
        .lt(&concat(&lhs, STEP)?, &concat(&rhs, STEP)?)
        .await
        .map_err(in_step(STEP))?;
    // Rule-major to pair-major, so each group's bits are contiguous.
    let order: Vec<usize> = (0..pairs)
        .flat_map(|p| (0..rules).map(move |r| r * pairs + p))
        .collect();
    Ok(violated.gather(&order))
}
