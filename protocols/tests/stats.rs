//! Joint statistics: every aggregate, with and without WHERE and GROUP BY, on the `Clear`
//! backend against a plain Rust evaluation of the same SQL on the same rows; a selection on the
//! engine (n = 3, t = 1, both multiplication protocols) against `Clear`; suppression on both
//! sides of the owner and row minimums; differential privacy; parser errors with positions;
//! the scan in chunks (as small as one row) against the whole scan, exactly, and on the engine
//! at n = 3, 5, 7.
//!
//! Tolerance: integers (counts, sums, minimums, maximums, histograms, and percentiles, which
//! are exact rationals) must match exactly. A fixed-point result `v` must be within
//! `1e-6 (1 + |v|) + 1e-9 S` of the reference, where `S` is the scale of the quantity's inputs
//! (`max|x|²` for second moments, `max|y| max|x|` for covariances and `max|y| (1 + max|x|)`
//! for intercepts): the moments use at least 40 fractional bits at these bounds, so the engine's
//! division and truncation errors are far below it.

use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, Field, Fr, MulProtocol, Params, PartyId, Shared};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use protocols::backend::{Clear, Counting, Secret};
use protocols::dataset::{ColumnSpec, ColumnType, Schema};
use protocols::policy::Policy;
use protocols::stats::order::Selection;
use protocols::stats::sql::{Aggregate, CmpOp, Predicate, Query};
use protocols::stats::{
    GroupMinimums, Grouping, Inputs, QueryOptions, QueryResult, StatsError, Value, parse,
    run_query, run_query_in_chunks,
};

#[path = "common/whole_width.rs"]
mod whole_width;

fn schema() -> Schema {
    let col = |name: &str, ty| ColumnSpec {
        name: name.into(),
        ty,
    };
    Schema {
        columns: vec![
            col("a", ColumnType::Integer { bits: 20 }),
            col("f", ColumnType::Fixed { frac: 8, bits: 24 }),
            col(
                "g",
                ColumnType::Categorical {
                    domain: vec!["x".into(), "y".into(), "z".into()],
                },
            ),
            col("k", ColumnType::Integer { bits: 4 }),
            col("id", ColumnType::Identifier),
        ],
    }
}

/// A table: per owner, rows of encoded values (a, f scaled, g index, k, id hash).
#[derive(Clone, Debug)]
struct Table {
    owners: Vec<Vec<[i128; 5]>>,
}

impl Table {
    fn rows(&self) -> impl Iterator<Item = (usize, &[i128; 5])> {
        self.owners
            .iter()
            .enumerate()
            .flat_map(|(o, rows)| rows.iter().map(move |r| (o, r)))
    }
    fn column(&self, c: usize) -> Vec<i128> {
        self.rows().map(|(_, r)| r[c]).collect()
    }
    fn inputs(&self) -> Inputs {
        let s = schema();
        Inputs {
            columns: (0..5)
                .map(|c| secret(&self.column(c), s.columns[c].ty.bits()))
                .collect(),
            owner_rows: self.owners.iter().map(Vec::len).collect(),
        }
    }
}

fn secret(values: &[i128], bits: u32) -> Secret {
    Shared::from_shares(values.iter().map(|&v| Fr::from_i128(v)).collect(), bits).unwrap()
}

fn table_strategy() -> impl Strategy<Value = Table> {
    let row = (
        -1000i128..1000,
        -25_600i128..25_600,
        0i128..3,
        0i128..6,
        0i128..50,
    )
        .prop_map(|(a, f, g, k, id)| {
            [
                a,
                f,
                g,
                k,
                protocols::dataset::hash_identifier(&format!("p{id}")),
            ]
        });
    (2usize..=4)
        .prop_flat_map(move |owners| {
            prop::collection::vec(prop::collection::vec(row.clone(), 3..=10), owners)
        })
        .prop_map(|owners| Table { owners })
}

