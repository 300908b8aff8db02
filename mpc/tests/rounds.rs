//! Round counts are part of each primitive's contract: they do not depend on the batch length,
//! and a change to them fails here loudly.

use mpc::testing::{agreed, run_parties};
use mpc::{BitProtocol, EngineConfig, MulProtocol, Params, PartyId, Randomness, Shared};

/// Rounds used by `op` on a batch of `len` 31-bit inputs (dealt beforehand, not counted).
fn rounds(n: usize, t: usize, mul: MulProtocol, len: usize, op: &'static str) -> u64 {
    rounds_with(n, t, mul, BitProtocol::DealtXor, len, op)
}

fn rounds_with(
    n: usize,
    t: usize,
    mul: MulProtocol,
    bits: BitProtocol,
    len: usize,
    op: &'static str,
) -> u64 {
    let config = EngineConfig {
        mul,
        check_openings: true,
        bits,
        randomness: Randomness::Dealt,
        ..Default::default()
    };
    rounds_config(n, t, config, false, len, op)
}

/// Rounds of `op` under `config`; with `warm`, after a first `random(1)` (under PRSS, the key
/// round) that is not counted.
fn rounds_config(
    n: usize,
    t: usize,
    config: EngineConfig,
    warm: bool,
    len: usize,
    op: &'static str,
) -> u64 {
    let params = Params::new(n, t).unwrap();
    agreed(run_parties(params, config, 9, move |mut e| async move {
        if warm {
            e.random(1).await?;
        }
        let me = e.me();
        let vals: Vec<i128> = (0..len as i128).map(|i| i * 7919 - 500).collect();
        let x = e
            .input_ints(PartyId(0), (me == PartyId(0)).then_some(&vals[..]), len, 31)
            .await?;
        let y = e
            .input_ints(PartyId(1), (me == PartyId(1)).then_some(&vals[..]), len, 31)
            .await?;
        let before = e.stats().rounds;
        let _z: Shared<_> = match op {
            "mul" => e.mul(&x, &y).await?,
            "dot" => e.dot(&x, &y, len).await?,
            "lt" => e.lt(&x, &y).await?,
            "eq" => e.eq(&x, &y).await?,
            "fxmul" => e.fx_mul(&x.with_frac(16), &y.with_frac(16)).await?,
            "bits" => e.bit_decompose(&x).await?.swap_remove(0),
            "random_bits" => e.random_bits(len).await?,
            "random" => e.random(len).await?,
            "open" => {
                e.open(&x).await?;
                x.clone()
            }
            _ => unreachable!(),
        };
        Ok(e.stats().rounds - before)
    }))
}

#[test]
fn rounds_are_constant_in_the_batch_length() {
    let expect = [
        // (op, protocol, rounds for n=3, t=1)
        ("open", MulProtocol::Dn07, 1),
        ("mul", MulProtocol::Grr, 1),
        ("mul", MulProtocol::Dn07, 3), // dealing + 2 online
        ("dot", MulProtocol::Grr, 1),
        ("dot", MulProtocol::Dn07, 3),
        ("lt", MulProtocol::Grr, 8), // dealing, XOR, open, 5 carry levels (m = 32)
        ("lt", MulProtocol::Dn07, 14), // dealing, XOR (2), open, 5 carry levels x 2
        ("eq", MulProtocol::Grr, 7), // dealing, XOR, 3 openings (33 -> 6 -> 3 bits), 2 levels
        ("eq", MulProtocol::Dn07, 10),
        ("bits", MulProtocol::Grr, 34), // dealing, XOR, open, 31 ripple-carry positions
        ("bits", MulProtocol::Dn07, 66), // dealing, XOR (2), open, 31 x 2
        ("fxmul", MulProtocol::Grr, 4), // dealing, XOR, mul, open
        ("fxmul", MulProtocol::Dn07, 6),
    ];
    for (op, mul, want) in expect {
        for len in [1, 40] {
            let got = rounds(3, 1, mul, len, op);
            println!("{op} {mul} len={len}: {got} rounds");
            assert_eq!(got, want, "{op} with {mul} on a batch of {len}");
        }
    }
}

