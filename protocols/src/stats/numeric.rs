//! Square roots and quotients of values wider than the engine's `fx_sqrt` and `fx_div` accept,
//! by a secret power-of-two normalization with public candidates.
//!
//! The engine's root takes a radicand of at most 97 bits, and its division counts the divisor's
//! bound twice against the 200-bit limit and loses working precision as the numerator widens
//! (Catrina, Saxena 2010, Norm + Goldschmidt; Liedel 2012 for roots). A variance of 63-bit
//! values, or the exact `n Σx² - (Σx)²`, is far wider. So a wide `x >= 0` is written `x ≈ m 2^e`
//! with a mantissa `m` of a few dozen bits and a secret exponent `e` from public candidates:
//! - one `lt` call: `f_j = [x < 2^(w-1+e_j)]` for every candidate (monotone in `j`);
//! - the one-hot `o_j = f_j - f_(j-1)` (linear) picks the smallest exponent that fits;
//! - one `mul` call: `o_j x` (a boolean factor keeps `x`'s bound), then
//!   `m = trunc(Σ_j 2^(E-e_j) o_j x, E)`: one truncation call for all candidates (at most one
//!   term is non-zero, so the sum keeps the terms' bound).
//!
//! A root is then `sqrt(m) · 2^(e/2)` (even candidates; `2^(e/2) = Σ_j o_j 2^(e_j/2)` is linear in
//! the one-hot, so rescaling is one product). A quotient ([`quotient`]) normalizes its divisor
//! (with candidates down to negative exponents, exact left shifts, so that every mantissa has
//! 46 significant bits) and the numerator by the same exponent — the ratio does not change —
//! then multiplies by a reciprocal of the mantissa.
//!
//! Rounds: a constant, whatever the number of candidates or of values.

use super::plan::boolean;
use super::{StatsError, concat, in_step};
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

/// Normalizes `x` to `w` bits (`|x / 2^e| <= 2^(w-1)`, and `>= 2^(w-1-STEP)` unless `e = 0`),
/// and each `(y, bits)` of `with` by the same exponent (the caller vouches that `y / 2^e` fits
/// `bits` bits). `x >= 0` unless `signed`: then `f_j = [x < 2^a_j] - [x < -2^a_j]` (both
/// comparisons in the one `lt` call) reads `[|x| <= 2^a_j]`, still monotone in `j`.
async fn normalize<B: Backend>(
    b: &mut B,
    x: &Secret,
    with: &[(Secret, u32)],
    w: u32,
    signed: bool,
    step_name: &'static str,
) -> Result<Normalized, StatsError> {
    let top = (x.bits() + 1).saturating_sub(w).div_ceil(STEP) * STEP;
    let exps: Vec<u32> = (0..=top).step_by(STEP as usize).collect();
    let one_hot = exponent_one_hot(b, x, &exps, w, signed, step_name).await?;
    if exps.len() == 1 {
        let mut scaled = vec![x.clone()];
        scaled.extend(with.iter().map(|(y, _)| y.clone()));
        return Ok(Normalized {
            scaled,
            one_hot,
            exps,
        });
    }
    let mut all: Vec<(Secret, u32)> = vec![(x.clone(), w - 1)];
    all.extend(with.iter().cloned());
    let scaled = rescale(b, &all, &one_hot, &exps, x.frac(), step_name).await?;
    Ok(Normalized {
        scaled,
        one_hot,
        exps,
    })
}

