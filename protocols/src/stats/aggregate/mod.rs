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

//!
//! The steps live beside this file: what the select list needs in `needs`, steps 1 to 3 in
//! `moments`, 4 to 7 in `ratios`, the batching of independent calls in `batch`; here, the
//! select list's outputs and step 8.

mod batch;
mod moments;
mod needs;
mod ratios;

use super::output::{Decode, Output, Stats, mask_undefined};
use super::plan::{Plan, Term};
use super::sql::{Aggregate, Query};
use super::{StatsError, in_step};
use crate::backend::{Backend, Secret};
use moments::Moments;
use needs::{Needs, Q, Sums};
use ratios::Ratios;

/// `(T, F)`: a batch over the reported groups reading `T / 2^F`.
type Fixed = (Secret, i32);

/// Computes the moment-based and count-based outputs of `query`; order statistics come in
/// `order` (one batch per select item that is one, in select order).
pub(crate) async fn evaluate<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    stats: &Stats,
    mut order: Vec<Option<Secret>>,
) -> Result<Vec<Output>, StatsError> {
    let sums = Sums { plan, query, stats };
    let needs = Needs::of(&sums);
    let moments = Moments::compute(b, &sums, &needs).await?;
    let ratios = Ratios::compute(b, &sums, &needs, &moments).await?;
    let mut outputs = Vec::new();
    for item in &query.select {
        let output = match &item.aggregate {
            Aggregate::Avg(_)
            | Aggregate::Var { .. }
            | Aggregate::Covar { .. }
            | Aggregate::Stddev { .. }
            | Aggregate::Corr(..)
            | Aggregate::RegrSlope(..)
            | Aggregate::RegrIntercept(..) => {
                moment_output(b, &sums, &moments, &ratios, &item.aggregate).await?
            }
            other => count_output(&sums, other, &mut order)?,
        };
        outputs.push(output);
    }
    // Step 8: the NULL flags applied in one mul call.
    mask_undefined(b, &mut outputs).await?;
    Ok(outputs)
}

/// The output of a count-based aggregate or an order statistic (the next of `order`): exact
/// integers, defined everywhere.
fn count_output(
    sums: &Sums,
    aggregate: &Aggregate,
    order: &mut [Option<Secret>],
) -> Result<Output, StatsError> {
    let frac = |c: usize| sums.frac(c) as u32;
    let mut next_order = || {
        order
            .iter_mut()
            .find_map(Option::take)
            .expect("order statistics given")
    };
    let (parts, decode) = match aggregate {
        Aggregate::GroupKey => (vec![], Decode::Key),
        Aggregate::Count => (vec![sums.count().clone()], Decode::Count),
        Aggregate::Sum(c) => (vec![sums.sum(Term::Col(*c))], Decode::Scaled(frac(*c))),
        Aggregate::Histogram { col, bounds } => (histogram(sums, *col, bounds)?, Decode::Buckets),
        Aggregate::Min(c) | Aggregate::Max(c) => (vec![next_order()], Decode::Scaled(frac(*c))),
        Aggregate::Percentile { col, den, .. } => {
            (vec![next_order()], Decode::Percentile(*den, frac(*col)))
        }
        moment => unreachable!("{moment:?} is a moment"),
    };
    Ok(Output {
        parts,
        defined: None,
        decode,
    })
}

/// `HISTOGRAM`'s buckets from the counts below each bound: bucket `j` holds the rows with
/// `bounds[j-1] <= x < bounds[j]`.
fn histogram(sums: &Sums, col: usize, bounds: &[i128]) -> Result<Vec<Secret>, StatsError> {
    let below: Vec<Secret> = bounds
        .iter()
        .map(|&bound| sums.sum(Term::Below(col, bound)))
        .collect();
    let mut buckets = Vec::new();
    for j in 0..=bounds.len() {
        let hi = if j < bounds.len() {
            below[j].clone()
        } else {
            sums.count().clone()
        };
        buckets.push(match j {
            0 => hi,
            j => hi.sub(&below[j - 1]).map_err(in_step("histogram"))?,
        });
    }
    Ok(buckets)
}

/// The output of a moment-based aggregate, in the units of its columns, with the flag saying
/// where it is defined: `[n >= 2]` for a sample statistic, `[V_x > 0]` for a regression,
/// `[V_x > 0][V_y > 0]` for `CORR` (one `mul` each).
async fn moment_output<B: Backend>(
    b: &mut B,
    sums: &Sums<'_>,
    moments: &Moments,
    ratios: &Ratios,
    aggregate: &Aggregate,
) -> Result<Output, StatsError> {
    let frac = |c: usize| sums.frac(c);
    let sample_flag = |sample: bool| sample.then(|| moments.at_least_two()).flatten();
    let ((value, unit), defined) = match *aggregate {
        Aggregate::Avg(c) => ((ratios.quotient(Q::Mean(c)), frac(c)), None),
        Aggregate::Var { col, sample } => (
            (ratios.quotient(Q::Var { col, sample }), 2 * frac(col)),
            sample_flag(sample),
        ),
        Aggregate::Covar {
            cols: (y, x),
            sample,
        } => (
            (
                ratios.quotient(Q::Covar { y, x, sample }),
                frac(x) + frac(y),
            ),
            sample_flag(sample),
        ),
        Aggregate::Stddev { col, sample } => (
            (ratios.stddev(Q::Var { col, sample }), frac(col)),
            sample_flag(sample),
        ),
        Aggregate::Corr(y, x) => {
            let both = b
                .mul(&moments.positive(x), &moments.positive(y))
                .await
                .map_err(in_step("flags"))?;
            ((ratios.correlation(y, x), 0), Some(both))
        }
        // In units of y over units of x.
        Aggregate::RegrSlope(y, x) => (
            (ratios.slope(y, x), frac(y) - frac(x)),
            Some(moments.positive(x)),
        ),
        Aggregate::RegrIntercept(y, x) => {
            ((ratios.intercept(y, x), frac(y)), Some(moments.positive(x)))
        }
        ref other => unreachable!("{other:?} is not a moment"),
    };
    let (t, f) = value;
    Ok(Output {
        parts: vec![t.with_frac(0)],
        defined,
        decode: Decode::Float(f + unit),
    })
}
