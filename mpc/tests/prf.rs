//! Opening in the exponent and DY tags against the clear computation: `a·G` for shared `a`,
//! tags `(1/(k+x))·G` equal to the clear tags under the (test-only opened) key, equal inputs
//! giving equal tags across owners, the round counts, and a party whose points are off named.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use mpc::engine::commit::to_scalar;
use mpc::engine::prf::dy_tag;
use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, Field, Fr, MulProtocol, Params, PartyId, Randomness};

const XS: [i128; 6] = [0, 1, -1, 42, 1 << 59, 42];

fn settings() -> Vec<(Params, MulProtocol)> {
    [
        (3, 1, MulProtocol::Dn07),
        (3, 1, MulProtocol::Grr),
        (5, 2, MulProtocol::Dn07),
        (7, 3, MulProtocol::Grr),
    ]
    .into_iter()
    .map(|(n, t, m)| (Params::new(n, t).unwrap(), m))
    .collect()
}

#[test]
fn open_in_exponent_matches_the_clear_points() {
    for (params, mul) in settings() {
        let out = agreed(run_parties(
            params,
            EngineConfig {
                mul,
                check_openings: true,
                ..Default::default()
            },
            5,
            |mut e| async move {
                let me = e.me();
                let a = e
                    .input_ints(
                        PartyId(1),
                        (me == PartyId(1)).then_some(&XS[..]),
                        XS.len(),
                        61,
                    )
                    .await?;
                let before = e.stats().rounds;
                let points = e.open_in_exponent(&a).await?;
                assert_eq!(e.stats().rounds - before, 1, "one round");
                Ok(points
                    .iter()
                    .map(|p| p.compress().to_bytes())
                    .collect::<Vec<_>>())
            },
        ));
        for (x, got) in XS.iter().zip(&out) {
            let expect = (RISTRETTO_BASEPOINT_TABLE * &to_scalar(Fr::from_i128(*x))).compress();
            assert_eq!(&expect.to_bytes(), got, "{params:?} x={x}");
        }
    }
}

#[test]
fn dy_tags_match_the_clear_prf_under_the_shared_key() {
    let sources = [Randomness::Dealt, Randomness::Prss];
    let cases = settings()
        .into_iter()
        .flat_map(|s| sources.into_iter().map(move |r| (s, r)));
    for ((params, mul), randomness) in cases {
        let (tags, key) = agreed(run_parties(
            params,
            EngineConfig {
                mul,
                check_openings: true,
                randomness,
                ..Default::default()
            },
            9,
            |mut e| async move {
                let me = e.me();
                let x = e
                    .input_ints(
                        PartyId(0),
                        (me == PartyId(0)).then_some(&XS[..]),
                        XS.len(),
                        61,
                    )
                    .await?;
                let k = e.random(1).await?;
                let before = e.stats().rounds;
                let tags = e.prf_tags(&x, &k).await?;
                // Under PRSS the masks' dealing round goes (the key is made above).
                let expect = match (mul, randomness) {
                    (MulProtocol::Dn07, Randomness::Dealt) => 5,
                    (MulProtocol::Grr, Randomness::Dealt) | (MulProtocol::Dn07, _) => 4,
                    (MulProtocol::Grr, _) => 3,
                };
                assert_eq!(e.stats().rounds - before, expect, "rounds");
                // Test only: open the key to check the tags in the clear.
                let key = e.open(&k).await?;
                Ok((tags, key[0].to_canonical_bytes()))
            },
        ));
        let k = Fr::from_canonical_bytes(&key).unwrap();
        for (x, tag) in XS.iter().zip(&tags) {
            assert_eq!(Some(*tag), dy_tag(Fr::from_i128(*x), k), "{params:?} x={x}");
        }
        assert_eq!(tags[3], tags[5], "equal inputs, equal tags");
        assert_ne!(tags[0], tags[1]);
    }
}

#[test]
fn a_fresh_key_costs_no_extra_round_and_gives_injective_tags() {
    let sources = [Randomness::Dealt, Randomness::Prss];
    let cases = settings()
        .into_iter()
        .flat_map(|s| sources.into_iter().map(move |r| (s, r)));
    for ((params, mul), randomness) in cases {
        let tags = agreed(run_parties(
            params,
            EngineConfig {
                mul,
                check_openings: true,
                randomness,
                ..Default::default()
            },
            4,
            move |mut e| async move {
                let me = e.me();
                let x = e
                    .input_ints(
                        PartyId(0),
                        (me == PartyId(0)).then_some(&XS[..]),
                        XS.len(),
                        61,
                    )
                    .await?;
                let before = e.stats().rounds;
                let tags = e.prf_tags_fresh_key(&x).await?;
                // DN07's dealing round for its doubles, which PRSS makes locally.
                // Under PRSS the session's key round takes the place of the dealing round.
                let expect = if mul == MulProtocol::Dn07 { 5 } else { 4 };
                assert_eq!(e.stats().rounds - before, expect, "rounds");
                Ok(tags)
            },
        ));
        assert_eq!(tags[3], tags[5]);
        let distinct: std::collections::HashSet<_> = tags.iter().collect();
        assert_eq!(distinct.len(), XS.len() - 1);
    }
}

#[test]
fn a_party_whose_points_are_off_is_named() {
    // Party 4 of (5, 1) shares a different value than the polynomial: its point is checked.
    let results = run_parties(
        Params::new(5, 1).unwrap(),
        EngineConfig::default(),
        2,
        |mut e| async move {
            let me = e.me();
            let a = e
                .input_ints(
                    PartyId(0),
                    (me == PartyId(0)).then_some(&XS[..]),
                    XS.len(),
                    61,
                )
                .await?;
            let a = if me == PartyId(4) { a.add_const(1)? } else { a };
            e.open_in_exponent(&a).await
        },
    );
    for (i, r) in results.into_iter().enumerate() {
        if i == 4 {
            continue;
        }
        match r {
            Err(mpc::MpcError::InconsistentShares { party, index, .. }) => {
                assert_eq!((party, index), (PartyId(4), 0));
            }
            other => panic!("party {i}: expected a named inconsistency, got {other:?}"),
        }
    }
}
