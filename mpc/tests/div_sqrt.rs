//! Fixed-point reciprocal, division and square root against f64 in the clear, for several
//! `(n, t)` settings and both multiplication protocols, with the documented tolerance (3 units in
//! the last place), the documented conventions (zero divisor, negative radicand, integer
//! operands) and constant rounds per batch.

use mpc::engine::INTEGER_FRAC;
use mpc::testing::{agreed, run_parties};
use mpc::{EngineConfig, MulProtocol, Params, PartyId};
use proptest::prelude::*;

/// Fractional bits of the shared inputs.
const FRAC: u32 = 16;
/// The documented error bound, in units in the last place (for uncapped precision).
const TOL_ULP: f64 = 3.0;
/// `(n, t)` settings sampled by the property test.
const SETTINGS: [(usize, usize); 6] = [(3, 1), (5, 1), (5, 2), (7, 1), (7, 2), (7, 3)];

/// One batch of operands: scaled integers with their bounds and scales.
#[derive(Clone, Debug)]
struct Operands {
    /// Divisors, and the radicands' source (their absolute values).
    b: Vec<i128>,
    b_bits: u32,
    b_frac: u32,
    /// Dividends.
    a: Vec<i128>,
    a_bits: u32,
    a_frac: u32,
}

/// The opened results of the three operations, and the rounds each took.
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    reciprocal: Vec<i128>,
    quotient: Vec<i128>,
    root: Vec<i128>,
    fracs: [u32; 3],
    rounds: [u64; 3],
}

/// Party 0 shares `b` (and `|b|` as the radicand), party `n - 1` shares `a`; all parties run
/// `1/b`, `a/b` and `sqrt(|b|)` and open the results.
fn run(n: usize, t: usize, mul: MulProtocol, seed: u64, ops: &Operands) -> Outcome {
    let params = Params::new(n, t).unwrap();
    let ops = ops.clone();
    agreed(run_parties(
        params,
        EngineConfig {
            mul,
            check_openings: true,
            ..Default::default()
        },
        seed,
        move |mut e| {
            let ops = ops.clone();
            async move {
                let (me, last) = (e.me(), PartyId(n as u16 - 1));
                let roots: Vec<i128> = ops
                    .b
                    .iter()
                    .map(|v| v.abs().min((1 << ops.b_bits) - 1))
                    .collect();
                let len = ops.b.len();
                let b = e
                    .input_ints(
                        PartyId(0),
                        (me == PartyId(0)).then_some(&ops.b[..]),
                        len,
                        ops.b_bits,
                    )
                    .await?;
                let x = e
                    .input_ints(
                        PartyId(0),
                        (me == PartyId(0)).then_some(&roots[..]),
                        len,
                        ops.b_bits,
                    )
                    .await?;
                let a = e
                    .input_ints(last, (me == last).then_some(&ops.a[..]), len, ops.a_bits)
                    .await?;
                let (b, x, a) = (
                    b.with_frac(ops.b_frac),
                    x.with_frac(ops.b_frac),
                    a.with_frac(ops.a_frac),
                );
                let r0 = e.stats().rounds;
                let reciprocal = e.fx_reciprocal(&b).await?;
                let r1 = e.stats().rounds;
                let quotient = e.fx_div(&a, &b).await?;
                let r2 = e.stats().rounds;
                let root = e.fx_sqrt(&x).await?;
                let r3 = e.stats().rounds;
                Ok(Outcome {
                    fracs: [reciprocal.frac(), quotient.frac(), root.frac()],
                    reciprocal: e.open_ints(&reciprocal).await?,
                    quotient: e.open_ints(&quotient).await?,
                    root: e.open_ints(&root).await?,
                    rounds: [r1 - r0, r2 - r1, r3 - r2],
                })
            }
        },
    ))
}

/// `got - num / den` in units, exactly up to f64 rounding of a number below 1 in magnitude: the
/// reference for quotients, whose values (up to 2^81 units here) f64 cannot hold to a unit.
fn quotient_error(got: i128, num: i128, den: i128) -> f64 {
    (got - num / den) as f64 - (num % den) as f64 / den as f64
}

