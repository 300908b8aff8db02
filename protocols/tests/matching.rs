//! Matching: the auction, the order book and record matching against independent plaintext
//! references (plain Rust on `i128`, written from the rules' statements, not from the
//! protocol): proptest on the `Clear` backend over random instances (ties, no crossing, empty
//! sides, one bidder), the engine (n = 3, 5, 7) against the same references, and upload checks
//! that name the row.

use std::collections::HashSet;

use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, Fr, MulProtocol, Params};
use proptest::prelude::*;
use protocols::backend::{Backend, Clear};
use protocols::catalog::{JobSpec, MarketProblem, UploadError};
use protocols::dataset::{ColumnSpec, ColumnType, Schema, Table, hash_identifier};
use protocols::matching::records::RecordQuery;
use protocols::matching::{
    Clearing, Curve, GridError, Row, TableError, VersionRule, run_auction, run_orders,
    run_record_match,
};
use protocols::outcome::{Outcome, OwnedTable};
use protocols::stats::Value;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn int(name: &str, bits: u32) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        ty: ColumnType::Integer { bits },
    }
}

// ---------------------------------------------------------------------------------------------
// References.

/// The clearing rule, by its statement: among grid indices, the largest matched volume
/// `min(D, S)`; among those, the nearest to the crossing `p*` (the lowest index with
/// `S >= D`; `g` = past the grid when `sentinel`), `p*` itself on a tie. `None`: no trade.
fn ref_clear(d: &[i128], s: &[i128], sentinel: bool) -> Option<(usize, i128)> {
    let g = d.len();
    let star = (0..g)
        .find(|&i| s[i] >= d[i])
        .or(if sentinel { Some(g) } else { None })?;
    let best = (0..g)
        .max_by_key(|&i| (d[i].min(s[i]), -(i as i128 - star as i128).abs(), i >= star))
        .expect("a non-empty grid");
    let v = d[best].min(s[best]);
    (v > 0).then_some((best, v))
}

/// Price priority then pro rata: `full` in full, `marg` shared in proportion to the remaining
/// `volume - Σ full`, rounded down; leftover units one each, in order, to fractional shares.
fn ref_ration(full: &[i128], marg: &[i128], volume: i128) -> Vec<i128> {
    let remaining = volume - full.iter().sum::<i128>();
    let total: i128 = marg.iter().sum();
    assert!(
        (0..=total).contains(&remaining),
        "the rule leaves {remaining} of {total}"
    );
    let mut alloc: Vec<i128> = marg
        .iter()
        .map(|&m| if total == 0 { 0 } else { m * remaining / total })
        .collect();
    let mut left = remaining - alloc.iter().sum::<i128>();
    for (j, &m) in marg.iter().enumerate() {
        if left > 0 && total > 0 && (m * remaining) % total != 0 {
            alloc[j] += 1;
            left -= 1;
        }
    }
    assert_eq!(left, 0);
    full.iter().zip(&alloc).map(|(f, a)| f + a).collect()
}

/// One bidder: demand and supply at each grid price.
#[derive(Clone, Debug)]
struct Bid {
    buy: Vec<i128>,
    sell: Vec<i128>,
}

/// The auction's reference: the clearing and each bidder's (bought, sold).
fn ref_auction(bids: &[Bid]) -> (Clearing, Vec<[i128; 2]>, Option<usize>) {
    let g = bids[0].buy.len();
    let d: Vec<i128> = (0..g)
        .map(|i| bids.iter().map(|b| b.buy[i]).sum())
        .collect();
    let s: Vec<i128> = (0..g)
        .map(|i| bids.iter().map(|b| b.sell[i]).sum())
        .collect();
    let Some((p, v)) = ref_clear(&d, &s, false) else {
        return (Clearing::NoTrade, vec![[0, 0]; bids.len()], None);
    };
    let buy_full: Vec<i128> = bids
        .iter()
        .map(|b| if p + 1 < g { b.buy[p + 1] } else { 0 })
        .collect();
    let sell_full: Vec<i128> = bids
        .iter()
        .map(|b| if p > 0 { b.sell[p - 1] } else { 0 })
        .collect();
    let buy_marg: Vec<i128> = bids
        .iter()
        .zip(&buy_full)
        .map(|(b, f)| b.buy[p] - f)
        .collect();
    let sell_marg: Vec<i128> = bids
        .iter()
        .zip(&sell_full)
        .map(|(b, f)| b.sell[p] - f)
        .collect();
    let bought = ref_ration(&buy_full, &buy_marg, v);
    let sold = ref_ration(&sell_full, &sell_marg, v);
    (
        Clearing::Traded {
            price: grid_of(g)[p],
            volume: v,
        },
        bought.into_iter().zip(sold).map(|(b, s)| [b, s]).collect(),
        Some(p),
    )
}

fn grid_of(g: usize) -> Vec<i128> {
    (0..g as i128).map(|i| 100 + 5 * i).collect()
}

/// One order: (sells, limit, quantity).
type Order = (bool, i128, i128);

/// The order book's reference: the clearing and every order's fill, in order.
fn ref_orders(grid: &[i128], orders: &[Order]) -> (Clearing, Vec<i128>) {
    let d: Vec<i128> = grid
        .iter()
        .map(|&g| {
            orders
                .iter()
                .filter(|o| !o.0 && o.1 >= g)
                .map(|o| o.2)
                .sum()
        })
        .collect();
    let s: Vec<i128> = grid
        .iter()
        .map(|&g| orders.iter().filter(|o| o.0 && o.1 <= g).map(|o| o.2).sum())
        .collect();
    let Some((p, v)) = ref_clear(&d, &s, true) else {
        return (Clearing::NoTrade, vec![0; orders.len()]);
    };
    let price = grid[p];
    let mut fills = vec![0; orders.len()];
    for sells in [false, true] {
        let idx: Vec<usize> = (0..orders.len())
            .filter(|&j| orders[j].0 == sells)
            .collect();
        let better = |o: &Order| if sells { o.1 < price } else { o.1 > price };
        let full: Vec<i128> = idx
            .iter()
            .map(|&j| if better(&orders[j]) { orders[j].2 } else { 0 })
            .collect();
        let marg: Vec<i128> = idx
            .iter()
            .map(|&j| if orders[j].1 == price { orders[j].2 } else { 0 })
            .collect();
        for (k, a) in ref_ration(&full, &marg, v).into_iter().enumerate() {
            fills[idx[k]] = a;
        }
    }
    (Clearing::Traded { price, volume: v }, fills)
}

// ---------------------------------------------------------------------------------------------
// Tables.

