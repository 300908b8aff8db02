//! Hostile query sizes (issue 20): `WHERE salary > 0 AND salary > 0 AND ...` with 300, 1,000
//! and 7,000 comparisons over 9,000 rows once killed or aborted workers. Here: the parser never
//! recurses on a chain's length (checked on a small stack), the 1,000- and 7,000-term texts are
//! refused by size, the checked predicate is a balanced tree, the cost model refuses what would exceed
//! the default limits (naming the estimate and the limit) and lets ordinary queries through;
//! and a rebalanced `WHERE` clause still counts exactly what the clear evaluation counts, on
//! the `Clear` backend and on the engine (n = 3, 5, 7).

use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, Field, Fr, MulProtocol, Params, PartyId, Shared};
use proptest::prelude::*;
use protocols::backend::{Clear, Secret};
use protocols::dataset::{ColumnSpec, ColumnType, Schema};
use protocols::stats::chain::{MAX_NESTING, MAX_QUERY_TOKENS, depth};
use protocols::stats::cost::{Limits, Paths, estimate};
use protocols::stats::{GroupMinimums, Inputs, Query, QueryOptions, Value, parse, run_query};

fn schema() -> Schema {
    let col = |name: &str, ty| ColumnSpec {
        name: name.into(),
        ty,
    };
    Schema {
        columns: vec![
            col("salary", ColumnType::Integer { bits: 32 }),
            col("role", ColumnType::Integer { bits: 8 }),
            col(
                "gender",
                ColumnType::Categorical {
                    domain: vec!["f".into(), "m".into()],
                },
            ),
        ],
    }
}

fn query(sql: &str) -> Result<Query, protocols::stats::SqlError> {
    parse(sql, |t| (t == "payroll").then(schema))
}

/// The issue's query: `terms` comparisons joined by `AND`.
fn chain(terms: usize) -> String {
    let clause = vec!["salary > 0"; terms].join(" AND ");
    format!("SELECT COUNT(*) FROM payroll WHERE {clause}")
}

/// Runs `f` on a thread with a small stack (a tokio worker thread has 2 MiB; this has less),
/// so that any recursion on the chain's length would overflow here first.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("no stack overflow, no panic")
}

#[test]
fn the_issue_queries_are_refused_before_anything_runs() {
    on_small_stack(|| {
        let limits = Limits::default();
        for terms in [300] {
            let q = query(&chain(terms)).expect("parses");
            // Balanced: ceil(log2 terms) levels of AND above the comparisons.
            let levels = usize::BITS - (terms - 1).leading_zeros();
            assert_eq!(depth(q.filter.as_ref().unwrap()), levels as usize + 1);
            let cost = estimate(&q, 9_000, 3, Paths::FIELD);
            let refusal = limits.check(&cost).expect_err("over the memory limit");
            let text = refusal.to_string();
            assert!(text.contains("memory"), "{text}");
            assert!(
                text.contains(&format!("limit of {} MiB", limits.max_job_memory_mib)),
                "{text}"
            );
            assert!(
                text.contains(&format!("{} comparisons", terms * 9_000)),
                "{text}"
            );
            assert!(refusal.estimate > refusal.limit, "{text}");
        }
        for terms in [1_000, 7_000] {
            let e = query(&chain(terms)).expect_err("too long");
            assert_eq!(e.construct, "query");
            assert!(
                e.message.contains(&format!("at most {MAX_QUERY_TOKENS}")),
                "{e}"
            );
        }
    });
}

#[test]
fn the_longest_accepted_text_never_recurses_on_its_length() {
    on_small_stack(|| {
        // Just under the token limit: a chain of comparisons (accepted, then priced) ...
        let terms = (MAX_QUERY_TOKENS - 16) / 4;
        let q = query(&chain(terms)).expect("parses");
        assert!(depth(q.filter.as_ref().unwrap()) <= 11);
        // ... a chain of sums where a constant belongs (refused, its text in the message) ...
        let sum = vec!["1"; MAX_QUERY_TOKENS / 2 - 16].join(" + ");
        let e = query(&format!(
            "SELECT COUNT(*) FROM payroll WHERE salary > {sum}"
        ))
        .expect_err("not a constant");
        assert!(e.message.contains("expected a constant"), "{e}");
        // ... and a chain of ORs inside a chain of ANDs.
        let ors = vec!["role = 1 OR role = 2"; MAX_QUERY_TOKENS / 20].join(" OR ");
        let q = query(&format!(
            "SELECT COUNT(*) FROM payroll WHERE ({ors}) AND ({ors}) AND salary > 0"
        ))
        .expect("parses");
        assert!(depth(q.filter.as_ref().unwrap()) <= 12);
        // A chain of casts, another left-deep chain sqlparser builds in a loop.
        let casts = vec!["::int"; MAX_QUERY_TOKENS / 2 - 16].concat();
        let e = query(&format!(
            "SELECT COUNT(*) FROM payroll WHERE salary{casts} > 0"
        ))
        .expect_err("not a column");
        assert!(e.message.contains("expected a column"), "{e}");
    });
}

