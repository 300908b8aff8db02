//! Matching on the engine in memory (3 parties, t = 1): one `RESULT` line per run with the wall
//! time of the protocol (inputs are dealt beforehand, as the owners' clients would), rounds,
//! bytes sent by each party and secure multiplications; the public result and every private
//! output are checked against the `Clear` backend on the same instance (`check=ok`).
//!
//! ```text
//! cargo run --release -p protocols --example matching_bench -- auction [BIDDERS] [PRICES] [dn07|grr]   # default 1200 4000
//! cargo run --release -p protocols --example matching_bench -- orders  [ORDERS] [TICKS] [dn07|grr]     # default 10000 64
//! cargo run --release -p protocols --example matching_bench -- records [ROWS] [FIRMS] [dn07|grr]       # default 100000 2
//! ```
//!
//! A fifth argument `malicious` runs at that level: the owners' inputs checked first
//! (`Engine::check_inputs`, reported apart as `input_check_seconds`), the market rules on the
//! shares inside the protocol, and every product checked at the end, all in `seconds`.

use std::sync::Arc;
use std::time::Instant;

use mpc::testing::run_parties_with;
use mpc::{EngineConfig, Field, Fr, MulProtocol, Params};
use protocols::backend::{Backend, Clear, Secret};
use protocols::dataset::{ColumnSpec, ColumnType, Schema, Table, hash_identifier};
use protocols::matching::records::RecordQuery;
use protocols::matching::{run_auction, run_orders, run_record_match};
use protocols::outcome::{Outcome, OwnedTable};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

fn int(name: &str, bits: u32) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        ty: ColumnType::Integer { bits },
    }
}

/// Every party's shares of every table.
fn deal(
    params: Params,
    name: &str,
    tables: &[Table],
    rng: &mut ChaCha12Rng,
) -> Vec<Vec<OwnedTable>> {
    let mut per_party: Vec<Vec<OwnedTable>> = vec![Vec::new(); params.n()];
    for (i, t) in tables.iter().enumerate() {
        let mut cols: Vec<Vec<Secret>> = vec![Vec::new(); params.n()];
        for (spec, values) in t.schema.columns.iter().zip(&t.columns) {
            let shares: Vec<Vec<Fr>> =
                mpc::engine::share_ints(values, spec.ty.bits(), params, rng).expect("in range");
            for (p, s) in shares.into_iter().enumerate() {
                let meta = mpc::share::Meta {
                    bits: spec.ty.bits(),
                    frac: 0,
                    boolean: false,
                };
                cols[p].push(Secret::from_facts(s, meta).expect("bounded"));
            }
        }
        for (p, columns) in cols.into_iter().enumerate() {
            per_party[p].push(OwnedTable {
                owner: format!("firm{i}"),
                name: name.into(),
                schema: t.schema.clone(),
                columns,
                rows: t.rows(),
                checked: Vec::new(),
                rules_checked: Vec::new(),
            });
        }
    }
    per_party
}

/// What the bench compares: the public result (as JSON) and the private outputs' values.
type Comparable = (String, Vec<Vec<i128>>);

fn clear_view<P: serde::Serialize>(out: &Outcome<P>) -> Comparable {
    (
        serde_json::to_string(&out.public).expect("serializes"),
        out.private
            .iter()
            .map(|p| {
                p.values
                    .shares()
                    .iter()
                    .map(|v| v.to_i128().expect("an integer"))
                    .collect()
            })
            .collect(),
    )
}

