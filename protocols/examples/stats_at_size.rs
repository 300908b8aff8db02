//! The moments at the sizes the planner promises (issue 14): every aggregate that divides or
//! takes a root, on the engine in memory, at 10^7 rows of 32-bit columns or 10^5 rows of 63-bit
//! ones, against a plain `f64` evaluation of the same rows — with the measured error set beside
//! the bound that `protocols::stats`' planner table documents for that width.
//!
//! ```text
//! cargo run --release -p protocols --example stats_at_size -- [ROWS] [BITS] [PARTIES] [grr|dn07]
//! ```
//!
//! `BITS` is 32 (default; `ROWS` up to 10^7) or 63 (`ROWS` up to 10^5): both columns, `x` and
//! `y`, are integers of that width, drawn over the whole width (`y` correlated with `x`), from
//! three owners. `PARTIES` is 3, 5 or 7 (t = (n - 1) / 2). One `RESULT` line per aggregate:
//! `got`, `reference`, the absolute and relative error, the documented `bound`, and
//! `within_bound=yes|no`; a final line with the time and the peak memory. The reference is
//! computed from exact integer sums where they fit an `i128` (32 bits), else a two-pass `f64`
//! evaluation (its own error, about 2^-50 relative, is added to the bound).

use std::time::Instant;

use mpc::Field;
use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, MulProtocol, Params, PartyId};
use protocols::backend::{Clear, Secret};
use protocols::dataset::{ColumnSpec, ColumnType, Schema};
use protocols::stats::{GroupMinimums, Inputs, QueryOptions, Value, parse, run_query};
use rand::{Rng, SeedableRng};

const SQL: &str = "SELECT AVG(x), VAR_SAMP(x), STDDEV_SAMP(x), VAR_POP(y), COVAR_SAMP(x, y), \
                   CORR(x, y), REGR_SLOPE(y, x), REGR_INTERCEPT(y, x) FROM t";

/// The documented bound of each aggregate of [`SQL`] at the largest row count of the width
/// (`protocols::stats` module doc, "The planner's table"): (relative, absolute) as powers of two.
fn documented(bits: u32) -> [(i32, i32); 8] {
    // Absolute terms by width: AVG, VAR (and COVAR), STDDEV, REGR_SLOPE, REGR_INTERCEPT.
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
        // REGR_INTERCEPT at 48 and 63 bits: measured, not derived (module doc of
        // protocols::stats::aggregate).
        (
            match bits {
                48 => -30,
                63 => -16,
                _ => -41,
            },
            icpt,
        ),
    ]
}

fn schema(bits: u32) -> Schema {
    let col = |name: &str| ColumnSpec {
        name: name.into(),
        ty: ColumnType::Integer { bits },
    };
    Schema {
        columns: vec![col("x"), col("y")],
    }
}