fn bid_table(bid: &Bid) -> Table {
    let g = bid.buy.len();
    Table {
        schema: Schema {
            columns: vec![int("price", 20), int("buy", 16), int("sell", 16)],
        },
        columns: vec![grid_of(g), bid.buy.clone(), bid.sell.clone()],
    }
}

fn order_schema() -> Schema {
    Schema {
        columns: vec![
            ColumnSpec {
                name: "side".into(),
                ty: ColumnType::Categorical {
                    domain: vec!["buy".into(), "sell".into()],
                },
            },
            int("price", 20),
            int("quantity", 16),
        ],
    }
}

fn order_table(orders: &[Order]) -> Table {
    Table {
        schema: order_schema(),
        columns: vec![
            orders.iter().map(|o| i128::from(o.0)).collect(),
            orders.iter().map(|o| o.1).collect(),
            orders.iter().map(|o| o.2).collect(),
        ],
    }
}

fn record_table(ids: &[u32], spend: &[i128]) -> Table {
    Table {
        schema: Schema {
            columns: vec![
                ColumnSpec {
                    name: "customer_id".into(),
                    ty: ColumnType::Identifier,
                },
                int("spend", 30),
            ],
        },
        columns: vec![
            ids.iter()
                .map(|i| hash_identifier(&format!("c{i}")))
                .collect(),
            spend.to_vec(),
        ],
    }
}

fn clear_tables(name: &str, tables: &[Table]) -> Vec<OwnedTable> {
    tables
        .iter()
        .enumerate()
        .map(|(i, t)| OwnedTable::clear(&format!("firm{i}"), name, t).unwrap())
        .collect()
}