/// Runs a job kind on 3 parties and prints its `RESULT` line.
fn bench<P, F, Fut>(
    label: String,
    mul: MulProtocol,
    tables: Vec<Vec<OwnedTable>>,
    clear: Comparable,
    program: F,
) where
    P: serde::Serialize + Send + 'static,
    F: Fn(mpc::Engine<mpc::net::memory::MemoryNetwork, Fr>, Vec<OwnedTable>) -> Fut
        + Send
        + Sync
        + Clone
        + 'static,
    Fut: std::future::Future<Output = (mpc::Engine<mpc::net::memory::MemoryNetwork, Fr>, Outcome<P>)>
        + Send
        + 'static,
{
    let tables = Arc::new(tables);
    let start = Instant::now();
    let results = run_parties_with(
        Params::new(3, 1).expect("3 parties"),
        EngineConfig {
            mul,
            check_openings: true,
            security: security(),
            ..Default::default()
        },
        7,
        2,
        move |mut e| {
            let mine = tables[e.me().index()].clone();
            let program = program.clone();
            async move {
                let before = e.stats();
                let t0 = Instant::now();
                // Under malicious, the owners' inputs are checked first, as a job does (the
                // market rules run inside the protocol), and every product at the end.
                let names: Vec<String> = mine
                    .iter()
                    .map(|t| format!("{}/{}", t.owner, t.name))
                    .collect();
                let inputs: Vec<mpc::OwnerInput<'_, Fr>> = names
                    .iter()
                    .zip(&mine)
                    .map(|(name, t)| mpc::OwnerInput {
                        name,
                        columns: &t.columns,
                    })
                    .collect();
                e.check_inputs(&inputs).await?;
                let check_secs = t0.elapsed().as_secs_f64();
                drop(inputs);
                let (mut e, out) = program(e, mine).await;
                e.verify().await?;
                let secs = t0.elapsed().as_secs_f64();
                let stats = e.stats().since(&before);
                let mut private = Vec::new();
                for p in &out.private {
                    private.push(Backend::open(&mut e, &p.values).await?);
                }
                let public = serde_json::to_string(&out.public).expect("serializes");
                Ok(((public, private), stats, secs, check_secs))
            }
        },
    );
    let wall = start.elapsed().as_secs_f64();
    let results: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every party ran"))
        .collect();
    let secs = results.iter().map(|r| r.2).fold(0.0, f64::max);
    let check_secs = results.iter().map(|r| r.3).fold(0.0, f64::max);
    let bytes: Vec<String> = results
        .iter()
        .map(|r| r.1.net.bytes_sent.to_string())
        .collect();
    let check = if results.iter().all(|r| r.0 == clear) {
        "ok"
    } else {
        "MISMATCH"
    };
    let s = &results[0].1;
    println!(
        "RESULT bench=matching {label} n=3 t=1 mul={mul} security={} seconds={secs:.3} input_check_seconds={check_secs:.3} rounds={} bytes_sent_per_party={} multiplications={} check={check} public={} (wall including the check openings {wall:.1} s)",
        security(),
        s.rounds,
        bytes.join(","),
        s.multiplications,
        clear.0
    );
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// The security level: the fifth argument (default semi-honest).
fn security() -> mpc::SecurityLevel {
    arg(5, mpc::SecurityLevel::SemiHonest)
}

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn auction(mul: MulProtocol, rng: &mut ChaCha12Rng) {
    let (bidders, prices): (usize, usize) = (arg(2, 1200), arg(3, 4000));
    let grid: Vec<i128> = (0..prices as i128).map(|i| 100 + i).collect();
    let schema = Schema {
        columns: vec![int("buy", 24), int("sell", 24)],
    };
    // Half buyers, half sellers: a quantity up to 10,000 t, spread linearly between two prices.
    let tables: Vec<Table> = (0..bidders)
        .map(|b| {
            let q: i128 = rng.random_range(1..=10_000);
            let (mut lo, mut hi) = (rng.random_range(0..prices), rng.random_range(0..prices));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let ramp = |i: usize| -> i128 {
                if i <= lo {
                    0
                } else if i >= hi {
                    q
                } else {
                    q * (i - lo) as i128 / (hi - lo) as i128
                }
            };
            let rising: Vec<i128> = (0..prices).map(ramp).collect();
            let zero = vec![0; prices];
            let (buy, sell) = if b % 2 == 0 {
                (rising.iter().map(|r| q - r).collect(), zero)
            } else {
                (zero, rising)
            };
            Table {
                schema: schema.clone(),
                columns: vec![buy, sell],
            }
        })
        .collect();
    let clear_tables: Vec<OwnedTable> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| OwnedTable::clear(&format!("firm{i}"), "bids", t).expect("bounded"))
        .collect();
    let clear = block_on(run_auction(&mut Clear::default(), &grid, &clear_tables)).expect("runs");
    let clear = clear_view(&clear);
    drop(clear_tables);
    let dealt = deal(Params::new(3, 1).expect("3"), "bids", &tables, rng);
    drop(tables);
    let g = Arc::new(grid);
    bench(
        format!("kind=auction bidders={bidders} prices={prices}"),
        mul,
        dealt,
        clear,
        move |mut e, t| {
            let g = g.clone();
            async move {
                let out = run_auction(&mut e, &g, &t).await.expect("the auction runs");
                (e, out)
            }
        },
    );
}