/// The scan streams its rows in chunks (issue 17): a moments query over 10^7 rows is charged
/// its inputs (stored, and gathered for the query) and one chunk's products, not every row's.
#[test]
fn moments_over_ten_million_rows_pass_the_default_limits() {
    let q = query("SELECT AVG(salary), STDDEV_SAMP(salary) FROM payroll").unwrap();
    let cost = estimate(&q, 10_000_000, 3, Paths::FIELD);
    Limits::default()
        .check(&cost)
        .unwrap_or_else(|e| panic!("{e}"));
    // Three columns of 32-byte shares, twice, and at most 64 MiB of the scan's products.
    assert_eq!(cost.memory, 10_000_000 * 3 * 2 * 32 + (64 << 20));
}

/// A median of one group (issue 17) is charged the radix-4 selection's bit planes, its two
/// candidate flags and the group's weights per row, plus the decomposition's and the search's
/// chunk budgets: 10^6 rows of a 32-bit column pass the default limits; with a GROUP BY the
/// binary selection's per-bit charge still refuses them.
#[test]
fn a_median_over_a_million_rows_passes_the_default_limits() {
    let q = query("SELECT MEDIAN(salary) FROM payroll").unwrap();
    let rows = 1_000_000u64;
    let cost = estimate(&q, rows, 3, Paths::FIELD);
    Limits::default()
        .check(&cost)
        .unwrap_or_else(|e| panic!("{e}"));
    let columns = q.schema.columns.len() as u64;
    let selection = rows * (33 + 2 + 2) * 32 + (256 << 20) + (64 << 20);
    // The scan's one product (the group's weight) per row, under its 64 MiB budget.
    let scan = rows * 32;
    assert_eq!(cost.memory, rows * columns * 2 * 32 + scan + selection);
    let grouped = query("SELECT gender, MEDIAN(salary) FROM payroll GROUP BY gender").unwrap();
    assert!(
        Limits::default()
            .check(&estimate(&grouped, rows, 3, Paths::FIELD))
            .is_err()
    );
}

/// On the binary-domain paths (PRSS randomness, the default, under either security level:
/// `cost::Paths`) the `GROUP BY` one-hot is one decomposition a row inside the scan's chunks
/// and the percentiles hold one byte a row per bit plane: an 8-group `GROUP BY` with a `WHERE`
/// over 10^7 rows fits the default memory limit there and is refused on the field paths (a field
/// equality per row and group, charged per row); a 10^7-row `MEDIAN` is refused at the default
/// 2 GiB on both (its measured 436 MB a worker at 10^6 rows scales with the rows), but its
/// binary estimate is under 4 GiB while the radix-4 one passes 10 GiB.
#[test]
fn ten_million_rows_on_the_binary_paths() {
    let schema = Schema {
        columns: vec![
            ColumnSpec {
                name: "salary".into(),
                ty: ColumnType::Integer { bits: 31 },
            },
            ColumnSpec {
                name: "dept".into(),
                ty: ColumnType::Categorical {
                    domain: (0..8).map(|d| format!("d{d}")).collect(),
                },
            },
        ],
    };
    let q = |sql: &str| parse(sql, |_| Some(schema.clone())).unwrap();
    let grouped =
        q("SELECT dept, COUNT(*), AVG(salary) FROM payroll WHERE salary > 50000 GROUP BY dept");
    let median = q("SELECT MEDIAN(salary) FROM payroll");
    let rows = 10_000_000;
    let params = Params::new(3, 1).unwrap();
    let binary = Paths::default_for(params);
    assert_eq!(binary, Paths::of(params, true));
    assert_eq!(binary.prss_terms, 3);
    let limits = Limits::default();
    let on = |query: &Query, paths| estimate(query, rows, 3, paths);
    let fits = |query: &Query, paths| on(query, paths).memory <= limits.max_job_memory_mib << 20;
    assert!(fits(&grouped, binary), "{:?}", on(&grouped, binary));
    assert!(!fits(&grouped, Paths::FIELD));
    // The inputs (two columns, stored and gathered) are most of the binary estimate.
    let inputs = rows * 2 * 2 * 32;
    assert!(on(&grouped, binary).memory < inputs + (256 << 20));
    let median_binary = on(&median, binary).memory;
    let median_field = on(&median, Paths::FIELD).memory;
    assert!(!fits(&median, binary));
    assert!(median_binary < 4 << 30, "{median_binary}");
    assert!(median_field > 10 << 30, "{median_field}");
    // A session without PRSS (C(n, t) over the engine's limit) runs the field paths.
    assert!(!Paths::default_for(Params::new(31, 15).unwrap()).binary);
}

