//! Shamir secret sharing over a [`Field`]: dealing, Lagrange interpolation, reconstruction
//! with error detection.
//!
//! A degree-`d` sharing of `s` gives party `i` the value `f(i + 1)` of a random polynomial `f`
//! of degree `d` with `f(0) = s`. Any `d + 1` shares determine `s`; any `d` are independent of
//! it. When more than `d + 1` shares are at hand, reconstruction checks that all of them lie
//! on one polynomial of degree `d` and names the first party whose share does not.
//!
//! What this module does not do: move shares between parties (that is the engine's job) or
//! share opaque bytes (that is `blahaj`'s).

use std::collections::HashMap;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::party::PartyId;

/// Deals each secret with a fresh random polynomial of `degree`, for parties `0..n`.
/// Returns one vector per party, in batch order.
pub fn deal<F: Field, R: RngCore + ?Sized>(
    secrets: &[F],
    degree: usize,
    n: usize,
    rng: &mut R,
) -> Vec<Vec<F>> {
    let mut out: Vec<Vec<F>> = (0..n).map(|_| Vec::with_capacity(secrets.len())).collect();
    if degree == 1 {
        // f(x) = s + c x at x = 1, 2, ...: consecutive points differ by c, so additions suffice.
        for &s in secrets {
            let c = F::random(rng);
            let mut acc = s;
            for share in out.iter_mut() {
                acc += c;
                share.push(acc);
            }
        }
        return out;
    }
    let points: Vec<F> = (1..=n as u128).map(F::from_u128).collect();
    let mut coeffs = vec![F::zero(); degree];
    for &s in secrets {
        for c in coeffs.iter_mut() {
            *c = F::random(rng);
        }
        for (share, &x) in out.iter_mut().zip(&points) {
            // Horner: c_d x^d + ... + c_1 x + s.
            let mut acc = F::zero();
            for &c in coeffs.iter().rev() {
                acc = (acc + c) * x;
            }
            share.push(acc + s);
        }
    }
    out
}

/// Deals one secret; returns party `i`'s share at index `i`.
pub fn deal_one<F: Field, R: RngCore + ?Sized>(
    secret: F,
    degree: usize,
    n: usize,
    rng: &mut R,
) -> Vec<F> {
    deal(&[secret], degree, n, rng)
        .into_iter()
        .map(|v| v[0])
        .collect()
}

/// The Lagrange coefficients that evaluate at `x` the polynomial through the given parties'
/// points: `f(x) = Σ λ_i f(x_i)`.
pub fn lagrange_coefficients<F: Field>(parties: &[PartyId], x: u64) -> Vec<F> {
    let xs: Vec<F> = parties
        .iter()
        .map(|p| F::from_u128(p.point() as u128))
        .collect();
    lagrange_at(&xs, F::from_u128(x as u128))
}

/// The Lagrange coefficients that evaluate at `x` the polynomial through points `xs`
/// (distinct).
pub fn lagrange_at<F: Field>(xs: &[F], x: F) -> Vec<F> {
    xs.iter()
        .enumerate()
        .map(|(i, &xi)| {
            let (mut num, mut den) = (F::one(), F::one());
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    num *= x - xj;
                    den *= xi - xj;
                }
            }
            num * den.inverse().expect("distinct evaluation points")
        })
        .collect()
}

/// Lagrange coefficients cached per (party set, target point): the engine reconstructs from
/// the same sets over and over.
pub struct Interpolator<F> {
    cache: HashMap<(Vec<PartyId>, u64), Vec<F>>,
    /// Draws the random point at which a batch's consistency is checked at once.
    rng: ChaCha12Rng,
}

impl<F: Field> Default for Interpolator<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Field> Interpolator<F> {
    /// An empty cache (its batch checks draw from a fixed seed; see [`Interpolator::seeded`]).
    pub fn new() -> Self {
        Self::seeded([0; 32])
    }

