//! Steps 4 to 7 of [`super`]: the quotients, the roots, `CORR` and the wide slopes through
//! the roots, and the intercepts. Each step's calls are independent of one another, so a step
//! costs one call's rounds whatever the number of aggregates.

use super::super::plan::Term;
use super::super::sql::Aggregate;
use super::super::{StatsError, in_step, numeric};
use super::Fixed;
use super::batch::{self, push};
use super::moments::Moments;
use super::needs::{Needs, Q, Sums};
use crate::backend::{Backend, Secret};

/// Values keyed by their pair `(y, x)`.
type ByPair = Vec<((usize, usize), Fixed)>;

/// The fixed-point results the select list reads, each keyed by what it is of.
pub(super) struct Ratios {
    /// Step 4: `AVG`, `VAR`, `COVAR` and the direct slopes.
    quotients: Vec<(Q, Fixed)>,
    /// Step 5: the standard deviations, keyed by their variance.
    stddevs: Vec<(Q, Fixed)>,
    /// Step 6: `CORR(y, x)`.
    correlations: ByPair,
    /// Step 6: the slopes too wide for one quotient.
    wide_slopes: ByPair,
    /// Step 7: `REGR_INTERCEPT(y, x)`.
    intercepts: ByPair,
}

fn lookup<K: PartialEq, V: Clone>(list: &[(K, V)], key: K) -> V {
    list.iter()
        .find(|(k, _)| *k == key)
        .expect("listed")
        .1
        .clone()
}

impl Ratios {
    /// Steps 4 to 7 for what `needs` lists.
    pub(super) async fn compute<B: Backend>(
        b: &mut B,
        sums: &Sums<'_>,
        needs: &Needs,
        moments: &Moments,
    ) -> Result<Ratios, StatsError> {
        let values = select_quotients(b, sums, needs, moments).await?;
        let roots = Roots::compute(b, sums, needs, moments, &values).await?;
        let (correlations, wide_slopes) =
            ratios_through_roots(b, sums, needs, moments, &roots).await?;
        let mut ratios = Ratios {
            quotients: needs.quotients.iter().copied().zip(values).collect(),
            stddevs: roots.stddevs,
            correlations,
            wide_slopes,
            intercepts: Vec::new(),
        };
        ratios.intercepts = intercepts(b, sums, &ratios).await?;
        Ok(ratios)
    }

    /// A listed quotient.
    pub(super) fn quotient(&self, q: Q) -> Fixed {
        lookup(&self.quotients, q)
    }

    /// The standard deviation of a listed variance quotient, reading `/ 2^(16 + s)`.
    pub(super) fn stddev(&self, variance: Q) -> Fixed {
        lookup(&self.stddevs, variance)
    }

    /// `CORR(y, x)`.
    pub(super) fn correlation(&self, y: usize, x: usize) -> Fixed {
        lookup(&self.correlations, (y, x))
    }

    /// `REGR_SLOPE(y, x)`, through the roots or as one quotient.
    pub(super) fn slope(&self, y: usize, x: usize) -> Fixed {
        match self.wide_slopes.iter().find(|(p, _)| *p == (y, x)) {
            Some((_, slope)) => slope.clone(),
            None => self.quotient(Q::Slope { y, x }),
        }
    }

    /// `REGR_INTERCEPT(y, x)`.
    pub(super) fn intercept(&self, y: usize, x: usize) -> Fixed {
        lookup(&self.intercepts, (y, x))
    }
}

/// Step 4, the quotients ([`batch::quotients`]): `AVG = S/n`, `VAR_POP = V⁺/n²`,
/// `VAR_SAMP = V⁺/(n(n-1))`, `COVAR_* = C/n²` or `C/(n(n-1))`, `REGR_SLOPE = C/V_x`, in the
/// order of [`Needs::quotients`].
async fn select_quotients<B: Backend>(
    b: &mut B,
    sums: &Sums<'_>,
    needs: &Needs,
    moments: &Moments,
) -> Result<Vec<Fixed>, StatsError> {
    let bits = |c: usize| sums.bits(c);
    let mut items = Vec::new();
    for q in &needs.quotients {
        items.push(match *q {
            Q::Mean(c) => {
                let s = sums.sum(Term::Col(c));
                let bound = sums.bound(&s, bits(c) + 1);
                (s, sums.count().clone(), bound)
            }
            Q::Var { col, sample } => {
                let v = moments.variance(col);
                let bound = sums.bound(&v, 2 * bits(col) + 2);
                (v, moments.denominator(sample), bound)
            }
            Q::Covar { y, x, sample } => {
                let c = moments.covariance(y, x);
                let bound = sums.bound(&c, bits(x) + bits(y) + 2);
                (c, moments.denominator(sample), bound)
            }
            Q::Slope { y, x } => {
                let c = moments.covariance(y, x);
                let bound = sums.bound(&c, bits(y) + sums.count_bits() + 2);
                (c, moments.divisor(x)?, bound)
            }
        });
    }
    batch::quotients(b, &items, "quotients").await
}

