//! Square roots and quotients of values wider than the engine's `fx_sqrt` and `fx_div` accept,
//! by a secret power-of-two normalization with public candidates.
//!
//! The engine's root takes a radicand of at most 97 bits, and its division counts the divisor's
//! bound twice against the 200-bit limit (Catrina, Saxena 2010, Norm + Goldschmidt; Liedel 2012
//! for roots). A variance of 63-bit values, or the exact `n Σx² - (Σx)²`, is far wider. So a
//! wide `x >= 0` is written `x ≈ m 2^e` with a mantissa `m < 2^(w-1)` and a secret exponent `e`
//! taken from public candidates `0, s, 2s, ..., E`:
//! - one `lt` call: `f_j = [x < 2^(w-1+e_j)]` for every candidate (monotone in `j`);
//! - the one-hot `o_j = f_j - f_(j-1)` (linear) picks the smallest exponent that fits;
//! - one `mul` call: `o_j x` (a boolean factor keeps `x`'s bound, and `o_j x < 2^(w-1+e_j)`),
//!   then `m = trunc(Σ_j 2^(E-e_j) o_j x, E)`: one truncation call for all candidates.
//!
//! The mantissa keeps at least `w - 1 - s` significant bits, so the relative error of the
//! normalization is below `2^-(w-1-s)`. A root is then `sqrt(m) · 2^(e/2)` (even candidates;
//! `2^(e/2) = Σ_j o_j 2^(e_j/2)` is linear in the one-hot, so rescaling is one product). A
//! quotient `y / x` whose result is known to be below `2^R` normalizes `y` with `x`'s exponent
//! (co-normalization: the ratio does not change) and divides the two mantissas.
//!
//! Rounds: a constant, whatever the number of candidates or of values: `lt`, `mul`, `trunc`,
//! then the engine's root or division, and one `mul` for roots.

use super::plan::boolean;
use super::{StatsError, at, cat};
use crate::backend::{Backend, MAX_ROOT_BITS, Secret};

/// Exponent step between candidates (even, for roots).
const STEP: u32 = 8;

/// A normalized batch: mantissas, the one-hot over candidates, and the candidates.
struct Normalized {
    /// `m = x / 2^e` and the co-normalized batches, in the order given.
    scaled: Vec<Secret>,
    /// `o_j`, one batch per candidate.
    one_hot: Vec<Secret>,
    /// The candidates `e_j`.
    exps: Vec<u32>,
}

/// Normalizes `x >= 0` to `w` bits, and each `(y, bits)` of `with` by the same exponent (the
/// caller vouches that `y / 2^e` fits `bits` bits).
async fn normalize<B: Backend>(
    b: &mut B,
    x: &Secret,
    with: &[(Secret, u32)],
    w: u32,
    step_name: &'static str,
) -> Result<Normalized, StatsError> {
    let len = x.len();
    let top = (x.bits() + 1).saturating_sub(w).div_ceil(STEP) * STEP;
    let exps: Vec<u32> = (0..=top).step_by(STEP as usize).collect();
    let k = exps.len();
    let ones = b.constant(&vec![1; len]).map_err(at(step_name))?;
    let one_hot: Vec<Secret> = if k == 1 {
        vec![ones]
    } else {
        let xs: Vec<&Secret> = (0..k - 1).map(|_| x).collect();
        // 2^(w-1+e_j), beyond i128 for wide values: public powers built linearly, read at x's
        // scale (the bounds are on the scaled integers).
        let powers: Vec<Secret> = exps[..k - 1]
            .iter()
            .map(|&e| ones.scale_pow2(w - 1 + e).map(|p| p.with_frac(x.frac())))
            .collect::<Result<_, _>>()
            .map_err(at(step_name))?;
        let refs: Vec<&Secret> = powers.iter().collect();
        let bounds = cat(&refs, step_name)?;
        let fits = b
            .lt(&cat(&xs, step_name)?, &bounds)
            .await
            .map_err(at(step_name))?;
        let f = |j: usize| fits.slice(j * len..(j + 1) * len);
        (0..k)
            .map(|j| {
                let hot = match j {
                    0 => Ok(f(0)),
                    j if j == k - 1 => f(j - 1).not(),
                    j => f(j).sub(&f(j - 1)),
                };
                hot.map(boolean)
            })
            .collect::<Result<_, _>>()
            .map_err(at(step_name))?
    };
    if k == 1 {
        let mut scaled = vec![x.clone()];
        scaled.extend(with.iter().map(|(y, _)| y.clone()));
        return Ok(Normalized {
            scaled,
            one_hot,
            exps,
        });
    }
    let e_max = *exps.last().expect("at least one candidate");
    let mut all: Vec<(Secret, u32)> = vec![(x.clone(), w - 1)];
    all.extend(with.iter().cloned());
    let (mut hs, mut vs) = (Vec::new(), Vec::new());
    for (y, _) in &all {
        for o in &one_hot {
            hs.push(o);
            vs.push(y);
        }
    }
    let p = b
        .mul(&cat(&hs, step_name)?, &cat(&vs, step_name)?)
        .await
        .map_err(at(step_name))?;
    // The products o_j y are below 2^(bits + e_j) (and y's own bound).
    let product = |i: usize, j: usize| {
        let at_j = (i * k + j) * len;
        p.slice(at_j..at_j + len)
            .assume_bits((all[i].1 + exps[j]).min(all[i].0.bits()))
    };
    let m = if all
        .iter()
        .all(|(_, bits)| bits + e_max < mpc::share::MAX_BITS)
    {
        // One truncation for all candidates: Σ_j 2^(E - e_j) o_j y, divided by 2^E.
        let mut zs = Vec::new();
        for (i, (_, bits)) in all.iter().enumerate() {
            let mut z: Option<Secret> = None;
            for (j, &e) in exps.iter().enumerate() {
                let term = product(i, j)
                    .assume_bits(bits + e)
                    .scale_pow2(e_max - e)
                    .map_err(at(step_name))?;
                z = Some(match z {
                    None => term,
                    Some(z) => z.add(&term).map_err(at(step_name))?,
                });
            }
            zs.push(z.expect("candidates").assume_bits(bits + e_max));
        }
        let refs: Vec<&Secret> = zs.iter().collect();
        b.trunc(&cat(&refs, step_name)?, e_max)
            .await
            .map_err(at(step_name))?
    } else {
        // A co-normalized value too wide for that: one truncation per candidate.
        let mut sums: Vec<Option<Secret>> = vec![None; all.len()];
        for (j, &e) in exps.iter().enumerate() {
            let parts: Vec<Secret> = (0..all.len()).map(|i| product(i, j)).collect();
            let refs: Vec<&Secret> = parts.iter().collect();
            let t = b
                .trunc(&cat(&refs, step_name)?, e)
                .await
                .map_err(at(step_name))?;
            for (i, sum) in sums.iter_mut().enumerate() {
                let part = t
                    .slice(i * len..(i + 1) * len)
                    .assume_bits(all[i].1 + 1)
                    .with_frac(x.frac());
                *sum = Some(match sum.take() {
                    None => part,
                    Some(s) => s.add(&part).map_err(at(step_name))?,
                });
            }
        }
        let parts: Vec<Secret> = sums.into_iter().map(|s| s.expect("candidates")).collect();
        let refs: Vec<&Secret> = parts.iter().collect();
        cat(&refs, step_name)?
    };
    let frac = x.frac();
    let scaled = all
        .iter()
        .enumerate()
        .map(|(i, (_, bits))| {
            m.slice(i * len..(i + 1) * len)
                .assume_bits(bits + 1)
                .with_frac(frac)
        })
        .collect();
    Ok(Normalized {
        scaled,
        one_hot,
        exps,
    })
}

