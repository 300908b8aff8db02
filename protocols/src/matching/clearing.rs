//! The clearing rule and the rationing rule shared by the call auction and the order book.
//!
//! **Clearing.** On a public grid `g_0 < ... < g_(G-1)`, aggregate demand `D_i` (units buyers
//! would buy at `g_i`) is non-increasing and aggregate supply `S_i` non-decreasing. Let `p*`
//! be the lowest index with `S_(p*) >= D_(p*)` (the crossing). Matched volume at `i` is
//! `min(D_i, S_i)`: it is `S_i` below `p*` (non-decreasing in `i`) and `D_i` from `p*` on
//! (non-increasing), so it is largest at `p* - 1` or at `p*`. **The clearing price is the grid
//! price maximising matched volume; among several, the one nearest the crossing, and `p*`
//! itself on a tie** — so `p* - 1` exactly when `S_(p*-1) > D_(p*)`. The volume is
//! `V = max(D_(p*), S_(p*-1))` (with `S_(-1) = 0`).
//! - Auction: when supply stays below demand on the whole grid there is no crossing and **no
//!   trade** (bidders' curves are unknown beyond the grid).
//! - Order book: every order's limit is on the grid, so above the grid demand is zero: a
//!   virtual crossing after the last price, whose volume is zero, stands in, and the top price
//!   may clear with buyers rationed.
//! - A volume of zero is **no trade**, and then the price is not opened.
//!
//! Secure computation: the `G` comparisons `[D_i <= S_i]` are one batch; being monotone, their
//! differences form the one-hot `h` of `p*` (and its shift, of `p* - 1`) without any
//! multiplication; two dot products give `D_(p*)` and `S_(p*-1)`; one comparison and one
//! selection give the one-hot of the clearing price and the volume. Only the volume and then
//! the price (a public linear function of the one-hot) are opened.
//!
//! **Rationing (price priority, then pro rata).** At the clearing price `P`, each participant
//! has a quantity filled in full (`full`: a buyer's units still wanted above `P`, a seller's
//! still offered below `P`) and a marginal quantity `m` (wanted or offered exactly at `P`). The
//! clearing rule guarantees the full quantities of a side fit in `V` (`D_(p*) <= V` when `p* -
//! 1` clears, `S_(p*-1) <= V` when `p*` clears). The remaining `R = V - Σ full` of a side is
//! shared among its marginal quantities (total `M >= R`): participant `j` receives
//! `floor(m_j R / M)`, and the `L = R - Σ floor(...)` units left over (fewer than the number of
//! participants with a fractional share) go **one each to the participants whose share had a
//! fractional part, in input order** (owners in the order the workers list them, rows in file
//! order). The short side has `R = M` and receives exactly its marginal quantities. Every
//! allocation is an integer between 0 and the participant's quantity at `P`, and each side's
//! allocations sum to `V` exactly.
//!
//! Secure computation of `floor(m R / M)`: `ρ = R / M` in fixed point with `f` fractional bits
//! (`f` = the quantities' bits plus 4, so the quotient is within 3 units in its last place and
//! `m ρ` within `3/16` of `m R / M`), `a = trunc(m ρ)` (within `1 + 3/16`), then with
//! `a0 = a - 2` the remainder `rem0 = m R - a0 M` lies in `(0.8 M, 3.2 M)` and the exact floor
//! is `a0 + #{j in 1..=3 : j M <= rem0}` (one batch of comparisons on numbers of `M`'s bits plus
//! four), and the share is fractional exactly when `rem0 - (floor - a0) M != 0`. A zero `M`
//! (nobody at the margin) is read as 1.

use serde::{Deserialize, Serialize};

use super::{MatchingError, concat, in_step};
use crate::backend::{Backend, Secret};

/// A clearing's public outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clearing {
    /// Trade at `price` (a grid price) for `volume` units, bought and sold.
    Traded {
        /// The clearing price.
        price: i128,
        /// Units bought, and sold, at that price (more than zero).
        volume: i128,
    },
    /// No trade: no crossing on the grid (auction) or nothing matched. Nothing else is opened.
    NoTrade,
}

/// The secret result of the clearing rule.
pub(crate) struct Crossing {
    /// The one-hot of the clearing price's grid index (all zero when nothing clears).
    pub(crate) onehot: Secret,
    /// The matched volume (one element).
    pub(crate) volume: Secret,
}