/// Step 5's roots: the standard deviations (of `VAR`, its `F` made even), and
/// `sqrt(V 2^(2h))` of the columns of `CORR` and of the wide slopes' regressors.
struct Roots {
    /// The standard deviations, keyed by their variance quotient, reading `/ 2^(16 + s)`.
    stddevs: Vec<(Q, Fixed)>,
    /// The columns of `of_columns`.
    columns: Vec<usize>,
    /// `sqrt(V 2^(2h)) 2^16` per column.
    of_columns: Vec<Secret>,
    /// `h`: the extra bits of the roots of a small `V`.
    extra_bits: i32,
}

impl Roots {
    /// Step 5, the roots ([`numeric::root`], one call per radicand width).
    async fn compute<B: Backend>(
        b: &mut B,
        sums: &Sums<'_>,
        needs: &Needs,
        moments: &Moments,
        quotients: &[Fixed],
    ) -> Result<Roots, StatsError> {
        let mut radicands = Vec::new();
        let mut scales = Vec::new();
        for &i in &needs.stddevs {
            let (t, f) = quotients[i].clone();
            // sqrt(T 2^odd) = sqrt(2T) 2^((odd-1)/2): keep the exponent even.
            let (t, f) = if f.rem_euclid(2) == 1 {
                (t.scale_pow2(1).map_err(in_step("roots"))?, f + 1)
            } else {
                (t, f)
            };
            radicands.push(t.with_frac(0));
            scales.push(f / 2);
        }
        let mut columns = Vec::new();
        for &(y, x) in &needs.correlations {
            push(&mut columns, x);
            push(&mut columns, y);
        }
        for &(_, x) in &needs.wide_slopes {
            push(&mut columns, x);
        }
        // sqrt(V 2^(2h)) = sqrt(V) 2^h: `h` more bits of the root for a small V.
        let widest_v = columns
            .iter()
            .map(|&c| moments.variance(c).bits() + 1)
            .max()
            .unwrap_or(0);
        let h = (180u32.saturating_sub(widest_v) / 2).min(40);
        for &c in &columns {
            radicands.push(
                moments
                    .divisor(c)?
                    .scale_pow2(2 * h)
                    .map_err(in_step("roots"))?,
            );
        }
        let mut roots = batch::roots(b, &radicands, sums.groups()).await?;
        let of_columns = roots.split_off(needs.stddevs.len());
        let stddevs = needs
            .stddevs
            .iter()
            .zip(roots.into_iter().zip(scales))
            // sqrt(T) 2^16 with T = VAR 2^(2s): the root reads / 2^(16 + s).
            .map(|(&i, (root, s))| (needs.quotients[i], (root, 16 + s)))
            .collect();
        Ok(Roots {
            stddevs,
            columns,
            of_columns,
            extra_bits: h as i32,
        })
    }

    /// `sqrt(V 2^(2h))` of a listed column, read as an integer: a root of an integer carries
    /// 16 fractional bits (the engine's integer scale), so this is `sqrt(V) 2^(16 + h)`.
    fn of_column(&self, col: usize) -> Secret {
        let i = self.columns.iter().position(|&c| c == col).expect("listed");
        self.of_columns[i].clone().with_frac(0)
    }
}

