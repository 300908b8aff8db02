//! Sealed-bid double auction (a call market) on a public price grid.
//!
//! Each bidder uploads one dataset (every bidder under the same name, e.g. `beet-bids`) with
//! one row per grid price, in grid order: `price` (the grid price, checked at upload), `buy`
//! (units it would buy at that price: non-increasing in the price) and `sell` (units it would
//! sell: non-decreasing); a pure buyer leaves `sell` at 0, a pure seller `buy` at 0. Quantities
//! are non-negative integers, in columns declared with at most
//! [`MAX_QUANTITY_BITS`] bits (the exact pro-rata division needs the
//! room, see [`super::clearing`]).
//!
//! The workers add the curves (free: additions of shares), apply the clearing rule of
//! [`super::clearing`] (one batch of `G` comparisons, two dot products, one comparison and one
//! selection), and open only the volume and then the price, or nothing more than "no trade".
//! With the price public, each bidder's quantities at `P` and at its neighbours are shares at
//! public positions (free). Each bidder then privately receives its allocation (`bought`,
//! `sold`): the units it still wants above `P` (or offers below `P`) in full, plus its pro-rata
//! share of the rationed margin with the remainder rule of [`super::clearing`].
//!
//! Leakage: the price and volume (public); to each bidder, its own allocation. Nothing about
//! other prices' aggregates is opened. The grid and the number of bidders are public.
//!
//! The client checks the curves before sharing ([`check_bids`]); under the malicious level the
//! workers check them again on the shares before clearing ([`super::rules`]).

use serde::{Deserialize, Serialize};

use super::clearing::{self, Clearing, Sides};
use super::{
    Curve, MAX_QUANTITY_BITS, MatchingError, Row, TableError, concat, in_step, sum_batches,
};
use crate::backend::{Backend, Secret};
use crate::dataset::{ColumnType, Table};
use crate::outcome::{Outcome, OwnedTable, PrivateOutput};

/// The auction's public result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionResult {
    /// The clearing price and volume, or no trade.
    pub clearing: Clearing,
    /// Bidders (datasets) taking part.
    pub bidders: usize,
    /// Prices on the grid.
    pub prices: usize,
}

/// Checks one bidder's table before it is shared: the columns `price`, `buy` and `sell` are
/// integers, the rows list the grid's prices in order, quantities are non-negative, demand
/// never rises and supply never falls with the price. The error names the row.
pub fn check_bids(grid: &[i128], table: &Table) -> Result<(), TableError> {
    let column = |name: &str| -> Result<&Vec<i128>, TableError> {
        let (i, spec) = table
            .schema
            .column(name)
            .ok_or_else(|| TableError::BidColumn(name.into()))?;
        match spec.ty {
            ColumnType::Integer { bits } if name != "price" && bits > MAX_QUANTITY_BITS => {
                Err(TableError::QuantityWidth {
                    column: name.into(),
                    bits,
                })
            }
            ColumnType::Integer { .. } => Ok(&table.columns[i]),
            _ => Err(TableError::NotInteger(name.into())),
        }
    };
    let (price, buy, sell) = (column("price")?, column("buy")?, column("sell")?);
    for (r, &p) in price.iter().enumerate() {
        match grid.get(r) {
            Some(&g) if g == p => {}
            Some(&g) => {
                return Err(TableError::NotGridPrice {
                    row: Row(r),
                    price: p,
                    grid: g,
                });
            }
            None => {
                return Err(TableError::PastGrid {
                    row: Row(r),
                    price: p,
                    last: grid[grid.len() - 1],
                });
            }
        }
    }
    if price.len() < grid.len() {
        return Err(TableError::MissingPrice {
            rows: price.len(),
            prices: grid.len(),
            missing: grid[price.len()],
        });
    }
    for r in 0..price.len() {
        for (what, q) in [("buy", buy[r]), ("sell", sell[r])] {
            if q < 0 {
                return Err(TableError::NegativeQuantity {
                    row: Row(r),
                    side: what,
                    quantity: q,
                });
            }
        }
        for (curve, q) in [(Curve::Demand, buy), (Curve::Supply, sell)] {
            if r > 0 && curve.breaks(q[r - 1], q[r]) {
                return Err(TableError::NotMonotone {
                    row: Row(r),
                    curve,
                    from: q[r - 1],
                    from_price: price[r - 1],
                    to: q[r],
                    to_price: price[r],
                });
            }
        }
    }
    Ok(())
}

