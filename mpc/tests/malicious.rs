//! Security with abort (`SecurityLevel::Malicious`): without cheating every engine operation
//! equals the clear computation; with one party adding an error to its messages of any one
//! round (dealt randomness, resharings, king messages, masked openings, the check's own
//! messages), every party fails with `IntegrityCheckFailed` and no output is opened.
//! n = 3, 5, 7, GRR and DN07.

use std::sync::atomic::Ordering;

use mpc::net::cheat::{Cheat, Cheating, Tamper};
use mpc::net::memory::MemoryNetwork;
use mpc::testing::{OPENING_CHEATS, named, run_networks};
use mpc::{
    BitProtocol, CHECK_BASE, Engine, EngineConfig, Field, Fr, MpcError, MulProtocol, Params,
    PartyId, Randomness, Result, SecurityLevel, Shared,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

type Eng = Engine<Cheating<MemoryNetwork>, Fr>;

/// The operations under test; each ends with its outputs opened (as integers).
#[derive(Clone, Copy, Debug)]
enum Op {
    Mul,
    Dot,
    Lt,
    Eq,
    FxMul,
    FxDiv,
    /// The binary-domain rank selection: `b` flags the members of `a`; ranks [`SELECT_RANKS`].
    Select,
    /// The binary-domain one-hot `[a = j]`, `j < ONE_HOT_GROUPS` (`b` unused).
    OneHot,
    /// `a <= b`.
    Le,
    /// `Engine::select` on a comparison's bit: `a < b ? a : b` (the minimum).
    Min,
    /// `trunc_pr(a, TRUNC)` (probabilistic: within one unit of `a >> TRUNC`).
    Trunc,
    /// Fixed-point square root of `|a|`, rescaled to `FRAC` fractional bits (`b` unused).
    Sqrt,
    /// `bit_decompose(a)`: the `bits + 1` bits of `a + 2^bits`, least significant first.
    Decompose,
    /// Pedersen commitments to `a` (`Engine::commit`), then `a` and the blindings opened: the
    /// outputs are `a` and, per element, whether its commitment opens to them (1).
    Commit,
    /// DY tags of `a` under a fresh key (`Engine::prf_tags_fresh_key`), as the record matching
    /// computes them: per element, the index of the first element with the same tag.
    Prf,
    /// Party 0 inputs `a` itself (`Engine::input_ints`: round 0 carries its shares), then
    /// `a · b` is opened.
    Input,
    /// `a · b` opened to each party in turn (`Engine::open_to`); each outputs its own opening.
    OpenTo,
}

/// The bits `Op::Trunc` drops.
const TRUNC: u32 = 8;

/// The groups `Op::OneHot` encodes (not a power of two).
const ONE_HOT_GROUPS: usize = 5;

/// The ranks `Op::Select` asks for (the last beyond the members: `2^32 - 1`).
const SELECT_RANKS: [i128; 3] = [0, 2, 9];

const FRAC: u32 = 16;

fn config(mul: MulProtocol, bits: BitProtocol, randomness: Randomness) -> EngineConfig {
    EngineConfig {
        mul,
        bits,
        randomness,
        security: SecurityLevel::Malicious,
        ..Default::default()
    }
}

/// What a session returns: each party's outputs and rounds, or its error; and how many
/// messages the cheater altered.
type Outcome = (Vec<Result<(Vec<i128>, u64)>>, u64);

/// Runs `op` on `a`, `b` (dealt beforehand, `bits` bits) with party `cheater` deviating as
/// `cheat` says (no one when `None`), with dealt or PRSS randomness (under this level PRSS
/// makes random values, masks and double sharings; comparisons keep their checked bits).
fn session(
    n: usize,
    mul: MulProtocol,
    bits_protocol: BitProtocol,
    randomness: Randomness,
    op: Op,
    a: &[i128],
    b: &[i128],
    cheat: Option<(PartyId, Cheat)>,
    base: usize,
) -> Outcome {
    let params = Params::max_threshold(n).unwrap();
    let bits = match op {
        Op::FxMul | Op::FxDiv | Op::Sqrt => 40,
        _ => 32,
    };
    let mut rng = ChaCha12Rng::seed_from_u64(7);
    let xs: Vec<Vec<Fr>> = mpc::engine::share_ints(a, bits, params, &mut rng).unwrap();
    let ys: Vec<Vec<Fr>> = mpc::engine::share_ints(b, bits, params, &mut rng).unwrap();
    let (nets, counters) = mpc::net::cheat::memory_mesh(n, cheat.as_ref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = config(mul, bits_protocol, randomness);
    let results = runtime.block_on(run_networks(nets, params, config, 3, move |e| {
        let me = e.me().index();
        let (x, y) = (xs[me].clone(), ys[me].clone());
        let mut e = e;
        e.set_check_base(base);
        program(e, op, x, y, bits)
    }));
    let altered = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    (results, altered)
}

async fn program(
    mut e: Eng,
    op: Op,
    x: Vec<Fr>,
    y: Vec<Fr>,
    bits: u32,
) -> Result<(Vec<i128>, u64)> {
    let (x, y) = match op {
        Op::FxMul | Op::FxDiv | Op::Sqrt => (
            Shared::from_fixed_shares(x, bits, FRAC)?,
            Shared::from_fixed_shares(y, bits, FRAC)?,
        ),
        _ => (Shared::from_shares(x, bits)?, Shared::from_shares(y, bits)?),
    };
    let z = match op {
        Op::Mul => e.mul(&x, &y).await?,
        Op::Dot => e.dot(&x, &y, 2).await?,
        Op::Lt => e.lt(&x, &y).await?,
        Op::Eq => e.eq(&x, &y).await?,
        Op::FxMul => e.fx_mul(&x, &y).await?,
        Op::FxDiv => e.fx_div(&x, &y).await?,
        Op::Select => {
            let members = Shared::from_bit_shares(y.shares().to_vec());
            // Public ranks: the constant polynomial.
            let ranks = SELECT_RANKS
                .iter()
                .map(|&k| mpc::field::encode::encode_int(k, 8))
                .collect::<std::result::Result<Vec<Fr>, _>>()
                .expect("small ranks encode");
            e.select_ranks(&x, &members, &Shared::from_shares(ranks, 8)?)
                .await?
        }
        Op::OneHot => e.one_hot(&x, ONE_HOT_GROUPS).await?,
        Op::Le => e.le(&x, &y).await?,
        Op::Min => {
            let c = e.lt(&x, &y).await?;
            e.select(&c, &x, &y).await?
        }
        Op::Trunc => e.trunc_pr(&x, TRUNC).await?,
        Op::Sqrt => {
            let root = e.fx_sqrt(&x).await?;
            let out = e.open_ints(&root).await?;
            let (f, g) = (root.frac(), FRAC);
            let rescaled = out
                .iter()
                .map(|&v| if f >= g { v >> (f - g) } else { v << (g - f) })
                .collect();
            return Ok((rescaled, e.stats().rounds));
        }
        Op::Decompose => {
            let bits = e.bit_decompose(&x).await?;
            let all: Vec<Fr> = bits.iter().flat_map(|b| b.shares().to_vec()).collect();
            Shared::from_bit_shares(all)
        }
        Op::Commit => {
            let (commitments, blindings) = e.commit(&x).await?;
            let values = e.open_ints(&x).await?;
            let blindings = e.open(&blindings).await?;
            let opens = commitments.iter().zip(&values).zip(&blindings);
            let verified =
                opens.map(|((c, &v), &r)| c.verify(&mpc::Opening::from_int(v, r)) as i128);
            let out = values.iter().copied().chain(verified).collect();
            return Ok((out, e.stats().rounds));
        }
        Op::Prf => {
            let tags = e.prf_tags_fresh_key(&x).await?;
            let out = first_equal(&tags);
            return Ok((out, e.stats().rounds));
        }
        Op::Input => {
            let me = e.me();
            // Party 0's clear values are its dealt shares' values: the test passes them in.
            let values = INPUT.map(i128::from);
            let mine = (me == PartyId(0)).then_some(&values[..]);
            let own = e.input_ints(PartyId(0), mine, values.len(), bits).await?;
            let y = Shared::from_shares(y.shares()[..values.len()].to_vec(), bits)?;
            e.mul(&own, &y).await?
        }
        Op::OpenTo => {
            let z = e.mul(&x, &y).await?;
            let mut mine = Vec::new();
            for p in e.params().parties() {
                if let Some(values) = e.open_to(&z, p).await? {
                    mine = values;
                }
            }
            let out = mine.iter().map(|v| v.to_i128().expect("a product fits"));
            return Ok((out.collect(), e.stats().rounds));
        }
    };
    let out = e.open_ints(&z).await?;
    Ok((out, e.stats().rounds))
}

/// The values party 0 inputs itself in `Op::Input` (the first `b`s are its other factors).
const INPUT: [i32; 3] = [5, -9, i32::MAX];

/// Per element, the index of the first element equal to it.
fn first_equal<T: PartialEq>(xs: &[T]) -> Vec<i128> {
    xs.iter()
        .map(|x| xs.iter().position(|y| y == x).expect("x itself") as i128)
        .collect()
}

/// The clear result, and the tolerance (fixed point rounds).
fn clear(op: Op, a: &[i128], b: &[i128]) -> (Vec<i128>, i128) {
    let pairs = a.iter().zip(b);
    match op {
        Op::Mul => (pairs.map(|(x, y)| x * y).collect(), 0),
        Op::Dot => (
            a.chunks(2)
                .zip(b.chunks(2))
                .map(|(x, y)| x[0] * y[0] + x[1] * y[1])
                .collect(),
            0,
        ),
        Op::Lt => (pairs.map(|(x, y)| (x < y) as i128).collect(), 0),
        Op::Eq => (pairs.map(|(x, y)| (x == y) as i128).collect(), 0),
        Op::FxMul => (pairs.map(|(x, y)| (x * y) >> FRAC).collect(), 1),
        Op::FxDiv => (
            pairs
                .map(|(x, y)| ((*x as f64 / *y as f64) * 65536.0).round() as i128)
                .collect(),
            // Goldschmidt's relative error (see tests/div_sqrt.rs), generously.
            64,
        ),
        Op::Select => {
            let mut members: Vec<i128> = pairs.filter(|(_, f)| **f == 1).map(|(x, _)| *x).collect();
            members.sort();
            let missing = (1i128 << 32) - 1;
            let at = |k: i128| members.get(k as usize).copied().unwrap_or(missing);
            (SELECT_RANKS.iter().map(|&k| at(k)).collect(), 0)
        }
        Op::OneHot => (
            (0..ONE_HOT_GROUPS as i128)
                .flat_map(|j| a.iter().map(move |&x| (x == j) as i128))
                .collect(),
            0,
        ),
        Op::Le => (pairs.map(|(x, y)| (x <= y) as i128).collect(), 0),
        Op::Min => (pairs.map(|(x, y)| *x.min(y)).collect(), 0),
        Op::Trunc => (a.iter().map(|x| x >> TRUNC).collect(), 1),
        Op::Sqrt => (
            a.iter()
                .map(|&x| ((x.abs() as f64 / 65536.0).sqrt() * 65536.0).round() as i128)
                .collect(),
            // Goldschmidt's relative error (see tests/div_sqrt.rs), generously.
            64,
        ),
        Op::Decompose => (
            (0..=32)
                .flat_map(|i| a.iter().map(move |&x| ((x + (1 << 32)) >> i) & 1))
                .collect(),
            0,
        ),
        Op::Commit => (a.iter().copied().chain(a.iter().map(|_| 1)).collect(), 0),
        Op::Prf => (first_equal(a), 0),
        Op::Input => (
            INPUT
                .iter()
                .zip(b)
                .map(|(&x, y)| i128::from(x) * y)
                .collect(),
            0,
        ),
        Op::OpenTo => (pairs.map(|(x, y)| x * y).collect(), 0),
    }
}

fn honest_values(outcome: &Outcome) -> Vec<i128> {
    let mut values = None;
    for (i, r) in outcome.0.iter().enumerate() {
        let (v, _) = r.as_ref().unwrap_or_else(|e| panic!("party {i}: {e}"));
        if let Some(first) = &values {
            assert_eq!(first, v, "party {i} disagrees");
        }
        values = Some(v.clone());
    }
    values.unwrap()
}

/// A session's setting: parties, protocols, and the length below which the check stops
/// halving its claim (1, 2, 3: every halving exercised on few products; or the default).
fn setting() -> impl Strategy<Value = (usize, MulProtocol, BitProtocol, Randomness, usize)> {
    (
        prop::sample::select(vec![3usize, 5, 7]),
        prop::bool::ANY,
        prop::bool::ANY,
        prop::bool::ANY,
        prop::sample::select(vec![1usize, 2, 3, mpc::CHECK_BASE]),
    )
        .prop_map(|(n, grr, sq, prss, base)| {
            let mul = if grr {
                MulProtocol::Grr
            } else {
                MulProtocol::Dn07
            };
            let bits = if sq {
                BitProtocol::Squaring
            } else {
                BitProtocol::DealtXor
            };
            let randomness = match prss {
                true => Randomness::Prss,
                false => Randomness::Dealt,
            };
            (n, mul, bits, randomness, base)
        })
}

/// 32-bit values with the type's edges (an even number of them, for `dot`).
fn values() -> impl Strategy<Value = Vec<i128>> {
    prop::collection::vec(any::<i32>(), 0..4).prop_map(|v| {
        let mut v: Vec<i128> = v.into_iter().map(i128::from).collect();
        v.extend([0, -1, 1, i32::MIN as i128, i32::MAX as i128]);
        if v.len() % 2 == 1 {
            v.push(0);
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn malicious_integer_ops_equal_clear(s in setting(), a in values(), b in values()) {
        let (n, mul, bits, randomness, base) = s;
        let len = a.len().min(b.len()) & !1;
        let (a, b) = (&a[..len], &b[..len]);
        for op in [Op::Mul, Op::Dot, Op::Lt, Op::Eq] {
            let got = honest_values(&session(n, mul, bits, randomness, op, a, b, None, base));
            prop_assert_eq!(got, clear(op, a, b).0, "{:?}", op);
        }
    }

    #[test]
    fn malicious_fixed_point_ops_equal_clear(s in setting(), a in prop::collection::vec(-1.0e4f64..1.0e4, 1..4), b in prop::collection::vec(1.0f64..1.0e3, 1..4), neg in prop::bool::ANY) {
        let (n, mul, bits, randomness, base) = s;
        let q = |x: f64| (x * 65536.0).round() as i128;
        let len = a.len().min(b.len());
        let a: Vec<i128> = a[..len].iter().map(|&x| q(x)).collect();
        let b: Vec<i128> = b[..len].iter().map(|&x| if neg { -q(x) } else { q(x) }).collect();
        for op in [Op::FxMul, Op::FxDiv] {
            let got = honest_values(&session(n, mul, bits, randomness, op, &a, &b, None, base));
            let (want, tol) = clear(op, &a, &b);
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((g - w).abs() <= tol.max(w.abs() >> 14), "{:?}: {} vs {}", op, g, w);
            }
        }
    }
}

/// Security with abort: every party either fails (with `IntegrityCheckFailed`, on a message
/// that does not parse, or because a peer that detected it stopped) or returns the correct
/// output. Returns whether any aborted.
fn assert_correct_or_aborted(outcome: &Outcome, want: &[i128], tol: i128, what: &str) -> bool {
    let mut integrity = 0;
    for (i, r) in outcome.0.iter().enumerate() {
        match r {
            Ok((got, _)) => {
                for (g, w) in got.iter().zip(want) {
                    assert!(
                        (g - w).abs() <= tol.max(w.abs() >> 14),
                        "{what}: party {i} got a wrong output ({g} for {w}) without an abort"
                    );
                }
            }
            Err(MpcError::IntegrityCheckFailed { .. }) => integrity += 1,
            // A deviation that does not even parse (an altered point of a commitment or a tag
            // that is no Ristretto encoding): caught on receipt, its sender named.
            Err(MpcError::Malformed { .. }) => integrity += 1,
            Err(MpcError::Net(mpc::net::NetError::PeerGone(_))) => {}
            Err(e) => panic!("{what}: party {i} failed with another error: {e}"),
        }
    }
    let failed = outcome.0.iter().filter(|r| r.is_err()).count();
    assert!(
        failed == 0 || integrity > 0,
        "{what}: parties failed but none reported the integrity check"
    );
    failed > 0
}

/// For every `stride`-th round of the session, one party (rotating) adds an error to its
/// messages of that round: the first element, then the last (a dealing round carries doubles
/// first and bits last). Rounds where the cheater sends nothing are skipped (and counted, to
/// show most are attacked).
fn sweep(
    n: usize,
    mul: MulProtocol,
    bits: BitProtocol,
    randomness: Randomness,
    op: Op,
    stride: usize,
    base: usize,
) {
    let (a, b): (Vec<i128>, Vec<i128>) = match op {
        Op::FxMul | Op::FxDiv => (vec![3 << 16, -(5 << 16)], vec![7 << 16, 2 << 16]),
        Op::Sqrt => (vec![9 << 16, 2 << 16, -(4 << 16), 0], vec![0; 4]),
        // Equal values have equal tags: an error in one shows as a changed pattern.
        Op::Prf => (vec![5, -9, 5, 0, -9], vec![0; 5]),
        Op::Select => (
            vec![5, -9, i32::MAX as i128, 0, 5, i32::MIN as i128],
            vec![1, 1, 0, 1, 1, 1],
        ),
        _ => (
            vec![5, -9, i32::MAX as i128, 0],
            vec![-3, 4, i32::MIN as i128, 0],
        ),
    };
    let honest = session(n, mul, bits, randomness, op, &a, &b, None, base);
    let rounds = honest.0[0].as_ref().unwrap().1 as u32;
    let (want, tol) = clear(op, &a, &b);
    let setting = format!("{op:?} n={n} {mul} {bits} {randomness}");
    assert_eq!(honest_values(&honest).len(), want.len(), "{setting}");
    let aborted = assert_correct_or_aborted(&honest, &want, tol, &setting);
    assert!(!aborted, "{setting}: the honest run aborted");
    // Stride 0: about ten rounds attacked, spread over the session.
    let stride = match stride {
        0 => (rounds as usize / 10).max(1),
        s => s,
    };
    let (mut aborted, mut harmless, mut skipped) = (0, 0, 0);
    for round in (0..rounds).step_by(stride) {
        for tamper in [Tamper::First, Tamper::Last] {
            let cheater = PartyId((round as usize % n) as u16);
            let cheat = Cheat {
                tamper,
                ..Cheat::in_round(round)
            };
            let outcome = session(
                n,
                mul,
                bits,
                randomness,
                op,
                &a,
                &b,
                Some((cheater, cheat)),
                base,
            );
            if outcome.1 == 0 {
                skipped += 1;
                continue;
            }
            let what = format!(
                "{op:?} n={n} {mul} {bits} {randomness}: party {cheater} cheats in round {round} ({tamper:?})"
            );
            match assert_correct_or_aborted(&outcome, &want, tol, &what) {
                true => aborted += 1,
                false => harmless += 1,
            }
        }
    }
    // An error in a message part the program never uses (the degree-2t half of a double
    // sharing drawn as a plain random sharing, say) changes nothing; most attacks abort.
    assert!(
        aborted > 4 * harmless && aborted > skipped,
        "{op:?} n={n} {mul} {bits} {randomness}: {aborted} aborted, {harmless} harmless, {skipped} skipped"
    );
}

// The sweeps below sample rounds to stay cheap in CI (about 15 s in the dev profile);
// `full_sweep` attacks every round of every setting.

#[test]
fn cheating_on_mul_and_dot_aborts() {
    for n in [3, 5, 7] {
        for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
            sweep(
                n,
                mul,
                BitProtocol::DealtXor,
                Randomness::Dealt,
                Op::Mul,
                1,
                1,
            );
            sweep(
                n,
                mul,
                BitProtocol::DealtXor,
                Randomness::Dealt,
                Op::Dot,
                1,
                CHECK_BASE,
            );
        }
    }
}

#[test]
fn cheating_on_comparisons_aborts() {
    use BitProtocol::{DealtXor, Squaring};
    use MulProtocol::{Dn07, Grr};
    for (n, mul, bits, op, stride, base) in [
        (3, Grr, DealtXor, Op::Lt, 2, CHECK_BASE),
        (3, Dn07, DealtXor, Op::Lt, 3, 2),
        (3, Dn07, DealtXor, Op::Eq, 3, CHECK_BASE),
        (5, Dn07, DealtXor, Op::Lt, 5, 3),
        (7, Grr, DealtXor, Op::Eq, 7, 2),
        (3, Dn07, Squaring, Op::Lt, 4, CHECK_BASE),
    ] {
        sweep(n, mul, bits, Randomness::Dealt, op, stride, base);
    }
}

#[test]
fn cheating_on_fixed_point_aborts() {
    use MulProtocol::{Dn07, Grr};
    for (n, mul, op, stride, base) in [
        (3, Dn07, Op::FxMul, 1, 2),
        (5, Grr, Op::FxMul, 2, CHECK_BASE),
        (7, Dn07, Op::FxMul, 3, CHECK_BASE),
        (3, Dn07, Op::FxDiv, 4, CHECK_BASE),
    ] {
        sweep(
            n,
            mul,
            BitProtocol::DealtXor,
            Randomness::Dealt,
            op,
            stride,
            base,
        );
    }
}

/// The other operations that send or open (issue 15's matrix, TRUST.md): `<=`, `select`,
/// probabilistic truncation, square root, bit decomposition, Pedersen commitments, DY tags (the
/// record matching's) and a party's own input. Each on n = 3, 5, 7, GRR and DN07 in turn, dealt
/// and PRSS randomness in turn: the honest run equals the clear computation, and a cheater in
/// about ten rounds spread over the session (the first included: the input's round under
/// `Input`, whose owner, party 0, is the cheater) makes every party abort or changes nothing.
#[test]
fn cheating_on_every_other_operation_aborts() {
    use MulProtocol::{Dn07, Grr};
    let ops = [
        Op::Commit,
        Op::Prf,
        Op::Input,
        Op::OpenTo,
        Op::Le,
        Op::Min,
        Op::Trunc,
        Op::Sqrt,
        Op::Decompose,
    ];
    for (k, op) in ops.into_iter().enumerate() {
        for (j, n) in [3, 5, 7].into_iter().enumerate() {
            let mul = if (k + j) % 2 == 0 { Grr } else { Dn07 };
            let randomness = match j {
                1 => Randomness::Prss,
                _ => Randomness::Dealt,
            };
            sweep(n, mul, BitProtocol::DealtXor, randomness, op, 0, CHECK_BASE);
        }
    }
}

/// Every comparison on both of its paths, for every n (the sweeps above sample settings):
/// `<`, `<=` and `==` on dealt randomness (field-path bits, Catrina–de Hoogh) and on PRSS (the
/// edaBits circuit in GF(2^8)), n = 3, 5, 7, GRR and DN07 in turn; about ten rounds attacked.
/// Then `<` on bits made by squaring on n = 5 and 7 (n = 3 is attacked above).
#[test]
fn cheating_on_every_comparison_aborts_on_both_paths() {
    for (k, op) in [Op::Lt, Op::Le, Op::Eq].into_iter().enumerate() {
        for (j, n) in [3, 5, 7].into_iter().enumerate() {
            let mul = match (k + j) % 2 {
                0 => MulProtocol::Dn07,
                _ => MulProtocol::Grr,
            };
            for randomness in [Randomness::Dealt, Randomness::Prss] {
                sweep(n, mul, BitProtocol::DealtXor, randomness, op, 0, CHECK_BASE);
            }
        }
    }
    // The other dealt-bit protocol (bits as roots of random squares) on n = 5 and 7.
    for (n, mul) in [(5, MulProtocol::Grr), (7, MulProtocol::Dn07)] {
        let dealt = Randomness::Dealt;
        sweep(n, mul, BitProtocol::Squaring, dealt, Op::Lt, 0, CHECK_BASE);
    }
}

/// Division (Goldschmidt), the binary-domain rank selection and the `GROUP BY` one-hot on
/// n = 5 and 7 (n = 3 is attacked above): about ten rounds each, PRSS randomness.
#[test]
fn cheating_on_division_and_binary_selection_aborts_on_5_and_7_parties() {
    for (op, mul) in [
        (Op::FxDiv, MulProtocol::Grr),
        (Op::Select, MulProtocol::Dn07),
        (Op::OneHot, MulProtocol::Grr),
    ] {
        for n in [5, 7] {
            let p = Randomness::Prss;
            sweep(n, mul, BitProtocol::DealtXor, p, op, 0, CHECK_BASE);
        }
    }
}

/// Every round of every operation, n = 3, 5, 7, both protocols, the check halving down to one
/// element and not halving at all (many minutes in release):
/// `cargo test --release -p mpc --test malicious -- --ignored`
#[test]
#[ignore = "minutes: every round of every setting; the sampled sweeps run in CI"]
fn full_sweep() {
    for n in [3, 5, 7] {
        for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
            for base in [1, CHECK_BASE] {
                for op in [
                    Op::Mul,
                    Op::Dot,
                    Op::Lt,
                    Op::Le,
                    Op::Eq,
                    Op::Min,
                    Op::FxMul,
                    Op::FxDiv,
                    Op::Trunc,
                    Op::Sqrt,
                    Op::Decompose,
                    Op::Commit,
                    Op::Prf,
                    Op::Input,
                    Op::OpenTo,
                ] {
                    for randomness in [Randomness::Dealt, Randomness::Prss] {
                        sweep(n, mul, BitProtocol::DealtXor, randomness, op, 1, base);
                    }
                }
                sweep(
                    n,
                    mul,
                    BitProtocol::Squaring,
                    Randomness::Dealt,
                    Op::Lt,
                    1,
                    base,
                );
            }
        }
    }
}

#[test]
fn security_level_parses_and_prss_is_the_default() {
    assert_eq!(
        "malicious".parse::<SecurityLevel>(),
        Ok(SecurityLevel::Malicious)
    );
    assert_eq!(
        "semi-honest".parse::<SecurityLevel>(),
        Ok(SecurityLevel::SemiHonest)
    );
    assert_eq!(SecurityLevel::Malicious.to_string(), "malicious");
    let evil = "evil".parse::<SecurityLevel>().unwrap_err();
    assert_eq!(evil.got, "evil");
    assert!(
        evil.to_string()
            .contains("unknown security level 'evil' (expected semi-honest or malicious)"),
        "{evil}"
    );
    for (given, kind) in [
        ("DN08", "multiplication protocol"),
        ("", "multiplication protocol"),
    ] {
        let e = given.parse::<mpc::MulProtocol>().unwrap_err();
        assert_eq!(
            (e.what, e.got.as_str()),
            (kind, given.to_lowercase().as_str())
        );
    }
    assert_eq!(
        "DN07".parse::<mpc::MulProtocol>(),
        Ok(mpc::MulProtocol::Dn07)
    );
    assert_eq!(
        "Semi_Honest".parse::<SecurityLevel>(),
        Ok(SecurityLevel::SemiHonest)
    );
    assert!(
        "sq".parse::<mpc::BitProtocol>()
            .unwrap_err()
            .to_string()
            .contains("xor or squaring")
    );
    assert!(
        "nope"
            .parse::<mpc::Randomness>()
            .unwrap_err()
            .to_string()
            .contains("dealt or prss")
    );
    assert_eq!(EngineConfig::default().security, SecurityLevel::SemiHonest);
    assert_eq!(EngineConfig::default().randomness, Randomness::Prss);
}

/// PRSS under the malicious level (random values, masks and double sharings from the keys;
/// comparisons on checked bits): a party that alters any one round of its messages, the key
/// round and the key confirmation included, makes the session abort or changes nothing.
#[test]
fn cheating_under_prss_aborts() {
    use MulProtocol::{Dn07, Grr};
    for (n, mul, op, stride, base) in [
        (3, Grr, Op::Mul, 1, 1),
        (3, Dn07, Op::Mul, 1, CHECK_BASE),
        (5, Grr, Op::Mul, 1, CHECK_BASE),
        (5, Dn07, Op::Mul, 1, 1),
        (7, Grr, Op::Mul, 1, 1),
        (7, Dn07, Op::Mul, 1, CHECK_BASE),
        (3, Dn07, Op::Lt, 2, CHECK_BASE),
        (5, Grr, Op::Lt, 4, CHECK_BASE),
        (7, Dn07, Op::Eq, 5, CHECK_BASE),
        (3, Grr, Op::FxMul, 2, 2),
    ] {
        sweep(
            n,
            mul,
            BitProtocol::DealtXor,
            Randomness::Prss,
            op,
            stride,
            base,
        );
    }
}

/// A PRSS key leader that sends a member a different key (an altered key message, bytes XORed)
/// is caught by the key confirmation before anything is computed: every honest member of that
/// key set fails with the PRSS-keys integrity error. n = 3, 5, 7.
#[test]
fn a_leader_sending_inconsistent_prss_keys_is_caught() {
    for n in [3, 5, 7] {
        let cheat = Cheat {
            to: Some(PartyId(1)),
            ..Cheat::in_round(0)
        };
        let outcome = session(
            n,
            MulProtocol::Dn07,
            BitProtocol::DealtXor,
            Randomness::Prss,
            Op::Mul,
            &[3, -4],
            &[5, 6],
            Some((PartyId(0), cheat)),
            CHECK_BASE,
        );
        assert!(outcome.1 > 0, "n={n}: the key message was not altered");
        match &outcome.0[1] {
            Err(MpcError::IntegrityCheckFailed { check, .. }) => {
                assert!(check.contains("PRSS keys"), "n={n}: {check}")
            }
            other => panic!("n={n}: party 1 did not catch the altered key: {other:?}"),
        }
        assert!(
            outcome.0.iter().all(|r| r.is_err()),
            "n={n}: a party went on"
        );
    }
}

/// The check's rounds: each halving costs one reduction and one coin opening (2 rounds under
/// GRR, 3 under DN07), so checking 4 products halved down to 1 element (2 halvings) costs
/// exactly 4 (GRR) or 6 (DN07) rounds more than checking them directly, with equal outputs.
#[test]
fn each_halving_costs_a_reduction_and_a_coin() {
    let (a, b) = ([3, -4, i32::MAX as i128, 0], [5, 6, -7, i32::MIN as i128]);
    for n in [3, 5, 7] {
        for (mul, per_halving) in [(MulProtocol::Grr, 2), (MulProtocol::Dn07, 3)] {
            let run = |base| {
                let outcome = session(
                    n,
                    mul,
                    BitProtocol::DealtXor,
                    Randomness::Prss,
                    Op::Mul,
                    &a,
                    &b,
                    None,
                    base,
                );
                let rounds = outcome.0[0].as_ref().unwrap().1;
                (honest_values(&outcome), rounds)
            };
            let (direct, halved) = (run(CHECK_BASE), run(1));
            assert_eq!(direct.0, clear(Op::Mul, &a, &b).0);
            assert_eq!(halved.0, direct.0);
            assert_eq!(halved.1 - direct.1, 2 * per_halving, "n={n} {mul}");
        }
    }
}

/// Under the malicious level with PRSS, comparisons take the edaBits path (GF(2^8) circuit,
/// every AND checked in GF(2^64)) and equal the clear computation: n = 3, 5, 7, GRR and DN07,
/// the check halving down to 1 element or checking directly, the type's edges.
#[test]
fn edabits_comparisons_under_malicious_equal_clear() {
    let a = [5, -9, i32::MAX as i128, i32::MIN as i128, 0, -1, 1, 0];
    let b = [-3, 4, i32::MIN as i128, i32::MAX as i128, 0, 0, 1, -1];
    for n in [3, 5, 7] {
        for (mul, base) in [(MulProtocol::Grr, 1), (MulProtocol::Dn07, CHECK_BASE)] {
            for op in [Op::Lt, Op::Eq] {
                let outcome = session(
                    n,
                    mul,
                    BitProtocol::DealtXor,
                    Randomness::Prss,
                    op,
                    &a,
                    &b,
                    None,
                    base,
                );
                assert_eq!(honest_values(&outcome), clear(op, &a, &b).0, "{op:?} n={n}");
            }
        }
    }
}

/// A cheater on the edaBits comparison (one round at a time, every round of the session: the
/// PRSS key rounds, the daBit's field products, the checks, the masked opening of `c`, the
/// binary ANDs' resharings and the binary opening of `u ⊕ b`) makes every party abort before
/// anything is opened, or changes nothing. An altered AND is caught by the binary check, an
/// altered binary opening share by the binary opening's consistency check, an altered field
/// opening share (the masked `c`, the checks' coins) by the field opening's. The first and the
/// last element; every round at n = 3, every few at n = 5 and 7 (cheap in CI; `full_sweep`
/// style strides of 1 take about 20 s), and the binary opening's round at every n.
#[test]
fn cheating_on_edabits_comparisons_aborts() {
    let (a, b) = ([5, -9, i32::MAX as i128, 0], [-3, 4, i32::MIN as i128, 0]);
    let want = clear(Op::Lt, &a, &b).0;
    for (n, mul, stride) in [
        (3, MulProtocol::Grr, 1),
        (5, MulProtocol::Dn07, 3),
        (7, MulProtocol::Grr, 5),
    ] {
        let run = |cheat| {
            let p = Randomness::Prss;
            session(n, mul, BitProtocol::DealtXor, p, Op::Lt, &a, &b, cheat, 2)
        };
        let rounds = run(None).0[0].as_ref().unwrap().1 as u32;
        // The binary opening of `u ⊕ b` is the last round but the output's: every honest
        // party names its consistency check.
        let cheat = Cheat {
            error: 2,
            ..Cheat::in_round(rounds - 2)
        };
        let outcome = run(Some((PartyId(0), cheat)));
        for (i, r) in outcome.0.iter().enumerate().skip(1) {
            match r {
                Err(MpcError::IntegrityCheckFailed { check, .. }) => {
                    assert_eq!(*check, "binary opening consistency", "n={n} party {i}")
                }
                other => panic!("n={n}: party {i} missed the altered binary opening: {other:?}"),
            }
        }
        let mut checks = std::collections::BTreeMap::<&str, usize>::new();
        *checks.entry("binary opening consistency").or_default() += outcome.0.len() - 1;
        let mut harmless = 0;
        for round in (0..rounds).step_by(stride) {
            for tamper in [Tamper::First, Tamper::Last] {
                let cheater = PartyId((round as usize % n) as u16);
                let cheat = Cheat {
                    tamper,
                    error: 2,
                    ..Cheat::in_round(round)
                };
                let outcome = run(Some((cheater, cheat)));
                if outcome.1 == 0 {
                    continue;
                }
                let what = format!("n={n} {mul}: party {cheater} cheats in round {round}");
                if !assert_correct_or_aborted(&outcome, &want, 0, &what) {
                    harmless += 1;
                }
                for r in &outcome.0 {
                    if let Err(MpcError::IntegrityCheckFailed { check, .. }) = r {
                        *checks.entry(check).or_default() += 1;
                    }
                }
            }
        }
        let caught = |name: &str| checks.get(name).copied().unwrap_or(0);
        for check in [
            "binary multiplication",
            "binary opening consistency",
            "opening consistency",
        ] {
            assert!(caught(check) > 0, "n={n}: {check} never caught: {checks:?}");
        }
        assert!(
            checks.values().sum::<usize>() > 4 * harmless,
            "n={n}: {checks:?}, {harmless} harmless"
        );
    }
}

/// A product's error carried through a second product with a secret factor is no longer an
/// error the adversary knows (`δ·x`), and a statistical mask does not hide it: under the
/// malicious level the check runs before every statistically masked opening, so the session
/// aborts inside the comparison or truncation itself, before its masked value is opened — not
/// only at the output's opening. Field-path comparison (dealt randomness) and fixed-point
/// truncation, n = 3, 5, 7; the cheater alters the first product's resharing (round 0).
#[test]
fn an_error_is_caught_before_a_masked_opening_shows_it() {
    for n in [3, 5, 7] {
        for fixed in [false, true] {
            let params = Params::max_threshold(n).unwrap();
            let bits = 20;
            let mut rng = ChaCha12Rng::seed_from_u64(11);
            let a: Vec<i128> = vec![5, -3, 1 << 10, 0];
            let xs = mpc::engine::share_ints(&a, bits, params, &mut rng).unwrap();
            let cheat = (PartyId(n as u16 - 1), Cheat::in_round(0));
            let (nets, counters) = mpc::net::cheat::memory_mesh(n, Some(&cheat));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let config = config(MulProtocol::Grr, BitProtocol::DealtXor, Randomness::Dealt);
            let results = runtime.block_on(run_networks(nets, params, config, 5, move |mut e| {
                let x = xs[e.me().index()].clone();
                async move {
                    let rounds_before = e.stats().rounds;
                    let (x, z) = if fixed {
                        let x = Shared::from_fixed_shares(x, 40, FRAC)?;
                        let z = e.mul(&x, &x).await?;
                        (x, z)
                    } else {
                        let x = Shared::from_shares(x, bits)?;
                        let z = e.mul(&x, &x).await?;
                        (x, z)
                    };
                    assert_eq!(rounds_before, 0, "the product's resharing is round 0");
                    let w = e.mul(&z, &x).await?;
                    // The masked opening inside must not happen: the error comes from here.
                    let inside = if fixed {
                        e.fx_mul(&w, &x).await.map(|_| ())
                    } else {
                        e.ltz(&w).await.map(|_| ())
                    };
                    Ok(inside)
                }
            }));
            assert!(
                counters.iter().any(|c| c.load(Ordering::Relaxed) > 0),
                "no cheat"
            );
            for (p, result) in results.iter().enumerate().take(n - 1) {
                let inside = result
                    .as_ref()
                    .expect("the products themselves do not fail");
                assert!(
                    matches!(inside, Err(MpcError::IntegrityCheckFailed { .. })),
                    "n={n} fixed={fixed} party {p}: {inside:?}"
                );
            }
        }
    }
}

/// Runs `op` on `a`, `b` with PRSS randomness and no cheater, asserts that every party gets the
/// clear result, and returns the session's rounds.
fn honest_prss_equals_clear(n: usize, mul: MulProtocol, op: Op, a: &[i128], b: &[i128]) -> usize {
    let outcome = session(
        n,
        mul,
        BitProtocol::DealtXor,
        Randomness::Prss,
        op,
        a,
        b,
        None,
        CHECK_BASE,
    );
    assert_eq!(
        honest_values(&outcome),
        clear(op, a, b).0,
        "{op:?} n={n} {mul}"
    );
    outcome.0[0].as_ref().unwrap().1 as usize
}

/// The percentiles' binary-domain rank selection runs under the malicious level too: its ANDs
/// are recorded and checked in GF(2^64), its edaBit decomposition opens `c` after the check
/// (`Engine::open_masked`), its daBit exits are field products and checked binary openings.
/// Without cheating it equals the clear ranks (n = 3, 5, 7, GRR and DN07); a cheater in sampled
/// rounds (every `rounds / 10`-th) is caught or harmless, never a wrong rank.
#[test]
fn binary_rank_selection_under_malicious_equals_clear_and_catches_cheats() {
    let (a, b) = (vec![5, -9, 0, i32::MIN as i128, 5], vec![1, 1, 0, 1, 1]);
    let mut rounds = 0;
    for n in [3, 5, 7] {
        for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
            let r = honest_prss_equals_clear(n, mul, Op::Select, &a, &b);
            if (n, mul) == (3, MulProtocol::Grr) {
                rounds = r;
            }
        }
    }
    sweep(
        3,
        MulProtocol::Grr,
        BitProtocol::DealtXor,
        Randomness::Prss,
        Op::Select,
        rounds / 10,
        CHECK_BASE,
    );
}

/// `x · y` then its opening, on `n` parties at threshold `t` (dealt randomness), where each
/// party deviates as `cheat` says for it (honest when `None`): each party's output and rounds.
fn product_then_open(
    n: usize,
    t: usize,
    mul: MulProtocol,
    cheat: impl Fn(PartyId) -> Option<Cheat>,
) -> Vec<Result<(Vec<i128>, u64)>> {
    let params = Params::new(n, t).unwrap();
    let mut rng = ChaCha12Rng::seed_from_u64(11);
    let xs: Vec<Vec<Fr>> = mpc::engine::share_ints(&[5, -9, 0], 32, params, &mut rng).unwrap();
    let ys: Vec<Vec<Fr>> = mpc::engine::share_ints(&[-3, 4, 7], 32, params, &mut rng).unwrap();
    let honest = Cheat {
        rounds: Some(Default::default()),
        ..Cheat::in_round(0)
    };
    let nets: Vec<Cheating<MemoryNetwork>> = MemoryNetwork::mesh(n)
        .into_iter()
        .enumerate()
        .map(|(i, net)| {
            let plan = cheat(PartyId(i as u16)).unwrap_or_else(|| honest.clone());
            Cheating::new(net, plan).0
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = config(mul, BitProtocol::DealtXor, Randomness::Dealt);
    runtime.block_on(run_networks(nets, params, config, 3, move |e| {
        let me = e.me().index();
        program(e, Op::Mul, xs[me].clone(), ys[me].clone(), 32)
    }))
}

/// Issue 15, naming: the parties in `cheaters` add an error to their shares of the output
/// opening (the session's last round), sent to `to` only or to everyone. Returns every
/// party's outcome; checks first that the honest run equals the clear products.
fn cheat_at_the_opening(
    n: usize,
    t: usize,
    mul: MulProtocol,
    cheaters: &[u16],
    to: Option<PartyId>,
) -> Vec<Result<(Vec<i128>, u64)>> {
    let honest = product_then_open(n, t, mul, |_| None);
    for r in &honest {
        assert_eq!(r.as_ref().unwrap().0, [-15, -36, 0], "n={n} t={t} {mul}");
    }
    let last = honest[0].as_ref().unwrap().1 as u32 - 1;
    product_then_open(n, t, mul, |p| {
        cheaters.contains(&p.0).then(|| Cheat {
            to,
            error: 3,
            ..Cheat::in_round(last)
        })
    })
}

/// With `n >= 3t + 1` every honest party names exactly the parties that sent shares of an
/// opening off the polynomial (one or two cheaters, GRR and DN07 sessions); with `n < 3t + 1`
/// the opening fails the same way and names nobody (no decoder can tell, `engine/decode.rs`).
#[test]
fn a_cheater_at_an_opening_is_named_when_n_is_at_least_3t_plus_1() {
    for mul in [MulProtocol::Grr, MulProtocol::Dn07] {
        for (n, t, cheaters) in OPENING_CHEATS {
            let outcome = cheat_at_the_opening(n, t, mul, cheaters, None);
            let want = named(n, t, cheaters);
            for (i, r) in outcome.iter().enumerate() {
                if cheaters.contains(&(i as u16)) {
                    continue;
                }
                let what = format!("n={n} t={t} {mul} cheaters {cheaters:?}: party {i}");
                match r {
                    Err(e @ MpcError::IntegrityCheckFailed { check, parties }) => {
                        assert_eq!(*check, "opening consistency", "{what}");
                        assert_eq!(*parties, want, "{what}");
                        let text = e.to_string();
                        match cheaters {
                            [p] if !want.is_empty() => assert!(
                                text.ends_with(&format!(
                                    "opening consistency (party {p} sent a share off the polynomial)"
                                )),
                                "{what}: {text}"
                            ),
                            [p, q] if !want.is_empty() => assert!(
                                text.ends_with(&format!(
                                    "(parties {p}, {q} sent shares off the polynomial)"
                                )),
                                "{what}: {text}"
                            ),
                            _ => assert_eq!(
                                text, "integrity check failed: opening consistency",
                                "{what}"
                            ),
                        }
                    }
                    other => panic!("{what}: {other:?}"),
                }
            }
        }
    }
}

/// The opening is point-to-point, not a broadcast: a cheater that sends a share off the
/// polynomial to one party only is named by that party, and the others, who got consistent
/// shares, open the right value (an honest party is never named; the names are not agreed on).
#[test]
fn a_cheater_equivocating_at_an_opening_is_named_only_where_it_cheated() {
    let outcome = cheat_at_the_opening(4, 1, MulProtocol::Grr, &[3], Some(PartyId(0)));
    match &outcome[0] {
        Err(MpcError::IntegrityCheckFailed { parties, .. }) => assert_eq!(*parties, [PartyId(3)]),
        other => panic!("party 0: {other:?}"),
    }
    for r in &outcome[1..3] {
        assert_eq!(r.as_ref().unwrap().0, [-15, -36, 0]);
    }
}

/// An opening to one recipient (`Engine::open_to`) names the cheater the same way: with
/// n = 4, t = 1, party 3 adds an error to its share for party 0, which names it.
#[test]
fn a_cheater_at_an_opening_to_one_party_is_named_by_it() {
    let params = Params::new(4, 1).unwrap();
    let mut rng = ChaCha12Rng::seed_from_u64(12);
    let xs: Vec<Vec<Fr>> = mpc::engine::share_ints(&[7, -1], 32, params, &mut rng).unwrap();
    let (nets, _) = mpc::net::cheat::memory_mesh(
        4,
        Some(&(
            PartyId(3),
            Cheat {
                rounds: None,
                ..Cheat::in_round(0)
            },
        )),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = config(MulProtocol::Grr, BitProtocol::DealtXor, Randomness::Dealt);
    let outcome = runtime.block_on(run_networks(nets, params, config, 3, move |mut e| {
        let x = Shared::from_shares(xs[e.me().index()].clone(), 32);
        async move { e.open_to(&x?, PartyId(0)).await }
    }));
    match &outcome[0] {
        Err(MpcError::IntegrityCheckFailed { parties, .. }) => assert_eq!(*parties, [PartyId(3)]),
        other => panic!("party 0: {other:?}"),
    }
    assert!(matches!(outcome[1], Ok(None)) && matches!(outcome[2], Ok(None)));
}

/// The `GROUP BY` one-hot in the binary domain runs under the malicious level with the checks
/// of the rank selection above (its ANDs recorded and checked, `c` opened after the check, the
/// daBits' products checked and their binary openings after the check): without cheating it
/// equals the clear one-hot (n = 3, 5, 7; edges: 0, the last group, one above, negative, the
/// extremes of 32 bits); a cheater in sampled rounds is caught or harmless, never a wrong bit.
#[test]
fn binary_one_hot_under_malicious_equals_clear_and_catches_cheats() {
    let a = vec![0, 4, 5, -1, 2, i32::MAX as i128, i32::MIN as i128];
    let b = vec![0; a.len()];
    let mut rounds = 0;
    for (n, mul) in [
        (3, MulProtocol::Grr),
        (5, MulProtocol::Dn07),
        (7, MulProtocol::Grr),
    ] {
        let r = honest_prss_equals_clear(n, mul, Op::OneHot, &a, &b);
        if n == 3 {
            rounds = r;
        }
    }
    sweep(
        3,
        MulProtocol::Grr,
        BitProtocol::DealtXor,
        Randomness::Prss,
        Op::OneHot,
        (rounds / 12).max(1),
        CHECK_BASE,
    );
}
