//! Every engine operation against the same computation in the clear, over random inputs and
//! edge values, for n = 3, 5, 7, every valid threshold and both multiplication protocols.

use mpc::net::memory::MemoryNetwork;
use mpc::testing::{agreed, run_parties};
use mpc::{
    BitProtocol, Engine, EngineConfig, Fr, MulProtocol, Params, PartyId, Randomness, Result, Shared,
};
use proptest::prelude::*;

type Eng = Engine<MemoryNetwork, Fr>;

/// A session's setting: n, t, the multiplication and the random-bit protocol, the randomness.
type Setting = (usize, usize, MulProtocol, BitProtocol, Randomness);

/// n = 3, 5, 7 with every valid t, both multiplication and both random-bit protocols, dealt
/// randomness or PRSS (with its edaBits comparison).
fn setting() -> impl Strategy<Value = Setting> {
    (
        prop::sample::select(vec![(3, 1), (5, 1), (5, 2), (7, 1), (7, 2), (7, 3)]),
        prop::bool::ANY,
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|((n, t), grr, squaring, prss)| {
            let mul = if grr {
                MulProtocol::Grr
            } else {
                MulProtocol::Dn07
            };
            let bits = if squaring {
                BitProtocol::Squaring
            } else {
                BitProtocol::DealtXor
            };
            let randomness = if prss {
                Randomness::Prss
            } else {
                Randomness::Dealt
            };
            (n, t, mul, bits, randomness)
        })
}

/// Random 64-bit values with the edges of the type always included.
fn values64() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(any::<i64>(), 0..6).prop_map(|mut v| {
        v.extend([0, -1, 1, i64::MIN, i64::MAX]);
        v
    })
}

fn values32() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(any::<i32>(), 0..6).prop_map(|v| {
        let mut v: Vec<i64> = v.into_iter().map(i64::from).collect();
        v.extend([0, -1, 1, i32::MIN as i64, i32::MAX as i64]);
        v
    })
}

/// Party 0 inputs `a`, party 1 inputs `b` (each of `bits` bits), then `op` runs.
fn two_inputs<T, Fut>(
    (n, t, mul, bit_protocol, randomness): Setting,
    seed: u64,
    a: Vec<i128>,
    b: Vec<i128>,
    bits: u32,
    op: impl Fn(Eng, Shared<Fr>, Shared<Fr>) -> Fut + Send + Sync + Clone + 'static,
) -> T
where
    T: PartialEq + std::fmt::Debug + Send + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let params = Params::new(n, t).unwrap();
    let config = EngineConfig {
        mul,
        check_openings: true,
        bits: bit_protocol,
        randomness,
        ..Default::default()
    };
    agreed(run_parties(params, config, seed, move |mut e| {
        let (a, b, op) = (a.clone(), b.clone(), op.clone());
        async move {
            let me = e.me();
            let x = e
                .input_ints(
                    PartyId(0),
                    (me == PartyId(0)).then_some(&a[..]),
                    a.len(),
                    bits,
                )
                .await?;
            let y = e
                .input_ints(
                    PartyId(1),
                    (me == PartyId(1)).then_some(&b[..]),
                    b.len(),
                    bits,
                )
                .await?;
            op(e, x, y).await
        }
    }))
}

fn widen(v: &[i64]) -> Vec<i128> {
    v.iter().map(|&x| x as i128).collect()
}