/// Applies the clearing rule (module doc) to aggregate curves over the grid. `sentinel`: demand
/// is zero above the grid (the order book), so a crossing after the last price stands in.
pub(crate) async fn cross<B: Backend>(
    b: &mut B,
    demand: &Secret,
    supply: &Secret,
    sentinel: bool,
) -> Result<Crossing, MatchingError> {
    let step = "crossing";
    let g = demand.len();
    let bits = demand.bits().max(supply.bits());
    let c = b.le(demand, supply).await.map_err(in_step(step))?;
    let one = b.constant(&[1]).map_err(in_step(step))?;
    let zero = b.constant(&[0]).map_err(in_step(step))?;
    let c = if sentinel {
        concat(&[&c, &one], step)?
    } else {
        c
    };
    let len = c.len();
    let shifted = concat(&[&zero, &c.slice(0..len - 1)], step)?;
    // c is monotone (0...0 1...1), so its differences are the one-hot of the crossing.
    let h = Secret::from_bit_shares(c.sub(&shifted).map_err(in_step(step))?.into_shares());
    let hstar = h.slice(0..g);
    let hprev = if sentinel {
        h.slice(1..len)
    } else {
        concat(&[&h.slice(1..len), &zero], step)?
    };
    let ends = b
        .dot(
            &concat(&[demand, supply], step)?,
            &concat(&[&hstar, &hprev], step)?,
            g,
        )
        .await
        .map_err(in_step(step))?
        .assume_bits(bits);
    let (d_star, s_prev) = (ends.slice(0..1), ends.slice(1..2));
    let prev = b.lt(&d_star, &s_prev).await.map_err(in_step(step))?;
    let picked = b
        .select(
            &prev.gather(&vec![0; g + 1]),
            &concat(&[&hprev, &s_prev], step)?,
            &concat(&[&hstar, &d_star], step)?,
        )
        .await
        .map_err(in_step(step))?;
    Ok(Crossing {
        onehot: Secret::from_bit_shares(picked.slice(0..g).into_shares()),
        volume: picked.slice(g..g + 1).assume_bits(bits),
    })
}

/// Opens the volume, then (only when it is positive) the price `Σ onehot_i g_i`.
pub(crate) async fn open_clearing<B: Backend>(
    b: &mut B,
    crossing: &Crossing,
    grid: &[i128],
) -> Result<(Clearing, Option<usize>), MatchingError> {
    let step = "opening the clearing";
    let volume = b.open(&crossing.volume).await.map_err(in_step(step))?[0];
    if volume == 0 {
        return Ok((Clearing::NoTrade, None));
    }
    let price = crossing
        .onehot
        .scale_each(grid)
        .and_then(|p| p.sum())
        .map_err(in_step(step))?;
    let price = b.open(&price).await.map_err(in_step(step))?[0];
    let index = grid.iter().position(|&g| g == price).ok_or_else(|| {
        MatchingError::Input(format!(
            "the opened price {price} is not on the grid: the curves are not monotone (an upload \
             skipped its checks)"
        ))
    })?;
    Ok((Clearing::Traded { price, volume }, Some(index)))
}

/// Which side each participant of a rationing is on.
pub(crate) enum Sides {
    /// Known to everyone (an auction's bidders: buy rows, then sell rows): `true` sells.
    Public(Vec<bool>),
    /// Secret (an order's side): 1 sells, 0 buys.
    Secret(Secret),
}

impl Sides {
    fn len(&self) -> usize {
        match self {
            Sides::Public(v) => v.len(),
            Sides::Secret(s) => s.len(),
        }
    }

    /// For each batch `pair` of two values (buy side, sell side), the value of each
    /// participant's side: `n` elements per pair, in one selection for secret sides.
    async fn pick<B: Backend>(
        &self,
        b: &mut B,
        pairs: &[&Secret],
        step: &'static str,
    ) -> Result<Vec<Secret>, MatchingError> {
        let n = self.len();
        match self {
            Sides::Public(sells) => {
                let idx: Vec<usize> = sells.iter().map(|&s| usize::from(s)).collect();
                Ok(pairs.iter().map(|p| p.gather(&idx)).collect())
            }
            Sides::Secret(sells) => {
                // Read every pair as integers for one batched selection, then restore scales.
                let raw: Vec<Secret> = pairs.iter().map(|p| (*p).clone().with_frac(0)).collect();
                let buy: Vec<Secret> = raw.iter().map(|p| p.gather(&vec![0; n])).collect();
                let sell: Vec<Secret> = raw.iter().map(|p| p.gather(&vec![1; n])).collect();
                let cond = concat(&vec![sells; pairs.len()], step)?;
                let picked = b
                    .select(
                        &cond,
                        &concat(&sell.iter().collect::<Vec<_>>(), step)?,
                        &concat(&buy.iter().collect::<Vec<_>>(), step)?,
                    )
                    .await
                    .map_err(in_step(step))?;
                Ok(pairs
                    .iter()
                    .enumerate()
                    .map(|(k, p)| picked.slice(k * n..(k + 1) * n).with_frac(p.frac()))
                    .collect())
            }
        }
    }