/// The one-hot `o_j = [x's exponent is e_j]` over the candidates `exps` (one `lt` call against
/// the public `±2^(w-1+e_j)`; none for a single candidate, whose `o_0` is 1).
async fn exponent_one_hot<B: Backend>(
    b: &mut B,
    x: &Secret,
    exps: &[u32],
    w: u32,
    signed: bool,
    step_name: &'static str,
) -> Result<Vec<Secret>, StatsError> {
    let (len, k) = (x.len(), exps.len());
    let ones = b.constant(&vec![1; len]).map_err(in_step(step_name))?;
    if k == 1 {
        return Ok(vec![ones]);
    }
    // 2^(w-1+e_j), beyond i128 for wide values: public powers built linearly, read at x's
    // scale (the bounds are on the scaled integers).
    let powers: Vec<Secret> = exps[..k - 1]
        .iter()
        .map(|&e| ones.scale_pow2(w - 1 + e).map(|p| p.with_frac(x.frac())))
        .collect::<Result<_, _>>()
        .map_err(in_step(step_name))?;
    let mut refs: Vec<&Secret> = powers.iter().collect();
    let negated: Vec<Secret> = if signed {
        powers
            .iter()
            .map(Secret::neg)
            .collect::<Result<_, _>>()
            .map_err(in_step(step_name))?
    } else {
        Vec::new()
    };
    refs.extend(negated.iter());
    let bounds = concat(&refs, step_name)?;
    let xs: Vec<&Secret> = (0..refs.len()).map(|_| x).collect();
    let below = b
        .lt(&concat(&xs, step_name)?, &bounds)
        .await
        .map_err(in_step(step_name))?;
    let at_j = |j: usize| below.slice(j * len..(j + 1) * len);
    let fits: Vec<Secret> = (0..k - 1)
        .map(|j| match signed {
            true => at_j(j).sub(&at_j(k - 1 + j)).map(boolean),
            false => Ok(at_j(j)),
        })
        .collect::<Result<_, _>>()
        .map_err(in_step(step_name))?;
    let f = |j: usize| fits[j].clone();
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
        .map_err(in_step(step_name))
}

/// Each `(y, bits)` of `all` divided by `2^e` for the exponent `one_hot` selects among `exps`:
/// one `mul` for every `o_j y`, then one truncation by `2^E` of `Σ_j 2^(E - e_j) o_j y`, or, for
/// a value too wide for that, one truncation per candidate. Read at `frac` fractional bits.
async fn rescale<B: Backend>(
    b: &mut B,
    all: &[(Secret, u32)],
    one_hot: &[Secret],
    exps: &[u32],
    frac: u32,
    step_name: &'static str,
) -> Result<Vec<Secret>, StatsError> {
    let (len, k) = (all[0].0.len(), exps.len());
    let e_max = *exps.last().expect("at least one candidate");
    let (mut hs, mut vs) = (Vec::new(), Vec::new());
    for (y, _) in all {
        for o in one_hot {
            hs.push(o);
            vs.push(y);
        }
    }
    let p = b
        .mul(&concat(&hs, step_name)?, &concat(&vs, step_name)?)
        .await
        .map_err(in_step(step_name))?;
    // The products o_j y are below 2^(bits + e_j) (and y's own bound): `products[i][j]`.
    let products: Vec<Vec<Secret>> = all
        .iter()
        .enumerate()
        .map(|(i, (y, bits))| {
            (0..k)
                .map(|j| {
                    let at_j = (i * k + j) * len;
                    p.slice(at_j..at_j + len)
                        .assume_bits((bits + exps[j]).min(y.bits()))
                })
                .collect()
        })
        .collect();
    let m = if all
        .iter()
        .all(|(_, bits)| bits + e_max < mpc::share::MAX_BITS)
    {
        truncate_once(b, all, &products, exps, step_name).await?
    } else {
        truncate_per_candidate(b, all, &products, exps, frac, step_name).await?
    };
    Ok(all
        .iter()
        .enumerate()
        .map(|(i, (_, bits))| {
            m.slice(i * len..(i + 1) * len)
                .assume_bits(bits + 1)
                .with_frac(frac)
        })
        .collect())
}

/// [`rescale`]'s truncation for values narrow enough: `Σ_j 2^(E - e_j) o_j y` per value
/// (at most one term non-zero), all divided by `2^E` in one truncation.
async fn truncate_once<B: Backend>(
    b: &mut B,
    all: &[(Secret, u32)],
    products: &[Vec<Secret>],
    exps: &[u32],
    step_name: &'static str,
) -> Result<Secret, StatsError> {
    let e_max = *exps.last().expect("at least one candidate");
    let mut zs = Vec::new();
    for ((_, bits), terms) in all.iter().zip(products) {
        let mut z: Option<Secret> = None;
        for (product, &e) in terms.iter().zip(exps) {
            let term = product
                .clone()
                .assume_bits(bits + e)
                .scale_pow2(e_max - e)
                .map_err(in_step(step_name))?;
            // At most one term is non-zero: the sum keeps the terms' bound.
            z = Some(match z {
                None => term,
                Some(z) => z
                    .add(&term)
                    .map_err(in_step(step_name))?
                    .assume_bits(bits + e_max),
            });
        }
        zs.push(z.expect("candidates"));
    }
    let refs: Vec<&Secret> = zs.iter().collect();
    b.trunc(&concat(&refs, step_name)?, e_max)
        .await
        .map_err(in_step(step_name))
}

