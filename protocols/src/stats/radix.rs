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
use super::{StatsError, concat, in_step};
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
    let e = in_step(STEP);
    let (sels, items) = (s.column.len(), s.item_den.len());
    let width = bits.len();
    let digits = width.div_ceil(2);
    let quotient_digits = (s.count_bits as usize).div_ceil(2);
    let mut search = Search {
        s,
        n,
        chunk: rows_per_chunk(sels),
        candidates: vec![members.clone(); sels],
        below: b.constant(&vec![0; sels]).map_err(e)?,
    };
    let mut value = b.constant(&vec![0; sels]).map_err(e)?;
    let mut quotient = b.constant(&vec![0; items]).map_err(e)?;

    for k in (0..digits.max(quotient_digits)).rev() {
        // The digit's basis planes: [hi, lo, hl] for two bits, [b] for one.
        let basis: Option<Vec<Secret>> = match k < digits {
            false => None,
            true if 2 * k + 1 < width => {
                let hi = bits.pop().expect("planes left");
                let lo = bits.pop().expect("planes left");
                let hl = rowwise_mul(b, &hi, &lo, search.chunk * sels).await?;
                Some(vec![hi, lo, hl])
            }
            true => Some(vec![bits.pop().expect("planes left")]),
        };
        let mut bounds = Bounds::default();
        let cums = match &basis {
            Some(basis) => search.digit_counts(b, basis, &mut bounds).await?,
            None => Vec::new(),
        };
        let searching = k < quotient_digits;
        if searching {
            quotient_bounds(s, &quotient, k, &mut bounds)?;
        }
        // Step 2: one comparison call for every selection's digit and the quotient's.
        let outcome = b
            .le(&concat(&bounds.left, STEP)?, &concat(&bounds.right, STEP)?)
            .await
            .map_err(e)?;
        let picked = cums.len() * basis.as_ref().map_or(0, Vec::len);
        if searching {
            let digit = outcome
                .slice(picked..outcome.len())
                .sum_chunks(3)
                .map_err(e)?;
            let grown = quotient
                .add(&digit.scale_pow2(2 * k as u32).map_err(e)?)
                .map_err(e)?;
            quotient = grown.assume_bits(s.count_bits);
        }
        let Some(basis) = basis else {
            continue;
        };
        let digit = Digit::of(&outcome.slice(0..picked), &cums, basis.len())?;
        let grown = value
            .add(&digit.found.scale_pow2(2 * k as u32).map_err(e)?)
            .map_err(e)?;
        value = grown.assume_bits(width as u32);
        search.narrow(b, &basis, &digit).await?;
    }
    Ok(Selected {
        value: value.assume_bits(width as u32),
        quotient: quotient.assume_bits(s.count_bits),
    })
}

const STEP: &str = "percentile (radix 4)";

/// The search's state between digits: each selection's candidate flags (one per row) and the
/// count of rows already known to lie below its value.
struct Search<'a> {
    s: &'a Searches,
    /// Rows per selection (every selection searches the same group).
    n: usize,
    /// Rows per chunk of the row-sized work.
    chunk: usize,
    candidates: Vec<Secret>,
    below: Secret,
}

/// The two sides of the digit's comparisons `left <= right`, one pair each.
#[derive(Default)]
struct Bounds {
    left: Vec<Secret>,
    right: Vec<Secret>,
}

