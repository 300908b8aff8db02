//! A settlement round on the engine in memory (n = 3, t = 1, DN07 and GRR): one `RESULT` line
//! per multiplication protocol, with wall time, rounds, bytes sent per party, secure
//! multiplications, random bits and gridlock iterations, every output checked against a plain
//! computation (`check=ok`).
//!
//! ```text
//! cargo run --release -p protocols --example settlement_bench -- [FIRMS] [OBLIGATIONS] [grr|dn07|both] [hidden]
//! ```
//!
//! Defaults: 100 firms, 10,000 obligations, both protocols. Each obligation's payer, payee
//! (another firm) and amount (1 to 100,000) are drawn from a fixed seed; balances are drawn
//! uniformly below 1.6 times the mean gross a firm pays (`80,000 · OBLIGATIONS / FIRMS`), so a
//! few firms are short and gridlock resolution runs (`firms_dropped` is the reference's count). Schemas are the
//! ones the workers take for a round: 63-bit integers, a one-value `payer` domain, and a
//! `payee` domain of exactly the round's firms (`settlement::check`: every firm's schema the
//! same, so it says nothing of whom the firm pays). Inputs are dealt beforehand (as the firms' clients would); the timed part
//! is `settle` alone, and the outputs are opened afterwards only to check them.

use std::time::Instant;

use mpc::testing::run_parties;
use mpc::{EngineConfig, MulProtocol, Params, PartyId};
use protocols::dataset::{ColumnSpec, ColumnType, Schema};
use protocols::outcome::OwnedTable;
use protocols::settlement::{RoundSpec, settle};
use rand::{Rng, SeedableRng};

fn firm(j: usize) -> String {
    format!("firm{j:03}")
}

/// The plain round: balances, and per payer its rows (payee, amount).
struct Round {
    balances: Vec<i128>,
    pays: Vec<Vec<(usize, i128)>>,
}

