//! Limit-order matching for one asset at one uniform price (a call auction of limit orders).
//!
//! Firms upload orders as rows of a dataset (every firm under the same name, e.g. `orders`):
//! `side` (categorical, domain `buy` and `sell`), `price` (an integer limit on the job's public
//! tick grid: a buy order buys at any price up to it, a sell order sells at any price from it)
//! and `quantity` (a positive integer). Candidate prices are the **public grid** of the job,
//! not the orders' own prices: the candidates then say nothing about the orders.
//!
//! 1. Each order's limit is placed on the grid as a secret thermometer code `[p >= g_j]`
//!    (`matching::unary`: a masked opening and a one-hot of about `G` products per order, or
//!    comparisons on a sparse grid), which makes aggregate demand `D_i = Σ_buy q [p >= g_i]`
//!    and supply `S_i = Σ_sell q [p <= g_i]` dot products with the side-split quantities (one
//!    multiplication each).
//! 2. The clearing rule of [`super::clearing`] (volume-maximising uniform price, ties to the
//!    crossing; above the grid demand is zero) gives the price `P` and volume `V`; only `V` and
//!    then `P` are opened (nothing more when `V = 0`).
//! 3. Fills, by **price priority then pro rata at the marginal price**: a buy order with limit
//!    above `P` (a sell order with limit below `P`) is filled in full; orders with limit exactly
//!    `P` share the rest of their side's volume pro rata, rounded down, the leftover units going
//!    one each to the marginal orders with a fractional share in row order (owners in the order
//!    the workers list them, rows in file order), as [`super::clearing`] documents. Each side's
//!    fills sum to `V`.
//!
//! Each firm privately receives `fills`, one value per order labelled `order <row>` (1-based
//! data rows). Leakage: `P`, `V`, the number of orders per firm (the row counts); each firm
//! learns its own fills.
//!
//! Cost: about `N·(G + 40 + log2 G)` products and random bits for the thermometer codes, then
//! rounds that do not depend on `N` (see `BENCHMARKS.md`: 10,000 orders on 64 ticks). With the
//! price public, `[p > P]` and `[p >= P]` are rows of the codes, so fills need no comparison.

use serde::{Deserialize, Serialize};

use super::clearing::{self, Clearing, Sides};
use super::{MAX_QUANTITY_BITS, MatchingError, Row, TableError, concat, in_step};
use crate::backend::{Backend, Secret};
use crate::dataset::{ColumnType, Schema, Table};
use crate::outcome::{Outcome, OwnedTable, PrivateOutput};

/// The order book's public result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersResult {
    /// The clearing price and volume, or no trade.
    pub clearing: Clearing,
    /// Orders taking part (all firms').
    pub orders: usize,
    /// Prices on the grid.
    pub prices: usize,
}

/// The index of `sell` in the `side` column's domain, checking the domain is `buy` and `sell`.
fn sell_index(schema: &Schema) -> Result<i128, TableError> {
    let (_, spec) = schema.column("side").ok_or(TableError::NoSide)?;
    match &spec.ty {
        ColumnType::Categorical { domain }
            if domain.len() == 2
                && domain.iter().any(|d| d == "buy")
                && domain.iter().any(|d| d == "sell") =>
        {
            Ok(domain.iter().position(|d| d == "sell").expect("present") as i128)
        }
        _ => Err(TableError::SideDomain),
    }
}

/// Checks one firm's orders before they are shared: `side` is buy or sell, `price` is on the
/// grid and `quantity` is a positive integer in a column of at most
/// [`MAX_QUANTITY_BITS`] bits. The error names the row.
pub fn check_orders(grid: &[i128], table: &Table) -> Result<(), TableError> {
    sell_index(&table.schema)?;
    let column = |name: &str| -> Result<&Vec<i128>, TableError> {
        let (i, spec) = table
            .schema
            .column(name)
            .ok_or_else(|| TableError::OrderColumn(name.into()))?;
        match spec.ty {
            ColumnType::Integer { bits } if name == "quantity" && bits > MAX_QUANTITY_BITS => {
                Err(TableError::QuantityWidth {
                    column: name.into(),
                    bits,
                })
            }
            ColumnType::Integer { .. } => Ok(&table.columns[i]),
            _ => Err(TableError::NotInteger(name.into())),
        }
    };
    let (price, quantity) = (column("price")?, column("quantity")?);
    for r in 0..price.len() {
        if grid.binary_search(&price[r]).is_err() {
            return Err(TableError::OffGrid {
                row: Row(r),
                price: price[r],
                prices: grid.len(),
                first: grid[0],
                last: grid[grid.len() - 1],
            });
        }
        if quantity[r] < 1 {
            return Err(TableError::QuantityBelowOne {
                row: Row(r),
                quantity: quantity[r],
            });
        }
    }
    Ok(())
}

