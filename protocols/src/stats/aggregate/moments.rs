//! Steps 1 to 3 of [`super`]: the exact moments `V` and `C` from the sums, the flags
//! `[n >= 2]` and `[V > 0]`, then `V⁺ = [V > 0] V` and `n (n - 1)`: three rounds of calls
//! (`mul`, `lt`, `mul`), whatever the number of aggregates.

use super::super::plan::Term;
use super::super::{StatsError, concat, in_step};
use super::batch::{products, split};
use super::needs::{Needs, Sums};
use crate::backend::{Backend, Secret};

/// The exact moments of the reported groups, the quotients' numerators and denominators.
pub(super) struct Moments {
    /// The columns of `nonnegative` and `positive`, as [`Needs::variances`].
    columns: Vec<usize>,
    /// `V⁺ = [V > 0] V` per column (`n Σ(x - μ)²`, which noise can make negative).
    nonnegative: Vec<Secret>,
    /// `[V > 0]` per column.
    positive: Vec<Secret>,
    /// The pairs of `covariances`, as [`Needs::pairs`].
    pairs: Vec<(usize, usize)>,
    /// `C = n S_xy - S_x S_y` per pair.
    covariances: Vec<Secret>,
    /// `[n >= 2]`, when a sample statistic needs it.
    at_least_two: Option<Secret>,
    /// `n²`, when a population statistic needs it.
    n_squared: Option<Secret>,
    /// `n (n - 1)` (`n - 1` read as 1 where `n < 2`), when a sample statistic needs it.
    n_n1: Option<Secret>,
}

/// Step 1's products.
struct Exact {
    /// `V_c = n Q_c - S_c²` per column of [`Needs::variances`].
    variances: Vec<Secret>,
    /// `C = n S_xy - S_x S_y` per pair of [`Needs::pairs`].
    covariances: Vec<Secret>,
    n_squared: Option<Secret>,
}

impl Moments {
    /// Steps 1 to 3 for what `needs` lists.
    pub(super) async fn compute<B: Backend>(
        b: &mut B,
        sums: &Sums<'_>,
        needs: &Needs,
    ) -> Result<Moments, StatsError> {
        let exact = exact_products(b, sums, needs).await?;
        let (at_least_two, positive) = flags(b, sums, needs.sample, &exact.variances).await?;
        let (nonnegative, n_n1) =
            nonnegative_parts(b, sums, &exact.variances, &positive, at_least_two.as_ref()).await?;
        Ok(Moments {
            columns: needs.variances.clone(),
            nonnegative,
            positive,
            pairs: needs.pairs.clone(),
            covariances: exact.covariances,
            at_least_two,
            n_squared: exact.n_squared,
            n_n1,
        })
    }

    fn column(&self, col: usize) -> usize {
        self.columns.iter().position(|&v| v == col).expect("listed")
    }

    /// `V⁺` of a listed column.
    pub(super) fn variance(&self, col: usize) -> Secret {
        self.nonnegative[self.column(col)].clone()
    }

    /// `[V > 0]` of a listed column.
    pub(super) fn positive(&self, col: usize) -> Secret {
        self.positive[self.column(col)].clone()
    }

    /// `V⁺` read as 1 where it is 0: a divisor (the output is `NULL` there).
    pub(super) fn divisor(&self, col: usize) -> Result<Secret, StatsError> {
        self.variance(col)
            .add(&self.positive(col).not().map_err(in_step("quotients"))?)
            .map_err(in_step("quotients"))
    }

    /// `C` of a listed pair `(y, x)`.
    pub(super) fn covariance(&self, y: usize, x: usize) -> Secret {
        let i = self
            .pairs
            .iter()
            .position(|p| *p == (y, x))
            .expect("listed");
        self.covariances[i].clone()
    }

    /// The divisor of a variance or covariance: `n (n - 1)` for a sample statistic, `n²`
    /// for a population one.
    pub(super) fn denominator(&self, sample: bool) -> Secret {
        if sample { &self.n_n1 } else { &self.n_squared }
            .clone()
            .expect("planned")
    }