/// `sqrt(x)` for `x >= 0` of any bound, with `x`'s fractional bits (16 for an integer `x`):
/// directly when `x` fits [`MAX_ROOT_BITS`], else normalized (module doc).
pub(crate) async fn root<B: Backend>(b: &mut B, x: &Secret) -> Result<Secret, StatsError> {
    const STEP_NAME: &str = "square root";
    if x.bits() < MAX_ROOT_BITS {
        return b.fx_sqrt(x).await.map_err(at(STEP_NAME));
    }
    let w = MAX_ROOT_BITS - 3;
    let n = normalize(b, x, &[], w, STEP_NAME).await?;
    let s = b.fx_sqrt(&n.scaled[0]).await.map_err(at(STEP_NAME))?;
    // 2^(e/2) = Σ_j o_j 2^(e_j/2).
    let mut power: Option<Secret> = None;
    for (o, &e) in n.one_hot.iter().zip(&n.exps) {
        let t = o.scale_pow2(e / 2).map_err(at(STEP_NAME))?;
        power = Some(match power {
            None => t,
            Some(p) => p.add(&t).map_err(at(STEP_NAME))?,
        });
    }
    let power = power
        .expect("candidates")
        .assume_bits(n.exps.last().copied().unwrap_or(0) / 2 + 1);
    let out = b.mul(&s, &power).await.map_err(at(STEP_NAME))?;
    // sqrt(x / 2^f) 2^f < 2^((bits + f) / 2), plus the root's rounding.
    Ok(out.assume_bits((x.bits() + s.frac()).div_ceil(2) + 2))
}

/// `y / x` element-wise for `x > 0` (sanitized by the caller) of any bound, where every
/// `|y / x| < 2^result_bits`; both with the same fractional bits `f`, the quotient too.
pub(crate) async fn ratio<B: Backend>(
    b: &mut B,
    y: &Secret,
    x: &Secret,
    result_bits: u32,
) -> Result<Secret, StatsError> {
    const STEP_NAME: &str = "ratio";
    let f = x.frac();
    // The division's rules (backend::division_bits): bits(y) + 2 bits(x) + 2 <= 200 and
    // bits(y) + f + 1 leaving 32 bits of working precision.
    let direct = y.bits() + 2 * x.bits() + 2 <= 200 && y.bits() + f + 1 + 8 + 32 <= 200;
    if direct {
        return b.fx_div(y, x).await.map_err(at(STEP_NAME));
    }
    // After normalization: y' < 2^(R + w) (+1 for rounding), x' < 2^w; the same rules.
    let w = ((197 - result_bits.min(150)) / 3)
        .min(166u32.saturating_sub(result_bits + f))
        .clamp(24, 60);
    let n = normalize(b, x, &[(y.clone(), result_bits + w)], w, STEP_NAME).await?;
    b.fx_div(&n.scaled[1], &n.scaled[0])
        .await
        .map_err(at(STEP_NAME))
}