/// Checks every result against the clear computation, in units of the result's last place,
/// within [`TOL_ULP`]: quotients exactly, roots in f64 (which holds them to 2^-12 units). A zero
/// divisor is read as one unit.
fn check(ops: &Operands, out: &Outcome) -> Result<(), String> {
    let [f_rcp, f_div, f_root] = out.fracs;
    let (fb, fa) = (ops.b_frac as i32, ops.a_frac as i32);
    for i in 0..ops.b.len() {
        let b = if ops.b[i] == 0 { 1 } else { ops.b[i] };
        let x = ops.b[i].abs().min((1 << ops.b_bits) - 1) as f64;
        let cases = [
            (
                "1/b",
                quotient_error(out.reciprocal[i], 1 << (f_rcp as i32 + fb), b),
            ),
            (
                "a/b",
                quotient_error(out.quotient[i], ops.a[i] << (f_div as i32 - fa + fb), b),
            ),
            (
                "sqrt(|b|)",
                out.root[i] as f64 - x.sqrt() * 2f64.powf(f_root as f64 - fb as f64 / 2.0),
            ),
        ];
        for (name, err) in cases {
            let err = err.abs();
            if err > TOL_ULP {
                return Err(format!(
                    "{name} at element {i} (b={}, a={}): error {err} ulp",
                    ops.b[i], ops.a[i]
                ));
            }
        }
    }
    Ok(())
}

/// Scaled integers in `[-2^bits, 2^bits)`: the edges (one unit, 1.0 where it fits, powers of two,
/// both ends of the range, zero) and log-uniform magnitudes of either sign.
fn scaled(bits: u32) -> impl Strategy<Value = i128> {
    let top = (1i128 << bits) - 1;
    prop_oneof![
        1 => prop::sample::select(vec![1, -1, 1 << FRAC, -(1 << FRAC), top, -(1i128 << bits), 0])
            .prop_map(move |v| v.clamp(-(1i128 << bits), top)),
        1 => (0..bits, any::<bool>()).prop_map(|(j, neg)| (1i128 << j) * if neg { -1 } else { 1 }),
        3 => (0.0..bits as f64, any::<bool>()).prop_map(move |(e, neg)| {
            let v = (e.exp2() as i128).clamp(1, top);
            if neg { -v } else { v }
        }),
    ]
}

/// Batches of 1 to 4 operand pairs under one bound; mostly 16 fractional bits, sometimes
/// integers or other scales (the dividend's and the divisor's may differ).
fn operands() -> impl Strategy<Value = Operands> {
    let frac = || prop_oneof![3 => Just(FRAC), 1 => prop::sample::select(vec![0u32, 8, 20])];
    (
        prop::sample::select(vec![3u32, 8, 24, 40, 64]),
        frac(),
        frac(),
    )
        .prop_flat_map(|(bits, b_frac, a_frac)| {
            let pairs = prop::collection::vec((scaled(bits), scaled(bits)), 1..=4);
            pairs.prop_map(move |pairs| Operands {
                b: pairs.iter().map(|p| p.0).collect(),
                b_bits: bits,
                b_frac,
                a: pairs.iter().map(|p| p.1).collect(),
                a_bits: bits,
                a_frac,
            })
        })
}

/// The documented result scales: the dividend's (the divisor's for `1/b` and `sqrt`), or
/// `INTEGER_FRAC` for an integer.
fn result_fracs(ops: &Operands) -> [u32; 3] {
    let or_default = |f: u32| if f == 0 { INTEGER_FRAC } else { f };
    [
        or_default(ops.b_frac),
        or_default(ops.a_frac),
        or_default(ops.b_frac),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn matches_the_clear_computation(
        ops in operands(),
        setting in 0..SETTINGS.len(),
        dn07 in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (n, t) = SETTINGS[setting];
        let mul = if dn07 { MulProtocol::Dn07 } else { MulProtocol::Grr };
        let out = run(n, t, mul, seed, &ops);
        prop_assert_eq!(out.fracs, result_fracs(&ops));
        if let Err(e) = check(&ops, &out) {
            return Err(TestCaseError::fail(format!("n={n} t={t} {mul}: {e}")));
        }
    }
}

#[test]
fn every_setting_and_protocol_on_the_edges() {
    // Edge values on every (n, t) with t up to (n-1)/2 and both protocols.
    let ops = Operands {
        b: vec![
            1,
            -1,
            1 << FRAC,
            -(1 << FRAC),
            (1 << 40) - 1,
            -(1 << 40),
            3 << 20,
            -12345,
        ],
        b_bits: 40,
        b_frac: FRAC,
        a: vec![
            (1 << 40) - 1,
            -(1 << 40),
            1,
            7 << FRAC,
            -1,
            0,
            1 << 39,
            99 << FRAC,
        ],
        a_bits: 40,
        a_frac: FRAC,
    };
    for n in [3, 5, 7] {
        for t in 1..=(n - 1) / 2 {
            for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
                let out = run(n, t, mul, 11, &ops);
                check(&ops, &out).unwrap_or_else(|e| panic!("n={n} t={t} {mul}: {e}"));
            }
        }
    }
}

