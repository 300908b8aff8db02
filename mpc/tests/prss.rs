//! Pseudo-random secret sharing (`Randomness::Prss`): random values on one degree-t polynomial
//! (the openings check every share), uniform, bounded masks, no communication after the key
//! round; comparisons by edaBits against the clear computation on every value of small bounds;
//! the fallback past `C(n, t) = 35`; a malformed key message named.

use mpc::net::Network;
use mpc::net::memory::MemoryNetwork;
use mpc::testing::{agreed, run_parties};
use mpc::{Engine, EngineConfig, Fr, MulProtocol, Params, PartyId, Randomness, Shared};

const SETTINGS: [(usize, usize); 6] = [(3, 1), (5, 1), (5, 2), (7, 1), (7, 2), (7, 3)];

fn prss(mul: MulProtocol) -> EngineConfig {
    EngineConfig {
        mul,
        check_openings: true,
        randomness: Randomness::Prss,
        ..Default::default()
    }
}

/// Party 0 inputs `x` and party 1 inputs `y`, both bounded by `bits`.
async fn inputs(
    e: &mut Engine<MemoryNetwork, Fr>,
    x: &[i128],
    y: &[i128],
    bits: u32,
) -> mpc::Result<(Shared<Fr>, Shared<Fr>)> {
    let me = e.me();
    let a = e
        .input_ints(PartyId(0), (me == PartyId(0)).then_some(x), x.len(), bits)
        .await?;
    let b = e
        .input_ints(PartyId(1), (me == PartyId(1)).then_some(y), y.len(), bits)
        .await?;
    Ok((a, b))
}

fn binomial(n: usize, t: usize) -> i128 {
    (0..t).fold(1i128, |acc, i| acc * (n - i) as i128 / (i as i128 + 1))
}

#[test]
fn random_values_are_consistent_uniform_and_free_after_the_key_round() {
    for (n, t) in SETTINGS {
        for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
            let (rounds, bytes, values, masks, bound) = agreed(run_parties(
                Params::new(n, t).unwrap(),
                prss(mul),
                7,
                |mut e| async move {
                    let first = e.random(2000).await?;
                    let setup = e.stats();
                    let second = e.random(2000).await?;
                    let masks = e.random_masks(2000, 12).await?;
                    let after = e.stats().since(&setup);
                    // The openings check every share against the degree-t polynomial.
                    let mut values = e.open(&first).await?;
                    values.extend(e.open(&second).await?);
                    let bound = masks.bits();
                    Ok((
                        (setup.rounds, after.rounds),
                        after.net.bytes_sent,
                        values
                            .iter()
                            .map(|v| mpc::Field::to_canonical_limbs(v))
                            .collect::<Vec<_>>(),
                        e.open_ints(&masks).await?,
                        bound,
                    ))
                },
            ));
            assert_eq!(
                rounds,
                (1, 0),
                "n={n} t={t} {mul}: one key round, then none"
            );
            assert_eq!(bytes, 0, "n={n} t={t} {mul}");
            let mut distinct = values.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 4000, "n={n} t={t}");
            // Every bit position of a uniform value is a fair coin: bit 200 over 4000 draws.
            let ones = values.iter().filter(|l| (l[3] >> 8) & 1 == 1).count();
            assert!((1750..=2250).contains(&ones), "n={n} t={t}: {ones}");
            let top = binomial(n, t) << 12;
            assert!(masks.iter().all(|&m| (0..top).contains(&m)), "n={n} t={t}");
            assert!(
                top <= 1i128 << bound,
                "n={n} t={t}: the bound covers the sum"
            );
            assert!(
                masks.iter().any(|&m| m >= 1 << 12),
                "sums pass one term's range"
            );
            let mean = masks.iter().sum::<i128>() as f64 / 2000.0;
            let want = binomial(n, t) as f64 * 4095.0 / 2.0;
            let sigma = (binomial(n, t) as f64).sqrt() * 4096.0 / 12f64.sqrt() / 2000f64.sqrt();
            assert!(
                (mean - want).abs() < 6.0 * sigma,
                "n={n} t={t}: {mean} vs {want}"
            );
        }
    }
}

