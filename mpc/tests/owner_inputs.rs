//! Owners' inputs under `SecurityLevel::Malicious` (`Engine::check_inputs`): honest inputs pass
//! and are unchanged; an owner's inconsistent shares or out-of-range value make every worker
//! fail with `InputCheckFailed` naming the input and the rule; a worker that deviates during
//! the check makes it fail with `IntegrityCheckFailed` instead (never blaming an owner); a
//! semi-honest session does not check. n = 3, 5, 7, GRR and DN07.

use mpc::net::cheat::{Cheat, Cheating};
use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_networks;
use mpc::{
    Engine, EngineConfig, Fr, MpcError, MulProtocol, OwnerInput, Params, PartyId, Result,
    SecurityLevel, Shared,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

/// One owner's dataset: its name and columns of `(values, declared bits)`; a column with
/// `bits = None` is boolean.
#[derive(Clone, Debug)]
struct Dataset {
    name: &'static str,
    columns: Vec<(Vec<i128>, Option<u32>)>,
}

/// How an owner cheats when dealing.
#[derive(Clone, Copy, Debug)]
enum Deal {
    Honest,
    /// Party 0's share of (dataset, column, value) plus one: off every degree-t polynomial.
    Inconsistent(usize, usize, usize),
}

/// Each party's columns: values shared with 120 bits (so any test value deals), then declared
/// with their column's bits — a cheating owner declares a bound its values break.
fn deal(n: usize, data: &[Dataset], how: Deal) -> Vec<Vec<Vec<Shared<Fr>>>> {
    let params = Params::max_threshold(n).unwrap();
    let mut rng = ChaCha12Rng::seed_from_u64(11);
    let mut parties = vec![Vec::new(); n];
    for (d, set) in data.iter().enumerate() {
        let mut cols = vec![Vec::new(); n];
        for (c, (values, bits)) in set.columns.iter().enumerate() {
            let mut shares: Vec<Vec<Fr>> =
                mpc::engine::share_ints(values, 120, params, &mut rng).unwrap();
            if let Deal::Inconsistent(dd, cc, v) = how
                && (dd, cc) == (d, c)
            {
                shares[0][v] += <Fr as mpc::Field>::one();
            }
            for (p, s) in shares.into_iter().enumerate() {
                cols[p].push(match bits {
                    Some(b) => Shared::from_shares(s, *b).unwrap(),
                    None => Shared::from_bit_shares(s),
                });
            }
        }
        for (p, c) in cols.into_iter().enumerate() {
            parties[p].push(c);
        }
    }
    parties
}

/// Runs the check, then opens every input: each party's opened values, or its error.
fn session(
    n: usize,
    mul: MulProtocol,
    security: SecurityLevel,
    data: &[Dataset],
    how: Deal,
    cheat: Option<(PartyId, Cheat)>,
) -> Vec<Result<Vec<Vec<i128>>>> {
    session_within(n, mul, security, data, how, cheat, None)
}

/// [`session`] with the engine's comparison memory set to `memory` bytes (the range check then
/// runs in chunks).
fn session_within(
    n: usize,
    mul: MulProtocol,
    security: SecurityLevel,
    data: &[Dataset],
    how: Deal,
    cheat: Option<(PartyId, Cheat)>,
    memory: Option<usize>,
) -> Vec<Result<Vec<Vec<i128>>>> {
    let parties = deal(n, data, how);
    let names: Vec<&'static str> = data.iter().map(|d| d.name).collect();
    let (nets, _) = mpc::net::cheat::memory_mesh(n, cheat.as_ref());
    let config = EngineConfig {
        mul,
        security,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_networks(nets, params(n), config, 5, move |e| {
        let mine = parties[e.me().index()].clone();
        program(e, names.clone(), mine, memory)
    }))
}

fn params(n: usize) -> Params {
    Params::max_threshold(n).unwrap()
}

async fn program(
    mut e: Engine<Cheating<MemoryNetwork>, Fr>,
    names: Vec<&'static str>,
    tables: Vec<Vec<Shared<Fr>>>,
    memory: Option<usize>,
) -> Result<Vec<Vec<i128>>> {
    if let Some(bytes) = memory {
        e.set_comparison_memory(bytes);
    }
    let inputs: Vec<OwnerInput<'_, Fr>> = names
        .iter()
        .zip(&tables)
        .map(|(name, columns)| OwnerInput { name, columns })
        .collect();
    e.check_inputs(&inputs).await?;
    let mut out = Vec::new();
    for col in tables.iter().flatten() {
        out.push(e.open_ints(col).await?);
    }
    Ok(out)
}

fn market(price: Vec<i128>, amount: Vec<i128>) -> Vec<Dataset> {
    vec![
        Dataset {
            name: "alice/bids",
            columns: vec![(vec![5, -7, 0], Some(8)), (vec![1, 0, 1], None)],
        },
        Dataset {
            name: "bob/bids",
            columns: vec![(price, Some(16)), (amount, Some(32))],
        },
    ]
}

/// Every party fails with `InputCheckFailed` for `input` and `rule`.
fn assert_rejected(outcome: &[Result<Vec<Vec<i128>>>], input: &str, rule: &str, what: &str) {
    for (i, r) in outcome.iter().enumerate() {
        match r {
            Err(MpcError::InputCheckFailed {
                input: got,
                rule: why,
            }) => {
                assert_eq!(got, input, "{what}: party {i}");
                assert_eq!(why, rule, "{what}: party {i}");
                let message = r.as_ref().unwrap_err().to_string();
                assert!(message.contains(input), "{what}: {message}");
            }
            other => panic!("{what}: party {i} did not reject {input}: {other:?}"),
        }
    }
}

#[test]
fn out_of_range_values_abort_naming_the_dataset() {
    // Just past each edge of a 16-bit column, and far past it.
    for (n, mul, bad) in [
        (3, MulProtocol::Dn07, 1i128 << 16),
        (5, MulProtocol::Grr, -(1i128 << 16) - 1),
        (7, MulProtocol::Dn07, 1i128 << 100),
        (3, MulProtocol::Grr, -(1i128 << 90)),
    ] {
        let data = market(vec![3, bad, -(1 << 16)], vec![1, 2, 3]);
        let what = format!("n={n} {mul} value {bad}");
        let outcome = session(n, mul, SecurityLevel::Malicious, &data, Deal::Honest, None);
        assert_rejected(&outcome, "bob/bids", mpc::engine::RULE_RANGE, &what);
        // Semi-honest: no check, the values open as dealt (as before this check existed).
        let outcome = session(n, mul, SecurityLevel::SemiHonest, &data, Deal::Honest, None);
        for r in &outcome {
            assert_eq!(r.as_ref().unwrap()[2][1], bad, "{what}");
        }
    }
}

/// A long column is range-checked in chunks (here of 1,024 values, the smallest): honest values
/// pass unchanged, and one out-of-range value in the last chunk is caught naming its dataset.
#[test]
fn a_long_column_is_range_checked_in_chunks() {
    let chunked = |values: Vec<i128>| {
        let data = market(values, vec![1, 2, 3]);
        let (grr, malicious) = (MulProtocol::Grr, SecurityLevel::Malicious);
        session_within(3, grr, malicious, &data, Deal::Honest, None, Some(1))
    };
    let long: Vec<i128> = (0..2_500)
        .map(|i| (i * 37) % (1 << 16) - (1 << 15))
        .collect();
    for r in chunked(long.clone()) {
        assert_eq!(r.unwrap()[2], long);
    }
    let mut bad = long;
    bad[2_400] = 1 << 16;
    assert_rejected(
        &chunked(bad),
        "bob/bids",
        mpc::engine::RULE_RANGE,
        "chunked",
    );
}

#[test]
fn a_non_bit_in_a_boolean_column_aborts() {
    let mut data = market(vec![1], vec![2]);
    data[0].columns[1].0 = vec![1, 2, 0];
    let outcome = session(
        5,
        MulProtocol::Dn07,
        SecurityLevel::Malicious,
        &data,
        Deal::Honest,
        None,
    );
    assert_rejected(&outcome, "alice/bids", mpc::engine::RULE_RANGE, "boolean 2");
}

#[test]
fn inconsistent_shares_abort_naming_the_dataset() {
    for (n, mul) in [
        (3, MulProtocol::Dn07),
        (5, MulProtocol::Grr),
        (7, MulProtocol::Dn07),
    ] {
        let data = market(vec![3, 4], vec![1, 2]);
        for (d, c, v, name) in [(1, 1, 1, "bob/bids"), (0, 0, 2, "alice/bids")] {
            let how = Deal::Inconsistent(d, c, v);
            let what = format!("n={n} {mul} dataset {d} column {c}");
            let outcome = session(n, mul, SecurityLevel::Malicious, &data, how, None);
            assert_rejected(&outcome, name, mpc::engine::RULE_CONSISTENT, &what);
        }
    }
}

/// A worker adding an error to any one round of the check makes every worker fail, never pass
/// a wrong input, and never blames an owner's range. A wrong share in the consistency round
/// (or a dealt mask off the polynomial) is blamed on the input's consistency, naming both
/// possible culprits: with one set of `n <= 3t` shares an owner's bad share and a worker's
/// cannot be told apart (see `engine/owner_inputs.rs`).
#[test]
fn a_cheating_worker_during_the_check_is_not_an_owners_fault() {
    let (aborted, ambiguous) = attack_the_check(3, MulProtocol::Dn07, 1);
    assert!(
        aborted > 10 && ambiguous <= 3 * 2,
        "{aborted} integrity aborts, {ambiguous} consistency failures"
    );
}

/// The same on n = 5 and 7 (GRR and DN07; every third round attacked, by each party in turn).
#[test]
fn a_cheating_worker_during_the_check_is_not_an_owners_fault_on_5_and_7_parties() {
    for (n, mul) in [(5, MulProtocol::Grr), (7, MulProtocol::Dn07)] {
        let (aborted, ambiguous) = attack_the_check(n, mul, 3);
        assert!(
            aborted > 10 && ambiguous <= 3 * (n - 1),
            "n={n}: {aborted} integrity aborts, {ambiguous} consistency failures"
        );
    }
}

/// One party at a time (rotating) adds an error to its messages of every `stride`-th round of
/// a session checking honest inputs: every party must fail (as an integrity failure, or as the
/// consistency rule that names both culprits) or return the inputs unchanged. Returns how many
/// parties failed each way.
fn attack_the_check(n: usize, mul: MulProtocol, stride: usize) -> (usize, usize) {
    let data = market(vec![3, -4], vec![1, 2]);
    let want: Vec<Vec<i128>> = data
        .iter()
        .flat_map(|d| d.columns.iter().map(|c| c.0.clone()))
        .collect();
    let rounds = 40; // the check and the openings take fewer; later rounds are never attacked
    let (mut aborted, mut ambiguous) = (0, 0);
    for round in (0..rounds).step_by(stride) {
        let cheater = PartyId((round as usize % n) as u16);
        let outcome = session(
            n,
            mul,
            SecurityLevel::Malicious,
            &data,
            Deal::Honest,
            Some((cheater, Cheat::in_round(round))),
        );
        for (i, r) in outcome.iter().enumerate() {
            match r {
                Ok(got) => assert_eq!(got, &want, "n={n} round {round}: party {i}"),
                Err(MpcError::IntegrityCheckFailed { .. }) => aborted += 1,
                Err(MpcError::InputCheckFailed { rule, .. })
                    if rule == mpc::engine::RULE_CONSISTENT =>
                {
                    assert!(rule.contains("or a worker"), "{rule}");
                    ambiguous += 1
                }
                Err(MpcError::Net(mpc::net::NetError::PeerGone(_))) => {}
                Err(e) => panic!("n={n} round {round}: party {i}: {e}"),
            }
        }
    }
    eprintln!("n={n}: {aborted} integrity aborts, {ambiguous} consistency failures");
    (aborted, ambiguous)
}

fn bounded(bits: u32) -> impl Strategy<Value = Vec<i128>> {
    let max = 1i128 << bits;
    prop::collection::vec(-max..max, 0..5).prop_map(move |mut v| {
        v.extend([0, -1, -max, max - 1]);
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Honest owners pass (values on the very edges of their bounds included) and their
    /// values are unchanged, for n = 3, 5, 7, both multiplication protocols.
    #[test]
    fn honest_inputs_pass_unchanged(n in prop::sample::select(vec![3usize, 5, 7]), grr in any::<bool>(), price in bounded(16), amount in bounded(32)) {
        let mul = if grr { MulProtocol::Grr } else { MulProtocol::Dn07 };
        let data = market(price, amount);
        let want: Vec<Vec<i128>> = data.iter().flat_map(|d| d.columns.iter().map(|c| c.0.clone())).collect();
        for r in session(n, mul, SecurityLevel::Malicious, &data, Deal::Honest, None) {
            prop_assert_eq!(r.unwrap(), want.clone());
        }
    }
}

/// Runs `agree_all` with party `p`'s claims `claims[p]` (party 0 deviating as `cheat` says).
fn agreement(claims: Vec<Vec<bool>>, cheat: Option<(PartyId, Cheat)>) -> Vec<Result<Vec<bool>>> {
    let n = claims.len();
    let (nets, _) = mpc::net::cheat::memory_mesh(n, cheat.as_ref());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_networks(
        nets,
        params(n),
        EngineConfig::default(),
        5,
        move |mut e: Engine<Cheating<MemoryNetwork>, Fr>| {
            let mine = claims[e.me().index()].clone();
            async move { e.agree_all(&mine).await }
        },
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// A claim is agreed exactly when every party makes it (one party's "checked" alone never
    /// skips a check), and every party gets the same answer; n = 3, 5, 7.
    #[test]
    fn a_claim_is_agreed_only_when_every_party_makes_it(n in prop::sample::select(vec![3usize, 5, 7]), seed in any::<u64>(), k in 0usize..20) {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        let claims: Vec<Vec<bool>> = (0..n)
            .map(|_| (0..k).map(|_| rand::Rng::random_bool(&mut rng, 0.8)).collect())
            .collect();
        let want: Vec<bool> = (0..k).map(|j| claims.iter().all(|c| c[j])).collect();
        for r in agreement(claims, None) {
            prop_assert_eq!(r.unwrap(), want.clone());
        }
    }
}

/// A party that tells one party a different claim than the others (here: party 0 flips its
/// first claim towards party 1 only) makes every honest party abort instead of deciding
/// differently; n = 3, 5, 7.
#[test]
fn a_party_sending_different_claims_to_different_parties_is_caught() {
    for n in [3, 5, 7] {
        let cheat = Cheat {
            to: Some(PartyId(1)),
            ..Cheat::in_round(0)
        };
        let outcome = agreement(vec![vec![true, false, true]; n], Some((PartyId(0), cheat)));
        for (i, r) in outcome.iter().enumerate().skip(1) {
            match r {
                Err(MpcError::IntegrityCheckFailed { check, .. }) => {
                    assert!(check.contains("agreement"), "n = {n}: party {i}: {check}")
                }
                other => panic!("n = {n}: party {i} did not abort: {other:?}"),
            }
        }
    }
}
