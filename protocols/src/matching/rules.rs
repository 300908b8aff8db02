//! The market's input rules checked by the workers, on secret shares, when the backend checks
//! owners' inputs ([`Backend::checks_inputs`]: the engine under the malicious level). The
//! client checks the same rules before sharing ([`super::auction::check_bids`],
//! [`super::orders::check_orders`]); these are for an owner that skips them.
//!
//! - **Bids** (auction), per bidder: every `price` equals its grid price; demand never rises and
//!   supply never falls with the price (one batch of comparisons of adjacent rows); the last
//!   demand and the first supply are non-negative (so, with monotonicity, every quantity is).
//! - **Orders**, per firm: every `price` is on the grid (the product of `p − g_j` over the grid
//!   is zero: `G − 1` products an order in `log2 G` rounds, before the one-hot step, whose
//!   masked opening would otherwise reveal an off-grid limit); `side` is 0 or 1
//!   (`side · (side − 1) = 0`); `quantity >= 1` (one comparison).
//!
//! The rules that read only the dataset (not the job's grid) are paid once per dataset version
//! ([`VersionRule`]): a worker records them passed after a job under the malicious level
//! succeeds, and a later job skips them for a dataset only when every worker claims it
//! ([`Backend::agree_all`], as for the owners' range check in
//! [`crate::catalog::JobSpec::run`]; one worker's claim alone skips nothing). The grid rules
//! always run: a grid is the job's.
//!
//! Each rule's failures are reduced to one secret bit per (owner, rule) and only "all zero or
//! not" is opened ([`Backend::all_zero`]); the error names the dataset and the rule, never a
//! row or a value. Every value is already known to lie in its column's declared bits
//! ([`Backend::check_inputs`], run first by [`crate::catalog::JobSpec::run`]), which the
//! comparisons need.

use mpc::MpcError;

use super::{MatchingError, concat, in_step};
use crate::backend::{Backend, Secret};
use crate::outcome::{OwnedTable, VersionRule};

const STEP: &str = "market rules";

/// For each table, whether every party has seen `rule` pass on this version before (one
/// agreement round for all of them; none when there are no tables).
async fn agreed<B: Backend>(
    b: &mut B,
    tables: &[OwnedTable],
    rule: VersionRule,
) -> Result<Vec<bool>, MatchingError> {
    let claims: Vec<bool> = tables
        .iter()
        .map(|t| t.rules_checked.contains(&rule))
        .collect();
    if claims.is_empty() {
        return Ok(claims);
    }
    b.agree_all(&claims).await.map_err(in_step(STEP))
}

/// One rule's violations in one owner's data: a batch whose elements are all zero when the
/// rule holds.
struct Check<'a> {
    owner: &'a OwnedTable,
    rule: &'static str,
    zero: Secret,
}

/// Opens, for every check, only whether it holds; the first that fails is the error.
async fn enforce<B: Backend>(b: &mut B, checks: Vec<Check<'_>>) -> Result<(), MatchingError> {
    let groups: Vec<usize> = checks.iter().map(|c| c.zero.len()).collect();
    let parts: Vec<Secret> = checks.iter().map(|c| c.zero.clone().with_frac(0)).collect();
    let all = concat(&parts.iter().collect::<Vec<_>>(), STEP)?;
    let held = b.all_zero(&all, &groups).await.map_err(in_step(STEP))?;
    match checks.iter().zip(held).find(|(_, ok)| !ok) {
        None => Ok(()),
        Some((c, _)) => Err(MatchingError::Mpc {
            step: STEP,
            source: MpcError::InputCheckFailed {
                input: format!("{}/{}", c.owner.owner, c.owner.name),
                rule: c.rule.to_string(),
            },
        }),
    }
}

/// The bids' rules (module doc), for bidders whose `buy` and `sell` columns are given.
pub(crate) async fn check_bids<B: Backend>(
    b: &mut B,
    grid: &[i128],
    bids: &[OwnedTable],
    buys: &[&Secret],
    sells: &[&Secret],
) -> Result<(), MatchingError> {
    let g = grid.len();
    let grid_prices = b.constant(grid).map_err(in_step(STEP))?;
    let zero = b.constant(&[0]).map_err(in_step(STEP))?;
    let skip = agreed(b, bids, VersionRule::BidCurves).await?;
    // One batch of comparisons over the curves not yet checked: buy[r] < buy[r+1],
    // sell[r+1] < sell[r], buy[g-1] < 0, sell[0] < 0 — each true only where a rule is broken.
    let (mut lhs, mut rhs) = (Vec::new(), Vec::new());
    for ((buy, sell), _) in buys.iter().zip(sells).zip(&skip).filter(|(_, s)| !**s) {
        lhs.extend([buy.slice(0..g - 1), sell.slice(1..g), buy.slice(g - 1..g)]);
        rhs.extend([buy.slice(1..g), sell.slice(0..g - 1), zero.clone()]);
        lhs.push(sell.slice(0..1));
        rhs.push(zero.clone());
    }
    let lt = if lhs.is_empty() {
        None
    } else {
        let lhs = concat(&lhs.iter().collect::<Vec<_>>(), STEP)?;
        let rhs = concat(&rhs.iter().collect::<Vec<_>>(), STEP)?;
        Some(b.lt(&lhs, &rhs).await.map_err(in_step(STEP))?)
    };
    let per = 2 * (g - 1) + 2;
    let mut checks = Vec::with_capacity(4 * bids.len());
    let mut curve = 0;
    for (t, &skipped) in bids.iter().zip(&skip) {
        // Rows are read by position; a `price` column (the upload check asks for one) must
        // match the grid.
        if let Ok(price) = t.column("price") {
            checks.push(Check {
                owner: t,
                rule: "a price is not its row's grid price",
                zero: price.sub(&grid_prices).map_err(in_step(STEP))?,
            });
        }
        let Some(lt) = lt.as_ref().filter(|_| !skipped) else {
            continue;
        };
        let at_k = |from: usize, to: usize| lt.slice(curve * per + from..curve * per + to);
        checks.extend([
            Check {
                owner: t,
                rule: "demand rises with the price",
                zero: at_k(0, g - 1),
            },
            Check {
                owner: t,
                rule: "supply falls with the price",
                zero: at_k(g - 1, 2 * (g - 1)),
            },
            Check {
                owner: t,
                rule: "a quantity is negative",
                zero: at_k(2 * (g - 1), per),
            },
        ]);
        curve += 1;
    }
    enforce(b, checks).await
}

