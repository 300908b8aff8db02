//! The analyst's first pay-equity query, end to end on a real local cluster (a coordinator and
//! three workers), through the command line: three firms upload their payroll (10,000 rows
//! each: id, gender, role, salary, bonus with fractional digits) WITHOUT a schema, so every
//! column's width is inferred on the public ladder — one firm's salaries land on a narrower
//! rung than the others', and the query reads all three with the widest. Then the seven
//! aggregates of the issue, `CORR(salary, bonus)` with `REGR_SLOPE(bonus, salary)`, a
//! `GROUP BY gender` and a `MEDIAN` all answer, equal to the statistics computed in the clear:
//! exactly for counts, sums, minimums, maximums and the median; within the bounds documented in
//! `protocols::stats` for the rest.

mod support;

use protocols::catalog::PublicResult;
use protocols::stats::{QueryResult, Value};
use support::{LocalCluster, ok, run};

const ROWS: usize = 10_000;
const FIRMS: [&str; 3] = ["acme", "beta", "gamma"];

/// One firm's rows: (gender, role, salary, bonus in cents).
fn payroll(firm: usize) -> Vec<(&'static str, &'static str, i64, i64)> {
    // A small deterministic generator (no RNG dependency needed for a fixed table).
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (firm as u64 + 1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..ROWS)
        .map(|_| {
            let gender = if next() % 100 < 47 { "f" } else { "m" };
            let role = ["engineer", "sales", "ops", "manager"][(next() % 4) as usize];
            // gamma is a small firm: every salary below 2^16, the 16-bit rung; the others 32.
            let salary = match firm {
                2 => 30_000 + (next() % 35_000) as i64,
                _ => 40_000 + (next() % 160_000) as i64 + if gender == "m" { 3_000 } else { 0 },
            };
            let bonus_cents = salary * 8 + (next() % 400_000) as i64;
            (gender, role, salary, bonus_cents)
        })
        .collect()
}

fn csv(rows: &[(&str, &str, i64, i64)], firm: usize) -> String {
    let mut text = String::from("id,gender,role,salary,bonus\n");
    for (i, (g, r, s, b)) in rows.iter().enumerate() {
        text.push_str(&format!(
            "{}{i},{g},{r},{s},{}.{:02}\n",
            FIRMS[firm],
            b / 100,
            b % 100
        ));
    }
    text
}

fn query(cluster: &LocalCluster, sql: &str) -> QueryResult {
    let out = ok(&cluster.client(&["query", sql, "--json"]), sql);
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["state"], "done", "{sql}: {got}");
    match serde_json::from_value(got["public"].clone()).unwrap() {
        PublicResult::Statistics(r) => r,
        other => panic!("{sql}: {other:?}"),
    }
}

