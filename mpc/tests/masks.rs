//! Masking integers (`Engine::random_masks`): opened, they lie in `[0, terms 2^bits)`, spread
//! over the range as a sum of `terms` uniform integers does, differ between elements and runs,
//! and cost one dealing round whatever the batch length (dealt randomness: `terms = t + 1`),
//! or no round but the session's one PRSS key round (PRSS: `terms = C(n, t)`).

use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, MulProtocol, Params, Randomness};

fn masks(n: usize, t: usize, len: usize, bits: u32, seed: u64) -> (Vec<i128>, u64, u32) {
    masks_with(Randomness::Dealt, n, t, len, bits, seed)
}

fn masks_with(
    randomness: Randomness,
    n: usize,
    t: usize,
    len: usize,
    bits: u32,
    seed: u64,
) -> (Vec<i128>, u64, u32) {
    agreed(run_parties(
        Params::new(n, t).unwrap(),
        EngineConfig {
            mul: MulProtocol::Dn07,
            check_openings: true,
            randomness,
            ..Default::default()
        },
        seed,
        move |mut e| async move {
            let before = e.stats().rounds;
            let m = e.random_masks(len, bits).await?;
            let rounds = e.stats().rounds - before;
            let bound = m.bits();
            Ok((e.open_ints(&m).await?, rounds, bound))
        },
    ))
}

#[test]
fn masks_are_bounded_spread_and_one_round() {
    check_masks(Randomness::Dealt);
}

#[test]
fn prss_masks_are_bounded_spread_and_need_only_the_key_round() {
    check_masks(Randomness::Prss);
}

fn check_masks(randomness: Randomness) {
    for (n, t, key_sets) in [(3, 1, 3), (5, 2, 10), (7, 3, 35)] {
        let bits = 12;
        let len = 4000;
        let masks = |n, t, len, bits, seed| masks_with(randomness, n, t, len, bits, seed);
        let (values, rounds, bound) = masks(n, t, len, bits, 1);
        // One dealing round, or the PRSS key round (made once per session, on first use).
        assert_eq!(rounds, 1, "n={n}");
        let terms = match randomness {
            Randomness::Dealt => t + 1,
            Randomness::Prss => key_sets,
        };
        let top = (terms as i128) << bits;
        assert!(values.iter().all(|&v| (0..top).contains(&v)), "n={n}");
        assert!(top <= 1i128 << bound, "the declared bound covers the range");
        // The mean of a sum of `terms` uniform integers below 2^bits is terms (2^bits - 1)/2,
        // its standard deviation sqrt(terms) 2^bits / sqrt(12); the batch mean is within 6
        // sigma.
        let mean = values.iter().sum::<i128>() as f64 / len as f64;
        let want = terms as f64 * ((1u64 << bits) - 1) as f64 / 2.0;
        let sigma = (terms as f64).sqrt() * (1u64 << bits) as f64 / 12f64.sqrt();
        assert!(
            (mean - want).abs() < 6.0 * sigma / (len as f64).sqrt(),
            "n={n}: mean {mean}, expected {want}"
        );
        // Sums of terms >= 2 integers reach past one dealt integer's range.
        assert!(values.iter().any(|&v| v >= 1 << bits), "n={n}");
        let mut distinct = values.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > len / 2, "n={n}");
        let (again, _, _) = masks(n, t, len, bits, 2);
        assert_ne!(values, again, "another seed, other masks");
    }
    // An empty batch costs nothing; a bound past the engine's limit is refused.
    let (values, rounds, _) = masks(3, 1, 0, 40, 3);
    assert_eq!((values.len(), rounds), (0, 0));
    let refused = run_parties(
        Params::new(3, 1).unwrap(),
        EngineConfig::default(),
        4,
        |mut e| async move { e.random_masks(1, 200).await.map(|_| ()) },
    );
    assert!(refused.iter().all(|r| r.is_err()));
}
