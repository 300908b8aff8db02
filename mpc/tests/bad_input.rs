//! Bad input gets a typed error that names the problem, never a panic; overflow is refused
//! before anything is sent; a party that leaves is named by the others.

use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_parties;
use mpc::{Engine, EngineConfig, Field, Fr, MpcError, MulProtocol, Params, PartyId, Shared};

#[test]
fn engine_rejects_a_network_of_the_wrong_size() {
    let net = MemoryNetwork::mesh(4).remove(0);
    let err = Engine::<_, Fr>::new(
        net,
        Params::new(3, 1).unwrap(),
        EngineConfig::default(),
        [0; 32],
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("4 parties"), "{err}");
}

#[test]
fn overflow_is_refused_before_anything_is_sent() {
    let params = Params::new(3, 1).unwrap();
    let results = run_parties(params, EngineConfig::default(), 1, |mut e| async move {
        let big = Shared::<Fr>::from_shares(vec![Fr::from_u128(3); 4], 120)?;
        let err = e.mul(&big, &big).await.unwrap_err();
        assert!(
            matches!(
                err,
                MpcError::BoundExceeded {
                    op: "mul",
                    bits: 241,
                    ..
                }
            ),
            "{err}"
        );
        // Products of big values grow past the limit through the bound, not through luck.
        let sum = big.scale_pow2(79).unwrap().add(&big).unwrap();
        assert_eq!(sum.bits(), 200);
        let err = e.ltz(&sum).await.unwrap_err();
        assert!(matches!(err, MpcError::BoundExceeded { .. }), "{err}");
        Ok(e.stats())
    });
    for r in results {
        let stats = r.unwrap();
        assert_eq!(stats.net.bytes_sent, 0);
        assert_eq!(stats.rounds, 0);
    }
}

#[test]
fn a_sum_of_squares_tracks_its_growth() {
    // 30,000 squared 40-bit salaries: 81 bits + 15 bits of growth, well within the limit.
    let s = Shared::<Fr>::from_shares(vec![Fr::from_u128(1); 30_000], 40).unwrap();
    assert_eq!(s.bits(), 40);
    let sq_bits = 40 + 40 + 1;
    let squares = Shared::<Fr>::from_shares(vec![Fr::from_u128(1); 30_000], sq_bits).unwrap();
    assert_eq!(squares.sum().unwrap().bits(), sq_bits + 15);
}

#[test]
fn mismatched_lengths_and_bad_parties_are_typed_errors() {
    let params = Params::new(3, 1).unwrap();
    let results = run_parties(params, EngineConfig::default(), 2, |mut e| async move {
        let a = Shared::<Fr>::from_shares(vec![Fr::from_u128(1); 3], 10)?;
        let b = Shared::<Fr>::from_shares(vec![Fr::from_u128(1); 4], 10)?;
        let err = e.mul(&a, &b).await.unwrap_err();
        assert!(
            matches!(
                err,
                MpcError::LengthMismatch {
                    op: "mul",
                    left: 3,
                    right: 4
                }
            ),
            "{err}"
        );
        let err = e.open_to(&a, PartyId(9)).await.unwrap_err();
        assert!(
            matches!(err, MpcError::PartyOutOfRange { party: 9, n: 3 }),
            "{err}"
        );
        let err = e.input_ints(PartyId(7), None, 1, 10).await.unwrap_err();
        assert!(err.to_string().contains("party 7 out of range"), "{err}");
        let err = e.select(&a, &a, &a).await.unwrap_err();
        assert!(err.to_string().contains("not a boolean"), "{err}");
        Ok(())
    });
    for r in results {
        r.unwrap();
    }
}

#[test]
fn an_input_out_of_range_names_the_element() {
    let params = Params::new(3, 1).unwrap();
    let results = run_parties(params, EngineConfig::default(), 3, |mut e| async move {
        let me = e.me();
        let vals = [1i128, 2, 1 << 40];
        e.input_ints(PartyId(0), (me == PartyId(0)).then_some(&vals[..]), 3, 31)
            .await
            .map(|_| ())
    });
    let err = results.into_iter().next().unwrap().unwrap_err();
    assert!(err.to_string().contains("element 2"), "{err}");
}

#[test]
fn a_party_that_leaves_is_named() {
    for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
        let params = Params::new(3, 1).unwrap();
        let results = run_parties(
            params,
            EngineConfig {
                mul,
                check_openings: true,
                ..Default::default()
            },
            4,
            |mut e| async move {
                let x = Shared::<Fr>::from_shares(vec![Fr::from_u128(1); 8], 10)?;
                if e.me() == PartyId(2) {
                    return Err(MpcError::InvalidArgument {
                        op: "test",
                        reason: "party 2 crashes".into(),
                    });
                }
                e.mul(&x, &x).await.map(|_| ())
            },
        );
        for (i, r) in results.into_iter().enumerate().take(2) {
            let err = r.unwrap_err();
            assert!(
                err.to_string().contains("party 2 left"),
                "party {i} with {mul}: {err}"
            );
        }
    }
}
