//! The minimum query set (a policy's `min_query_rows`): a query with a `WHERE` clause is
//! answered only if the rows it selects, before grouping, number at least `m` and leave at
//! least `m` of the table out — the query-set-size control of Denning, Denning and Schwartz
//! (*The tracker: a threat to statistical database security*, ACM TODS 4(1), 1979, §2), on
//! both sides, since a query over all rows but a few is differenced against one over all.
//!
//! Inside the computation: the selected count is the sum of the groups' exact counts (local),
//! then one `lt` batch of two comparisons, `[m - 1 < n]` and `[n < N - m + 1]` (`N`, the rows
//! read, is public), one `mul`, and one opened bit. Nothing but that pass/fail is opened; a
//! failing query is refused before any aggregate is computed or any group flag opened
//! ([`StatsError::QuerySet`]). A query without `WHERE` selects the whole table: only `N >= m`
//! is required, in the clear.
//!
//! Limits: this is exactly the control trackers were invented to defeat — a general tracker
//! pads every query to a large set and subtracts (Denning et al., §3). It stops the small
//! probes (`WHERE salary > T` selecting one row, its complement), not the tracker pair; that
//! is `require_dp` with an `epsilon_budget`'s job. With `--epsilon` the bit is computed on
//! exact counts (the same documented one-bit leak as the group minimums).

use super::ast::Query;
use super::{StatsError, concat, in_step};
use crate::backend::{Backend, Secret};

/// Refuses `query` unless the rows it selects (`counts`, per group) satisfy the minimum query
/// set `min` among `rows` rows read (module doc). `min == 0`: no rule, nothing computed.
pub(crate) async fn check<B: Backend>(
    b: &mut B,
    query: &Query,
    counts: &Secret,
    rows: usize,
    min: usize,
) -> Result<(), StatsError> {
    const STEP: &str = "minimum query set";
    if min == 0 {
        return Ok(());
    }
    if query.filter.is_none() {
        return match rows >= min {
            true => Ok(()),
            false => Err(StatsError::QuerySet { min }),
        };
    }
    let (m, n) = (min as i128, rows as i128);
    let selected = counts.sum().map_err(in_step(STEP))?;
    let low = b.constant(&[m - 1]).map_err(in_step(STEP))?;
    let high = b.constant(&[n - m + 1]).map_err(in_step(STEP))?;
    let left = concat(&[&low, &selected], STEP)?;
    let right = concat(&[&selected, &high], STEP)?;
    let within = b.lt(&left, &right).await.map_err(in_step(STEP))?;
    let both = b
        .mul(&within.slice(0..1), &within.slice(1..2))
        .await
        .map_err(in_step(STEP))?;
    match b.open(&both).await.map_err(in_step(STEP))?[0] {
        1 => Ok(()),
        _ => Err(StatsError::QuerySet { min }),
    }
}