#[test]
fn rounds_do_not_depend_on_the_batch_length() {
    for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
        let mut rounds = Vec::new();
        for len in [1usize, 50] {
            let ops = Operands {
                b: (0..len as i128).map(|i| (i - 25) * 7919 + 3).collect(),
                b_bits: 40,
                b_frac: FRAC,
                a: (0..len as i128).map(|i| i * 104_729 - 9).collect(),
                a_bits: 40,
                a_frac: FRAC,
            };
            let out = run(3, 1, mul, 5, &ops);
            check(&ops, &out).unwrap();
            rounds.push(out.rounds);
        }
        println!(
            "n=3 t=1 {mul}, 40-bit operands, 16 fractional bits: \
             rounds fx_reciprocal={} fx_div={} fx_sqrt={}",
            rounds[0][0], rounds[0][1], rounds[0][2]
        );
        assert_eq!(rounds[0], rounds[1], "{mul}: rounds for a batch of 1 vs 50");
    }
}

#[test]
fn conventions_zero_divisor_negative_radicand_and_integers() {
    // Zero divisor: read as one unit in its last place.
    let ops = Operands {
        b: vec![0, -4 << FRAC],
        b_bits: 30,
        b_frac: FRAC,
        a: vec![3 << FRAC, 2 << FRAC],
        a_bits: 30,
        a_frac: FRAC,
    };
    let out = run(3, 1, MulProtocol::Dn07, 1, &ops);
    check(&ops, &out).unwrap();
    assert_eq!(out.reciprocal[0], 1 << (2 * FRAC), "1/0 = 2^f");
    assert!(
        (out.quotient[0] - (3 << (2 * FRAC))).abs() <= 3,
        "a/0 = a 2^f"
    );
    assert_eq!(out.root[0], 0, "sqrt(0) is exactly 0");
    // fx_sqrt of a negative value is sqrt(|x|).
    let params = Params::new(3, 1).unwrap();
    let neg = agreed(run_parties(
        params,
        EngineConfig::default(),
        2,
        |mut e| async move {
            let me = e.me();
            let v = [-(9i128 << FRAC), -1, -(1 << 30)];
            let x = e
                .input_ints(PartyId(0), (me == PartyId(0)).then_some(&v[..]), 3, 30)
                .await?
                .with_frac(FRAC);
            let r = e.fx_sqrt(&x).await?;
            e.open_fixed(&r).await
        },
    ));
    for (got, want) in neg.iter().zip([3.0, 1.0 / 256.0, 128.0]) {
        assert!(
            (got - want).abs() <= TOL_ULP / 65536.0,
            "sqrt(|x|): {neg:?}"
        );
    }

    // Integers: the results get INTEGER_FRAC fractional bits.
    let ints = Operands {
        b: vec![2, -3, 7, 1, 0],
        b_bits: 20,
        b_frac: 0,
        a: vec![7, 1, -100, 5, 5],
        a_bits: 20,
        a_frac: 0,
    };
    let out = run(5, 2, MulProtocol::Grr, 3, &ints);
    assert_eq!(out.fracs, [INTEGER_FRAC; 3]);
    check(&ints, &out).unwrap();
    assert_eq!(out.quotient[0], 7 << (INTEGER_FRAC - 1), "7 / 2 = 3.5");

    // The narrowest bounds: divisors in [-2, 2) and in [-1, 1).
    for (b, b_bits) in [(vec![-2, -1, 0, 1], 1), (vec![-1, 0, -1, 0], 0)] {
        let tiny = Operands {
            b,
            b_bits,
            b_frac: 0,
            a: vec![3, -4, 1, -1],
            a_bits: 3,
            a_frac: 0,
        };
        let out = run(3, 1, MulProtocol::Grr, 6, &tiny);
        check(&tiny, &out).unwrap_or_else(|e| panic!("bits {b_bits}: {e}"));
    }

    // Mixed scales: the quotient keeps the dividend's; the divisor's may differ.
    let mixed = Operands {
        b: vec![3 << 20, -(1 << 5)],
        b_bits: 40,
        b_frac: 20,
        a: vec![5 << 10, 1 << 12],
        a_bits: 30,
        a_frac: 10,
    };
    let out = run(3, 1, MulProtocol::Dn07, 4, &mixed);
    assert_eq!(out.fracs, [20, 10, 20]);
    check(&mixed, &out).unwrap();
}
