//! Aggregates from the per-group sums of the scan: count, sum, mean, variance, standard
//! deviation, covariance, correlation, regression and histogram, for the reported groups only,
//! in a number of rounds that depends on the query's shape, never on its rows.
//!
//! All sums are exact integers (`n`, `Σx`, `Σx²`, `Σxy` on the columns' scaled integers). From
//! them, with `F` fractional bits ([`super::plan::Plan::frac`]: as many as the bounds allow,
//! 16 to 40), the steps are:
//! 1. exact products (one `mul`): `C = nΣxy - ΣxΣy`, `V_x = nΣx² - (Σx)²` for `CORR`/`REGR_*`;
//! 2. flags (one `lt`): `[n >= 2]` for sample statistics, `[V_x > 0]` (SQL gives `NULL` when a
//!    variance is zero);
//! 3. one `fx_div` call for every quotient by `n` or `n - 1`: means `μ = Σx/n`, `E[x²] = Σx²/n`,
//!    `Σx/(n-1)`, `Σx²/(n-1)`, `Σxy/n`, `Σxy/(n-1)`;
//! 4. one `fx_mul` call: `VAR_POP = E[x²] - μ²`, `VAR_SAMP = Σx²/(n-1) - μ Σx/(n-1)`, and the
//!    covariances alike (one division, never the sequential `Σ(x-μ)²`);
//! 5. roots ([`super::numeric::root`]): standard deviations, and `sqrt(V_x)`, `sqrt(V_y)`;
//! 6. `CORR = C / (sqrt(V_x) sqrt(V_y))` and `REGR_SLOPE = C / V_x`, co-normalized quotients of
//!    exact integers ([`super::numeric::ratio`]); `REGR_INTERCEPT = μ_y - slope μ_x`;
//! 7. one `mul` by the `NULL` flags, so that an undefined value opens as 0 beside its flag.
//!
//! Precision: a quotient is within `2^-(p-3)` relative plus 2 units of `2^-F` (the engine's
//! division), `p >= 24` and about 60 bits for columns of 20 bits. `VAR = E[x²] - μ²` adds the
//! usual cancellation: an absolute error of about `2^-(p-3) (E[x²] + 2μ²) + 2^-(F-2) (1 + 2|μ|)`.
//! Steps 5 and 6 add `2^-(w-9)` relative for the normalized mantissas (`w` = 60 or 94).

use super::output::{Decode, Output, Stats, mask_undefined};
use super::plan::{Plan, Term};
use super::sql::{Aggregate, Query};
use super::{StatsError, at, cat, numeric};
use crate::backend::{Backend, Secret};

/// The quotients of step 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Q {
    Mean(usize),
    Mean2(usize),
    SampleMean(usize),
    SampleMean2(usize),
    Cross(usize, usize),
    SampleCross(usize, usize),
}

/// A bound on `x`, in bits, for a batch whose values the data's range bounds — unless noise was
/// added, when the propagated bound is kept.
fn tight(x: Secret, bits: u32, noisy: bool) -> Secret {
    if noisy || bits >= x.bits() {
        x
    } else {
        x.assume_bits(bits)
    }
}

fn split(x: &Secret, len: usize, parts: usize) -> Vec<Secret> {
    (0..parts)
        .map(|i| x.slice(i * len..(i + 1) * len))
        .collect()
}