/// [`rescale`]'s truncation when a co-normalized value is too wide for [`truncate_once`]: one
/// truncation per candidate `e_j` of every `o_j y`, summed per value.
async fn truncate_per_candidate<B: Backend>(
    b: &mut B,
    all: &[(Secret, u32)],
    products: &[Vec<Secret>],
    exps: &[u32],
    frac: u32,
    step_name: &'static str,
) -> Result<Secret, StatsError> {
    let len = all[0].0.len();
    let mut sums: Vec<Option<Secret>> = vec![None; all.len()];
    for (j, &e) in exps.iter().enumerate() {
        let refs: Vec<&Secret> = products.iter().map(|terms| &terms[j]).collect();
        let t = b
            .trunc(&concat(&refs, step_name)?, e)
            .await
            .map_err(in_step(step_name))?;
        for (i, sum) in sums.iter_mut().enumerate() {
            let part = t
                .slice(i * len..(i + 1) * len)
                .assume_bits(all[i].1 + 1)
                .with_frac(frac);
            *sum = Some(match sum.take() {
                None => part,
                Some(s) => s
                    .add(&part)
                    .map_err(in_step(step_name))?
                    .assume_bits(all[i].1 + 1),
            });
        }
    }
    let parts: Vec<Secret> = sums.into_iter().map(|s| s.expect("candidates")).collect();
    let refs: Vec<&Secret> = parts.iter().collect();
    concat(&refs, step_name)
}

/// `sqrt(x)` for `x >= 0` of any bound, with `x`'s fractional bits (16 for an integer `x`):
/// directly when `x` fits [`MAX_ROOT_BITS`], else normalized (module doc).
pub(crate) async fn root<B: Backend>(b: &mut B, x: &Secret) -> Result<Secret, StatsError> {
    const STEP_NAME: &str = "square root";
    if x.bits() < MAX_ROOT_BITS {
        return b.fx_sqrt(x).await.map_err(in_step(STEP_NAME));
    }
    let w = MAX_ROOT_BITS - 3;
    let n = normalize(b, x, &[], w, false, STEP_NAME).await?;
    let s = b.fx_sqrt(&n.scaled[0]).await.map_err(in_step(STEP_NAME))?;
    // 2^(e/2) = Σ_j o_j 2^(e_j/2).
    let mut power: Option<Secret> = None;
    for (o, &e) in n.one_hot.iter().zip(&n.exps) {
        let t = o.scale_pow2(e / 2).map_err(in_step(STEP_NAME))?;
        power = Some(match power {
            None => t,
            Some(p) => p
                .add(&t)
                .map_err(in_step(STEP_NAME))?
                .assume_bits(n.exps.last().copied().unwrap_or(0) / 2 + 1),
        });
    }
    let power = power
        .expect("candidates")
        .assume_bits(n.exps.last().copied().unwrap_or(0) / 2 + 1);
    let out = b.mul(&s, &power).await.map_err(in_step(STEP_NAME))?;
    // x < 2^(bits - f_in) as a real number, so sqrt(x) 2^f_out < 2^((bits - f_in) / 2 + f_out),
    // plus the root's rounding. (f_out is the root's scale: 16 for an integer x.)
    let whole = x.bits().saturating_sub(x.frac());
    Ok(out.assume_bits(whole.div_ceil(2) + s.frac() + 2))
}

/// Most mantissa bits of a normalized factor in [`product`].
const PRODUCT_W: u32 = 96;
/// Fewest: past this, the other factor is cut instead.
const PRODUCT_MIN_W: u32 = 64;