/// The orders' rules (module doc) for every firm's `side`, `price` and `quantity`, concatenated
/// in firm order (`books[k]` has `books[k].rows` orders).
pub(crate) async fn check_orders<B: Backend>(
    b: &mut B,
    grid: &[i128],
    books: &[OwnedTable],
    side: &Secret,
    price: &Secret,
    qty: &Secret,
) -> Result<(), MatchingError> {
    let n = price.len();
    // The books whose terms (side, quantity) are not yet agreed checked, and their rows.
    let skip = agreed(b, books, VersionRule::OrderTerms).await?;
    let mut rows = Vec::with_capacity(books.len());
    let mut at_row = 0;
    for t in books {
        rows.push(at_row..at_row + t.rows);
        at_row += t.rows;
    }
    let pending = |x: &Secret| -> Result<Secret, MatchingError> {
        let parts: Vec<Secret> = rows
            .iter()
            .zip(&skip)
            .filter(|(_, s)| !**s)
            .map(|(r, _)| x.slice(r.clone()))
            .collect();
        concat(&parts.iter().collect::<Vec<_>>(), STEP)
    };
    let (side, qty) = (pending(side)?, pending(qty)?);
    let m = side.len();
    // Factors p − g_j, order-major; a product tree over each order's G factors, and the side's
    // side · (side − 1) in the first level's batch.
    let mut factors: Vec<Secret> = Vec::with_capacity(grid.len());
    for &g in grid {
        factors.push(price.add_const(-g).map_err(in_step(STEP))?.assume_bits(1));
    }
    let side_less = side.add_const(-1).map_err(in_step(STEP))?;
    let mut first = true;
    let mut side_check = None;
    while factors.len() > 1 || first {
        let pairs = factors.len() / 2;
        let mut left: Vec<&Secret> = factors.iter().step_by(2).take(pairs).collect();
        let mut right: Vec<&Secret> = factors.iter().skip(1).step_by(2).take(pairs).collect();
        if first && m > 0 {
            left.push(&side);
            right.push(&side_less);
        }
        let products = if left.is_empty() {
            side.clone()
        } else {
            b.mul(&concat(&left, STEP)?, &concat(&right, STEP)?)
                .await
                .map_err(in_step(STEP))?
                .assume_bits(1)
        };
        let mut next: Vec<Secret> = (0..pairs)
            .map(|j| products.slice(j * n..(j + 1) * n))
            .collect();
        if first {
            side_check = Some(products.slice(pairs * n..pairs * n + m));
            first = false;
        }
        if factors.len() % 2 == 1 {
            next.push(factors.pop().expect("an odd factor"));
        }
        factors = next;
    }
    let on_grid = factors.pop().expect("one product");
    let side_check = side_check.expect("the first level ran");
    let small = if m == 0 {
        side_check.clone() // empty: every book's terms were agreed checked
    } else {
        let one = b.constant(&vec![1; m]).map_err(in_step(STEP))?;
        b.lt(&qty, &one).await.map_err(in_step(STEP))?
    };
    let mut checks = Vec::with_capacity(3 * books.len());
    let mut at_pending = 0;
    for ((t, rows), &skipped) in books.iter().zip(rows).zip(&skip) {
        checks.push(Check {
            owner: t,
            rule: "a price is not on the grid",
            zero: on_grid.slice(rows.clone()),
        });
        if skipped {
            continue;
        }
        let mine = at_pending..at_pending + t.rows;
        at_pending += t.rows;
        checks.extend([
            Check {
                owner: t,
                rule: "a side is neither buy nor sell",
                zero: side_check.slice(mine.clone()),
            },
            Check {
                owner: t,
                rule: "a quantity is below 1",
                zero: small.slice(mine),
            },
        ]);
    }
    enforce(b, checks).await
}
