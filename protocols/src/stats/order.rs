//! Order statistics over secret rows with secret membership: `MIN`/`MAX` by a tournament,
//! `MEDIAN` and `PERCENTILE_CONT` by a sorting network and an oblivious selection at a secret
//! index.
//!
//! - **MIN/MAX**: every reported group gets a copy of the column where rows outside it (by
//!   `WHERE` or `GROUP BY`) hold a sentinel above every value (`2^(b+1)`; a maximum is the
//!   minimum of `-x`), in one `select` call. A tournament halves all copies at once: one `lt`
//!   and one `select` call per level, `ceil(log2 N)` levels.
//! - **Percentiles** (the secret-count approach): one sort per column, whatever the number of
//!   groups. Each row gets a key `g 2^(b+1) + x + 2^b` for its group `g`, or `G 2^(b+1)` when it
//!   fails the `WHERE` clause (linear in the row weights; one `mul` for `w x`), so that sorting
//!   by key lays the groups out one after the other, valid rows first. The sort is Batcher's
//!   odd-even merge sort (Batcher 1968; Knuth TAOCP vol. 3, §5.3.4), restricted to the first
//!   `N` wires: `ceil(log2 N) (ceil(log2 N) + 1) / 2` layers, each one `lt` and one `select`
//!   call over all columns' comparators (`lo = c ? b : a`, `hi = a + b - lo`).
//!   Group `g` occupies positions `s_g .. s_g + n_g` with `s_g = Σ_(h<g) n_h` (linear in the
//!   secret counts). `PERCENTILE_CONT(p)`, `p = num/den`, interpolates at `h = p (n_g - 1)`:
//!   with `T = den s_g + num (n_g - 1)`, one `le` call gives `c_i = [den i <= T]` for every
//!   position, whose differences `c_i - c_(i+1)` are the one-hot of `k = s_g + floor(h)`; one
//!   `mul` call reads `key_k` and `key_(k+1)`, and `r = T - den k` is the remainder. The opened
//!   value is the exact integer `den x_k + r (x_(k+1) - x_k)`, divided by `den` in the clear.
//!
//! Rounds: `O(log N)` for `MIN`/`MAX`, `O(log² N)` for percentiles, independent of the number
//! of groups and columns. Not here: anything about which groups are reported.

use super::plan::{Plan, boolean};
use super::sql::Query;
use super::{Inputs, StatsError, at, cat};
use crate::backend::{Backend, Secret};

/// The layers of Batcher's odd-even merge sort on `n` wires (comparators `(i, j)`, `i < j`,
/// leaving the smaller value at `i`). Comparators reaching past `n` are dropped, as if the input
/// were padded with `+∞`, which never moves.
pub fn sorting_layers(n: usize) -> Vec<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    let mut p = 1;
    while p < n {
        let mut k = p;
        while k >= 1 {
            let mut layer = Vec::new();
            let mut j = k % p;
            while j + k < n {
                for i in 0..k.min(n - j - k) {
                    if (i + j) / (2 * p) == (i + j + k) / (2 * p) {
                        layer.push((i + j, i + j + k));
                    }
                }
                j += 2 * k;
            }
            if !layer.is_empty() {
                out.push(layer);
            }
            k /= 2;
        }
        p *= 2;
    }
    out
}

/// Minimums (or maximums) per reported group: one batch over the reported groups per item
/// `(column, is_max)`. `weights` are the reported groups' row weights.
pub(crate) async fn extremes<B: Backend>(
    b: &mut B,
    query: &Query,
    inputs: &Inputs,
    weights: &[Secret],
    items: &[(usize, bool)],
) -> Result<Vec<Secret>, StatsError> {
    const STEP: &str = "MIN/MAX";
    let groups = weights.len();
    if items.is_empty() || groups == 0 {
        return Ok(vec![Secret::from_bit_shares(Vec::new()); items.len()]);
    }
    let n = inputs.owner_rows.iter().sum::<usize>();
    let widest = items
        .iter()
        .map(|&(c, _)| query.schema.columns[c].ty.bits())
        .max()
        .unwrap_or(0);
    let sentinel = 1i128 << (widest + 1);
    let (mut cs, mut vs) = (Vec::new(), Vec::new());
    for &(c, max) in items {
        let x = &inputs.columns[c];
        let v = if max {
            x.neg().map_err(at(STEP))?
        } else {
            x.clone()
        };
        for w in weights {
            cs.push(w.clone());
            vs.push(v.clone());
        }
    }
    let arrays = cs.len();
    let cr: Vec<&Secret> = cs.iter().collect();
    let vr: Vec<&Secret> = vs.iter().collect();
    let fill = b.constant(&vec![sentinel; arrays * n]).map_err(at(STEP))?;
    let mut cur = b
        .select(&cat(&cr, STEP)?, &cat(&vr, STEP)?, &fill)
        .await
        .map_err(at(STEP))?;
    let mut m = n;
    while m > 1 {
        let half = m / 2;
        let (mut left, mut right, mut carry) = (Vec::new(), Vec::new(), Vec::new());
        for a in 0..arrays {
            for i in 0..half {
                left.push(a * m + 2 * i);
                right.push(a * m + 2 * i + 1);
            }
            if m % 2 == 1 {
                carry.push(a * m + m - 1);
            }
        }
        let (l, r) = (cur.gather(&left), cur.gather(&right));
        let c = b.lt(&r, &l).await.map_err(at(STEP))?;
        let winners = b.select(&c, &r, &l).await.map_err(at(STEP))?;
        let next = m.div_ceil(2);
        let joined = cat(&[&winners, &cur.gather(&carry)], STEP)?;
        let order: Vec<usize> = (0..arrays)
            .flat_map(|a| {
                (0..next).map(move |i| {
                    if i < half {
                        a * half + i
                    } else {
                        arrays * half + a
                    }
                })
            })
            .collect();
        cur = joined.gather(&order);
        m = next;
    }
    (0..items.len())
        .map(|i| {
            let v = cur.slice(i * groups..(i + 1) * groups);
            if items[i].1 {
                v.neg().map_err(at(STEP))
            } else {
                Ok(v)
            }
        })
        .collect()
}

