//! The dominance rule inside the computation: a group's sums are reported only if no single
//! owner contributes more than `k`% of any reported column sum (the `(1, k)` rule of
//! statistical disclosure control; Hundepool et al., *Statistical Disclosure Control*, 2012,
//! §4.2.2). The owner minimum counts owners with rows; this rule weighs what they bring, so
//! owners whose rows add nothing (the "dummy co-owners": three rows of zeros each) do not
//! unlock a sum that is one firm's alone.
//!
//! Per (group, column, owner), the owner's exact sum `s` over its rows in the group (one `mul`
//! of the row weights with the column, then local sums over each owner's slice of rows); one
//! `lt` for every `[k·S < 100·s]` (`S` the group's exact sum), its per-group total, and one
//! `lt` for `[0 < total]`: the group is *dominated*. Only the final reported flag is opened
//! (the same documented leak as the owner and row minimums). Meant for non-negative columns:
//! with negative values an owner's share is not bounded by 100%, and a group whose sum is
//! negative is dominated as soon as one owner's sum is above `k`% of it.
//!
//! Not here: which columns a query sums ([`super::plan`]), the minimums
//! ([`super::privacy::reported`]).

use super::{StatsError, at, cat};
use crate::backend::{Backend, Secret};

/// Per group, the secret flag `1` when some owner contributes more than `percent`% of the
/// group's sum of some column of `columns` (`totals[c]`: a batch over the groups).
pub(crate) async fn dominated<B: Backend>(
    b: &mut B,
    weights: &[Secret],
    columns: &[&Secret],
    totals: &[&Secret],
    owner_rows: &[usize],
    percent: u32,
) -> Result<Secret, StatsError> {
    const STEP: &str = "dominance rule";
    let (groups, owners) = (weights.len(), owner_rows.len());
    // Group-major: (group, column) pairs, each a batch of the rows.
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for w in weights {
        for &c in columns {
            xs.push(w);
            ys.push(c);
        }
    }
    let products = b
        .mul(&cat(&xs, STEP)?, &cat(&ys, STEP)?)
        .await
        .map_err(at(STEP))?;
    let rows: usize = owner_rows.iter().sum();
    let row_bits = usize::BITS - rows.leading_zeros();
    let mut shares = Vec::with_capacity(groups * columns.len() * owners);
    let mut bounds = Vec::with_capacity(groups * columns.len() * owners);
    for (pair, &c) in (0..groups).flat_map(|_| columns.iter()).enumerate() {
        let mut start = pair * rows;
        for &r in owner_rows {
            let s = products
                .slice(start..start + r)
                .sum()
                .map_err(at(STEP))?
                .assume_bits(c.bits() + row_bits);
            shares.push(s);
            start += r;
        }
        let g = pair / columns.len();
        let total = totals[pair % columns.len()].slice(g..g + 1);
        for _ in 0..owners {
            bounds.push(total.clone());
        }
    }
    let refs: Vec<&Secret> = shares.iter().collect();
    let shares = cat(&refs, STEP)?;
    let refs: Vec<&Secret> = bounds.iter().collect();
    let bounds = cat(&refs, STEP)?;
    let hundred = shares
        .scale_each(&vec![100; shares.len()])
        .map_err(at(STEP))?;
    let cap = bounds
        .scale_each(&vec![percent as i128; bounds.len()])
        .map_err(at(STEP))?;
    let over = b.lt(&cap, &hundred).await.map_err(at(STEP))?;
    let per_group = over.sum_chunks(columns.len() * owners).map_err(at(STEP))?;
    let zeros = b.constant(&vec![0; groups]).map_err(at(STEP))?;
    b.lt(&zeros, &per_group).await.map_err(at(STEP))
}
