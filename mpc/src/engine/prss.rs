//! Pseudo-random secret sharing (Cramer, Damgård, Ishai, TCC 2005, "Share conversion,
//! pseudorandom secret-sharing and applications to secure computation", §3 PRSS and §4 PRZS):
//! random sharings with no communication after one round of key set-up.
//!
//! **Keys.** For every set `T` of `t` parties (a maximal unqualified set) there is a key `k_A`
//! known exactly to the `n - t` parties of its complement `A`; the first party of `A` draws it
//! and sends it to the others of `A` in the session's first PRSS round (one round, once per
//! session). Every key drives a ChaCha12 stream, and the members of `A` draw from it in the same
//! order (every party runs the same sequence of engine calls), so `PRF_{k_A}(counter)` needs no
//! counter on the wire. A coalition of `t` parties misses the key of its own complement.
//!
//! **Shares.** With `f_A` the degree-`t` polynomial with `f_A(0) = 1` and `f_A(j) = 0` for `j`
//! in `T`, party `i` holds `Σ_{A ∋ i} r_A · f_A(i)` of the secret `r = Σ_A r_A`:
//! - [`Prss::random`]: `r_A` uniform field elements (CDI §3), a uniform secret;
//! - [`Prss::ints`]: `r_A` uniform below `2^b`, so `r` is a random integer below `C(n,t) · 2^b`
//!   (the "replicated random integers, converted locally" of statistical masks);
//! - [`Prss::zeros_2t`]: a degree-`2t` sharing of zero (PRZS, CDI §4: `Σ_A f_A(x) Σ_k x_A,k x^k`),
//!   which with [`Prss::random`] gives DN07's double sharings for free;
//! - [`Prss::edabits`] and [`Prss::dabits`]: the same replicated values shared in the binary
//!   domain too (GF(2^8), [`super::binary`]) bit by bit, so each `r_A` comes with its bits.
//!
//! **Under the malicious level** ([`super::SecurityLevel::Malicious`]) random values, masking
//! integers ([`Prss::ints`]) and DN07's double sharings come from these keys too, and stay
//! sound:
//! - once the keys agree, a party's PRSS shares are a deterministic function of keys the honest
//!   parties hold too, and it never sends them as such: all a deviating party can do is use
//!   other values in place of its own shares in later messages, which is exactly the deviation
//!   of a party that sends wrong resharings, king messages or openings. Multiplications are
//!   secure up to such *additive attacks* (Genkin et al. 2014, as used by Chida, Genkin,
//!   Hamada, Ikarashi, Kikuchi, Lindell and Nof, CRYPTO 2018, §2.3 and §3, for DN07 with
//!   double sharings from any source), and `verify.rs`'s check, with the all-`n` consistency
//!   check of every opening, catches them before any output is opened;
//! - the key of the set whose complement is the corrupted parties is drawn by an honest leader
//!   and known only to honest parties, so every random value keeps a uniform term no coalition
//!   of `t` knows (CDI 2005, §3, whose argument needs only that one key to be secret);
//! - a corrupted leader could send members of its key set *different* keys, which would put
//!   honest shares off one polynomial (harmless when `n = 2t + 1`, where any `t + 1` honest
//!   shares define one; not otherwise). So under this level the key round is followed by a
//!   confirmation round (`Engine::confirm_prss_keys`, one round, once per session): every
//!   two parties exchange a SHA-256 digest of the keys they share, and any mismatch aborts.
//! - a masking integer `Σ_A r_A` is *in its range by construction*: with the keys agreed, the
//!   honest holders of every key set compute the same `r_A < 2^b`, and their shares lie on
//!   `Σ_A r_A f_A(·)`; no party deals it, so none can push it out of range (which a dealt
//!   integer's dealer could, and nothing would check: with dealt randomness this level builds
//!   masks from checked random bits instead). Comparisons and truncation thus need only their
//!   `m` checked bits, not `m + 41` (`preprocess.rs`).
//!
//! - the edaBits comparison's two domains agree for the same reason (honest members derive
//!   `v_A` and its bits from one key), its daBits' field XOR tree is checked like any product,
//!   and its GF(2^8) ANDs are checked in GF(2^64) (`verify/binary_check.rs`); the argument is
//!   in `edabits.rs`'s module doc, and the check's secrets `r`, `s` are
//!   [`Prss::random_wide`] sharings. Tests: `mpc/tests/malicious.rs`
//!   (`cheating_under_prss_aborts`, `cheating_on_edabits_comparisons_aborts`,
//!   `a_leader_sending_inconsistent_prss_keys_is_caught`).
//!
//! **Where it stops.** Each party holds `C(n-1, t)` keys and every random value costs that many
//! stream draws; the edaBits comparison adds `C(n, t)` numbers in the binary domain. Past
//! [`MAX_SUBSETS`] (`C(n, t) > 35`: `n > 7` at the largest threshold) the engine falls back to
//! dealt randomness (DN07 extraction) and the field comparison.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