/// `[x < 0]` and `[x < y]` for every value of bounds 1..=4 (and `y` a permutation of them), so every
/// carry pattern of the binary circuit's small cases, for every (n, t) and both protocols.
#[test]
fn edabit_comparisons_match_clear_on_every_small_value() {
    for (i, (n, t)) in SETTINGS.into_iter().enumerate() {
        let mul = [MulProtocol::Grr, MulProtocol::Dn07][i % 2];
        for k in 1..=4u32 {
            let x: Vec<i128> = (-(1i128 << k)..(1i128 << k)).collect();
            let y: Vec<i128> = (0..x.len()).map(|i| x[(7 * i + 3) % x.len()]).collect();
            let want_ltz: Vec<i128> = x.iter().map(|&v| (v < 0) as i128).collect();
            let want_lt: Vec<i128> = x.iter().zip(&y).map(|(a, b)| (a < b) as i128).collect();
            let (xs, ys) = (x.clone(), y.clone());
            let got = agreed(run_parties(
                Params::new(n, t).unwrap(),
                prss(mul),
                k as u64,
                move |mut e| {
                    let (x, y) = (xs.clone(), ys.clone());
                    async move {
                        let (a, b) = inputs(&mut e, &x, &y, k).await?;
                        let ltz = e.ltz(&a).await?;
                        let lt = e.lt(&a, &b).await?;
                        Ok((e.open_ints(&ltz).await?, e.open_ints(&lt).await?))
                    }
                },
            ));
            assert_eq!(
                got,
                (want_ltz.clone(), want_lt.clone()),
                "n={n} t={t} k={k} {mul}"
            );
        }
    }
}

/// Past 35 key sets (n = 9, t = 4: 126) the session falls back to dealt randomness: random
/// values cost a dealing round, and comparisons still match the clear computation.
#[test]
fn prss_falls_back_to_dealt_randomness_for_many_key_sets() {
    let a: Vec<i128> = vec![0, -1, 5, i32::MIN as i128, i32::MAX as i128];
    let b: Vec<i128> = vec![0, 3, -5, i32::MAX as i128, i32::MIN as i128];
    let want: Vec<i128> = a.iter().zip(&b).map(|(x, y)| (x < y) as i128).collect();
    let (rounds, got) = agreed(run_parties(
        Params::new(9, 4).unwrap(),
        prss(MulProtocol::Grr),
        3,
        move |mut e| {
            let (a, b) = (a.clone(), b.clone());
            async move {
                let before = e.stats().rounds;
                e.random(4).await?;
                let rounds = e.stats().rounds - before;
                let (x, y) = inputs(&mut e, &a, &b, 31).await?;
                let lt = e.lt(&x, &y).await?;
                Ok((rounds, e.open_ints(&lt).await?))
            }
        },
    ));
    assert_eq!(rounds, 1, "a dealing round, as without PRSS");
    assert_eq!(got, want);
}

/// A party that sends a key message of the wrong size is named, and nobody panics.
#[test]
fn a_malformed_key_message_is_named() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let params = Params::new(3, 1).unwrap();
        let mut nets = MemoryNetwork::mesh(3);
        let mut rogue = nets.pop().unwrap();
        let engines: Vec<_> = nets
            .into_iter()
            .enumerate()
            .map(|(i, net)| {
                let e: Engine<_, Fr> =
                    Engine::new(net, params, prss(MulProtocol::Grr), [i as u8; 32]).unwrap();
                tokio::spawn(async move {
                    let mut e = e;
                    e.random(4).await.map(|s: Shared<Fr>| s.len())
                })
            })
            .collect();
        // Party 2 leads no key set (n = 3, t = 1), so it owes empty messages: it sends 5 bytes.
        for to in [PartyId(0), PartyId(1)] {
            rogue
                .send(to, mpc::net::Round(0), bytes::Bytes::from_static(b"hello"))
                .unwrap();
        }
        for (i, h) in engines.into_iter().enumerate() {
            let err = h.await.unwrap().unwrap_err();
            assert!(
                err.to_string()
                    .contains("malformed message from party 2: expected 0 PRSS keys"),
                "party {i}: {err}"
            );
        }
    });
}

/// A batch longer than the memory budget allows runs in chunks: the same results as the clear
/// computation, and each chunk's rounds (12 at n = 3, t = 1 with GRR).
#[test]
fn a_long_batch_runs_in_chunks_within_the_memory_budget() {
    let a: Vec<i128> = (0..300).map(|i| (i * 7919 % 2001) - 1000).collect();
    let b: Vec<i128> = (0..300).map(|i| (i * 104729 % 2001) - 1000).collect();
    let want: Vec<i128> = a.iter().zip(&b).map(|(x, y)| (x < y) as i128).collect();
    for (budget, chunks) in [(usize::MAX, 1), (60_000, 6)] {
        let (a, b) = (a.clone(), b.clone());
        let (rounds, got) = agreed(run_parties(
            Params::new(3, 1).unwrap(),
            prss(MulProtocol::Grr),
            5,
            move |mut e| {
                let (a, b) = (a.clone(), b.clone());
                async move {
                    e.set_comparison_memory(budget);
                    let (x, y) = inputs(&mut e, &a, &b, 31).await?;
                    e.random(1).await?;
                    let before = e.stats().rounds;
                    let lt = e.lt(&x, &y).await?;
                    let rounds = e.stats().rounds - before;
                    Ok((rounds, e.open_ints(&lt).await?))
                }
            },
        ));
        assert_eq!(got, want, "budget {budget}");
        assert_eq!(rounds, 12 * chunks, "budget {budget}");
    }
}