/// New balances and settled flags, by the rules in plain integers.
fn reference(r: &Round) -> (Vec<i128>, Vec<bool>, usize) {
    let n = r.balances.len();
    let mut settling = vec![true; n];
    let mut iterations = 0;
    loop {
        iterations += 1;
        let mut balance = r.balances.clone();
        for (p, rows) in r.pays.iter().enumerate().filter(|(p, _)| settling[*p]) {
            for &(j, a) in rows {
                balance[p] -= a;
                balance[j] += a;
            }
        }
        let short: Vec<usize> = (0..n).filter(|&j| balance[j] < 0).collect();
        if short.is_empty() {
            return (balance, settling, iterations);
        }
        short.into_iter().for_each(|j| settling[j] = false);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let firms: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let obligations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let only = args.next().filter(|a| a != "both");
    assert!(firms >= 2, "at least two firms");
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(1);
    // Balances up to 1.6 times the mean gross a firm pays: a few firms are short.
    let balance_max = 80_000 * (obligations / firms).max(1) as i128;
    let mut round = Round {
        balances: (0..firms)
            .map(|_| rng.random_range(0..balance_max))
            .collect(),
        pays: vec![Vec::new(); firms],
    };
    for _ in 0..obligations {
        let payer = rng.random_range(0..firms);
        let mut payee = rng.random_range(0..firms - 1);
        if payee >= payer {
            payee += 1;
        }
        round.pays[payer].push((payee, rng.random_range(1..=100_000)));
    }
    let (want_balances, want_settled, want_iterations) = reference(&round);
    let spec = RoundSpec {
        round: "bench".into(),
        firms: (0..firms).map(firm).collect(),
        accounts: "accounts".into(),
        obligations: "obligations".into(),
        hide_iterations: std::env::args().nth(4).as_deref() == Some("hidden"),
    };
    // Column-major plain inputs, dealt in four calls: balances, payers, payees, amounts.
    let balances = round.balances.clone();
    let rows: Vec<usize> = round.pays.iter().map(Vec::len).collect();
    let payers: Vec<i128> = vec![0; obligations];
    // The payee's index in the domain of every firm, in firm order.
    let payees: Vec<i128> = round
        .pays
        .iter()
        .flatten()
        .map(|&(k, _)| k as i128)
        .collect();
    let amounts: Vec<i128> = round.pays.iter().flatten().map(|&(_, a)| a).collect();
    let integer = |name: &str| ColumnSpec {
        name: name.into(),
        ty: ColumnType::Integer { bits: 63 },
    };
    let categorical = |name: &str, domain: Vec<String>| ColumnSpec {
        name: name.into(),
        ty: ColumnType::Categorical { domain },
    };
    let payee_bits = ColumnType::Categorical {
        domain: vec![String::new(); firms],
    }
    .bits();

    for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
        let name = format!("{mul:?}").to_lowercase();
        let hidden = spec.hide_iterations;
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        let (spec, balances, rows) = (spec.clone(), balances.clone(), rows.clone());
        let (payers, payees, amounts) = (payers.clone(), payees.clone(), amounts.clone());
        let start = Instant::now();
        let results = run_parties(
            Params::new(3, 1).unwrap(),
            EngineConfig {
                mul,
                check_openings: true,
                ..Default::default()
            },
            3,
            move |mut e| {
                let (spec, balances, rows) = (spec.clone(), balances.clone(), rows.clone());
                let (payers, payees, amounts) = (payers.clone(), payees.clone(), amounts.clone());
                async move {
                    let dealer = e.me() == PartyId(0);
                    let n = amounts.len();
                    let b = e
                        .input_ints(PartyId(0), dealer.then_some(&balances[..]), firms, 63)
                        .await?;
                    let pr = e
                        .input_ints(PartyId(0), dealer.then_some(&payers[..]), n, 1)
                        .await?;
                    let pe = e
                        .input_ints(PartyId(0), dealer.then_some(&payees[..]), n, payee_bits)
                        .await?;
                    let am = e
                        .input_ints(PartyId(0), dealer.then_some(&amounts[..]), n, 63)
                        .await?;
                    let mut tables = Vec::new();
                    let mut first = 0;
                    for (j, &count) in rows.iter().enumerate() {
                        tables.push(OwnedTable {
                            owner: firm(j),
                            name: "accounts".into(),
                            schema: Schema {
                                columns: vec![integer("balance")],
                            },
                            columns: vec![b.slice(j..j + 1)],
                            rows: 1,
                            checked: Vec::new(),
                            rules_checked: Vec::new(),
                        });
                        let range = first..first + count;
                        first += count;
                        tables.push(OwnedTable {
                            owner: firm(j),
                            name: "obligations".into(),
                            schema: Schema {
                                columns: vec![
                                    categorical("payer", vec![firm(j)]),
                                    categorical("payee", (0..firms).map(firm).collect()),
                                    integer("amount"),
                                ],
                            },
                            columns: vec![
                                pr.slice(range.clone()),
                                pe.slice(range.clone()),
                                am.slice(range.clone()),
                            ],
                            rows: count,
                            checked: Vec::new(),
                            rules_checked: Vec::new(),
                        });
                    }
                    let before = e.stats();
                    let t0 = Instant::now();
                    let outcome = settle(&mut e, &spec, &tables)
                        .await
                        .unwrap_or_else(|err| panic!("settle: {err}"));
                    let seconds = t0.elapsed().as_secs_f64();
                    let stats = e.stats().since(&before);
                    // Opened only to check the bench's own result.
                    let mut opened = Vec::new();
                    for p in &outcome.private {
                        opened.push((
                            p.recipient.clone(),
                            p.name.clone(),
                            e.open_ints(&p.values).await?,
                        ));
                    }
                    Ok((outcome.public, opened, stats, seconds))
                }
            },
        );
        let wall = start.elapsed().as_secs_f64();
        let results: Vec<_> = results
            .into_iter()
            .map(|r| r.expect("every party ran"))
            .collect();
        let (public, opened, stats, seconds) = &results[0];
        let iterations = if hidden && want_iterations > 1 {
            firms + 1
        } else {
            want_iterations
        };
        let mut ok = public.iterations == iterations
            && public.all_settled == want_settled.iter().all(|&s| s);
        for (recipient, name, values) in opened {
            let j = (0..firms).find(|&j| firm(j) == *recipient).unwrap();
            ok &= match name.as_str() {
                "balance" => values[..] == [want_balances[j]],
                "settled" => values.iter().all(|&v| v == want_settled[j] as i128),
                _ => false,
            };
        }
        let bytes_max = results.iter().map(|r| r.2.net.bytes_sent).max().unwrap();
        let dropped = want_settled.iter().filter(|&&s| !s).count();
        println!(
            "RESULT bench=settlement firms={firms} obligations={obligations} n=3 t=1 mul={name} hide_iterations={hidden} seconds={seconds:.3} rounds={} bytes_sent_p0={} bytes_sent_max={bytes_max} multiplications={} random_bits={} iterations={} all_settled={} firms_dropped={dropped} whole_run_seconds={wall:.3} check={}",
            stats.rounds,
            stats.net.bytes_sent,
            stats.multiplications,
            stats.random_bits,
            public.iterations,
            public.all_settled,
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            std::process::exit(1);
        }
    }
}