/// `a c / 2^d`, element-wise, for signed integers `a` and `c` (read with 0 fractional bits)
/// whose product may pass the engine's limit, keeping `a`'s significant bits whatever its
/// magnitude (a slope far below its bound). With `u = 2^d` the output's unit:
///
/// `|out - a c / 2^d| <= 2^-(w-1-STEP) |a c| / 2^d + |a| 2^s / 2^d + 2 u`,
///
/// `w = min(96, 198 - bits(c))` and `s = 0` while that is at least 64 (`c` of at most 134
/// bits), else `w = 64`, `s = bits(c) - 131`; both terms vanish (one unit then) when `bits(a) + bits(c) <= 198`: one `mul`, one
/// truncation. Else (Catrina, Saxena 2010, normalization with public candidates, as [`root`]):
/// 1. `a = m 2^e` ([`normalize`], signed): `|m| <= 2^(w-1)`, `|m| >= 2^(w-1-STEP)` unless
///    `e = 0`, so `|m - a / 2^e| < 1` is within `2^-(w-1-STEP)` of `m`; `c' = c / 2^s`;
/// 2. `z = m c'` (one `mul`, below 2^199), then `z1 = z / 2^(d - s - E)` (one truncation, or an
///    exact shift when negative), `E` the largest candidate: one unit of `2^(d-s-E)` in `z`,
///    at most `u` in the result since `e <= E`;
/// 3. `out = Σ_j o_j z1 2^(e_j) / 2^E = z1 2^(e - E)` (one `mul` by the one-hot, one
///    truncation: one more unit).
pub(crate) async fn product<B: Backend>(
    b: &mut B,
    a: &Secret,
    c: &Secret,
    d: u32,
    step_name: &'static str,
) -> Result<Secret, StatsError> {
    let e = in_step(step_name);
    let (a, c) = (a.clone().with_frac(0), c.clone().with_frac(0));
    let limit = mpc::share::MAX_BITS - 2;
    if a.bits() + c.bits() <= limit {
        let p = b.mul(&a, &c).await.map_err(e)?;
        return b.trunc(&p, d).await.map_err(e);
    }
    // z = m c' must leave room for its truncation: w + bits(c') + 1 <= 199.
    let (w, s) = match PRODUCT_W.min(limit.saturating_sub(c.bits())) {
        w if w >= PRODUCT_MIN_W => (w, 0),
        _ => (PRODUCT_MIN_W, c.bits() + PRODUCT_MIN_W + 3 - limit),
    };
    let c = if s > 0 {
        b.trunc(&c, s).await.map_err(e)?
    } else {
        c
    };
    let n = normalize(b, &a, &[], w, true, step_name).await?;
    let top = *n.exps.last().expect("at least one candidate");
    let z = b.mul(&n.scaled[0], &c).await.map_err(e)?;
    let z1 = match (d as i64 - s as i64 - top as i64).cmp(&0) {
        std::cmp::Ordering::Less => z.scale_pow2((s + top - d) as u32).map_err(e)?,
        _ => b.trunc(&z, d - s - top).await.map_err(e)?,
    };
    if n.one_hot.len() == 1 {
        return Ok(z1);
    }
    let zs: Vec<&Secret> = (0..n.one_hot.len()).map(|_| &z1).collect();
    let hot: Vec<&Secret> = n.one_hot.iter().collect();
    let p = b
        .mul(&concat(&hot, step_name)?, &concat(&zs, step_name)?)
        .await
        .map_err(e)?;
    let len = a.len();
    // At most one term is non-zero: the sum keeps the terms' bound.
    let mut sum: Option<Secret> = None;
    for (j, &ej) in n.exps.iter().enumerate() {
        let term = p
            .slice(j * len..(j + 1) * len)
            .assume_bits(z1.bits())
            .scale_pow2(ej)
            .map_err(e)?;
        sum = Some(match sum {
            None => term,
            Some(t) => t.add(&term).map_err(e)?.assume_bits(z1.bits() + top),
        });
    }
    let sum = sum.expect("candidates").assume_bits(z1.bits() + top);
    b.trunc(&sum, top).await.map_err(e)
}