    /// `Σ x_j` over each side's participants: a batch of two (buy, sell).
    async fn side_sums<B: Backend>(
        &self,
        b: &mut B,
        x: &Secret,
        step: &'static str,
    ) -> Result<Secret, MatchingError> {
        match self {
            Sides::Public(sells) => {
                let buy: Vec<i128> = sells.iter().map(|&s| i128::from(!s)).collect();
                let sell: Vec<i128> = sells.iter().map(|&s| i128::from(s)).collect();
                let sb = x
                    .scale_each(&buy)
                    .and_then(|v| v.sum())
                    .map_err(in_step(step))?;
                let ss = x
                    .scale_each(&sell)
                    .and_then(|v| v.sum())
                    .map_err(in_step(step))?;
                concat(&[&sb, &ss], step)
            }
            Sides::Secret(sells) => {
                let on_sell = b.mul(x, sells).await.map_err(in_step(step))?;
                let total = x.sum().map_err(in_step(step))?;
                let ss = on_sell.sum().map_err(in_step(step))?;
                concat(&[&total.sub(&ss).map_err(in_step(step))?, &ss], step)
            }
        }
    }
}

/// Exclusive prefix sums `Σ_(j<i) x_j` (linear: computed on shares or on plain values alike).
fn prefix_sums(x: &Secret, step: &'static str) -> Result<Secret, MatchingError> {
    use mpc::Field;
    let mut acc = mpc::Fr::zero();
    let shares = x
        .shares()
        .iter()
        .map(|&v| {
            let before = acc;
            acc += v;
            before
        })
        .collect();
    let grown = x.bits() + usize::BITS - x.len().max(1).leading_zeros();
    Secret::from_facts(
        shares,
        mpc::share::Meta {
            bits: grown,
            frac: x.frac(),
            boolean: false,
        },
    )
    .map_err(in_step(step))
}