use super::binary;
use crate::field::Field;
use crate::field::pow2::random_below_pow2;
use crate::params::Params;
use crate::party::PartyId;

/// The largest `C(n, t)` for which PRSS is used (`n = 7, t = 3`).
pub const MAX_SUBSETS: usize = 35;

/// `C(n, t)`, saturating.
pub(crate) fn subsets(n: usize, t: usize) -> usize {
    (0..t).fold(1usize, |acc, i| acc.saturating_mul(n - i) / (i + 1).max(1))
}

/// Whether a session with these parameters uses PRSS when asked to.
pub fn supported(params: Params) -> bool {
    subsets(params.n(), params.t()) <= MAX_SUBSETS
}

/// Every `t`-subset of `0..n`, in lexicographic order: the complements of the key sets.
pub(crate) fn unqualified_sets(n: usize, t: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut set: Vec<usize> = (0..t).collect();
    loop {
        out.push(set.clone());
        // Advance to the next combination.
        let mut i = t;
        loop {
            if i == 0 {
                return out;
            }
            i -= 1;
            if set[i] < n - t + i {
                set[i] += 1;
                for j in i + 1..t {
                    set[j] = set[j - 1] + 1;
                }
                break;
            }
        }
    }
}

/// The first party of the key set that is the complement of `unqualified`: who draws its key.
pub(crate) fn leader(unqualified: &[usize], n: usize) -> usize {
    (0..n)
        .find(|i| !unqualified.contains(i))
        .expect("2t < n leaves a party outside")
}

/// One key this party holds, with its weights `f_A(me)` in both domains.
struct Key<F> {
    stream: ChaCha12Rng,
    weight: F,
    byte_weight: u8,
    /// `me^k` for `k = 1..=t` (the zero sharing's monomials).
    powers: Vec<F>,
}

/// One party's PRSS keys (a slot per key set; `None` where this party is not a member).
pub(crate) struct Prss<F> {
    keys: Vec<Option<Key<F>>>,
}

impl<F: Field> Prss<F> {
    /// The keys of party `me`, in [`unqualified_sets`] order (`None` where `me` is in `T`).
    pub(crate) fn new(params: Params, me: PartyId, keys: Vec<Option<[u8; 32]>>) -> Self {
        let (n, t) = (params.n(), params.t());
        let x = F::from_u128(me.point() as u128);
        let keys = unqualified_sets(n, t)
            .iter()
            .zip(keys)
            .map(|(set, key)| {
                let key = key?;
                // f_A(x) = Π_{j ∈ T} (x_j - x) / x_j, in the field and in GF(2^8).
                let mut weight = F::one();
                let mut byte_weight = 1u8;
                for &j in set {
                    let xj = F::from_u128(PartyId(j as u16).point() as u128);
                    weight = weight * (xj - x) * xj.inverse().expect("points are non-zero");
                    let bj = binary::point(PartyId(j as u16));
                    byte_weight = binary::mul(
                        byte_weight,
                        binary::mul(bj ^ binary::point(me), binary::inv(bj)),
                    );
                }
                let powers = (1..=t)
                    .scan(F::one(), |acc, _| {
                        *acc = *acc * x;
                        Some(*acc)
                    })
                    .collect();
                Some(Key {
                    stream: ChaCha12Rng::from_seed(key),
                    weight,
                    byte_weight,
                    powers,
                })
            })
            .collect();
        Prss { keys }
    }

