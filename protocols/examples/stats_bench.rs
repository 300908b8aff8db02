//! Joint statistics on the engine in memory (n = 3, t = 1, DN07 and GRR): one `RESULT` line per
//! query shape, with wall time, rounds, bytes sent by party 0 and secure multiplications.
//!
//! ```text
//! cargo run --release -p protocols --example stats_bench -- [ROWS] [SHAPE,...] [grr|dn07] [semi-honest|malicious] [binary|quaternary|bitsliced] [equality] [EPSILON]
//! ```
//!
//! The arguments after the protocol may come in any order; `binary`, `quaternary` or
//! `bitsliced` picks the percentiles' radix selection (`protocols::stats::order::Selection`,
//! default bitsliced); `equality` computes the `GROUP BY` one-hot by field equality tests
//! instead of the binary-domain default (`protocols::stats::Grouping`). The line carries
//! `selection=` and `grouping=`. Under `malicious` the
//! end-of-session check of every product and bit is in the time, and so is the check of the
//! owners' inputs (`Engine::check_inputs`: consistent shares, every value within its column's
//! bits), which is also reported apart (`input_check_seconds`, `_rounds`, `_bytes_p0`; zero
//! when semi-honest). With `EPSILON`, the query runs
//! with differential privacy (noise drawn inside the computation) and the line carries
//! `epsilon=`. `ROWS` defaults to 1000; without shapes (or with `all`), all run; without a
//! protocol, both.
//! Shapes: `AVG` + `STDDEV_SAMP` over `ROWS` rows from 10 owners (`avg_stddev`); `MEDIAN`
//! (`median`) and `PERCENTILE_CONT(0.9)` (`percentile90`) of the 32-bit salary column; an
//! 8-group `GROUP BY` with a `WHERE` clause (with `AVG`, with sums only, and with `MEDIAN`:
//! `groupby8_where_avg`, `groupby8_where_sums`, `groupby8_where_median`). Until the
//! fixed-point division branch is merged, the shapes that divide print `status=needs_division`
//! and the operation counts from the `Counting` backend instead of engine figures.

use std::time::Instant;

use mpc::testing::run_parties;
use mpc::{EngineConfig, MulProtocol, Params, PartyId};
use protocols::backend::{Clear, Counting, Secret};
use protocols::dataset::{ColumnSpec, ColumnType, Schema};
use protocols::stats::order::Selection;
use protocols::stats::{
    GroupMinimums, Grouping, Inputs, QueryOptions, StatsError, parse, run_query,
};
use rand::{Rng, SeedableRng};

fn schema() -> Schema {
    let domain = (0..8).map(|g| format!("g{g}")).collect();
    Schema {
        columns: vec![
            ColumnSpec {
                name: "salary".into(),
                ty: ColumnType::Integer { bits: 32 },
            },
            ColumnSpec {
                name: "grade".into(),
                ty: ColumnType::Integer { bits: 8 },
            },
            ColumnSpec {
                name: "dept".into(),
                ty: ColumnType::Categorical { domain },
            },
        ],
    }
}

fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let owners = 10;
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(1);
    let columns: Vec<Vec<i128>> = vec![
        (0..rows)
            .map(|_| rng.random_range(20_000..200_000))
            .collect(),
        (0..rows).map(|_| rng.random_range(0..20)).collect(),
        (0..rows).map(|_| rng.random_range(0..8)).collect(),
    ];
    let owner_rows: Vec<usize> = (0..owners)
        .map(|o| rows / owners + usize::from(o < rows % owners))
        .collect();
    let shapes = [
        (
            "avg_stddev",
            "SELECT AVG(salary), STDDEV_SAMP(salary) FROM payroll",
        ),
        ("median", "SELECT MEDIAN(salary) FROM payroll"),
        (
            "percentile90",
            "SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY salary) FROM payroll",
        ),
        (
            "groupby8_where_avg",
            "SELECT dept, COUNT(*), SUM(salary), AVG(salary) FROM payroll WHERE grade < 15 AND salary > 30000 GROUP BY dept",
        ),
        (
            "groupby8_where_sums",
            "SELECT dept, COUNT(*), SUM(salary) FROM payroll WHERE grade < 15 AND salary > 30000 GROUP BY dept",
        ),
        (
            "groupby8_where_median",
            "SELECT dept, MEDIAN(salary) FROM payroll WHERE grade < 15 AND salary > 30000 GROUP BY dept",
        ),
    ];
    // Optional further arguments: a security level, and an epsilon asking for differential
    // privacy.
    let mut security = mpc::SecurityLevel::SemiHonest;
    let mut epsilon: Option<f64> = None;
    let mut selection = Selection::default();
    let mut grouping = Grouping::default();
    for arg in std::env::args().skip(4) {
        match (arg.parse::<mpc::SecurityLevel>(), arg.as_str()) {
            (Ok(level), _) => security = level,
            (_, "binary") => selection = Selection::Binary,
            (_, "quaternary") => selection = Selection::Quaternary,
            (_, "bitsliced") => selection = Selection::BitSliced,
            (_, "equality") => grouping = Grouping::Equality,
            _ => {
                let what =
                    "semi-honest, malicious, binary, quaternary, bitsliced, equality or an epsilon";
                epsilon = Some(arg.parse().expect(what))
            }
        }
    }
    let options = QueryOptions {
        epsilon,
        selection,
        grouping,
        ..QueryOptions::with_minimums(GroupMinimums { owners: 1, rows: 1 })
    };
    // An optional second argument restricts the run to some shapes: `avg_stddev,median`
    // (`all`: every shape).
    let only: Option<Vec<String>> = std::env::args()
        .nth(2)
        .filter(|a| a != "all")
        .map(|a| a.split(',').map(str::to_string).collect());
    // An optional third argument runs one multiplication protocol only.
    let protocols: Vec<MulProtocol> = match std::env::args().nth(3) {
        Some(p) => vec![p.parse().expect("grr or dn07")],
        None => vec![MulProtocol::Dn07, MulProtocol::Grr],
    };
    for (name, sql) in shapes {
        if only.as_ref().is_some_and(|o| !o.iter().any(|s| s == name)) {
            continue;
        }
        let query = parse(sql, |_| Some(schema())).expect("the bench's SQL parses");
        for &mul in &protocols {
            let (q, cols, owner_rows2) = (query.clone(), columns.clone(), owner_rows.clone());
            let start = Instant::now();
            let results = run_parties(
                Params::new(3, 1).unwrap(),
                EngineConfig {
                    mul,
                    check_openings: true,
                    security,
                    ..Default::default()
                },
                3,
                move |mut e| {
                    let (q, cols, owner_rows) = (q.clone(), cols.clone(), owner_rows2.clone());
                    async move {
                        let s = schema();
                        let columns: Vec<(&[i128], u32)> = s
                            .columns
                            .iter()
                            .zip(&cols)
                            .map(|(spec, values)| (&values[..], spec.ty.bits()))
                            .collect();
                        let inputs =
                            Inputs::dealt(&mut e, PartyId(0), &columns, owner_rows).await?;
                        // Under malicious, the owners' inputs are checked first (consistent
                        // shares, declared bits), as a job does (`JobSpec::run`: the columns
                        // the query reads): timed and counted apart.
                        let (check_start, pre) = (Instant::now(), e.stats());
                        let read: Vec<Secret> = q
                            .columns_read()
                            .iter()
                            .map(|&c| inputs.columns[c].clone())
                            .collect();
                        let owner = mpc::OwnerInput {
                            name: "payroll",
                            columns: &read,
                        };
                        e.check_inputs(&[owner]).await?;
                        let check = (check_start.elapsed().as_secs_f64(), e.stats().since(&pre));
                        let before = e.stats();
                        let r = run_query(&mut e, &q, &inputs, &options).await;
                        e.verify().await?;
                        Ok((r, e.stats().since(&before), check))
                    }
                },
            );
            let secs = start.elapsed().as_secs_f64();
            let (result, stats, (check_secs, check)) = results
                .into_iter()
                .next()
                .expect("party 0")
                .expect("party 0 ran");
            match result {
                Ok(_) => println!(
                    "RESULT bench=stats query={name} rows={rows} owners={owners} n=3 t=1 mul={mul:?} security={security} selection={selection:?} grouping={grouping:?} epsilon={} seconds={secs:.3} rounds={} bytes_sent_p0={} multiplications={} input_check_seconds={check_secs:.3} input_check_rounds={} input_check_bytes_p0={} status=ok",
                    epsilon.map_or("none".to_string(), |e| e.to_string()),
                    stats.rounds,
                    stats.net.bytes_sent,
                    stats.multiplications,
                    check.rounds,
                    check.net.bytes_sent,
                ),
                Err(StatsError::Mpc {
                    source: mpc::MpcError::InvalidArgument { reason, .. },
                    ..
                }) if reason.contains("fixed-point division branch") => {
                    let inputs = Inputs {
                        columns: schema()
                            .columns
                            .iter()
                            .enumerate()
                            .map(|(c, spec)| {
                                Secret::from_shares(
                                    columns[c].iter().map(|&v| mpc::Fr::from_i128(v)).collect(),
                                    spec.ty.bits(),
                                )
                                .unwrap()
                            })
                            .collect(),
                        owner_rows: owner_rows.clone(),
                    };
                    let mut counting = Counting::new(Clear::default());
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    rt.block_on(run_query(&mut counting, &query, &inputs, &options))
                        .expect("runs in the clear");
                    let c = counting.counts;
                    println!(
                        "RESULT bench=stats query={name} rows={rows} owners={owners} n=3 t=1 mul={mul:?} status=needs_division batches={} multiplications={} comparisons={} truncations={} divisions={} roots={}",
                        c.batches,
                        c.multiplications,
                        c.comparisons,
                        c.truncations,
                        c.divisions,
                        c.roots
                    );
                    break;
                }
                Err(e) => println!(
                    "RESULT bench=stats query={name} rows={rows} mul={mul:?} status=error error=\"{e}\""
                ),
            }
        }
    }
}

use mpc::Field;