/// The same under PRSS (the default): after the key round, every operation's rounds do not
/// depend on the batch length, and none of them runs DN07's dealing round for its doubles.
#[test]
fn prss_rounds_are_constant_in_the_batch_length() {
    for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
        let config = EngineConfig {
            mul,
            check_openings: true,
            randomness: Randomness::Prss,
            ..Default::default()
        };
        for op in [
            "open",
            "mul",
            "dot",
            "lt",
            "eq",
            "bits",
            "fxmul",
            "random_bits",
        ] {
            let one = rounds_config(3, 1, config, true, 1, op);
            let many = rounds_config(3, 1, config, true, 40, op);
            println!("{op} {mul} prss: {one} rounds");
            assert_eq!(one, many, "{op} with {mul} under PRSS");
        }
        // Under PRSS a multiplication needs no dealing round (dealt: 1 with GRR, 3 with DN07).
        let per_mul = if mul == MulProtocol::Grr { 1 } else { 2 };
        assert_eq!(rounds_config(3, 1, config, true, 40, "mul"), per_mul);
    }
}

#[test]
fn comparison_rounds_stay_within_budget_for_larger_thresholds() {
    for (n, t) in [(5, 2), (7, 3)] {
        let r = rounds(n, t, MulProtocol::Dn07, 10, "lt");
        println!("lt dn07 n={n} t={t}: {r} rounds");
        // XOR of t+1 dealt bits takes ceil(log2(t+1)) multiplication levels.
        assert!(r <= 16, "lt took {r} rounds for n={n} t={t}");
    }
}

/// Random bits: XOR of t + 1 dealt bits takes the dealing round and ceil(log2(t+1))
/// multiplication levels; the squaring trick takes the dealing round and one opening, whatever
/// t and the multiplication protocol.
#[test]
fn random_bit_rounds_by_protocol() {
    for (n, t) in [(3, 1), (5, 2), (7, 3)] {
        let levels = (t as u64 + 1).next_power_of_two().trailing_zeros() as u64;
        for (mul, per_level) in [(MulProtocol::Grr, 1), (MulProtocol::Dn07, 2)] {
            for len in [1, 40] {
                let xor = rounds_with(n, t, mul, BitProtocol::DealtXor, len, "random_bits");
                assert_eq!(xor, 1 + levels * per_level, "xor n={n} t={t} {mul}");
                let sq = rounds_with(n, t, mul, BitProtocol::Squaring, len, "random_bits");
                assert_eq!(sq, 2, "squaring n={n} t={t} {mul}");
            }
        }
    }
}

/// Carry-save layers that take `ops` operands down to two (each full adder takes three to two).
fn csa_layers(mut ops: u64) -> u64 {
    let mut layers = 0;
    while ops > 2 {
        ops -= ops / 3;
        layers += 1;
    }
    layers
}

fn log2_ceil(x: u64) -> u64 {
    x.next_power_of_two().trailing_zeros() as u64
}

/// PRSS: one key round on first use, then no round for random values, none of DN07's dealing
/// rounds, and the edaBits comparison: the daBits' XOR tree over C(n, t) terms, the opening,
/// the carry-save layers over C(n, t) + 1 operands, the generates, 5 tree levels (m = 32) and
/// the binary opening.
#[test]
fn prss_rounds() {
    for (n, t, c) in [(3, 1, 3u64), (5, 2, 10), (7, 3, 35)] {
        for (mul, per_mul) in [(MulProtocol::Grr, 1), (MulProtocol::Dn07, 2)] {
            let config = EngineConfig {
                mul,
                check_openings: true,
                randomness: Randomness::Prss,
                ..Default::default()
            };
            for len in [1, 40] {
                assert_eq!(rounds_config(n, t, config, false, len, "random"), 1);
                assert_eq!(rounds_config(n, t, config, true, len, "random"), 0);
                assert_eq!(rounds_config(n, t, config, true, len, "mul"), per_mul);
                let lt = log2_ceil(c) * per_mul + 1 + csa_layers(c + 1) + 1 + 5 + 1;
                let got = rounds_config(n, t, config, true, len, "lt");
                println!("lt {mul} n={n} t={t} prss: {got} rounds");
                assert_eq!(got, lt, "lt {mul} n={n} t={t} len={len}");
                assert_eq!(rounds_config(n, t, config, false, len, "lt"), lt + 1);
            }
        }
    }
    // n = 3, t = 1 in figures: 12 rounds with GRR, 14 with DN07 (the old path: 8 and 14).
    assert_eq!(2 + 1 + csa_layers(4) + 1 + 5 + 1, 12);
}
