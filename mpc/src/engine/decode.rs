//! Naming the parties whose opening shares are off the polynomial: Berlekamp–Welch decoding of
//! one opened element (Reed–Solomon decoding: Berlekamp and Welch, US patent 4,633,470, 1986;
//! used to correct Shamir shares by Ben-Or, Goldwasser and Wigderson, STOC 1988, §4), over the
//! field of the arithmetic shares and over GF(2^8) for the binary ones.
//!
//! # When a party can be named, and why it is then a cheater
//!
//! Take the `n` shares of one element of a degree-`d` sharing, of which at most `t` come from
//! corrupt parties (the session's threshold), with `n >= d + 2t + 1` (for an opening at
//! degree `t`: `n >= 3t + 1`). The honest shares, at least `n - t` of them, lie on the honest
//! polynomial `P`. Any polynomial of degree `d` that agrees with at least `n - t` shares agrees
//! with at least `n - 2t >= d + 1` honest ones, so it *is* `P`: the decoder finds `P` (it
//! exists, and it is the only one so supported), and every share off `P` was sent by a
//! corrupt party. An honest party is never named.
//!
//! With `n <= d + 2t` nobody is named, because nobody can be: split the parties into `A`
//! (`n - 2t <= d` of them), `B` and `C` (`t` each). If `A ∪ B` lie on `P`, `C` can send shares
//! on another polynomial `P'` of degree `d` through `A`'s points (`A` has at most `d` points,
//! so such a `P' ≠ P` exists); the same `n` shares arise when `B` is corrupt and `C` honest, so
//! no rule can tell whether `B` or `C` cheated. (With `n = 2t + 1` and `d = t`, any `t + 1`
//! shares lie on some polynomial.)
//!
//! # What it does not do
//!
//! It decodes one element (the caller picks one found inconsistent) and does not make the
//! honest parties agree on the names: an opening is point-to-point, so a cheater that sends
//! different shares to different parties is named only by those it sent a share off `P` to
//! (never is an honest party named by anyone).
//!
//! Cost: Gauss–Jordan elimination on `n` equations in `d + 2t + 1` unknowns, `O(n^3)` field
//! operations, only on the failure path, and only up to [`MAX_DECODED_PARTIES`] parties.

use crate::field::Field;
use crate::party::PartyId;

/// The most parties whose shares are decoded (the elimination's `n^3` operations stay within
/// milliseconds); with more, nobody is named.
pub(crate) const MAX_DECODED_PARTIES: usize = 128;

/// The arithmetic the decoder needs, for the field of the arithmetic shares and for GF(2^8).
pub(crate) trait Symbol: Copy + PartialEq {
    fn zero() -> Self;
    fn one() -> Self;
    fn plus(self, other: Self) -> Self;
    fn minus(self, other: Self) -> Self;
    fn times(self, other: Self) -> Self;
    /// `None` for zero.
    fn inverse(self) -> Option<Self>;
    /// Party `p`'s evaluation point.
    fn point(p: PartyId) -> Self;
}

impl<F: Field> Symbol for F {
    fn zero() -> Self {
        <F as Field>::zero()
    }
    fn one() -> Self {
        <F as Field>::one()
    }
    fn plus(self, other: Self) -> Self {
        self + other
    }
    fn minus(self, other: Self) -> Self {
        self - other
    }
    fn times(self, other: Self) -> Self {
        self * other
    }
    fn inverse(self) -> Option<Self> {
        Field::inverse(&self)
    }
    fn point(p: PartyId) -> Self {
        F::from_u128(p.point() as u128)
    }
}

/// The parties (in the order given) whose shares of one element are off the degree-`degree`
/// polynomial that at least `n - corrupt` of the `n` shares lie on; nobody when
/// `n < degree + 2 corrupt + 1` (see the module doc: nobody can be named then), when
/// `n > MAX_DECODED_PARTIES`, or when no
/// polynomial is so supported (more than `corrupt` parties cheated). `shares[k]` is
/// `parties[k]`'s.
pub(crate) fn off_polynomial<S: Symbol>(
    parties: &[PartyId],
    shares: &[S],
    degree: usize,
    corrupt: usize,
) -> Vec<PartyId> {
    let n = parties.len();
    if shares.len() != n || n < degree + 2 * corrupt + 1 || n > MAX_DECODED_PARTIES {
        return Vec::new();
    }
    let xs: Vec<S> = parties.iter().map(|&p| S::point(p)).collect();
    let Some(poly) = berlekamp_welch(&xs, shares, degree, corrupt) else {
        return Vec::new();
    };
    let off: Vec<PartyId> = parties
        .iter()
        .zip(xs.iter().zip(shares))
        .filter(|(_, (x, y))| evaluate(&poly, **x) != **y)
        .map(|(&p, _)| p)
        .collect();
    match off.len() <= corrupt {
        true => off,
        false => Vec::new(),
    }
}