    /// Number of key sets, `C(n, t)`: the number of replicated terms of every secret.
    pub(crate) fn terms(&self) -> usize {
        self.keys.len()
    }

    /// Shares of `len` uniform field elements.
    pub(crate) fn random(&mut self, len: usize) -> Vec<F> {
        let mut out = vec![F::zero(); len];
        for key in self.keys.iter_mut().flatten() {
            for o in out.iter_mut() {
                *o += F::random(&mut key.stream) * key.weight;
            }
        }
        out
    }

    /// Shares of `len` uniform elements of GF(2^64), the extension of the binary domain in
    /// which its ANDs are checked (`verify/binary_check.rs`): `r_A` uniform 64-bit words, weighted
    /// by `f_A(me)` embedded from GF(2^8) (its coefficients lie in GF(2^8), so its value at the
    /// embedded point is the embedded value), at the embedded evaluation points.
    pub(crate) fn random_wide(&mut self, len: usize) -> Vec<u64> {
        use super::verify::gf64;
        let mut out = vec![0u64; len];
        for key in self.keys.iter_mut().flatten() {
            let weight = gf64::embed(key.byte_weight);
            for o in out.iter_mut() {
                *o ^= gf64::mul(key.stream.next_u64(), weight);
            }
        }
        out
    }

    /// Shares of `len` integers, each the sum of `C(n, t)` uniform integers below `2^bits`.
    pub(crate) fn ints(&mut self, bits: &[u32]) -> Vec<F> {
        let mut out = vec![F::zero(); bits.len()];
        for key in self.keys.iter_mut().flatten() {
            for (o, &b) in out.iter_mut().zip(bits) {
                *o += random_below_pow2::<F, _>(&mut key.stream, b) * key.weight;
            }
        }
        out
    }

    /// Shares of `len` zeros at degree `2t`.
    pub(crate) fn zeros_2t(&mut self, len: usize) -> Vec<F> {
        let mut out = vec![F::zero(); len];
        for key in self.keys.iter_mut().flatten() {
            for o in out.iter_mut() {
                let mut sum = F::zero();
                for &p in &key.powers {
                    sum += F::random(&mut key.stream) * p;
                }
                *o += sum * key.weight;
            }
        }
        out
    }

    /// `len` double sharings `([r]_t, [r]_2t)` of uniform secrets.
    pub(crate) fn doubles(&mut self, len: usize) -> (Vec<F>, Vec<F>) {
        let r = self.random(len);
        let z = self.zeros_2t(len);
        let r2: Vec<F> = r.iter().zip(&z).map(|(&a, &b)| a + b).collect();
        (r, r2)
    }

    /// edaBits, term by term: for each element, every key set's `v_A`, uniform below
    /// `2^(width + extra)`. Returns the arithmetic shares of `Σ_A v_A` and, per key set, the
    /// binary shares of the low `width` bits of `v_A` (element-major, least significant first;
    /// all zero for the sets this party is not in).
    pub(crate) fn edabits(&mut self, len: usize, width: u32, extra: u32) -> (Vec<F>, Vec<Vec<u8>>) {
        let total = width + extra;
        let w = width as usize;
        let mut arith = vec![F::zero(); len];
        let mut terms = Vec::with_capacity(self.keys.len());
        for key in self.keys.iter_mut() {
            let mut bits = vec![0u8; len * w];
            if let Some(key) = key {
                for e in 0..len {
                    let limbs = draw_limbs(&mut key.stream, total);
                    arith[e] += limbs_to_field::<F>(&limbs) * key.weight;
                    for (i, b) in bits[e * w..(e + 1) * w].iter_mut().enumerate() {
                        let bit = ((limbs[i / 64] >> (i % 64)) & 1) as u8;
                        *b = bit.wrapping_neg() & key.byte_weight;
                    }
                }
            }
            terms.push(bits);
        }
        (arith, terms)
    }