/// Computes the moment-based and count-based outputs of `query`; order statistics come in
/// `order` (one batch per select item that is one, in select order).
pub(crate) async fn evaluate<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    stats: &Stats,
    mut order: Vec<Option<Secret>>,
) -> Result<Vec<Output>, StatsError> {
    let schema = &query.schema;
    let bits = |c: usize| schema.columns[c].ty.bits();
    let fr = |c: usize| schema.columns[c].ty.frac() as i32;
    let r = stats.counts.len();
    let f = plan.frac;
    let l = plan.count_bits;
    let noisy = stats.noisy;
    let sum = |t: Term| stats.sums[plan.term(&t)].clone();
    let n = &stats.counts;

    // Which quotients, exact products and flags the select list needs.
    let mut quotients: Vec<Q> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new(); // (y, x) of CORR/REGR
    let mut need_sample = false;
    let add = |v: &mut Vec<Q>, q: Q| {
        if !v.contains(&q) {
            v.push(q)
        }
    };
    for item in &query.select {
        match item.aggregate {
            Aggregate::Avg(c) => add(&mut quotients, Q::Mean(c)),
            Aggregate::Var { col, sample } | Aggregate::Stddev { col, sample } => {
                add(&mut quotients, Q::Mean(col));
                if sample {
                    need_sample = true;
                    add(&mut quotients, Q::SampleMean(col));
                    add(&mut quotients, Q::SampleMean2(col));
                } else {
                    add(&mut quotients, Q::Mean2(col));
                }
            }
            Aggregate::Covar {
                cols: (y, x),
                sample,
            } => {
                add(&mut quotients, Q::Mean(x));
                if sample {
                    need_sample = true;
                    add(&mut quotients, Q::SampleMean(y));
                    add(&mut quotients, Q::SampleCross(y, x));
                } else {
                    add(&mut quotients, Q::Mean(y));
                    add(&mut quotients, Q::Cross(y, x));
                }
            }
            Aggregate::Corr(y, x) | Aggregate::RegrSlope(y, x) | Aggregate::RegrIntercept(y, x) => {
                if !pairs.contains(&(y, x)) {
                    pairs.push((y, x));
                }
                if matches!(item.aggregate, Aggregate::RegrIntercept(..)) {
                    add(&mut quotients, Q::Mean(x));
                    add(&mut quotients, Q::Mean(y));
                }
            }
            _ => {}
        }
    }

    // 1. Exact products: per pair, C, V_x, V_y.
    let mut exact: Vec<[Secret; 3]> = Vec::new();
    if !pairs.is_empty() {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for &(y, x) in &pairs {
            let (sx, sy) = (sum(Term::Col(x)), sum(Term::Col(y)));
            let sxy = sum(Term::Cross(y.min(x), y.max(x)));
            let sxx = sum(Term::Square(x));
            let syy = if plan.terms.contains(&Term::Square(y)) {
                sum(Term::Square(y))
            } else {
                sum(Term::Square(x))
            };
            for (a, c) in [
                (n.clone(), sxy),
                (sx.clone(), sy.clone()),
                (n.clone(), sxx),
                (sx.clone(), sx),
                (n.clone(), syy),
                (sy.clone(), sy),
            ] {
                xs.push(a);
                ys.push(c);
            }
        }
        let p = products(b, &xs, &ys, "exact moments").await?;
        for (i, &(y, x)) in pairs.iter().enumerate() {
            let d = |k: usize| {
                p[6 * i + 2 * k]
                    .sub(&p[6 * i + 2 * k + 1])
                    .map_err(at("exact moments"))
            };
            let lb = 2 * l + 1;
            exact.push([
                tight(d(0)?, bits(x) + bits(y) + lb, noisy),
                tight(d(1)?, 2 * bits(x) + lb, noisy),
                tight(d(2)?, 2 * bits(y) + lb, noisy),
            ]);
        }
    }

    // 2. Flags: [n >= 2], and per pair [V_x > 0], [V_y > 0], in one lt call.
    let (mut fl, mut fr_) = (Vec::new(), Vec::new());
    if need_sample {
        fl.push(b.constant(&vec![1; r]).map_err(at("flags"))?);
        fr_.push(n.clone());
    }
    for e in &exact {
        for v in &e[1..] {
            fl.push(b.constant(&vec![0; r]).map_err(at("flags"))?);
            fr_.push(v.clone());
        }
    }
    let flags = if fl.is_empty() {
        Vec::new()
    } else {
        let lr: Vec<&Secret> = fl.iter().collect();
        let rr: Vec<&Secret> = fr_.iter().collect();
        let out = b
            .lt(&cat(&lr, "flags")?, &cat(&rr, "flags")?)
            .await
            .map_err(at("flags"))?;
        split(&out, r, fl.len())
    };
    let at_least_two = need_sample.then(|| flags[0].clone());
    let pair_flags = |i: usize| {
        let o = need_sample as usize + 2 * i;
        (flags[o].clone(), flags[o + 1].clone())
    };

    // 3. One division batch.
    let mut q_values: Vec<Secret> = Vec::new();
    if !quotients.is_empty() {
        let n_minus_1 = match &at_least_two {
            // n - 1, or 1 where n < 2 (the value is then NULL anyway).
            Some(two) => n
                .add_const(-1)
                .and_then(|m| m.add(&two.not()?))
                .map_err(at("quotients"))?,
            None => n.clone(),
        };
        let (mut nums, mut dens) = (Vec::new(), Vec::new());
        for q in &quotients {
            let (t, sample) = match *q {
                Q::Mean(c) => (Term::Col(c), false),
                Q::Mean2(c) => (Term::Square(c), false),
                Q::SampleMean(c) => (Term::Col(c), true),
                Q::SampleMean2(c) => (Term::Square(c), true),
                Q::Cross(y, x) => (Term::Cross(y.min(x), y.max(x)), false),
                Q::SampleCross(y, x) => (Term::Cross(y.min(x), y.max(x)), true),
            };
            nums.push(sum(t).upscale(f).map_err(at("quotients"))?);
            dens.push(if sample { n_minus_1.clone() } else { n.clone() });
        }
        let nr: Vec<&Secret> = nums.iter().collect();
        let dr: Vec<&Secret> = dens.iter().collect();
        let out = b
            .fx_div(&cat(&nr, "quotients")?, &cat(&dr, "quotients")?)
            .await
            .map_err(at("quotients"))?;
        for (i, q) in split(&out, r, quotients.len()).into_iter().enumerate() {
            let bound = match quotients[i] {
                Q::Mean(c) => bits(c) + f + 1,
                Q::SampleMean(c) => bits(c) + f + 2,
                Q::Mean2(c) => 2 * bits(c) + f + 1,
                Q::SampleMean2(c) => 2 * bits(c) + f + 2,
                Q::Cross(y, x) => bits(x) + bits(y) + f + 1,
                Q::SampleCross(y, x) => bits(x) + bits(y) + f + 2,
            };
            q_values.push(tight(q, bound, noisy));
        }
    }
    let qv = |q: Q| q_values[quotients.iter().position(|x| *x == q).expect("listed")].clone();

    // 4. Second moments: one fx_mul call.
    let mut second: Vec<(Aggregate, Secret)> = Vec::new();
    let (mut xs, mut ys, mut minus, mut keys) = (vec![], vec![], vec![], vec![]);
    for item in &query.select {
        let key = match item.aggregate {
            Aggregate::Var { col, sample } | Aggregate::Stddev { col, sample } => {
                Aggregate::Var { col, sample }
            }
            Aggregate::Covar { .. } => item.aggregate.clone(),
            _ => continue,
        };
        if keys.contains(&key) {
            continue;
        }
        let (x, y, m, bound) = match key {
            Aggregate::Var { col, sample: false } => (
                qv(Q::Mean(col)),
                qv(Q::Mean(col)),
                qv(Q::Mean2(col)),
                2 * bits(col) + f + 1,
            ),
            Aggregate::Var { col, sample: true } => (
                qv(Q::Mean(col)),
                qv(Q::SampleMean(col)),
                qv(Q::SampleMean2(col)),
                2 * bits(col) + f + 2,
            ),
            Aggregate::Covar {
                cols: (y, x),
                sample: false,
            } => (
                qv(Q::Mean(x)),
                qv(Q::Mean(y)),
                qv(Q::Cross(y, x)),
                bits(x) + bits(y) + f + 1,
            ),
            Aggregate::Covar { cols: (y, x), .. } => (
                qv(Q::Mean(x)),
                qv(Q::SampleMean(y)),
                qv(Q::SampleCross(y, x)),
                bits(x) + bits(y) + f + 2,
            ),
            _ => unreachable!("only moments are listed"),
        };
        xs.push(x);
        ys.push(y);
        minus.push((m, bound));
        keys.push(key);
    }
    if !keys.is_empty() {
        let xr: Vec<&Secret> = xs.iter().collect();
        let yr: Vec<&Secret> = ys.iter().collect();
        let p = b
            .fx_mul(&cat(&xr, "second moments")?, &cat(&yr, "second moments")?)
            .await
            .map_err(at("second moments"))?;
        for (i, prod) in split(&p, r, keys.len()).into_iter().enumerate() {
            let (m, bound) = &minus[i];
            let v = m.sub(&prod).map_err(at("second moments"))?;
            second.push((keys[i].clone(), tight(v, *bound, noisy)));
        }
    }
    let moment = |k: &Aggregate| {
        second
            .iter()
            .find(|(a, _)| a == k)
            .expect("computed")
            .1
            .clone()
    };

    // 5. Roots: standard deviations and sqrt(V) of the pairs, in one call.
    let mut radicands: Vec<(Aggregate, Secret)> = Vec::new();
    for item in &query.select {
        if let Aggregate::Stddev { col, sample } = item.aggregate {
            let key = Aggregate::Var { col, sample };
            if !radicands.iter().any(|(k, _)| *k == key) {
                radicands.push((key.clone(), moment(&key)));
            }
        }
    }
    let stddevs = radicands.len();
    let mut sanitized_v = Vec::new();
    for (i, e) in exact.iter().enumerate() {
        let (fx, fy) = pair_flags(i);
        // V + [V = 0]: never zero; C is 0 whenever a V is (|C| <= sqrt(V_x V_y)).
        let vx = e[1]
            .add(&fx.not().map_err(at("roots"))?)
            .map_err(at("roots"))?;
        let vy = e[2]
            .add(&fy.not().map_err(at("roots"))?)
            .map_err(at("roots"))?;
        let (bx, by) = (e[1].bits(), e[2].bits());
        let (vx, vy) = (tight(vx, bx, noisy), tight(vy, by, noisy));
        radicands.push((Aggregate::Count, vx.upscale(f).map_err(at("roots"))?));
        radicands.push((Aggregate::Count, vy.upscale(f).map_err(at("roots"))?));
        sanitized_v.push(vx);
    }
    let roots: Vec<Secret> = if radicands.is_empty() {
        Vec::new()
    } else {
        let rr: Vec<&Secret> = radicands.iter().map(|x| &x.1).collect();
        let all = numeric::root(b, &cat(&rr, "roots")?).await?;
        split(&all, r, radicands.len())
    };

    // 6. Correlations and slopes: co-normalized quotients of the exact moments.
    let mut ratios = Vec::new();
    if !pairs.is_empty() {
        let (mut sx, mut sy) = (Vec::new(), Vec::new());
        for i in 0..pairs.len() {
            sx.push(&roots[stddevs + 2 * i]);
            sy.push(&roots[stddevs + 2 * i + 1]);
        }
        // The product of two roots of wide moments may pass the limit by a few bits: drop `h`
        // fractional bits of each root first (one truncation call; relative cost 2^-(F-h)).
        let (mut sx, mut sy) = (cat(&sx, "correlation")?, cat(&sy, "correlation")?);
        let h = (sx.bits() + sy.bits() + 3)
            .saturating_sub(mpc::share::MAX_BITS)
            .div_ceil(2);
        if h > 0 {
            let both = b
                .trunc(&cat(&[&sx, &sy], "correlation")?, h)
                .await
                .map_err(at("correlation"))?;
            let half = sx.len();
            (sx, sy) = (both.slice(0..half), both.slice(half..2 * half));
        }
        let g = f - h;
        let den_corr = b.fx_mul(&sx, &sy).await.map_err(at("correlation"))?;
        let (mut nums, mut dens) = (Vec::new(), Vec::new());
        let mut result_bits = 2;
        let mut slope_bits = Vec::new();
        for (i, e) in exact.iter().enumerate() {
            let c = e[0].upscale(g).map_err(at("correlation"))?;
            nums.push(c.clone());
            dens.push(den_corr.slice(i * r..(i + 1) * r));
            nums.push(c);
            dens.push(sanitized_v[i].upscale(g).map_err(at("correlation"))?);
            let (y, _) = pairs[i];
            slope_bits.push(bits(y) + (l + 1).div_ceil(2) + 2);
            result_bits = result_bits.max(slope_bits[i]);
        }
        let nr: Vec<&Secret> = nums.iter().collect();
        let dr: Vec<&Secret> = dens.iter().collect();
        let q = numeric::ratio(
            b,
            &cat(&nr, "correlation")?,
            &cat(&dr, "correlation")?,
            result_bits,
        )
        .await?;
        // |corr| <= 1 and |slope| < 2^R: the quotients' bounds, whatever the divisor's.
        ratios = split(&q, r, nums.len())
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let frac = v.frac();
                let bound = if i % 2 == 0 { 2 } else { slope_bits[i / 2] };
                tight(v, bound + frac + 1, noisy)
            })
            .collect();
    }
    let pair_index = |y: usize, x: usize| pairs.iter().position(|p| *p == (y, x)).expect("listed");

    // Intercepts: μ_y - slope μ_x, one fx_mul call.
    let mut intercepts = Vec::new();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for item in &query.select {
        if let Aggregate::RegrIntercept(y, x) = item.aggregate {
            xs.push(ratios[2 * pair_index(y, x) + 1].clone());
            ys.push(qv(Q::Mean(x)));
            intercepts.push((y, x));
        }
    }
    let products = if xs.is_empty() {
        Vec::new()
    } else {
        let xr: Vec<&Secret> = xs.iter().collect();
        let yr: Vec<&Secret> = ys.iter().collect();
        let p = b
            .fx_mul(&cat(&xr, "intercept")?, &cat(&yr, "intercept")?)
            .await
            .map_err(at("intercept"))?;
        split(&p, r, xs.len())
    };

    // Assemble, then 7: NULL flags applied in one mul call.
    let mut outputs = Vec::new();
    let mut intercept_i = 0;
    for item in &query.select {
        let float = |v: Secret, unit: i32| (vec![v.clone()], Decode::Float(v.frac() as i32 + unit));
        let ((parts, decode), defined) = match &item.aggregate {
            Aggregate::GroupKey => ((vec![], Decode::Key), None),
            Aggregate::Count => ((vec![n.clone()], Decode::Count), None),
            Aggregate::Sum(c) => (
                (vec![sum(Term::Col(*c))], Decode::Scaled(fr(*c) as u32)),
                None,
            ),
            Aggregate::Avg(c) => (float(qv(Q::Mean(*c)), fr(*c)), None),
            Aggregate::Var { col, sample } => (
                float(moment(&item.aggregate), 2 * fr(*col)),
                sample.then(|| at_least_two.clone()).flatten(),
            ),
            Aggregate::Covar {
                cols: (y, x),
                sample,
            } => (
                float(moment(&item.aggregate), fr(*x) + fr(*y)),
                sample.then(|| at_least_two.clone()).flatten(),
            ),
            Aggregate::Stddev { col, sample } => {
                let key = Aggregate::Var {
                    col: *col,
                    sample: *sample,
                };
                let i = radicands
                    .iter()
                    .position(|(k, _)| *k == key)
                    .expect("listed");
                (
                    float(roots[i].clone(), fr(*col)),
                    sample.then(|| at_least_two.clone()).flatten(),
                )
            }
            Aggregate::Corr(y, x) => {
                let i = pair_index(*y, *x);
                let (fx, fy) = pair_flags(i);
                let both = b.mul(&fx, &fy).await.map_err(at("flags"))?;
                (float(ratios[2 * i].clone(), 0), Some(both))
            }
            Aggregate::RegrSlope(y, x) => {
                let i = pair_index(*y, *x);
                // In units of y over units of x.
                (
                    float(ratios[2 * i + 1].clone(), fr(*y) - fr(*x)),
                    Some(pair_flags(i).0),
                )
            }
            Aggregate::RegrIntercept(y, x) => {
                let i = pair_index(*y, *x);
                let v = qv(Q::Mean(*y))
                    .sub(&products[intercept_i])
                    .map_err(at("intercept"))?;
                intercept_i += 1;
                (float(v, fr(*y)), Some(pair_flags(i).0))
            }
            Aggregate::Histogram { col, bounds } => {
                // Bucket j holds rows with bounds[j-1] <= x < bounds[j].
                let below: Vec<Secret> = bounds
                    .iter()
                    .map(|&bd| sum(Term::Below(*col, bd)))
                    .collect();
                let mut parts = Vec::new();
                for j in 0..=bounds.len() {
                    let hi = if j < bounds.len() {
                        below[j].clone()
                    } else {
                        n.clone()
                    };
                    parts.push(match j {
                        0 => hi,
                        j => hi.sub(&below[j - 1]).map_err(at("histogram"))?,
                    });
                }
                ((parts, Decode::Buckets), None)
            }
            Aggregate::Min(c) | Aggregate::Max(c) => {
                let v = order
                    .iter_mut()
                    .find_map(Option::take)
                    .expect("order statistics given");
                ((vec![v], Decode::Scaled(fr(*c) as u32)), None)
            }
            Aggregate::Percentile { col, den, .. } => {
                let v = order
                    .iter_mut()
                    .find_map(Option::take)
                    .expect("order statistics given");
                ((vec![v], Decode::Percentile(*den, fr(*col) as u32)), None)
            }
        };
        outputs.push(Output {
            parts,
            defined,
            decode,
        });
    }
    mask_undefined(b, &mut outputs).await?;
    Ok(outputs)
}