/// Each party's shares of the tables (dealt as the owners' clients would).
fn dealt_tables(params: Params, name: &str, tables: &[Table], seed: u64) -> Vec<Vec<OwnedTable>> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(seed);
    let mut per_party: Vec<Vec<OwnedTable>> = vec![Vec::new(); params.n()];
    for (i, t) in tables.iter().enumerate() {
        let mut cols: Vec<Vec<protocols::Secret>> = vec![Vec::new(); params.n()];
        for (spec, values) in t.schema.columns.iter().zip(&t.columns) {
            // Dealt whatever the value (a cheating owner's too); declared with the schema's bits.
            let shares: Vec<Vec<Fr>> =
                mpc::engine::share_ints(values, 120, params, &mut rng).unwrap();
            for (p, s) in shares.into_iter().enumerate() {
                cols[p].push(
                    protocols::Secret::from_facts(
                        s,
                        mpc::share::Meta {
                            bits: spec.ty.bits(),
                            frac: spec.ty.frac(),
                            boolean: false,
                        },
                    )
                    .unwrap(),
                );
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

/// The private outputs' plain values (on `Clear` the "shares" are the values).
fn clear_private<P>(out: &Outcome<P>) -> Vec<(String, Vec<i128>)> {
    out.private
        .iter()
        .map(|p| {
            (
                p.recipient.clone(),
                p.values
                    .shares()
                    .iter()
                    .map(|v| v.to_i128().unwrap())
                    .collect(),
            )
        })
        .collect()
}

use mpc::Field;

// ---------------------------------------------------------------------------------------------
// Strategies.

fn monotone(g: usize, rising: bool, max: i128) -> impl Strategy<Value = Vec<i128>> {
    prop::collection::vec(0..=max, g).prop_map(move |mut v| {
        v.sort_unstable();
        if !rising {
            v.reverse();
        }
        v
    })
}

fn bids_strategy() -> impl Strategy<Value = Vec<Bid>> {
    (1usize..=7, 1usize..=5).prop_flat_map(|(g, k)| {
        let bid = (monotone(g, false, 12), monotone(g, true, 12), 0u8..4).prop_map(
            |(buy, sell, kind)| match kind {
                // Pure buyers and pure sellers as well as both.
                0 => Bid {
                    sell: vec![0; buy.len()],
                    buy,
                },
                1 => Bid {
                    buy: vec![0; sell.len()],
                    sell,
                },
                _ => Bid { buy, sell },
            },
        );
        prop::collection::vec(bid, k)
    })
}

fn orders_strategy() -> impl Strategy<Value = (Vec<i128>, Vec<Vec<Order>>)> {
    (
        1usize..=5,
        prop::collection::vec(1i128..=4, 5),
        any::<bool>(),
    )
        .prop_flat_map(|(g, gaps, even)| {
            // Evenly spaced grids (positions by the step) and uneven lists (by the price).
            let grid: Vec<i128> = (0..g)
                .map(|i| {
                    90 + if even {
                        3 * i as i128
                    } else {
                        gaps[..i].iter().sum()
                    }
                })
                .collect();
            let order = (any::<bool>(), 0..g, 1i128..=9);
            let grid2 = grid.clone();
            prop::collection::vec(prop::collection::vec(order, 0..=5), 1..=3).prop_map(
                move |firms| {
                    let books = firms
                        .into_iter()
                        .map(|f| f.into_iter().map(|(s, i, q)| (s, grid2[i], q)).collect())
                        .collect();
                    (grid.clone(), books)
                },
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Clear backend against the references.

fn check_auction_clear(bids: &[Bid]) {
    let tables: Vec<Table> = bids.iter().map(bid_table).collect();
    let owned = clear_tables("bids", &tables);
    let g = bids[0].buy.len();
    let out = block_on(run_auction(&mut Clear::default(), &grid_of(g), &owned)).unwrap();
    let (clearing, alloc, _) = ref_auction(bids);
    assert_eq!(out.public.clearing, clearing);
    assert_eq!(out.public.bidders, bids.len());
    let got = clear_private(&out);
    for (j, (recipient, values)) in got.iter().enumerate() {
        assert_eq!(recipient, &format!("firm{j}"));
        assert_eq!(values, &alloc[j].to_vec(), "bidder {j}");
    }
    // Invariants: each side's allocations sum to the volume.
    if let Clearing::Traded { volume, .. } = clearing {
        assert_eq!(alloc.iter().map(|a| a[0]).sum::<i128>(), volume);
        assert_eq!(alloc.iter().map(|a| a[1]).sum::<i128>(), volume);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn auction_matches_the_reference(bids in bids_strategy()) {
        check_auction_clear(&bids);
    }

    #[test]
    fn orders_match_the_reference((grid, books) in orders_strategy()) {
        let tables: Vec<Table> = books.iter().map(|b| order_table(b)).collect();
        let owned = clear_tables("orders", &tables);
        let out = block_on(run_orders(&mut Clear::default(), &grid, &owned)).unwrap();
        let all: Vec<Order> = books.iter().flatten().copied().collect();
        let (clearing, fills) = ref_orders(&grid, &all);
        prop_assert_eq!(&out.public.clearing, &clearing);
        let got: Vec<i128> = clear_private(&out).into_iter().flat_map(|(_, v)| v).collect();
        prop_assert_eq!(got, fills);
    }

    #[test]
    fn record_counts_and_sums_match_the_reference(
        firms in prop::collection::vec(
            prop::collection::btree_map(0u32..30, 0i128..1000, 0..12), 2..=4),
        pairwise in any::<bool>(),
    ) {
        let tables: Vec<Table> = firms
            .iter()
            .map(|m| {
                let ids: Vec<u32> = m.keys().copied().collect();
                let spend: Vec<i128> = m.values().copied().collect();
                record_table(&ids, &spend)
            })
            .collect();
        let owned = clear_tables("customers", &tables);
        let query = RecordQuery {
            id_column: "customer_id".into(),
            sums: vec!["spend".into()],
            pairwise,
            recipients: vec![],
            min_intersection: 0,
        };
        let out = block_on(run_record_match(&mut Clear::seeded(7), &query, &owned)).unwrap();
        let sets: Vec<HashSet<u32>> = firms.iter().map(|m| m.keys().copied().collect()).collect();
        let common: HashSet<u32> = sets[0]
            .iter()
            .filter(|i| sets.iter().all(|s| s.contains(i)))
            .copied()
            .collect();
        prop_assert_eq!(out.public.common, common.len());
        let mut expect_sums: Vec<i128> = firms
            .iter()
            .map(|m| m.iter().filter(|(k, _)| common.contains(k)).map(|(_, v)| v).sum())
            .collect();
        expect_sums.push(expect_sums.iter().sum());
        let got: Vec<i128> = out
            .public
            .sums
            .iter()
            .map(|s| match s.value { Value::Int(v) => v, _ => panic!("an integer sum") })
            .collect();
        prop_assert_eq!(got, expect_sums);
        if pairwise {
            let mut k = 0;
            for i in 0..sets.len() {
                for j in i + 1..sets.len() {
                    prop_assert_eq!(out.public.pairwise[k].common, sets[i].intersection(&sets[j]).count());
                    k += 1;
                }
            }
        } else {
            prop_assert!(out.public.pairwise.is_empty());
        }
    }
}

#[test]
fn auction_edge_cases() {
    let bid = |buy: &[i128], sell: &[i128]| Bid {
        buy: buy.to_vec(),
        sell: sell.to_vec(),
    };
    // No crossing: demand above supply everywhere.
    let bids = vec![bid(&[9, 9, 9], &[0, 0, 0]), bid(&[0, 0, 0], &[1, 2, 3])];
    assert_eq!(ref_auction(&bids).0, Clearing::NoTrade);
    check_auction_clear(&bids);
    // No buyers at all: crosses at the first price with volume 0.
    let bids = vec![bid(&[0, 0], &[5, 6])];
    assert_eq!(ref_auction(&bids).0, Clearing::NoTrade);
    check_auction_clear(&bids);
    // A single bidder trading with itself, and a tie between p* - 1 and p*.
    let bids = vec![bid(&[6, 4, 2], &[1, 4, 7])];
    assert_eq!(
        ref_auction(&bids).0,
        Clearing::Traded {
            price: 105,
            volume: 4
        }
    );
    check_auction_clear(&bids);
    // p* - 1 clears (more volume there): sellers short, buyers rationed pro rata with a
    // leftover unit to the first fractional share.
    let bids = vec![
        bid(&[5, 5, 0], &[0, 0, 0]),
        bid(&[5, 5, 0], &[0, 0, 0]),
        bid(&[0, 0, 0], &[1, 7, 9]),
    ];
    let (c, alloc, p) = ref_auction(&bids);
    assert_eq!(
        (c, p),
        (
            Clearing::Traded {
                price: 105,
                volume: 7
            },
            Some(1)
        )
    );
    assert_eq!(alloc, vec![[4, 0], [3, 0], [0, 7]]);
    check_auction_clear(&bids);
}

#[test]
fn orders_edge_cases() {
    let grid = [10, 11, 12];
    // Empty book, one side only, and demand above the grid's top (clears at the top).
    for book in [
        vec![],
        vec![(false, 12, 5)],
        vec![(true, 10, 5), (true, 11, 1)],
        vec![(false, 12, 5), (true, 12, 2), (true, 10, 1)],
    ] {
        let owned = clear_tables("orders", &[order_table(&book)]);
        let out = block_on(run_orders(&mut Clear::default(), &grid, &owned)).unwrap();
        let (clearing, fills) = ref_orders(&grid, &book);
        assert_eq!(out.public.clearing, clearing, "{book:?}");
        let got: Vec<i128> = clear_private(&out)
            .into_iter()
            .flat_map(|(_, v)| v)
            .collect();
        assert_eq!(got, fills, "{book:?}");
    }
    let (c, fills) = ref_orders(&grid, &[(false, 12, 5), (true, 12, 2), (true, 10, 1)]);
    assert_eq!(
        c,
        Clearing::Traded {
            price: 12,
            volume: 3
        }
    );
    assert_eq!(fills, vec![3, 2, 1]);
}

// ---------------------------------------------------------------------------------------------
// The engine against the references.

fn engine_settings() -> Vec<(Params, MulProtocol)> {
    vec![
        (Params::new(3, 1).unwrap(), MulProtocol::Dn07),
        (Params::new(3, 1).unwrap(), MulProtocol::Grr),
        (Params::new(5, 2).unwrap(), MulProtocol::Dn07),
        (Params::new(7, 3).unwrap(), MulProtocol::Grr),
    ]
}

/// Runs `program` on every party with its dealt tables, opening every private output.
fn on_engine<P, F, Fut>(
    params: Params,
    mul: MulProtocol,
    tables: Vec<Vec<OwnedTable>>,
    program: F,
) -> (P, Vec<(String, Vec<i128>)>)
where
    P: Send + PartialEq + std::fmt::Debug + 'static,
    F: Fn(mpc::Engine<mpc::net::memory::MemoryNetwork, Fr>, Vec<OwnedTable>) -> Fut
        + Send
        + Sync
        + Clone
        + 'static,
    Fut: std::future::Future<Output = (mpc::Engine<mpc::net::memory::MemoryNetwork, Fr>, Outcome<P>)>
        + Send
        + 'static,
{
    let tables = std::sync::Arc::new(tables);
    agreed(run_parties(
        params,
        EngineConfig {
            mul,
            check_openings: true,
            ..Default::default()
        },
        11,
        move |e| {
            let mine = tables[e.me().index()].clone();
            let program = program.clone();
            async move {
                let (mut e, out) = program(e, mine).await;
                let mut private = Vec::new();
                for p in &out.private {
                    private.push((p.recipient.clone(), Backend::open(&mut e, &p.values).await?));
                }
                Ok((out.public, private))
            }
        },
    ))
}

#[test]
fn auction_on_the_engine_matches_the_reference() {
    let bid = |buy: &[i128], sell: &[i128]| Bid {
        buy: buy.to_vec(),
        sell: sell.to_vec(),
    };
    let instances = [
        vec![
            bid(&[9, 7, 5, 3, 0], &[0, 0, 0, 0, 0]),
            bid(&[4, 4, 2, 1, 1], &[0, 1, 2, 3, 8]),
            bid(&[0, 0, 0, 0, 0], &[1, 3, 5, 7, 9]),
            bid(&[3, 3, 3, 0, 0], &[0, 0, 2, 2, 2]),
        ],
        vec![bid(&[9, 9, 9], &[0, 0, 0]), bid(&[0, 0, 0], &[1, 2, 3])],
    ];
    for (params, mul) in engine_settings() {
        for bids in &instances {
            let tables: Vec<Table> = bids.iter().map(bid_table).collect();
            let g = bids[0].buy.len();
            let dealt = dealt_tables(params, "bids", &tables, 3);
            let (public, private) = on_engine(params, mul, dealt, move |mut e, t| async move {
                let out = run_auction(&mut e, &grid_of(g), &t).await.unwrap();
                (e, out)
            });
            let (clearing, alloc, _) = ref_auction(bids);
            assert_eq!(public.clearing, clearing, "{params:?} {mul:?}");
            let got: Vec<Vec<i128>> = private.into_iter().map(|(_, v)| v).collect();
            let expect: Vec<Vec<i128>> = alloc.iter().map(|a| a.to_vec()).collect();
            assert_eq!(got, expect, "{params:?} {mul:?}");
        }
    }
}

#[test]
fn orders_on_the_engine_match_the_reference() {
    // Books by grid position: (sells, position, quantity).
    let positions: Vec<Vec<(bool, usize, i128)>> = vec![
        vec![(false, 4, 4), (true, 1, 3), (false, 2, 5)],
        vec![(true, 2, 4), (false, 2, 2), (true, 0, 1)],
        vec![(true, 3, 6), (false, 1, 7)],
    ];
    // A dense grid (one-hot path) and a sparse one (comparison path).
    let grids = [
        vec![95, 96, 97, 98, 99],
        vec![0, 50_000, 100_000, 150_000, 200_000],
    ];
    for (k, grid) in grids.iter().enumerate() {
        let books: Vec<Vec<Order>> = positions
            .iter()
            .map(|b| b.iter().map(|&(s, i, q)| (s, grid[i], q)).collect())
            .collect();
        let all: Vec<Order> = books.iter().flatten().copied().collect();
        let (clearing, fills) = ref_orders(grid, &all);
        assert!(matches!(clearing, Clearing::Traded { .. }));
        let tables: Vec<Table> = books.iter().map(|b| order_table(b)).collect();
        let settings = engine_settings();
        let settings = if k == 0 {
            &settings[..3]
        } else {
            &settings[..1]
        };
        for &(params, mul) in settings {
            let dealt = dealt_tables(params, "orders", &tables, 5);
            let g = grid.clone();
            let (public, private) = on_engine(params, mul, dealt, move |mut e, t| {
                let g = g.clone();
                async move {
                    let out = run_orders(&mut e, &g, &t).await.unwrap();
                    (e, out)
                }
            });
            assert_eq!(public.clearing, clearing, "{params:?} {mul:?}");
            let got: Vec<i128> = private.into_iter().flat_map(|(_, v)| v).collect();
            assert_eq!(got, fills, "{params:?} {mul:?}");
        }
    }
}

#[test]
fn record_matching_on_the_engine_matches_the_reference() {
    let a = record_table(&[1, 2, 3, 4, 5, 6], &[10, 20, 30, 40, 50, 60]);
    let b = record_table(&[6, 4, 9, 2, 8], &[1, 2, 3, 4, 5]);
    let c = record_table(&[2, 6, 7], &[100, 200, 300]);
    // Common to all three: 2 and 6.
    let tables = vec![a, b, c];
    for (params, mul) in engine_settings().into_iter().take(3) {
        let dealt = dealt_tables(params, "customers", &tables, 9);
        let (public, private) = on_engine(params, mul, dealt, |mut e, t| async move {
            let query = RecordQuery {
                id_column: "customer_id".into(),
                sums: vec!["spend".into()],
                pairwise: true,
                recipients: vec!["analyst".into()],
                min_intersection: 0,
            };
            let out = run_record_match(&mut e, &query, &t).await.unwrap();
            (e, out)
        });
        assert_eq!(public.common, 2);
        let pairs: Vec<usize> = public.pairwise.iter().map(|p| p.common).collect();
        assert_eq!(pairs, vec![3, 2, 2]);
        assert!(public.sums.is_empty(), "sums go to the recipient only");
        assert_eq!(
            private,
            vec![("analyst".to_string(), vec![20 + 60, 4 + 1, 100 + 200, 385])]
        );
    }
}

#[test]
fn tags_do_not_repeat_across_jobs() {
    // Two runs (two keys) give unrelated tags for the same identifiers.
    let t = record_table(&[1, 2], &[0, 0]);
    let owned = clear_tables("c", &[t]);
    let x = owned[0].column("customer_id").unwrap().clone();
    let first = block_on(Clear::seeded(1).prf_tags(&x)).unwrap();
    let second = block_on(Clear::seeded(2).prf_tags(&x)).unwrap();
    assert!(first.iter().all(|tag| !second.contains(tag)));
    let again = block_on(Clear::seeded(1).prf_tags(&x)).unwrap();
    assert_eq!(first, again);
}

// ---------------------------------------------------------------------------------------------
// Upload checks name the row.

fn spec(text: &str) -> JobSpec {
    JobSpec::from_toml(text).unwrap()
}

#[test]
fn uploads_are_refused_naming_the_row() {
    let auction =
        spec("kind = \"auction\"\ndataset = \"bids\"\ngrid = { min = 100, max = 110, step = 5 }\n");
    let good = bid_table(&Bid {
        buy: vec![5, 3, 3],
        sell: vec![0, 1, 4],
    });
    assert_eq!(auction.check_upload("bids", &good), Ok(()));
    assert_eq!(auction.check_upload("other", &good), Ok(()));
    let mut rising = good.clone();
    rising.columns[1][2] = 4;
    let refusal = auction.check_upload("bids", &rising).unwrap_err();
    assert!(
        matches!(
            &refusal,
            UploadError::Market {
                kind: "auction",
                problem: MarketProblem::Table(TableError::NotMonotone {
                    row: Row(2),
                    curve: Curve::Demand,
                    from: 3,
                    to: 4,
                    ..
                }),
                ..
            }
        ),
        "{refusal:?}"
    );
    let err = refusal.to_string();
    assert!(
        err.contains("row 3 (CSV line 4): demand rises from 3 at price 105 to 4 at price 110"),
        "{err}"
    );
    let mut negative = good.clone();
    negative.columns[2][0] = -1;
    let err = auction
        .check_upload("bids", &negative)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 1 (CSV line 2): negative sell quantity -1"),
        "{err}"
    );
    let mut off = good.clone();
    off.columns[0][1] = 104;
    let err = auction.check_upload("bids", &off).unwrap_err().to_string();
    assert!(
        err.contains("row 2 (CSV line 3): price 104 is not the grid's price 105"),
        "{err}"
    );
    let mut falling = good.clone();
    falling.columns[2][1] = 0;
    falling.columns[2][0] = 2;
    let err = auction
        .check_upload("bids", &falling)
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 2 (CSV line 3): supply falls"), "{err}");

    let orders = spec("kind = \"orders\"\ndataset = \"orders\"\ngrid = [10, 12, 15]\n");
    let good = order_table(&[(false, 12, 3), (true, 15, 1)]);
    assert_eq!(orders.check_upload("orders", &good), Ok(()));
    let err = orders
        .check_upload("orders", &order_table(&[(false, 12, 3), (true, 13, 1)]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 2 (CSV line 3): price 13 is not on the grid"),
        "{err}"
    );
    let err = orders
        .check_upload("orders", &order_table(&[(false, 12, -3)]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 1 (CSV line 2): quantity -3 must be at least 1"),
        "{err}"
    );

    let records = spec(
        "kind = \"record_match\"\ndatasets = [\"customers\"]\nid_column = \"customer_id\"\nsums = [\"spend\"]\n",
    );
    assert_eq!(
        records.check_upload("customers", &record_table(&[1, 2], &[0, 0])),
        Ok(())
    );
    let err = records
        .check_upload("customers", &record_table(&[1, 2, 1], &[0, 0, 0]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 3 (CSV line 4): identifier repeats row 1 (CSV line 2)"),
        "{err}"
    );
    assert_eq!(
        records
            .check_upload("customers", &record_table(&[1, 2, 1], &[0, 0, 0]))
            .unwrap_err(),
        UploadError::Market {
            dataset: "customers".into(),
            kind: "record_match",
            problem: MarketProblem::Table(TableError::IdRepeats {
                row: Row(2),
                first: Row(0)
            }),
        }
    );
    assert_eq!(records.kind(), "record_match");
}

#[test]
fn specs_parse_and_refuse_typos() {
    let s = spec("kind = \"auction\"\ndataset = \"b\"\ngrid = { min = 1, max = 3, step = 1 }\n");
    assert_eq!(s.kind(), "auction");
    assert!(s.recipients().is_empty());
    assert!(
        JobSpec::from_toml("kind = \"orders\"\ndataset = \"o\"\ngrid = [1]\nprise = 3\n").is_err()
    );
    let bad_grid = spec("kind = \"orders\"\ndataset = \"o\"\ngrid = [3, 2]\n");
    let err = bad_grid.check_upload("o", &order_table(&[])).unwrap_err();
    assert!(
        matches!(
            &err,
            UploadError::Market {
                problem: MarketProblem::Grid(GridError::NotIncreasing(3, 2)),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("grid: prices must increase strictly"),
        "{err}"
    );
    // A three-price list is a list, not a range's [min, max, step].
    let JobSpec::Orders { grid, .. } =
        spec("kind = \"orders\"\ndataset = \"o\"\ngrid = [10, 12, 15]\n")
    else {
        panic!("an orders job")
    };
    assert_eq!(grid.prices().unwrap(), vec![10, 12, 15]);
    let JobSpec::Auction { grid, .. } =
        spec("kind = \"auction\"\ndataset = \"b\"\ngrid = { min = 10, max = 20, step = 4 }\n")
    else {
        panic!("an auction job")
    };
    assert_eq!(grid.prices().unwrap(), vec![10, 14, 18]);
}

// ---------------------------------------------------------------------------------------------
// The shipped examples parse, pass the upload checks and give the results their comments state.

fn example(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    std::fs::read_to_string(format!("{root}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn example_tables(spec: &JobSpec, dataset: &str, kind: &str, owners: &[&str]) -> Vec<OwnedTable> {
    let schema =
        Schema::from_toml(&example(&format!("data/{kind}/schema.toml")), "schema.toml").unwrap();
    owners
        .iter()
        .map(|owner| {
            let csv = example(&format!("data/{kind}/{owner}.csv"));
            let table = protocols::dataset::read_csv(csv.as_bytes(), owner, Some(&schema)).unwrap();
            spec.check_upload(dataset, &table).unwrap();
            OwnedTable::clear(owner, dataset, &table).unwrap()
        })
        .collect()
}

#[test]
fn shipped_examples_give_their_stated_results() {
    let spec = JobSpec::from_toml(&example("auction.toml")).unwrap();
    let JobSpec::Auction { dataset, grid, .. } = &spec else {
        panic!("an auction")
    };
    let bids = example_tables(
        &spec,
        dataset,
        "auction",
        &["north-farm", "south-farm", "sugar-mill"],
    );
    let out = block_on(run_auction(
        &mut Clear::default(),
        &grid.prices().unwrap(),
        &bids,
    ))
    .unwrap();
    assert_eq!(
        out.public.clearing,
        Clearing::Traded {
            price: 115,
            volume: 45
        }
    );
    let alloc: Vec<Vec<i128>> = clear_private(&out).into_iter().map(|(_, v)| v).collect();
    assert_eq!(alloc, vec![vec![0, 25], vec![0, 20], vec![45, 0]]);

    let spec = JobSpec::from_toml(&example("orders.toml")).unwrap();
    let JobSpec::Orders { dataset, grid, .. } = &spec else {
        panic!("an order book")
    };
    let books = example_tables(&spec, dataset, "orders", &["alpha", "beta", "gamma"]);
    let out = block_on(run_orders(
        &mut Clear::default(),
        &grid.prices().unwrap(),
        &books,
    ))
    .unwrap();
    assert_eq!(
        out.public.clearing,
        Clearing::Traded {
            price: 100,
            volume: 75
        }
    );
    let fills: Vec<Vec<i128>> = clear_private(&out).into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        fills,
        vec![vec![40, 0, 0], vec![30, 20, 15], vec![20, 25, 0]]
    );

    let spec = JobSpec::from_toml(&example("record-match.toml")).unwrap();
    let tables = example_tables(
        &spec,
        "customers",
        "record-match",
        &["acme", "globex", "initech"],
    );
    let query = spec.record_query().unwrap();
    let out = block_on(run_record_match(&mut Clear::default(), &query, &tables)).unwrap();
    assert_eq!(out.public.common, 3);
    let pairs: Vec<usize> = out.public.pairwise.iter().map(|p| p.common).collect();
    assert_eq!(pairs, vec![4, 3, 3]);
    let sums: Vec<Value> = out.public.sums.iter().map(|s| s.value.clone()).collect();
    assert_eq!(sums, [655, 720, 295, 1670].map(Value::Int).to_vec());
}

#[test]
fn the_auction_costs_what_its_plan_says() {
    // k bidders, g prices: g comparisons for the crossing, 1 to pick p* - 1 or p*, then the
    // rationing of 2k participants: 2 (empty margins) + 3·2k (floor window) + 2k (fractional)
    // + 2k (leftover units); one division of 2 elements.
    let bids: Vec<Bid> = (0..4)
        .map(|j| Bid {
            buy: vec![8 - j, 6 - j, 4 - j, 2 - j.min(2)],
            sell: vec![j, j + 1, j + 3, j + 5],
        })
        .collect();
    let tables: Vec<Table> = bids.iter().map(bid_table).collect();
    let owned = clear_tables("bids", &tables);
    let mut counting = protocols::Counting::new(Clear::default());
    let out = block_on(run_auction(&mut counting, &grid_of(4), &owned)).unwrap();
    assert_eq!(out.public.clearing, ref_auction(&bids).0);
    assert!(matches!(out.public.clearing, Clearing::Traded { .. }));
    let (k, g) = (4u64, 4u64);
    let c = counting.counts;
    assert_eq!(c.comparisons, g + 1 + 2 + 6 * k + 2 * k + 2 * k);
    assert_eq!(c.divisions, 2);
    assert_eq!(c.opened, 2, "only the volume and the price are opened");
}

#[test]
fn rationing_is_exact_at_the_widest_quantities_on_the_engine() {
    // Quantities near 2^32 in 32-bit columns (the upload limit), many bidders on the long side:
    // the fixed-point division and the floor window are at their tightest.
    let big = (1i128 << 32) - 1;
    let mut bids: Vec<Bid> = (0..5)
        .map(|j| Bid {
            buy: vec![0, 0],
            sell: vec![big - 977 * j, big - 3 * j],
        })
        .collect();
    bids.push(Bid {
        buy: vec![big - 12345, big / 3],
        sell: vec![0, 0],
    });
    bids.push(Bid {
        buy: vec![big / 7, 11],
        sell: vec![0, 0],
    });
    let tables: Vec<Table> = bids
        .iter()
        .map(|b| {
            let mut t = bid_table(b);
            t.schema.columns[1] = int("buy", 32);
            t.schema.columns[2] = int("sell", 32);
            t
        })
        .collect();
    let (clearing, alloc, _) = ref_auction(&bids);
    assert!(matches!(clearing, Clearing::Traded { .. }));
    for (params, mul) in [
        (Params::new(3, 1).unwrap(), MulProtocol::Dn07),
        (Params::new(5, 2).unwrap(), MulProtocol::Grr),
    ] {
        let dealt = dealt_tables(params, "bids", &tables, 13);
        let (public, private) = on_engine(params, mul, dealt, |mut e, t| async move {
            let out = run_auction(&mut e, &grid_of(2), &t).await.unwrap();
            (e, out)
        });
        assert_eq!(public.clearing, clearing);
        let got: Vec<Vec<i128>> = private.into_iter().map(|(_, v)| v).collect();
        let expect: Vec<Vec<i128>> = alloc.iter().map(|a| a.to_vec()).collect();
        assert_eq!(got, expect, "{params:?} {mul:?}");
    }
}

/// The probe attack: a one-row dataset holding one customer's identifier, matched with `sums`
/// against a firm's 20 customers. Without a minimum it learns the customer is there and their
/// exact spend; under `min_intersection = 5` (also on the engine) nothing is released.
#[test]
fn the_probe_record_match_releases_nothing_under_a_minimum_intersection() {
    let firm = record_table(
        &(0..20).collect::<Vec<_>>(),
        &(0..20).map(|i| 1000 + i).collect::<Vec<_>>(),
    );
    let probe = record_table(&[7], &[0]);
    let tables = clear_tables("customers", &[firm, probe]);
    let mut query = RecordQuery {
        id_column: "customer_id".into(),
        sums: vec!["spend".into()],
        pairwise: true,
        recipients: vec![],
        min_intersection: 0,
    };
    let open = block_on(run_record_match(&mut Clear::default(), &query, &tables)).unwrap();
    assert_eq!(open.public.common, 1);
    assert_eq!(open.public.sums[0].value, Value::Int(1007));
    query.min_intersection = 5;
    let out = block_on(run_record_match(&mut Clear::default(), &query, &tables)).unwrap();
    assert_eq!(out.public.common, 0);
    assert!(out.public.sums.is_empty() && out.public.pairwise.is_empty());
    assert!(out.private.is_empty());
    assert!(
        out.public.withheld[0].contains("min_intersection"),
        "{:?}",
        out.public.withheld
    );
    // Recipients get nothing either, on the engine as in the clear.
    query.recipients = vec!["analyst".into()];
    let params = Params::new(3, 1).unwrap();
    let raw = [
        record_table(&(0..20).collect::<Vec<_>>(), &vec![5; 20]),
        record_table(&[7], &[0]),
    ];
    let dealt = dealt_tables(params, "customers", &raw, 3);
    let (public, private) = on_engine(params, MulProtocol::Grr, dealt, move |mut e, t| {
        let query = query.clone();
        async move {
            let out = run_record_match(&mut e, &query, &t).await.unwrap();
            (e, out)
        }
    });
    assert_eq!(public.common, 0);
    assert!(private.is_empty(), "{private:?}");
}

/// `datasets = ["x", "x"]`: one firm's dataset taken twice would release its total and row
/// count with no other owner involved; refused before anything runs.
#[test]
fn a_record_match_naming_one_dataset_twice_is_refused() {
    let t = record_table(&[1, 2, 3], &[10, 20, 30]);
    let tables = vec![
        OwnedTable::clear("acme", "x", &t).unwrap(),
        OwnedTable::clear("acme", "x", &t).unwrap(),
    ];
    let query = JobSpec::from_toml(
        "kind = \"record_match\"\ndatasets = [\"x\", \"x\"]\nid_column = \"customer_id\"\nsums = [\"spend\"]\n",
    )
    .unwrap()
    .record_query()
    .unwrap();
    let err = block_on(run_record_match(&mut Clear::default(), &query, &tables)).unwrap_err();
    assert!(err.to_string().contains("acme/x is named twice"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Cheating owners under the malicious level: the workers check the market's rules on the shares.

/// Runs `spec` over every party's dealt tables at `security`: each party's public result (as
/// text) or its error.
fn job_at(
    params: Params,
    mul: MulProtocol,
    security: mpc::SecurityLevel,
    spec: &JobSpec,
    tables: Vec<Vec<OwnedTable>>,
) -> Vec<Result<String, String>> {
    let tables = std::sync::Arc::new(tables);
    let spec = spec.clone();
    let config = EngineConfig {
        mul,
        security,
        ..Default::default()
    };
    run_parties(params, config, 13, move |mut e| {
        let mine = tables[e.me().index()].clone();
        let spec = spec.clone();
        async move {
            let minimums = protocols::stats::GroupMinimums { owners: 1, rows: 1 };
            let out = spec.run(&mut e, &mine, minimums).await;
            Ok(out
                .map(|o| format!("{:?}", o.public))
                .map_err(|e| e.to_string()))
        }
    })
    .into_iter()
    .map(|r| r.unwrap())
    .collect()
}

/// Under malicious every party refuses naming `firm1` and `rule`; under semi-honest the job
/// runs as before (no input check: it answers, or fails on its own terms, never naming a rule).
fn assert_caught(
    spec: &JobSpec,
    name: &str,
    tables: &[Table],
    rule: &str,
    settings: &[(Params, MulProtocol)],
) {
    for &(params, mul) in settings {
        let dealt = dealt_tables(params, name, tables, 9);
        let what = format!("{params:?} {mul:?} {rule}");
        for r in job_at(
            params,
            mul,
            mpc::SecurityLevel::Malicious,
            spec,
            dealt.clone(),
        ) {
            let e = r.expect_err(&what);
            assert!(
                e.contains(&format!("integrity check failed: input firm1/{name}"))
                    && e.contains(rule),
                "{what}: {e}"
            );
        }
        for r in job_at(params, mul, mpc::SecurityLevel::SemiHonest, spec, dealt) {
            if let Err(e) = r {
                assert!(!e.contains("integrity check"), "{what}: {e}");
            }
        }
    }
}

#[test]
fn cheating_bidders_are_caught_under_malicious() {
    let auction =
        spec("kind = \"auction\"\ndataset = \"bids\"\ngrid = { min = 100, max = 115, step = 5 }\n");
    let honest = Bid {
        buy: vec![9, 7, 5, 0],
        sell: vec![0, 1, 2, 3],
    };
    let with = |buy: &[i128], sell: &[i128]| -> Vec<Table> {
        let cheat = Bid {
            buy: buy.to_vec(),
            sell: sell.to_vec(),
        };
        vec![bid_table(&honest), bid_table(&cheat)]
    };
    let settings = engine_settings();
    let one = &settings[..1];
    assert_caught(
        &auction,
        "bids",
        &with(&[3, 5, 1, 0], &[0, 0, 0, 0]),
        "demand rises",
        &settings,
    );
    assert_caught(
        &auction,
        "bids",
        &with(&[3, 3, 1, 0], &[4, 4, 1, 5]),
        "supply falls",
        one,
    );
    assert_caught(
        &auction,
        "bids",
        &with(&[3, 3, 1, 0], &[-1, 0, 0, 0]),
        "negative",
        one,
    );
    assert_caught(
        &auction,
        "bids",
        &with(&[3, 3, 1, 0], &[0, 0, 0, 1 << 16]),
        "declared bits",
        one,
    );
    let mut off_grid = with(&[3, 3, 1, 0], &[0, 0, 0, 0]);
    off_grid[1].columns[0][2] = 111;
    assert_caught(&auction, "bids", &off_grid, "grid price", &settings[2..3]);
    // Honest bidders under malicious: the reference's clearing.
    let tables = with(&[4, 4, 2, 1], &[0, 2, 2, 8]);
    let bids = [
        honest.clone(),
        Bid {
            buy: vec![4, 4, 2, 1],
            sell: vec![0, 2, 2, 8],
        },
    ];
    let (clearing, _, _) = ref_auction(&bids);
    for &(params, mul) in &settings[..3] {
        let dealt = dealt_tables(params, "bids", &tables, 9);
        for r in job_at(params, mul, mpc::SecurityLevel::Malicious, &auction, dealt) {
            let got = r.unwrap();
            assert!(
                got.contains(&format!("{clearing:?}")),
                "{got} vs {clearing:?}"
            );
        }
    }
}

/// The workers skip an owner's input check only when *every* worker claims it saw that very
/// version pass before (`OwnedTable::checked`, agreed with `Backend::agree_all`): a cheating
/// bidder's out-of-range quantity is caught whenever one worker — honest with a fresh store, or
/// any one of them — does not claim it, for n = 3, 5, 7. (Every worker claiming it is the case
/// of a version that did pass before; here it shows the claims are what skips the check.)
#[test]
fn an_input_check_is_skipped_only_when_every_worker_claims_it() {
    let auction =
        spec("kind = \"auction\"\ndataset = \"bids\"\ngrid = { min = 100, max = 115, step = 5 }\n");
    let honest = Bid {
        buy: vec![9, 7, 5, 0],
        sell: vec![0, 1, 2, 3],
    };
    let cheat = Bid {
        buy: vec![3, 3, 1, 0],
        sell: vec![0, 0, 0, 1 << 16],
    };
    let tables = vec![bid_table(&honest), bid_table(&cheat)];
    let settings = engine_settings();
    for &(params, mul) in [&settings[1], &settings[2], &settings[3]] {
        let n = params.n();
        // Party `p` claims every column of every dataset checked when `claims(p)`.
        let run = |claims: &dyn Fn(usize) -> bool| {
            let mut dealt = dealt_tables(params, "bids", &tables, 9);
            for (p, mine) in dealt.iter_mut().enumerate() {
                for t in mine.iter_mut() {
                    t.checked = vec![claims(p); t.columns.len()];
                }
            }
            job_at(params, mul, mpc::SecurityLevel::Malicious, &auction, dealt)
        };
        for r in run(&|_| true) {
            if let Err(e) = r {
                assert!(
                    !e.contains("declared bits"),
                    "{params:?}: checked although agreed: {e}"
                );
            }
        }
        for missing in [0, n - 1] {
            for r in run(&|p| p != missing) {
                let e = r.expect_err("one worker did not claim the check");
                assert!(
                    e.contains("input firm1/bids") && e.contains("declared bits"),
                    "{params:?}, party {missing} not claiming: {e}"
                );
            }
        }
    }
}

/// The job-independent market rules (bid curves; order sides and quantities) are skipped for a
/// dataset only when every worker claims them passed on that version: a cheating owner's
/// non-monotone curve or zero quantity (within its declared bits, so the range check, claimed
/// by all, passes) goes through when all claim the rule, and is caught naming the owner and
/// the rule as soon as one worker (the first or the last) does not. The grid rules are the
/// job's and run whatever is claimed.
#[test]
fn a_market_rule_is_skipped_only_when_every_worker_claims_it() {
    let auction =
        spec("kind = \"auction\"\ndataset = \"bids\"\ngrid = { min = 100, max = 115, step = 5 }\n");
    let honest = Bid {
        buy: vec![9, 7, 5, 0],
        sell: vec![0, 1, 2, 3],
    };
    let rising = Bid {
        buy: vec![3, 3, 4, 0],
        sell: vec![0, 0, 0, 1],
    };
    let bids = vec![bid_table(&honest), bid_table(&rising)];
    let orders =
        spec("kind = \"orders\"\ndataset = \"orders\"\ngrid = { min = 95, max = 99, step = 1 }\n");
    let book: Vec<Order> = vec![(false, 99, 4), (true, 96, 3)];
    let zero_quantity: Vec<Order> = vec![(true, 97, 2), (false, 98, 0)];
    let books = vec![order_table(&book), order_table(&zero_quantity)];
    let mut off_grid = books.clone();
    off_grid[1].columns[1][0] = 200;
    let cases = [
        (
            &auction,
            "bids",
            &bids,
            VersionRule::BidCurves,
            "demand rises",
        ),
        (
            &orders,
            "orders",
            &books,
            VersionRule::OrderTerms,
            "quantity is below 1",
        ),
        (
            &orders,
            "orders",
            &off_grid,
            VersionRule::OrderTerms,
            "not on the grid",
        ),
    ];
    let settings = engine_settings();
    for (k, &(spec, name, tables, rule, broken)) in cases.iter().enumerate() {
        let (params, mul) = settings[1 + k % 2];
        let n = params.n();
        // Party `p` claims every column and the rule when `claims(p)`.
        let run = |claims: &dyn Fn(usize) -> bool| {
            let mut dealt = dealt_tables(params, name, tables, 9);
            for (p, mine) in dealt.iter_mut().enumerate() {
                for t in mine.iter_mut() {
                    t.checked = vec![true; t.columns.len()];
                    t.rules_checked = if claims(p) { vec![rule] } else { vec![] };
                }
            }
            job_at(params, mul, mpc::SecurityLevel::Malicious, spec, dealt)
        };
        let grid_rule = broken == "not on the grid";
        for r in run(&|_| true) {
            match r {
                Err(e) if grid_rule => assert!(e.contains(broken), "{params:?}: {e}"),
                Err(e) => assert!(
                    !e.contains("firm1"),
                    "{params:?}: checked although agreed: {e}"
                ),
                Ok(_) => assert!(!grid_rule, "{params:?}: the grid rule was skipped"),
            }
        }
        for missing in [0, n - 1] {
            for r in run(&|p| p != missing) {
                let e = r.expect_err("one worker did not claim the rule");
                assert!(
                    e.contains(&format!("input firm1/{name}")) && e.contains(broken),
                    "{params:?}, party {missing} not claiming: {e}"
                );
            }
        }
    }
}

#[test]
fn cheating_order_books_are_caught_under_malicious() {
    let orders =
        spec("kind = \"orders\"\ndataset = \"orders\"\ngrid = { min = 95, max = 99, step = 1 }\n");
    let honest: Vec<Order> = vec![(false, 99, 4), (true, 96, 3)];
    let with = |cheat: &[Order]| vec![order_table(&honest), order_table(cheat)];
    let settings = engine_settings();
    assert_caught(
        &orders,
        "orders",
        &with(&[(true, 97, 2), (false, 98, 0)]),
        "quantity is below 1",
        &settings[..1],
    );
    assert_caught(
        &orders,
        "orders",
        &with(&[(true, 97, 2), (false, 200, 1)]),
        "not on the grid",
        &settings,
    );
    let mut two_sided = with(&[(true, 97, 2)]);
    two_sided[1].columns[0][0] = 2;
    assert_caught(
        &orders,
        "orders",
        &two_sided,
        "neither buy nor sell",
        &settings[2..3],
    );
    // Honest books under malicious: the reference's clearing.
    let book: Vec<Order> = vec![(true, 97, 2), (false, 98, 5)];
    let all: Vec<Order> = honest.iter().chain(&book).copied().collect();
    let (clearing, _) = ref_orders(&[95, 96, 97, 98, 99], &all);
    for &(params, mul) in &settings[..3] {
        let dealt = dealt_tables(params, "orders", &with(&book), 9);
        for r in job_at(params, mul, mpc::SecurityLevel::Malicious, &orders, dealt) {
            let got = r.unwrap();
            assert!(
                got.contains(&format!("{clearing:?}")),
                "{got} vs {clearing:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Honest bids pass the market rules in the clear (the rules' reference) and clear as the
    /// reference says.
    #[test]
    fn honest_bids_pass_the_rules_in_the_clear(bids in bids_strategy()) {
        let g = bids[0].buy.len();
        let tables: Vec<Table> = bids.iter().map(bid_table).collect();
        let owned = clear_tables("bids", &tables);
        let mut b = Clear::default().checking_inputs();
        let out = block_on(run_auction(&mut b, &grid_of(g), &owned)).unwrap();
        prop_assert_eq!(out.public.clearing, ref_auction(&bids).0);
    }
}