impl Search<'_> {
    /// `plane`'s part for selection `sel`'s column, on `rows`.
    fn column_part(&self, plane: &Secret, sel: usize, rows: std::ops::Range<usize>) -> Secret {
        let base = self.s.column[sel] * self.n;
        plane.slice(base + rows.start..base + rows.end)
    }

    /// Step 1: the counts `D` per (selection, basis plane) by chunked dot products, and from
    /// them each selection's `cum_v` (the candidates with a digit below `v + 1`, module doc);
    /// pushes the comparisons `den (below + cum_v) <= right` to `bounds`. Returns the `cum`s,
    /// one vector per selection.
    async fn digit_counts<B: Backend>(
        &self,
        b: &mut B,
        basis: &[Secret],
        bounds: &mut Bounds,
    ) -> Result<Vec<Vec<Secret>>, StatsError> {
        let e = in_step(STEP);
        let (nb, l) = (basis.len(), self.s.count_bits);
        let mut counts: Option<Secret> = None;
        for lo in (0..self.n).step_by(self.chunk) {
            let rows = lo..(lo + self.chunk).min(self.n);
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for (sel, c) in self.candidates.iter().enumerate() {
                let ec = c.slice(rows.clone());
                for plane in basis {
                    xs.push(ec.clone());
                    ys.push(self.column_part(plane, sel, rows.clone()));
                }
            }
            let d = b
                .dot(&concat(&xs, STEP)?, &concat(&ys, STEP)?, rows.len())
                .await
                .map_err(e)?;
            counts = Some(match counts {
                None => d.assume_bits(l),
                Some(acc) => acc.add(&d).map_err(e)?.assume_bits(l),
            });
        }
        let counts = counts.expect("at least one row");
        let mut cums = Vec::new();
        for (sel, c) in self.candidates.iter().enumerate() {
            let all = c.sum().map_err(e)?.assume_bits(l);
            let d = |p: usize| counts.slice(sel * nb + p..sel * nb + p + 1);
            let cum = if nb == 3 {
                let (dhi, dlo, dhl) = (d(0), d(1), d(2));
                let c0 = all.sub(&dhi).and_then(|v| v.sub(&dlo)?.add(&dhl));
                vec![c0, all.sub(&dhi), all.sub(&dhl)]
            } else {
                vec![all.sub(&d(0))]
            };
            let cum: Vec<Secret> = cum
                .into_iter()
                .map(|c| c.map(|c| c.assume_bits(l)))
                .collect::<Result<_, _>>()
                .map_err(e)?;
            let here = self.below.slice(sel..sel + 1);
            for c in &cum {
                let left = here.add(c).and_then(|v| v.scale(self.s.den[sel]));
                bounds.left.push(left.map_err(e)?);
                bounds.right.push(self.s.right.slice(sel..sel + 1));
            }
            cums.push(cum);
        }
        Ok(cums)
    }

    /// Steps 3 and 4: `z_i = [d_i = m]` per row and selection (a dot of width `nb` per row,
    /// with `below`'s update riding in the first chunk), then `e_i <- e_i z_i`.
    async fn narrow<B: Backend>(
        &mut self,
        b: &mut B,
        basis: &[Secret],
        digit: &Digit,
    ) -> Result<(), StatsError> {
        let e = in_step(STEP);
        let (sels, nb) = (self.candidates.len(), basis.len());
        let mut next: Vec<Vec<Secret>> = vec![Vec::new(); sels];
        for (c, lo) in (0..self.n).step_by(self.chunk).enumerate() {
            let rows = lo..(lo + self.chunk).min(self.n);
            let len = rows.len();
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for sel in 0..sels {
                let parts: Vec<Secret> = basis
                    .iter()
                    .map(|p| self.column_part(p, sel, rows.clone()))
                    .collect();
                let planes = concat(&parts, STEP)?;
                let interleaved: Vec<usize> = (0..len)
                    .flat_map(|i| (0..nb).map(move |p| p * len + i))
                    .collect();
                xs.push(planes.gather(&interleaved));
                let per_row: Vec<usize> = (0..len)
                    .flat_map(|_| (0..nb).map(move |p| sel * nb + p))
                    .collect();
                ys.push(digit.coefs.gather(&per_row));
            }
            if c == 0 {
                xs.push(digit.outcome.clone());
                ys.push(digit.steps.clone());
            }
            let z = b
                .dot(&concat(&xs, STEP)?, &concat(&ys, STEP)?, nb)
                .await
                .map_err(e)?;
            drop((xs, ys));
            if c == 0 {
                let grown = self.below.add(&z.slice(sels * len..z.len())).map_err(e)?;
                self.below = grown.assume_bits(self.s.count_bits);
            }
            let (mut es, mut zs) = (Vec::new(), Vec::new());
            for (sel, cands) in self.candidates.iter().enumerate() {
                let own = z.slice(sel * len..(sel + 1) * len);
                let offset = digit.constant.gather(&vec![sel; len]);
                zs.push(boolean(own.add(&offset).map_err(e)?));
                es.push(cands.slice(rows.clone()));
            }
            let p = b
                .mul(&concat(&es, STEP)?, &concat(&zs, STEP)?)
                .await
                .map_err(e)?;
            for (sel, out) in next.iter_mut().enumerate() {
                out.push(boolean(p.slice(sel * len..(sel + 1) * len)));
            }
        }
        for (sel, parts) in next.into_iter().enumerate() {
            self.candidates[sel] = concat(&parts, STEP)?;
        }
        Ok(())
    }
}

/// Pushes the quotient's digit comparisons `[den (Q + v 4^k) <= T]`, `v = 1, 2, 3`, of every
/// percentile item to `bounds`.
fn quotient_bounds(
    s: &Searches,
    quotient: &Secret,
    k: usize,
    bounds: &mut Bounds,
) -> Result<(), StatsError> {
    let e = in_step(STEP);
    for (item, &den) in s.item_den.iter().enumerate() {
        let q = quotient.slice(item..item + 1);
        for v in 1..4i128 {
            let step = v << (2 * k);
            bounds
                .left
                .push(q.add_const(step).and_then(|x| x.scale(den)).map_err(e)?);
            bounds.right.push(s.target.slice(item..item + 1));
        }
    }
    Ok(())
}

/// One digit's result per selection, from the comparisons `s_v` of step 2: the digit `m`
/// (`found`), and the coefficients of `z = μ_0 + Σ_p α_p basis_p` (`constant` = `μ_0`,
/// `coefs` = the `α_p`), with `steps` (the count of candidates of each digit value below `m`,
/// weighted by `outcome` in `below`'s update).
struct Digit {
    found: Secret,
    constant: Secret,
    coefs: Secret,
    steps: Secret,
    /// The selections' comparisons, `nb` a selection.
    outcome: Secret,
}

impl Digit {
    fn of(outcome: &Secret, cums: &[Vec<Secret>], nb: usize) -> Result<Self, StatsError> {
        let e = in_step(STEP);
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
        Ok(Digit {
            found: concat(&found, STEP)?,
            constant: concat(&constant, STEP)?,
            coefs: concat(&coefs, STEP)?,
            steps: concat(&steps, STEP)?,
            outcome: outcome.clone(),
        })
    }
}

/// `x · y` element-wise, in engine calls of at most `chunk` elements each.
async fn rowwise_mul<B: Backend>(
    b: &mut B,
    x: &Secret,
    y: &Secret,
    chunk: usize,
) -> Result<Secret, StatsError> {
    let e = in_step("percentile (radix 4)");
    let mut parts = Vec::new();
    for lo in (0..x.len()).step_by(chunk.max(1)) {
        let hi = (lo + chunk).min(x.len());
        let p = b.mul(&x.slice(lo..hi), &y.slice(lo..hi)).await.map_err(e)?;
        parts.push(boolean(p));
    }
    concat(&parts.iter().collect::<Vec<_>>(), "percentile (radix 4)")
}
