//! Aggregates from the per-group sums of the scan: count, sum, mean, variance, standard
//! deviation, covariance, correlation, regression and histogram, for the reported groups only,
//! in a number of rounds that depends on the query's shape, never on its rows.
//!
//! All sums are exact integers on the columns' scaled integers: `n`, `S_x = Σx`, `Q_x = Σx²`,
//! `S_xy = Σxy`. Every moment is then a quotient of *exact* integers, computed by
//! [`numeric::quotient`] (normalizing before dividing), never a difference of rounded
//! quotients, so no cancellation is left:
//! 1. exact products (one `mul`): `V_x = n Q_x - S_x²` (`= n Σ(x - μ)²`, `>= 0`),
//!    `C = n S_xy - S_x S_y`, and `n²`;
//! 2. flags (one `lt`): `[n >= 2]` for sample statistics, `[V > 0]` (SQL gives `NULL` when a
//!    regressor's variance is zero);
//! 3. one `mul`: `V⁺ = [V > 0] V` (noise can make `V` negative), `n (n - 1)`;
//! 4. quotients: `AVG = S/n`, `VAR_POP = V⁺/n²`, `VAR_SAMP = V⁺/(n(n-1))`, `COVAR_* = C/n²`
//!    or `C/(n(n-1))`, `REGR_SLOPE = C/V_x` (`V_x` read as 1 when 0);
//! 5. roots ([`numeric::root`]): standard deviations `sqrt(VAR)`, and `sqrt(V_x)`, `sqrt(V_y)`;
//! 6. `CORR = (C / sqrt(V_x)) / sqrt(V_y)`, two quotients;
//! 7. `REGR_INTERCEPT = AVG(y) - slope AVG(x)`, the product normalized
//!    ([`numeric::product`]: the slope written `m 2^e` with a secret `e`, so it keeps its
//!    significant bits however far below its bound it is);
//! 8. one `mul` by the `NULL` flags, so that an undefined value opens as 0 beside its flag.
//!
//! The guarantees are stated on the columns' scaled integers (a fixed column's values times
//! `2^frac`), for columns of `b` bits over `N < 2^L` rows; [`super`] tabulates them per width.
//! `COUNT`, `SUM`, `HISTOGRAM` are exact. Every quotient `q` (bound `|q| < 2^R`) is within
//! `2^-43 |q| + 2^(2-F)` for its public output scale `F` ([`numeric::quotient`]; `F >= 120 - R`
//! but where a wide divisor forces a shift, noted below). Per aggregate:
//! - `AVG`: `2^-43 |μ| + 2^(b-117)`;
//! - `VAR_POP`, `VAR_SAMP`: `2^-43 v + 2^(2b-116)` — no cancellation: `V` is exact;
//! - `STDDEV_*`: `2^-42 s + 2^(b-58)` (the root of the variance's absolute term);
//! - `COVAR_*`: `2^-43 |c| + 2^(b_x+b_y-116)`;
//! - `REGR_SLOPE`: while `b_y + 2b_x + 3L <= 193` (up to 32 bits over 10^7 rows), one quotient
//!   `C / V_x`: `2^-43 |β| + 2^(b_y+L-116)`. Wider, `C / V_x` would need its numerator cut
//!   (which lost every significant bit of a 63-bit slope: `stats_at_size` measured 0 for 0.5),
//!   so it is computed as CORR is, `(C / sqrt(V_x)) / sqrt(V_x)`, two quotients whose bounds
//!   Cauchy-Schwarz keeps narrow: `2^-43 |β|` per quotient `+ 2^(b_y+L-93)`;
//! - `CORR`: `2^-41 + 2^-(16+h) (V_x^-1/2 + V_y^-1/2)`, `h = min(40, (180 - bits(V))/2)` the
//!   extra bits of the roots (so `2^-41` but for tiny variances of the widest columns);
//! - `REGR_INTERCEPT = AVG(y) - slope AVG(x)`, with `A_s` the slope's absolute term above:
//!   `2^-41 (|AVG(y)| + |slope AVG(x)|) + A_s |AVG(x)| + 2^(b_x+b_y+L-110)` at every width —
//!   the only aggregate where cancellation remains, between its two terms. Derived: `AVG(y)`
//!   errs by `2^-43 |AVG(y)| + A_y`; `ŝ m̂ - s m = (ŝ - s) m̂ + s (m̂ - m)` by
//!   `(2^-42 + 2^-43) |s m| + A_s |m| + 2 |s| A_m` (the slope's relative term is `2^-42` past
//!   32 bits); the normalized product adds `2^-68 |ŝ m̂|` (its mantissa keeps `w - 9 >= 68`
//!   bits, `w = 198 - bits(T_m) >= 77`) and two units of the output, `AVG(y)`'s rescaling
//!   one more. The output's scale keeps `|T| < 2^120` for an intercept bound of
//!   `2^(b_x+b_y+L+7)` (slope `< 2^(b_y+L+2)` times `|AVG(x)| < 2^(b_x+1)`, as the quotients
//!   declare them), so three units are `2^(b_x+b_y+L-111.4)`; with `2 |s| A_m <
//!   2^(b_y+L+3) A_m` (`2^29` at 63 bits) and `A_y`, below `2^(b_x+b_y+L-110)`. `A_s |AVG(x)|`
//!   is negligible up to 32 bits (at most `2^-29`) and dominates at 48 and 63 bits for a
//!   nearly constant `x` (`A_s` is the slope's worst case, `V_x` tiny): it is stated, not
//!   folded into the constant. Before the product was normalized, its factors were cut to
//!   98 bits from their declared widths: a slope of 0.5 kept 17 bits at 63 bits, and
//!   `stats_at_size` measured the intercept within only `2^-16` of its terms (`2^-27` now,
//!   the output's unit: `BENCHMARKS.md`).
//!
//! With differential privacy the bounds hold for the noisy statistics, `R` then from the noisy
//! sums' bounds (the noise is far larger than these errors).

