//! Issue 14's reference for moments over values drawn across a column's whole width, shared by
//! `protocols/tests/stats.rs` and `protocols/examples/stats_at_size.rs` (included by path): a
//! two-pass `f64` evaluation from exact integer means, and the planner table's cells (module
//! doc of `protocols::stats`) as bounds.

/// Every aggregate that divides or takes a root, over integer columns `x` and `y`.
pub(crate) const SQL: &str = "SELECT AVG(x), VAR_SAMP(x), STDDEV_SAMP(x), VAR_POP(y), \
                              COVAR_SAMP(x, y), CORR(x, y), REGR_SLOPE(y, x), \
                              REGR_INTERCEPT(y, x) FROM t";

/// [`SQL`]'s aggregates in `f64`, in its order.
pub(crate) struct TwoPass {
    pub(crate) values: [f64; 8],
    /// `|AVG(y)| + |slope AVG(x)|`: REGR_INTERCEPT's bound is relative to its terms.
    pub(crate) intercept_terms: f64,
}

impl TwoPass {
    pub(crate) fn of(x: &[i128], y: &[i128]) -> Self {
        let n = x.len() as f64;
        // Exact integer sums (at most 2^62 * 10^7 < 2^127), then one rounding.
        let mean = |v: &[i128]| v.iter().sum::<i128>() as f64 / n;
        let (mx, my) = (mean(x), mean(y));
        let (mut sxx, mut syy, mut sxy) = (0f64, 0f64, 0f64);
        for (&a, &b) in x.iter().zip(y) {
            let (dx, dy) = (a as f64 - mx, b as f64 - my);
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
        }
        let slope = sxy / sxx;
        TwoPass {
            values: [
                mx,
                sxx / (n - 1.0),
                (sxx / (n - 1.0)).sqrt(),
                syy / n,
                sxy / (n - 1.0),
                sxy / (sxx * syy).sqrt(),
                slope,
                my - slope * mx,
            ],
            intercept_terms: my.abs() + (slope * mx).abs(),
        }
    }

    /// The same eight aggregates from exact integer sums, each rounded once, while the sums
    /// fit an `i128` (32-bit columns up to 10^7 rows: `n Σx² < 2^110`); `None` past that.
    /// Preferred to [`TwoPass::of`], whose running `f64` sums lose about `2^-43` relative
    /// over 10^7 rows: as much as the bounds being checked.
    #[allow(dead_code)] // the stats_at_size example's; the test's rows are few
    pub(crate) fn exact(x: &[i128], y: &[i128]) -> Option<Self> {
        let n = x.len() as i128;
        let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0i128, 0i128, 0i128, 0i128, 0i128);
        for (&a, &b) in x.iter().zip(y) {
            sx = sx.checked_add(a)?;
            sy = sy.checked_add(b)?;
            sxx = sxx.checked_add(a.checked_mul(a)?)?;
            syy = syy.checked_add(b.checked_mul(b)?)?;
            sxy = sxy.checked_add(a.checked_mul(b)?)?;
        }
        let moment =
            |s2: i128, sa: i128, sb: i128| n.checked_mul(s2)?.checked_sub(sa.checked_mul(sb)?);
        let (vx, vy, c) = (
            moment(sxx, sx, sx)?,
            moment(syy, sy, sy)?,
            moment(sxy, sx, sy)?,
        );
        let (nf, vx, vy, c) = (n as f64, vx as f64, vy as f64, c as f64);
        let (mx, my) = (sx as f64 / nf, sy as f64 / nf);
        let slope = c / vx;
        Some(TwoPass {
            values: [
                mx,
                vx / (nf * (nf - 1.0)),
                (vx / (nf * (nf - 1.0))).sqrt(),
                vy / (nf * nf),
                c / (nf * (nf - 1.0)),
                c / (vx.sqrt() * vy.sqrt()),
                slope,
                my - slope * mx,
            ],
            intercept_terms: my.abs() + (slope * mx).abs(),
        })
    }
}

/// The planner table's cells for [`SQL`] at a width (at the largest row count of the width):
/// `(relative, absolute)` exponents, absolute terms in the columns' last place;
/// REGR_INTERCEPT's relative term is of its terms, and its bound adds the slope's absolute
/// term times `|AVG(x)|`.
pub(crate) fn documented(bits: u32) -> [(i32, i32); 8] {
    let (avg, var, sd, slope, icpt) = match bits {
        8 => (-109, -100, -50, -84, -70),
        16 => (-101, -84, -42, -76, -54),
        32 => (-85, -52, -26, -60, -22),
        48 => (-69, -20, -10, -28, 3),
        63 => (-54, 10, 5, -13, 33),
        _ => panic!("BITS must be a width of the ladder: 8, 16, 32, 48 or 63"),
    };
    [
        (-43, avg),
        (-43, var),
        (-42, sd),
        (-43, var),
        (-43, var),
        (-41, -41),
        // Through the roots (two quotients) from 48 bits on.
        (if bits >= 48 { -42 } else { -43 }, slope),
        (-41, icpt),
    ]
}

/// The bound on each aggregate's error against [`TwoPass`] at `bits`: the documented cell,
/// plus the reference's own error (`2^-50` of the value, `2^-48` of the intercept's terms).
pub(crate) fn bounds(bits: u32, r: &TwoPass) -> [f64; 8] {
    let cells = documented(bits);
    let p = |e: i32| 2f64.powi(e);
    std::array::from_fn(|i| {
        let (rel, abs) = cells[i];
        let w = r.values[i].abs();
        let base = p(rel) * w + p(abs) + p(-50) * w;
        match i {
            // |CORR| <= 1: its bound is absolute.
            5 => p(rel) + p(abs) + p(-50),
            7 => (p(rel) + p(-48)) * r.intercept_terms + p(abs) + p(cells[6].1) * r.values[0].abs(),
            _ => base,
        }
    })
}
