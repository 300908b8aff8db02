//! Settlement rounds: the protocol (in the clear and on the engine) against an independent
//! plaintext reference written on i128 rows, itself checked against a brute-force search for
//! the largest set of firms that can all pay; named cases (everything unpayable, cycles that
//! net to zero, cascades, no obligations, one firm); the engine with 3, 5 and 7 parties; rounds
//! that do not grow with the number of obligations; refusals that name the row or the firm
//! (upload checks on plain tables; the workers' own validation of the shares).

use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, MulProtocol, Params, PartyId};
use proptest::prelude::*;
use protocols::backend::{Backend, Clear, Counting};
use protocols::catalog::{JobSpec, UploadError};
use protocols::dataset::{ColumnSpec, ColumnType, Schema, Table, read_csv};
use protocols::outcome::{Outcome, OwnedTable};
use protocols::settlement::{
    self, CheckError, RoundError, RoundSpec, SettlementError, SettlementResult, settle,
};

/// A round in plain numbers: per firm a balance and the obligations it pays (payee, amount).
#[derive(Clone, Debug)]
struct Instance {
    balances: Vec<i128>,
    pays: Vec<Vec<(usize, i128)>>,
}

/// What a round should produce, per firm.
#[derive(Clone, Debug, PartialEq)]
struct Expected {
    balances: Vec<i128>,
    settled: Vec<bool>,
    iterations: usize,
}

fn firm(j: usize) -> String {
    format!("firm{j}")
}

/// The reference, row by row: settle every obligation of the settling firms; drop all the
/// obligations of every firm left short; repeat.
fn reference(inst: &Instance) -> Expected {
    let n = inst.balances.len();
    let mut settling = vec![true; n];
    let mut iterations = 0;
    loop {
        iterations += 1;
        let mut balance = inst.balances.clone();
        for (payer, rows) in inst.pays.iter().enumerate() {
            if !settling[payer] {
                continue;
            }
            for &(payee, amount) in rows {
                balance[payer] -= amount;
                balance[payee] += amount;
            }
        }
        let short: Vec<usize> = (0..n).filter(|&j| balance[j] < 0).collect();
        if short.is_empty() {
            return Expected {
                balances: balance,
                settled: settling,
                iterations,
            };
        }
        for j in short {
            assert!(settling[j], "a dropped firm cannot be short");
            settling[j] = false;
        }
    }
}

/// The largest set of firms whose obligations can all settle together, by trying every set.
fn largest_payable_set(inst: &Instance) -> Vec<bool> {
    let n = inst.balances.len();
    let mut best: Option<u32> = None;
    for set in 0u32..(1 << n) {
        let mut balance = inst.balances.clone();
        for (payer, rows) in inst.pays.iter().enumerate() {
            if set & (1 << payer) != 0 {
                for &(payee, amount) in rows {
                    balance[payer] -= amount;
                    balance[payee] += amount;
                }
            }
        }
        if balance.iter().all(|&b| b >= 0) && best.is_none_or(|b| set.count_ones() > b.count_ones())
        {
            best = Some(set);
        }
    }
    let best = best.expect("the empty set always pays");
    (0..n).map(|j| best & (1 << j) != 0).collect()
}

fn round(firms: usize) -> RoundSpec {
    RoundSpec {
        round: "r1".into(),
        firms: (0..firms).map(firm).collect(),
        accounts: "accounts".into(),
        obligations: "obligations".into(),
        hide_iterations: false,
    }
}

fn hidden(firms: usize) -> RoundSpec {
    RoundSpec {
        hide_iterations: true,
        ..round(firms)
    }
}

/// The plain tables of an instance: (owner, dataset, table). Each firm's payee domain lists
/// every firm of the round in reverse order (so domain positions differ from firm indices), its
/// accounts carry an extra `note` column that must come back unchanged.
fn tables(inst: &Instance, balance_bits: u32) -> Vec<(String, String, Table)> {
    let n = inst.balances.len();
    let mut out = Vec::new();
    for j in 0..n {
        out.push((
            firm(j),
            "accounts".to_string(),
            Table {
                schema: Schema {
                    columns: vec![
                        ColumnSpec::integer("note", 8),
                        ColumnSpec::integer("balance", balance_bits),
                    ],
                },
                columns: vec![vec![j as i128], vec![inst.balances[j]]],
            },
        ));
        if n < 2 {
            continue;
        }
        let others: Vec<usize> = (0..n).rev().collect();
        let rows = &inst.pays[j];
        let position = |payee: usize| others.iter().position(|&k| k == payee).unwrap() as i128;
        out.push((
            firm(j),
            "obligations".to_string(),
            Table {
                schema: Schema {
                    columns: vec![
                        ColumnSpec::categorical("payer", vec![firm(j)]),
                        ColumnSpec::categorical("payee", others.iter().map(|&k| firm(k)).collect()),
                        ColumnSpec::integer("amount", 32),
                    ],
                },
                columns: vec![
                    vec![0; rows.len()],
                    rows.iter().map(|&(p, _)| position(p)).collect(),
                    rows.iter().map(|&(_, a)| a).collect(),
                ],
            },
        ));
    }
    out
}

