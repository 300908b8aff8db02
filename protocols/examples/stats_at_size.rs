//! The moments at the sizes the planner promises (issue 14): every aggregate that divides or
//! takes a root, on the engine in memory, at 10^7 rows of 32-bit columns or 10^5 rows of 63-bit
//! ones, against a plain `f64` evaluation of the same rows — with the measured error set beside
//! the bound that `protocols::stats`' planner table documents for that width.
//!
//! ```text
//! cargo run --release -p protocols --example stats_at_size -- [ROWS] [BITS] [PARTIES] [grr|dn07]
//! ```
//!
//! `BITS` is a width of the ladder: 8, 16, 32 (default; `ROWS` up to 10^7), 48 or 63 (`ROWS` up
//! to 10^5): both columns, `x` and
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

#[path = "../tests/common/whole_width.rs"]
mod whole_width;

fn schema(bits: u32) -> Schema {
    let col = |name: &str| ColumnSpec {
        name: name.into(),
        ty: ColumnType::Integer { bits },
    };
    Schema {
        columns: vec![col("x"), col("y")],
    }
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
    let cells = whole_width::documented(bits);
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
    // Exact integer sums where they fit an i128 (32-bit columns to 10^7 rows), else two-pass.
    let reference =
        whole_width::TwoPass::exact(&x, &y).unwrap_or_else(|| whole_width::TwoPass::of(&x, &y));
    let (want, intercept_scale) = (reference.values, reference.intercept_terms);
    let bounds = whole_width::bounds(bits, &reference);
    let owner_rows: Vec<usize> = vec![rows / 3, rows / 3, rows - 2 * (rows / 3)];
    let sql = std::env::var("STATS_AT_SIZE_SQL").unwrap_or_else(|_| whole_width::SQL.to_string());
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
        let ((rel, abs), bound) = (cells[i], bounds[i]);
        let scale = if i == 7 {
            intercept_scale
        } else {
            want[i].abs()
        };
        let error = (got - want[i]).abs();
        let within = error <= bound;
        all_within &= within;
        println!(
            "RESULT bench=stats_at_size backend={backend} aggregate={} rows={rows} bits={bits} n={n} mul={mul:?} got={got:e} reference={:e} abs_error={error:e} rel_error={:e} error_over_scale={:e} bound=2^{rel}*{scale:e}+2^{abs}{} bound_value={bound:e} within_bound={}",
            result.columns[i].replace(' ', ""),
            want[i],
            error / want[i].abs().max(f64::MIN_POSITIVE),
            error / scale.max(f64::MIN_POSITIVE),
            if i == 7 {
                format!("+2^{}*|AVG(x)|", cells[6].1)
            } else {
                String::new()
            },
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