fn query(sql: &str) -> Query {
    parse(sql, |t| (t == "payroll").then(schema)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn options(owners: usize, rows: usize) -> QueryOptions {
    QueryOptions::with_minimums(GroupMinimums { owners, rows })
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

// ---------------------------------------------------------------------------------------------
// The reference: the same SQL evaluated in the clear, in plain Rust.

fn holds(p: &Predicate, row: &[i128; 5]) -> bool {
    match p {
        Predicate::Compare { column, op, value } => {
            let x = row[*column];
            match op {
                CmpOp::Eq => x == *value,
                CmpOp::Ne => x != *value,
                CmpOp::Lt => x < *value,
                CmpOp::Le => x <= *value,
                CmpOp::Gt => x > *value,
                CmpOp::Ge => x >= *value,
            }
        }
        Predicate::Const(b) => *b,
        Predicate::And(a, b) => holds(a, row) && holds(b, row),
        Predicate::Or(a, b) => holds(a, row) || holds(b, row),
        Predicate::Not(a) => !holds(a, row),
    }
}

fn real(c: usize, v: i128) -> f64 {
    v as f64 / (schema().columns[c].ty.frac() as f64).exp2()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn covar(y: &[f64], x: &[f64], sample: bool) -> f64 {
    let (my, mx) = (mean(y), mean(x));
    let s: f64 = y.iter().zip(x).map(|(a, b)| (a - my) * (b - mx)).sum();
    s / (x.len() - sample as usize) as f64
}

/// The reference value and its tolerance scale.
fn reference(agg: &Aggregate, rows: &[&[i128; 5]], label: &str) -> (Value, f64) {
    let col = |c: usize| rows.iter().map(|r| real(c, r[c])).collect::<Vec<f64>>();
    let max = |c: usize| col(c).iter().fold(0f64, |m, v| m.max(v.abs()));
    let n = rows.len();
    let float = |v: f64, s: f64| (Value::Float(v), s);
    let exact = |c: usize, v: i128| match schema().columns[c].ty.frac() {
        0 => Value::Int(v),
        _ => Value::Float(real(c, v)),
    };
    match *agg {
        Aggregate::GroupKey => (Value::Text(label.into()), 0.0),
        Aggregate::Count => (Value::Int(n as i128), 0.0),
        Aggregate::Sum(c) => (exact(c, rows.iter().map(|r| r[c]).sum()), 0.0),
        Aggregate::Avg(c) => float(mean(&col(c)), max(c)),
        Aggregate::Min(c) => (exact(c, rows.iter().map(|r| r[c]).min().unwrap()), 0.0),
        Aggregate::Max(c) => (exact(c, rows.iter().map(|r| r[c]).max().unwrap()), 0.0),
        Aggregate::Var { col: c, sample } | Aggregate::Stddev { col: c, sample } => {
            if sample && n < 2 {
                return (Value::Null, 0.0);
            }
            let v = covar(&col(c), &col(c), sample);
            match agg {
                Aggregate::Var { .. } => float(v, max(c) * max(c)),
                _ => float(v.sqrt(), max(c)),
            }
        }
        Aggregate::Covar {
            cols: (y, x),
            sample,
        } => {
            if sample && n < 2 {
                return (Value::Null, 0.0);
            }
            float(covar(&col(y), &col(x), sample), max(x) * max(y))
        }
        Aggregate::Corr(y, x) | Aggregate::RegrSlope(y, x) | Aggregate::RegrIntercept(y, x) => {
            let (vy, vx) = (
                covar(&col(y), &col(y), false),
                covar(&col(x), &col(x), false),
            );
            let exact_zero = |c: usize| rows.iter().all(|r| r[c] == rows[0][c]);
            let c = covar(&col(y), &col(x), false);
            match agg {
                Aggregate::Corr(..) if exact_zero(x) || exact_zero(y) => (Value::Null, 0.0),
                Aggregate::Corr(..) => float(c / (vx.sqrt() * vy.sqrt()), 1.0),
                _ if exact_zero(x) => (Value::Null, 0.0),
                Aggregate::RegrSlope(..) => float(c / vx, max(y)),
                _ => float(
                    mean(&col(y)) - c / vx * mean(&col(x)),
                    max(y) * (1.0 + max(x)),
                ),
            }
        }
        Aggregate::Percentile { col: c, num, den } => {
            let mut v: Vec<i128> = rows.iter().map(|r| r[c]).collect();
            v.sort();
            // h = p (n - 1); exact: den x_k + r (x_(k+1) - x_k) over den.
            let t = num * (n as i128 - 1);
            let (k, r) = ((t / den) as usize, t % den);
            let next = if r == 0 { v[k] } else { v[k + 1] };
            let a = den * v[k] + r * (next - v[k]);
            (Value::Float(real(c, a) / den as f64), 0.0)
        }
        Aggregate::Histogram { col: c, ref bounds } => {
            let mut b = vec![0i128; bounds.len() + 1];
            for r in rows {
                b[bounds.iter().filter(|&&bd| r[c] >= bd).count()] += 1;
            }
            (Value::Buckets(b), 0.0)
        }
    }
}

fn evaluate(q: &Query, t: &Table, min: GroupMinimums) -> (QueryResult, Vec<Vec<f64>>) {
    let labels: Vec<String> = match q.group_by {
        Some(g) => match &q.schema.columns[g].ty {
            ColumnType::Categorical { domain } => domain.clone(),
            _ => unreachable!(),
        },
        None => vec![String::new()],
    };
    let mut out = QueryResult {
        columns: q.select.iter().map(|i| i.label.clone()).collect(),
        group_by: q.group_by.map(|g| q.schema.columns[g].name.clone()),
        rows: vec![],
        suppressed: vec![],
        epsilon: None,
        private: None,
    };
    let mut scales = Vec::new();
    for (gi, label) in labels.iter().enumerate() {
        let rows: Vec<(usize, &[i128; 5])> = t
            .rows()
            .filter(|(_, r)| q.filter.as_ref().is_none_or(|p| holds(p, r)))
            .filter(|(_, r)| q.group_by.is_none_or(|g| r[g] == gi as i128))
            .collect();
        let mut owners: Vec<usize> = rows.iter().map(|r| r.0).collect();
        owners.dedup();
        if rows.len() < min.rows.max(1) || owners.len() < min.owners {
            out.suppressed.push(label.clone());
            continue;
        }
        let rs: Vec<&[i128; 5]> = rows.iter().map(|r| r.1).collect();
        let (values, s): (Vec<Value>, Vec<f64>) = q
            .select
            .iter()
            .map(|i| reference(&i.aggregate, &rs, label))
            .unzip();
        out.rows.push(protocols::stats::ResultRow {
            group: q.group_by.map(|_| label.clone()),
            values,
        });
        scales.push(s);
    }
    (out, scales)
}

fn assert_close(got: &QueryResult, want: &QueryResult, scales: &[Vec<f64>], sql: &str) {
    assert_eq!(got.suppressed, want.suppressed, "{sql}: suppressed groups");
    assert_eq!(got.rows.len(), want.rows.len(), "{sql}: reported groups");
    for (r, (g, w)) in got.rows.iter().zip(&want.rows).enumerate() {
        assert_eq!(g.group, w.group, "{sql}");
        for (i, (gv, wv)) in g.values.iter().zip(&w.values).enumerate() {
            match (gv, wv) {
                (Value::Float(a), Value::Float(b)) => {
                    let tol = 1e-6 * (1.0 + b.abs()) + 1e-9 * scales[r][i];
                    assert!(
                        (a - b).abs() <= tol,
                        "{sql}: {} in group {:?}: got {a}, want {b}",
                        got.columns[i],
                        g.group
                    );
                }
                _ => assert_eq!(gv, wv, "{sql}: {} in group {:?}", got.columns[i], g.group),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Every aggregate, with and without WHERE and GROUP BY, on Clear against the reference.

const AGGREGATES: &[&str] = &[
    "COUNT(*), COUNT(a), SUM(a), SUM(f), AVG(a), AVG(f)",
    "MIN(a), MAX(a), MIN(f), MAX(f)",
    "VAR_SAMP(a), VAR_POP(f), VARIANCE(f), STDDEV_SAMP(f), STDDEV_POP(a), STDDEV(a)",
    "MEDIAN(a), PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY f), PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY a DESC)",
    "CORR(a, f), COVAR_SAMP(f, a), COVAR_POP(a, k), REGR_SLOPE(a, f), REGR_INTERCEPT(f, a)",
    "HISTOGRAM(a, -500, 0, 250.5), HISTOGRAM(f, 0)",
];

const FILTERS: &[&str] = &[
    "",
    " WHERE a > -200",
    " WHERE (g = 'x' OR k < 3) AND NOT f >= 50.5",
    " WHERE id <> 'p3' AND k <> 5",
];

fn check_all(t: &Table, min: GroupMinimums) {
    for aggs in AGGREGATES {
        for filter in FILTERS {
            for group in ["", " GROUP BY g"] {
                let select = if group.is_empty() {
                    aggs.to_string()
                } else {
                    format!("g, {aggs}")
                };
                let sql = format!("SELECT {select} FROM payroll{filter}{group}");
                let q = query(&sql);
                let got = block_on(run_query(
                    &mut Clear::default(),
                    &q,
                    &t.inputs(),
                    &options(min.owners, min.rows),
                ))
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let (want, scales) = evaluate(&q, t, min);
                assert_close(&got, &want, &scales, &sql);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn every_aggregate_matches_the_clear_evaluation(t in table_strategy()) {
        check_all(&t, GroupMinimums { owners: 1, rows: 1 });
        check_all(&t, GroupMinimums { owners: 2, rows: 6 });
    }
}

/// Edge values: constant columns (NULL correlations and slopes), one row per group (NULL
/// sample statistics), values at the columns' bounds.
#[test]
fn nulls_and_bound_values() {
    let lo = -(1 << 20);
    let hi = (1 << 20) - 1;
    let h = protocols::dataset::hash_identifier("p");
    let t = Table {
        owners: vec![
            vec![[lo, 5, 0, 1, h], [hi, 5, 1, 1, h], [7, -(1 << 24), 1, 1, h]],
            vec![[hi, 5, 1, 1, h], [lo, (1 << 24) - 1, 1, 1, h]],
        ],
    };
    check_all(&t, GroupMinimums { owners: 1, rows: 1 });
    let q = query(
        "SELECT VAR_SAMP(a), CORR(a, k), REGR_SLOPE(a, k), CORR(k, a) FROM payroll WHERE g = 'x'",
    );
    let got = block_on(run_query(
        &mut Clear::default(),
        &q,
        &t.inputs(),
        &options(1, 1),
    ))
    .unwrap();
    assert_eq!(got.rows[0].values, vec![Value::Null; 4]);
}

// ---------------------------------------------------------------------------------------------
// Suppression on both sides of the limits.

/// `rows` rows in group x spread over `owners` owners, plus 12 rows in group y from 4 owners.
fn table_with(owners: usize, rows: usize) -> Table {
    let mut t = Table {
        owners: vec![Vec::new(); 4],
    };
    for i in 0..rows {
        t.owners[i % owners].push([i as i128, 0, 0, 0, 0]);
    }
    for i in 0..12 {
        t.owners[i % 4].push([100 + i as i128, 0, 1, 0, 0]);
    }
    t
}

#[test]
fn suppression_at_the_owner_and_row_limits() {
    let min = GroupMinimums::from_policies([&Policy::default()]);
    assert_eq!(
        min,
        GroupMinimums {
            owners: 3,
            rows: 10
        }
    );
    let q = query("SELECT g, COUNT(*), SUM(a) FROM payroll GROUP BY g");
    let run = |t: &Table, min: GroupMinimums| {
        block_on(run_query(
            &mut Clear::default(),
            &q,
            &t.inputs(),
            &QueryOptions::with_minimums(min),
        ))
        .unwrap()
    };
    // At the limits: reported.
    let r = run(&table_with(3, 10), min);
    assert_eq!(r.suppressed, vec!["z".to_string()]);
    assert_eq!(
        r.rows[0].values,
        vec![Value::Text("x".into()), Value::Int(10), Value::Int(45)]
    );
    // One row short, or one owner short: suppressed, and nothing of its size is released.
    for t in [table_with(3, 9), table_with(2, 10)] {
        let r = run(&t, min);
        assert_eq!(r.suppressed, vec!["x".to_string(), "z".to_string()]);
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].group.as_deref(), Some("y"));
        assert!(!serde_json::to_string(&r).unwrap().contains("\"x\",9"));
    }
    // The strictest policy wins.
    let strict = Policy::from_toml("min_group_rows = 11\nmin_group_owners = 4").unwrap();
    let min = GroupMinimums::from_policies([&Policy::default(), &strict]);
    assert_eq!(
        min,
        GroupMinimums {
            owners: 4,
            rows: 11
        }
    );
    assert_eq!(
        run(&table_with(4, 11), min).suppressed,
        vec!["z".to_string()]
    );
    assert_eq!(
        run(&table_with(4, 10), min).suppressed,
        vec!["x".to_string(), "z".to_string()]
    );
    assert_eq!(
        run(&table_with(3, 11), min).suppressed,
        vec!["x".to_string(), "z".to_string()]
    );
    // Ungrouped: the whole table is one group.
    let q = query("SELECT COUNT(*) FROM payroll WHERE g = 'x'");
    let t = table_with(3, 9);
    let r = block_on(run_query(
        &mut Clear::default(),
        &q,
        &t.inputs(),
        &options(3, 10),
    ))
    .unwrap();
    assert!(r.rows.is_empty() && r.suppressed == vec![String::new()]);
}

// ---------------------------------------------------------------------------------------------
// Rounds do not grow with the rows (but for MIN/MAX, and percentiles past 2^bits rows).

fn batches(sql: &str, rows: usize) -> u64 {
    counts(sql, rows).batches
}

fn counts(sql: &str, rows: usize) -> protocols::backend::OpCounts {
    counts_with(sql, rows, Selection::default())
}

fn counts_with(sql: &str, rows: usize, selection: Selection) -> protocols::backend::OpCounts {
    let opts = QueryOptions {
        selection,
        ..options(1, 1)
    };
    let t = counting_table(rows);
    let mut c = Counting::new(Clear::default());
    block_on(run_query(&mut c, &query(sql), &t.inputs(), &opts)).unwrap();
    c.counts
}

/// Every operation count of queries that use every aggregate, pinned: what a refactoring of
/// the scan and the aggregates must leave unchanged (the same calls, elements, comparisons,
/// divisions and roots), and what a change to a protocol must update knowingly. One query
/// grouped and filtered (`AND`, `OR`, `NOT`), one over every row (the local sums), one with
/// noise, and one over 63-bit columns (the slope and intercept through the roots).
#[test]
fn operation_counts_are_pinned() {
    let grouped = "SELECT g, COUNT(*), SUM(a), AVG(f), VAR_SAMP(a), STDDEV_POP(f), COVAR_SAMP(f, a), COVAR_POP(a, k), CORR(a, f), REGR_SLOPE(a, f), REGR_INTERCEPT(f, a), HISTOGRAM(a, 10, 50), MIN(f), MAX(k), MEDIAN(k) FROM payroll WHERE k <> 2 AND (a > 3 OR NOT f < 5) GROUP BY g";
    let whole =
        "SELECT COUNT(*), AVG(a), VAR_POP(f), STDDEV_SAMP(a), REGR_INTERCEPT(a, k) FROM payroll";
    let noisy = "SELECT g, COUNT(*), SUM(a), AVG(f), VAR_POP(a), CORR(a, f), HISTOGRAM(a, 10) FROM payroll GROUP BY g";
    let got = [
        counts(grouped, 40),
        counts(whole, 40),
        noisy_counts(noisy, 40),
        wide_counts(),
    ]
    .map(|c| format!("{c:?}"));
    let want = [
        // MEDIAN(k) per group runs the default bit-sliced selection (`order::Selection`): one
        // binary-domain call per group (3 x 43 rows decomposed and opened, its ANDs not field
        // products) and the quotient search (one `le` of 3 elements per bit of a count),
        // instead of the field decomposition (random bits, 43 x 4 products) and the binary
        // path's products per row and bit. The GROUP BY one-hot runs in the binary domain
        // (`Grouping::Binary`): one `one_hot` call (43 rows decomposed and opened) instead of
        // 3 x 43 equalities in the `eq` call, which keeps the WHERE's `k <> 2` (one batch more).
        "OpCounts { multiplications: 2953, comparisons: 1442, truncations: 141, opened: 238, divisions: 30, roots: 9, random_bits: 0, decomposed: 172, masks: 0, tags: 0, batches: 131 }",
        "OpCounts { multiplications: 453, comparisons: 136, truncations: 25, opened: 8, divisions: 5, roots: 1, random_bits: 0, decomposed: 0, masks: 0, tags: 0, batches: 56 }",
        // No WHERE: the one-hot's call replaces the `eq` call (3 x 43 equalities).
        "OpCounts { multiplications: 1101, comparisons: 1945, truncations: 54, opened: 70, divisions: 12, roots: 6, random_bits: 68832, decomposed: 43, masks: 0, tags: 0, batches: 52 }",
        "OpCounts { multiplications: 734, comparisons: 323, truncations: 39, opened: 13, divisions: 8, roots: 3, random_bits: 0, decomposed: 0, masks: 0, tags: 0, batches: 72 }",
    ];
    assert_eq!(got, want);
}

fn counting_table(rows: usize) -> Table {
    Table {
        owners: vec![
            (0..rows)
                .map(|i| [i as i128 % 97, i as i128, i as i128 % 3, 1, 0])
                .collect(),
            vec![[1, 1, 0, 1, 0]; 3],
        ],
    }
}

fn noisy_counts(sql: &str, rows: usize) -> protocols::backend::OpCounts {
    let options = QueryOptions {
        epsilon: Some(1.0),
        ..options(1, 1)
    };
    let mut c = Counting::new(Clear::default());
    block_on(run_query(
        &mut c,
        &query(sql),
        &counting_table(rows).inputs(),
        &options,
    ))
    .unwrap();
    c.counts
}

/// `salary` and `bonus`, declared 63 bits wide.
fn wide_schema() -> Schema {
    Schema {
        columns: vec![
            ColumnSpec {
                name: "salary".into(),
                ty: ColumnType::Integer { bits: 63 },
            },
            ColumnSpec {
                name: "bonus".into(),
                ty: ColumnType::Fixed { frac: 16, bits: 63 },
            },
        ],
    }
}

fn wide_counts() -> protocols::backend::OpCounts {
    let wide = wide_schema();
    let salary: Vec<i128> = (0..30).map(|i| 30_000 + 997 * i).collect();
    let bonus: Vec<i128> = salary.iter().map(|s| (s / 20 + s % 7) << 16).collect();
    let inputs = Inputs {
        columns: vec![secret(&salary, 63), secret(&bonus, 63)],
        owner_rows: vec![10, 10, 10],
    };
    let sql = "SELECT AVG(salary), STDDEV_SAMP(salary), VAR_POP(bonus), CORR(bonus, salary), REGR_SLOPE(bonus, salary), REGR_INTERCEPT(bonus, salary), COVAR_SAMP(salary, bonus) FROM payroll";
    let q = parse(sql, |_| Some(wide.clone())).unwrap();
    let mut c = Counting::new(Clear::default());
    block_on(run_query(&mut c, &q, &inputs, &options(3, 10))).unwrap();
    c.counts
}

#[test]
fn rounds_do_not_grow_with_rows() {
    let sql = "SELECT g, AVG(a), STDDEV_SAMP(f), CORR(a, f), HISTOGRAM(a, 10, 50) FROM payroll WHERE a > 3 OR NOT k = 2 GROUP BY g";
    assert_eq!(batches(sql, 20), batches(sql, 200));
    // A percentile takes one step per bit of its column (a: 20 bits), whatever the rows, under
    // the field variants; the bit-sliced default makes one call per group and column (its
    // rounds inside grow with log2 N) and one `le` per bit of a count for the quotients
    // (16 rows: 5 bits, 256: 9).
    let p = "SELECT g, MEDIAN(a), PERCENTILE_CONT(0.3) WITHIN GROUP (ORDER BY f) FROM payroll WHERE k = 1 GROUP BY g";
    for selection in [Selection::Binary, Selection::Quaternary] {
        let calls = |rows| counts_with(p, rows, selection).batches;
        assert_eq!(calls(13), calls(253), "{selection:?}");
    }
    assert_eq!(batches(p, 253), batches(p, 13) + (9 - 5));
    // Its products are linear in the rows: for a 20-bit column, 20 a row to decompose it, then
    // (binary) per bit (21) and per selection (2: ranks k and k + 1) one for a = e (1 - b_j)
    // and one for the update of e; (quaternary) per two bits (10 digits and a lone top bit) one
    // for hi·lo and per selection one for z and one for the update of e.
    let m = "SELECT MEDIAN(a) FROM payroll WHERE k = 1";
    // (bit-sliced) none: the decomposition and the selection are binary ANDs.
    for (selection, per_row) in [
        (Selection::Binary, 20 + 21 * 2 * 2),
        (Selection::Quaternary, 20 + 10 * (1 + 2 * 2) + 2 * 2),
        (Selection::BitSliced, 0),
    ] {
        let (small, large) = (
            counts_with(m, 13, selection),
            counts_with(m, 253, selection),
        );
        assert_eq!(small.decomposed, 16);
        assert_eq!(
            large.multiplications - small.multiplications,
            per_row * (253 - 13),
            "{selection:?}"
        );
    }
    // MAX: two calls per tournament level, ceil(log2 N) levels (16 rows: 4, 256: 8); the
    // median's quotient search one per bit of a count (5 and 9).
    let m = "SELECT MEDIAN(a), MAX(f) FROM payroll";
    assert_eq!(batches(m, 253), batches(m, 13) + 2 * (8 - 4) + (9 - 5));
}

// ---------------------------------------------------------------------------------------------
// The engine against Clear.

fn on_engine(t: &Table, sql: &str, mul: MulProtocol, seed: u64) -> Result<QueryResult, StatsError> {
    let q = query(sql);
    let t = t.clone();
    let config = EngineConfig {
        mul,
        check_openings: true,
        ..Default::default()
    };
    let results = run_parties(Params::new(3, 1).unwrap(), config, seed, move |mut e| {
        let (q, t) = (q.clone(), t.clone());
        async move {
            let inputs = share_inputs(&mut e, &t).await?;
            Ok(run_query(&mut e, &q, &inputs, &options(2, 4)).await)
        }
    });
    agreed(results)
}

/// Owner o's client shares its rows through party o mod n, as the workers would hold them.
async fn share_inputs(
    e: &mut mpc::Engine<mpc::net::memory::MemoryNetwork, Fr>,
    t: &Table,
) -> mpc::Result<Inputs> {
    let s = schema();
    let (me, n) = (e.me(), e.params().n());
    let mut columns: Vec<Vec<Secret>> = vec![Vec::new(); 5];
    for (o, rows) in t.owners.iter().enumerate() {
        let dealer = PartyId((o % n) as u16);
        for (c, spec) in s.columns.iter().enumerate() {
            let vals: Vec<i128> = rows.iter().map(|r| r[c]).collect();
            let x = e
                .input_ints(
                    dealer,
                    (me == dealer).then_some(&vals[..]),
                    vals.len(),
                    spec.ty.bits(),
                )
                .await?;
            columns[c].push(x);
        }
    }
    Ok(Inputs {
        columns: columns
            .iter()
            .map(|parts| Secret::concat(&parts.iter().collect::<Vec<_>>()).unwrap())
            .collect(),
        owner_rows: t.owners.iter().map(Vec::len).collect(),
    })
}

const PRIVATE_SQL: &str = "SELECT g, COUNT(*), SUM(a), AVG(f), VAR_SAMP(a), MAX(a), HISTOGRAM(a, -100, 0, 400), MEDIAN(k) FROM payroll WHERE k <> 2 GROUP BY g";

/// A private answer: what every worker sees (the public part) and what the recipient
/// reconstructs from its output's shares, completed with `reveal`.
fn private_on_engine(t: &Table, params: Params, seed: u64) -> (QueryResult, QueryResult) {
    let q = query(PRIVATE_SQL);
    let t = t.clone();
    let results = run_parties(params, EngineConfig::default(), seed, move |mut e| {
        let (q, t) = (q.clone(), t.clone());
        async move {
            let inputs = share_inputs(&mut e, &t).await?;
            let recipients = ["hr".to_string()];
            let out =
                protocols::stats::run_query_for(&mut e, &q, &inputs, &options(2, 4), &recipients)
                    .await
                    .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(out.private.len(), 1);
            assert_eq!(out.private[0].recipient, "hr");
            // In the test every party opens what only the recipient would reconstruct.
            let values = e.open_ints(&out.private[0].values).await?;
            assert_eq!(out.private[0].labels.len(), values.len());
            let revealed = out.public.reveal(&values).unwrap();
            Ok((out.public, revealed))
        }
    });
    agreed(results)
}

/// A query with recipients opens only which groups are reported; the recipient's values,
/// completed with `reveal`, are the public answer of the same query, exactly, for n = 3, 5, 7
/// and on Clear.
#[test]
fn private_answers_reach_only_their_recipients() {
    let t = small_table();
    let want = block_on(run_query(
        &mut Clear::default(),
        &query(PRIVATE_SQL),
        &t.inputs(),
        &options(2, 4),
    ))
    .unwrap();
    assert!(!want.rows.is_empty() && want.private.is_none());
    let clear = block_on(protocols::stats::run_query_for(
        &mut Clear::default(),
        &query(PRIVATE_SQL),
        &t.inputs(),
        &options(2, 4),
        &["hr".to_string()],
    ))
    .unwrap();
    let plain: Vec<i128> = clear.private[0]
        .values
        .shares()
        .iter()
        .map(|v| v.to_i128().unwrap())
        .collect();
    assert_eq!(clear.public.reveal(&plain).unwrap(), want);
    assert_eq!(
        clear.public.reveal(&plain[1..]).unwrap_err(),
        protocols::stats::RevealError {
            groups: want.rows.len(),
            expected: plain.len(),
            got: plain.len() - 1,
        },
        "a short answer is refused"
    );
    for (i, (n, t_)) in [(3, 1), (5, 2), (7, 3)].into_iter().enumerate() {
        let (public, revealed) = private_on_engine(&t, Params::new(n, t_).unwrap(), 40 + i as u64);
        assert_eq!(public, clear.public, "n = {n}");
        assert_eq!(public.suppressed, want.suppressed);
        assert!(
            public.rows.iter().all(|r| r.values.is_empty()),
            "no value is public"
        );
        assert!(public.to_string().contains("values private to hr"));
        // Integers exactly; fixed point within the file's tolerance (truncation is
        // probabilistic on the engine).
        assert_eq!(revealed.rows.len(), want.rows.len());
        for (got, exp) in revealed.rows.iter().zip(&want.rows) {
            assert_eq!(got.group, exp.group);
            for (x, y) in got.values.iter().zip(&exp.values) {
                match (x, y) {
                    (Value::Float(x), Value::Float(y)) => {
                        assert!(
                            (x - y).abs() <= 1e-6 * (1.0 + y.abs()),
                            "n = {n}: {x} vs {y}"
                        )
                    }
                    _ => assert_eq!(x, y, "n = {n}"),
                }
            }
        }
    }
}

/// Percentiles of a 4-bit column over more rows than its values (the rank search outlasts the
/// bits), with ties everywhere, the bound's minimum and maximum, p = 0 and 1, DESC, a WHERE, a
/// GROUP BY and a suppressed group: on Clear against the reference, and on the engine against
/// Clear, exactly.
#[test]
fn percentiles_of_a_narrow_column_over_many_rows() {
    let h = protocols::dataset::hash_identifier("p");
    let t = Table {
        owners: (0..3)
            .map(|o| {
                (0..40i128)
                    .map(|i| {
                        let g = if i == 0 { 2 } else { (i + o) % 2 };
                        [(i * 13 + o) % 50 - 20, 0, g, (i * 7 + o) % 32 - 16, h]
                    })
                    .collect()
            })
            .collect(),
    };
    let min = GroupMinimums { owners: 2, rows: 4 };
    let grouped = "SELECT g, MEDIAN(k), PERCENTILE_CONT(0.33) WITHIN GROUP (ORDER BY k), PERCENTILE_CONT(1) WITHIN GROUP (ORDER BY k DESC), PERCENTILE_CONT(0) WITHIN GROUP (ORDER BY k), MEDIAN(a) FROM payroll WHERE a > -5 GROUP BY g";
    for sql in [
        grouped,
        "SELECT MEDIAN(k), PERCENTILE_CONT(0.999) WITHIN GROUP (ORDER BY k) FROM payroll",
        "SELECT MEDIAN(k) FROM payroll WHERE k = 15 OR k = -16",
    ] {
        let q = query(sql);
        let got = block_on(run_query(
            &mut Clear::default(),
            &q,
            &t.inputs(),
            &options(min.owners, min.rows),
        ))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let (want, scales) = evaluate(&q, &t, min);
        assert_close(&got, &want, &scales, sql);
        if sql == grouped {
            assert_eq!(got.suppressed, vec!["z".to_string()]);
            assert_eq!(got.rows.len(), 2);
        }
        if !sql.contains("WHERE k") {
            let engine = on_engine(&t, sql, MulProtocol::Grr, 5).unwrap();
            assert_eq!(engine, got, "{sql} on the engine");
        }
    }
    // Half the rows at each end of the bound: the middle ranks (59, 60 of 120) straddle the
    // jump, so the interpolation weight r = T - den k must be exact (k > 2^4).
    let halves = Table {
        owners: (0..3)
            .map(|o| {
                (0..40i128)
                    .map(|i| [i, 0, 0, if (i + o) % 2 == 0 { -16 } else { 15 }, h])
                    .collect()
            })
            .collect(),
    };
    let sql = "SELECT MEDIAN(k), PERCENTILE_CONT(0.499) WITHIN GROUP (ORDER BY k) FROM payroll";
    let got = block_on(run_query(
        &mut Clear::default(),
        &query(sql),
        &halves.inputs(),
        &options(1, 1),
    ))
    .unwrap();
    let v = |x: f64| Value::Float(x);
    assert_eq!(
        got.rows[0].values,
        vec![v(-0.5), v((-16_000 + 381 * 31) as f64 / 1000.0)]
    );
    assert_eq!(on_engine(&halves, sql, MulProtocol::Dn07, 6).unwrap(), got);
}

fn small_table() -> Table {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    table_strategy().new_tree(&mut runner).unwrap().current()
}

#[test]
fn engine_matches_clear_exactly_on_integer_aggregates() {
    let t = small_table();
    for (i, mul) in [MulProtocol::Dn07, MulProtocol::Grr]
        .into_iter()
        .enumerate()
    {
        for sql in [
            "SELECT g, COUNT(*), SUM(a), SUM(f), MIN(a), MAX(f), HISTOGRAM(a, -100, 0, 400) FROM payroll WHERE k <= 3 OR a < 0 GROUP BY g",
            "SELECT MEDIAN(a), PERCENTILE_CONT(0.8) WITHIN GROUP (ORDER BY f), COUNT(*) FROM payroll WHERE NOT g = 'y'",
            "SELECT g, MEDIAN(f), MIN(k) FROM payroll GROUP BY g",
        ] {
            let want = block_on(run_query(
                &mut Clear::default(),
                &query(sql),
                &t.inputs(),
                &options(2, 4),
            ))
            .unwrap();
            let got =
                on_engine(&t, sql, mul, 7 + i as u64).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(got, want, "{sql} under {mul:?}");
        }
    }
}

/// Fixed-point aggregates need the engine's division and root (the `fixed` branch). Until it is
/// merged the engine refuses them with a named error; after, they must match Clear within the
/// stated tolerance.
#[test]
fn engine_fixed_point_aggregates_within_tolerance() {
    let t = small_table();
    let sql = "SELECT g, AVG(a), STDDEV_SAMP(f), VAR_POP(a), CORR(a, f), REGR_SLOPE(f, a) FROM payroll GROUP BY g";
    let want = block_on(run_query(
        &mut Clear::default(),
        &query(sql),
        &t.inputs(),
        &options(2, 4),
    ))
    .unwrap();
    for (i, mul) in [MulProtocol::Dn07, MulProtocol::Grr]
        .into_iter()
        .enumerate()
    {
        match on_engine(&t, sql, mul, 11 + i as u64) {
            Err(StatsError::Mpc {
                source: mpc::MpcError::InvalidArgument { reason, .. },
                ..
            }) if reason == "needs the fixed-point division branch" => {}
            Err(e) => panic!("{e}"),
            Ok(got) => {
                let (_, scales) = evaluate(&query(sql), &t, GroupMinimums { owners: 2, rows: 4 });
                assert_close(&got, &want, &scales, sql);
            }
        }
    }
}

#[test]
fn engine_draws_joint_noise() {
    let t = small_table();
    let sql = "SELECT COUNT(*) FROM payroll";
    let q = query(sql);
    let t2 = t.clone();
    let results = run_parties(
        Params::new(3, 1).unwrap(),
        EngineConfig::default(),
        5,
        move |mut e| {
            let (q, t) = (q.clone(), t2.clone());
            async move {
                let me = e.me();
                let mut cols = Vec::new();
                for c in 0..5 {
                    let vals = t.column(c);
                    cols.push(
                        e.input_ints(
                            PartyId(0),
                            (me == PartyId(0)).then_some(&vals[..]),
                            vals.len(),
                            schema().columns[c].ty.bits(),
                        )
                        .await?,
                    );
                }
                let inputs = Inputs {
                    columns: cols,
                    owner_rows: t.owners.iter().map(Vec::len).collect(),
                };
                let opts = QueryOptions {
                    epsilon: Some(1.0),
                    ..QueryOptions::with_minimums(GroupMinimums { owners: 1, rows: 1 })
                };
                Ok(run_query(&mut e, &q, &inputs, &opts).await.unwrap())
            }
        },
    );
    let r = agreed(results);
    let Value::Int(noisy) = r.rows[0].values[0] else {
        panic!("{r:?}")
    };
    let truth = t.rows().count() as i128;
    assert!((noisy - truth).abs() < 30, "{noisy} vs {truth}");
}

// ---------------------------------------------------------------------------------------------
// Differential privacy in the clear: the noise has the discrete Laplace distribution.

#[test]
fn discrete_laplace_noise_on_counts() {
    let t = table_with(3, 10);
    let q = query("SELECT COUNT(*) FROM payroll");
    let opts = QueryOptions {
        epsilon: Some(1.0),
        ..QueryOptions::with_minimums(GroupMinimums { owners: 1, rows: 1 })
    };
    let truth = 22.0;
    let samples: Vec<f64> = (0..1500)
        .map(|seed| {
            let r = block_on(run_query(&mut Clear::seeded(seed), &q, &t.inputs(), &opts)).unwrap();
            match r.rows.first().map(|row| &row.values[0]) {
                Some(Value::Int(v)) => *v as f64 - truth,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let m = samples.iter().sum::<f64>() / samples.len() as f64;
    let var = samples.iter().map(|s| (s - m) * (s - m)).sum::<f64>() / samples.len() as f64;
    // One statistic (the count), sensitivity 1: q = e^-1, variance 2q/(1-q)^2 = 1.84.
    let qv = (-1f64).exp();
    let expected = 2.0 * qv / ((1.0 - qv) * (1.0 - qv));
    assert!(m.abs() < 0.15, "mean {m}");
    assert!(
        (var - expected).abs() < 0.25 * expected,
        "variance {var} vs {expected}"
    );
    // Order statistics are refused under DP, before anything runs.
    let q = query("SELECT MEDIAN(a) FROM payroll");
    let err = block_on(run_query(&mut Clear::default(), &q, &t.inputs(), &opts)).unwrap_err();
    assert!(matches!(err, StatsError::NotPrivate { .. }), "{err}");
    // Moments under DP are post-processing of noisy sums: they run and land near the truth.
    let q = query("SELECT AVG(a), HISTOGRAM(a, 50) FROM payroll");
    let opts = QueryOptions {
        epsilon: Some(1e6),
        ..QueryOptions::with_minimums(GroupMinimums { owners: 1, rows: 1 })
    };
    let r = block_on(run_query(&mut Clear::default(), &q, &t.inputs(), &opts)).unwrap();
    let (want, _) = evaluate(&q, &t, GroupMinimums { owners: 1, rows: 1 });
    assert_eq!(r.rows[0].values[1], want.rows[0].values[1]);
    let q =
        query("SELECT VAR_SAMP(a), STDDEV_POP(a), REGR_SLOPE(a, k), COVAR_SAMP(a, k) FROM payroll");
    let r = block_on(run_query(
        &mut Clear::default(),
        &q,
        &small_table().inputs(),
        &opts,
    ))
    .unwrap();
    assert_eq!(r.rows.len(), 1, "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Unsupported SQL: an error naming the construct and its position; nothing runs.

#[test]
fn unsupported_sql_is_refused_with_its_position() {
    type Case<'a> = (&'a str, &'a str, Option<(u64, u64)>);
    let cases: &[Case] = &[
        (
            "SELECT COUNT(*) FROM payroll JOIN other ON payroll.a = other.a",
            "JOIN",
            Some((1, 35)),
        ),
        (
            "SELECT COUNT(*) FROM (SELECT a FROM payroll) t",
            "subquery",
            Some((1, 23)),
        ),
        (
            "SELECT COUNT(*) FROM payroll WHERE a IN (SELECT a FROM payroll)",
            "subquery",
            Some((1, 36)),
        ),
        (
            "SELECT COUNT(*)\nFROM payroll\nWHERE a > (SELECT 1)",
            "subquery",
            Some((3, 12)),
        ),
        ("SELECT FOO(a) FROM payroll", "function FOO", Some((1, 8))),
        (
            "SELECT AVG(salary) FROM payroll",
            "column 'salary'",
            Some((1, 12)),
        ),
        (
            "SELECT COUNT(*) FROM payroll WHERE\n  bonus > 3",
            "column 'bonus'",
            Some((2, 3)),
        ),
        ("SELECT SUM(g) FROM payroll", "SUM(g)", Some((1, 12))),
        (
            "SELECT COUNT(*) FROM payroll WHERE g < 'x'",
            "comparison g < 'x'",
            Some((1, 36)),
        ),
        (
            "SELECT COUNT(*) FROM payroll WHERE g = 'w'",
            "comparison g = 'w'",
            Some((1, 36)),
        ),
        (
            "SELECT COUNT(*) FROM payroll WHERE g = 3",
            "comparison g = 3",
            Some((1, 36)),
        ),
        (
            "SELECT COUNT(*) FROM payroll WHERE a = 'x'",
            "comparison a = 'x'",
            Some((1, 36)),
        ),
        (
            "SELECT COUNT(*) FROM payroll WHERE a > k",
            "k",
            Some((1, 40)),
        ),
        (
            "SELECT AVG(a) FROM payroll GROUP BY k",
            "GROUP BY k",
            Some((1, 37)),
        ),
        (
            "SELECT AVG(a) FROM payroll GROUP BY g, k",
            "GROUP BY",
            Some((1, 40)),
        ),
        ("SELECT a FROM payroll", "column a", Some((1, 8))),
        (
            "SELECT AVG(a + 1) FROM payroll",
            "expression a + 1",
            Some((1, 12)),
        ),
        (
            "SELECT COUNT(DISTINCT a) FROM payroll",
            "COUNT(DISTINCT ...)",
            Some((1, 8)),
        ),
        (
            "SELECT AVG(a) OVER () FROM payroll",
            "window function AVG",
            Some((1, 8)),
        ),
        (
            "SELECT AVG(a) FROM payroll ORDER BY 1",
            "ORDER BY",
            Some((1, 37)),
        ),
        ("SELECT AVG(a) FROM payroll LIMIT 3", "LIMIT", Some((1, 34))),
        (
            "SELECT COUNT(*) FROM salaries",
            "table 'salaries'",
            Some((1, 22)),
        ),
        ("SELECT COUNT(*) FROM payroll, other", "FROM", Some((1, 31))),
        (
            "SELECT AVG(a) FROM payroll UNION SELECT AVG(a) FROM payroll",
            "set operation",
            Some((1, 1)),
        ),
        ("SELECT AVG(id) FROM payroll", "AVG(id)", Some((1, 12))),
        (
            "SELECT PERCENTILE_CONT(1.5) WITHIN GROUP (ORDER BY a) FROM payroll",
            "1.5",
            Some((1, 24)),
        ),
        ("SELECT HISTOGRAM(a, 5, 1) FROM payroll", "1", Some((1, 24))),
        ("DELETE FROM payroll", "statement", Some((1, 13))),
        (
            "SELECT AVG(a) FROM payroll HAVING COUNT(*) > 3",
            "HAVING",
            Some((1, 35)),
        ),
    ];
    for &(sql, construct, pos) in cases {
        let err = parse(sql, |t| (t == "payroll").then(schema)).expect_err(sql);
        assert_eq!(err.construct, construct, "{sql}: {err}");
        assert_eq!(
            err.position.map(|p| (p.line, p.column)),
            pos,
            "{sql}: {err}"
        );
        if let Some((l, c)) = pos {
            assert!(
                err.to_string()
                    .starts_with(&format!("{l}:{c}: {construct}")),
                "{err}"
            );
        }
    }
    // Syntax errors carry sqlparser's own position text.
    let err = parse("SELECT AVG(a FROM payroll", |_| Some(schema())).unwrap_err();
    assert_eq!(err.construct, "syntax");
    assert!(err.to_string().contains("Line: 1"), "{err}");
    // Allowed forms: aliases, qualified columns, constants on the left, decimals on integers.
    let q = query(
        "SELECT AVG(p.a) AS mean, COUNT(*) n FROM payroll p WHERE 3 < p.a AND a <= 2.5 AND g = 'y' AND f = 0.5",
    );
    assert_eq!(q.select[0].label, "mean");
    // A chain of ANDs is rebuilt balanced (stats::chain): (c0 AND c1) AND (c2 AND c3).
    let cmp = |column, op, value| Box::new(Predicate::Compare { column, op, value });
    assert_eq!(
        q.filter,
        Some(Predicate::And(
            Box::new(Predicate::And(cmp(0, CmpOp::Gt, 3), cmp(0, CmpOp::Le, 2))),
            Box::new(Predicate::And(cmp(2, CmpOp::Eq, 1), cmp(1, CmpOp::Eq, 128))),
        ))
    );
}

#[test]
fn results_serialize_for_json() {
    let t = table_with(3, 10);
    let q = query(
        "SELECT g, COUNT(*) AS n, AVG(a), VAR_SAMP(a), HISTOGRAM(a, 5) FROM payroll GROUP BY g",
    );
    let r = block_on(run_query(
        &mut Clear::default(),
        &q,
        &t.inputs(),
        &options(3, 10),
    ))
    .unwrap();
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["columns"][1], "n");
    assert_eq!(json["rows"][0]["values"][1], serde_json::json!({"Int": 10}));
    // A mean is a quotient, within 2^-43 relative (not exact).
    let mean = json["rows"][0]["values"][2]["Float"].as_f64().unwrap();
    assert!((mean - 4.5).abs() < 1e-12, "{mean}");
    assert_eq!(
        json["rows"][0]["values"][4],
        serde_json::json!({"Buckets": [5, 5]})
    );
    assert_eq!(json["suppressed"], serde_json::json!(["z"]));
    // Lossless: integers come back as integers.
    let back: protocols::stats::QueryResult = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
    let text = r.to_string();
    assert!(text.starts_with("g | n |"), "{text}");
}

/// Columns declared 63 bits wide (the top rung of the ladder): second moments pass the engine's
/// root and division limits and go through the normalized root and quotient. Realistic
/// salaries and bonuses against f64, within the documented bounds.
#[test]
fn wide_default_columns() {
    let wide = wide_schema();
    let mut rng = proptest::test_runner::TestRng::deterministic_rng(
        proptest::test_runner::RngAlgorithm::ChaCha,
    );
    use rand::Rng;
    let salary: Vec<i128> = (0..60).map(|_| rng.random_range(30_000..200_000)).collect();
    let bonus: Vec<i128> = salary
        .iter()
        .map(|s| (s / 20 + rng.random_range(0..2000)) << 16)
        .collect();
    let inputs = Inputs {
        columns: vec![secret(&salary, 63), secret(&bonus, 63)],
        owner_rows: vec![20, 20, 20],
    };
    let sql = "SELECT AVG(salary), STDDEV_SAMP(salary), VAR_POP(bonus), CORR(bonus, salary), REGR_SLOPE(bonus, salary), REGR_INTERCEPT(bonus, salary), COVAR_SAMP(salary, bonus) FROM payroll";
    let q = parse(sql, |_| Some(wide.clone())).unwrap();
    let r = block_on(run_query(
        &mut Clear::default(),
        &q,
        &inputs,
        &options(3, 10),
    ))
    .unwrap();
    let x: Vec<f64> = salary.iter().map(|&v| v as f64).collect();
    let y: Vec<f64> = bonus.iter().map(|&v| v as f64 / 65536.0).collect();
    let (vx, vy, c) = (
        covar(&x, &x, false),
        covar(&y, &y, false),
        covar(&y, &x, false),
    );
    let slope = c / vx;
    let want = [
        mean(&x),
        covar(&x, &x, true).sqrt(),
        vy,
        c / (vx * vy).sqrt(),
        slope,
        mean(&y) - slope * mean(&x),
        covar(&x, &y, true),
    ];
    // The documented bounds: relative 2^-40, plus an absolute term set by the declared widths
    // (63 bits): 2^(2b - 116) = 2^10 for a variance of the scaled integers (2^-22 of bonus
    // squared), its root 2^(b - 58) = 32, 2^(b_x + b_y - 116) = 2^10 scaled units (1/64) for
    // the covariance, 2^(b_x + b_y + L - 110) = 2^22 scaled units (64) for the intercept.
    let absolute = [1e-6, 32.0, 1e-6, 1e-6, 1e-6, 64.0, 1.0 / 64.0];
    for (i, (g, w)) in r.rows[0].values.iter().zip(want).enumerate() {
        let Value::Float(g) = g else { panic!("{g:?}") };
        assert!(
            (g - w).abs() <= 1e-9 * w.abs() + absolute[i],
            "{}: got {g}, want {w}",
            r.columns[i]
        );
    }
}

/// Per owner, `n` rows in group `g` (index) with `a` from `value(i)`.
fn rows_of(n: usize, g: i128, value: impl Fn(usize) -> i128) -> Vec<[i128; 5]> {
    (0..n).map(|i| [value(i), 0, g, 0, 0]).collect()
}

/// `t` with every value of `a` made non-negative (the dominance rules' domain).
fn non_negative(t: Table) -> Table {
    let rows = |rows: Vec<[i128; 5]>| {
        rows.into_iter()
            .map(|mut r| {
                r[0] = r[0].abs();
                r
            })
            .collect()
    };
    Table {
        owners: t.owners.into_iter().map(rows).collect(),
    }
}

/// The dominance rule in the clear: per group (by index), whether it is reported under
/// `min` and `percent` (every owner's sum of `a` at most `percent`% of the group's).
fn reference_dominance(t: &Table, min: GroupMinimums, percent: u32) -> Vec<bool> {
    let opts = QueryOptions {
        max_owner_share: Some(percent),
        ..options(min.owners, min.rows)
    };
    reference_rules(t, min, &opts)
}

/// The dummy co-owners attack: a firm's 20 rows, and two other owners with three rows of zeros
/// each in the same group, pass the 3-owner minimum; the dominance rule (no owner over 80% of
/// the sum) suppresses the group, on `Clear` and on the engine, while a group the three owners
/// share evenly is still reported.
#[test]
fn dummy_co_owners_no_longer_unlock_a_suppressed_sum() {
    let t = Table {
        owners: vec![
            [rows_of(20, 0, |i| 500 + i as i128), rows_of(5, 1, |_| 300)].concat(),
            [rows_of(3, 0, |_| 0), rows_of(5, 1, |_| 310)].concat(),
            [rows_of(3, 0, |_| 0), rows_of(5, 1, |_| 290)].concat(),
        ],
    };
    let q = query("SELECT g, SUM(a) FROM payroll GROUP BY g");
    let min = GroupMinimums {
        owners: 3,
        rows: 10,
    };
    let plain = QueryOptions::with_minimums(min);
    let open = block_on(run_query(&mut Clear::default(), &q, &t.inputs(), &plain)).unwrap();
    let firm: i128 = (0..20).map(|i| 500 + i).sum();
    assert_eq!(
        open.rows[0].values[1],
        Value::Int(firm),
        "the attack works without the rule"
    );
    let ruled = QueryOptions {
        max_owner_share: Some(80),
        min_query_rows: 0,
        dominance_owners: 1,
        p_percent: None,
        min_owner_rows: 0,
        ..plain
    };
    let clear = block_on(run_query(&mut Clear::default(), &q, &t.inputs(), &ruled)).unwrap();
    assert_eq!(clear.suppressed, vec!["x".to_string(), "z".to_string()]);
    assert_eq!(clear.rows.len(), 1);
    assert_eq!(clear.rows[0].values[1], Value::Int(1500 + 1550 + 1450));
    assert_eq!(reference_dominance(&t, min, 80), vec![false, true, false]);
    let q2 = q.clone();
    let results = run_parties(
        Params::new(3, 1).unwrap(),
        EngineConfig::default(),
        5,
        move |mut e| {
            let (q, t) = (q2.clone(), t.clone());
            async move {
                let inputs = share_inputs(&mut e, &t).await?;
                Ok(run_query(&mut e, &q, &inputs, &ruled).await)
            }
        },
    );
    let engine = agreed(results).unwrap();
    assert_eq!(engine.suppressed, clear.suppressed);
    assert_eq!(engine.rows, clear.rows);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// The dominance rule on `Clear` reports exactly the groups the clear reference does, for
    /// random owners, groups and non-negative values, and percentages from 30 to 100.
    #[test]
    fn the_dominance_rule_matches_the_clear_reference(
        t in table_strategy(),
        percent in 30u32..=100,
        owners in 1usize..=3,
    ) {
        let t = non_negative(t);
        let min = GroupMinimums { owners, rows: 2 };
        let q = query("SELECT g, COUNT(*), SUM(a) FROM payroll GROUP BY g");
        let opts = QueryOptions { minimums: min, epsilon: None, max_owner_share: Some(percent), min_query_rows: 0, dominance_owners: 1, p_percent: None, min_owner_rows: 0, ..options(1, 1) };
        let got = block_on(run_query(&mut Clear::default(), &q, &t.inputs(), &opts)).unwrap();
        let labels = ["x", "y", "z"];
        let reported: Vec<bool> = labels
            .iter()
            .map(|l| !got.suppressed.iter().any(|s| s == l))
            .collect();
        prop_assert_eq!(reported, reference_dominance(&t, min, percent));
    }
}

/// [`whole_width::SQL`] over integer columns `x`, `y` of `bits` bits from three owners, on
/// `Clear` or on the engine (`n` parties, `t = (n - 1) / 2`, the given multiplication).
fn whole_width_run(
    bits: u32,
    x: &[i128],
    y: &[i128],
    parties: Option<(usize, MulProtocol)>,
) -> QueryResult {
    let col = |name: &str| ColumnSpec {
        name: name.into(),
        ty: ColumnType::Integer { bits },
    };
    let schema = Schema {
        columns: vec![col("x"), col("y")],
    };
    let q = parse(whole_width::SQL, |_| Some(schema.clone())).unwrap();
    let rows = x.len();
    let owner_rows = vec![rows / 3, rows / 3, rows - 2 * (rows / 3)];
    let Some((n, mul)) = parties else {
        let inputs = Inputs {
            columns: vec![secret(x, bits), secret(y, bits)],
            owner_rows,
        };
        return block_on(run_query(
            &mut Clear::default(),
            &q,
            &inputs,
            &options(1, 1),
        ))
        .unwrap_or_else(|e| panic!("{bits} bits, {rows} rows: {e}"));
    };
    let (x, y) = (x.to_vec(), y.to_vec());
    let results = run_parties(
        Params::new(n, (n - 1) / 2).unwrap(),
        EngineConfig {
            mul,
            ..EngineConfig::default()
        },
        n as u64 + bits as u64,
        move |mut e| {
            let (q, x, y, owner_rows) = (q.clone(), x.clone(), y.clone(), owner_rows.clone());
            async move {
                let columns = [(&x[..], bits), (&y[..], bits)];
                let inputs = Inputs::dealt(&mut e, PartyId(0), &columns, owner_rows).await?;
                Ok(run_query(&mut e, &q, &inputs, &options(1, 1)).await)
            }
        },
    );
    agreed(results).unwrap_or_else(|e| panic!("{bits} bits, {rows} rows, n = {n}: {e}"))
}

/// Checks `got` ([`whole_width::SQL`] over `x`, `y`) against a two-pass `f64` evaluation, within
/// the planner table's cells at `bits` (module doc of `protocols::stats`): `(relative,
/// absolute)` per aggregate, plus the reference's own error (`2^-50` relative, `2^-48` of the
/// intercept's terms). REGR_INTERCEPT's bound is `2^-41 (|AVG(y)| + |slope AVG(x)|) + A_s
/// |AVG(x)| + 2^a`, `A_s` the slope's absolute term.
fn assert_within_documented(bits: u32, x: &[i128], y: &[i128], got: &QueryResult, run: &str) {
    let r = whole_width::TwoPass::of(x, y);
    let bounds = whole_width::bounds(bits, &r);
    for (i, value) in got.rows[0].values.iter().enumerate() {
        let Value::Float(g) = *value else {
            panic!("{}: {value:?} ({run})", got.columns[i])
        };
        let w = r.values[i];
        assert!(
            (g - w).abs() <= bounds[i],
            "{} at {bits} bits, {} rows, {run}: got {g}, want {w}, error {} over the bound {}",
            got.columns[i],
            x.len(),
            (g - w).abs(),
            bounds[i]
        );
    }
}

/// Issue 14: the moments and the regression over values drawn across the whole declared width
/// (not only realistic salaries), against a two-pass `f64` evaluation, within the planner
/// table's bounds: on the clear backend at 32, 48 and 63 bits (which also refuses any value
/// outside its declared bound, as the engine would compute it wrong: CORR failed that way over
/// full-width 32-bit columns), and on the engine for n = 5 and 7 at 32 bits and n = 3, 5, 7 at
/// 48 and 63 bits (GRR and DN07). At size:
/// `cargo run --release -p protocols --example stats_at_size -- ROWS BITS PARTIES`.
#[test]
fn moments_over_the_whole_width_within_the_documented_bounds() {
    use rand::{Rng, SeedableRng};
    // `sign`: y's slope against x (a negative one takes the other side of the normalization's
    // comparisons).
    let check = |bits: u32, rows: usize, parties: Option<(usize, MulProtocol)>, sign: i128| {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(u64::from(bits) + rows as u64);
        let half = 1i128 << (bits - 2);
        let x: Vec<i128> = (0..rows)
            .map(|_| rng.random_range(-2 * half + 1..2 * half))
            .collect();
        let y: Vec<i128> = x
            .iter()
            .map(|&v| sign * v / 2 + rng.random_range(-half / 2..half / 2))
            .collect();
        let got = whole_width_run(bits, &x, &y, parties);
        assert_within_documented(bits, &x, &y, &got, &format!("{parties:?}"));
        // Not a documented bound, a regression check on these rows: the intercept's product
        // keeps the slope's significant bits (cut from its declared width, the slope's ~0.5
        // kept 2^-30 of the terms at 48 bits and 2^-16 at 63), so only the output's unit
        // (the table's absolute term) is left beyond 2^-40 of the terms.
        let (mx, my) = (
            x.iter().sum::<i128>() as f64 / rows as f64,
            y.iter().sum::<i128>() as f64 / rows as f64,
        );
        let [.., Value::Float(slope), Value::Float(icpt)] = got.rows[0].values[..] else {
            panic!("{:?}", got.rows[0])
        };
        let unit = match bits {
            32 => -22,
            48 => 3,
            _ => 33,
        };
        let want = my - slope * mx;
        let bound = 2f64.powi(-40) * (my.abs() + (slope * mx).abs()) + 2f64.powi(unit);
        assert!(
            (icpt - want).abs() <= bound,
            "REGR_INTERCEPT at {bits} bits ({parties:?}): {icpt} against {want} from its own slope"
        );
    };
    for bits in [32, 48, 63] {
        check(bits, 300, None, 1);
        check(bits, 300, None, -1);
    }
    for n in [5, 7] {
        check(32, 30, Some((n, MulProtocol::Grr)), 1);
    }
    check(48, 30, Some((3, MulProtocol::Dn07)), -1);
    check(63, 30, Some((5, MulProtocol::Grr)), 1);
    check(63, 24, Some((7, MulProtocol::Dn07)), -1);
}

/// Issue 14: REGR_INTERCEPT (with the moments) at the edges of every width of the ladder, on
/// `Clear` against `f64`: columns at the extremes of their declared width (`x` at `±(2^(b-1) -
/// 1)` but for a few rows, so `V_x` is as large or as small as the values allow), slopes of
/// either sign and far below their bound, means far from and near zero.
mod regression_at_the_edges {
    use super::*;

    /// `(bits, x, y)`: `x` mostly at one extreme with `spread` rows elsewhere; `y = k x / 8 +
    /// offset` with small noise, clamped to the width.
    fn columns() -> impl Strategy<Value = (u32, Vec<i128>, Vec<i128>)> {
        (
            prop::sample::select(vec![8u32, 16, 32, 48, 63]),
            3usize..=120,
            prop::collection::vec((any::<bool>(), any::<u64>(), any::<i16>()), 120),
            -16i128..=16,
            any::<bool>(),
        )
            .prop_map(|(bits, rows, draws, k, low)| {
                let top = (1i128 << (bits - 1)) - 1;
                let x: Vec<i128> = draws[..rows]
                    .iter()
                    .map(|&(extreme, r, _)| match (extreme, low) {
                        (true, true) => -top,
                        (true, false) => top,
                        // Anywhere in the width.
                        _ => (r as i128 % (2 * top + 1)) - top,
                    })
                    .collect();
                let y = x
                    .iter()
                    .zip(&draws)
                    .map(|(&v, &(_, _, noise))| {
                        (v / 8 * k + (noise as i128 >> (16 - bits.min(16)))).clamp(-top, top)
                    })
                    .collect();
                (bits, x, y)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn within_the_documented_bounds((bits, x, y) in columns()) {
            let constant = x.iter().all(|&v| v == x[0]);
            prop_assume!(!constant, "a constant x has no slope (NULL; tested elsewhere)");
            let got = whole_width_run(bits, &x, &y, None);
            assert_within_documented(bits, &x, &y, &got, "Clear");
        }
    }
}

/// The rows a query's WHERE selects, and the rows read, in the clear.
fn selected(q: &Query, t: &Table) -> (usize, usize) {
    let n = t
        .rows()
        .filter(|(_, r)| q.filter.as_ref().is_none_or(|p| holds(p, r)))
        .count();
    (n, t.rows().count())
}

/// `query` over `t` on `Clear`.
fn on_clear(query: &Query, t: &Table, options: &QueryOptions) -> Result<QueryResult, StatsError> {
    block_on(run_query(
        &mut Clear::default(),
        query,
        &t.inputs(),
        options,
    ))
}

/// `options` with the minimum query set `m` and no group minimums to speak of.
fn query_set(m: usize) -> QueryOptions {
    QueryOptions {
        min_query_rows: m,
        ..options(1, 1)
    }
}

/// The minimum query set against tracker-style probes: one salary picked out by a threshold
/// (`SUM(a) WHERE a > T` over one row), and its complement (every row but that one, to be
/// subtracted from the total), are refused with the clause named, on `Clear` and on the
/// engine with 3, 5 and 7 parties; a query selecting a middle set is answered exactly as
/// without the rule. A query without WHERE needs only `N >= m`.
#[test]
fn the_minimum_query_set_refuses_probes_and_their_complements() {
    let t = Table {
        owners: vec![
            rows_of(12, 0, |i| 100 + i as i128),
            [rows_of(11, 1, |i| 200 + i as i128), rows_of(1, 2, |_| 999)].concat(),
            rows_of(12, 2, |i| 300 + i as i128),
        ],
    };
    let probe = query("SELECT SUM(a) FROM payroll WHERE a > 900");
    let complement = query("SELECT SUM(a) FROM payroll WHERE a < 900");
    let middle = query("SELECT g, SUM(a) FROM payroll WHERE a < 250 GROUP BY g");
    assert_eq!(selected(&probe, &t), (1, 36));
    assert_eq!(selected(&complement, &t), (35, 36));
    let rule = query_set(5);
    for q in [&probe, &complement] {
        let err = on_clear(q, &t, &rule).unwrap_err();
        assert_eq!(err, StatsError::QuerySet { min: 5 });
        assert!(err.to_string().starts_with("min_query_rows:"), "{err}");
    }
    let plain = on_clear(&middle, &t, &options(1, 1)).unwrap();
    let ruled = on_clear(&middle, &t, &rule).unwrap();
    assert_eq!(ruled, plain);
    let whole = query("SELECT COUNT(*) FROM payroll");
    assert!(on_clear(&whole, &t, &rule).is_ok());
    assert_eq!(
        on_clear(&whole, &t, &query_set(37)).unwrap_err(),
        StatsError::QuerySet { min: 37 }
    );
    for (n, threshold) in [(3, 1), (5, 2), (7, 3)] {
        let (t, probe, middle) = (t.clone(), probe.clone(), middle.clone());
        let results = run_parties(
            Params::new(n, threshold).unwrap(),
            EngineConfig::default(),
            7,
            move |mut e| {
                let (t, probe, middle) = (t.clone(), probe.clone(), middle.clone());
                async move {
                    let inputs = share_inputs(&mut e, &t).await?;
                    let refused = run_query(&mut e, &probe, &inputs, &rule).await;
                    let answered = run_query(&mut e, &middle, &inputs, &rule).await;
                    Ok((refused, answered))
                }
            },
        );
        let (refused, answered) = agreed(results);
        assert_eq!(
            refused.unwrap_err(),
            StatsError::QuerySet { min: 5 },
            "n = {n}"
        );
        assert_eq!(answered.unwrap(), plain, "n = {n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// On `Clear`, a WHERE query is refused exactly when the clear count of the rows it
    /// selects is under `m` or over `N - m`, and otherwise answered as without the rule.
    #[test]
    fn the_minimum_query_set_matches_the_clear_count(
        t in table_strategy(),
        threshold in -1000i128..1000,
        m in 1usize..12,
    ) {
        let q = query(&format!("SELECT COUNT(*), SUM(a) FROM payroll WHERE a < {threshold}"));
        let (n, rows) = selected(&q, &t);
        let got = on_clear(&q, &t, &query_set(m));
        if n < m || n + m > rows {
            prop_assert_eq!(got.unwrap_err(), StatsError::QuerySet { min: m });
        } else {
            let plain = on_clear(&q, &t, &options(1, 1));
            prop_assert_eq!(got.unwrap(), plain.unwrap());
        }
    }
}

/// The dominance rules and owner minimum in the clear: per group (by index), whether it is
/// reported under `min` (an owner counting with at least `owner_rows` rows there), the
/// `(n, k)` rule on `a`'s sums (`n` largest owners at most `k`%) and the p% rule (the sum
/// minus the two largest at least `p`% of the largest).
fn reference_rules(t: &Table, min: GroupMinimums, opts: &QueryOptions) -> Vec<bool> {
    (0..3)
        .map(|g| {
            let per: Vec<(usize, i128)> = t
                .owners
                .iter()
                .map(|rows| {
                    let mine: Vec<&[i128; 5]> = rows.iter().filter(|r| r[2] == g).collect();
                    (mine.len(), mine.iter().map(|r| r[0]).sum())
                })
                .collect();
            let n: usize = per.iter().map(|p| p.0).sum();
            let counted = per
                .iter()
                .filter(|p| p.0 >= opts.min_owner_rows.max(1))
                .count();
            let total: i128 = per.iter().map(|p| p.1).sum();
            let mut sums: Vec<i128> = per.iter().map(|p| p.1).collect();
            sums.sort_unstable_by(|a, b| b.cmp(a));
            let top = |m: usize| sums.iter().take(m).sum::<i128>();
            let nk = opts
                .max_owner_share
                .is_none_or(|k| 100 * top(opts.dominance_owners.max(1)) <= k as i128 * total);
            let p = opts
                .p_percent
                .is_none_or(|p| 100 * (total - top(2)) >= p as i128 * top(1));
            n >= min.rows.max(1) && (min.owners <= 1 || counted >= min.owners) && nk && p
        })
        .collect()
}

/// The groups `result` reports, by index.
fn reported_groups(result: &QueryResult) -> Vec<bool> {
    ["x", "y", "z"]
        .iter()
        .map(|l| !result.suppressed.iter().any(|s| s == l))
        .collect()
}

/// Four owners in three groups: in `x` one firm and a second hold almost everything (the
/// (1, 60) rule passes, the (2, 85) rule and the p% rule do not); `y` is shared evenly; in `z`
/// one firm's 20 rows sit beside two owners' three rows of zeros (dummy co-owners).
fn dominance_table() -> Table {
    Table {
        owners: vec![
            [
                rows_of(10, 0, |_| 500),
                rows_of(4, 1, |_| 100),
                rows_of(20, 2, |i| 700 + i as i128),
            ]
            .concat(),
            [rows_of(10, 0, |_| 450), rows_of(4, 1, |_| 110)].concat(),
            [
                rows_of(2, 0, |_| 60),
                rows_of(4, 1, |_| 90),
                rows_of(3, 2, |_| 0),
            ]
            .concat(),
            [
                rows_of(2, 0, |_| 40),
                rows_of(4, 1, |_| 100),
                rows_of(3, 2, |_| 0),
            ]
            .concat(),
        ],
    }
}

/// The `(n, k)` rule for n = 2, the p% rule and the owner-row threshold, on `Clear` against the
/// clear reference, then on the engine with 3, 5 and 7 parties against `Clear`: the two firms
/// holding 95% of `x` no longer pass once the rule weighs the top two; owners with three rows
/// do not count towards a 3-owner minimum under `min_owner_rows = 4`.
#[test]
fn the_n_k_and_p_percent_rules_and_negligible_owners() {
    let t = dominance_table();
    let q = query("SELECT g, COUNT(*), SUM(a) FROM payroll GROUP BY g");
    let min = GroupMinimums {
        owners: 3,
        rows: 10,
    };
    let base = QueryOptions {
        max_owner_share: Some(60),
        ..options(3, 10)
    };
    let cases = [
        (base, [true, true, false]),
        (
            QueryOptions {
                max_owner_share: None,
                ..base
            },
            [true, true, true],
        ),
        (
            QueryOptions {
                dominance_owners: 2,
                max_owner_share: Some(85),
                ..base
            },
            [false, true, false],
        ),
        (
            // The top two hold 97.9% of x: within 98% (the top three, 99.2%, would not be).
            QueryOptions {
                dominance_owners: 2,
                max_owner_share: Some(98),
                ..base
            },
            [true, true, false],
        ),
        (
            QueryOptions {
                max_owner_share: None,
                p_percent: Some(20),
                ..base
            },
            [false, true, false],
        ),
        (
            QueryOptions {
                max_owner_share: None,
                min_owner_rows: 4,
                ..base
            },
            [false, true, false],
        ),
    ];
    let mut clear = Vec::new();
    for (opts, want) in cases {
        let got = on_clear(&q, &t, &opts).unwrap();
        assert_eq!(reported_groups(&got), want, "{opts:?}");
        assert_eq!(reference_rules(&t, min, &opts), want, "{opts:?}");
        clear.push(got);
    }
    for (n, threshold) in [(3, 1), (5, 2), (7, 3)] {
        let (t, q) = (t.clone(), q.clone());
        let opts: Vec<QueryOptions> = cases.iter().skip(2).map(|c| c.0).collect();
        let results = run_parties(
            Params::new(n, threshold).unwrap(),
            EngineConfig::default(),
            11,
            move |mut e| {
                let (t, q, opts) = (t.clone(), q.clone(), opts.clone());
                async move {
                    let inputs = share_inputs(&mut e, &t).await?;
                    let mut out = Vec::new();
                    for o in &opts {
                        out.push(run_query(&mut e, &q, &inputs, o).await);
                    }
                    Ok(out)
                }
            },
        );
        for (got, want) in agreed(results).into_iter().zip(&clear[2..]) {
            assert_eq!(&got.unwrap(), want, "n = {n}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// The (n, k) and p% rules and the owner-row threshold on `Clear` report exactly the
    /// groups the clear reference does, for random owners, groups and non-negative values.
    #[test]
    fn the_dominance_rules_match_the_clear_reference(
        t in table_strategy(),
        top in 1usize..=3,
        percent in prop::option::of(30u32..=100),
        p in prop::option::of(1u32..=60),
        owner_rows in 0usize..=3,
        owners in 1usize..=3,
    ) {
        let t = non_negative(t);
        let min = GroupMinimums { owners, rows: 2 };
        let opts = QueryOptions {
            minimums: min,
            max_owner_share: percent,
            dominance_owners: top,
            p_percent: p,
            min_owner_rows: owner_rows,
            ..options(owners, 2)
        };
        let got = on_clear(&query("SELECT g, COUNT(*), SUM(a) FROM payroll GROUP BY g"), &t, &opts).unwrap();
        prop_assert_eq!(reported_groups(&got), reference_rules(&t, min, &opts));
    }
}

// ---------------------------------------------------------------------------------------------
// The scan in chunks (issue 17): the same outputs whatever the chunk.

/// Every query of [`check_all`] with the scan in chunks of `chunk` rows: exactly the outputs of
/// the scan in one chunk, and the reference's.
fn check_chunked(t: &Table, min: GroupMinimums, chunk: usize) {
    for aggs in AGGREGATES {
        for filter in FILTERS {
            for group in ["", " GROUP BY g"] {
                let select = match group {
                    "" => aggs.to_string(),
                    _ => format!("g, {aggs}"),
                };
                let sql = format!("SELECT {select} FROM payroll{filter}{group}");
                let (q, opts) = (query(&sql), options(min.owners, min.rows));
                let whole = block_on(run_query(&mut Clear::default(), &q, &t.inputs(), &opts))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let chunked = block_on(run_query_in_chunks(
                    &mut Clear::default(),
                    &q,
                    &t.inputs(),
                    &opts,
                    chunk,
                ))
                .unwrap_or_else(|e| panic!("{sql} in chunks of {chunk}: {e}"));
                assert_eq!(chunked, whole, "{sql} in chunks of {chunk}");
                let (want, scales) = evaluate(&q, t, min);
                assert_close(&chunked, &want, &scales, &sql);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
    #[test]
    fn chunked_scan_matches_the_whole_scan_and_the_clear_evaluation(
        t in table_strategy(),
        chunk in prop::sample::select(vec![1usize, 2, 7, 13]),
    ) {
        check_chunked(&t, GroupMinimums { owners: 1, rows: 1 }, chunk);
        check_chunked(&t, GroupMinimums { owners: 2, rows: 6 }, chunk);
    }
}

/// Chunks that split owners and groups, at the columns' bounds (zero, negative, both extremes).
#[test]
fn chunked_scan_at_bound_values() {
    let (lo, hi) = (-(1 << 20), (1 << 20) - 1);
    let h = protocols::dataset::hash_identifier("p");
    let t = Table {
        owners: vec![
            vec![
                [lo, 0, 0, 1, h],
                [hi, 5, 1, 0, h],
                [0, -(1 << 24), 1, 15, h],
            ],
            vec![
                [hi, 5, 1, 1, h],
                [lo, (1 << 24) - 1, 1, 1, h],
                [0, 0, 2, 0, h],
            ],
            vec![[lo, -(1 << 24), 2, 15, h]],
        ],
    };
    for chunk in [1, 2, 4, 7] {
        check_chunked(&t, GroupMinimums { owners: 1, rows: 1 }, chunk);
    }
}

/// The engine with the scan in chunks of 7 rows, n = 3, 5, 7 at several thresholds: every
/// moment, a histogram and the order statistics (whose per-row weights the chunks assemble),
/// with `WHERE` and `GROUP BY`, against the reference evaluation.
#[test]
fn chunked_scan_on_the_engine_matches_the_clear_evaluation() {
    let sql = "SELECT g, COUNT(*), SUM(a), AVG(f), VAR_SAMP(a), STDDEV_POP(f), COVAR_SAMP(f, a), CORR(a, f), REGR_SLOPE(a, f), REGR_INTERCEPT(f, a), HISTOGRAM(a, -100, 0, 400), MAX(k), MEDIAN(k) FROM payroll WHERE k <> 5 AND a > -900 GROUP BY g";
    let min = GroupMinimums { owners: 1, rows: 2 };
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let t = table_strategy().new_tree(&mut runner).unwrap().current();
    let (want, scales) = evaluate(&query(sql), &t, min);
    for (i, (n, threshold)) in [(3, 1), (5, 1), (5, 2), (7, 3)].into_iter().enumerate() {
        let config = EngineConfig {
            mul: MulProtocol::Grr,
            check_openings: true,
            ..Default::default()
        };
        let params = Params::new(n, threshold).unwrap();
        let tt = t.clone();
        let results = run_parties(params, config, 60 + i as u64, move |mut e| {
            let t = tt.clone();
            async move {
                let inputs = share_inputs(&mut e, &t).await?;
                let opts = options(min.owners, min.rows);
                Ok(run_query_in_chunks(&mut e, &query(sql), &inputs, &opts, 7).await)
            }
        });
        let got = agreed(results).unwrap_or_else(|e| panic!("n = {n}, t = {threshold}: {e}"));
        assert_close(
            &got,
            &want,
            &scales,
            &format!("{sql} (n = {n}, t = {threshold})"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The percentiles' two radix selections (issue 17): each on the engine at n = 3, 5, 7 and
// several thresholds against the clear evaluation, over edge values.

/// The `query`'s answer on the engine with `selection` and the one-hot's `grouping`, at
/// `params`.
fn selection_on_engine(
    t: &Table,
    sql: &str,
    params: Params,
    (selection, grouping): (Selection, Grouping),
    seed: u64,
) -> Result<QueryResult, StatsError> {
    let q = query(sql);
    let t = t.clone();
    let opts = QueryOptions {
        selection,
        grouping,
        ..options(1, 1)
    };
    let results = run_parties(params, EngineConfig::default(), seed, move |mut e| {
        let (q, t) = (q.clone(), t.clone());
        async move {
            let inputs = share_inputs(&mut e, &t).await?;
            Ok(run_query(&mut e, &q, &inputs, &opts).await)
        }
    });
    agreed(results)
}

/// Rows whose `a` and `k` come from the edges of their widths (`[-2^20, 2^20)`, `[-16, 16)`),
/// zero, and a few repeated values, so that ties, all-equal columns and both extremes occur.
fn edge_table() -> impl Strategy<Value = Table> {
    let a = prop_oneof![
        Just(-(1i128 << 20)),
        Just((1i128 << 20) - 1),
        Just(0i128),
        Just(-1i128),
        -3i128..3,
        -(1i128 << 20)..(1i128 << 20),
    ];
    let k = prop_oneof![Just(-16i128), Just(15i128), Just(0i128), -16i128..16];
    let row = (a, k, 0i128..3).prop_map(|(a, k, g)| [a, 0, g, k, 1]);
    (1usize..=3)
        .prop_flat_map(move |owners| {
            prop::collection::vec(prop::collection::vec(row.clone(), 1..=5), owners)
        })
        .prop_map(|owners| Table { owners })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn every_radix_selection_matches_the_clear_evaluation(
        t in edge_table(),
        (n, t_) in prop_oneof![Just((3, 1)), Just((5, 1)), Just((5, 2)), Just((7, 2)), Just((7, 3))],
        cut in -17i128..16,
        seed in 0u64..1000,
    ) {
        let min = GroupMinimums { owners: 1, rows: 1 };
        // Odd and even counts come from the table; the WHERE leaves from every row to none
        // (an empty group: suppressed); GROUP BY runs the binary path under both field
        // variants, and one binary-domain call per group under the bit-sliced one. Its one-hot
        // runs by field equalities beside the binary selection, in the binary domain beside
        // the others (`Grouping`).
        let sqls = [
            format!("SELECT MEDIAN(a), PERCENTILE_CONT(0.3) WITHIN GROUP (ORDER BY k), PERCENTILE_CONT(1) WITHIN GROUP (ORDER BY a DESC) FROM payroll WHERE k > {cut}"),
            "SELECT g, MEDIAN(k) FROM payroll GROUP BY g".to_string(),
        ];
        for sql in &sqls {
            let q = query(sql);
            let (want, scales) = evaluate(&q, &t, min);
            for (selection, grouping) in [
                (Selection::Binary, Grouping::Equality),
                (Selection::Quaternary, Grouping::Binary),
                (Selection::BitSliced, Grouping::Binary),
            ] {
                let opts = QueryOptions { selection, grouping, ..options(1, 1) };
                let clear = block_on(run_query(&mut Clear::default(), &q, &t.inputs(), &opts))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                assert_close(&clear, &want, &scales, sql);
                let params = Params::new(n, t_).unwrap();
                let got = selection_on_engine(&t, sql, params, (selection, grouping), seed)
                    .unwrap_or_else(|e| panic!("{sql} at n={n} t={t_}: {e}"));
                prop_assert_eq!(&got, &clear, "{} {:?} at n={} t={}", sql, selection, n, t_);
            }
        }
    }
}