fn float(v: &Value) -> f64 {
    match v {
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

/// Within `2^rel` of `scale` (the result's own magnitude when `scale` is 0) plus `abs`, and
/// the `f64` reference's own error (`2^-48` of the scale: a handful of roundings of exact
/// integers): the documented bounds (`protocols::stats` module doc, the 32-bit column at up to
/// 10^7 rows: both columns are 32 bits wide here) are relative to the quantity's scale.
fn close(got: &Value, want: f64, rel: i32, abs: f64, scale: f64, what: &str) {
    let g = float(got);
    let scale = scale.max(want.abs());
    let bound = (2f64.powi(rel) + 2f64.powi(-48)) * scale + abs;
    assert!(
        (g - want).abs() <= bound,
        "{what}: got {g}, want {want}, error {} over the bound {bound}",
        (g - want).abs()
    );
}

/// The moments of salary `s` and bonus `b`, from exact integer sums (the bonus as uploaded:
/// fixed point with 16 fractional bits, its scaled integer `B`), each rounded once to `f64`.
struct Moments {
    n: f64,
    mean_s: f64,
    mean_b: f64,
    /// `Σ(s - mean)²`, `Σ(b - mean)²`, `Σ(s - mean)(b - mean)`, in real units.
    var_s: f64,
    var_b: f64,
    cov: f64,
}

fn moments(rows: &[&(&str, &str, i64, i64)]) -> Moments {
    let n = rows.len() as i128;
    let s: Vec<i128> = rows.iter().map(|r| r.2 as i128).collect();
    // cents 2^16 / 100, rounded to nearest (never a tie: 2^16 / 100 = 16384 / 25).
    let b: Vec<i128> = rows
        .iter()
        .map(|r| (r.3 as i128 * 65536 + 50).div_euclid(100))
        .collect();
    let sum = |v: &[i128]| v.iter().sum::<i128>();
    let dot = |x: &[i128], y: &[i128]| x.iter().zip(y).map(|(a, c)| a * c).sum::<i128>();
    let (ss, sb) = (sum(&s), sum(&b));
    // n Σxy - Σx Σy = n Σ(x - mean)(y - mean), exact: at most 2^104 here.
    let centred = |x: &[i128], sx: i128, y: &[i128], sy: i128| (n * dot(x, y) - sx * sy) as f64;
    let (nf, unit) = (n as f64, 65536.0);
    Moments {
        n: nf,
        mean_s: ss as f64 / nf,
        mean_b: sb as f64 / nf / unit,
        var_s: centred(&s, ss, &s, ss) / nf,
        var_b: centred(&b, sb, &b, sb) / nf / (unit * unit),
        cov: centred(&s, ss, &b, sb) / nf / unit,
    }
}

#[test]
fn three_firms_payroll_without_a_schema_answers_the_first_queries() {
    let cluster = LocalCluster::start(3);
    let dir = cluster.dir_arg();
    let tables: Vec<_> = (0..3).map(payroll).collect();
    for (k, firm) in FIRMS.iter().enumerate() {
        if *firm != "acme" {
            ok(
                &run(&["identity", "new", firm, "--cluster", &dir]),
                "identity new",
            );
        }
        let path = cluster.path().join(format!("{firm}.csv"));
        std::fs::write(&path, csv(&tables[k], k)).unwrap();
        let out = ok(
            &run(&[
                "upload",
                "--cluster",
                &dir,
                "--as",
                firm,
                "--dataset",
                "payroll",
                "--csv",
                path.to_str().unwrap(),
            ]),
            &format!("upload by {firm}"),
        );
        // The inferred schema is shown before the upload, with its public widths.
        let rung = if k == 2 { 16 } else { 32 };
        assert!(out.contains("schema inferred from"), "{out}");
        assert!(out.contains(&format!("integer, {rung} bits")), "{out}");
        assert!(out.contains("fixed, 32 bits with 16 fractional"), "{out}");
        assert!(
            out.contains("public") && out.contains("--schema FILE"),
            "{out}"
        );
    }
    let all: Vec<&(&str, &str, i64, i64)> = tables.iter().flatten().collect();
    let m = moments(&all);
    let salaries: Vec<i64> = all.iter().map(|r| r.2).collect();

    // The seven aggregates.
    let r = query(
        &cluster,
        "SELECT COUNT(*), SUM(salary), AVG(salary), VAR_SAMP(salary), STDDEV_SAMP(salary), MIN(salary), MAX(salary) FROM payroll",
    );
    let v = &r.rows[0].values;
    assert_eq!(v[0], Value::Int(3 * ROWS as i128));
    assert_eq!(
        v[1],
        Value::Int(salaries.iter().map(|&s| s as i128).sum::<i128>())
    );
    // The 32-bit cells of the planner table: 2^-43 relative (2^-42 for a root) and absolute
    // terms in the columns' last place (1 for salary, 2^-16 for the bonus).
    close(&v[2], m.mean_s, -43, 2f64.powi(-85), 0.0, "AVG(salary)");
    let var = m.var_s / (m.n - 1.0);
    close(&v[3], var, -43, 2f64.powi(-52), 0.0, "VAR_SAMP(salary)");
    close(
        &v[4],
        var.sqrt(),
        -42,
        2f64.powi(-26),
        0.0,
        "STDDEV_SAMP(salary)",
    );
    assert_eq!(v[5], Value::Int(*salaries.iter().min().unwrap() as i128));
    assert_eq!(v[6], Value::Int(*salaries.iter().max().unwrap() as i128));

    // Correlation and regression of two 32-bit columns over 30,000 rows.
    let r = query(
        &cluster,
        "SELECT CORR(salary, bonus), REGR_SLOPE(bonus, salary), REGR_INTERCEPT(bonus, salary) FROM payroll",
    );
    let v = &r.rows[0].values;
    let slope = m.cov / m.var_s;
    // CORR: 2^-41 absolute (the variances are far from tiny); REGR_SLOPE: 2^-43 relative +
    // 2^-60 of the bonus's last place; REGR_INTERCEPT: 2^-41 of its terms + 2^-22 of the
    // bonus's last place (+ the slope's 2^-60 |AVG(salary)|, folded in at 32 bits).
    let corr = m.cov / (m.var_s * m.var_b).sqrt();
    close(&v[0], corr, -41, 2f64.powi(-41), 0.0, "CORR");
    close(&v[1], slope, -43, 2f64.powi(-76), 0.0, "REGR_SLOPE");
    let terms = m.mean_b.abs() + (slope * m.mean_s).abs();
    let intercept = m.mean_b - slope * m.mean_s;
    close(
        &v[2],
        intercept,
        -41,
        2f64.powi(-38),
        terms,
        "REGR_INTERCEPT",
    );

    // By gender.
    let r = query(
        &cluster,
        "SELECT gender, COUNT(*), AVG(salary), STDDEV_POP(bonus) FROM payroll GROUP BY gender",
    );
    for row in &r.rows {
        let g = row.group.as_deref().unwrap();
        let rows: Vec<_> = all.iter().copied().filter(|r| r.0 == g).collect();
        let gm = moments(&rows);
        assert_eq!(row.values[1], Value::Int(rows.len() as i128), "{g}");
        close(
            &row.values[2],
            gm.mean_s,
            -43,
            2f64.powi(-85),
            0.0,
            "AVG by gender",
        );
        let sd = (gm.var_b / gm.n).sqrt();
        close(
            &row.values[3],
            sd,
            -42,
            2f64.powi(-42),
            0.0,
            "STDDEV_POP by gender",
        );
    }
    assert_eq!(r.rows.len(), 2);

    // The median: exact (the mean of the middle two of an even count).
    let r = query(&cluster, "SELECT MEDIAN(salary) FROM payroll");
    let mut sorted = salaries.clone();
    sorted.sort();
    let mid = sorted.len() / 2;
    let want = (sorted[mid - 1] + sorted[mid]) as f64 / 2.0;
    assert_eq!(r.rows[0].values[0], Value::Float(want));
}