/// Pairs the two vectors to a common length (b cycles).
fn pair(a: &[i64], b: &[i64]) -> (Vec<i128>, Vec<i128>) {
    let b2: Vec<i64> = (0..a.len()).map(|i| b[i % b.len()]).collect();
    (widen(a), widen(&b2))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn mul_matches_clear(s in setting(), seed in any::<u64>(), a in values64(), b in values64()) {
        let (a, b) = pair(&a, &b);
        let want: Vec<i128> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
        let got = two_inputs(s, seed, a, b, 63, |mut e, x, y| async move {
            let z = e.mul(&x, &y).await?;
            e.open_ints(&z).await
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn linear_ops_match_clear(s in setting(), seed in any::<u64>(), a in values64(), b in values64(), c in -1000i64..1000) {
        let (a, b) = pair(&a, &b);
        let want: Vec<i128> = a.iter().zip(&b).map(|(x, y)| (x + y) * c as i128 - y + 7).collect();
        let sum: i128 = a.iter().sum();
        let got = two_inputs(s, seed, a, b, 63, move |mut e, x, y| async move {
            let z = x.add(&y)?.scale(c as i128)?.sub(&y)?.add_const(7)?;
            Ok((e.open_ints(&z).await?, e.open_ints(&x.sum()?).await?))
        });
        prop_assert_eq!(got, (want, vec![sum]));
    }

    #[test]
    fn comparisons_64_match_clear(s in setting(), seed in any::<u64>(), a in values64(), b in values64()) {
        let (a, mut b) = pair(&a, &b);
        // Make some pairs equal so == is exercised both ways.
        for i in (0..b.len()).step_by(3) { b[i] = a[i]; }
        let want: Vec<Vec<i128>> = vec![
            a.iter().zip(&b).map(|(x, y)| (x < y) as i128).collect(),
            a.iter().zip(&b).map(|(x, y)| (x <= y) as i128).collect(),
            a.iter().zip(&b).map(|(x, y)| (x > y) as i128).collect(),
            a.iter().zip(&b).map(|(x, y)| (x >= y) as i128).collect(),
            a.iter().zip(&b).map(|(x, y)| (x == y) as i128).collect(),
            a.iter().map(|&x| (x < 0) as i128).collect(),
            a.iter().map(|&x| (x == 0) as i128).collect(),
        ];
        let got = two_inputs(s, seed, a, b, 63, |mut e, x, y| async move {
            let mut out = Vec::new();
            for z in [e.lt(&x, &y).await?, e.le(&x, &y).await?, e.gt(&x, &y).await?, e.ge(&x, &y).await?, e.eq(&x, &y).await?, e.ltz(&x).await?, e.eqz(&x).await?] {
                prop_assert_eq_mpc(z.is_boolean())?;
                out.push(e.open_ints(&z).await?);
            }
            Ok(out)
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn comparisons_32_and_select_match_clear(s in setting(), seed in any::<u64>(), a in values32(), b in values32()) {
        let (a, b) = pair(&a, &b);
        let lt: Vec<i128> = a.iter().zip(&b).map(|(x, y)| (x < y) as i128).collect();
        let min: Vec<i128> = a.iter().zip(&b).map(|(x, y)| *x.min(y)).collect();
        let got = two_inputs(s, seed, a, b, 31, |mut e, x, y| async move {
            let c = e.lt(&x, &y).await?;
            let m = e.select(&c, &x, &y).await?;
            Ok((e.open_ints(&c).await?, e.open_ints(&m).await?, m.bits()))
        });
        prop_assert_eq!(got, (lt, min, 31));
    }

    #[test]
    fn fixed_point_mul_and_trunc_within_one_ulp(s in setting(), seed in any::<u64>(), a in prop::collection::vec(-1.0e6f64..1.0e6, 1..6), b in prop::collection::vec(-1.0e3f64..1.0e3, 1..6)) {
        let f = 16u32;
        let q = |x: f64| (x * 65536.0).round() as i128;
        let (a, b): (Vec<i128>, Vec<i128>) = (0..a.len()).map(|i| (q(a[i]), q(b[i % b.len()]))).unzip();
        let want: Vec<i128> = a.iter().zip(&b).map(|(x, y)| (x * y) >> f).collect();
        let want_trunc: Vec<i128> = a.iter().map(|x| x >> 5).collect();
        let got = two_inputs(s, seed, a, b, 40, move |mut e, x, y| async move {
            let (x, y) = (x.with_frac(f), y.with_frac(f));
            let p = e.fx_mul(&x, &y).await?;
            let tr = e.trunc_pr(&x, 5).await?;
            Ok((e.open_ints(&p).await?, e.open_ints(&tr).await?, p.frac(), tr.frac()))
        });
        prop_assert_eq!((got.2, got.3), (16, 11));
        for (g, w) in got.0.iter().zip(&want) { prop_assert!((g - w).abs() <= 1, "fx_mul {} vs {}", g, w); }
        for (g, w) in got.1.iter().zip(&want_trunc) { prop_assert!((g - w).abs() <= 1, "trunc {} vs {}", g, w); }
    }

    #[test]
    fn open_to_reaches_only_the_recipient(s in setting(), seed in any::<u64>(), a in values64()) {
        let a = widen(&a);
        let (n, t, mul, _, _) = s;
        let recipient = PartyId((seed % n as u64) as u16);
        let params = Params::new(n, t).unwrap();
        let aa = a.clone();
        let results = run_parties(params, EngineConfig { mul, check_openings: true , ..Default::default() }, seed, move |mut e| {
            let a = aa.clone();
            async move {
                let me = e.me();
                let x = e.input_ints(PartyId(0), (me == PartyId(0)).then_some(&a[..]), a.len(), 63).await?;
                let opened = e.open_to(&x, recipient).await?;
                Ok(opened.map(|v| v.iter().map(|f| f.to_i128_checked()).collect::<Vec<_>>()))
            }
        });
        for (i, r) in results.into_iter().enumerate() {
            let r = r.unwrap();
            if i == recipient.index() {
                prop_assert_eq!(r, Some(a.clone()));
            } else {
                prop_assert_eq!(r, None);
            }
        }
    }
}

/// `Fr` to `i128` for tests.
trait ToI128 {
    fn to_i128_checked(&self) -> i128;
}
impl ToI128 for Fr {
    fn to_i128_checked(&self) -> i128 {
        mpc::Field::to_i128(self).expect("small value")
    }
}

fn prop_assert_eq_mpc(ok: bool) -> Result<()> {
    assert!(ok, "comparison results are boolean batches");
    Ok(())
}

/// Truncation and fixed-point products near the bound limit: the masked opening must not wrap
/// the field (a wrap would give a silently wrong result).
#[test]
fn fixed_point_near_the_bound_limit() {
    for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
        let f = 16u32;
        let a: Vec<i128> = vec![(1i128 << 94) - 12345, -(1i128 << 94) + 999, 1 << 80, -7];
        let b: Vec<i128> = vec![(1i128 << 95) - 1, (1i128 << 94) + 5, -(1 << 90), 3 << 17];
        // The products need 190 bits; compare against exact floor division in big arithmetic.
        let got = two_inputs(
            (3, 1, mul, BitProtocol::DealtXor, Randomness::Dealt),
            11,
            a.clone(),
            b.clone(),
            95,
            move |mut e, x, y| async move {
                let (x, y) = (x.with_frac(f), y.with_frac(f));
                let p = e.fx_mul(&x, &y).await?;
                let q = e.trunc_pr(&x, 60).await?;
                // Open p's top part as an integer: p >> 64 fits an i128.
                let p_hi = e.trunc_pr(&p, 80).await?;
                Ok((e.open_ints(&p_hi).await?, e.open_ints(&q).await?))
            },
        );
        for i in 0..a.len() {
            // (a*b) >> 16 >> 80 computed with i128 pieces: a*b is up to 2^190, so use f64 for a
            // relative check and exact shifts for the truncation of a alone.
            let want_hi = (a[i] as f64) * (b[i] as f64) / 2f64.powi(96);
            let tol = 3.0 + want_hi.abs() * 1e-12;
            assert!(
                (got.0[i] as f64 - want_hi).abs() <= tol,
                "{mul}: fx_mul {} vs {}",
                got.0[i],
                want_hi
            );
            assert!(
                (got.1[i] - (a[i] >> 60)).abs() <= 1,
                "{mul}: trunc {} vs {}",
                got.1[i],
                a[i] >> 60
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Sums of products with one degree reduction per sum.
    #[test]
    fn dot_matches_clear(s in setting(), seed in any::<u64>(), a in values64(), b in values64(), width in 1usize..4) {
        let (mut a, mut b) = pair(&a, &b);
        a.truncate(a.len() / width * width);
        b.truncate(a.len());
        prop_assume!(!a.is_empty());
        let want: Vec<i128> = a.chunks(width).zip(b.chunks(width)).map(|(x, y)| x.iter().zip(y).map(|(u, v)| u * v).sum()).collect();
        let got = two_inputs(s, seed, a, b, 63, move |mut e, x, y| async move {
            let before = e.stats();
            let d = e.dot(&x, &y, width).await?;
            let spent = e.stats().since(&before);
            Ok((e.open_ints(&d).await?, spent.multiplications))
        });
        prop_assert_eq!(got.1 as usize, want.len());
        prop_assert_eq!(got.0, want);
    }
}

/// The clear bits of `x + 2^k`, least significant first.
fn clear_bits(x: &[i128], k: u32) -> Vec<Vec<i128>> {
    (0..=k)
        .map(|i| x.iter().map(|&v| ((v + (1 << k)) >> i) & 1).collect())
        .collect()
}

/// Decomposes party 0's `x` (bound `k`) and opens every bit, with the products, random bits and
/// rounds it spent.
fn decompose(
    setting: Setting,
    seed: u64,
    x: Vec<i128>,
    k: u32,
) -> (Vec<Vec<i128>>, u64, u64, bool) {
    decompose_within(setting, seed, x, k, None)
}

/// [`decompose`] with the engine's working-memory budget set (bytes), so that long batches run
/// in chunks.
fn decompose_within(
    (n, t, mul, bit_protocol, randomness): Setting,
    seed: u64,
    x: Vec<i128>,
    k: u32,
    memory: Option<usize>,
) -> (Vec<Vec<i128>>, u64, u64, bool) {
    let params = Params::new(n, t).unwrap();
    let config = EngineConfig {
        mul,
        check_openings: true,
        bits: bit_protocol,
        randomness,
        ..Default::default()
    };
    agreed(run_parties(params, config, seed, move |mut e| {
        let x = x.clone();
        async move {
            let me = e.me();
            if let Some(bytes) = memory {
                e.set_comparison_memory(bytes);
            }
            let s = e
                .input_ints(PartyId(0), (me == PartyId(0)).then_some(&x[..]), x.len(), k)
                .await?;
            let before = e.stats();
            let bits = e.bit_decompose(&s).await?;
            let spent = e.stats().since(&before);
            let boolean = bits.iter().all(|b| b.is_boolean() && b.len() == x.len());
            let mut opened = Vec::new();
            for b in &bits {
                opened.push(e.open_ints(b).await?);
            }
            Ok((opened, spent.multiplications, spent.random_bits, boolean))
        }
    }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Bit decomposition against the clear bits, for 64- and 32-bit bounds with their edges
    /// (the bound's minimum and maximum, 0, -1, 1) always included; `k` products and `k + 1`
    /// random bits per element.
    #[test]
    fn bit_decompose_matches_clear(s in setting(), seed in any::<u64>(), a in values64(), b in values32()) {
        for (x, k) in [(widen(&a), 63u32), (widen(&b), 31)] {
            let len = x.len() as u64;
            let (got, mults, random, boolean) = decompose(s, seed, x.clone(), k);
            prop_assert!(boolean);
            prop_assert_eq!(got, clear_bits(&x, k));
            // k products per element, and t per random bit under XOR (of t + 1 dealt bits);
            // the squaring trick multiplies nothing.
            let per_bit = match s.3 {
                BitProtocol::DealtXor => s.1 as u64,
                BitProtocol::Squaring => 0,
            };
            prop_assert_eq!(mults, k as u64 * len + per_bit * (k as u64 + 1) * len);
            prop_assert_eq!(random, (k as u64 + 1) * len);
        }
    }
}

/// A batch longer than the memory budget allows runs in chunks (here of 1 to 3 elements) and
/// still equals the clear bits, with the same products and random bits: n = 3, 5, 7, every
/// threshold, both randomness sources, 32- and 64-bit bounds with their edges.
#[test]
fn bit_decompose_in_chunks_matches_clear() {
    let edges32: Vec<i128> = vec![i32::MIN as i128, -1, 0, 1, i32::MAX as i128, 12345, -777];
    let edges64: Vec<i128> = vec![i64::MIN as i128, -1, 0, 1, i64::MAX as i128];
    let settings = [(3, 1), (5, 1), (5, 2), (7, 1), (7, 2), (7, 3)];
    for (i, &(n, t)) in settings.iter().enumerate() {
        let mul = [MulProtocol::Grr, MulProtocol::Dn07][i % 2];
        for randomness in [Randomness::Dealt, Randomness::Prss] {
            let setting = (n, t, mul, BitProtocol::DealtXor, randomness);
            for (x, k) in [(edges32.clone(), 31u32), (edges64.clone(), 63)] {
                let budget = 3 * 8 * 32 * 32; // 3 elements at k = 31, 1 at k = 63
                let (got, mults, random, boolean) =
                    decompose_within(setting, 5, x.clone(), k, Some(budget));
                let what = format!("n={n} t={t} {mul} {randomness} k={k}");
                assert!(boolean, "{what}");
                assert_eq!(got, clear_bits(&x, k), "{what}");
                let (whole_mults, whole_random) = {
                    let (_, m, r, _) = decompose(setting, 5, x.clone(), k);
                    (m, r)
                };
                assert_eq!((mults, random), (whole_mults, whole_random), "{what}");
            }
        }
    }
}

/// Every value of small bounds, `k = 0..=5` (`k = 0`: the values -1 and 0 only, no products).
#[test]
fn bit_decompose_small_bounds_exhaustively() {
    for (k, mul) in (0..=5u32).zip([MulProtocol::Grr, MulProtocol::Dn07].into_iter().cycle()) {
        let x: Vec<i128> = (-(1i128 << k)..(1i128 << k)).collect();
        let (got, mults, _, _) = decompose(
            (5, 2, mul, BitProtocol::DealtXor, Randomness::Dealt),
            k as u64,
            x.clone(),
            k,
        );
        assert_eq!(got, clear_bits(&x, k), "k={k} {mul}");
        assert_eq!(mults, (k as u64 + 2 * (k as u64 + 1)) * x.len() as u64);
    }
    // An empty batch: k + 1 empty batches.
    let (got, _, _, _) = decompose(
        (
            3,
            1,
            MulProtocol::Grr,
            BitProtocol::Squaring,
            Randomness::Dealt,
        ),
        1,
        Vec::new(),
        7,
    );
    assert_eq!(got, vec![Vec::<i128>::new(); 8]);
}

/// Both random-bit protocols give bits (0 or 1, every one), about half of them ones, and
/// different bits on each call, for n = 3, 5, 7.
#[test]
fn random_bits_are_bits_under_both_protocols() {
    for (n, t) in [(3, 1), (5, 2), (7, 3)] {
        for bits in [BitProtocol::DealtXor, BitProtocol::Squaring] {
            let config = EngineConfig {
                mul: MulProtocol::Grr,
                check_openings: true,
                bits,
                ..Default::default()
            };
            let params = Params::new(n, t).unwrap();
            let (a, b) = agreed(run_parties(params, config, 5, |mut e| async move {
                let a = e.random_bits(4000).await?;
                let b = e.random_bits(4000).await?;
                Ok((e.open_ints(&a).await?, e.open_ints(&b).await?))
            }));
            assert!(
                a.iter().chain(&b).all(|&v| v == 0 || v == 1),
                "{bits:?} n={n}"
            );
            let ones: i128 = a.iter().sum();
            // 4000 fair bits: 2000 ones, standard deviation about 32.
            assert!((1750..=2250).contains(&ones), "{bits:?} n={n}: {ones} ones");
            assert_ne!(a, b, "{bits:?} n={n}: two draws alike");
        }
    }
}
