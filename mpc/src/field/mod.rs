//! Prime fields the engine computes in.
//!
//! [`Field`] is the small surface the engine needs: ring operations, inversion, square roots,
//! uniform sampling from a caller's RNG, a fixed-size wire form, and the canonical integer
//! value (for decoding opened results and for bit-level protocols on masked openings).
//! [`Fr`] is the ristretto255 scalar field, the one Quorate runs in; the trait leaves room for
//! another (say a small prime for benchmarks) without touching the engine.
//!
//! What this module does not do: interpret field elements as integers or fixed-point numbers;
//! that is [`encode`].

pub mod dot;
pub mod encode;
mod fr;
pub mod lincomb;
pub(crate) mod pow2;

pub use fr::Fr;

use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use rand::RngCore;

/// A prime field of odd characteristic with at least 64 bits of capacity.
pub trait Field:
    Copy
    + Send
    + Sync
    + Eq
    + Debug
    + Default
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
{
    /// Bytes of the wire form written by [`Field::write_bytes`].
    const BYTES: usize;
    /// Every integer in `[0, 2^CAPACITY_BITS)` is a distinct field element (so the modulus
    /// exceeds `2^CAPACITY_BITS`).
    const CAPACITY_BITS: u32;

    /// The additive identity.
    fn zero() -> Self;
    /// The multiplicative identity.
    fn one() -> Self;
    /// The element `v mod p`.
    fn from_u128(v: u128) -> Self;
    /// The element `v mod p` (negative values wrap to `p - |v|`).
    fn from_i128(v: i128) -> Self {
        if v >= 0 {
            Self::from_u128(v as u128)
        } else {
            -Self::from_u128(v.unsigned_abs())
        }
    }
    /// `2^k`; `k` may be up to `CAPACITY_BITS`.
    fn pow2(k: u32) -> Self;
    /// The multiplicative inverse, `None` for zero.
    fn inverse(&self) -> Option<Self>;
    /// A square root, `None` for a non-residue. Which of the two roots is returned is fixed
    /// (the canonical one, see the implementation).
    fn sqrt(&self) -> Option<Self>;
    /// True for the additive identity.
    fn is_zero(&self) -> bool;
    /// A uniformly random element (up to a statistical distance the implementation states).
    fn random<R: RngCore + ?Sized>(rng: &mut R) -> Self;
    /// Writes the wire form into `out[..Self::BYTES]`.
    fn write_bytes(&self, out: &mut [u8]);
    /// Reads the wire form; `None` when the bytes are not a valid element.
    fn read_bytes(bytes: &[u8]) -> Option<Self>;
    /// The canonical representative in `[0, p)` as little-endian 64-bit limbs.
    fn to_canonical_limbs(&self) -> [u64; 4];

    /// `Σ a_i b_i`. An implementation may reduce once for several products (see [`dot`]);
    /// this default multiplies and adds each.
    fn sum_of_products<const M: usize>(a: &[Self; M], b: &[Self; M]) -> Self {
        a.iter().zip(b).map(|(&x, &y)| x * y).sum()
    }

    /// The element as a signed integer: the representative in `(-p/2, p/2)`, if it fits in
    /// an `i128`.
    fn to_i128(&self) -> Option<i128> {
        let fits = |l: [u64; 4]| l[2] == 0 && l[3] == 0 && l[1] >> 63 == 0;
        let pos = self.to_canonical_limbs();
        if fits(pos) {
            return Some(((pos[1] as i128) << 64) | pos[0] as i128);
        }
        let neg = (-*self).to_canonical_limbs();
        if fits(neg) {
            return Some(-(((neg[1] as i128) << 64) | neg[0] as i128));
        }
        if neg == [0, 1 << 63, 0, 0] {
            return Some(i128::MIN);
        }
        None
    }

    /// Bit `i` of the canonical representative.
    fn canonical_bit(&self, i: u32) -> bool {
        let limbs = self.to_canonical_limbs();
        (limbs[(i / 64) as usize] >> (i % 64)) & 1 == 1
    }
}

/// Inverts every element with one field inversion (Montgomery's trick: three products per
/// element), or returns the index of the first zero.
pub fn batch_inverse<F: Field>(values: &[F]) -> std::result::Result<Vec<F>, usize> {
    if let Some(i) = values.iter().position(|v| v.is_zero()) {
        return Err(i);
    }
    let mut prefix = Vec::with_capacity(values.len());
    let mut acc = F::one();
    for &v in values {
        prefix.push(acc);
        acc *= v;
    }
    let mut inv = acc.inverse().expect("a product of non-zero elements");
    let mut out = vec![F::zero(); values.len()];
    for i in (0..values.len()).rev() {
        out[i] = inv * prefix[i];
        inv *= values[i];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Field laws, written once and run for each field.
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    #[test]
    fn batch_inverse_inverts_and_names_a_zero() {
        let v: Vec<Fr> = [3i128, -7, 1 << 90, 1]
            .iter()
            .map(|&x| Fr::from_i128(x))
            .collect();
        let inv = batch_inverse(&v).unwrap();
        for (a, b) in v.iter().zip(&inv) {
            assert_eq!(*a * *b, Fr::one());
        }
        assert_eq!(batch_inverse(&[Fr::one(), Fr::zero()]), Err(1));
        assert_eq!(batch_inverse::<Fr>(&[]), Ok(vec![]));
    }

    fn laws<F: Field>(seed: u64) {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        let (a, b, c) = (
            F::random(&mut rng),
            F::random(&mut rng),
            F::random(&mut rng),
        );
        assert_eq!(a + b, b + a);
        assert_eq!((a + b) + c, a + (b + c));
        assert_eq!(a * (b + c), a * b + a * c);
        assert_eq!(a - b + b, a);
        assert_eq!(a + (-a), F::zero() * b);
        assert_eq!(a + (-a), F::zero());
        if !a.is_zero() {
            assert_eq!(a * a.inverse().unwrap(), F::one());
        }
        let sq = a * a;
        let root = sq.sqrt().unwrap();
        assert!(root == a || root == -a);
        let mut buf = vec![0u8; F::BYTES];
        a.write_bytes(&mut buf);
        assert_eq!(F::read_bytes(&buf), Some(a));
        assert_eq!(F::zero().inverse(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn fr_laws(seed in any::<u64>()) { laws::<Fr>(seed) }

        #[test]
        fn fr_i128_roundtrip(v in any::<i128>()) {
            prop_assert_eq!(Fr::from_i128(v).to_i128(), Some(v));
        }
    }

    #[test]
    fn fr_edges() {
        for v in [
            0i128,
            1,
            -1,
            i128::MAX,
            i128::MIN + 1,
            i64::MIN as i128,
            i64::MAX as i128,
        ] {
            assert_eq!(Fr::from_i128(v).to_i128(), Some(v));
        }
        assert_eq!(Fr::pow2(64), Fr::from_u128(1 << 64));
        assert_eq!(Fr::pow2(200).to_i128(), None);
        assert_eq!(Fr::from_i128(i128::MIN).to_i128(), Some(i128::MIN));
        // Bytes at or above the modulus are rejected.
        assert_eq!(Fr::read_bytes(&[0xff; 32]), None);
        assert_eq!(Fr::read_bytes(&[0u8; 31]), None);
    }
}