/// Mantissa bits of a normalized divisor in [`quotient`].
const QUOTIENT_W: u32 = 48;
/// Exponent step of that normalization: the mantissa keeps `W - 1 - STEP` bits at least.
const QUOTIENT_STEP: u32 = 2;
/// The reciprocal's scale: `r = 2^G / x'`.
const QUOTIENT_G: u32 = 98;
/// Bits of a quotient's result: `|T| < 2^OUT` (opened as an `i128`).
pub(crate) const QUOTIENT_OUT: u32 = 120;

/// `y / x` element-wise for integers `x >= 1` (sanitized by the caller) and `y` of any bound
/// (both with 0 fractional bits), where every `|y / x| < 2^r` (`r` may be negative). Returns
/// `T` and a public `F` (possibly negative) with `T / 2^F ≈ y / x`, `|T| < 2^96`, and
///
/// `|T / 2^F - y / x| <= 2^-43 |y / x| + 2^(r - 94)`.
///
/// How (normalizing before dividing; the ratio is unchanged by scaling both sides):
/// 1. when `r > 120` (or `y` too wide for step 2), `y` is first truncated by the excess `s`
///    (public; error at most `2^s` on `y`, so `2^(r-120)` on the ratio since `x >= 1`);
/// 2. `x` is normalized by a secret power of two, `x' = x / 2^e` in `[2^45, 2^47)`, with `e`
///    from public candidates `-45, -43, ..., E` (negative: an exact left shift), picked by one
///    `lt` call (`[x < 2^(47 + e_j)]`, monotone) as a one-hot `o_j`; `y' = y / 2^e` alike. One
///    `mul` call (`o_j x`, `o_j y`) and one truncation call (`Σ_j 2^(E - e_j) o_j v`, by `E`);
/// 3. `r' = 2^98 / x'` by the engine's division (`x'` has 48 bits, so `99 + 2·48 + 2 <= 200`;
///    relative error below `2^-86`, plus 2 units `<= 2^-49` of `r' >= 2^51`);
/// 4. `T = y' r' / 2^(98 - F')`, `F' = min(120 - r, 98)`: one `mul` (`y'` first truncated
///    by what passes the product's limit, far below `T`'s last unit), one truncation.
///
/// Errors: `x'` loses at most one unit of `2^45` (relative `2^-45`), `r'` and the two
/// truncations of `y'` and `T` add at most `2^-48` relative and one unit of `T` each.
pub(crate) async fn quotient<B: Backend>(
    b: &mut B,
    y: &Secret,
    x: &Secret,
    r: i32,
    step_name: &'static str,
) -> Result<(Secret, i32), StatsError> {
    let e = in_step(step_name);
    let (w, step, g, out) = (QUOTIENT_W, QUOTIENT_STEP, QUOTIENT_G, QUOTIENT_OUT as i32);
    let len = x.len();
    let (x, y) = (x.clone().with_frac(0), y.clone().with_frac(0));
    // Candidates: x' = x / 2^e_j < 2^(w-1) for the smallest j, from e = -(w-1-step) (x = 1).
    let low = -((w - 1 - step) as i32);
    let need = (x.bits() as i32 + 1 - (w as i32 - 1)).max(0);
    let top = low + ((need - low).max(0) as u32).div_ceil(step) as i32 * step as i32;
    let exps: Vec<i32> = (low..=top).step_by(step as usize).collect();
    let k = exps.len();
    // A ratio far below 2^out is scaled up first (exactly): y' keeps its significant bits.
    let up = (out - r)
        .min(199 - w as i32 - top - r)
        .min(199 - y.bits() as i32)
        .max(0);
    let (y, r) = (y.scale_pow2(up as u32).map_err(e)?, r + up);
    // The scaled y must fit: bits(y') + E <= 199 with bits(y') = r' + w - 1.
    let shift = (r - out).max(r + w as i32 + top - 199).max(0) as u32;
    let y = if shift > 0 {
        b.trunc(&y, shift).await.map_err(e)?
    } else {
        y
    };
    let r1 = r - shift as i32;
    // One-hot over candidates: f_j = [x < 2^(w-1+e_j)].
    let ones = b.constant(&vec![1; len]).map_err(e)?;
    let fits = if k > 1 {
        let bounds: Vec<Secret> = exps[..k - 1]
            .iter()
            .map(|&ej| ones.scale_pow2((w as i32 - 1 + ej) as u32))
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let xs: Vec<&Secret> = (0..k - 1).map(|_| &x).collect();
        let refs: Vec<&Secret> = bounds.iter().collect();
        b.lt(&concat(&xs, step_name)?, &concat(&refs, step_name)?)
            .await
            .map_err(e)?
    } else {
        Secret::from_bit_shares(Vec::new())
    };
    let f = |j: usize| fits.slice(j * len..(j + 1) * len);
    let one_hot: Vec<Secret> = (0..k)
        .map(|j| {
            let hot = match j {
                _ if k == 1 => Ok(ones.clone()),
                0 => Ok(f(0)),
                j if j == k - 1 => f(j - 1).not(),
                j => f(j).sub(&f(j - 1)),
            };
            hot.map(boolean)
        })
        .collect::<Result<_, _>>()
        .map_err(e)?;
    let (mut hs, mut vs) = (Vec::new(), Vec::new());
    for v in [&x, &y] {
        for o in &one_hot {
            hs.push(o);
            vs.push(v);
        }
    }
    let p = b
        .mul(&concat(&hs, step_name)?, &concat(&vs, step_name)?)
        .await
        .map_err(e)?;
    // o_j v: where o_j = 1, x < 2^(w-1+e_j) and |y| < 2^r1 x; Σ_j 2^(E - e_j) o_j v, one term
    // non-zero, then one truncation by E for both.
    let mut zs = Vec::new();
    for (i, base) in [w as i32 - 1, r1 + w as i32 - 1].into_iter().enumerate() {
        let mut z: Option<Secret> = None;
        for (j, &ej) in exps.iter().enumerate() {
            let at_j = (i * k + j) * len;
            let term = p
                .slice(at_j..at_j + len)
                .assume_bits((base + ej).max(1) as u32)
                .scale_pow2((top - ej) as u32)
                .map_err(e)?;
            // At most one term is non-zero: the sum keeps the terms' bound.
            z = Some(match z {
                None => term,
                Some(z) => z
                    .add(&term)
                    .map_err(e)?
                    .assume_bits((base + top).max(1) as u32),
            });
        }
        zs.push(z.expect("candidates"));
    }
    let refs: Vec<&Secret> = zs.iter().collect();
    let both = b
        .trunc(&concat(&refs, step_name)?, top as u32)
        .await
        .map_err(e)?;
    let xn = both.slice(0..len).assume_bits(w);
    let yn = both
        .slice(len..2 * len)
        .assume_bits((r1 + w as i32).max(1) as u32);
    // r' = 2^g / x' (a public numerator with a nominal scale, so the result is the plain
    // integer quotient): x' >= 2^(w-1-step), so r' < 2^(g-w+2+step).
    let numerator = b
        .constant(&vec![1; len])
        .and_then(|c| c.scale_pow2(g))
        .map_err(e)?
        .with_frac(1);
    let recip = b
        .fx_div(&numerator, &xn)
        .await
        .map_err(e)?
        .with_frac(0)
        .assume_bits(g - w + 2 + step);
    // y' r' must fit: drop the low `cut` bits of y' first when it is wide (its error, at most
    // 2^cut / x' <= 2^(cut-45) in the ratio's units, stays below T's last unit).
    let cut = (yn.bits() + recip.bits() + 1).saturating_sub(199);
    let yn = if cut > 0 {
        b.trunc(&yn, cut).await.map_err(e)?
    } else {
        yn
    };
    let prod = b.mul(&yn, &recip).await.map_err(e)?;
    // y' r' 2^cut = y 2^g / x: below 2^(r1 + g).
    let f_out = (out - r1).min(g as i32);
    let prod = prod.assume_bits((r1 + g as i32 + 1 - cut as i32).max(1) as u32);
    let t = b
        .trunc(&prod, (g as i32 - f_out - cut as i32) as u32)
        .await
        .map_err(e)?
        .assume_bits((r1 + f_out + 1).max(1) as u32);
    Ok((t, f_out + up - shift as i32))
}