/// The polynomial of degree at most `d` (coefficients, lowest first) that agrees with all but
/// at most `e` of the points `(xs[i], ys[i])`, when `n >= d + 2e + 1` and it exists; `None`
/// otherwise. Solves `Q(x_i) = y_i E(x_i)` for a monic error locator `E` of degree `e` and `Q`
/// of degree `d + e`; any solution has `Q = P·E` (`Q - P·E` has degree at most `d + e` and
/// vanishes at the at least `n - e >= d + e + 1` points where `P(x_i) = y_i`), so `P = Q / E`.
fn berlekamp_welch<S: Symbol>(xs: &[S], ys: &[S], d: usize, e: usize) -> Option<Vec<S>> {
    let q_len = d + e + 1;
    // Unknowns: Q's d + e + 1 coefficients, then E's e lower ones; the right side y x^e.
    let mut rows: Vec<Vec<S>> = xs
        .iter()
        .zip(ys)
        .map(|(&x, &y)| {
            let mut powers = Vec::with_capacity(q_len);
            let mut acc = S::one();
            for _ in 0..q_len {
                powers.push(acc);
                acc = acc.times(x);
            }
            let mut row = powers.clone();
            row.extend(powers[..e].iter().map(|&p| S::zero().minus(y.times(p))));
            row.push(y.times(powers[e]));
            row
        })
        .collect();
    let solution = solve(&mut rows, q_len + e)?;
    let mut locator = solution[q_len..].to_vec();
    locator.push(S::one());
    divide_exact(&solution[..q_len], &locator)
}

/// One solution (free unknowns zero) of the linear system whose augmented rows are `rows`
/// (`cols` unknowns, then the right side), by Gauss–Jordan elimination; `None` if it has none.
fn solve<S: Symbol>(rows: &mut [Vec<S>], cols: usize) -> Option<Vec<S>> {
    let mut pivots = Vec::new();
    for c in 0..cols {
        let r = pivots.len();
        if r == rows.len() {
            break;
        }
        let Some(p) = (r..rows.len()).find(|&i| rows[i][c] != S::zero()) else {
            continue;
        };
        rows.swap(r, p);
        let inv = rows[r][c].inverse()?;
        rows[r].iter_mut().for_each(|v| *v = v.times(inv));
        let pivot = rows[r].clone();
        for (i, row) in rows.iter_mut().enumerate() {
            let f = row[c];
            if i != r && f != S::zero() {
                row.iter_mut()
                    .zip(&pivot)
                    .for_each(|(v, &pv)| *v = v.minus(f.times(pv)));
            }
        }
        pivots.push(c);
    }
    if rows[pivots.len()..]
        .iter()
        .any(|row| row[cols] != S::zero())
    {
        return None;
    }
    let mut x = vec![S::zero(); cols];
    for (row, &c) in rows.iter().zip(&pivots) {
        x[c] = row[cols];
    }
    Some(x)
}

/// `num / den` for a monic `den` (coefficients lowest first), when the remainder is zero.
fn divide_exact<S: Symbol>(num: &[S], den: &[S]) -> Option<Vec<S>> {
    let shift = den.len() - 1;
    let mut rem = num.to_vec();
    let mut quot = vec![S::zero(); num.len().checked_sub(shift)?];
    for k in (0..quot.len()).rev() {
        let c = rem[k + shift];
        quot[k] = c;
        for (j, &dj) in den.iter().enumerate() {
            rem[k + j] = rem[k + j].minus(c.times(dj));
        }
    }
    rem.iter().all(|&v| v == S::zero()).then_some(quot)
}