    /// An empty cache whose batch consistency checks draw from `seed`: a party that corrupts
    /// shares cannot predict the check when the seed is secret.
    pub fn seeded(seed: [u8; 32]) -> Self {
        Interpolator {
            cache: HashMap::new(),
            rng: ChaCha12Rng::from_seed(seed),
        }
    }

    /// Coefficients evaluating at `x` from `parties` (cached).
    pub fn coefficients(&mut self, parties: &[PartyId], x: u64) -> &[F] {
        self.cache
            .entry((parties.to_vec(), x))
            .or_insert_with(|| lagrange_coefficients(parties, x))
    }

    /// Reconstructs a batch of degree-`degree` sharings. `shares[k]` is party `parties[k]`'s
    /// vector. The first `degree + 1` parties interpolate; with `check`, every further share
    /// must lie on the same polynomial.
    pub fn reconstruct(
        &mut self,
        parties: &[PartyId],
        shares: &[&[F]],
        degree: usize,
        check: bool,
    ) -> Result<Vec<F>> {
        if parties.len() != shares.len() {
            return Err(MpcError::LengthMismatch {
                op: "reconstruct",
                left: parties.len(),
                right: shares.len(),
            });
        }
        if parties.len() <= degree {
            return Err(MpcError::TooFewShares {
                got: parties.len(),
                degree,
            });
        }
        for (i, p) in parties.iter().enumerate() {
            if parties[..i].contains(p) {
                return Err(MpcError::DuplicateParty(*p));
            }
        }
        let len = shares[0].len();
        for s in shares {
            if s.len() != len {
                return Err(MpcError::LengthMismatch {
                    op: "reconstruct",
                    left: len,
                    right: s.len(),
                });
            }
        }
        let base = &parties[..=degree];
        let lambda = self.coefficients(base, 0).to_vec();
        let secrets = combine(&lambda, &shares[..=degree], len);
        let extras = parties.len() - degree - 1;
        // Checking every element costs (extras)(degree + 1) multiplications an element; checking
        // one random linear combination of the batch first costs one per party and element, and
        // misses an inconsistency with probability at most len / |F|. Only when it fails is the
        // batch checked element by element, to name the party and the element.
        if check && extras > 0 && len > 1 && parties.len() < extras * (degree + 1) {
            let rho = F::random(&mut self.rng);
            let folded: Vec<[F; 1]> = shares
                .iter()
                .map(|s| [s.iter().rev().fold(F::zero(), |acc, &v| acc * rho + v)])
                .collect();
            let base_folded: Vec<&[F]> = folded[..=degree].iter().map(|v| v.as_slice()).collect();
            let consistent = parties
                .iter()
                .enumerate()
                .skip(degree + 1)
                .all(|(k, &extra)| {
                    let mu = self.coefficients(base, extra.point()).to_vec();
                    combine(&mu, &base_folded, 1)[0] == folded[k][0]
                });
            if consistent {
                return Ok(secrets);
            }
        }
        if check {
            for (k, &extra) in parties.iter().enumerate().skip(degree + 1) {
                let mu = self.coefficients(base, extra.point()).to_vec();
                let predicted = combine(&mu, &shares[..=degree], len);
                if let Some(index) = predicted.iter().zip(shares[k]).position(|(a, b)| a != b) {
                    return Err(MpcError::InconsistentShares {
                        party: extra,
                        degree,
                        index,
                    });
                }
            }
        }
        Ok(secrets)
    }
}

/// `Σ_k coeffs[k] · shares[k][e]` for every element `e`, in one pass
/// ([`Combination`](crate::field::lincomb::Combination)).
pub(crate) fn combine<F: Field>(coeffs: &[F], shares: &[&[F]], len: usize) -> Vec<F> {
    crate::field::lincomb::Combination::new(coeffs).apply(shares, len)
}

