//! Radix selection in base 4 for the percentiles of one reported group, streamed over the rows
//! in chunks: the [`Selection::Quaternary`](super::order::Selection) variant of
//! [`super::order::percentiles`] (whose module doc states the problem and the binary variant).
//!
//! The search walks the decomposed bits two at a time from the top (one bit alone at the top
//! when the width is odd). For a digit of bits `(hi, lo)` the row's one-hot digit indicators
//! are linear in `hi`, `lo` and `hl = hi · lo` (one product per row and digit, shared by every
//! selection of the column): `[d = 3] = hl`, `[d = 2] = hi - hl`, `[d = 1] = lo - hl`,
//! `[d = 0] = 1 - hi - lo + hl`. Per selection with candidate flags `e_i`:
//! 1. the counts `D_hi = Σ e_i hi_i`, `D_lo`, `D_hl` are *dot products* (one multiplication's
//!    communication each, whatever the rows), and `E = Σ e_i` is local, so the candidates with a
//!    digit below `v` are `cum_0 = E - D_hi - D_lo + D_hl`, `cum_1 = E - D_hi`, `cum_2 = E - D_hl`;
//! 2. `s_v = [den (below + cum_(v-1)) <= right]` for `v = 1, 2, 3` (one `le` call for every
//!    selection, and the quotient's digit alongside); the digit is `m = s_1 + s_2 + s_3` and
//!    its one-hot `μ_0 = 1 - s_1`, `μ_1 = s_1 - s_2`, `μ_2 = s_2 - s_3`, `μ_3 = s_3`;
//! 3. `z_i = [d_i = m] = μ_0 + (μ_2 - μ_0) hi_i + (μ_1 - μ_0) lo_i + (μ_0 - μ_1 - μ_2 + μ_3) hl_i`,
//!    one dot of width 3 per row; `below <- below + Σ_v s_v (cum_(v-1) - cum_(v-2))` rides in
//!    the same call;
//! 4. `e_i <- e_i z_i`, one product per row.
//!
//! Per row and per two bits: one product for `hl` and two per selection (the binary variant
//! spends two per selection and bit), so a median (two selections) costs `5` products per row
//! and digit against `8`. The quotient `k = floor(T / den)` is found by the same search in base
//! 4 (`[den (Q + v 4^j) <= T]`, `v = 1, 2, 3`), in the same comparisons.
//!
//! Memory: the row-sized work (the dot and product operands) runs in chunks of rows sized from
//! [`SELECT_MEMORY`], one engine call per chunk; the decomposed bit planes are dropped as the
//! search passes them, so what the search holds beside them is the candidates (one share per
//! row and selection) and one chunk. Rounds per digit: `3 ceil(N / chunk)` for the row work plus
//! one comparison. Not here: several reported groups (the binary variant broadcasts each
//! group's bit to its rows by a dot over the group weights; this one does not).

use super::plan::boolean;
use super::{StatsError, at, cat};
use crate::backend::{Backend, Secret};

/// Working memory of the search's row chunks, per party, in bytes: 64 MiB, as the scan's.
pub(crate) const SELECT_MEMORY: usize = 64 << 20;

/// Shares held per row of a chunk and per selection: the three basis planes and their copies
/// as dot operands, the candidate slice, the coefficients gathered per row, the dot's output
/// and the product's operands and messages.
const SHARES_PER_ROW: usize = 16;

/// What the selections search: one entry per selection, over one reported group.
pub(crate) struct Searches {
    /// The ranked column (its position among the decomposed columns) each selection searches.
    pub column: Vec<usize>,
    /// Each selection's denominator: the counts are compared as `den · count`.
    pub den: Vec<i128>,
    /// Each selection's right side `T` or `T + den` (one element per selection).
    pub right: Secret,
    /// Per percentile item, its `T` (one element per item) and denominator, for the quotient.
    pub target: Secret,
    pub item_den: Vec<i128>,
    /// Bits of a count of rows.
    pub count_bits: u32,
}

/// The selected values `u = x + 2^w` (one per selection) and the quotients `k` (one per item).
pub(crate) struct Selected {
    pub value: Secret,
    pub quotient: Secret,
}

/// Rows per chunk of the row-sized work for `sels` selections.
pub(crate) fn rows_per_chunk(sels: usize) -> usize {
    (SELECT_MEMORY / (32 * SHARES_PER_ROW * sels.max(1))).max(1)
}