fn orders(mul: MulProtocol, rng: &mut ChaCha12Rng) {
    let (count, ticks): (usize, usize) = (arg(2, 10_000), arg(3, 64));
    let grid: Vec<i128> = (0..ticks as i128).map(|i| 1000 + 5 * i).collect();
    // 10 firms; buyers' limits skew high and sellers' low, so the book crosses mid-grid.
    let firms = 10;
    let tables = protocols::testing::order_books(rng, &grid, count, firms, 20);
    let clear_tables: Vec<OwnedTable> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| OwnedTable::clear(&format!("firm{i}"), "orders", t).expect("bounded"))
        .collect();
    let clear = block_on(run_orders(&mut Clear::default(), &grid, &clear_tables)).expect("runs");
    let clear = clear_view(&clear);
    let dealt = deal(Params::new(3, 1).expect("3"), "orders", &tables, rng);
    let g = Arc::new(grid);
    bench(
        format!("kind=orders orders={count} firms={firms} ticks={ticks}"),
        mul,
        dealt,
        clear,
        move |mut e, t| {
            let g = g.clone();
            async move {
                let out = run_orders(&mut e, &g, &t).await.expect("the book runs");
                (e, out)
            }
        },
    );
}

fn records(mul: MulProtocol, rng: &mut ChaCha12Rng) {
    let (rows, firms): (usize, usize) = (arg(2, 100_000), arg(3, 2));
    let schema = Schema {
        columns: vec![
            ColumnSpec {
                name: "customer_id".into(),
                ty: ColumnType::Identifier,
            },
            int("spend", 30),
        ],
    };
    // Customer numbers drawn from a pool of 2.5 x rows: about 40% of each firm's in another's.
    let pool = rows * 5 / 2;
    let tables: Vec<Table> = (0..firms)
        .map(|_| {
            let mut ids = std::collections::BTreeSet::new();
            while ids.len() < rows {
                ids.insert(rng.random_range(0..pool));
            }
            let mut ids: Vec<usize> = ids.into_iter().collect();
            // Rows in a random order, as a firm shuffles before upload.
            for i in (1..ids.len()).rev() {
                ids.swap(i, rng.random_range(0..=i));
            }
            Table {
                schema: schema.clone(),
                columns: vec![
                    ids.iter()
                        .map(|i| hash_identifier(&format!("customer-{i}")))
                        .collect(),
                    ids.iter().map(|_| rng.random_range(0..100_000)).collect(),
                ],
            }
        })
        .collect();
    let query = RecordQuery {
        id_column: "customer_id".into(),
        sums: vec!["spend".into()],
        pairwise: false,
        recipients: vec!["analyst".into()],
        min_intersection: 0,
    };
    let clear_tables: Vec<OwnedTable> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| OwnedTable::clear(&format!("firm{i}"), "customers", t).expect("bounded"))
        .collect();
    let clear = block_on(run_record_match(
        &mut Clear::default(),
        &query,
        &clear_tables,
    ))
    .expect("runs");
    let clear = clear_view(&clear);
    let dealt = deal(Params::new(3, 1).expect("3"), "customers", &tables, rng);
    let q = Arc::new(query);
    bench(
        format!("kind=records rows_per_firm={rows} firms={firms}"),
        mul,
        dealt,
        clear,
        move |mut e, t| {
            let q = q.clone();
            async move {
                let out = run_record_match(&mut e, &q, &t)
                    .await
                    .expect("record matching runs");
                (e, out)
            }
        },
    );
}

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_else(|| "auction".into());
    let mul: MulProtocol = arg(4, MulProtocol::Dn07);
    let mut rng = ChaCha12Rng::seed_from_u64(2026);
    match kind.as_str() {
        "auction" => auction(mul, &mut rng),
        "orders" => orders(mul, &mut rng),
        "records" => records(mul, &mut rng),
        other => {
            eprintln!("unknown kind '{other}': auction, orders or records");
            std::process::exit(2);
        }
    }
}