use super::numeric;
use super::output::{Decode, Output, Stats, mask_undefined};
use super::plan::{Plan, Term};
use super::sql::{Aggregate, Query};
use super::{StatsError, at, cat};
use crate::backend::{Backend, Secret};

/// A quotient the select list needs (step 4, and the correlations' of step 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Q {
    Mean(usize),
    Var { col: usize, sample: bool },
    Covar { y: usize, x: usize, sample: bool },
    Slope { y: usize, x: usize },
}

fn split(x: &Secret, len: usize, parts: usize) -> Vec<Secret> {
    (0..parts)
        .map(|i| x.slice(i * len..(i + 1) * len))
        .collect()
}

fn push<T: PartialEq>(v: &mut Vec<T>, t: T) -> usize {
    match v.iter().position(|x| *x == t) {
        Some(i) => i,
        None => {
            v.push(t);
            v.len() - 1
        }
    }
}

/// `(T, F)`: a batch over the reported groups reading `T / 2^F`.
type Fixed = (Secret, i32);

/// Quotients `y / x` with their bounds `r`, in as few [`numeric::quotient`] calls as there
/// are distinct `(r, bits(x))` pairs (independent calls: each costs the same rounds).
async fn quotients<B: Backend>(
    b: &mut B,
    items: &[(Secret, Secret, i32)],
    step: &'static str,
) -> Result<Vec<Fixed>, StatsError> {
    let mut out: Vec<Option<Fixed>> = vec![None; items.len()];
    let mut classes: Vec<(i32, u32)> = Vec::new();
    for (_, x, r) in items {
        push(&mut classes, (*r, x.bits()));
    }
    for (r, xb) in classes {
        let members: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].2 == r && items[i].1.bits() == xb)
            .collect();
        let ys: Vec<Secret> = members
            .iter()
            .map(|&i| items[i].0.clone().with_frac(0))
            .collect();
        let xs: Vec<Secret> = members
            .iter()
            .map(|&i| items[i].1.clone().with_frac(0))
            .collect();
        let (yr, xr): (Vec<&Secret>, Vec<&Secret>) = (ys.iter().collect(), xs.iter().collect());
        let (t, f) = numeric::quotient(b, &cat(&yr, step)?, &cat(&xr, step)?, r, step).await?;
        let len = items[members[0]].0.len();
        for (k, &i) in members.iter().enumerate() {
            out[i] = Some((t.slice(k * len..(k + 1) * len), f));
        }
    }
    Ok(out.into_iter().map(|q| q.expect("every item")).collect())
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
    let bits = |c: usize| schema.columns[c].ty.bits() as i32;
    let fr = |c: usize| schema.columns[c].ty.frac() as i32;
    let r = stats.counts.len();
    let l = plan.count_bits as i32;
    let noisy = stats.noisy;
    let sum = |t: Term| stats.sums[plan.term(&t)].clone();
    let n = &stats.counts;

    // What the select list needs: quotients, variances V_c, pairs (y, x) with C.
    let (mut qs, mut vars, mut pairs, mut roots_of_var) = (vec![], vec![], vec![], vec![]);
    let mut need_sample = false;
    let mut corr_pairs = Vec::new();
    let mut slope_pairs = Vec::new();
    // REGR_SLOPE = C / V_x in one quotient while V_x is narrow enough that the numerator need
    // not be cut (`b_y + 2 b_x + 3L <= 193`: up to 32 bits over 10^7 rows); wider, through the
    // roots as CORR (step 6), where a cut numerator would lose the slope's significant bits.
    let direct_slope = |y: usize, x: usize| bits(y) + 2 * bits(x) + 3 * l <= 193;
    for item in &query.select {
        match item.aggregate {
            Aggregate::Avg(c) => {
                push(&mut qs, Q::Mean(c));
            }
            Aggregate::Var { col, sample } | Aggregate::Stddev { col, sample } => {
                need_sample |= sample;
                push(&mut vars, col);
                let i = push(&mut qs, Q::Var { col, sample });
                if matches!(item.aggregate, Aggregate::Stddev { .. }) {
                    push(&mut roots_of_var, i);
                }
            }
            Aggregate::Covar {
                cols: (y, x),
                sample,
            } => {
                need_sample |= sample;
                push(&mut pairs, (y, x));
                push(&mut qs, Q::Covar { y, x, sample });
            }
            Aggregate::Corr(y, x) => {
                push(&mut pairs, (y, x));
                push(&mut vars, x);
                push(&mut vars, y);
                push(&mut corr_pairs, (y, x));
            }
            Aggregate::RegrSlope(y, x) | Aggregate::RegrIntercept(y, x) => {
                push(&mut pairs, (y, x));
                push(&mut vars, x);
                if direct_slope(y, x) {
                    push(&mut qs, Q::Slope { y, x });
                } else {
                    push(&mut slope_pairs, (y, x));
                }
                if matches!(item.aggregate, Aggregate::RegrIntercept(..)) {
                    push(&mut qs, Q::Mean(x));
                    push(&mut qs, Q::Mean(y));
                }
            }
            _ => {}
        }
    }

    // 1. Exact products: V_c, C per pair, n².
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &c in &vars {
        xs.extend([n.clone(), sum(Term::Col(c))]);
        ys.extend([sum(Term::Square(c)), sum(Term::Col(c))]);
    }
    for &(y, x) in &pairs {
        xs.extend([n.clone(), sum(Term::Col(x))]);
        ys.extend([sum(Term::Cross(y.min(x), y.max(x))), sum(Term::Col(y))]);
    }
    let need_n2 = qs.iter().any(|q| {
        matches!(
            q,
            Q::Var { sample: false, .. } | Q::Covar { sample: false, .. }
        )
    });
    if need_n2 {
        xs.push(n.clone());
        ys.push(n.clone());
    }
    let p = if xs.is_empty() {
        Vec::new()
    } else {
        products(b, &xs, &ys, "exact moments").await?
    };
    let diff = |i: usize| p[2 * i].sub(&p[2 * i + 1]).map_err(at("exact moments"));
    let v_exact: Vec<Secret> = (0..vars.len()).map(diff).collect::<Result<_, _>>()?;
    let c_exact: Vec<Secret> = (0..pairs.len())
        .map(|i| diff(vars.len() + i))
        .collect::<Result<_, _>>()?;
    let n2 = need_n2.then(|| p[p.len() - 1].clone());

    // 2. Flags: [n >= 2], [V_c > 0], in one lt call.
    let (mut fl, mut fr_) = (Vec::new(), Vec::new());
    if need_sample {
        fl.push(b.constant(&vec![1; r]).map_err(at("flags"))?);
        fr_.push(n.clone());
    }
    for v in &v_exact {
        fl.push(b.constant(&vec![0; r]).map_err(at("flags"))?);
        fr_.push(v.clone());
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
    let positive = |c: usize| {
        let i = vars.iter().position(|&v| v == c).expect("listed");
        flags[need_sample as usize + i].clone()
    };

    // 3. V⁺ = [V > 0] V, and n (n - 1) with n - 1 read as 1 where n < 2 (NULL anyway).
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for (i, &c) in vars.iter().enumerate() {
        xs.push(positive(c));
        ys.push(v_exact[i].clone());
    }
    if let Some(two) = &at_least_two {
        let n1 = n
            .add_const(-1)
            .and_then(|m| m.add(&two.not()?))
            .map_err(at("quotients"))?;
        xs.push(n.clone());
        ys.push(n1);
    }
    let p = if xs.is_empty() {
        Vec::new()
    } else {
        products(b, &xs, &ys, "exact moments").await?
    };
    let v_pos: Vec<Secret> = p[..vars.len()].to_vec();
    let n_n1 = at_least_two.as_ref().map(|_| p[vars.len()].clone());
    let var_of = |c: usize| v_pos[vars.iter().position(|&v| v == c).expect("listed")].clone();
    // V_x read as 1 where it is 0: a divisor (the output is NULL there).
    let divisor = |c: usize| -> Result<Secret, StatsError> {
        var_of(c)
            .add(&positive(c).not().map_err(at("quotients"))?)
            .map_err(at("quotients"))
    };
    let pair_c = |y: usize, x: usize| {
        c_exact[pairs.iter().position(|p| *p == (y, x)).expect("listed")].clone()
    };

    // 4. Quotients.
    let noisy_r = |s: &Secret, base: i32| if noisy { s.bits() as i32 } else { base };
    let mut items = Vec::new();
    for q in &qs {
        items.push(match *q {
            Q::Mean(c) => {
                let s = sum(Term::Col(c));
                (s.clone(), n.clone(), noisy_r(&s, bits(c) + 1))
            }
            Q::Var { col, sample } => {
                let v = var_of(col);
                let d = if sample { n_n1.clone() } else { n2.clone() }.expect("planned");
                (v.clone(), d, noisy_r(&v, 2 * bits(col) + 2))
            }
            Q::Covar { y, x, sample } => {
                let c = pair_c(y, x);
                let d = if sample { n_n1.clone() } else { n2.clone() }.expect("planned");
                (c.clone(), d, noisy_r(&c, bits(x) + bits(y) + 2))
            }
            Q::Slope { y, x } => {
                let c = pair_c(y, x);
                (c.clone(), divisor(x)?, noisy_r(&c, bits(y) + l + 2))
            }
        });
    }
    let q_values = quotients(b, &items, "quotients").await?;
    let qv = |q: Q| q_values[qs.iter().position(|x| *x == q).expect("listed")].clone();

    // 5. Roots: standard deviations (of VAR, its F made even) and sqrt(V) of CORR's columns.
    let mut radicands = Vec::new();
    let mut root_scale = Vec::new();
    for &i in &roots_of_var {
        let (t, f) = q_values[i].clone();
        // sqrt(T 2^odd) = sqrt(2T) 2^((odd-1)/2): keep the exponent even.
        let (t, f) = if f.rem_euclid(2) == 1 {
            (t.scale_pow2(1).map_err(at("roots"))?, f + 1)
        } else {
            (t, f)
        };
        radicands.push(t.with_frac(0));
        root_scale.push(f / 2);
    }
    let mut corr_cols = Vec::new();
    for &(y, x) in &corr_pairs {
        push(&mut corr_cols, x);
        push(&mut corr_cols, y);
    }
    for &(_, x) in &slope_pairs {
        push(&mut corr_cols, x);
    }
    // sqrt(V 2^(2h)) = sqrt(V) 2^h: `h` more bits of the root for a small V.
    let widest_v = corr_cols
        .iter()
        .map(|&c| var_of(c).bits() + 1)
        .max()
        .unwrap_or(0);
    let h = (180u32.saturating_sub(widest_v) / 2).min(40);
    for &c in &corr_cols {
        radicands.push(divisor(c)?.scale_pow2(2 * h).map_err(at("roots"))?);
        root_scale.push(0);
    }
    let h = h as i32;
    let roots: Vec<Secret> = if radicands.is_empty() {
        Vec::new()
    } else {
        // One call for every radicand of one bound (the root normalizes each element).
        let mut out = vec![None; radicands.len()];
        let mut widths: Vec<u32> = radicands.iter().map(Secret::bits).collect();
        widths.sort();
        widths.dedup();
        for w in widths {
            let members: Vec<usize> = (0..radicands.len())
                .filter(|&i| radicands[i].bits() == w)
                .collect();
            let refs: Vec<&Secret> = members.iter().map(|&i| &radicands[i]).collect();
            let all = numeric::root(b, &cat(&refs, "roots")?).await?;
            for (k, &i) in members.iter().enumerate() {
                out[i] = Some(all.slice(k * r..(k + 1) * r));
            }
        }
        out.into_iter().map(|x| x.expect("every root")).collect()
    };
    // A root of an integer carries 16 fractional bits (the engine's integer scale).
    let root_of_col = |c: usize| {
        roots[roots_of_var.len() + corr_cols.iter().position(|&x| x == c).expect("listed")]
            .clone()
            .with_frac(0)
    };

    // 6. CORR = (C / (sqrt(V_x) 2^(16+h))) / (sqrt(V_y) 2^(16+h)) 2^(32+2h), |CORR| <= 1, and
    //    REGR_SLOPE = (C / (sqrt(V_x) 2^(16+h))) / (sqrt(V_x) 2^(16+h)) 2^(32+2h): both divide
    //    `C` by a root first, which Cauchy-Schwarz bounds (`|C| <= sqrt(V_x V_y)`), instead of
    //    dividing `C` by `V_x` at once, whose worst-case ratio would force the numerator to be
    //    cut (a 63-bit slope then lost every significant bit).
    let mut first_pairs: Vec<(usize, usize)> = Vec::new();
    for &p in corr_pairs.iter().chain(&slope_pairs) {
        push(&mut first_pairs, p);
    }
    let mut corr = Vec::new();
    let mut slopes = Vec::new();
    if !first_pairs.is_empty() {
        let first: Vec<(Secret, Secret, i32)> = first_pairs
            .iter()
            .map(|&(y, x)| {
                // |C| <= sqrt(V_x V_y) and sqrt(V_y) < 2^(b_y + L): below 2^(b_y + L - 16 - h).
                let c = pair_c(y, x);
                let r = noisy_r(&c, bits(y) + l + 2) - 15 - h;
                (c, root_of_col(x), r)
            })
            .collect();
        let halves = quotients(b, &first, "correlation").await?;
        let half_of = |p: (usize, usize)| {
            halves[first_pairs.iter().position(|q| *q == p).expect("listed")].clone()
        };
        // T1 / (sqrt(V_y) 2^(16+h)) = CORR 2^(F1 - 32 - 2h): below 2^(F1 - 31 - 2h); and
        // T1 / (sqrt(V_x) 2^(16+h)) = SLOPE 2^(F1 - 32 - 2h), |SLOPE| <= sqrt(V_y / V_x) <
        // 2^(b_y + L) (V_x >= 1 as a divisor): below 2^(F1 - 31 - 2h + b_y + L).
        let mut second: Vec<(Secret, Secret, i32)> = Vec::new();
        for (&(y, x), is_corr) in corr_pairs
            .iter()
            .map(|p| (p, true))
            .chain(slope_pairs.iter().map(|p| (p, false)))
        {
            let (t, f) = half_of((y, x));
            let bound = if noisy {
                t.bits() as i32 - 15 - h
            } else if is_corr {
                f - 31 - 2 * h
            } else {
                f - 31 - 2 * h + bits(y) + l
            };
            let by = if is_corr { y } else { x };
            second.push((t, root_of_col(by), bound));
        }
        let whole = quotients(b, &second, "correlation").await?;
        for (k, (t, f2)) in whole.into_iter().enumerate() {
            let (is_corr, p) = if k < corr_pairs.len() {
                (true, corr_pairs[k])
            } else {
                (false, slope_pairs[k - corr_pairs.len()])
            };
            let f1 = half_of(p).1;
            let value = (t, f1 + f2 - 32 - 2 * h);
            if is_corr {
                corr.push(value);
            } else {
                slopes.push(value);
            }
        }
    }
    let slope_of = |y: usize, x: usize| match slope_pairs.iter().position(|p| *p == (y, x)) {
        Some(i) => slopes[i].clone(),
        None => qv(Q::Slope { y, x }),
    };
    let corr_of = |y: usize, x: usize| {
        corr[corr_pairs
            .iter()
            .position(|p| *p == (y, x))
            .expect("listed")]
        .clone()
    };

    // 7. Intercepts: AVG(y) - slope AVG(x), the product normalized ([`numeric::product`]):
    //    the slope keeps its significant bits however far below its bound it is.
    let mut intercepts: Vec<((usize, usize), Fixed)> = Vec::new();
    for item in &query.select {
        let Aggregate::RegrIntercept(y, x) = item.aggregate else {
            continue;
        };
        if intercepts.iter().any(|(k, _)| *k == (y, x)) {
            continue;
        }
        let ((ts, f_s), (tm, f_m)) = (slope_of(y, x), qv(Q::Mean(x)));
        let (my, f_my) = qv(Q::Mean(y));
        // The output's scale: AVG(y)'s, less what keeps it within 2^120.
        let f_prod = f_s + f_m;
        let bound =
            (my.bits() as i32 - f_my).max(ts.bits() as i32 + tm.bits() as i32 + 1 - f_prod) + 1;
        let f_out = f_my.min(120 - bound);
        let d = f_prod - f_out;
        let p = numeric::product(b, &ts, &tm, d.max(0) as u32, "intercept").await?;
        let p = p.scale_pow2((-d).max(0) as u32).map_err(at("intercept"))?;
        let my = if f_my > f_out {
            b.trunc(&my, (f_my - f_out) as u32)
                .await
                .map_err(at("intercept"))?
        } else {
            my
        };
        let v = my.sub(&p).map_err(at("intercept"))?;
        intercepts.push(((y, x), (v, f_out)));
    }

    // Assemble, then 8: NULL flags applied in one mul call.
    let mut outputs = Vec::new();
    for item in &query.select {
        let float = |(v, f): Fixed, unit: i32| (vec![v.with_frac(0)], Decode::Float(f + unit));
        let sample_flag = |sample: bool| sample.then(|| at_least_two.clone()).flatten();
        let ((parts, decode), defined) = match &item.aggregate {
            Aggregate::GroupKey => ((vec![], Decode::Key), None),
            Aggregate::Count => ((vec![n.clone()], Decode::Count), None),
            Aggregate::Sum(c) => (
                (vec![sum(Term::Col(*c))], Decode::Scaled(fr(*c) as u32)),
                None,
            ),
            Aggregate::Avg(c) => (float(qv(Q::Mean(*c)), fr(*c)), None),
            Aggregate::Var { col, sample } => (
                float(
                    qv(Q::Var {
                        col: *col,
                        sample: *sample,
                    }),
                    2 * fr(*col),
                ),
                sample_flag(*sample),
            ),
            Aggregate::Covar {
                cols: (y, x),
                sample,
            } => (
                float(
                    qv(Q::Covar {
                        y: *y,
                        x: *x,
                        sample: *sample,
                    }),
                    fr(*x) + fr(*y),
                ),
                sample_flag(*sample),
            ),
            Aggregate::Stddev { col, sample } => {
                let i = qs
                    .iter()
                    .position(|q| {
                        *q == Q::Var {
                            col: *col,
                            sample: *sample,
                        }
                    })
                    .expect("listed");
                let k = roots_of_var.iter().position(|&j| j == i).expect("listed");
                // sqrt(T) 2^16 with T = VAR 2^(2s): the root reads / 2^(16 + s).
                (
                    float((roots[k].clone(), 16 + root_scale[k]), fr(*col)),
                    sample_flag(*sample),
                )
            }
            Aggregate::Corr(y, x) => {
                let both = b
                    .mul(&positive(*x), &positive(*y))
                    .await
                    .map_err(at("flags"))?;
                (float(corr_of(*y, *x), 0), Some(both))
            }
            Aggregate::RegrSlope(y, x) => (
                // In units of y over units of x.
                float(slope_of(*y, *x), fr(*y) - fr(*x)),
                Some(positive(*x)),
            ),
            Aggregate::RegrIntercept(y, x) => {
                let v = intercepts
                    .iter()
                    .find(|(k, _)| *k == (*y, *x))
                    .expect("computed")
                    .1
                    .clone();
                (float(v, fr(*y)), Some(positive(*x)))
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
            let mut bits: Vec<(u32, u32)> = xs
                .iter()
                .zip(ys)
                .map(|(x, y)| (x.bits(), y.bits()))
                .collect();
            bits.sort();
            bits.dedup();
            bits.into_iter()
                .map(|w| {
                    all.iter()
                        .copied()
                        .filter(|&i| (xs[i].bits(), ys[i].bits()) == w)
                        .collect()
                })
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
            // Each product's own bound (the batch's is the widest pair's).
            let own = mpc::share::rules::mul(xs[i].facts(), ys[i].facts()).map_err(at(step))?;
            let slice = p.slice(k * len..(k + 1) * len).assume_bits(own.bits);
            out[i] = Some(if own.boolean {
                super::plan::boolean(slice)
            } else {
                slice
            });
        }
    }
    Ok(out.into_iter().map(|p| p.expect("every pair")).collect())
}