/// One percentile to select: `(column, num, den)`.
pub(crate) type PercentileItem = (usize, i128, i128);

/// Percentile numerators `den x_k + r (x_(k+1) - x_k)` per reported group, one batch per item.
/// `weights` and `counts` cover every group (exact counts); `reported` lists the groups.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn percentiles<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    inputs: &Inputs,
    weights: &[Secret],
    mask: Option<&Secret>,
    counts: &Secret,
    reported: &[usize],
    items: &[PercentileItem],
) -> Result<Vec<Secret>, StatsError> {
    const STEP: &str = "percentile";
    let n = plan.rows;
    if items.is_empty() || reported.is_empty() || n == 0 {
        return Ok(vec![Secret::from_bit_shares(Vec::new()); items.len()]);
    }
    let groups = plan.groups as i128;
    let bits = |c: usize| query.schema.columns[c].ty.bits();
    let e = at(STEP);
    // Keys: w x + Σ_g r_g (g 2^(b+1) + 2^b) + (1 - w) G 2^(b+1).
    let wx: Vec<Secret> = match mask {
        Some(w) => {
            let ws: Vec<&Secret> = plan.sorted.iter().map(|_| w).collect();
            let xs: Vec<&Secret> = plan.sorted.iter().map(|&c| &inputs.columns[c]).collect();
            let p = b
                .mul(&cat(&ws, STEP)?, &cat(&xs, STEP)?)
                .await
                .map_err(at(STEP))?;
            (0..plan.sorted.len())
                .map(|i| {
                    p.slice(i * n..(i + 1) * n)
                        .assume_bits(bits(plan.sorted[i]))
                })
                .collect()
        }
        None => plan
            .sorted
            .iter()
            .map(|&c| inputs.columns[c].clone())
            .collect(),
    };
    let mut keys = Vec::new();
    for (i, &c) in plan.sorted.iter().enumerate() {
        let unit = 1i128 << (bits(c) + 1);
        let mut key = wx[i].add_const(groups * unit).map_err(at(STEP))?;
        for (g, w) in weights.iter().enumerate() {
            let shift = g as i128 * unit + (1 << bits(c)) - groups * unit;
            key = key
                .add(&w.scale(shift).map_err(at(STEP))?)
                .map_err(at(STEP))?;
        }
        let key_bits = bits(c) + 2 + (usize::BITS - plan.groups.leading_zeros());
        keys.push(key.assume_bits(key_bits));
    }
    let kr: Vec<&Secret> = keys.iter().collect();
    let mut all = cat(&kr, STEP)?;
    let arrays = keys.len();
    for layer in sorting_layers(n) {
        let (mut lo_i, mut hi_i) = (Vec::new(), Vec::new());
        for a in 0..arrays {
            for &(i, j) in &layer {
                lo_i.push(a * n + i);
                hi_i.push(a * n + j);
            }
        }
        let (lo, hi) = (all.gather(&lo_i), all.gather(&hi_i));
        let swap = b.lt(&hi, &lo).await.map_err(at(STEP))?;
        let new_lo = b.select(&swap, &hi, &lo).await.map_err(at(STEP))?;
        let new_hi = lo
            .add(&hi)
            .and_then(|s| s.sub(&new_lo))
            .map_err(at(STEP))?
            .assume_bits(lo.bits());
        let total = arrays * n;
        let mut from: Vec<usize> = (0..total).collect();
        for (k, (&i, &j)) in lo_i.iter().zip(&hi_i).enumerate() {
            from[i] = total + k;
            from[j] = total + lo_i.len() + k;
        }
        all = cat(&[&all, &new_lo, &new_hi], STEP)?.gather(&from);
    }
    // Selection: c_i = [den i <= T] for every (item, reported group, position).
    let count = |g: usize| counts.slice(g..g + 1);
    let mut targets = Vec::new();
    let mut consts = Vec::new();
    for &(_, num, den) in items {
        for &g in reported {
            let mut start = b.constant(&[0]).map_err(at(STEP))?;
            for h in 0..g {
                start = start.add(&count(h)).map_err(at(STEP))?;
            }
            let t = start
                .scale(den)
                .and_then(|s| s.add(&count(g).add_const(-1)?.scale(num)?))
                .map_err(at(STEP))?;
            targets.push(t);
            consts.extend((0..n as i128).map(|i| den * i));
        }
    }
    let tr: Vec<&Secret> = targets
        .iter()
        .flat_map(|t| std::iter::repeat_n(t, n))
        .collect();
    let t_rep = cat(&tr, STEP)?;
    let c = b
        .le(&b.constant(&consts).map_err(at(STEP))?, &t_rep)
        .await
        .map_err(at(STEP))?;
    let (mut hots, mut vals) = (Vec::new(), Vec::new());
    let mut index = Vec::new();
    let zero = b.constant(&[0]).map_err(at(STEP))?;
    for (k, &(col, _, _)) in items.iter().enumerate() {
        let a = plan.sorted.iter().position(|&s| s == col).expect("sorted");
        let key = all.slice(a * n..(a + 1) * n);
        let next = cat(&[&key.slice(1..n), &zero], STEP)?;
        for (gi, _) in reported.iter().enumerate() {
            let base = (k * reported.len() + gi) * n;
            let ci = c.slice(base..base + n);
            let shifted = cat(&[&ci.slice(1..n), &zero], STEP)?;
            let hot = boolean(ci.sub(&shifted).map_err(at(STEP))?);
            index.push(ci.slice(1..n).sum().map_err(at(STEP))?);
            for v in [&key, &next] {
                hots.push(hot.clone());
                vals.push(v.clone());
            }
        }
    }
    let hr: Vec<&Secret> = hots.iter().collect();
    let vr: Vec<&Secret> = vals.iter().collect();
    let picked = b
        .dot(&cat(&hr, STEP)?, &cat(&vr, STEP)?, n)
        .await
        .map_err(at(STEP))?;
    // A = den x_k + r (x_(k+1) - x_k), r = T - den k.
    let (mut rs, mut ds, mut bases) = (Vec::new(), Vec::new(), Vec::new());
    for (k, &(col, _, den)) in items.iter().enumerate() {
        for (gi, &g) in reported.iter().enumerate() {
            let j = k * reported.len() + gi;
            let (at_k, next) = (
                picked.slice(2 * j..2 * j + 1),
                picked.slice(2 * j + 1..2 * j + 2),
            );
            rs.push(
                targets[j]
                    .sub(&index[j].scale(den).map_err(at(STEP))?)
                    .map_err(at(STEP))?,
            );
            ds.push(next.sub(&at_k).map_err(at(STEP))?);
            let unit = 1i128 << (bits(col) + 1);
            bases.push(
                at_k.scale(den)
                    .and_then(|v| v.add_const(-den * (g as i128 * unit + (1 << bits(col)))))
                    .map_err(at(STEP))?,
            );
        }
    }
    let rr: Vec<&Secret> = rs.iter().collect();
    let dr: Vec<&Secret> = ds.iter().collect();
    let interp = b.mul(&cat(&rr, STEP)?, &cat(&dr, STEP)?).await.map_err(e)?;
    let r = reported.len();
    (0..items.len())
        .map(|k| {
            let parts: Vec<Secret> = (0..r)
                .map(|gi| bases[k * r + gi].add(&interp.slice(k * r + gi..k * r + gi + 1)))
                .collect::<Result<_, _>>()
                .map_err(at(STEP))?;
            let refs: Vec<&Secret> = parts.iter().collect();
            cat(&refs, STEP)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 0-1 principle: a comparator network sorts every input iff it sorts every 0/1 input.
    #[test]
    fn batcher_sorts_every_binary_input() {
        for n in 1..=12usize {
            let layers = sorting_layers(n);
            for bitsv in 0u32..(1 << n) {
                let mut v: Vec<u32> = (0..n).map(|i| (bitsv >> i) & 1).collect();
                for layer in &layers {
                    for &(i, j) in layer {
                        if v[j] < v[i] {
                            v.swap(i, j);
                        }
                    }
                }
                assert!(v.windows(2).all(|w| w[0] <= w[1]), "n={n} input={bitsv:b}");
            }
        }
        let l = (1024f64).log2() as usize;
        assert_eq!(sorting_layers(1024).len(), l * (l + 1) / 2);
    }
}