/// What a run returned, opened: public result, per firm balance and settled flags (by output
/// name), the updated accounts columns and the amounts left in each obligations dataset.
#[derive(Debug, PartialEq)]
struct Opened {
    public: SettlementResult,
    balances: Vec<i128>,
    settled: Vec<Vec<i128>>,
    labels: Vec<Vec<String>>,
    updates: Vec<Vec<Vec<i128>>>,
    consumed: Vec<Option<Vec<i128>>>,
}

async fn open_outcome<B: Backend>(
    b: &mut B,
    firms: usize,
    out: Outcome<SettlementResult>,
) -> mpc::Result<Opened> {
    let mut opened = Opened {
        public: out.public,
        balances: vec![i128::MIN; firms],
        settled: vec![Vec::new(); firms],
        labels: vec![Vec::new(); firms],
        updates: vec![Vec::new(); firms],
        consumed: vec![None; firms],
    };
    for p in out.private {
        let j = (0..firms).find(|&j| firm(j) == p.recipient).unwrap();
        let values = b.open(&p.values).await?;
        match p.name.as_str() {
            "balance" => {
                assert_eq!(p.labels, ["balance"]);
                opened.balances[j] = values[0];
            }
            "settled" => {
                opened.settled[j] = values;
                opened.labels[j] = p.labels;
            }
            other => panic!("unexpected output {other}"),
        }
    }
    for u in out.updates {
        let j = (0..firms).find(|&j| firm(j) == u.owner).unwrap();
        if u.name == "obligations" {
            // payer and payee unchanged (checked by the amounts' row count); amounts left.
            assert!(
                opened.consumed[j].is_none(),
                "obligations of firm {j} twice"
            );
            opened.consumed[j] = Some(b.open(&u.columns[2]).await?);
            continue;
        }
        assert_eq!(u.name, "accounts");
        for c in &u.columns {
            opened.updates[j].push(b.open(c).await?);
        }
    }
    Ok(opened)
}

/// Checks a run against the reference.
fn check(inst: &Instance, opened: &Opened) {
    check_as(inst, opened, false)
}