/// The radix-4 search (module doc) of every selection. `bits` are the `w + 1` bit planes of
/// the decomposed columns (least significant first, each `columns × n` long, column-major) and
/// are consumed; `members` flags the group's rows (`n` long).
pub(crate) async fn select<B: Backend>(
    b: &mut B,
    mut bits: Vec<Secret>,
    n: usize,
    members: &Secret,
    s: &Searches,
) -> Result<Selected, StatsError> {
    const STEP: &str = "percentile (radix 4)";
    let e = at(STEP);
    let (sels, items, l) = (s.column.len(), s.item_den.len(), s.count_bits);
    let width = bits.len();
    let digits = width.div_ceil(2);
    let quotient_digits = (l as usize).div_ceil(2);
    let chunk = rows_per_chunk(sels);
    let mut cand: Vec<Secret> = vec![members.clone(); sels];
    let mut below = b.constant(&vec![0; sels]).map_err(e)?;
    let mut value = b.constant(&vec![0; sels]).map_err(e)?;
    let mut quotient = b.constant(&vec![0; items]).map_err(e)?;

    for k in (0..digits.max(quotient_digits)).rev() {
        let searching = k < quotient_digits;
        // The digit's basis planes: [hi, lo, hl] for two bits, [b] for one.
        let basis: Option<Vec<Secret>> = match k < digits {
            false => None,
            true if 2 * k + 1 < width => {
                let hi = bits.pop().expect("planes left");
                let lo = bits.pop().expect("planes left");
                let hl = rowwise_mul(b, &hi, &lo, chunk * sels).await?;
                Some(vec![hi, lo, hl])
            }
            true => Some(vec![bits.pop().expect("planes left")]),
        };
        let nb = basis.as_ref().map_or(0, Vec::len);
        let column_part = |plane: &Secret, sel: usize, rows: std::ops::Range<usize>| {
            let base = s.column[sel] * n;
            plane.slice(base + rows.start..base + rows.end)
        };

        // 1. Counts D per (selection, basis plane), by chunked dot products; cum per selection.
        let mut left_parts = Vec::new();
        let mut right_parts = Vec::new();
        let mut cums: Vec<Vec<Secret>> = Vec::new();
        if let Some(basis) = &basis {
            let mut counts: Option<Secret> = None;
            for lo in (0..n).step_by(chunk) {
                let rows = lo..(lo + chunk).min(n);
                let (mut xs, mut ys) = (Vec::new(), Vec::new());
                for (sel, c) in cand.iter().enumerate() {
                    let ec = c.slice(rows.clone());
                    for plane in basis {
                        xs.push(ec.clone());
                        ys.push(column_part(plane, sel, rows.clone()));
                    }
                }
                let d = b
                    .dot(
                        &cat(&xs.iter().collect::<Vec<_>>(), STEP)?,
                        &cat(&ys.iter().collect::<Vec<_>>(), STEP)?,
                        rows.len(),
                    )
                    .await
                    .map_err(e)?;
                counts = Some(match counts {
                    None => d.assume_bits(l),
                    Some(acc) => acc.add(&d).map_err(e)?.assume_bits(l),
                });
            }
            let counts = counts.expect("at least one row");
            for (sel, c) in cand.iter().enumerate() {
                let all = c.sum().map_err(e)?.assume_bits(l);
                let d = |p: usize| counts.slice(sel * nb + p..sel * nb + p + 1);
                let cum = if nb == 3 {
                    let (dhi, dlo, dhl) = (d(0), d(1), d(2));
                    let c0 = all.sub(&dhi).and_then(|v| v.sub(&dlo)?.add(&dhl));
                    let c1 = all.sub(&dhi);
                    let c2 = all.sub(&dhl);
                    vec![c0, c1, c2]
                } else {
                    vec![all.sub(&d(0))]
                };
                let cum: Vec<Secret> = cum
                    .into_iter()
                    .map(|c| c.map(|c| c.assume_bits(l)))
                    .collect::<Result<_, _>>()
                    .map_err(e)?;
                let here = below.slice(sel..sel + 1);
                for c in &cum {
                    let left = here.add(c).and_then(|v| v.scale(s.den[sel])).map_err(e)?;
                    left_parts.push(left);
                    right_parts.push(s.right.slice(sel..sel + 1));
                }
                cums.push(cum);
            }
        }
        // The quotient's digit: [den (Q + v 4^k) <= T].
        if searching {
            for (item, &den) in s.item_den.iter().enumerate() {
                let q = quotient.slice(item..item + 1);
                for v in 1..4i128 {
                    let step = v << (2 * k);
                    left_parts.push(q.add_const(step).and_then(|x| x.scale(den)).map_err(e)?);
                    right_parts.push(s.target.slice(item..item + 1));
                }
            }
        }

        // 2. One comparison call for every selection's digit and the quotient's.
        let outcome = b
            .le(
                &cat(&left_parts.iter().collect::<Vec<_>>(), STEP)?,
                &cat(&right_parts.iter().collect::<Vec<_>>(), STEP)?,
            )
            .await
            .map_err(e)?;
        let picked = sels * nb;
        if searching {
            let q = outcome.slice(picked..outcome.len());
            let digit = q.sum_chunks(3).map_err(e)?;
            let grown = quotient
                .add(&digit.scale_pow2(2 * k as u32).map_err(e)?)
                .map_err(e)?;
            quotient = grown.assume_bits(l);
        }
        let Some(basis) = basis else {
            continue;
        };

        // The digit, its one-hot and the coefficients of z = μ_0 + Σ_p α_p basis_p.
        let (mut constant, mut coefs, mut steps) = (Vec::new(), Vec::new(), Vec::new());
        let mut found = Vec::new();
        for (sel, cum) in cums.iter().enumerate() {
            let sv: Vec<Secret> = (0..nb)
                .map(|v| outcome.slice(sel * nb + v..sel * nb + v + 1))
                .collect();
            let digit = sv
                .iter()
                .skip(1)
                .try_fold(sv[0].clone(), |acc, x| acc.add(x))
                .map_err(e)?;
            found.push(digit);
            let mu0 = sv[0].not().map_err(e)?;
            constant.push(mu0.clone());
            if nb == 3 {
                let mu1 = sv[0].sub(&sv[1]).map_err(e)?;
                let mu2 = sv[1].sub(&sv[2]).map_err(e)?;
                let mu3 = sv[2].clone();
                coefs.push(mu2.sub(&mu0).map_err(e)?);
                coefs.push(mu1.sub(&mu0).map_err(e)?);
                let c = mu0.sub(&mu1).and_then(|x| x.sub(&mu2)?.add(&mu3));
                coefs.push(c.map_err(e)?);
                // The counts of the digits below v: cum_0, cum_1 - cum_0, cum_2 - cum_1.
                steps.push(cum[0].clone());
                steps.push(cum[1].sub(&cum[0]).map_err(e)?);
                steps.push(cum[2].sub(&cum[1]).map_err(e)?);
            } else {
                coefs.push(sv[0].scale(2).and_then(|x| x.add_const(-1)).map_err(e)?);
                steps.push(cum[0].clone());
            }
        }
        let found = cat(&found.iter().collect::<Vec<_>>(), STEP)?;
        let grown = value
            .add(&found.scale_pow2(2 * k as u32).map_err(e)?)
            .map_err(e)?;
        value = grown.assume_bits(width as u32);
        let coefs = cat(&coefs.iter().collect::<Vec<_>>(), STEP)?;
        let steps = cat(&steps.iter().collect::<Vec<_>>(), STEP)?;
        let constant = cat(&constant.iter().collect::<Vec<_>>(), STEP)?;

        // 3. z per row (a dot of width nb per row and selection), with below's update riding
        // along in the first chunk; 4. e <- e z.
        let mut next: Vec<Vec<Secret>> = vec![Vec::new(); sels];
        for (c, lo) in (0..n).step_by(chunk).enumerate() {
            let rows = lo..(lo + chunk).min(n);
            let len = rows.len();
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for sel in 0..sels {
                let parts: Vec<Secret> = basis
                    .iter()
                    .map(|p| column_part(p, sel, rows.clone()))
                    .collect();
                let planes = cat(&parts.iter().collect::<Vec<_>>(), STEP)?;
                let interleaved: Vec<usize> = (0..len)
                    .flat_map(|i| (0..nb).map(move |p| p * len + i))
                    .collect();
                xs.push(planes.gather(&interleaved));
                let per_row: Vec<usize> = (0..len)
                    .flat_map(|_| (0..nb).map(move |p| sel * nb + p))
                    .collect();
                ys.push(coefs.gather(&per_row));
            }
            if c == 0 {
                xs.push(outcome.slice(0..picked));
                ys.push(steps.clone());
            }
            let z = b
                .dot(
                    &cat(&xs.iter().collect::<Vec<_>>(), STEP)?,
                    &cat(&ys.iter().collect::<Vec<_>>(), STEP)?,
                    nb,
                )
                .await
                .map_err(e)?;
            drop((xs, ys));
            if c == 0 {
                let grown = below.add(&z.slice(sels * len..z.len())).map_err(e)?;
                below = grown.assume_bits(l);
            }
            let (mut es, mut zs) = (Vec::new(), Vec::new());
            for (sel, cands) in cand.iter().enumerate() {
                let own = z.slice(sel * len..(sel + 1) * len);
                let offset = constant.gather(&vec![sel; len]);
                zs.push(boolean(own.add(&offset).map_err(e)?));
                es.push(cands.slice(rows.clone()));
            }
            let p = b
                .mul(
                    &cat(&es.iter().collect::<Vec<_>>(), STEP)?,
                    &cat(&zs.iter().collect::<Vec<_>>(), STEP)?,
                )
                .await
                .map_err(e)?;
            for (sel, out) in next.iter_mut().enumerate() {
                out.push(boolean(p.slice(sel * len..(sel + 1) * len)));
            }
        }
        for (sel, parts) in next.into_iter().enumerate() {
            cand[sel] = cat(&parts.iter().collect::<Vec<_>>(), STEP)?;
        }
    }
    Ok(Selected {
        value: value.assume_bits(width as u32),
        quotient: quotient.assume_bits(l),
    })
}

/// `x · y` element-wise, in engine calls of at most `chunk` elements each.
async fn rowwise_mul<B: Backend>(
    b: &mut B,
    x: &Secret,
    y: &Secret,
    chunk: usize,
) -> Result<Secret, StatsError> {
    let e = at("percentile (radix 4)");
    let mut parts = Vec::new();
    for lo in (0..x.len()).step_by(chunk.max(1)) {
        let hi = (lo + chunk).min(x.len());
        let p = b.mul(&x.slice(lo..hi), &y.slice(lo..hi)).await.map_err(e)?;
        parts.push(boolean(p));
    }
    cat(&parts.iter().collect::<Vec<_>>(), "percentile (radix 4)")
}