/// Runs the auction over every bidder's table (see the module doc). Each bidder's private
/// output is `allocation` with the values `bought` and `sold`.
pub async fn run_auction<B: Backend>(
    b: &mut B,
    grid: &[i128],
    bids: &[OwnedTable],
) -> Result<Outcome<AuctionResult>, MatchingError> {
    let step = "auction";
    if bids.is_empty() {
        return Err(MatchingError::Input("the auction has no bids".into()));
    }
    let g = grid.len();
    let mut buys = Vec::with_capacity(bids.len());
    let mut sells = Vec::with_capacity(bids.len());
    for t in bids {
        if t.rows != g {
            return Err(MatchingError::Input(format!(
                "{}/{} has {} rows, the grid has {g} prices",
                t.owner, t.name, t.rows
            )));
        }
        buys.push(t.column("buy")?);
        sells.push(t.column("sell")?);
    }
    if b.checks_inputs() {
        super::rules::check_bids(b, grid, bids, &buys, &sells).await?;
    }
    let q_bits = buys
        .iter()
        .chain(&sells)
        .map(|c| c.bits())
        .max()
        .unwrap_or(0);
    let demand = sum_batches(&buys, step)?;
    let supply = sum_batches(&sells, step)?;
    let crossing = clearing::cross(b, &demand, &supply, false).await?;
    let (clearing, index) = clearing::open_clearing(b, &crossing, grid).await?;
    let result = AuctionResult {
        clearing: clearing.clone(),
        bidders: bids.len(),
        prices: g,
    };
    let labels = vec!["bought".to_string(), "sold".to_string()];
    let (Some(p), Clearing::Traded { volume, .. }) = (index, clearing) else {
        let zero = b.constant(&[0, 0]).map_err(in_step(step))?;
        return Ok(Outcome {
            public: result,
            private: bids
                .iter()
                .map(|t| PrivateOutput {
                    recipient: t.owner.clone(),
                    name: "allocation".into(),
                    labels: labels.clone(),
                    values: zero.clone(),
                })
                .collect(),
            updates: Vec::new(),
        });
    };
    // Each bidder's quantities at P and at its neighbours: shares at public positions.
    let zero = b.constant(&[0]).map_err(in_step(step))?;
    let at_index = |c: &Secret, i: Option<usize>| match i {
        Some(i) if i < g => c.gather(&[i]),
        _ => zero.clone(),
    };
    let buy_at: Vec<Secret> = buys.iter().map(|c| at_index(c, Some(p))).collect();
    let buy_full: Vec<Secret> = buys.iter().map(|c| at_index(c, Some(p + 1))).collect();
    let sell_at: Vec<Secret> = sells.iter().map(|c| at_index(c, Some(p))).collect();
    let sell_full: Vec<Secret> = sells
        .iter()
        .map(|c| at_index(c, p.checked_sub(1)))
        .collect();
    let full = concat(&buy_full.iter().chain(&sell_full).collect::<Vec<_>>(), step)?;
    let at_p = concat(&buy_at.iter().chain(&sell_at).collect::<Vec<_>>(), step)?;
    // 0 <= marginal <= quantity at P (monotone curves).
    let marg = at_p.sub(&full).map_err(in_step(step))?.assume_bits(q_bits);
    let k = bids.len();
    let sides = Sides::Public((0..2 * k).map(|j| j >= k).collect());
    let side = |x: &Secret| -> Result<Secret, MatchingError> {
        let first = x.slice(0..k).sum().map_err(in_step(step))?;
        let second = x.slice(k..2 * k).sum().map_err(in_step(step))?;
        concat(&[&first, &second], step)
    };
    let total_bits = demand.bits().max(supply.bits());
    let filled = side(&full)?;
    let remaining = b
        .constant(&[volume, volume])
        .and_then(|v| v.sub(&filled))
        .map_err(in_step(step))?
        .assume_bits(total_bits);
    let total = side(&marg)?.assume_bits(total_bits);
    let rationed = clearing::ration(b, &marg, &sides, &remaining, &total).await?;
    let alloc = full
        .add(&rationed)
        .map_err(in_step(step))?
        .assume_bits(q_bits);
    let private = bids
        .iter()
        .enumerate()
        .map(|(j, t)| {
            Ok(PrivateOutput {
                recipient: t.owner.clone(),
                name: "allocation".into(),
                labels: labels.clone(),
                values: alloc.gather(&[j, k + j]),
            })
        })
        .collect::<Result<_, MatchingError>>()?;
    Ok(Outcome {
        public: result,
        private,
        updates: Vec::new(),
    })
}