/// Runs the matching over every firm's orders (see the module doc).
pub async fn run_orders<B: Backend>(
    b: &mut B,
    grid: &[i128],
    books: &[OwnedTable],
) -> Result<Outcome<OrdersResult>, MatchingError> {
    let step = "orders";
    let Some(first) = books.first() else {
        return Err(MatchingError::Input("no orders".into()));
    };
    let sell_at = sell_index(&first.schema)?;
    let gather = |name: &str| -> Result<Secret, MatchingError> {
        let cols = books
            .iter()
            .map(|t| t.column(name))
            .collect::<Result<Vec<_>, _>>()?;
        concat(&cols, step)
    };
    let (side, price, qty) = (gather("side")?, gather("price")?, gather("quantity")?);
    let n = side.len();
    let g = grid.len();
    let result = |clearing| OrdersResult {
        clearing,
        orders: n,
        prices: g,
    };
    if n == 0 {
        return Ok(Outcome::public(result(Clearing::NoTrade)));
    }
    if b.checks_inputs() {
        super::rules::check_orders(b, grid, books, &side, &price, &qty).await?;
    }
    // The side as a 0/1 "sells" flag (checked at upload to be buy or sell).
    let side = Secret::from_bit_shares(side.into_shares());
    let sells = if sell_at == 1 {
        side
    } else {
        side.not().map_err(in_step(step))?
    };
    let q_bits = qty.bits();
    let q_sell = b.mul(&qty, &sells).await.map_err(in_step(step))?;
    let q_buy = qty.sub(&q_sell).map_err(in_step(step))?.assume_bits(q_bits);
    // ge[j-1][o] = [p_o >= g_j] for j = 1..G-1 (j = 0 holds for every order).
    let rows = g - 1;
    let ge = super::unary::at_or_above(b, &price, grid).await?;
    let totals = concat(
        &[
            &q_buy.sum().map_err(in_step(step))?,
            &q_sell.sum().map_err(in_step(step))?,
        ],
        step,
    )?;
    let (demand, supply) = if rows == 0 {
        (totals.slice(0..1), totals.slice(1..2))
    } else {
        let sums = b
            .dot(
                &concat(&[&ge, &ge], step)?,
                &concat(
                    &[
                        &concat(&vec![&q_buy; rows], step)?,
                        &concat(&vec![&q_sell; rows], step)?,
                    ],
                    step,
                )?,
                n,
            )
            .await
            .map_err(in_step(step))?;
        // D = [ΣqB, D_1..D_(G-1)]; S_j = ΣqS - Σ_sell q [p >= g_(j+1)], S_(G-1) = ΣqS.
        let demand = concat(&[&totals.slice(0..1), &sums.slice(0..rows)], step)?;
        let s_total = totals.slice(1..2);
        let above = sums.slice(rows..2 * rows);
        let supply = s_total
            .gather(&vec![0; rows])
            .sub(&above)
            .map_err(in_step(step))?;
        let supply = concat(&[&supply, &s_total], step)?;
        (demand, supply)
    };
    let total_bits = q_bits + mpc::field::encode::bits_for(n as i128);
    let demand = demand.assume_bits(total_bits);
    let supply = supply.assume_bits(total_bits);
    let crossing = clearing::cross(b, &demand, &supply, true).await?;
    let (clearing, index) = clearing::open_clearing(b, &crossing, grid).await?;
    let (Some(p), Clearing::Traded { volume, .. }) = (index, clearing.clone()) else {
        return Ok(Outcome {
            public: result(clearing),
            private: private_fills(books, &b.constant(&vec![0; n]).map_err(in_step(step))?),
            updates: Vec::new(),
        });
    };
    // Price priority: [p > P] and [p >= P] are rows of ge (no interaction).
    let row = |j: usize, outside: i128| -> Result<Secret, MatchingError> {
        if j == 0 || j >= g {
            b.constant(&vec![outside; n]).map_err(in_step(step))
        } else {
            Ok(ge.slice((j - 1) * n..j * n))
        }
    };
    let above = row(p + 1, 0)?;
    let at_or_above = row(p, 1)?;
    let at_p = Secret::from_bit_shares(
        at_or_above
            .sub(&above)
            .map_err(in_step(step))?
            .into_shares(),
    );
    let below = at_or_above.not().map_err(in_step(step))?;
    let parts = b
        .mul(
            &concat(&[&q_buy, &q_sell, &q_buy, &q_sell], step)?,
            &concat(&[&above, &below, &at_p, &at_p], step)?,
        )
        .await
        .map_err(in_step(step))?;
    let piece = |k: usize| parts.slice(k * n..(k + 1) * n);
    let full = piece(0)
        .add(&piece(1))
        .map_err(in_step(step))?
        .assume_bits(q_bits);
    let marg = piece(2)
        .add(&piece(3))
        .map_err(in_step(step))?
        .assume_bits(q_bits);
    let side_sum = |k: usize| piece(k).sum().map_err(in_step(step));
    let filled = concat(&[&side_sum(0)?, &side_sum(1)?], step)?;
    let total = concat(&[&side_sum(2)?, &side_sum(3)?], step)?.assume_bits(total_bits);
    let remaining = b
        .constant(&[volume, volume])
        .and_then(|v| v.sub(&filled))
        .map_err(in_step(step))?
        .assume_bits(total_bits);
    let rationed = clearing::ration(b, &marg, &Sides::Secret(sells), &remaining, &total).await?;
    let fills = full
        .add(&rationed)
        .map_err(in_step(step))?
        .assume_bits(q_bits);
    Ok(Outcome {
        public: result(clearing),
        private: private_fills(books, &fills),
        updates: Vec::new(),
    })
}

/// One `fills` output per firm: its orders' values, labelled `order <row>`.
fn private_fills(books: &[OwnedTable], fills: &Secret) -> Vec<PrivateOutput> {
    let mut start = 0;
    books
        .iter()
        .map(|t| {
            let out = PrivateOutput {
                recipient: t.owner.clone(),
                name: "fills".into(),
                labels: (1..=t.rows).map(|r| format!("order {r}")).collect(),
                values: fills.slice(start..start + t.rows),
            };
            start += t.rows;
            out
        })
        .collect()
}
