//! Whether a query fits the engine's range at a number of rows, decided without the rows, and
//! the refusal that says what to change when it does not.
//!
//! Every bound of a query's computation is a function of public facts only: the columns'
//! declared widths, the aggregates, and the number of rows `N` (through `L`, the bits of `N`:
//! a sum of `N` values grows by `L` bits). So a query is *planned* for `N` rows by running it on
//! the [`Clear`] backend — which refuses exactly what the engine refuses, by the same rules —
//! over a handful of synthetic rows (each column's extreme values, every group present) with
//! its bounds derived for `N` rows ([`super::plan::Plan::new`]). A plan that passes there
//! passes on the engine at any `N' <= N` rows: no bound depends on the values.
//!
//! [`check`] runs before a query touches its inputs: on a refusal it finds the first select item
//! that does not fit alone and names it, with the remedy that would make it fit — the widest
//! declared width (on [`WIDTH_LADDER`]) its columns could have at these rows, and the most rows
//! per group it fits at the declared widths. Not here: the numerics that make plans fit (see
//! [`super::aggregate`]).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::sql::Query;
use super::{GroupMinimums, Inputs, QueryOptions, StatsError, run_planned};
use crate::backend::Clear;
use crate::dataset::{ColumnType, Table, WIDTH_LADDER};

/// Runs a future of the [`Clear`] backend, which completes without waiting.
pub(crate) fn ready<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    // Clear never waits; a few polls are more than enough.
    (0..16).find_map(|_| match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    })
}

/// `Ok` when `query` over `rows` rows (with DP noise of `epsilon`, when given) stays within the
/// engine's range at every step; else the engine's refusal. Nothing is opened to anyone: this
/// runs in the clear, over synthetic rows (see the module doc).
pub fn fits(query: &Query, rows: usize, epsilon: Option<f64>) -> Result<(), StatsError> {
    let schema = &query.schema;
    let groups = match query.group_by.map(|g| &schema.columns[g].ty) {
        Some(ColumnType::Categorical { domain }) => domain.len(),
        _ => 1,
    };
    // Per group, two rows: every column at the top, then at the bottom of its range.
    let synthetic = 2 * groups;
    let columns = schema
        .columns
        .iter()
        .enumerate()
        .map(|(c, spec)| {
            (0..synthetic)
                .map(|r| match &spec.ty {
                    _ if Some(c) == query.group_by => (r / 2) as i128,
                    ColumnType::Integer { bits } | ColumnType::Fixed { bits, .. } => {
                        let top = 1i128 << (*bits).min(126);
                        if r % 2 == 0 { top - 1 } else { -top }
                    }
                    _ => 0,
                })
                .collect()
        })
        .collect();
    let table = Table {
        schema: schema.clone(),
        columns,
    };
    let inputs = Inputs::clear(schema, &[table]).map_err(|source| StatsError::Mpc {
        step: "inputs",
        source,
    })?;
    // Every group reported (no WHERE, no minimums): every aggregate's steps are planned.
    let planned = Query {
        filter: None,
        ..query.clone()
    };
    let options = QueryOptions {
        epsilon,
        ..QueryOptions::with_minimums(GroupMinimums { owners: 1, rows: 1 })
    };
    let mut clear = Clear::default();
    let run = run_planned(
        &mut clear,
        &planned,
        &inputs,
        &options,
        &[],
        rows.max(synthetic),
        None,
    );
    ready(run)
        .unwrap_or_else(|| Err(StatsError::Input("the clear plan did not complete".into())))
        .map(|_| ())
}

/// [`fits`], or a refusal naming the first select item that does not fit and what would make
/// it fit ([`StatsError::TooWide`]).
pub fn check(query: &Query, rows: usize, epsilon: Option<f64>) -> Result<(), StatsError> {
    let detail = match fits(query, rows, epsilon) {
        Ok(()) => return Ok(()),
        Err(e @ StatsError::Mpc { .. }) => e.to_string(),
        // Refused before anything runs, with its own remedy.
        Err(e @ StatsError::NoiseRange { .. }) => return Err(e),
        // Not a bound: the run itself reports it.
        Err(_) => return Ok(()),
    };
    let alone = |item: &super::sql::SelectItem| Query {
        select: vec![item.clone()],
        ..query.clone()
    };
    let Some(item) = query
        .select
        .iter()
        .find(|i| fits(&alone(i), rows, epsilon).is_err())
    else {
        return Err(StatsError::TooWide {
            aggregate: "the select list".into(),
            rows,
            detail,
            remedy: "ask for fewer aggregates at once".into(),
        });
    };
    let single = alone(item);
    let columns = item.aggregate.columns();
    let names: Vec<&str> = columns
        .iter()
        .map(|&c| query.schema.columns[c].name.as_str())
        .collect();
    let mut remedies = Vec::new();
    // The widest rung under the declared widths at which the item fits at these rows.
    let declared = columns
        .iter()
        .map(|&c| query.schema.columns[c].ty.bits())
        .max()
        .unwrap_or(0);
    let narrower =
        WIDTH_LADDER.iter().rev().copied().find(|&w| {
            w < declared && fits(&narrowed(&single, &columns, w), rows, epsilon).is_ok()
        });
    if let Some(w) = narrower {
        remedies.push(format!(
            "declare {} with at most {w} bits in a schema file (--schema; now {declared})",
            names.join(" and ")
        ));
    }
    // The most rows per group it fits at the declared widths (a binary search).
    let (mut lo, mut hi) = (0usize, rows);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(&single, mid, epsilon).is_ok() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo >= 2 {
        remedies.push(format!(
            "ask over at most {lo} rows per group (a narrower WHERE, or GROUP BY)"
        ));
    }
    if epsilon.is_some() && fits(&single, rows, None).is_ok() {
        remedies.push("ask without --epsilon, or with a larger one".into());
    }
    let remedy = if remedies.is_empty() {
        "no narrower width or smaller group makes it fit".into()
    } else {
        remedies.join("; or ")
    };
    Err(StatsError::TooWide {
        aggregate: item.label.clone(),
        rows,
        detail,
        remedy,
    })
}

/// `query` with `columns` declared at most `bits` wide.
fn narrowed(query: &Query, columns: &[usize], bits: u32) -> Query {
    let mut q = query.clone();
    for &c in columns {
        match &mut q.schema.columns[c].ty {
            ColumnType::Integer { bits: b } | ColumnType::Fixed { bits: b, .. } => {
                *b = (*b).min(bits)
            }
            _ => {}
        }
    }
    q
}