    /// `[n >= 2]`, when a sample statistic needs it.
    pub(super) fn at_least_two(&self) -> Option<Secret> {
        self.at_least_two.clone()
    }
}

/// Step 1, exact products in one `mul` (or one per operand width, [`products`]):
/// `V_c = n Q_c - S_c²` per column, `C = n S_xy - S_x S_y` per pair, and `n²`.
async fn exact_products<B: Backend>(
    b: &mut B,
    sums: &Sums<'_>,
    needs: &Needs,
) -> Result<Exact, StatsError> {
    let n = sums.count();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &c in &needs.variances {
        xs.extend([n.clone(), sums.sum(Term::Col(c))]);
        ys.extend([sums.sum(Term::Square(c)), sums.sum(Term::Col(c))]);
    }
    for &(y, x) in &needs.pairs {
        xs.extend([n.clone(), sums.sum(Term::Col(x))]);
        ys.extend([
            sums.sum(Term::Cross(y.min(x), y.max(x))),
            sums.sum(Term::Col(y)),
        ]);
    }
    let n_squared = needs.n_squared();
    if n_squared {
        xs.push(n.clone());
        ys.push(n.clone());
    }
    let p = products(b, &xs, &ys, "exact moments").await?;
    let difference = |i: usize| {
        p[2 * i]
            .sub(&p[2 * i + 1])
            .map_err(in_step("exact moments"))
    };
    let variances: Vec<Secret> = (0..needs.variances.len())
        .map(difference)
        .collect::<Result<_, _>>()?;
    let covariances: Vec<Secret> = (0..needs.pairs.len())
        .map(|i| difference(needs.variances.len() + i))
        .collect::<Result<_, _>>()?;
    Ok(Exact {
        variances,
        covariances,
        n_squared: n_squared.then(|| p[p.len() - 1].clone()),
    })
}

/// Step 2, flags in one `lt`: `[n >= 2]` (as `1 < n`) when `sample`, and `[V > 0]` per
/// variance.
async fn flags<B: Backend>(
    b: &mut B,
    sums: &Sums<'_>,
    sample: bool,
    variances: &[Secret],
) -> Result<(Option<Secret>, Vec<Secret>), StatsError> {
    let groups = sums.groups();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    if sample {
        left.push(b.constant(&vec![1; groups]).map_err(in_step("flags"))?);
        right.push(sums.count().clone());
    }
    for v in variances {
        left.push(b.constant(&vec![0; groups]).map_err(in_step("flags"))?);
        right.push(v.clone());
    }
    if left.is_empty() {
        return Ok((None, Vec::new()));
    }
    let lr: Vec<&Secret> = left.iter().collect();
    let rr: Vec<&Secret> = right.iter().collect();
    let out = b
        .lt(&concat(&lr, "flags")?, &concat(&rr, "flags")?)
        .await
        .map_err(in_step("flags"))?;
    let mut flags = split(&out, groups, left.len());
    let positive = flags.split_off(sample as usize);
    Ok((flags.pop(), positive))
}

/// Step 3, one `mul`: `V⁺ = [V > 0] V` per variance, and `n (n - 1)` with `n - 1` read as 1
/// where `n < 2` (`NULL` anyway) when `[n >= 2]` is given.
async fn nonnegative_parts<B: Backend>(
    b: &mut B,
    sums: &Sums<'_>,
    variances: &[Secret],
    positive: &[Secret],
    at_least_two: Option<&Secret>,
) -> Result<(Vec<Secret>, Option<Secret>), StatsError> {
    let n = sums.count();
    let (mut xs, mut ys) = (positive.to_vec(), variances.to_vec());
    if let Some(two) = at_least_two {
        let n1 = n
            .add_const(-1)
            .and_then(|m| m.add(&two.not()?))
            .map_err(in_step("quotients"))?;
        xs.push(n.clone());
        ys.push(n1);
    }
    let mut p = products(b, &xs, &ys, "exact moments").await?;
    let n_n1 = at_least_two.map(|_| p[variances.len()].clone());
    p.truncate(variances.len());
    Ok((p, n_n1))
}