/// Step 6, two rounds of quotients:
/// `CORR = (C / (sqrt(V_x) 2^(16+h))) / (sqrt(V_y) 2^(16+h)) 2^(32+2h)`, `|CORR| <= 1`, and
/// `REGR_SLOPE = (C / (sqrt(V_x) 2^(16+h))) / (sqrt(V_x) 2^(16+h)) 2^(32+2h)`: both divide `C`
/// by a root first, which Cauchy-Schwarz bounds (`|C| <= sqrt(V_x V_y)`), instead of dividing
/// `C` by `V_x` at once, whose worst-case ratio would force the numerator to be cut (a 63-bit
/// slope then lost every significant bit). Returns the correlations and the wide slopes.
async fn ratios_through_roots<B: Backend>(
    b: &mut B,
    sums: &Sums<'_>,
    needs: &Needs,
    moments: &Moments,
    roots: &Roots,
) -> Result<(ByPair, ByPair), StatsError> {
    let mut first_pairs: Vec<(usize, usize)> = Vec::new();
    for &p in needs.correlations.iter().chain(&needs.wide_slopes) {
        push(&mut first_pairs, p);
    }
    if first_pairs.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let h = roots.extra_bits;
    let bits = |c: usize| sums.bits(c);
    let l = sums.count_bits();
    let first: Vec<(Secret, Secret, i32)> = first_pairs
        .iter()
        .map(|&(y, x)| {
            // |C| <= sqrt(V_x V_y) and sqrt(V_y) < 2^(b_y + L): below 2^(b_y + L - 16 - h).
            let c = moments.covariance(y, x);
            let r = sums.bound(&c, bits(y) + l + 2) - 15 - h;
            (c, roots.of_column(x), r)
        })
        .collect();
    let halves = batch::quotients(b, &first, "correlation").await?;
    let half_of = |p: (usize, usize)| {
        halves[first_pairs.iter().position(|q| *q == p).expect("listed")].clone()
    };
    // T1 / (sqrt(V_y) 2^(16+h)) = CORR 2^(F1 - 32 - 2h): below 2^(F1 - 31 - 2h); and
    // T1 / (sqrt(V_x) 2^(16+h)) = SLOPE 2^(F1 - 32 - 2h), |SLOPE| <= sqrt(V_y / V_x) <
    // 2^(b_y + L) (V_x >= 1 as a divisor): below 2^(F1 - 31 - 2h + b_y + L).
    let seconds = needs
        .correlations
        .iter()
        .map(|&p| (p, true))
        .chain(needs.wide_slopes.iter().map(|&p| (p, false)));
    let mut second: Vec<(Secret, Secret, i32)> = Vec::new();
    for ((y, x), is_corr) in seconds.clone() {
        let (t, f) = half_of((y, x));
        let bound = if sums.noisy() {
            t.bits() as i32 - 15 - h
        } else if is_corr {
            f - 31 - 2 * h
        } else {
            f - 31 - 2 * h + bits(y) + l
        };
        let by = if is_corr { y } else { x };
        second.push((t, roots.of_column(by), bound));
    }
    let whole = batch::quotients(b, &second, "correlation").await?;
    let (mut correlations, mut slopes) = (Vec::new(), Vec::new());
    for ((p, is_corr), (t, f2)) in seconds.zip(whole) {
        let value = (t, half_of(p).1 + f2 - 32 - 2 * h);
        if is_corr {
            correlations.push((p, value));
        } else {
            slopes.push((p, value));
        }
    }
    Ok((correlations, slopes))
}

/// Step 7, `REGR_INTERCEPT = AVG(y) - slope AVG(x)` per pair of the select list, the product
/// normalized ([`numeric::product`]: the slope keeps its significant bits however far below
/// its bound it is), then `AVG(y)` truncated to the output's scale where it is finer.
async fn intercepts<B: Backend>(
    b: &mut B,
    sums: &Sums<'_>,
    ratios: &Ratios,
) -> Result<ByPair, StatsError> {
    let mut intercepts: ByPair = Vec::new();
    for item in &sums.query.select {
        let Aggregate::RegrIntercept(y, x) = item.aggregate else {
            continue;
        };
        if intercepts.iter().any(|(k, _)| *k == (y, x)) {
            continue;
        }
        let ((ts, f_s), (tm, f_m)) = (ratios.slope(y, x), ratios.quotient(Q::Mean(x)));
        let (my, f_my) = ratios.quotient(Q::Mean(y));
        // The output's scale: AVG(y)'s, less what keeps it within 2^120.
        let f_prod = f_s + f_m;
        let bound =
            (my.bits() as i32 - f_my).max(ts.bits() as i32 + tm.bits() as i32 + 1 - f_prod) + 1;
        let f_out = f_my.min(120 - bound);
        let d = f_prod - f_out;
        let p = numeric::product(b, &ts, &tm, d.max(0) as u32, "intercept").await?;
        let p = p
            .scale_pow2((-d).max(0) as u32)
            .map_err(in_step("intercept"))?;
        let my = if f_my > f_out {
            b.trunc(&my, (f_my - f_out) as u32)
                .await
                .map_err(in_step("intercept"))?
        } else {
            my
        };
        let v = my.sub(&p).map_err(in_step("intercept"))?;
        intercepts.push(((y, x), (v, f_out)));
    }
    Ok(intercepts)
}
