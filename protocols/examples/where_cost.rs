//! The cost model against a measurement: the issue's query (`COUNT(*)` with a `WHERE` chain of
//! `TERMS` comparisons on a 32-bit column) over `ROWS` rows, on the engine in memory (n = 3,
//! t = 1, all parties in this process), with the peak resident memory of the process (VmHWM,
//! Linux) divided by the parties, next to [`protocols::stats::cost::estimate`]'s figure for
//! one worker. The estimate should lie above the measurement.
//!
//! ```text
//! cargo run -p protocols --example where_cost -- [TERMS] [ROWS]   # memory does not depend on the profile
//! ```
//!
//! Prints one `RESULT` line. Defaults: 4 terms, 9,000 rows. Run one size per process: the
//! peak is the process's.

use std::time::Instant;

use mpc::testing::run_parties;
use mpc::{EngineConfig, Field, Fr, Params, PartyId};
use protocols::backend::Secret;
use protocols::dataset::{ColumnSpec, ColumnType, Schema};
use protocols::stats::cost::{Paths, estimate};
use protocols::stats::{GroupMinimums, Inputs, QueryOptions, parse, run_query};

/// Peak resident memory of this process, bytes (0 where /proc is missing).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let terms: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let rows: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(9_000);
    let schema = Schema {
        columns: vec![ColumnSpec {
            name: "salary".into(),
            ty: ColumnType::Integer { bits: 32 },
        }],
    };
    let clause = (0..terms)
        .map(|i| format!("salary > {i}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!("SELECT COUNT(*) FROM payroll WHERE {clause}");
    let query = parse(&sql, |_| Some(schema.clone())).expect("the query parses");
    let parties = 3;
    let estimated = estimate(&query, rows as u64, parties, Paths::FIELD);
    let before = peak_rss();
    let started = Instant::now();
    let values: Vec<i128> = (0..rows as i128).map(|i| (i * 7919) % 100_000).collect();
    let expected = values.iter().filter(|&&v| v > terms as i128 - 1).count() as i128;
    let results = run_parties(
        Params::new(parties, 1).unwrap(),
        EngineConfig::default(),
        7,
        move |mut e| {
            let (query, values) = (query.clone(), values.clone());
            async move {
                let mine = (e.me() == PartyId(0)).then_some(&values[..]);
                let x: Secret = e.input_ints(PartyId(0), mine, values.len(), 32).await?;
                let inputs = Inputs {
                    columns: vec![x],
                    owner_rows: vec![values.len()],
                };
                let options = QueryOptions::with_minimums(GroupMinimums { owners: 1, rows: 0 });
                Ok(run_query(&mut e, &query, &inputs, &options).await)
            }
        },
    );
    let seconds = started.elapsed().as_secs_f64();
    let count = match results.into_iter().next() {
        Some(Ok(Ok(r))) => format!("{:?}", r.rows[0].values[0]),
        other => format!("failed:{other:?}").replace(' ', "_"),
    };
    let measured = peak_rss().saturating_sub(before) / parties as u64;
    let _ = Fr::zero();
    println!(
        "RESULT bench=where_cost terms={terms} rows={rows} parties={parties} count={count} expected={expected} \
         measured_peak_mib_per_party={:.1} estimated_memory_mib={:.1} estimated_rounds={} seconds={seconds:.2}",
        measured as f64 / (1 << 20) as f64,
        estimated.memory as f64 / (1 << 20) as f64,
        estimated.rounds,
    );
}
