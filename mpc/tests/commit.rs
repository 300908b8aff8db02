//! Pedersen commitments computed from shares: the committed point equals `v·G + r·H` computed
//! in the clear, openings revealed to one recipient verify, wrong values do not, and a party
//! whose point is off the polynomial is named.

use mpc::engine::commit::{self, Commitment, Opening};
use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, Field, Fr, MpcError, Params, PartyId};

const VALUES: [i128; 5] = [0, 1, -1, 1_000_000_007, i64::MIN as i128];

fn settings() -> Vec<Params> {
    [(3, 1), (5, 2), (7, 3), (7, 1)]
        .into_iter()
        .map(|(n, t)| Params::new(n, t).unwrap())
        .collect()
}

#[test]
fn commitments_match_the_clear_computation_and_openings_verify() {
    for params in settings() {
        let n = params.n();
        let out = agreed(run_parties(
            params,
            EngineConfig::default(),
            3,
            |mut e| async move {
                let me = e.me();
                let v = e
                    .input_ints(
                        PartyId(0),
                        (me == PartyId(0)).then_some(&VALUES[..]),
                        VALUES.len(),
                        64,
                    )
                    .await?;
                let (commitments, r) = e.commit(&v).await?;
                let rounds_before = e.stats().rounds;
                let again = e.commit_with(&v, &r).await?;
                assert_eq!(
                    e.stats().rounds - rounds_before,
                    1,
                    "commit_with is one round"
                );
                assert_eq!(
                    again, commitments,
                    "the same shares give the same commitments"
                );
                let rounds_before = e.stats().rounds;
                let revealed = e.reveal_to(&v, &r, PartyId(1)).await?;
                assert_eq!(
                    e.stats().rounds - rounds_before,
                    1,
                    "reveal_to is one round"
                );
                assert_eq!(revealed.is_some(), me == PartyId(1));
                // Open both in the clear (to everyone) to recompute the commitment.
                let values = e.open(&v).await?;
                let blindings = e.open(&r).await?;
                Ok((commitments, values, blindings))
            },
        ));
        let (commitments, values, blindings) = out;
        assert_eq!(commitments.len(), VALUES.len());
        for (i, c) in commitments.iter().enumerate() {
            assert_eq!(values[i], Fr::from_i128(VALUES[i]));
            assert_eq!(
                *c,
                Commitment::to_value(values[i], blindings[i]),
                "n={n} element {i}"
            );
            assert!(commit::verify(c, &Opening::new(values[i], blindings[i])));
            assert!(!commit::verify(
                c,
                &Opening::from_int(VALUES[i] + 1, blindings[i])
            ));
        }
        assert_ne!(
            commitments[1], commitments[2],
            "distinct values, distinct commitments"
        );
    }
}

#[test]
fn the_recipient_checks_its_openings() {
    let params = Params::new(5, 2).unwrap();
    let results = run_parties(params, EngineConfig::default(), 9, |mut e| async move {
        let me = e.me();
        let v = e
            .input_ints(
                PartyId(2),
                (me == PartyId(2)).then_some(&VALUES[..]),
                VALUES.len(),
                64,
            )
            .await?;
        let (commitments, r) = e.commit(&v).await?;
        Ok((commitments.clone(), e.reveal_to(&v, &r, PartyId(4)).await?))
    });
    let (commitments, openings) = results.into_iter().nth(4).unwrap().unwrap();
    let openings = openings.expect("party 4 is the recipient");
    for ((c, o), &v) in commitments.iter().zip(&openings).zip(&VALUES) {
        assert!(c.verify(o));
        assert_eq!(o.value_int(), Some(v));
        let mut wrong = *o;
        wrong.value = Fr::from_i128(v ^ 1).to_canonical_bytes();
        assert!(!c.verify(&wrong), "a wrong value does not verify");
        let mut wrong = *o;
        wrong.blinding[0] ^= 1;
        assert!(!c.verify(&wrong), "a wrong blinding does not verify");
    }
    assert!(
        !commitments[0].verify(&openings[1]),
        "an opening fits its own commitment only"
    );
}

#[test]
fn a_party_with_a_wrong_point_is_named() {
    for params in settings() {
        let (n, t) = (params.n(), params.t());
        let cheat = PartyId(n as u16 - 1);
        let results = run_parties(
            params,
            EngineConfig::default(),
            5,
            move |mut e| async move {
                let me = e.me();
                let v = e
                    .input_ints(
                        PartyId(0),
                        (me == PartyId(0)).then_some(&VALUES[..]),
                        VALUES.len(),
                        64,
                    )
                    .await?;
                // The last party commits with a share off the polynomial at element 0..: its point
                // disagrees with the others'.
                let v = if me == cheat { v.add_const(1)? } else { v };
                e.commit(&v).await
            },
        );
        assert!(n > t + 1);
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Err(MpcError::InconsistentShares {
                    party,
                    degree,
                    index,
                }) => {
                    assert_eq!((party, degree, index), (cheat, t, 0), "party {i}, n={n}");
                }
                other => panic!("party {i}, n={n}: expected an inconsistency, got {other:?}"),
            }
        }
    }
}

#[test]
fn without_checks_a_wrong_point_goes_unnoticed_but_commitments_agree() {
    // Documents what check_openings buys: with it off, the cheat is not named, yet every party
    // still derives the same commitments from the first t + 1 points.
    let params = Params::new(3, 1).unwrap();
    let config = EngineConfig {
        check_openings: false,
        ..EngineConfig::default()
    };
    let out = agreed(run_parties(params, config, 5, |mut e| async move {
        let me = e.me();
        let v = e
            .input_ints(PartyId(0), (me == PartyId(0)).then_some(&VALUES[..]), 5, 64)
            .await?;
        let v = if me == PartyId(2) { v.add_const(1)? } else { v };
        Ok(e.commit(&v).await?.0)
    }));
    assert_eq!(out.len(), 5);
}

#[test]
fn serde_is_hex_for_humans_and_raw_for_postcard() {
    let c = Commitment::to_value(Fr::from_i128(3), Fr::from_i128(4));
    assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
    assert_eq!(
        serde_json::from_str::<Commitment>(&format!("\"{c}\"")).unwrap(),
        c
    );
    let bytes = postcard::to_allocvec(&c).unwrap();
    assert_eq!(bytes.len(), 1 + 32, "a length byte and the raw point");
    assert_eq!(postcard::from_bytes::<Commitment>(&bytes).unwrap(), c);
    let o = Opening::from_int(3, Fr::from_i128(4));
    let back: Opening = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
    assert_eq!(back, o);
    assert_eq!(format!("{o:?}"), "Opening(..)", "openings do not print");
    assert!(serde_json::from_str::<Commitment>("\"abcd\"").is_err());
}
