//! The ristretto255 scalar field, `l = 2^252 + 27742317777372353535851937790883648493`,
//! backed by arkworks' `ark_ed25519::Fr` (Montgomery form).
//!
//! The wire form is the Montgomery representation itself, 32 little-endian bytes: encoding
//! and decoding cost no multiplication, and decoding checks the value is below the modulus.
//! Canonical bytes (the ones a Ristretto `Scalar` takes) come from [`Fr::to_canonical_bytes`].

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use ark_ff::{BigInt, Field as _, PrimeField, Zero as _};
use rand::RngCore;

use super::Field;

type Inner = ark_ed25519::Fr;

/// An element of the ristretto255 scalar field.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Fr(Inner);

impl fmt::Debug for Fr {
    /// Field elements are shares or secrets more often than not: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fr(..)")
    }
}

impl Fr {
    /// The canonical little-endian encoding, as `curve25519_dalek::Scalar::from_canonical_bytes`
    /// expects it.
    pub fn to_canonical_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, limb) in out.chunks_exact_mut(8).zip(self.to_canonical_limbs()) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    /// The element with these canonical little-endian bytes, if they are below the modulus.
    pub fn from_canonical_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            *limb = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        }
        Inner::from_bigint(BigInt(limbs)).map(Fr)
    }
}

fn below_modulus(limbs: &[u64; 4]) -> bool {
    let m = Inner::MODULUS.0;
    for i in (0..4).rev() {
        if limbs[i] != m[i] {
            return limbs[i] < m[i];
        }
    }
    false
}

impl Field for Fr {
    const BYTES: usize = 32;
    const CAPACITY_BITS: u32 = 252;

    fn zero() -> Self {
        Fr(Inner::zero())
    }
    fn one() -> Self {
        Fr(Inner::from(1u64))
    }
    fn from_u128(v: u128) -> Self {
        Fr(Inner::from(v))
    }
    fn pow2(k: u32) -> Self {
        assert!(
            k <= Self::CAPACITY_BITS,
            "2^{k} exceeds the field's capacity"
        );
        let mut limbs = [0u64; 4];
        limbs[(k / 64) as usize] = 1u64 << (k % 64);
        Fr(Inner::from_bigint(BigInt(limbs)).expect("2^k < l for k <= 252"))
    }
    fn inverse(&self) -> Option<Self> {
        self.0.inverse().map(Fr)
    }
    /// Returns the root whose canonical value is even.
    fn sqrt(&self) -> Option<Self> {
        self.0.sqrt().map(|r| {
            let r = Fr(r);
            if r.canonical_bit(0) { -r } else { r }
        })
    }
    fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
    /// 252 uniform bits read directly as a Montgomery representation. Every value below
    /// `2^252 < l` is a valid element and the Montgomery map is a bijection, so the result is
    /// uniform on all of the field but `l - 2^252 ≈ 2^124.4` elements: statistical distance
    /// below `2^-127` from uniform, at the cost of one RNG draw and no multiplication.
    fn random<R: RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut limbs = [
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        ];
        limbs[3] &= (1u64 << 60) - 1;
        Fr(ark_ff::Fp::new_unchecked(BigInt(limbs)))
    }
    fn write_bytes(&self, out: &mut [u8]) {
        for (chunk, limb) in out[..32].chunks_exact_mut(8).zip((self.0).0.0) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
    }
    fn read_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            *limb = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        below_modulus(&limbs).then(|| Fr(ark_ff::Fp::new_unchecked(BigInt(limbs))))
    }
    fn to_canonical_limbs(&self) -> [u64; 4] {
        self.0.into_bigint().0
    }
    /// arkworks' lazy reduction: the modulus leaves three bits spare in four limbs, so up to
    /// five products are summed before each limb's reduction.
    #[inline]
    fn sum_of_products<const M: usize>(a: &[Self; M], b: &[Self; M]) -> Self {
        let a: [Inner; M] = std::array::from_fn(|i| a[i].0);
        let b: [Inner; M] = std::array::from_fn(|i| b[i].0);
        Fr(Inner::sum_of_products(&a, &b))
    }
}

macro_rules! binop {
    ($trait:ident, $fn:ident, $assign:ident, $afn:ident, $op:tt) => {
        impl $trait for Fr {
            type Output = Fr;
            #[inline]
            fn $fn(self, rhs: Fr) -> Fr {
                Fr(self.0 $op rhs.0)
            }
        }
        impl $assign for Fr {
            #[inline]
            fn $afn(&mut self, rhs: Fr) {
                self.0 = self.0 $op rhs.0;
            }
        }
    };
}
binop!(Add, add, AddAssign, add_assign, +);
binop!(Sub, sub, SubAssign, sub_assign, -);
binop!(Mul, mul, MulAssign, mul_assign, *);

impl Neg for Fr {
    type Output = Fr;
    #[inline]
    fn neg(self) -> Fr {
        Fr(-self.0)
    }
}

impl Sum for Fr {
    fn sum<I: Iterator<Item = Fr>>(iter: I) -> Fr {
        iter.fold(Fr::zero(), |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_roundtrip() {
        let x = Fr::from_i128(-5);
        let bytes = x.to_canonical_bytes();
        assert_eq!(Fr::from_canonical_bytes(&bytes), Some(x));
        // l - 5 in canonical little-endian form starts with 0xed - 5.
        assert_eq!(bytes[0], 0xed - 5);
    }

    #[test]
    fn modulus_is_rejected_on_the_wire() {
        let mut bytes = [0u8; 32];
        for (chunk, limb) in bytes.chunks_exact_mut(8).zip(Inner::MODULUS.0) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        assert_eq!(Fr::read_bytes(&bytes), None);
    }
}