/// `out[e] += c · x[e]`. Lagrange coefficients over consecutive points and Vandermonde entries
/// are often small integers (`3, -3, 1` for three parties); those are applied with additions,
/// several times cheaper than a Montgomery multiplication.
pub(crate) fn axpy<F: Field>(out: &mut [F], c: F, x: &[F]) {
    match c.to_i128() {
        Some(0) => {}
        Some(1) => out.iter_mut().zip(x).for_each(|(o, &v)| *o += v),
        Some(-1) => out.iter_mut().zip(x).for_each(|(o, &v)| *o -= v),
        Some(k) if k.unsigned_abs() <= 16 => {
            let (neg, k) = (k < 0, k.unsigned_abs() as u32);
            out.iter_mut().zip(x).for_each(|(o, &v)| {
                let m = crate::field::lincomb::times_small(v, k);
                if neg { *o -= m } else { *o += m }
            })
        }
        _ => out.iter_mut().zip(x).for_each(|(o, &v)| *o += c * v),
    }
}

/// Reconstructs single values from `(party, share)` pairs, checking redundant shares.
pub fn reconstruct<F: Field>(shares: &[(PartyId, F)], degree: usize) -> Result<F> {
    let parties: Vec<PartyId> = shares.iter().map(|s| s.0).collect();
    let vecs: Vec<[F; 1]> = shares.iter().map(|s| [s.1]).collect();
    let refs: Vec<&[F]> = vecs.iter().map(|v| v.as_slice()).collect();
    Ok(Interpolator::new().reconstruct(&parties, &refs, degree, true)?[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    fn ids(v: &[u16]) -> Vec<PartyId> {
        v.iter().map(|&i| PartyId(i)).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any t+1 shares reconstruct, for n = 3, 5, 7 and every valid t.
        #[test]
        fn any_t_plus_one_reconstruct(seed in any::<u64>(), v in any::<i64>(), n in prop::sample::select(vec![3usize, 5, 7])) {
            let mut rng = ChaCha12Rng::seed_from_u64(seed);
            for t in 1..=(n - 1) / 2 {
                let shares = deal_one(Fr::from_i128(v as i128), t, n, &mut rng);
                // A rotating window of t+1 parties.
                for start in 0..n {
                    let set: Vec<(PartyId, Fr)> = (0..=t)
                        .map(|k| { let p = (start + k) % n; (PartyId(p as u16), shares[p]) })
                        .collect();
                    prop_assert_eq!(reconstruct(&set, t).unwrap().to_i128(), Some(v as i128));
                }
                let all: Vec<(PartyId, Fr)> = (0..n).map(|p| (PartyId(p as u16), shares[p])).collect();
                prop_assert_eq!(reconstruct(&all, t).unwrap().to_i128(), Some(v as i128));
            }
        }

        /// Privacy: any t shares are consistent with every secret. For each candidate, the
        /// polynomial through (0, candidate) and the t seen shares has degree t, agrees with
        /// every seen share, and its completion is a valid sharing of the candidate: the seen
        /// shares rule nothing out.
        #[test]
        fn t_shares_are_consistent_with_any_secret(seed in any::<u64>(), secret in any::<i64>(), candidate in any::<i64>(), n in prop::sample::select(vec![3usize, 5, 7])) {
            let mut rng = ChaCha12Rng::seed_from_u64(seed);
            let t = (n - 1) / 2;
            let shares = deal_one(Fr::from_i128(secret as i128), t, n, &mut rng);
            let seen: Vec<usize> = (0..t).map(|k| (k * 2 + seed as usize) % n).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let mut xs = vec![Fr::zero()];
            let mut ys = vec![Fr::from_i128(candidate as i128)];
            for &p in &seen {
                xs.push(Fr::from_u128(p as u128 + 1));
                ys.push(shares[p]);
            }
            let completed: Vec<(PartyId, Fr)> = (0..n)
                .map(|p| {
                    let lam = lagrange_at(&xs, Fr::from_u128(p as u128 + 1));
                    (PartyId(p as u16), lam.iter().zip(&ys).map(|(l, y)| *l * *y).sum())
                })
                .collect();
            for &p in &seen {
                prop_assert_eq!(completed[p].1, shares[p]);
            }
            prop_assert_eq!(reconstruct(&completed, t).unwrap().to_i128(), Some(candidate as i128));
        }

        #[test]
        fn a_wrong_share_is_detected(seed in any::<u64>(), v in any::<i64>(), victim in 0usize..5) {
            let mut rng = ChaCha12Rng::seed_from_u64(seed);
            let (n, t) = (5, 2);
            let mut shares = deal_one(Fr::from_i128(v as i128), t, n, &mut rng);
            shares[victim] += Fr::one();
            let all: Vec<(PartyId, Fr)> = (0..n).map(|p| (PartyId(p as u16), shares[p])).collect();
            let detected = matches!(reconstruct(&all, t), Err(MpcError::InconsistentShares { .. }));
            prop_assert!(detected);
        }
    }

    #[test]
    fn axpy_matches_multiplication() {
        let mut rng = ChaCha12Rng::seed_from_u64(5);
        let x: Vec<Fr> = (0..4).map(|_| Fr::random(&mut rng)).collect();
        for c in [0i128, 1, -1, 2, 3, -3, 7, 16, -16, 17, 1 << 40] {
            let mut out = vec![Fr::one(); 4];
            axpy(&mut out, Fr::from_i128(c), &x);
            for (o, &v) in out.iter().zip(&x) {
                assert_eq!(*o, Fr::one() + Fr::from_i128(c) * v, "c={c}");
            }
        }
        let big = Fr::random(&mut rng);
        let mut out = vec![Fr::zero(); 4];
        axpy(&mut out, big, &x);
        assert_eq!(out[2], big * x[2]);
    }

    /// The batch check (a random linear combination first) still names the party and the
    /// element when one share of a long batch is off.
    #[test]
    fn a_wrong_share_in_a_batch_is_named() {
        let mut rng = ChaCha12Rng::seed_from_u64(3);
        let (n, t) = (7, 2);
        let secrets: Vec<Fr> = (0..50).map(|i| Fr::from_u128(i * 1000 + 7)).collect();
        let mut per_party = deal(&secrets, t, n, &mut rng);
        let parties: Vec<PartyId> = (0..n as u16).map(PartyId).collect();
        let mut interp = Interpolator::<Fr>::seeded([9; 32]);
        let refs: Vec<&[Fr]> = per_party.iter().map(|v| v.as_slice()).collect();
        assert_eq!(
            interp.reconstruct(&parties, &refs, t, true).unwrap(),
            secrets
        );
        per_party[5][37] += Fr::one();
        let refs: Vec<&[Fr]> = per_party.iter().map(|v| v.as_slice()).collect();
        let err = interp.reconstruct(&parties, &refs, t, true).unwrap_err();
        assert!(
            matches!(
                err,
                MpcError::InconsistentShares {
                    party: PartyId(5),
                    index: 37,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_reconstructions_are_typed_errors() {
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        let shares = deal_one(Fr::from_u128(9), 2, 5, &mut rng);
        let two: Vec<(PartyId, Fr)> = (0..2).map(|p| (PartyId(p), shares[p as usize])).collect();
        let err = reconstruct(&two, 2).unwrap_err();
        assert!(
            matches!(err, MpcError::TooFewShares { got: 2, degree: 2 }),
            "{err}"
        );
        let dup = vec![
            (PartyId(0), shares[0]),
            (PartyId(0), shares[0]),
            (PartyId(1), shares[1]),
        ];
        assert!(matches!(
            reconstruct(&dup, 2),
            Err(MpcError::DuplicateParty(_))
        ));
        let mut interp = Interpolator::<Fr>::new();
        let a = [Fr::one(); 2];
        let b = [Fr::one(); 3];
        let err = interp
            .reconstruct(&ids(&[0, 1]), &[&a, &b], 1, false)
            .unwrap_err();
        assert!(matches!(err, MpcError::LengthMismatch { .. }));
    }
}