/// Checks a run against the reference, with iterations hidden or not.
fn check_as(inst: &Instance, opened: &Opened, hidden: bool) {
    let want = reference(inst);
    let n = inst.balances.len();
    let iterations = if hidden && want.iterations > 1 {
        n + 1
    } else {
        want.iterations
    };
    assert_eq!(opened.public.iterations, iterations, "iterations");
    assert_eq!(
        opened.public.all_settled,
        want.settled.iter().all(|&s| s),
        "status"
    );
    assert_eq!(
        opened.public.obligations,
        inst.pays.iter().map(Vec::len).sum::<usize>()
    );
    assert_eq!(opened.balances, want.balances, "new balances");
    for j in 0..n {
        let rows = inst.pays[j].len();
        let flags: Vec<i128> = vec![want.settled[j] as i128; rows];
        assert_eq!(opened.settled[j], flags, "settled flags of firm {j}");
        let labels: Vec<String> = (1..=rows).map(|r| format!("obligation {r}")).collect();
        assert_eq!(opened.labels[j], labels);
        assert_eq!(
            opened.updates[j],
            vec![vec![j as i128], vec![want.balances[j]]],
            "update of firm {j}"
        );
        // The round consumes what settled: those amounts are 0 in the next version.
        let left: Vec<i128> = inst.pays[j]
            .iter()
            .map(|&(_, a)| if want.settled[j] { 0 } else { a })
            .collect();
        let expected = (rows > 0).then_some(left);
        assert_eq!(opened.consumed[j], expected, "obligations left of firm {j}");
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn run_clear(inst: &Instance) -> Result<Opened, SettlementError> {
    run_clear_bits(inst, 40)
}

fn run_clear_bits(inst: &Instance, balance_bits: u32) -> Result<Opened, SettlementError> {
    run_clear_spec(inst, balance_bits, &round(inst.balances.len()))
}

fn run_clear_spec(
    inst: &Instance,
    balance_bits: u32,
    spec: &RoundSpec,
) -> Result<Opened, SettlementError> {
    let owned: Vec<OwnedTable> = tables(inst, balance_bits)
        .iter()
        .map(|(o, d, t)| OwnedTable::clear(o, d, t).unwrap())
        .collect();
    let n = inst.balances.len();
    block_on(async {
        let mut b = Clear::seeded(7);
        let out = settle(&mut b, spec, &owned).await?;
        Ok(open_outcome(&mut b, n, out).await.unwrap())
    })
}

fn instance_strategy() -> impl Strategy<Value = Instance> {
    sized_instances(1..=5, 6)
}

/// Instances of `firms` firms paying up to `rows` obligations each.
fn sized_instances(
    firms: std::ops::RangeInclusive<usize>,
    rows: usize,
) -> impl Strategy<Value = Instance> {
    firms.prop_flat_map(move |n| {
        let row = (0..n.max(2) - 1, 0i128..40);
        (
            prop::collection::vec(0i128..60, n),
            prop::collection::vec(prop::collection::vec(row, 0..rows), n),
        )
            .prop_map(move |(balances, raw)| Instance {
                balances,
                pays: raw
                    .into_iter()
                    .enumerate()
                    .map(|(j, rows)| {
                        if n == 1 {
                            return Vec::new();
                        }
                        // Payee k among the others: skip the payer itself.
                        rows.into_iter()
                            .map(|(k, a)| (if k >= j { k + 1 } else { k }, a))
                            .collect()
                    })
                    .collect(),
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn clear_matches_the_reference(inst in instance_strategy()) {
        let want = reference(&inst);
        // The reference keeps exactly the largest set of firms that can all pay.
        prop_assert_eq!(&want.settled, &largest_payable_set(&inst));
        let opened = run_clear(&inst).unwrap();
        check(&inst, &opened);
        // Hiding the iterations changes the public count only.
        let n = inst.balances.len();
        check_as(&inst, &run_clear_spec(&inst, 40, &hidden(n)).unwrap(), true);
        // Money is conserved.
        prop_assert_eq!(
            opened.balances.iter().sum::<i128>(),
            inst.balances.iter().sum::<i128>()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Payee domains of 8 to 24 firms: one-hot vectors of 3 to 5 bits, built by outer products.
    #[test]
    fn larger_rounds_match_the_reference(inst in sized_instances(9..=25, 10)) {
        check(&inst, &run_clear(&inst).unwrap());
    }
}

#[test]
fn every_obligation_unpayable() {
    // A chain 0 -> 1 -> 2 -> 3 with growing amounts and no money: everyone who pays is short.
    let inst = Instance {
        balances: vec![0; 4],
        pays: vec![vec![(1, 10)], vec![(2, 20)], vec![(3, 30)], vec![]],
    };
    let opened = run_clear(&inst).unwrap();
    check(&inst, &opened);
    assert_eq!(opened.balances, [0, 0, 0, 0]);
    assert_eq!(opened.public.iterations, 2);
    assert!(!opened.public.all_settled);
}

#[test]
fn cycles_that_net_to_zero_settle_from_zero_balances() {
    let inst = Instance {
        balances: vec![0; 4],
        pays: vec![
            vec![(1, 25), (2, 5)],
            vec![(2, 25)],
            vec![(3, 30)],
            vec![(0, 30)],
        ],
    };
    let opened = run_clear(&inst).unwrap();
    check(&inst, &opened);
    assert_eq!(opened.balances, [0, 0, 0, 0]);
    assert_eq!(
        (opened.public.iterations, opened.public.all_settled),
        (1, true)
    );
}

#[test]
fn a_cascade_takes_one_check_per_wave() {
    // 0 cannot pay 1; then 1 cannot pay 2; then 2 cannot pay 3. Firm 4 pays 0 from its balance.
    let inst = Instance {
        balances: vec![0, 0, 0, 0, 5],
        pays: vec![
            vec![(1, 10)],
            vec![(2, 10)],
            vec![(3, 10)],
            vec![],
            vec![(0, 5)],
        ],
    };
    let opened = run_clear(&inst).unwrap();
    check(&inst, &opened);
    assert_eq!(opened.balances, [5, 0, 0, 0, 0]);
    assert_eq!(opened.public.iterations, 4);
    let opened = run_clear_spec(&inst, 40, &hidden(5)).unwrap();
    check_as(&inst, &opened, true);
    assert_eq!(opened.public.iterations, 6);
}

#[test]
fn no_obligations_and_a_single_firm() {
    let none = Instance {
        balances: vec![3, 0, 9],
        pays: vec![vec![], vec![], vec![]],
    };
    let opened = run_clear(&none).unwrap();
    check(&none, &opened);
    assert_eq!(opened.balances, [3, 0, 9]);
    // A header-only CSV (columns inferred as integers) is an empty book, not an error.
    let mut plain = tables(&none, 40);
    for (o, d, t) in plain.iter_mut() {
        if o == "firm0" && d == "obligations" {
            *t = read_csv("payer,payee,amount\n".as_bytes(), "empty.csv", None).unwrap();
        }
    }
    let owned: Vec<OwnedTable> = plain
        .iter()
        .map(|(o, d, t)| OwnedTable::clear(o, d, t).unwrap())
        .collect();
    let out = block_on(settle(&mut Clear::default(), &round(3), &owned)).unwrap();
    assert_eq!((out.public.iterations, out.updates.len()), (1, 3));
    let single = Instance {
        balances: vec![42],
        pays: vec![vec![]],
    };
    let opened = run_clear(&single).unwrap();
    check(&single, &opened);
    assert_eq!((opened.balances[0], opened.public.all_settled), (42, true));
}

/// Every party's `OwnedTable`s, dealt by party 0.
async fn deal<N: mpc::net::Network>(
    e: &mut mpc::Engine<N>,
    plain: &[(String, String, Table)],
) -> mpc::Result<Vec<OwnedTable>> {
    let me = e.me();
    let mut owned = Vec::new();
    for (owner, name, t) in plain {
        let mut columns = Vec::new();
        for (c, spec) in t.schema.columns.iter().enumerate() {
            let values = (me == PartyId(0)).then_some(&t.columns[c][..]);
            columns.push(
                e.input_ints(PartyId(0), values, t.rows(), spec.ty.bits())
                    .await?,
            );
        }
        owned.push(OwnedTable {
            owner: owner.clone(),
            name: name.clone(),
            schema: t.schema.clone(),
            columns,
            rows: t.rows(),
            checked: Vec::new(),
            rules_checked: Vec::new(),
        });
    }
    Ok(owned)
}

/// Runs an instance on the engine; returns the opened outcome and the rounds of `settle`.
fn run_engine(inst: &Instance, n: usize, t: usize, mul: MulProtocol) -> (Opened, u64) {
    run_engine_spec(inst, n, t, mul, round(inst.balances.len()))
}

fn run_engine_spec(
    inst: &Instance,
    n: usize,
    t: usize,
    mul: MulProtocol,
    spec: RoundSpec,
) -> (Opened, u64) {
    let plain = tables(inst, 40);
    let firms = inst.balances.len();
    agreed(run_parties(
        Params::new(n, t).unwrap(),
        EngineConfig {
            mul,
            check_openings: true,
            ..Default::default()
        },
        11,
        move |mut e| {
            let (plain, spec) = (plain.clone(), spec.clone());
            async move {
                let owned = deal(&mut e, &plain).await?;
                let before = e.stats().rounds;
                let out = settle(&mut e, &spec, &owned)
                    .await
                    .unwrap_or_else(|err| panic!("settle: {err}"));
                let rounds = e.stats().rounds - before;
                Ok((open_outcome(&mut e, firms, out).await?, rounds))
            }
        },
    ))
}

fn gridlocked() -> Instance {
    // Firm 2 owes more than it has and receives; its creditors 0 and 3 still settle.
    Instance {
        balances: vec![10, 0, 5, 7],
        pays: vec![
            vec![(1, 4), (2, 3)],
            vec![(0, 2)],
            vec![(3, 20), (0, 1)],
            vec![(1, 6), (0, 1), (2, 0)],
        ],
    }
}

#[test]
fn engine_matches_the_reference_with_3_5_and_7_parties() {
    let inst = gridlocked();
    assert!(!reference(&inst).settled[2]);
    for (n, t, mul) in [
        (3, 1, MulProtocol::Grr),
        (3, 1, MulProtocol::Dn07),
        (5, 2, MulProtocol::Dn07),
        (7, 3, MulProtocol::Grr),
    ] {
        let (opened, _) = run_engine(&inst, n, t, mul);
        check(&inst, &opened);
    }
    // Twelve firms: payee domains of 11, one-hot vectors of 4 bits.
    let mut wide = Instance {
        balances: (0..12).map(|j| (j * 7 % 5) as i128).collect(),
        pays: (0..12)
            .map(|j| {
                (0..3)
                    .map(|k| ((j + 1 + 4 * k) % 12, ((j * 3 + k) % 6) as i128))
                    .collect()
            })
            .collect(),
    };
    wide.pays[4].push((9, 40));
    let want = reference(&wide);
    assert!(want.settled.iter().any(|s| !s) && want.settled.iter().any(|&s| s));
    let (opened, _) = run_engine(&wide, 3, 1, MulProtocol::Dn07);
    check(&wide, &opened);
    // Hidden iterations: the same outputs, a public count of firms + 1.
    let (opened, _) = run_engine_spec(&inst, 3, 1, MulProtocol::Grr, hidden(4));
    check_as(&inst, &opened, true);
    assert_eq!(opened.public.iterations, 5);
}

#[test]
fn rounds_do_not_grow_with_the_obligations() {
    // The same shape of gridlock with 1 and with 12 rows per firm (same iterations).
    let grow = |k: usize| Instance {
        balances: vec![20, 0, 5],
        pays: vec![
            vec![(1, 1); k],
            vec![(2, 1); k],
            vec![(0, 100 / k as i128 + 1); k],
        ],
    };
    let (small, big) = (grow(1), grow(12));
    assert_eq!(reference(&small).iterations, 2);
    assert_eq!(reference(&big).iterations, 2);
    let (opened_small, rounds_small) = run_engine(&small, 3, 1, MulProtocol::Grr);
    let (opened_big, rounds_big) = run_engine(&big, 3, 1, MulProtocol::Grr);
    check(&small, &opened_small);
    check(&big, &opened_big);
    assert_eq!(rounds_small, rounds_big);
    // The same on the counting backend: the same calls, whatever the rows.
    let counts = |inst: &Instance| {
        let owned: Vec<OwnedTable> = tables(inst, 40)
            .iter()
            .map(|(o, d, t)| OwnedTable::clear(o, d, t).unwrap())
            .collect();
        let mut b = Counting::new(Clear::default());
        block_on(settle(&mut b, &round(3), &owned)).unwrap();
        b.counts.batches
    };
    assert_eq!(counts(&small), counts(&big));
}

/// Every operation count of two rounds, pinned: what a refactoring of the netting must leave
/// unchanged, and what a change to the protocol must update knowingly. One round where each
/// firm has fewer rows than payees (its rows' signs checked), one with more (its totals').
#[test]
fn operation_counts_are_pinned() {
    let few = Instance {
        balances: vec![20, 0, 5],
        pays: vec![vec![(1, 1)], vec![(2, 1)], vec![(0, 30)]],
    };
    let many = Instance {
        balances: vec![20, 3, 5, 9],
        pays: vec![
            vec![(1, 1), (2, 4), (1, 2), (3, 1), (2, 2)],
            vec![(2, 1); 7],
            vec![(0, 9), (3, 2), (0, 1), (1, 1), (3, 3)],
            vec![],
        ],
    };
    let counts = |inst: &Instance, firms: usize| {
        let owned: Vec<OwnedTable> = tables(inst, 40)
            .iter()
            .map(|(o, d, t)| OwnedTable::clear(o, d, t).unwrap())
            .collect();
        let mut b = Counting::new(Clear::default());
        block_on(settle(&mut b, &round(firms), &owned)).unwrap();
        format!("{:?}", b.counts)
    };
    assert_eq!(
        counts(&few, 3),
        "OpCounts { multiplications: 21, comparisons: 18, truncations: 0, opened: 15, divisions: 0, roots: 0, random_bits: 6, decomposed: 0, masks: 3, tags: 0, batches: 13 }"
    );
    assert_eq!(
        counts(&many, 4),
        "OpCounts { multiplications: 63, comparisons: 23, truncations: 0, opened: 43, divisions: 0, roots: 0, random_bits: 34, decomposed: 0, masks: 17, tags: 0, batches: 9 }"
    );
}

#[test]
fn invalid_shares_are_refused_naming_the_firm() {
    // Inputs that skipped the upload checks: the workers' own validation refuses them.
    let negative_balance = Instance {
        balances: vec![5, -1, 0],
        pays: vec![vec![(1, 2)], vec![], vec![]],
    };
    assert_eq!(
        run_clear(&negative_balance).unwrap_err(),
        SettlementError::NegativeBalance {
            firm: "firm1".into()
        }
    );
    // A firm paying fewer rows than it has payees: every row is checked.
    let negative_row = Instance {
        balances: vec![5, 5, 0],
        pays: vec![vec![], vec![(2, -3)], vec![]],
    };
    assert_eq!(
        run_clear(&negative_row).unwrap_err(),
        SettlementError::NegativeAmounts {
            firm: "firm1".into(),
            count: 1
        }
    );
    // More rows than payees: its total to each payee is checked instead.
    let negative_total = Instance {
        balances: vec![5, 5, 0],
        pays: vec![vec![], vec![(0, 2), (2, -3), (0, -1)], vec![]],
    };
    let err = run_clear(&negative_total).unwrap_err();
    assert_eq!(
        err,
        SettlementError::NegativeNetAmounts {
            firm: "firm1".into(),
            count: 1
        }
    );
    assert!(err.to_string().contains("firm1"), "{err}");
    // A negative row offset by another to the same payee: the outcome is that of the total.
    let offset = Instance {
        balances: vec![0, 4, 0],
        pays: vec![vec![], vec![(0, 5), (0, -1), (2, 1)], vec![]],
    };
    check(&offset, &run_clear(&offset).unwrap());
    let overflow = Instance {
        balances: vec![1000, 200, 0],
        pays: vec![vec![(1, 900)], vec![], vec![]],
    };
    assert_eq!(
        run_clear_bits(&overflow, 10).unwrap_err(),
        SettlementError::Overflow { bits: 10 }
    );
    assert!(run_clear_bits(&overflow, 11).is_ok());
    // What a firm owes itself (only possible past the upload checks) cannot hide an overflow:
    // firm0 has 1000, receives 100, owes firm1 and firm2 600 each and itself -1200 (with more
    // rows than payees, its totals per other payee are checked, not its rows); it is dropped
    // and keeps 1000 + 100 > 2^10 - 1.
    let self_owed = [
        (
            "firm0",
            "accounts",
            Table {
                schema: Schema {
                    columns: vec![ColumnSpec::integer("balance", 10)],
                },
                columns: vec![vec![1000]],
            },
        ),
        (
            "firm1",
            "accounts",
            Table {
                schema: Schema {
                    columns: vec![ColumnSpec::integer("balance", 10)],
                },
                columns: vec![vec![100]],
            },
        ),
        (
            "firm2",
            "accounts",
            Table {
                schema: Schema {
                    columns: vec![ColumnSpec::integer("balance", 10)],
                },
                columns: vec![vec![0]],
            },
        ),
        (
            "firm0",
            "obligations",
            Table {
                schema: Schema {
                    columns: vec![
                        ColumnSpec::categorical("payer", vec![firm(0)]),
                        ColumnSpec::categorical("payee", vec![firm(0), firm(1), firm(2)]),
                        ColumnSpec::integer("amount", 32),
                    ],
                },
                columns: vec![vec![0, 0, 0, 0], vec![1, 2, 0, 0], vec![600, 600, -1200, 0]],
            },
        ),
        (
            "firm1",
            "obligations",
            Table {
                schema: Schema {
                    columns: vec![
                        ColumnSpec::categorical("payer", vec![firm(1)]),
                        ColumnSpec::categorical("payee", vec![firm(0), firm(1), firm(2)]),
                        ColumnSpec::integer("amount", 32),
                    ],
                },
                columns: vec![vec![0], vec![0], vec![100]],
            },
        ),
    ];
    let owned: Vec<OwnedTable> = self_owed
        .iter()
        .map(|(o, d, t)| OwnedTable::clear(o, d, t).unwrap())
        .collect();
    assert_eq!(
        block_on(settle(&mut Clear::default(), &round(3), &owned)).unwrap_err(),
        SettlementError::Overflow { bits: 10 }
    );
    // A payer column naming another firm than the uploader.
    let mut plain = tables(&gridlocked(), 40);
    let (_, _, t) = plain
        .iter_mut()
        .find(|(o, d, _)| o == "firm3" && d == "obligations")
        .unwrap();
    t.schema.columns[0] = ColumnSpec::categorical("payer", vec![firm(3), firm(0)]);
    t.columns[0][1] = 1;
    let owned: Vec<OwnedTable> = plain
        .iter()
        .map(|(o, d, t)| OwnedTable::clear(o, d, t).unwrap())
        .collect();
    let err = block_on(settle(&mut Clear::default(), &round(4), &owned)).unwrap_err();
    assert_eq!(
        err,
        SettlementError::PayerNotOwner {
            firm: "firm3".into(),
            row: 2
        }
    );
    assert!(err.to_string().contains("row 2"), "{err}");
    // A firm without accounts, and a dataset of a firm outside the round.
    let owned: Vec<OwnedTable> = tables(&gridlocked(), 40)
        .iter()
        .filter(|(o, d, _)| !(o == "firm2" && d == "accounts"))
        .map(|(o, d, t)| OwnedTable::clear(o, d, t).unwrap())
        .collect();
    let err = block_on(settle(&mut Clear::default(), &round(4), &owned)).unwrap_err();
    assert!(err.to_string().contains("firm2 has no 'accounts'"), "{err}");
    let err = block_on(settle(&mut Clear::default(), &round(3), &owned)).unwrap_err();
    assert!(
        err.to_string().contains("not among the round's firms"),
        "{err}"
    );
}

fn spec() -> JobSpec {
    JobSpec::from_toml(
        "kind = \"settlement\"\nround = \"r1\"\nfirms = [\"acme\", \"globex\", \"initech\"]\n",
    )
    .unwrap()
}

fn csv(text: &str) -> Table {
    read_csv(text.as_bytes(), "upload.csv", None).unwrap()
}

#[test]
fn job_specs_parse_and_refuse_typos() {
    let s = spec();
    assert_eq!(s.kind(), "settlement");
    assert_eq!(s.recipients(), ["acme", "globex", "initech"]);
    let JobSpec::Settlement(r) = &s else {
        panic!("not a settlement")
    };
    assert_eq!(
        (r.accounts.as_str(), r.obligations.as_str()),
        ("accounts", "obligations")
    );
    assert!(!r.hide_iterations);
    let JobSpec::Settlement(r) = JobSpec::from_toml(
        "kind = \"settlement\"\nround = \"r1\"\nfirms = [\"a\"]\nhide_iterations = true\n",
    )
    .unwrap() else {
        panic!("not a settlement")
    };
    assert!(r.hide_iterations);
    let err = JobSpec::from_toml(
        "kind = \"settlement\"\nround = \"r1\"\nfirms = [\"a\"]\nacounts = \"x\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("acounts"), "{err}");
    let err = JobSpec::from_toml("kind = \"settlement\"\nfirms = [\"a\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("round"), "{err}");
    let twice =
        JobSpec::from_toml("kind = \"settlement\"\nround = \"r1\"\nfirms = [\"a\", \"a\"]\n")
            .unwrap();
    let err = twice
        .check_upload("accounts", &csv("balance\n1\n"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            UploadError::Settlement(settlement::UploadError::Round(RoundError::FirmTwice(f))) if f == "a"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("listed twice"), "{err}");
}

#[test]
fn uploads_are_refused_naming_the_row() {
    let s = spec();
    let refused = |dataset: &str, text: &str| s.check_upload(dataset, &csv(text)).unwrap_err();
    let refuse = |dataset: &str, text: &str| refused(dataset, text).to_string();
    assert_eq!(
        refused(
            "obligations",
            "payer,payee,amount\nacme,globex,5\nacme,initech,-3\n"
        ),
        UploadError::Settlement(settlement::UploadError::Table {
            dataset: "obligations".into(),
            source: CheckError::NegativeAmount { row: 2, amount: -3 },
        })
    );
    assert!(matches!(
        refused("obligations", "payee,amount\nglobex,5\n"),
        UploadError::Settlement(settlement::UploadError::Table {
            source: CheckError::NoColumn("payer"),
            ..
        })
    ));
    assert_eq!(
        refuse(
            "obligations",
            "payer,payee,amount\nacme,globex,5\nacme,initech,-3\n"
        ),
        "obligations: row 2 (CSV line 3): negative amount -3"
    );
    assert_eq!(
        refuse(
            "obligations",
            "payer,payee,amount\nacme,globex,5\nacme,globex,1\nacme,zeta,4\n"
        ),
        "obligations: row 3 (CSV line 4): obligation to unknown account 'zeta' (the round's firms: acme, globex, initech)"
    );
    assert_eq!(
        refuse("obligations", "payer,payee,amount\nacme,acme,5\n"),
        "obligations: row 1 (CSV line 2): obligation of 'acme' to itself"
    );
    assert!(
        refuse(
            "obligations",
            "payer,payee,amount\nacme,globex,5\nglobex,initech,5\n"
        )
        .starts_with(
            "obligations: row 2 (CSV line 3): payer 'globex' differs from row 1's payer 'acme'"
        )
    );
    assert_eq!(
        refuse("accounts", "balance\n-7\n"),
        "accounts: row 1 (CSV line 2): negative balance -7"
    );
    assert!(refuse("accounts", "balance\n1\n2\n").contains("exactly one row"));
    assert!(refuse("accounts", "balance\n1.5\n").contains("must be an integer column"));
    assert!(refuse("obligations", "payee,amount\nglobex,5\n").contains("no column 'payer'"));
    // Valid uploads, and datasets the round does not read, pass (the client widens an
    // inferred schema for the round first, as `quorate upload --job` does).
    let ok = |dataset: &str, text: &str| {
        let mut table = csv(text);
        s.widen_inferred(dataset, &mut table);
        s.check_upload(dataset, &table)
    };
    ok(
        "obligations",
        "payer,payee,amount\nacme,globex,5\nacme,initech,0\n",
    )
    .unwrap();
    ok("obligations", "payer,payee,amount\n").unwrap(); // nothing to pay
    assert!(refuse("obligations", "payer,amount\n").contains("no column 'payee'"));
    ok("accounts", "balance\n0\n").unwrap();
    ok("payroll", "salary\n-5\n").unwrap();
}

/// A round over the wrong firm list is refused without publishing who a firm pays: the error
/// says a payee domain lists a firm outside the round, not which (a firm's payee domain is its
/// list of counterparties, which the settlement hides).
#[test]
fn a_round_over_the_wrong_firms_does_not_name_a_counterparty() {
    let owned: Vec<OwnedTable> = tables(&gridlocked(), 40)
        .iter()
        .filter(|(o, _, _)| o != &firm(3))
        .map(|(o, d, t)| OwnedTable::clear(o, d, t).unwrap())
        .collect();
    let err = block_on(settle(&mut Clear::default(), &round(3), &owned)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("payee") && text.contains("must be exactly the round's firms"),
        "{text}"
    );
    assert!(!text.contains(&firm(3)), "names the counterparty: {text}");
}

/// Every firm's obligations schema is the round's: `--job` gives an inferred payee (and payer)
/// domain the round's whole firm list, so two firms paying different counterparties upload the
/// same schema; a schema written with a partial payee domain (its counterparties) is refused
/// before upload and at job time, naming only the round's public firm list.
#[test]
fn the_payee_domain_is_the_rounds_whole_firm_list() {
    let s = spec();
    let mut acme = csv("payer,payee,amount\nacme,globex,5\nacme,globex,70000\n");
    let mut globex = csv("payer,payee,amount\nglobex,initech,9\n");
    s.widen_inferred("obligations", &mut acme);
    s.widen_inferred("obligations", &mut globex);
    assert_eq!(acme.schema, globex.schema);
    let firms: Vec<String> = ["acme", "globex", "initech"].map(String::from).to_vec();
    assert_eq!(
        acme.schema.columns[1].ty,
        ColumnType::Categorical {
            domain: firms.clone()
        }
    );
    // Values re-encoded as positions in the firm list.
    assert_eq!(acme.columns, vec![vec![0, 0], vec![1, 1], vec![5, 70000]]);
    assert_eq!(globex.columns, vec![vec![1], vec![2], vec![9]]);
    s.check_upload("obligations", &acme).unwrap();
    // An owner's schema (or an un-widened inferred one) listing only its counterparties.
    let partial = csv("payer,payee,amount\nacme,initech,5\n");
    let err = s.check_upload("obligations", &partial).unwrap_err();
    assert!(matches!(
        &err,
        UploadError::Settlement(settlement::UploadError::Table {
            source: CheckError::PayeeDomain { firms: named },
            ..
        }) if *named == firms
    ));
    let err = err.to_string();
    assert!(
        err.contains("must be exactly the round's firms (acme, globex, initech)"),
        "{err}"
    );
    // A value outside the round keeps the schema as it was, and is refused naming the row.
    let mut stray = csv("payer,payee,amount\nacme,zeta,5\n");
    let before = stray.clone();
    s.widen_inferred("obligations", &mut stray);
    assert_eq!(stray, before);
    assert!(
        s.check_upload("obligations", &stray)
            .unwrap_err()
            .to_string()
            .contains("unknown account 'zeta'")
    );
    // At job time: a firm list the domain does not match fails without naming the firm.
    let round = match &s {
        JobSpec::Settlement(r) => r.clone(),
        _ => unreachable!(),
    };
    let mut two = round.clone();
    two.firms.truncate(2);
    let balance = csv("balance\n10\n");
    let owned = [
        OwnedTable::clear("acme", "accounts", &balance).unwrap(),
        OwnedTable::clear("globex", "accounts", &balance).unwrap(),
        OwnedTable::clear("acme", "obligations", &acme).unwrap(),
    ];
    let err = block_on(settle(&mut Clear::default(), &two, &owned))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("must be exactly the round's firms (acme, globex)"),
        "{err}"
    );
    assert!(!err.contains("initech"), "names a counterparty: {err}");
}
