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

/// Within `rel` of `want`, relative to `scale` (the documented bounds are relative to the
/// quantity's scale).
fn close(got: &Value, want: f64, rel: f64, scale: f64, what: &str) {
    let g = float(got);
    assert!(
        (g - want).abs() <= rel * scale.max(want.abs()),
        "{what}: got {g}, want {want}"
    );
}

struct Moments {
    n: f64,
    mean_s: f64,
    mean_b: f64,
    var_s: f64,
    var_b: f64,
    cov: f64,
}

fn moments(rows: &[&(&str, &str, i64, i64)]) -> Moments {
    let n = rows.len() as f64;
    let s: Vec<f64> = rows.iter().map(|r| r.2 as f64).collect();
    // The bonus as uploaded: fixed point with 16 fractional bits.
    let b: Vec<f64> = rows
        .iter()
        .map(|r| (r.3 as f64 / 100.0 * 65536.0).round() / 65536.0)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
    let (ms, mb) = (mean(&s), mean(&b));
    let cov = |x: &[f64], mx: f64, y: &[f64], my: f64| {
        x.iter()
            .zip(y)
            .map(|(a, c)| (a - mx) * (c - my))
            .sum::<f64>()
    };
    Moments {
        n,
        mean_s: ms,
        mean_b: mb,
        var_s: cov(&s, ms, &s, ms),
        var_b: cov(&b, mb, &b, mb),
        cov: cov(&s, ms, &b, mb),
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
    close(&v[2], m.mean_s, 1e-9, 0.0, "AVG(salary)");
    close(&v[3], m.var_s / (m.n - 1.0), 1e-9, 0.0, "VAR_SAMP(salary)");
    close(
        &v[4],
        (m.var_s / (m.n - 1.0)).sqrt(),
        1e-9,
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
    close(&v[0], m.cov / (m.var_s * m.var_b).sqrt(), 1e-9, 1.0, "CORR");
    close(&v[1], slope, 1e-9, 0.0, "REGR_SLOPE");
    close(
        &v[2],
        m.mean_b - slope * m.mean_s,
        1e-9,
        m.mean_b,
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
        close(&row.values[2], gm.mean_s, 1e-9, 0.0, "AVG by gender");
        close(
            &row.values[3],
            (gm.var_b / gm.n).sqrt(),
            1e-9,
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
