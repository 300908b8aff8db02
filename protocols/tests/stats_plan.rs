//! The planner's promise, checked without running the rows (`protocols::stats::fit::fits`):
//! every aggregate of the SQL subset fits the engine's range for each width of the public
//! ladder (integer and fixed point), at 10^3 .. 10^7 rows for columns up to 32 bits and up to
//! 10^5 rows for 48 and 63 bits, alone and all together, with `WHERE`, `GROUP BY` and DP; and a
//! query that cannot fit is refused naming its aggregate and the remedy.

use protocols::dataset::{ColumnSpec, ColumnType, Schema, WIDTH_LADDER};
use protocols::stats::fit::{check, fits};
use protocols::stats::{Query, StatsError, parse};

fn schema(bits: u32, fixed: bool) -> Schema {
    let num = |name: &str| ColumnSpec {
        name: name.into(),
        ty: if fixed {
            ColumnType::Fixed { frac: 16, bits }
        } else {
            ColumnType::Integer { bits }
        },
    };
    Schema {
        columns: vec![
            num("x"),
            num("y"),
            ColumnSpec {
                name: "g".into(),
                ty: ColumnType::Categorical {
                    domain: vec!["a".into(), "b".into(), "c".into()],
                },
            },
        ],
    }
}

/// Every aggregate of the subset (order statistics last: no DP for them).
const MOMENTS: &[&str] = &[
    "COUNT(*)",
    "SUM(x)",
    "AVG(x)",
    "VAR_SAMP(x)",
    "VAR_POP(x)",
    "STDDEV_SAMP(x)",
    "STDDEV_POP(x)",
    "COVAR_SAMP(y, x)",
    "COVAR_POP(y, x)",
    "CORR(y, x)",
    "REGR_SLOPE(y, x)",
    "REGR_INTERCEPT(y, x)",
    "HISTOGRAM(x, -5, 0, 7)",
];
const ORDER: &[&str] = &[
    "MIN(x)",
    "MAX(x)",
    "MEDIAN(x)",
    "PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY x)",
];

fn query(bits: u32, fixed: bool, select: &str, tail: &str) -> Query {
    let sql = format!("SELECT {select} FROM t{tail}");
    parse(&sql, |_| Some(schema(bits, fixed))).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The row counts the issue asks for at a width.
fn row_counts(bits: u32) -> &'static [usize] {
    if bits <= 32 {
        &[1_000, 10_000, 100_000, 1_000_000, 10_000_000]
    } else {
        &[1_000, 10_000, 100_000]
    }
}

#[test]
fn every_aggregate_fits_at_every_width_and_row_count() {
    let mut failures = Vec::new();
    for bits in WIDTH_LADDER {
        for fixed in [false, true] {
            for &rows in row_counts(bits) {
                let mut try_fit = |select: String, tail: &str, eps: Option<f64>| {
                    let q = query(bits, fixed, &select, tail);
                    if let Err(e) = fits(&q, rows, eps) {
                        failures.push(format!(
                            "{select}{tail} ({bits} bits, fixed {fixed}, {rows} rows, eps {eps:?}): {e}"
                        ));
                    }
                };
                for agg in MOMENTS.iter().chain(ORDER) {
                    try_fit(agg.to_string(), "", None);
                    try_fit(format!("g, {agg}"), " WHERE x > 0 GROUP BY g", None);
                }
                for agg in MOMENTS {
                    try_fit(agg.to_string(), " GROUP BY g", Some(1.0));
                    try_fit(agg.to_string(), "", Some(0.01));
                }
                try_fit(MOMENTS.join(", "), " WHERE y < 3 GROUP BY g", None);
                try_fit(ORDER.join(", "), " GROUP BY g", None);
                try_fit(MOMENTS.join(", "), "", Some(0.1));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} plans do not fit:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_query_that_cannot_fit_names_its_aggregate_and_the_remedy() {
    // A declared 120-bit column: a variance of it cannot fit at any size.
    let wide = Schema {
        columns: vec![ColumnSpec {
            name: "salary".into(),
            ty: ColumnType::Integer { bits: 120 },
        }],
    };
    let q = parse(
        "SELECT COUNT(*), SUM(salary), VAR_SAMP(salary) FROM t",
        |_| Some(wide.clone()),
    )
    .unwrap();
    let e = check(&q, 1000, None).unwrap_err();
    let StatsError::TooWide {
        aggregate, remedy, ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(aggregate, "VAR_SAMP(salary)", "{e}");
    assert!(
        remedy.contains("declare salary with at most 63 bits"),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("VAR_SAMP(salary) over 1000 rows does not fit"),
        "{text}"
    );
    // The counts and sums alone fit.
    let q = parse("SELECT COUNT(*), SUM(salary) FROM t", |_| {
        Some(wide.clone())
    })
    .unwrap();
    assert!(check(&q, 1000, None).is_ok());
}