/// The rationing rule of the module doc: allocations of the marginal quantities `marg` (one per
/// participant, each side's in input order) given each side's remaining volume `remaining`
/// and total marginal quantity `total` (batches of two: buy side, sell side). `marg`'s bound
/// must be proved by the caller (quantities are non-negative and below `2^bits`).
pub(crate) async fn ration<B: Backend>(
    b: &mut B,
    marg: &Secret,
    sides: &Sides,
    remaining: &Secret,
    total: &Secret,
) -> Result<Secret, MatchingError> {
    let step = "rationing";
    let n = marg.len();
    if n == 0 {
        return b.constant(&[]).map_err(in_step(step));
    }
    let qb = marg.bits();
    let f = qb + 4;
    // The quotient must keep f + 3 bits of working precision (see `mpc::engine::div_sqrt`).
    if 2 * f + remaining.bits() > 188 || f > 98 {
        return Err(MatchingError::Input(format!(
            "quantities of {qb} bits with side totals of {} bits are too wide for exact pro-rata \
             rationing: declare the quantity columns with fewer bits (2·(q + 4) + q + log2(rows) \
             <= 188)",
            remaining.bits()
        )));
    }
    // 1. Nobody at the margin: read the total as 1 (then R = 0 and every share is 0).
    let zeros = b.constant(&[0, 0]).map_err(in_step(step))?;
    let empty = b.eq(total, &zeros).await.map_err(in_step(step))?;
    let total = total.add(&empty).map_err(in_step(step))?;
    // 2. ρ = R / M with f fractional bits; ρ <= 1 (plus a few units in its last place).
    let num = remaining.upscale(f).map_err(in_step(step))?;
    let rho = b
        .fx_div(&num, &total)
        .await
        .map_err(in_step(step))?
        .assume_bits(f + 2);
    let picked = sides.pick(b, &[remaining, &total, &rho], step).await?;
    let (r, m, rho) = (&picked[0], &picked[1], &picked[2]);
    // 3. a = trunc(m ρ), within 1 + 3/16 of m R / M; a0 = a - 2 <= floor(m R / M) <= a0 + 3.
    let prod = b.mul(marg, rho).await.map_err(in_step(step))?;
    let a = b.trunc(&prod, f).await.map_err(in_step(step))?;
    let a0 = a.add_const(-2).map_err(in_step(step))?;
    let both = b
        .mul(&concat(&[&a0, marg], step)?, &concat(&[m, r], step)?)
        .await
        .map_err(in_step(step))?;
    let (lower, target) = (both.slice(0..n), both.slice(n..2 * n));
    // 4. rem0 = m R - a0 M lies in (0.8 M, 3.2 M), so every comparison below is on numbers of
    //    the totals' bits plus 4, not of the products' (which would cost twice as much).
    let m_bits = m.bits();
    let rem0 = target
        .sub(&lower)
        .map_err(in_step(step))?
        .assume_bits(m_bits + 3);
    //    floor = a0 + #{j in 1..=3 : j M <= rem0}.
    let window = [1, 2, 3]
        .iter()
        .map(|&j| m.scale(j))
        .collect::<Result<Vec<_>, _>>()
        .map_err(in_step(step))?;
    let below = b
        .le(
            &concat(&window.iter().collect::<Vec<_>>(), step)?,
            &concat(&[&rem0, &rem0, &rem0], step)?,
        )
        .await
        .map_err(in_step(step))?;
    let count = below
        .slice(0..n)
        .add(&below.slice(n..2 * n))
        .and_then(|s| s.add(&below.slice(2 * n..3 * n)))
        .map_err(in_step(step))?;
    let floor = a0.add(&count).map_err(in_step(step))?.assume_bits(qb);
    // 5. A fractional share: the remainder m R - floor·M, in [0, M), is not zero.
    let counted = b.mul(&count, m).await.map_err(in_step(step))?;
    let rest = rem0
        .sub(&counted)
        .map_err(in_step(step))?
        .assume_bits(m_bits);
    let exact = b
        .eq(&rest, &b.constant(&vec![0; n]).map_err(in_step(step))?)
        .await
        .map_err(in_step(step))?;
    let fractional = exact.not().map_err(in_step(step))?;
    // 6. Leftover units: L = R - Σ floor per side, one each to the first L fractional shares.
    let floors = sides.side_sums(b, &floor, step).await?;
    let left = remaining.sub(&floors).map_err(in_step(step))?;
    let rank = side_ranks(b, sides, &fractional, step).await?;
    let left = sides.pick(b, &[&left], step).await?.remove(0);
    // Participants without a fractional share are pushed past any L (< n + 1).
    let key = rank
        .add(
            &fractional
                .not()
                .map_err(in_step(step))?
                .scale(n as i128 + 1)
                .map_err(in_step(step))?,
        )
        .map_err(in_step(step))?;
    let extra = b.lt(&key, &left).await.map_err(in_step(step))?;
    floor.add(&extra).map_err(in_step(step))
}

/// For each participant, the number of earlier participants on its side with `flag` set.
async fn side_ranks<B: Backend>(
    b: &mut B,
    sides: &Sides,
    flag: &Secret,
    step: &'static str,
) -> Result<Secret, MatchingError> {
    match sides {
        Sides::Public(sells) => {
            let buy: Vec<i128> = sells.iter().map(|&s| i128::from(!s)).collect();
            let sell: Vec<i128> = sells.iter().map(|&s| i128::from(s)).collect();
            let rb = prefix_sums(&flag.scale_each(&buy).map_err(in_step(step))?, step)?;
            let rs = prefix_sums(&flag.scale_each(&sell).map_err(in_step(step))?, step)?;
            rb.scale_each(&buy)
                .and_then(|x| x.add(&rs.scale_each(&sell)?))
                .map_err(in_step(step))
        }
        Sides::Secret(sells) => {
            let on_sell = b.mul(flag, sells).await.map_err(in_step(step))?;
            let on_buy = flag.sub(&on_sell).map_err(in_step(step))?;
            let rb = prefix_sums(&on_buy, step)?;
            let rs = prefix_sums(&on_sell, step)?;
            b.select(sells, &rs, &rb).await.map_err(in_step(step))
        }
    }
}