#[test]
fn ordinary_queries_pass_the_default_limits() {
    let limits = Limits::default();
    for sql in [
        "SELECT COUNT(*), AVG(salary), STDDEV_SAMP(salary) FROM payroll WHERE role = 3",
        "SELECT gender, AVG(salary), MEDIAN(salary), HISTOGRAM(salary, 1000, 2000, 5000) FROM payroll WHERE role > 2 AND salary < 100000 GROUP BY gender",
        "SELECT MIN(salary), MAX(salary), CORR(salary, role) FROM payroll WHERE role = 1 OR role = 2 OR role = 3 OR role = 4",
    ] {
        let q = query(sql).unwrap();
        for n in [3, 5, 7] {
            let params = Params::max_threshold(n).unwrap();
            for paths in [Paths::FIELD, Paths::default_for(params)] {
                let cost = estimate(&q, 10_000, n, paths);
                limits
                    .check(&cost)
                    .unwrap_or_else(|e| panic!("{sql} at n = {n} {paths:?}: {e}"));
            }
        }
    }
}

#[test]
fn limits_refuse_unknown_keys_and_default_the_rest() {
    let l: Limits = toml::from_str("max_job_memory_mib = 64").unwrap();
    assert_eq!(l.max_job_memory_mib, 64);
    assert_eq!(l.max_job_rounds, Limits::default().max_job_rounds);
    let e = toml::from_str::<Limits>("max_job_memory = 64").unwrap_err();
    assert!(e.to_string().contains("max_job_memory"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// A rebalanced WHERE clause counts what the clear evaluation counts.

/// One comparison of the generated clauses: `(column, op, constant)`.
#[derive(Clone, Debug)]
struct Cmp(usize, &'static str, i128);

/// `groups` of comparisons: the comparisons of a group joined by `inner`, the groups (in
/// parentheses) joined by the other operator; `negate` puts `NOT` before every other group.
#[derive(Clone, Debug)]
struct Clause {
    groups: Vec<Vec<Cmp>>,
    inner_and: bool,
    negate: bool,
}

impl Clause {
    fn sql(&self) -> String {
        let (inner, outer) = if self.inner_and {
            (" AND ", " OR ")
        } else {
            (" OR ", " AND ")
        };
        let name = ["salary", "role", "gender"];
        self.groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let body = g
                    .iter()
                    .map(|Cmp(c, op, k)| match c {
                        2 => format!("gender {op} '{}'", ["f", "m"][*k as usize]),
                        _ => format!("{} {op} {k}", name[*c]),
                    })
                    .collect::<Vec<_>>()
                    .join(inner);
                let not = if self.negate && i % 2 == 1 {
                    "NOT "
                } else {
                    ""
                };
                format!("{not}({body})")
            })
            .collect::<Vec<_>>()
            .join(outer)
    }

    fn holds(&self, row: &[i128; 3]) -> bool {
        let cmp = |Cmp(c, op, k): &Cmp| {
            let x = row[*c];
            match *op {
                "=" => x == *k,
                "<>" => x != *k,
                "<" => x < *k,
                "<=" => x <= *k,
                ">" => x > *k,
                _ => x >= *k,
            }
        };
        let group = |g: &Vec<Cmp>| {
            if self.inner_and {
                g.iter().all(cmp)
            } else {
                g.iter().any(cmp)
            }
        };
        let mut values = self.groups.iter().enumerate().map(|(i, g)| {
            let v = group(g);
            if self.negate && i % 2 == 1 { !v } else { v }
        });
        if self.inner_and {
            values.any(|v| v)
        } else {
            values.all(|v| v)
        }
    }
}

fn cmp_strategy() -> impl Strategy<Value = Cmp> {
    let ops = prop::sample::select(vec!["=", "<>", "<", "<=", ">", ">="]);
    prop_oneof![
        (ops.clone(), -5i128..5).prop_map(|(op, k)| Cmp(0, op, k)),
        (ops, -3i128..3).prop_map(|(op, k)| Cmp(1, op, k)),
        (prop::sample::select(vec!["=", "<>"]), 0i128..2).prop_map(|(op, k)| Cmp(2, op, k)),
    ]
}

fn clause_strategy(max_groups: usize, max_len: usize) -> impl Strategy<Value = Clause> {
    (
        prop::collection::vec(
            prop::collection::vec(cmp_strategy(), 1..=max_len),
            1..=max_groups,
        ),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(groups, inner_and, negate)| Clause {
            groups,
            inner_and,
            negate,
        })
}

/// Rows with edge values: the extremes of the 32-bit column, zero, negatives.
fn rows_strategy() -> impl Strategy<Value = Vec<[i128; 3]>> {
    let salary = prop_oneof![
        -6i128..6,
        Just(-(1i128 << 31)),
        Just((1i128 << 31) - 1),
        Just(0i128),
    ];
    prop::collection::vec(
        (salary, -4i128..4, 0i128..2).prop_map(|(s, r, g)| [s, r, g]),
        1..24,
    )
}

fn bits() -> [u32; 3] {
    [32, 8, 1]
}

/// The count, 0 when the group is suppressed (no row contributes: no owner does).
fn count_of(r: &protocols::stats::QueryResult) -> i128 {
    match r.rows.first().map(|row| &row.values[0]) {
        Some(Value::Int(c)) => *c,
        None if r.suppressed.len() == 1 => 0,
        other => panic!("a count, not {other:?}"),
    }
}

fn everything() -> QueryOptions {
    QueryOptions::with_minimums(GroupMinimums { owners: 1, rows: 0 })
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_rebalanced_where_counts_as_the_clear_evaluation(
        clause in clause_strategy(6, 12),
        rows in rows_strategy(),
    ) {
        let sql = format!("SELECT COUNT(*) FROM payroll WHERE {}", clause.sql());
        let q = query(&sql).unwrap();
        let columns = (0..3)
            .map(|c| {
                let v = rows.iter().map(|r| Fr::from_i128(r[c])).collect();
                Shared::from_shares(v, bits()[c]).unwrap()
            })
            .collect();
        let inputs = Inputs { columns, owner_rows: vec![rows.len()] };
        let r = block_on(run_query(&mut Clear::default(), &q, &inputs, &everything())).unwrap();
        let expected = rows.iter().filter(|r| clause.holds(r)).count() as i128;
        prop_assert_eq!(count_of(&r), expected, "{}", sql);
    }
}

/// Owner 0's rows, dealt by party 0, as the workers would hold them.
async fn dealt(
    e: &mut mpc::Engine<mpc::net::memory::MemoryNetwork, Fr>,
    rows: &[[i128; 3]],
) -> mpc::Result<Inputs> {
    let mut columns = Vec::new();
    for c in 0..3 {
        let vals: Vec<i128> = rows.iter().map(|r| r[c]).collect();
        let mine = (e.me() == PartyId(0)).then_some(&vals[..]);
        let x: Secret = e
            .input_ints(PartyId(0), mine, vals.len(), bits()[c])
            .await?;
        columns.push(x);
    }
    Ok(Inputs {
        columns,
        owner_rows: vec![rows.len()],
    })
}

#[test]
fn a_rebalanced_where_on_the_engine_counts_as_the_clear_evaluation() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (clause_strategy(3, 4), rows_strategy());
    for (case, (n, t)) in [(3, 1), (5, 1), (5, 2), (7, 3)].into_iter().enumerate() {
        use proptest::strategy::ValueTree;
        let (clause, rows) = strategy.new_tree(&mut runner).unwrap().current();
        let sql = format!("SELECT COUNT(*) FROM payroll WHERE {}", clause.sql());
        let q = query(&sql).unwrap();
        let expected = rows.iter().filter(|r| clause.holds(r)).count() as i128;
        let config = EngineConfig {
            mul: if case % 2 == 0 {
                MulProtocol::Dn07
            } else {
                MulProtocol::Grr
            },
            check_openings: true,
            ..Default::default()
        };
        let results = run_parties(
            Params::new(n, t).unwrap(),
            config,
            case as u64,
            move |mut e| {
                let (q, rows) = (q.clone(), rows.clone());
                async move {
                    let inputs = dealt(&mut e, &rows).await?;
                    Ok(run_query(&mut e, &q, &inputs, &everything()).await)
                }
            },
        );
        let r = agreed(results).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(count_of(&r), expected, "n = {n}, t = {t}: {sql}");
    }
}

/// Found by the fuzzer (`fuzz/fuzz_targets/sql_query.rs`): 171 bytes of nested calls that
/// sqlparser took 9 to 13 s to reject (its backtracking is exponential in the depth). Deep
/// nesting is now refused from the tokens, before the parser runs; the allowed depth parses.
#[test]
fn deeply_nested_brackets_are_refused_before_parsing() {
    let found = "SELECT COLERUNT(a(a AND aNT(a(aOLERUNT(a(a AND a < AN*OLE-UNT(a(a  < AN*OLQERUNT(\
                 a(aOLERUNT(a(a AND a < AN*OLE-UNT(a(a  AND a <T(a(aOLERUNT(a(a AND a < AN*)))))zS))))E))))";
    let err = query(found).unwrap_err();
    assert_eq!(err.construct, "brackets", "{err}");
    assert!(
        err.to_string().contains("nested more than 8 levels"),
        "{err}"
    );
    let nested = |d: usize| {
        format!(
            "SELECT COUNT(*) FROM payroll WHERE {}salary > 0{}",
            "(".repeat(d),
            ")".repeat(d)
        )
    };
    query(&nested(MAX_NESTING)).expect("the deepest accepted nesting parses");
    let err = query(&nested(MAX_NESTING + 1)).unwrap_err();
    assert!(
        err.to_string().starts_with("1:"),
        "names the position: {err}"
    );
    let calls = |d: usize| {
        format!(
            "SELECT COUNT({}a{}) FROM payroll",
            "a(".repeat(d),
            ")".repeat(d)
        )
    };
    assert_eq!(query(&calls(40)).unwrap_err().construct, "brackets");
}

/// The fuzzer's finding (issue 16, `fuzz/findings/sql_query-timeout-a4902c88`): 398 bytes of
/// `+` and `NOT` nested one inside the next that sqlparser took over 70 s to reject. It, its
/// slow sibling, and every shape that alternates an operator with `NOT`, are refused before
/// parsing, naming `NOT`; `NOT` where a condition may start still works.
#[test]
fn not_after_an_operator_is_refused_before_parsing() {
    let findings: [&[u8]; 2] = [
        include_bytes!("../../fuzz/findings/sql_query-timeout-a4902c88"),
        include_bytes!("../../fuzz/findings/sql_query-slow-80f1539b"),
    ];
    for bytes in findings {
        let text = String::from_utf8_lossy(bytes);
        let refused = query(&text).expect_err("the finding parses");
        assert_eq!(refused.construct, "NOT", "{refused}");
    }
    for shape in [
        "+ + NOT + + x + ",
        "NOT NOT x + ",
        "+ NOT ",
        "x = NOT ",
        "- NOT x * ",
    ] {
        let sql = format!("SELECT COUNT(*) FROM payroll WHERE {}", shape.repeat(40));
        let refused = query(&sql).expect_err(shape);
        assert_eq!(refused.construct, "NOT", "{shape}: {refused}");
        assert!(
            refused.to_string().contains("cannot be an operand"),
            "{refused}"
        );
    }
    for ok in [
        "SELECT COUNT(*) FROM payroll WHERE NOT salary > 0",
        "SELECT COUNT(*) FROM payroll WHERE NOT NOT salary > 0",
        "SELECT COUNT(*) FROM payroll WHERE role = 1 AND NOT (salary > 0 OR NOT gender = 'f')",
        "SELECT COUNT(*) FROM payroll WHERE salary > -5 AND NOT role < -1",
    ] {
        query(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}