/// Two-pass moments in `f64`: the same eight aggregates, in [`SQL`]'s order, and the scale of
/// `REGR_INTERCEPT`'s terms (its bound is relative to them, not to the result).
fn reference(x: &[i128], y: &[i128]) -> ([f64; 8], f64) {
    let n = x.len() as f64;
    let mean = |v: &[i128]| {
        // Exact integer sum (at most 2^62 * 10^7 < 2^127), then one rounding.
        v.iter().sum::<i128>() as f64 / n
    };
    let (mx, my) = (mean(x), mean(y));
    let (mut sxx, mut syy, mut sxy) = (0f64, 0f64, 0f64);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (a as f64 - mx, b as f64 - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let slope = sxy / sxx;
    let values = [
        mx,
        sxx / (n - 1.0),
        (sxx / (n - 1.0)).sqrt(),
        syy / n,
        sxy / (n - 1.0),
        sxy / (sxx * syy).sqrt(),
        slope,
        my - slope * mx,
    ];
    (values, my.abs() + (slope * mx).abs())
}

/// The same eight aggregates from exact integer sums, rounded once each, while the sums fit
/// an `i128` (32-bit columns up to 10^7 rows: `n Σx² < 2^110`). Preferred to [`reference`],
/// whose running `f64` sums lose about `2^-43` relative over 10^7 rows: as much as the bounds
/// being checked.
fn exact_reference(x: &[i128], y: &[i128]) -> Option<([f64; 8], f64)> {
    let n = x.len() as i128;
    let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0i128, 0i128, 0i128, 0i128, 0i128);
    for (&a, &b) in x.iter().zip(y) {
        sx = sx.checked_add(a)?;
        sy = sy.checked_add(b)?;
        sxx = sxx.checked_add(a.checked_mul(a)?)?;
        syy = syy.checked_add(b.checked_mul(b)?)?;
        sxy = sxy.checked_add(a.checked_mul(b)?)?;
    }
    let moment = |s2: i128, sa: i128, sb: i128| n.checked_mul(s2)?.checked_sub(sa.checked_mul(sb)?);
    let (vx, vy, c) = (
        moment(sxx, sx, sx)?,
        moment(syy, sy, sy)?,
        moment(sxy, sx, sy)?,
    );
    let (nf, vx, vy, c) = (n as f64, vx as f64, vy as f64, c as f64);
    let (mx, my) = (sx as f64 / nf, sy as f64 / nf);
    let slope = c / vx;
    let values = [
        mx,
        vx / (nf * (nf - 1.0)),
        (vx / (nf * (nf - 1.0))).sqrt(),
        vy / (nf * nf),
        c / (nf * (nf - 1.0)),
        c / (vx.sqrt() * vy.sqrt()),
        slope,
        my - slope * mx,
    ];
    Some((values, my.abs() + (slope * mx).abs()))
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let arg = |i: usize| std::env::args().nth(i);
    let bits: u32 = arg(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    let rows: usize = arg(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if bits == 63 { 100_000 } else { 10_000_000 });
    let n: usize = arg(3).and_then(|a| a.parse().ok()).unwrap_or(3);
    let mul: MulProtocol = arg(4).map_or(MulProtocol::Grr, |p| p.parse().expect("grr or dn07"));
    let bounds = documented(bits);
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(14);
    // Over the whole width: |x| < 2^(bits-1); y = x/2 + noise of a quarter of the range.
    let half = 1i128 << (bits - 2);
    let x: Vec<i128> = (0..rows)
        .map(|_| rng.random_range(-2 * half + 1..2 * half))
        .collect();
    let y: Vec<i128> = x
        .iter()
        .map(|&v| v / 2 + rng.random_range(-half / 2..half / 2))
        .collect();
    let (want, intercept_scale) = exact_reference(&x, &y).unwrap_or_else(|| reference(&x, &y));
    let owner_rows: Vec<usize> = vec![rows / 3, rows / 3, rows - 2 * (rows / 3)];
    let sql = std::env::var("STATS_AT_SIZE_SQL").unwrap_or_else(|_| SQL.to_string());
    let query = parse(&sql, |t| (t == "t").then(|| schema(bits))).expect("the SQL parses");
    let options = QueryOptions::with_minimums(GroupMinimums { owners: 1, rows: 1 });
    let start = Instant::now();
    let on_clear = std::env::var("STATS_AT_SIZE_CLEAR").is_ok();
    let result = if on_clear {
        // The same query on the clear backend (which also checks every declared bound).
        let inputs = Inputs {
            columns: [&x, &y]
                .iter()
                .map(|v| {
                    Secret::from_shares(v.iter().map(|&a| mpc::Fr::from_i128(a)).collect(), bits)
                        .expect("the bench's values fit")
                })
                .collect(),
            owner_rows: owner_rows.clone(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        rt.block_on(run_query(&mut Clear::default(), &query, &inputs, &options))
            .expect("the query runs in the clear")
    } else {
        let results = run_parties(
            Params::new(n, (n - 1) / 2).expect("3, 5 or 7 parties"),
            EngineConfig {
                mul,
                check_openings: true,
                ..Default::default()
            },
            14,
            move |mut e| {
                let (q, x, y, owner_rows) =
                    (query.clone(), x.clone(), y.clone(), owner_rows.clone());
                let options = options.clone();
                async move {
                    let columns = [(&x[..], bits), (&y[..], bits)];
                    let inputs = Inputs::dealt(&mut e, PartyId(0), &columns, owner_rows).await?;
                    Ok(run_query(&mut e, &q, &inputs, &options).await)
                }
            },
        );
        agreed(results).expect("every party ran the query and agrees")
    };
    let secs = start.elapsed().as_secs_f64();
    let backend = if on_clear { "clear" } else { "engine" };
    let mut all_within = true;
    for (i, value) in result.rows[0].values.iter().enumerate() {
        let Value::Float(got) = *value else {
            panic!("{}: {value:?}", result.columns[i])
        };
        let (rel, abs) = bounds[i];
        let scale = if i == 7 {
            intercept_scale
        } else {
            want[i].abs()
        };
        let bound = 2f64.powi(rel) * scale + 2f64.powi(abs) + 2f64.powi(-50) * scale;
        let error = (got - want[i]).abs();
        let within = error <= bound;
        all_within &= within;
        println!(
            "RESULT bench=stats_at_size backend={backend} aggregate={} rows={rows} bits={bits} n={n} mul={mul:?} got={got:e} reference={:e} abs_error={error:e} rel_error={:e} bound=2^{rel}*{scale:e}+2^{abs} within_bound={}",
            result.columns[i].replace(' ', ""),
            want[i],
            error / want[i].abs().max(f64::MIN_POSITIVE),
            if within { "yes" } else { "no" }
        );
    }
    println!(
        "RESULT bench=stats_at_size backend={backend} rows={rows} bits={bits} n={n} mul={mul:?} seconds={secs:.1} peak_rss_mb={:.0} all_within_bound={}",
        peak_rss_mb(),
        if all_within { "yes" } else { "no" }
    );
    if !all_within {
        std::process::exit(1);
    }
}