    /// daBits: shares of `len` bits `b = XOR_A b_A`, in the binary domain (the XOR is local)
    /// and, per key set, the arithmetic shares of `b_A` (for the caller to XOR with
    /// multiplications).
    pub(crate) fn dabits(&mut self, len: usize) -> (Vec<u8>, Vec<Vec<F>>) {
        let mut binary = vec![0u8; len];
        let mut terms = Vec::with_capacity(self.keys.len());
        for key in self.keys.iter_mut() {
            let mut field = vec![F::zero(); len];
            if let Some(key) = key {
                let mut word = 0u64;
                for e in 0..len {
                    if e % 64 == 0 {
                        word = key.stream.next_u64();
                    }
                    if (word >> (e % 64)) & 1 == 1 {
                        binary[e] ^= key.byte_weight;
                        field[e] = key.weight;
                    }
                }
            }
            terms.push(field);
        }
        (binary, terms)
    }
}

/// `bits` uniform bits (at most 256) as four little-endian limbs.
fn draw_limbs(rng: &mut ChaCha12Rng, bits: u32) -> [u64; 4] {
    let mut limbs = [0u64; 4];
    for (i, l) in limbs.iter_mut().enumerate() {
        let lo = 64 * i as u32;
        if lo >= bits {
            break;
        }
        *l = rng.next_u64();
        if bits - lo < 64 {
            *l &= (1u64 << (bits - lo)) - 1;
        }
    }
    limbs
}