/// `p(x)` (coefficients lowest first).
fn evaluate<S: Symbol>(p: &[S], x: S) -> S {
    p.iter()
        .rev()
        .fold(S::zero(), |acc, &c| acc.times(x).plus(c))
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha12Rng;

    use super::*;
    use crate::engine::binary::Gf256;
    use crate::field::Fr;

    /// The `n` shares of a random degree-`d` polynomial.
    fn shares<S: Symbol>(n: usize, d: usize, draw: &mut impl FnMut() -> S) -> Vec<S> {
        let poly: Vec<S> = (0..=d).map(|_| draw()).collect();
        (0..n)
            .map(|i| evaluate(&poly, S::point(PartyId(i as u16))))
            .collect()
    }

    /// Every `(n, t)` with `2t < n <= 10`, at degrees `t` and `2t`: up to `t` shares altered
    /// are named exactly when `n >= d + 2t + 1`, and nobody otherwise.
    fn names_exactly_the_altered<S: Symbol>(mut draw: impl FnMut() -> S, rng: &mut ChaCha12Rng) {
        for n in 1..=10usize {
            for t in 0..=(n - 1) / 2 {
                for d in [t, 2 * t] {
                    let parties: Vec<PartyId> = (0..n as u16).map(PartyId).collect();
                    if d >= n {
                        continue;
                    }
                    for bad in 0..=t {
                        let mut ys = shares(n, d, &mut draw);
                        let mut altered: Vec<usize> = Vec::new();
                        while altered.len() < bad {
                            let i = rng.random_range(0..n);
                            if !altered.contains(&i) {
                                altered.push(i);
                            }
                        }
                        for &i in &altered {
                            let mut err = draw();
                            while err == S::zero() {
                                err = draw();
                            }
                            ys[i] = ys[i].plus(err);
                        }
                        altered.sort();
                        let named = off_polynomial(&parties, &ys, d, t);
                        let want: Vec<PartyId> = match n > d + 2 * t {
                            true => altered.iter().map(|&i| parties[i]).collect(),
                            false => Vec::new(),
                        };
                        assert_eq!(named, want, "n {n} t {t} d {d} altered {altered:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn names_the_altered_shares_in_the_field() {
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        let mut coins = ChaCha12Rng::seed_from_u64(2);
        names_exactly_the_altered(|| Fr::random(&mut coins), &mut rng);
    }

    #[test]
    fn names_the_altered_shares_in_gf256() {
        let mut rng = ChaCha12Rng::seed_from_u64(3);
        let mut coins = ChaCha12Rng::seed_from_u64(4);
        names_exactly_the_altered(|| Gf256(coins.random::<u8>()), &mut rng);
    }

    /// Errors chosen to look like another polynomial: with `n = 3t + 1`, `t + 1` altered shares
    /// (beyond the bound) never get an honest party named unless they leave a polynomial as
    /// well supported as the honest one; and small errors (1) are found like large ones.
    #[test]
    fn small_errors_and_too_many_cheaters() {
        let parties: Vec<PartyId> = (0..4u16).map(PartyId).collect();
        let ys: Vec<Fr> = (1..=4u128).map(|x| Fr::from_u128(5 + 3 * x)).collect();
        let mut one = ys.clone();
        one[0] += <Fr as Field>::one();
        assert_eq!(off_polynomial(&parties, &one, 1, 1), vec![parties[0]]);
        // Two of four altered at t = 1: no line through three of the shares, nobody named.
        let mut two = one.clone();
        two[2] += <Fr as Field>::one();
        assert_eq!(off_polynomial(&parties, &two, 1, 1), Vec::<PartyId>::new());
        // Consistent shares: nobody is off.
        assert_eq!(off_polynomial(&parties, &ys, 1, 1), Vec::<PartyId>::new());
    }

    /// A binary opening (`Engine::open_bytes`) under the malicious level names, at every honest
    /// party, exactly the parties that XORed an error into their shares when `n >= 3t + 1`, and
    /// nobody below.
    #[test]
    fn a_binary_opening_names_its_cheaters() {
        use crate::engine::{EngineConfig, Randomness, SecurityLevel};
        use crate::error::MpcError;
        use crate::net::cheat::{Cheat, Cheating};
        use crate::net::memory::MemoryNetwork;
        use crate::params::Params;
        use crate::testing::{OPENING_CHEATS, named};

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut coins = ChaCha12Rng::seed_from_u64(5);
        for (n, t, cheaters) in OPENING_CHEATS {
            let bits = [1u8, 0, 1, 1, 0];
            // Column k of `dealt` is party k's shares.
            let dealt: Vec<Vec<Gf256>> = bits
                .iter()
                .map(|&b| {
                    let mut poly: Vec<Gf256> =
                        (0..=t).map(|_| Gf256(coins.random::<u8>())).collect();
                    poly[0] = Gf256(b);
                    (0..n as u16)
                        .map(|i| evaluate(&poly, Gf256::point(PartyId(i))))
                        .collect()
                })
                .collect();
            let nets: Vec<Cheating<MemoryNetwork>> = MemoryNetwork::mesh(n)
                .into_iter()
                .enumerate()
                .map(|(i, net)| {
                    let rounds = match cheaters.contains(&(i as u16)) {
                        true => None,
                        false => Some(Default::default()),
                    };
                    let cheat = Cheat {
                        rounds,
                        error: 6,
                        ..Cheat::in_round(0)
                    };
                    Cheating::new(net, cheat).0
                })
                .collect();
            let config = EngineConfig {
                security: SecurityLevel::Malicious,
                randomness: Randomness::Dealt,
                ..Default::default()
            };
            let params = Params::new(n, t).unwrap();
            let outcome = runtime.block_on(crate::testing::run_networks(
                nets,
                params,
                config,
                9,
                move |mut e| {
                    let mine: Vec<u8> = dealt.iter().map(|s| s[e.me().index()].0).collect();
                    async move { e.open_bytes(&mine).await }
                },
            ));
            let want = named(n, t, cheaters);
            for (i, r) in outcome.iter().enumerate() {
                if cheaters.contains(&(i as u16)) {
                    continue;
                }
                match r {
                    Err(MpcError::IntegrityCheckFailed { check, parties }) => {
                        assert_eq!(*check, "binary opening consistency");
                        assert_eq!(*parties, want, "n={n} t={t} party {i}");
                    }
                    other => panic!("n={n} t={t} party {i}: {other:?}"),
                }
            }
        }
    }
}