/// Element-wise products of the pairs `(xs[i], ys[i])`, each a batch of one length: one `mul`
/// call, or, when the batch's bound (the widest left times the widest right) would pass the
/// limit although each product fits, one call per operand width (`n Σx²` and `(Σx)²` have
/// the same width, `n` and `Σx²` do not).
async fn products<B: Backend>(
    b: &mut B,
    xs: &[Secret],
    ys: &[Secret],
    step: &'static str,
) -> Result<Vec<Secret>, StatsError> {
    let widest = |v: &[&Secret]| v.iter().map(|s| s.bits()).max().unwrap_or(0);
    let all: Vec<usize> = (0..xs.len()).collect();
    let classes: Vec<Vec<usize>> = {
        let xr: Vec<&Secret> = xs.iter().collect();
        let yr: Vec<&Secret> = ys.iter().collect();
        if widest(&xr) + widest(&yr) < mpc::share::MAX_BITS {
            vec![all]
        } else {
            let mut bits: Vec<u32> = xs.iter().map(Secret::bits).collect();
            bits.sort();
            bits.dedup();
            bits.into_iter()
                .map(|w| all.iter().copied().filter(|&i| xs[i].bits() == w).collect())
                .collect()
        }
    };
    let mut out: Vec<Option<Secret>> = vec![None; xs.len()];
    for class in classes {
        let xr: Vec<&Secret> = class.iter().map(|&i| &xs[i]).collect();
        let yr: Vec<&Secret> = class.iter().map(|&i| &ys[i]).collect();
        let p = b
            .mul(&cat(&xr, step)?, &cat(&yr, step)?)
            .await
            .map_err(at(step))?;
        let len = xs[class[0]].len();
        for (k, &i) in class.iter().enumerate() {
            out[i] = Some(p.slice(k * len..(k + 1) * len));
        }
    }
    Ok(out.into_iter().map(|p| p.expect("every pair")).collect())
}