fn limbs_to_field<F: Field>(limbs: &[u64; 4]) -> F {
    let lo = limbs[0] as u128 | (limbs[1] as u128) << 64;
    let hi = limbs[2] as u128 | (limbs[3] as u128) << 64;
    if hi == 0 {
        F::from_u128(lo)
    } else {
        F::from_u128(lo) + F::from_u128(hi) * F::pow2(128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;
    use crate::shamir::reconstruct;

    /// Every party's PRSS state for a session where key set `s` has key `[s; 32]` (xor `salt`).
    fn parties(n: usize, t: usize, salt: u8) -> Vec<Prss<Fr>> {
        let params = Params::new(n, t).unwrap();
        let sets = unqualified_sets(n, t);
        (0..n)
            .map(|i| {
                let keys = sets
                    .iter()
                    .enumerate()
                    .map(|(s, set)| (!set.contains(&i)).then_some([s as u8 ^ salt; 32]))
                    .collect();
                Prss::new(params, PartyId(i as u16), keys)
            })
            .collect()
    }

    /// Reconstructs element `e` of every party's shares at `degree`, checking all `n` agree.
    fn open(shares: &[Vec<Fr>], e: usize, degree: usize) -> crate::error::Result<Fr> {
        let pairs: Vec<(PartyId, Fr)> = shares
            .iter()
            .enumerate()
            .map(|(i, s)| (PartyId(i as u16), s[e]))
            .collect();
        reconstruct(&pairs, degree)
    }

    /// The binary domain's value of element `e` from the first `t + 1` shares, checking the rest.
    fn open_binary(shares: &[Vec<u8>], e: usize, t: usize) -> u8 {
        let ids: Vec<PartyId> = (0..shares.len()).map(|i| PartyId(i as u16)).collect();
        let at = |x: u8| {
            binary::lagrange(&ids[..=t], x)
                .iter()
                .zip(shares)
                .fold(0u8, |acc, (&l, s)| acc ^ binary::mul(l, s[e]))
        };
        for (i, s) in shares.iter().enumerate().skip(t + 1) {
            assert_eq!(
                at(binary::point(ids[i])),
                s[e],
                "binary share {i} off the polynomial"
            );
        }
        at(0)
    }

    const SETTINGS: [(usize, usize); 6] = [(3, 1), (5, 1), (5, 2), (7, 1), (7, 2), (7, 3)];

    #[test]
    fn random_shares_lie_on_one_degree_t_polynomial() {
        for (n, t) in SETTINGS {
            let mut ps = parties(n, t, 0);
            let shares: Vec<Vec<Fr>> = ps.iter_mut().map(|p| p.random(50)).collect();
            let values: Vec<Fr> = (0..50).map(|e| open(&shares, e, t).unwrap()).collect();
            // Degree exactly t: the shares do not fit a lower degree.
            assert!(
                (0..50).all(|e| open(&shares, e, t - 1).is_err()),
                "n={n} t={t}"
            );
            let mut distinct = values.clone();
            distinct.sort_by_key(|v| v.to_canonical_limbs());
            distinct.dedup();
            assert_eq!(distinct.len(), 50, "n={n} t={t}");
            // Another key set, other values; the same keys, the same values.
            let again: Vec<Vec<Fr>> = parties(n, t, 0).iter_mut().map(|p| p.random(50)).collect();
            assert_eq!(again, shares);
            let other: Vec<Vec<Fr>> = parties(n, t, 9).iter_mut().map(|p| p.random(50)).collect();
            assert_ne!(open(&other, 0, t).unwrap(), values[0]);
            // The top bit of a uniform 252-bit value is a fair coin over 50 draws (loosely).
            let high = values.iter().filter(|v| v.canonical_bit(250)).count();
            assert!((10..=40).contains(&high), "n={n} t={t}: {high}");
        }
    }

    /// GF(2^64) sharings for the binary check: all `n` shares on one polynomial of degree `t`
    /// (not lower) at the embedded points, distinct values.
    #[test]
    fn wide_random_shares_lie_on_one_degree_t_polynomial() {
        use crate::engine::verify::gf64;
        for (n, t) in SETTINGS {
            let shares: Vec<Vec<u64>> = parties(n, t, 0)
                .iter_mut()
                .map(|p| p.random_wide(20))
                .collect();
            let points: Vec<u64> = (0..n)
                .map(|i| gf64::embed(binary::point(PartyId(i as u16))))
                .collect();
            let at = |e: usize, k: usize, x: u64| {
                gf64::lagrange(&points[..k], x)
                    .iter()
                    .zip(&shares)
                    .fold(0u64, |acc, (&l, s)| acc ^ gf64::mul(l, s[e]))
            };
            let mut values: Vec<u64> = (0..20).map(|e| at(e, t + 1, 0)).collect();
            for e in 0..20 {
                for (i, &x) in points.iter().enumerate().skip(t + 1) {
                    assert_eq!(at(e, t + 1, x), shares[i][e], "n={n} t={t}: share {i}");
                }
                assert_ne!(at(e, t, points[t]), shares[t][e], "n={n} t={t}: degree < t");
            }
            values.sort();
            values.dedup();
            assert_eq!(values.len(), 20, "n={n} t={t}");
        }
    }

    #[test]
    fn zero_sharings_have_degree_2t() {
        for (n, t) in SETTINGS {
            let mut ps = parties(n, t, 1);
            let (r, r2): (Vec<Vec<Fr>>, Vec<Vec<Fr>>) =
                ps.iter_mut().map(|p| p.doubles(30)).unzip();
            for e in 0..30 {
                let v = open(&r, e, t).unwrap();
                assert_eq!(open(&r2, e, 2 * t).unwrap(), v, "n={n} t={t}");
                assert!(open(&r2, e, t).is_err(), "n={n} t={t}: degree 2t, not t");
            }
        }
    }

    #[test]
    fn replicated_integers_are_bounded_sums() {
        for (n, t) in SETTINGS {
            let c = subsets(n, t) as i128;
            let mut ps = parties(n, t, 2);
            let len = 3000;
            let shares: Vec<Vec<Fr>> = ps.iter_mut().map(|p| p.ints(&vec![10; len])).collect();
            let values: Vec<i128> = (0..len)
                .map(|e| open(&shares, e, t).unwrap().to_i128().unwrap())
                .collect();
            assert!(
                values.iter().all(|&v| (0..c << 10).contains(&v)),
                "n={n} t={t}"
            );
            // Mean of a sum of C uniform integers below 2^10, within 6 standard errors.
            let mean = values.iter().sum::<i128>() as f64 / len as f64;
            let want = c as f64 * 1023.0 / 2.0;
            let sigma = (c as f64).sqrt() * 1024.0 / 12f64.sqrt() / (len as f64).sqrt();
            assert!(
                (mean - want).abs() < 6.0 * sigma,
                "n={n} t={t}: {mean} vs {want}"
            );
        }
    }

    #[test]
    fn edabits_and_dabits_agree_across_domains() {
        for (n, t) in SETTINGS {
            let c = subsets(n, t);
            let mut ps = parties(n, t, 3);
            let (width, extra) = (9u32, 5u32);
            let eda: Vec<(Vec<Fr>, Vec<Vec<u8>>)> =
                ps.iter_mut().map(|p| p.edabits(40, width, extra)).collect();
            let da: Vec<(Vec<u8>, Vec<Vec<Fr>>)> = ps.iter_mut().map(|p| p.dabits(40)).collect();
            let w = width as usize;
            for e in 0..40 {
                let arith: Vec<Vec<Fr>> = eda.iter().map(|x| x.0.clone()).collect();
                let sum = open(&arith, e, t).unwrap().to_i128().unwrap();
                assert!((0..(c as i128) << (width + extra)).contains(&sum));
                // Σ_A (v_A mod 2^w), from the binary shares, is the sum mod 2^w.
                let mut low = 0i128;
                for a in 0..c {
                    let bits: Vec<Vec<u8>> = eda.iter().map(|x| x.1[a].clone()).collect();
                    for i in 0..w {
                        let b = open_binary(&bits, e * w + i, t);
                        assert!(b <= 1, "a binary share of a bit opens to a bit");
                        low += (b as i128) << i;
                    }
                }
                assert_eq!(low % (1 << w), sum % (1 << w), "n={n} t={t} element {e}");
                // The daBit: the XOR of the terms' field bits is the binary bit.
                let bin: Vec<Vec<u8>> = da.iter().map(|x| x.0.clone()).collect();
                let b = open_binary(&bin, e, t);
                let mut xor = 0;
                for a in 0..c {
                    let term: Vec<Vec<Fr>> = da.iter().map(|x| x.1[a].clone()).collect();
                    let v = open(&term, e, t).unwrap().to_i128().unwrap();
                    assert!(v == 0 || v == 1);
                    xor ^= v as u8;
                }
                assert_eq!(b, xor, "n={n} t={t} element {e}");
            }
        }
    }

    #[test]
    fn subsets_are_enumerated() {
        for (n, t) in [(3, 1), (5, 2), (7, 3), (4, 0), (6, 2)] {
            let sets = unqualified_sets(n, t);
            assert_eq!(sets.len(), subsets(n, t), "n={n} t={t}");
            let mut sorted = sets.clone();
            sorted.dedup();
            assert_eq!(sorted.len(), sets.len());
            assert!(
                sets.iter()
                    .all(|s| s.len() == t && s.windows(2).all(|w| w[0] < w[1]))
            );
        }
        assert_eq!(subsets(7, 3), 35);
        assert_eq!(subsets(9, 4), 126);
        assert!(supported(Params::new(7, 3).unwrap()));
        assert!(!supported(Params::new(9, 4).unwrap()));
    }
}
